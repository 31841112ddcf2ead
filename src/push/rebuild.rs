//! Hours the ring changed after they were built (late bytes after a clock correction, a
//! restart gap spread over a built hour, an amended slot): rebuilt from the ring, and a pushed
//! one re-pushed as version + 1 with the reason recorded and mirrored, so that what the
//! customer holds for every pushed hour is what the ring holds.

use std::collections::BTreeSet;

use super::outbox::{OutboxReport, RepushKind, RepushValues, StateChange, Verification};
use super::pusher::{PushError, Pusher};
use super::report::{self, BuildRules, ReportState};
use crate::config::{BilledDirection, Billing, Offset};
use crate::ring::SlotRow;

const HOUR_MS: i64 = 3_600_000;
/// Most changed slots handled in one step (the loop comes back for the rest).
const MAX_CHANGED_PER_STEP: usize = 2_000;

impl Pusher<'_> {
    /// Rebuild every built hour whose slots changed; returns how many reports changed.
    /// Waits, like building, for a trusted clock: while it is not, slots may still move.
    pub fn rebuild_changed(&mut self) -> Result<usize, PushError> {
        let Some((last, _)) = self.ring.last_reading()? else { return Ok(0) };
        if !last.clock_trusted() {
            return Ok(0);
        }
        let changed = self.ring.changed_slots(MAX_CHANGED_PER_STEP)?;
        if changed.is_empty() {
            return Ok(0);
        }
        let tz = self.config.report_timezone;
        let hours: BTreeSet<(String, i64)> =
            changed.iter().map(|c| (c.mac.clone(), tz.hour_start_of(c.slot_start_ms))).collect();
        let now = self.clock.wall_ms();
        let mut changed_reports = 0;
        for (mac, hour_start_ms) in hours {
            let slots = self.ring.slots_between(hour_start_ms, hour_start_ms + HOUR_MS)?;
            let existing = match self.outbox.get(&mac, &tz.flux_hour(hour_start_ms))? {
                Some(r) => Some(r),
                // Named in the zone in force before a change of report_timezone (push::zone).
                None => self
                    .outbox
                    .between(hour_start_ms, hour_start_ms + 1000)?
                    .into_iter()
                    .find(|r| r.mac == mac),
            };
            let changed = match existing {
                Some(r) => self.correct_report(&r, &slots, now)?,
                None => self.build_late_report(&mac, hour_start_ms, &slots, now)?,
            };
            changed_reports += usize::from(changed);
        }
        self.ring.clear_changed(&changed)?;
        Ok(changed_reports)
    }

    /// Rebuild one report with the direction and offset it was built with.
    fn correct_report(&mut self, r: &OutboxReport, slots: &[SlotRow], now: i64) -> Result<bool, PushError> {
        let direction =
            [BilledDirection::Tx, BilledDirection::Rx, BilledDirection::Max, BilledDirection::Sum]
                .into_iter()
                .find(|d| d.name() == r.direction)
                .unwrap_or(self.config.customer.billed_direction);
        let rules = BuildRules {
            direction,
            offset: Offset { basis_points: r.offset_bp },
            offset_source: "global", // not used: the report keeps its own
            // The fixed amount it was built with, like its percentage: a late byte is no re-price.
            offset_fixed_bytes: r.offset_fixed_bytes,
            push_enabled: r.state != ReportState::SkippedOff,
            link_bits_per_sec: self.link_bits_per_sec(),
        };
        let tz = self.config.report_timezone;
        let built = report::build(&r.mac, r.hour_start_ms, slots, &tz, &rules);
        if built.raw == r.raw && built.pushed == r.pushed {
            return Ok(false);
        }
        let total = |p: &report::Points| p.iter().sum::<u64>();
        let why = format!(
            "the ring changed after the hour was built (late bytes after a clock correction or a gap): raw {} -> {} B",
            total(&r.raw),
            total(&built.raw)
        );
        let values = RepushValues {
            raw: built.raw,
            pushed: built.pushed,
            offset_bp: r.offset_bp,
            offset_source: r.offset_source.clone(),
            offset_fixed_bytes: r.offset_fixed_bytes,
        };
        let (mac, flux_hour) = (r.mac.clone(), r.flux_hour.clone());
        if built.state == ReportState::Held {
            let reason = built.reason.unwrap_or_default();
            log::error!("hour {flux_hour} of {mac} rebuilt and held: {reason}");
            self.outbox.amend_values(&mac, &flux_hour, &values)?;
            let change = StateChange::Held { mac, flux_hour, reason, now_ms: now };
            self.outbox.schedule_repush(&change)?;
            return Ok(true);
        }
        if !r.state.was_sent() {
            // Not at the customer yet (or held, or skipped): its values are simply brought up
            // to date; a pending one goes out with them.
            log::info!("hour {flux_hour} of {mac} ({}) rebuilt: {why}", r.state.as_str());
            self.outbox.amend_values(&mac, &flux_hour, &values)?;
            return Ok(true);
        }
        let Some(version) = r.version.checked_add(1) else {
            let reason = format!("{why}; version {} cannot be raised", r.version);
            self.outbox.schedule_repush(&StateChange::Held { mac, flux_hour, reason, now_ms: now })?;
            return Ok(true);
        };
        log::warn!("hour {flux_hour} of {mac} was pushed but {why}: re-pushing as version {version}");
        let v = Verification {
            mac: mac.clone(),
            flux_hour: flux_hour.clone(),
            at_ms: now,
            result: "corrected".into(),
            detail: format!("{why}; re-pushed as version {version}"),
            version: r.version,
            checked_version: None,
            customer_points: None,
        };
        let change = StateChange::Repush {
            mac,
            flux_hour,
            version,
            values: Some(Box::new(values)),
            reason: format!("correction: {why}"),
            now_ms: now,
            due_at_ms: now,
            kind: RepushKind::Rebuild,
        };
        self.outbox.record_verification(&v, Some(&change))?;
        Ok(true)
    }

    /// Bytes in a built hour for a MAC that has no report there (it appeared late): built
    /// now, as the hour would have been.
    fn build_late_report(
        &mut self,
        mac: &str,
        hour_start_ms: i64,
        slots: &[SlotRow],
        now: i64,
    ) -> Result<bool, PushError> {
        if !slots.iter().any(|s| s.mac == mac && (s.counters.tx_bytes > 0 || s.counters.rx_bytes > 0)) {
            return Ok(false);
        }
        let Some(cursor) = self.outbox.cursor()? else { return Ok(false) };
        let rules = BuildRules::from_settings(
            self.config.customer.billed_direction,
            &self.config.report,
            self.config.push_enabled,
            self.link_bits_per_sec(),
        );
        let tz = self.config.report_timezone;
        let mut built = report::build(mac, hour_start_ms, slots, &tz, &rules);
        if built.state == ReportState::SkippedOff {
            built.off_switches = self.config.off_switches().join(",");
        }
        log::warn!(
            "hour {} of {mac} built late: its bytes arrived after the hour was built",
            built.flux_hour
        );
        self.outbox.commit_hour(&[built], cursor, now)?;
        Ok(true)
    }

    fn link_bits_per_sec(&self) -> Option<u64> {
        let last = self.ring.last_reading().ok().flatten();
        last.and_then(|(l, _)| l.reading.source.link_bits_per_sec).or(self.config.max_link_bits_per_sec)
    }
}
