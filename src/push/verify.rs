//! Verification: sent hours are re-read from the customer's query API (one query per MAC and
//! day) and compared; a difference is corrected (bounded by `max_corrections_per_hour`), a
//! copy that cannot be read is tried again with backoff until the verification window ends
//! (then `unverifiable`), and records the customer holds for hours we never sent are
//! reported (`customer_extra`).

use std::collections::BTreeMap;

use super::client::Verdict;
use super::outbox::{OutboxReport, StateChange, Verification};
use super::pusher::{stable_hash, PushError, Pusher, StepReport, DAY_MS, HOUR_MS, MAX_PER_STEP};
use super::report::{self, ReportState};

/// A check that could not read the customer's copy is tried again after 15 min, doubling up
/// to 6 h, until the verification window ends.
const VERIFY_RETRY_START_MS: i64 = 15 * 60_000;
const VERIFY_RETRY_CAP_MS: i64 = 6 * HOUR_MS;

impl Pusher<'_> {
    /// The customer's records of one MAC and day (query API), each read on its own: one
    /// malformed record spoils only itself.
    pub(super) fn query_day(&self, mac: &str, day: &str) -> Result<DayCopy, String> {
        let tz = self.tz();
        let ex = self.client.query(&self.config.customer.mac_format.render(mac), day);
        let data = match (&ex.verdict, ex.data) {
            (Verdict::Accepted, Some(data)) => data,
            (Verdict::Accepted, None) => {
                return Err(format!(
                    "customer's answer has no {} list",
                    self.config.customer.query.records_field
                ))
            }
            _ => return Err(format!("query failed: {}", ex.message)),
        };
        let mut copy = DayCopy::default();
        for value in &data {
            match report::parse_their_record(&self.config.customer, &tz, value) {
                Ok(t) if t.mac == mac => copy.records.push(t),
                Ok(_) => {} // another MAC's record: not ours to judge
                Err(e) => match report::their_record_key(&self.config.customer, &tz, value) {
                    Ok((m, hour)) if m == mac => {
                        copy.bad_hours.insert(hour, e);
                    }
                    Ok(_) => {}
                    Err(_) => copy.unidentified.push(e),
                },
            }
        }
        Ok(copy)
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
            let copy = match self.query_day(&mac, &day) {
                Ok(copy) => copy,
                Err(why) => {
                    for r in &reports {
                        self.verify_later(r, &why, now, done)?;
                    }
                    continue;
                }
            };
            for r in &reports {
                if let Some(e) = copy.bad_hours.get(&r.hour_start_ms) {
                    self.verify_later(r, &format!("customer's record unreadable: {e}"), now, done)?;
                    continue;
                }
                let their = copy.records.iter().find(|t| t.hour_start_ms == r.hour_start_ms);
                if their.is_none() && !copy.unidentified.is_empty() {
                    // It may be the record we cannot read: not "missing" on a guess.
                    let why = format!(
                        "not in the customer's answer, which holds {} unreadable record(s): {}",
                        copy.unidentified.len(),
                        copy.unidentified[0]
                    );
                    self.verify_later(r, &why, now, done)?;
                    continue;
                }
                self.compare_one(r, their, now, done)?;
            }
            self.check_extra(&mac, &copy, &reports, now)?;
        }
        Ok(())
    }

    /// The customer's copy checked the other way: a record for one of our MACs for an hour we
    /// never sent (no report, or skipped with the push switch off, or held before any send)
    /// is recorded and mirrored as `customer_extra`, once per version the customer holds.
    fn check_extra(
        &mut self,
        mac: &str,
        copy: &DayCopy,
        checked: &[OutboxReport],
        now: i64,
    ) -> Result<(), PushError> {
        let tz = self.tz();
        for t in &copy.records {
            if checked.iter().any(|r| r.hour_start_ms == t.hour_start_ms) {
                continue;
            }
            let flux_hour = tz.flux_hour(t.hour_start_ms);
            let ours = self.outbox.get(mac, &flux_hour)?;
            let why = match &ours {
                None => "we have no report of this hour",
                Some(r) if r.state == ReportState::SkippedOff => "we skipped this hour (push switch off)",
                Some(r) if r.state == ReportState::Held && r.sent_at_ms.is_none() => {
                    "we hold this hour and never sent it"
                }
                Some(_) => continue,
            };
            if self.outbox.extra_recorded(mac, &flux_hour, t.version)? {
                continue;
            }
            let total: u64 = t.points.iter().sum();
            log::error!(
                "the customer holds hours we did not send: {mac} {flux_hour} version {} ({total} B); {why}",
                t.version
            );
            let v = Verification {
                mac: mac.into(),
                flux_hour,
                at_ms: now,
                result: "customer_extra".into(),
                detail: format!(
                    "the customer holds version {} ({total} B) of an hour we did not send: {why}",
                    t.version
                ),
                version: ours.map_or(0, |r| r.version),
                checked_version: Some(t.version),
                customer_points: Some(t.points),
            };
            self.outbox.record_verification(&v, None)?;
        }
        Ok(())
    }

    fn compare_one(
        &mut self,
        r: &OutboxReport,
        their: Option<&report::TheirRecord>,
        now: i64,
        done: &mut StepReport,
    ) -> Result<(), PushError> {
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
                let change = self.correction(
                    r,
                    t.version.max(r.version).checked_add(1),
                    &format!(
                        "verification: the customer's version {} differs ({})",
                        t.version,
                        diffs.join(", ")
                    ),
                    now,
                );
                let result = self.correction_result(&change, &mut *done);
                let detail = match &change {
                    StateChange::Repush { version, .. } => format!(
                        "version {} differs: {}; re-pushed as version {version}",
                        t.version,
                        diffs.join(", ")
                    ),
                    StateChange::Held { reason, .. } | StateChange::CorrectionFailed { reason, .. } => {
                        reason.clone()
                    }
                    _ => String::new(),
                };
                (result, detail, change)
            }
            None => {
                let change = self.correction(
                    r,
                    r.version.checked_add(1),
                    "verification: missing at the customer",
                    now,
                );
                let result = match self.correction_result(&change, &mut *done) {
                    "corrected" => "missing",
                    other => other,
                };
                let detail = match &change {
                    StateChange::Repush { version, .. } => {
                        format!("not in the customer's answer; re-pushed as version {version}")
                    }
                    StateChange::Held { reason, .. } | StateChange::CorrectionFailed { reason, .. } => {
                        reason.clone()
                    }
                    _ => String::new(),
                };
                (result, detail, change)
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
            version: r.version,
            checked_version: their.map(|t| t.version),
            customer_points: their.map(|t| t.points),
        };
        self.outbox.record_verification(&v, Some(&change))?;
        Ok(())
    }

    /// The verification result a correction's state change stands for.
    fn correction_result(&self, change: &StateChange, done: &mut StepReport) -> &'static str {
        match change {
            StateChange::Repush { .. } => {
                done.corrected += 1;
                "corrected"
            }
            StateChange::CorrectionFailed { .. } => "correction_failed",
            // The version cannot be raised: the hour is held; the check found a difference.
            _ => "correction_failed",
        }
    }

    /// The customer's copy could not be read: try again with backoff until the verification
    /// window ends, then the hour is `unverifiable` (its own state, mirrored as such, never a
    /// mismatch). A failed check on its own records nothing for the service: a single timeout
    /// never looks like a mismatch.
    fn verify_later(
        &mut self,
        r: &OutboxReport,
        why: &str,
        now: i64,
        done: &mut StepReport,
    ) -> Result<(), PushError> {
        done.verify_failed += 1;
        let (mac, flux_hour) = (r.mac.clone(), r.flux_hour.clone());
        let until = r.verify_until_ms.unwrap_or(now);
        if now < until {
            let next = (now + verify_retry_ms(r.verify_failures + 1)).min(until);
            log::warn!("verification of {mac} {flux_hour} postponed: {why}");
            let change = StateChange::VerifyLater { mac, flux_hour, next_ms: next, error: why.into() };
            self.outbox.schedule_repush(&change)?;
            return Ok(());
        }
        if r.verify_result.as_deref() == Some("match") {
            // This version was confirmed before; the window just ended on a failed re-check.
            log::warn!("last check of {mac} {flux_hour} failed ({why}); it was verified before");
            let change = StateChange::Verified { mac, flux_hour, next_ms: None };
            self.outbox.schedule_repush(&change)?;
            return Ok(());
        }
        let reason = format!(
            "the customer's copy could not be read in {} check(s) until the verification window ended: {why}",
            r.verify_failures + 1
        );
        log::error!("{mac} {flux_hour} unverifiable: {reason}");
        let v = Verification {
            mac: mac.clone(),
            flux_hour: flux_hour.clone(),
            at_ms: now,
            result: "unverifiable".into(),
            detail: reason.clone(),
            version: r.version,
            checked_version: None,
            customer_points: None,
        };
        let change = StateChange::Unverifiable { mac, flux_hour, reason, now_ms: now };
        self.outbox.record_verification(&v, Some(&change))?;
        Ok(())
    }
}

/// The customer's records of one MAC and day as read: the good ones, the hours whose record
/// is there but unreadable, and records that cannot even say which hour they are.
#[derive(Debug, Default)]
pub(super) struct DayCopy {
    pub(super) records: Vec<report::TheirRecord>,
    pub(super) bad_hours: BTreeMap<i64, String>,
    pub(super) unidentified: Vec<String>,
}

/// Wait after the n-th failed check in a row: 15 min doubling, at most 6 h, jittered.
fn verify_retry_ms(failures: u32) -> i64 {
    let exp = VERIFY_RETRY_START_MS
        .saturating_mul(1i64 << failures.saturating_sub(1).min(20))
        .min(VERIFY_RETRY_CAP_MS);
    let mut r = [0u8; 8];
    let frac = if getrandom::fill(&mut r).is_ok() { u64::from_le_bytes(r) % 1000 } else { 500 };
    exp / 2 + (exp / 2) * frac as i64 / 1000
}
