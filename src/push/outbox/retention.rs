//! Retention of the outbox history: reports, their push attempts and verifications, once they
//! are old and the config service has stored them (the service keeps the evidence). Without
//! it the history grows by ~42 KB a day for ever, and with it the file and every check of it.

use rusqlite::params;

use super::{Outbox, OutboxError};

/// Most hours removed in one transaction: the first prune of a years-old file runs in short
/// transactions, between which the sampler commits its readings.
const HOURS_PER_TRANSACTION: usize = 500;

/// Reports (with their attempts and verifications) that may go: older than the cutoff, done
/// with (sent or unverifiable and no check left, or skipped), and stored by the service.
/// Never a pending or held (or `correction_failed`) hour, an hour still being verified, or
/// one with an attempt or verification the service has not acknowledged; a state this list
/// does not name is kept.
///
/// Planned through `report_by_hour` from the oldest hour, each hour's attempts and
/// verifications looked up by their key (`+mirrored`: never through the `mirrored` indexes,
/// which would read every stored attempt for every hour).
const PRUNABLE: &str = "SELECT mac, flux_hour FROM report INDEXED BY report_by_hour
    WHERE hour_start < ?1
      AND ((state IN ('sent', 'unverifiable') AND verify_next_at IS NULL)
           OR (state = 'skipped_off' AND skip_mirrored = 1))
      AND (state = 'skipped_off'
           OR EXISTS (SELECT 1 FROM push_attempt p WHERE p.mac = report.mac AND p.flux_hour = report.flux_hour
                      AND +p.mirrored = 1))
      AND NOT EXISTS (SELECT 1 FROM push_attempt p WHERE p.mac = report.mac AND p.flux_hour = report.flux_hour
                      AND +p.mirrored = 0)
      AND NOT EXISTS (SELECT 1 FROM verification v WHERE v.mac = report.mac AND v.flux_hour = report.flux_hour
                      AND +v.mirrored = 0)
    ORDER BY hour_start LIMIT ?2";

/// What one prune removed.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct PrunedHistory {
    pub reports: usize,
    pub attempts: usize,
    pub verifications: usize,
}

impl Outbox {
    /// Delete the history of hours that started before `before_ms` and that the service has
    /// stored (see [`PRUNABLE`]), in transactions of at most [`HOURS_PER_TRANSACTION`] hours.
    pub fn prune_history(&mut self, before_ms: i64) -> Result<PrunedHistory, OutboxError> {
        let mut done = PrunedHistory::default();
        loop {
            // IMMEDIATE: the write lock first (waiting for the sampler's commit), so the read
            // below is never a stale snapshot that cannot become a write.
            let tx = self.conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            let keys: Vec<(String, String)> = tx
                .prepare_cached(PRUNABLE)?
                .query_map(params![before_ms.div_euclid(1000), HOURS_PER_TRANSACTION as i64], |r| {
                    Ok((r.get(0)?, r.get(1)?))
                })?
                .collect::<Result<_, _>>()?;
            for (mac, flux_hour) in &keys {
                done.attempts += tx
                    .prepare_cached("DELETE FROM push_attempt WHERE mac = ?1 AND flux_hour = ?2")?
                    .execute(params![mac, flux_hour])?;
                done.verifications += tx
                    .prepare_cached("DELETE FROM verification WHERE mac = ?1 AND flux_hour = ?2")?
                    .execute(params![mac, flux_hour])?;
                done.reports += tx
                    .prepare_cached("DELETE FROM report WHERE mac = ?1 AND flux_hour = ?2")?
                    .execute(params![mac, flux_hour])?;
            }
            tx.commit()?;
            if keys.len() < HOURS_PER_TRANSACTION {
                return Ok(done);
            }
        }
    }
}
