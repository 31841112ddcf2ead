//! The push side of the daemon, as steps the scheduler (or a test) calls: build the reports
//! of closed hours, send what is due, verify what was sent. Each step commits its result
//! before the next network call, so a kill -9 anywhere loses nothing.

use std::collections::BTreeMap;

use super::client::{CustomerClient, Exchange, Verdict};
use super::outbox::{Outbox, OutboxError, OutboxReport, PushAttempt, RepushKind, StateChange};
use super::report::{self, BuildRules, ReportState};
use crate::clock::Clock;
use crate::config::{AgentConfig, MacFormat};
use crate::health::Health;
use crate::ring::{Ring, RingError};
use crate::slots::ReportTz;
use crate::tally::LastReading;
use pushagent_proto::profile::Signature;

pub(super) const HOUR_MS: i64 = 3_600_000;
pub(super) const DAY_MS: i64 = 86_400_000;
/// Backoff of retryable failures: 30 s doubling up to 15 min, jittered.
const BACKOFF_START_MS: i64 = 30_000;
const BACKOFF_CAP_MS: i64 = 900_000;
/// Most hours built, batches sent or days verified in one step (the loop comes back).
pub(super) const MAX_PER_STEP: usize = 500;

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
    /// Checks that could not read the customer's copy (tried again later).
    pub verify_failed: usize,
}

impl<'a> Pusher<'a> {
    pub(super) fn tz(&self) -> ReportTz {
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
            // Sends nothing while a push switch is off (`sending_refused`); verification's
            // queries are reads and go on, the corrections they find wait with the backlog.
            self.send_due(&mut done)?;
            self.verify_due(&mut done)?;
        }
        self.report_switch_hold()?;
        Ok(done)
    }

    /// Tell the heartbeat (health `push_held_by_switch`) what a push switch that is off holds
    /// back: the reports waiting to be sent (hours built while it was on, corrections), or
    /// nothing once it is on (they are sent by then, or retried as usual) or none waits.
    fn report_switch_hold(&self) -> Result<(), PushError> {
        let held = match self.config.push_enabled {
            true => None,
            false => self.outbox.waiting_to_send()?.map(|w| pushagent_proto::agent::PushHeldBySwitch {
                since: 0, // the first sighting's, kept by `Health`
                switches: self.config.off_switches().into_iter().map(str::to_owned).collect(),
                hours_waiting: w.hours,
                corrections_waiting: w.corrections,
                oldest_hour: w.oldest_hour,
            }),
        };
        self.health.push_held_by_switch(held, self.clock.wall_ms() / 1000);
        Ok(())
    }

    /// Why nothing may be POSTed to the customer now, or None when sending is allowed: the
    /// one gate of every push (due hours, corrections and re-pushes, conflict resolutions,
    /// the operator's `push --hour`), all of which go through [`Pusher::post`]. A push switch
    /// that is off (local file, the service's global or machine switch: the effective
    /// `push_enabled`) means nothing goes to the customer; pending hours stay pending and
    /// go when it is on again.
    pub fn sending_refused(&self) -> Option<String> {
        let missing = self.missing_settings();
        if !missing.is_empty() {
            return Some(format!("{} not set: cannot push to the customer", missing.join(", ")));
        }
        if !self.config.push_enabled {
            return Some(format!(
                "push switch off ({}): nothing is sent to the customer while it is off",
                self.config.off_switches().join(", ")
            ));
        }
        None
    }

    /// POST these reports to the customer, unless [`Pusher::sending_refused`] says no (then
    /// nothing is sent, Err says why). The only place the pusher pushes.
    pub(super) fn post(&self, batch: &[OutboxReport]) -> Result<Exchange, String> {
        match self.sending_refused() {
            Some(why) => Err(why),
            None => Ok(self.client.push(&self.records_of(batch))),
        }
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
            let exchange = match self.post(&batch) {
                Ok(exchange) => exchange,
                Err(why) => {
                    // Nothing recorded: the hours stay due and go as soon as sending is allowed.
                    log::info!("{} due record(s) wait ({} ..): {why}", batch.len(), batch[0].flux_hour);
                    return Ok(());
                }
            };
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
                // Resolved by reading the customer's copy of each hour, never by sending the
                // same batch again: a 40901 whose `conflicts` list is missing, unreadable or in
                // another format would otherwise be a storm.
                let mut theirs = TheirCopies::default();
                let mut resolved = false;
                for r in batch {
                    let named = conflicts.iter().find(|c| {
                        MacFormat::canonical(&c.mac).as_deref() == Some(r.mac.as_str())
                            && report::canonical_flux_hour(&self.config.customer, &c.flux_hour)
                                .ok()
                                .as_deref()
                                == Some(r.flux_hour.as_str())
                    });
                    let change =
                        self.resolve_conflict(r, named.map(|c| c.stored_version), &mut theirs, ex, now);
                    resolved |= matches!(&change, StateChange::Repush { due_at_ms, .. } if *due_at_ms <= now);
                    changes.push(change);
                }
                if !resolved {
                    done.failed_attempts += 1;
                }
                resolved
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

    /// What to do with one report of a batch the customer refused as a version conflict.
    fn resolve_conflict(
        &self,
        r: &OutboxReport,
        named_version: Option<u32>,
        theirs: &mut TheirCopies,
        ex: &Exchange,
        now: i64,
    ) -> StateChange {
        let day = report::flux_dat(&self.config.customer, &self.tz(), r.hour_start_ms);
        let key = (r.mac.clone(), day);
        if !theirs.0.contains_key(&key) {
            let copy = self.query_day(&r.mac, &key.1);
            theirs.0.insert(key.clone(), copy);
        }
        let their = match &theirs.0[&key] {
            Ok(copy) => copy.records.iter().find(|t| t.hour_start_ms == r.hour_start_ms).cloned(),
            Err(_) => None,
        };
        let retry = |why: String| {
            let next = now + backoff_ms(r.attempts + 1);
            log::warn!("{} {}: {why}; trying again later", r.mac, r.flux_hour);
            StateChange::Retry {
                mac: r.mac.clone(),
                flux_hour: r.flux_hour.clone(),
                next_attempt_at_ms: next,
                error: why,
                now_ms: now,
            }
        };
        let stored = match (named_version, &their) {
            (Some(v), t) => v.max(t.as_ref().map_or(0, |t| t.version)),
            // Not named: the customer's copy says whether this record is the conflicting one.
            (None, Some(t)) if t.version >= r.version && t.points != r.pushed => t.version,
            (None, Some(t)) if t.version >= r.version => {
                return retry(format!(
                    "version conflict ({}), but the customer holds version {} with our values",
                    ex.message, t.version
                ))
            }
            (None, _) => {
                let read = match &theirs.0[&key] {
                    Ok(_) => "the customer's copy does not show a conflicting version".to_string(),
                    Err(e) => e.clone(),
                };
                return retry(format!("version conflict not named in the answer ({}); {read}", ex.message));
            }
        };
        self.correction(
            r,
            stored.max(r.version).checked_add(1),
            &format!("conflict: customer held version {stored}"),
            now,
        )
    }

    /// A correction of a report the customer holds differently: version + 1, unless the hour
    /// had its `max_corrections_per_hour` already (then `correction_failed`, held for an
    /// operator) or the version cannot be raised (held). The first correction goes out at
    /// once, later ones after a backoff.
    pub(super) fn correction(
        &self,
        r: &OutboxReport,
        version: Option<u32>,
        reason: &str,
        now: i64,
    ) -> StateChange {
        let (mac, flux_hour) = (r.mac.clone(), r.flux_hour.clone());
        let Some(version) = version else {
            let reason =
                format!("{reason}; version {} cannot be raised (at its maximum {})", r.version, u32::MAX);
            log::error!("{mac} {flux_hour} held: {reason}");
            return StateChange::Held { mac, flux_hour, reason, now_ms: now };
        };
        let max = self.config.max_corrections_per_hour;
        if r.corrections >= max {
            let reason = format!(
                "{reason}; the customer kept other values after {} correction(s) (max_corrections_per_hour = {max})",
                r.corrections
            );
            log::error!("{mac} {flux_hour} correction_failed, held for an operator: {reason}");
            return StateChange::CorrectionFailed { mac, flux_hour, reason, now_ms: now };
        }
        let due_at_ms = if r.corrections == 0 { now } else { now + backoff_ms(r.corrections) };
        log::warn!("{mac} {flux_hour}: {reason}; re-pushing ours as version {version}");
        StateChange::Repush {
            mac,
            flux_hour,
            version,
            values: None,
            reason: reason.into(),
            now_ms: now,
            due_at_ms,
            kind: RepushKind::Correction,
        }
    }
}

/// The customer's copies read while resolving one conflict answer, per (MAC, day).
#[derive(Default)]
struct TheirCopies(BTreeMap<(String, String), Result<super::verify::DayCopy, String>>);

/// Capped exponential backoff with jitter: attempt 1 waits 15–30 s, then doubling, ≤ 15 min.
pub fn backoff_ms(attempt: u32) -> i64 {
    let exp = BACKOFF_START_MS.saturating_mul(1i64 << attempt.saturating_sub(1).min(20)).min(BACKOFF_CAP_MS);
    let mut r = [0u8; 8];
    let frac = if getrandom::fill(&mut r).is_ok() { u64::from_le_bytes(r) % 1000 } else { 500 };
    exp / 2 + (exp / 2) * frac as i64 / 1000
}

pub(super) fn stable_hash(text: &str) -> u64 {
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
