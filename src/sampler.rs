//! The sampling loop: read the counters every `sample_interval_secs` and exactly at each
//! 5-minute boundary, tally the reading into slots, commit to the ring. It waits on nothing
//! but the clock: no network, no other part of the agent.

use crate::clock::{Clock, ClockSync};
use crate::config::SharedConfig;
use crate::health::Health;
use crate::ring::{Ring, RingError, SlotRow};
use crate::shutdown::Shutdown;
use crate::slots::{ReportTz, SLOT_MS};
use crate::source::CounterSource;
use crate::tally::{self, flag, LastReading, Reading, TallyConfig};

pub struct Sampler<'a> {
    pub clock: &'a dyn Clock,
    pub source: Box<dyn CounterSource + 'a>,
    pub ring: Ring,
    pub tally: TallyConfig,
    pub tz: ReportTz,
    pub retention_ms: i64,
    pub shutdown: Shutdown,
    last: Option<LastReading>,
    /// The effective config whose push switch each reading records (None: not followed).
    push_switch: Option<(SharedConfig, u64, bool)>,
    /// What is wrong, for the heartbeat: clock, commits, a timeline that does not advance.
    pub health: Health,
    /// The timeline end last seen advance, and the boot time when it did.
    timeline_seen: (Option<i64>, u64),
    failures_in_a_row: u64,
    commit_failures: u64,
    next_prune_ms: i64,
}

/// Result of one sample.
#[derive(Debug, Default)]
pub struct SampleOutcome {
    pub closed: Vec<SlotRow>,
    /// How late a boundary reading was, in ms (None for ordinary readings).
    pub boundary_late_ms: Option<i64>,
}

impl<'a> Sampler<'a> {
    pub fn new(
        clock: &'a dyn Clock,
        source: Box<dyn CounterSource + 'a>,
        ring: Ring,
        tally: TallyConfig,
        tz: ReportTz,
        retention_days: u32,
        shutdown: Shutdown,
    ) -> Result<Self, RingError> {
        let last = ring.last_reading()?.map(|(lr, clean_stop)| {
            log::info!(
                "resuming after {} stop; last reading of {} at {}",
                if clean_stop { "a clean" } else { "an unclean (crash or kill)" },
                lr.reading.source.ifname,
                tz.hhmm(lr.reading.wall_ms)
            );
            lr
        });
        Ok(Sampler {
            clock,
            source,
            ring,
            tally,
            tz,
            retention_ms: i64::from(retention_days) * 86_400_000,
            shutdown,
            last,
            push_switch: None,
            health: Health::new(),
            timeline_seen: (None, clock.boot_ms()),
            failures_in_a_row: 0,
            commit_failures: 0,
            next_prune_ms: 0,
        })
    }

    /// Record the effective push switch with every reading: the switch applies to the slots
    /// it covered, not to the moment an hour is built.
    pub fn following_push_switch(mut self, shared: SharedConfig) -> Self {
        self.push_switch = Some((shared, u64::MAX, true));
        self
    }

    fn push_on(&mut self) -> Option<bool> {
        let (shared, seen, on) = self.push_switch.as_mut()?;
        let generation = shared.generation();
        if generation != *seen {
            *seen = generation;
            *on = shared.get().1.push_enabled;
        }
        Some(*on)
    }

    /// Run until shutdown: read now, then at every due time; a final reading on the way out.
    pub fn run(&mut self) -> Result<(), RingError> {
        self.sample_or_log(None);
        loop {
            let due = next_due_ms(self.clock.wall_ms(), self.tally.sample_interval_ms);
            if self.sleep_until(due) {
                break;
            }
            self.sample_or_log(Some(due));
        }
        self.sample(None)?;
        if let Some(last) = &self.last {
            self.ring.mark_stopped(tally::stopping(last).as_ref())?;
        }
        log::info!("sampler stopped; ring is consistent");
        Ok(())
    }

    /// A reading that cannot be committed (disk full, database locked) is not lost: the last
    /// committed reading stays the base, so the next reading that commits carries its bytes.
    fn sample_or_log(&mut self, due: Option<i64>) {
        let result = self.sample(due);
        self.report_health(result.as_ref().err());
        if let Err(e) = result {
            self.commit_failures += 1;
            if self.commit_failures % 60 == 1 {
                log::error!(
                    "cannot commit a reading (failure #{}; its bytes go with the next one): {e}",
                    self.commit_failures
                );
            }
        } else {
            self.commit_failures = 0;
        }
    }

    /// Tell the health state whether this reading committed and whether the slot timeline
    /// advances (it stands still while readings fail or cannot be committed).
    pub fn report_health(&mut self, failure: Option<&RingError>) {
        let now_secs = self.clock.wall_ms().div_euclid(1000);
        self.health.sampler_commit(failure.map(|e| e.to_string()).as_deref(), now_secs);
        let boot = self.clock.boot_ms();
        let timeline = self.last.as_ref().map(|l| l.timeline_ms);
        if timeline != self.timeline_seen.0 {
            self.timeline_seen = (timeline, boot);
        }
        let patience_ms = (3 * self.tally.sample_interval_ms + SLOT_MS) as u64;
        self.health.timeline_stuck(boot.saturating_sub(self.timeline_seen.1) > patience_ms, now_secs);
    }

    /// Sleep until the wall clock reaches `due`, in chunks no longer than one sample interval
    /// (a wall clock stepped back must not stall sampling). True on shutdown.
    fn sleep_until(&self, mut due: i64) -> bool {
        let interval = self.tally.sample_interval_ms;
        loop {
            let now = self.clock.wall_ms();
            if now >= due {
                return false;
            }
            if due - now > interval + SLOT_MS {
                // The wall clock went back while we slept: aim at the next due time from now.
                due = next_due_ms(now, interval);
                continue;
            }
            if self.clock.sleep_ms((due - now).min(interval) as u64, &self.shutdown) {
                return true;
            }
        }
    }

    /// Take one reading and commit it. `due` is the wall time the reading was scheduled for.
    pub fn sample(&mut self, due: Option<i64>) -> Result<SampleOutcome, RingError> {
        let source_reading = match self.source.read() {
            Ok(r) => {
                if self.failures_in_a_row > 0 {
                    log::info!("counters readable again after {} failed readings", self.failures_in_a_row);
                }
                self.failures_in_a_row = 0;
                r
            }
            Err(e) => {
                self.failures_in_a_row += 1;
                // First failure, then every 60th: a missing NIC must not flood the journal.
                if self.failures_in_a_row % 60 == 1 {
                    log::error!("cannot read counters (failure #{}): {e}", self.failures_in_a_row);
                }
                return Ok(SampleOutcome::default());
            }
        };
        let wall_ms = self.clock.wall_ms();
        let boot_ms = self.clock.boot_ms();
        let boundary_late_ms = due.filter(|d| d % SLOT_MS == 0).map(|d| wall_ms - d);
        let clock_synced = self.clock.sync() == ClockSync::Synced;
        self.health.clock_unsynchronised(!clock_synced, wall_ms.div_euclid(1000));
        let push_on = self.push_on();
        let reading = Reading { source: source_reading, wall_ms, boot_ms, clock_synced, push_on };
        let observation = tally::observe(self.last.as_ref(), reading, &self.tally);
        for e in &observation.events {
            match e.kind {
                tally::EventKind::Baseline | tally::EventKind::Gap => {
                    log::info!("{}: {}", e.kind.as_str(), e.detail)
                }
                _ => log::warn!("{}: {}", e.kind.as_str(), e.detail),
            }
        }
        // On failure `last` stays as it was, so the next reading re-counts this delta: no loss.
        let closed = self.ring.apply(&observation)?;
        if let Some(step_ms) = observation.clock_step_ms {
            self.health.clock_stepped(step_ms, wall_ms.div_euclid(1000));
        }
        // The push thread sleeps until its next due time; an hour's boundary reading (or a
        // clock just trusted) may make a build due: wake it.
        let before = self.last.as_ref().map(|l| (self.tz.hour_start_of(l.timeline_ms), l.clock_trusted()));
        let after = (self.tz.hour_start_of(observation.last.timeline_ms), observation.last.clock_trusted());
        if before.is_none_or(|(hour, trusted)| hour != after.0 || (after.1 && !trusted)) {
            self.shutdown.nudge();
        }
        self.last = Some(observation.last);
        if let Some(late) = boundary_late_ms {
            log::debug!("boundary reading at {} late_ms={late}", self.tz.hhmm(wall_ms));
        }
        for slot in &closed {
            log::info!("{}", self.describe_point(slot, boundary_late_ms));
        }
        // Only a trusted clock says what is older than the retention (a clock a year ahead
        // must not prune the year).
        let trusted = self.last.as_ref().is_some_and(LastReading::clock_trusted);
        if !closed.is_empty() && trusted && wall_ms >= self.next_prune_ms {
            self.next_prune_ms = wall_ms + 3_600_000;
            match self.ring.prune(wall_ms - self.retention_ms) {
                Ok(pruned) => {
                    if pruned.removed > 0 {
                        log::info!("pruned {} slots older than the retention", pruned.removed)
                    }
                    if pruned.kept_unbuilt > 0 {
                        log::warn!(
                            "{} slots older than the retention are kept: their hours are not built or not pushed yet",
                            pruned.kept_unbuilt
                        )
                    }
                }
                Err(e) => log::error!("pruning the ring failed (will retry): {e}"),
            }
        }
        Ok(SampleOutcome { closed, boundary_late_ms })
    }

    fn describe_point(&self, slot: &SlotRow, late_ms: Option<i64>) -> String {
        let hour_start = self.tz.hour_start_of(slot.slot_start_ms);
        let index = (slot.slot_start_ms - hour_start) / SLOT_MS;
        format!(
            "point {} {} v{} {} {}: tx {} B rx {} B samples {} flags {}{}",
            self.tz.hhmm(slot.slot_start_ms),
            self.tz.flux_hour(slot.slot_start_ms),
            index,
            slot.ifname,
            slot.mac,
            slot.counters.tx_bytes,
            slot.counters.rx_bytes,
            slot.samples,
            flag::describe(slot.flags),
            late_ms.map(|l| format!(" (boundary read late_ms={l})")).unwrap_or_default()
        )
    }
}

/// The next reading time strictly after `now_ms`: the next multiple of the interval or the
/// next slot boundary, whichever comes first.
pub fn next_due_ms(now_ms: i64, interval_ms: i64) -> i64 {
    let next_tick = (now_ms.div_euclid(interval_ms) + 1) * interval_ms;
    let next_boundary = (now_ms.div_euclid(SLOT_MS) + 1) * SLOT_MS;
    next_tick.min(next_boundary)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn due_times_hit_every_boundary() {
        assert_eq!(next_due_ms(0, 10_000), 10_000);
        assert_eq!(next_due_ms(295_001, 10_000), 300_000);
        assert_eq!(next_due_ms(299_999, 7_000), 300_000);
        assert_eq!(next_due_ms(300_000, 7_000), 301_000);
    }
}
