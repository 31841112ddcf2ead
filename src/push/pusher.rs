//! The push side of the daemon, as steps the scheduler (or a test) calls: build the reports
//! of closed hours, send what is due, verify what was sent. Each step commits its result
//! before the next network call, so a kill -9 anywhere loses nothing.

use std::collections::BTreeMap;

use super::client::{CustomerClient, Exchange, Verdict};
use super::outbox::{Outbox, OutboxError, OutboxReport, PushAttempt, StateChange, Verification};
use super::report::{self, BuildRules, ReportState};
use crate::clock::Clock;
use crate::config::{AgentConfig, MacFormat};
use crate::health::Health;
use crate::ring::{Ring, RingError};
use crate::slots::ReportTz;
use crate::tally::LastReading;
use pushagent_proto::profile::Signature;

const HOUR_MS: i64 = 3_600_000;
const DAY_MS: i64 = 86_400_000;
/// Backoff of retryable failures: 30 s doubling up to 15 min, jittered.
const BACKOFF_START_MS: i64 = 30_000;
const BACKOFF_CAP_MS: i64 = 900_000;
/// After an unverifiable check, try again this much later.
const VERIFY_RETRY_MS: i64 = 15 * 60_000;
/// Most hours built, batches sent or days verified in one step (the loop comes back).
const MAX_PER_STEP: usize = 500;

#[derive(Debug, thiserror::Error)]
pub enum PushError {
    #[error(transparent)]
    Outbox(#[from] OutboxError),
    #[error(transparent)]
    Ring(#[from] RingError),
}

pub struct Pusher<'a> {
    pub clock: &'a dyn Clock,
    pub config: AgentConfig,
    pub ring: Ring,
    pub outbox: Outbox,
    pub client: CustomerClient,
    /// Shared with the other threads: the pusher reports the settings it misses.
    pub health: Health,
}

/// What a step did (for logs and tests).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct StepReport {
    pub built: usize,
    pub sent: usize,
    pub failed_attempts: usize,
    pub verified: usize,
    pub corrected: usize,
}

impl<'a> Pusher<'a> {
    fn tz(&self) -> ReportTz {
        self.config.report_timezone
    }

    /// Take a new effective config (from the config service); a changed customer profile
    /// gets a new HTTP client.
    pub fn reconfigure(&mut self, config: AgentConfig) -> Result<(), String> {
        if config.customer != self.config.customer {
            self.client = CustomerClient::for_agent(&config.customer, &config.state_db_path())?;
        }
        self.config = config;
        Ok(())
    }

    /// One round of everything that is due now.
    pub fn step(&mut self) -> Result<StepReport, PushError> {
        let mut done = StepReport { built: self.build_due()?, ..Default::default() };
        done.corrected += self.rebuild_changed()?;
        // Without credentials and ids nothing can be sent: reports wait in the outbox.
        let missing = self.missing_settings();
        self.health.settings_missing(&missing, self.clock.wall_ms() / 1000);
        if missing.is_empty() {
            self.send_due(&mut done)?;
            self.verify_due(&mut done)?;
        }
        Ok(done)
    }

    /// Settings without which the customer would refuse every record (so none is sent).
    pub fn missing_settings(&self) -> Vec<&'static str> {
        let c = &self.config;
        [
            ("customer.access_id", c.customer.access_id.is_empty()),
            (
                "customer.secret",
                c.customer.auth.signature == Signature::HmacSha256 && c.customer.secret.is_empty(),
            ),
            ("report.provider_id", c.report.provider_id.is_empty()),
            ("report.provider_uiid", c.report.provider_uiid.is_empty()),
        ]
        .into_iter()
        .filter_map(|(name, missing)| missing.then_some(name))
        .collect()
    }

    /// Deterministic per-MAC delay inside `push_spread_secs`: thousands of agents do not hit
    /// the customer in the same second, and each one always pushes at the same minute.
    pub fn jitter_ms(&self, mac: &str) -> i64 {
        let spread = self.config.push_spread_secs as i64 * 1000;
        if spread == 0 {
            return 0;
        }
        (stable_hash(mac) % spread as u64) as i64
    }

    /// The rules an hour is built with now: the effective config's billed direction, offsets
    /// and push switch, and the link speed of the last reading (or the configured one).
    pub fn build_rules(&self, last: &LastReading) -> BuildRules {
        BuildRules::from_settings(
            self.config.customer.billed_direction,
            &self.config.report,
            self.config.push_enabled,
            last.reading.source.link_bits_per_sec.or(self.config.max_link_bits_per_sec),
        )
    }

    /// Build every hour whose boundary reading is in and whose push time has come.
    pub fn build_due(&mut self) -> Result<usize, PushError> {
        let Some((last, _)) = self.ring.last_reading()? else { return Ok(0) };
        if !last.clock_trusted() {
            // Unsynchronised or just stepped: readings are kept, hours wait (health says so).
            return Ok(0);
        }
        let now = self.clock.wall_ms();
        let tz = self.tz();
        let mut cursor = match self.outbox.cursor()? {
            Some(c) => c,
            None => match self.ring.oldest_slot_ms()? {
                Some(oldest) => tz.hour_start_of(oldest),
                None => return Ok(0),
            },
        };
        let rules = self.build_rules(&last);
        let mut built = 0;
        while cursor + HOUR_MS <= last.timeline_ms
            && now >= cursor + HOUR_MS + self.jitter_ms(&last.reading.source.mac)
            && built < MAX_PER_STEP
        {
            let slots = self.ring.slots_between(cursor, cursor + HOUR_MS)?;
            let mut macs: Vec<&str> = slots.iter().map(|s| s.mac.as_str()).collect();
            macs.sort_unstable();
            macs.dedup();
            if macs.is_empty() {
                macs.push(&last.reading.source.mac); // no data at all (host off): an hour of zeros
            }
            let mut reports: Vec<_> =
                macs.iter().map(|mac| report::build(mac, cursor, &slots, &tz, &rules)).collect();
            for r in reports.iter_mut().filter(|r| r.state == ReportState::SkippedOff) {
                // Which switch (machine, global, local) said no: the service shows it.
                // The slots say the switch was off while they were measured; the config may
                // be on again by now.
                let off = self.config.off_switches().join(",");
                r.reason = Some(if off.is_empty() {
                    "push switch off while the hour was measured".into()
                } else {
                    format!("push switch off ({off}) when the hour was built")
                });
                r.off_switches = off;
            }
            for r in &reports {
                match r.state {
                    ReportState::Held => log::error!(
                        "hour {} of {} held: {}",
                        r.flux_hour,
                        r.mac,
                        r.reason.as_deref().unwrap_or("")
                    ),
                    ReportState::SkippedOff => {
                        log::info!(
                            "hour {} of {} skipped: push switch off ({})",
                            r.flux_hour,
                            r.mac,
                            r.off_switches
                        )
                    }
                    _ => log::info!(
                        "built hour {} of {}: raw {} B, pushed {} B (offset {}% {}, {:+} B per point)",
                        r.flux_hour,
                        r.mac,
                        r.raw.iter().sum::<u64>(),
                        r.pushed.iter().sum::<u64>(),
                        r.offset.percent_text(),
                        r.offset_source,
                        r.offset_fixed_bytes
                    ),
                }
            }
            self.outbox.commit_hour(&reports, cursor + HOUR_MS, now)?;
            cursor += HOUR_MS;
            built += 1;
        }
        Ok(built)
    }

    pub(super) fn records_of(&self, reports: &[OutboxReport]) -> Vec<serde_json::Value> {
        let tz = self.tz();
        reports
            .iter()
            .map(|r| {
                report::render_record(
                    &self.config.customer,
                    &self.config.report,
                    // The zone the hour was named in: a report keeps its name.
                    &super::zone::zone_of_hour(&r.flux_hour, r.hour_start_ms).unwrap_or(tz),
                    &r.mac,
                    r.hour_start_ms,
                    &r.pushed,
                    r.version,
                )
            })
            .collect()
    }

    /// Send due reports, oldest first, in batches, until nothing is due or a batch fails.
    pub fn send_due(&mut self, done: &mut StepReport) -> Result<(), PushError> {
        for _ in 0..MAX_PER_STEP {
            let now = self.clock.wall_ms();
            let batch = self.outbox.due_for_push(now, self.config.customer.records_per_request())?;
            if batch.is_empty() {
                return Ok(());
            }
            let exchange = self.client.push(&self.records_of(&batch));
            let progressed = self.settle_push(&batch, &exchange, done)?;
            if !progressed {
                return Ok(()); // the customer is failing: let the backoff run
            }
        }
        Ok(())
    }

    /// Record the exchange and apply its verdict to every report of the batch.
    fn settle_push(
        &mut self,
        batch: &[OutboxReport],
        ex: &Exchange,
        done: &mut StepReport,
    ) -> Result<bool, PushError> {
        let now = self.clock.wall_ms();
        let attempts: Vec<PushAttempt> = batch
            .iter()
            .map(|r| PushAttempt {
                mac: r.mac.clone(),
                flux_hour: r.flux_hour.clone(),
                version: r.version,
                at_ms: now,
                http_status: ex.http_status,
                code: ex.code,
                outcome: ex.verdict.outcome().into(),
                message: ex.message.clone(),
                duration_ms: ex.duration_ms,
            })
            .collect();
        let key = |r: &OutboxReport| (r.mac.clone(), r.flux_hour.clone());
        let mut changes = Vec::new();
        let progressed = match &ex.verdict {
            Verdict::Accepted => {
                for r in batch {
                    changes.push(StateChange::Sent {
                        mac: r.mac.clone(),
                        flux_hour: r.flux_hour.clone(),
                        at_ms: now,
                        verify_next_at_ms: self.first_verify_ms(r, now),
                        verify_until_ms: r.hour_start_ms
                            + HOUR_MS
                            + i64::from(self.config.verify_days) * DAY_MS,
                    });
                }
                done.sent += batch.len();
                log::info!(
                    "pushed {} record(s) ({} .. {}) in {} ms",
                    batch.len(),
                    batch[0].flux_hour,
                    batch[batch.len() - 1].flux_hour,
                    ex.duration_ms
                );
                true
            }
            Verdict::Invalid if batch.len() > 1 => {
                log::warn!(
                    "customer refused a batch of {} as invalid ({}); sending them one by one",
                    batch.len(),
                    ex.message
                );
                changes.extend(batch.iter().map(|r| {
                    let (mac, flux_hour) = key(r);
                    StateChange::Solo { mac, flux_hour, now_ms: now }
                }));
                true
            }
            Verdict::Invalid => {
                let (mac, flux_hour) = key(&batch[0]);
                log::error!("customer rejected {mac} {flux_hour}: {}; held for an operator", ex.message);
                changes.push(StateChange::Held {
                    mac,
                    flux_hour,
                    reason: format!("rejected: {}", ex.message),
                    now_ms: now,
                });
                true
            }
            Verdict::Conflict(conflicts) => {
                for r in batch {
                    let (mac, flux_hour) = key(r);
                    let conflict = conflicts.iter().find(|c| {
                        MacFormat::canonical(&c.mac).as_deref() == Some(mac.as_str())
                            && report::canonical_flux_hour(&self.config.customer, &c.flux_hour)
                                .ok()
                                .as_deref()
                                == Some(flux_hour.as_str())
                    });
                    match conflict {
                        Some(c) => {
                            let theirs = self.their_version(r).unwrap_or(0);
                            let version = c.stored_version.max(theirs).max(r.version) + 1;
                            log::warn!("{mac} {flux_hour}: customer holds version {} with other values; re-pushing ours as version {version}", c.stored_version);
                            changes.push(StateChange::Repush {
                                mac,
                                flux_hour,
                                version,
                                values: None,
                                reason: format!("conflict: customer held version {}", c.stored_version),
                                now_ms: now,
                            });
                        }
                        None => changes.push(StateChange::Retry {
                            mac,
                            flux_hour,
                            next_attempt_at_ms: now,
                            error: ex.message.clone(),
                            now_ms: now,
                        }),
                    }
                }
                true
            }
            Verdict::AuthRefused | Verdict::Retry | Verdict::Unavailable => {
                done.failed_attempts += 1;
                log::warn!("push of {} record(s) failed: {}", batch.len(), ex.message);
                for r in batch {
                    let (mac, flux_hour) = key(r);
                    let next = now + backoff_ms(r.attempts + 1);
                    changes.push(StateChange::Retry {
                        mac,
                        flux_hour,
                        next_attempt_at_ms: next,
                        error: ex.message.clone(),
                        now_ms: now,
                    });
                }
                false
            }
        };
        self.outbox.record_attempts(&attempts, &changes)?;
        Ok(progressed)
    }

    /// The version the customer holds for a report (query API), if it can be read.
    fn their_version(&self, r: &OutboxReport) -> Option<u32> {
        let tz = self.tz();
        let ex = self.client.query(
            &self.config.customer.mac_format.render(&r.mac),
            &report::flux_dat(&self.config.customer, &tz, r.hour_start_ms),
        );
        ex.data?
            .iter()
            .filter_map(|v| report::parse_their_record(&self.config.customer, &tz, v).ok())
            .find(|t| t.mac == r.mac && t.hour_start_ms == r.hour_start_ms)
            .map(|t| t.version)
    }

    /// First check: 30 to 90 minutes after the push (inside the 2 hours), spread per report.
    pub(super) fn first_verify_ms(&self, r: &OutboxReport, now: i64) -> Option<i64> {
        // Without a query API there is nothing to verify against (`unavailable`, not a mismatch).
        if self.config.verify_days == 0 || !self.config.customer.has_query() {
            return None;
        }
        Some(now + 30 * 60_000 + (stable_hash(&format!("{}{}", r.mac, r.flux_hour)) % (60 * 60_000)) as i64)
    }

    /// Re-query sent hours whose check is due; correct any the customer holds differently.
    pub fn verify_due(&mut self, done: &mut StepReport) -> Result<(), PushError> {
        let now = self.clock.wall_ms();
        let due = self.outbox.due_for_verify(now, MAX_PER_STEP)?;
        if !self.config.customer.has_query() {
            // The profile lost its query API (a new customer profile): stop checking these hours.
            let changes: Vec<StateChange> = due
                .iter()
                .map(|r| StateChange::Verified {
                    mac: r.mac.clone(),
                    flux_hour: r.flux_hour.clone(),
                    next_ms: None,
                })
                .collect();
            if !changes.is_empty() {
                log::info!(
                    "{} sent hour(s) not verified: the customer profile has no query API",
                    changes.len()
                );
                self.outbox.record_attempts(&[], &changes)?;
            }
            return Ok(());
        }
        // One query per (MAC, day) answers for all its hours.
        let tz = self.tz();
        let mut by_day: BTreeMap<(String, String), Vec<OutboxReport>> = BTreeMap::new();
        for r in due {
            let day = report::flux_dat(&self.config.customer, &tz, r.hour_start_ms);
            by_day.entry((r.mac.clone(), day)).or_default().push(r);
        }
        for ((mac, day), reports) in by_day {
            let ex = self.client.query(&self.config.customer.mac_format.render(&mac), &day);
            let theirs: Option<Vec<report::TheirRecord>> = match (&ex.verdict, &ex.data) {
                (Verdict::Accepted, Some(data)) => {
                    let parsed: Result<Vec<_>, String> = data
                        .iter()
                        .map(|v| report::parse_their_record(&self.config.customer, &tz, v))
                        .collect();
                    match parsed {
                        Ok(p) => Some(p),
                        Err(e) => {
                            self.unverifiable(&reports, &format!("customer's answer unreadable: {e}"), now)?;
                            continue;
                        }
                    }
                }
                _ => None,
            };
            let Some(theirs) = theirs else {
                self.unverifiable(&reports, &format!("query failed: {}", ex.message), now)?;
                continue;
            };
            for r in reports {
                self.compare_one(&r, &theirs, now, done)?;
            }
        }
        Ok(())
    }

    fn compare_one(
        &mut self,
        r: &OutboxReport,
        theirs: &[report::TheirRecord],
        now: i64,
        done: &mut StepReport,
    ) -> Result<(), PushError> {
        let their = theirs.iter().find(|t| t.mac == r.mac && t.hour_start_ms == r.hour_start_ms);
        let (result, detail, change) = match their {
            Some(t) if t.points == r.pushed => {
                let next = now + DAY_MS;
                let next = r.verify_until_ms.filter(|until| next <= *until).map(|_| next);
                (
                    "match",
                    format!("customer holds version {} with our values", t.version),
                    StateChange::Verified {
                        mac: r.mac.clone(),
                        flux_hour: r.flux_hour.clone(),
                        next_ms: next,
                    },
                )
            }
            Some(t) => {
                let diffs: Vec<String> = (0..12)
                    .filter(|i| t.points[*i] != r.pushed[*i])
                    .map(|i| format!("v{i} theirs {} ours {}", t.points[i], r.pushed[i]))
                    .collect();
                let version = t.version.max(r.version) + 1;
                done.corrected += 1;
                log::warn!(
                    "{} {}: customer's copy differs ({}); re-pushing as version {version}",
                    r.mac,
                    r.flux_hour,
                    diffs.join(", ")
                );
                (
                    "corrected",
                    format!(
                        "version {} differs: {}; re-pushed as version {version}",
                        t.version,
                        diffs.join(", ")
                    ),
                    self.repush(r, version, "verification found a difference", now),
                )
            }
            None => {
                let version = r.version + 1;
                done.corrected += 1;
                log::warn!(
                    "{} {}: missing at the customer; re-pushing as version {version}",
                    r.mac,
                    r.flux_hour
                );
                (
                    "missing",
                    format!("not in the customer's answer; re-pushed as version {version}"),
                    self.repush(r, version, "verification found it missing", now),
                )
            }
        };
        done.verified += 1;
        if result == "match" {
            log::info!("verified {} {}: the customer holds exactly what we pushed", r.mac, r.flux_hour);
        }
        let v = Verification {
            mac: r.mac.clone(),
            flux_hour: r.flux_hour.clone(),
            at_ms: now,
            result: result.into(),
            detail,
        };
        self.outbox.record_verification(&v, Some(&change))?;
        Ok(())
    }

    fn repush(&self, r: &OutboxReport, version: u32, reason: &str, now: i64) -> StateChange {
        StateChange::Repush {
            mac: r.mac.clone(),
            flux_hour: r.flux_hour.clone(),
            version,
            values: None,
            reason: reason.into(),
            now_ms: now,
        }
    }

    fn unverifiable(&mut self, reports: &[OutboxReport], why: &str, now: i64) -> Result<(), PushError> {
        log::warn!("verification of {} hour(s) of {} postponed: {why}", reports.len(), reports[0].mac);
        for r in reports {
            let v = Verification {
                mac: r.mac.clone(),
                flux_hour: r.flux_hour.clone(),
                at_ms: now,
                result: "unverifiable".into(),
                detail: why.into(),
            };
            let change = StateChange::Verified {
                mac: r.mac.clone(),
                flux_hour: r.flux_hour.clone(),
                next_ms: Some(now + VERIFY_RETRY_MS),
            };
            self.outbox.record_verification(&v, Some(&change))?;
        }
        Ok(())
    }
}

/// Capped exponential backoff with jitter: attempt 1 waits 15–30 s, then doubling, ≤ 15 min.
pub fn backoff_ms(attempt: u32) -> i64 {
    let exp = BACKOFF_START_MS.saturating_mul(1i64 << attempt.saturating_sub(1).min(20)).min(BACKOFF_CAP_MS);
    let mut r = [0u8; 8];
    let frac = if getrandom::fill(&mut r).is_ok() { u64::from_le_bytes(r) % 1000 } else { 500 };
    exp / 2 + (exp / 2) * frac as i64 / 1000
}

fn stable_hash(text: &str) -> u64 {
    let hex = pushagent_proto::signing::sha256_hex(text.as_bytes());
    u64::from_str_radix(&hex[..16], 16).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_is_capped() {
        for attempt in 1..40 {
            let b = backoff_ms(attempt);
            let exp = (30_000i64 << (attempt - 1).min(20)).min(900_000);
            assert!(b >= exp / 2 && b <= exp, "attempt {attempt}: {b}");
        }
    }
}
