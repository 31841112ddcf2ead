//! When the push thread has something to do next, and how long the outbox keeps its history.
//! The push thread sleeps until then (no polling): whatever makes something due earlier nudges
//! it (the sampler's hour boundary, a new config, the CLI's SIGUSR1; see `shutdown`).

use super::outbox::PrunedHistory;
use super::pusher::{PushError, Pusher};

const HOUR_MS: i64 = 3_600_000;
const DAY_MS: i64 = 86_400_000;

/// The outbox keeps an hour's history at least this many days past `verify_days` (and never
/// less than the ring's `retention_days`: a late change of a slot still finds its report).
pub const HISTORY_MARGIN_DAYS: u32 = 7;

impl Pusher<'_> {
    /// When something will next be due (unix ms): the next hour's build (its end + the MAC's
    /// jitter), the earliest pending attempt (only while sending is allowed) and the earliest
    /// verification (only when the settings to send are there). A build that is due but was not done (its boundary
    /// reading is not in, the clock is not trusted) is not repeated here: the sampler nudges
    /// the push thread when either changes.
    pub fn next_due_ms(&self) -> Result<Option<i64>, PushError> {
        let now = self.clock.wall_ms();
        let tz = self.config.report_timezone;
        let last = self.ring.last_reading()?;
        let first_unbuilt = match self.outbox.cursor()? {
            Some(cursor) => cursor,
            None => tz.hour_start_of(self.ring.oldest_slot_ms()?.unwrap_or(now)),
        };
        let jitter = last.as_ref().map_or(0, |(l, _)| self.jitter_ms(&l.reading.source.mac));
        let build = Some(first_unbuilt + HOUR_MS + jitter).filter(|at| *at > now);
        let (pending, verify) = if !self.missing_settings().is_empty() {
            (None, None) // nothing can be sent: only building is scheduled
        } else if self.sending_refused().is_some() {
            // A push switch is off: pending hours wait for it (a new config nudges the thread);
            // verification's queries go on.
            (None, self.outbox.earliest_verify_ms()?)
        } else {
            (self.outbox.earliest_pending_ms()?, self.outbox.earliest_verify_ms()?)
        };
        Ok([build, pending, verify].into_iter().flatten().min())
    }

    /// Days of outbox history kept: `verify_days` + [`HISTORY_MARGIN_DAYS`], at least the ring's
    /// `retention_days`.
    pub fn history_keep_days(&self) -> u32 {
        (self.config.verify_days + HISTORY_MARGIN_DAYS).max(self.config.retention_days)
    }

    /// Delete the history of hours older than [`Pusher::history_keep_days`] that the config
    /// service has stored (nothing without a config service) (`Outbox::prune_history` says exactly which). Only a trusted clock
    /// says what is old: a clock a year ahead must not prune the year (None: not trusted yet,
    /// nothing done).
    pub fn prune_history(&mut self) -> Result<Option<PrunedHistory>, PushError> {
        let trusted = self.ring.last_reading()?.is_some_and(|(l, _)| l.clock_trusted());
        if !trusted {
            return Ok(None);
        }
        if self.config.service.url.is_none() {
            // Nobody else keeps the evidence: nothing is deleted (and nothing old is read).
            return Ok(Some(PrunedHistory::default()));
        }
        let before = self.clock.wall_ms() - i64::from(self.history_keep_days()) * DAY_MS;
        let pruned = self.outbox.prune_history(before)?;
        if pruned.reports > 0 {
            log::info!(
                "outbox: removed {} hour(s) older than {} days with {} attempt(s) and {} verification(s), all stored by the config service",
                pruned.reports,
                self.history_keep_days(),
                pruned.attempts,
                pruned.verifications
            );
            // The first prune of a years-old file frees megabytes of heap: give them back.
            crate::statedb::release_freed_memory();
        }
        Ok(Some(pruned))
    }
}
