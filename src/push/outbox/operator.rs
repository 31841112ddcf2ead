//! What an operator's re-push (`push::operator`) and the report time zone in force
//! (`push::zone`) need of the outbox.

use rusqlite::{params, OptionalExtension};

use super::{apply_change, insert_attempt, Outbox, OutboxError, PushAttempt, StateChange};

/// An operator's re-push the customer accepted (`record_accepted_repushes`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AcceptedRepush {
    /// The version the report had when the operator's push was built.
    pub replaces_version: u32,
    pub direction: String,
    /// `StateChange::Repush` with the new version and values.
    pub repush: StateChange,
    pub attempt: PushAttempt,
    /// `StateChange::Sent`.
    pub sent: StateChange,
}

impl Outbox {
    /// Re-pushes an operator sent now and the customer accepted: per report, the new version
    /// and values, the billed direction they were built with, the attempt and the sent state,
    /// all in one transaction — and only if every report is still at the version the operator's
    /// push raised (the running agent did not change it meanwhile). False: nothing recorded.
    pub fn record_accepted_repushes(&mut self, accepted: &[AcceptedRepush]) -> Result<bool, OutboxError> {
        let tx = self.conn.transaction()?;
        for a in accepted {
            let StateChange::Repush { mac, flux_hour, .. } = &a.repush else { continue };
            let version: Option<u32> = tx
                .query_row(
                    "SELECT version FROM report WHERE mac = ?1 AND flux_hour = ?2",
                    params![mac, flux_hour],
                    |r| r.get(0),
                )
                .optional()?;
            if version != Some(a.replaces_version) {
                return Ok(false); // dropped: rolled back
            }
            apply_change(&tx, &a.repush)?;
            tx.execute(
                "UPDATE report SET direction = ?3 WHERE mac = ?1 AND flux_hour = ?2",
                params![mac, flux_hour, a.direction],
            )?;
            insert_attempt(&tx, &a.attempt)?;
            apply_change(&tx, &a.sent)?;
        }
        tx.commit()?;
        Ok(true)
    }

    /// The newest hour's name and start (unix ms), if the outbox holds any: the names tell the
    /// report time zone in force (`push::zone`).
    pub fn newest_hour(&self) -> Result<Option<(String, i64)>, OutboxError> {
        Ok(self
            .conn
            .query_row("SELECT flux_hour, hour_start FROM report ORDER BY hour_start DESC LIMIT 1", [], |r| {
                Ok((r.get(0)?, r.get::<_, i64>(1)? * 1000))
            })
            .optional()?)
    }

    /// Hours that may still go to the customer (pending, held, correction_failed) and sent hours whose check
    /// against the customer's copy is still scheduled.
    pub fn unsettled_hours(&self) -> Result<(u64, u64), OutboxError> {
        Ok(self.conn.query_row(
            // Each count through its index (the state, then the scheduled checks): the few
            // unsettled rows, never every hour of the history.
            "SELECT (SELECT COUNT(*) FROM report WHERE state IN ('pending', 'held', 'correction_failed')),
                    (SELECT COUNT(*) FROM report WHERE state = 'sent' AND verify_next_at IS NOT NULL)",
            [],
            |r| Ok((r.get::<_, i64>(0)? as u64, r.get::<_, i64>(1)? as u64)),
        )?)
    }
}
