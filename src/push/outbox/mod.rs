//! The outbox tables of the state database: reports (committed before their first send),
//! push attempts, verification results and the build cursor. All SQL of the push side.

use std::path::Path;

#[cfg(test)]
mod cost_tests;
mod operator;
mod retention;
pub use retention::PrunedHistory;

use rusqlite::{params, Connection, OptionalExtension, Row};

pub use operator::AcceptedRepush;

use super::report::{BuiltReport, Points, ReportState};
use crate::config::Billing;
use crate::statedb::{self, StateDbError};

mod mirror;

/// Reports waiting to be sent ([`Outbox::waiting_to_send`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WaitingToSend {
    /// Pending reports (one per MAC and hour), corrections among them.
    pub hours: u64,
    /// Of those, versions 2 and up (corrections and re-pushes).
    pub corrections: u64,
    /// The oldest one's `flux_hour`.
    pub oldest_hour: String,
}
pub use mirror::{clip_for_mirror, verification_state, MirrorRefusal, UnmirroredHistory, MIRROR_TEXT_CHARS};

#[derive(Debug, thiserror::Error)]
pub enum OutboxError {
    #[error("outbox database error: {0}")]
    Db(#[from] rusqlite::Error),
    #[error(transparent)]
    StateDb(#[from] StateDbError),
    #[error("outbox holds an unreadable row for {mac} {flux_hour}: {why}")]
    BadRow { mac: String, flux_hour: String, why: String },
}

/// A report as stored.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct OutboxReport {
    pub mac: String,
    pub flux_hour: String,
    pub hour_start_ms: i64,
    pub raw: Points,
    pub pushed: Points,
    pub offset_bp: i64,
    pub offset_source: String,
    /// Fixed bytes per point the report was built with, after the percentage.
    pub offset_fixed_bytes: i64,
    pub direction: String,
    pub slot_flags: u32,
    pub missing_slots: u32,
    pub version: u32,
    #[serde(serialize_with = "ser_state")]
    pub state: ReportState,
    pub reason: Option<String>,
    pub solo: bool,
    pub attempts: u32,
    pub next_attempt_at_ms: i64,
    pub last_error: Option<String>,
    pub updated_at_ms: i64,
    pub sent_at_ms: Option<i64>,
    pub verify_next_at_ms: Option<i64>,
    pub verify_until_ms: Option<i64>,
    pub verify_result: Option<String>,
    /// Version raises made because the customer's copy differed or conflicted.
    pub corrections: u32,
    /// Checks in a row that could not read the customer's copy.
    pub verify_failures: u32,
}

fn ser_state<S: serde::Serializer>(state: &ReportState, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(state.as_str())
}

/// One try to deliver a report, as recorded.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct PushAttempt {
    pub mac: String,
    pub flux_hour: String,
    pub version: u32,
    pub at_ms: i64,
    pub http_status: Option<u16>,
    pub code: Option<i64>,
    pub outcome: String,
    pub message: String,
    pub duration_ms: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Verification {
    pub mac: String,
    pub flux_hour: String,
    pub at_ms: i64,
    /// `match`, `corrected`, `missing`, `unverifiable`, `correction_failed`, `customer_extra`.
    pub result: String,
    pub detail: String,
    /// The version we pushed last (0 when we never pushed the hour: `customer_extra`).
    pub version: u32,
    /// The version of the customer's copy compared, when one was read.
    pub checked_version: Option<u32>,
    /// The customer's 12 points as read, when a record was read.
    pub customer_points: Option<Points>,
}

pub struct Outbox {
    conn: Connection,
}

const SELECT_REPORT: &str = "SELECT mac, flux_hour, hour_start, raw_points, pushed_points, offset_bp, offset_source, \
    direction, slot_flags, missing_slots, version, state, reason, solo, attempts, next_attempt_at, last_error, \
    updated_at, sent_at, verify_next_at, verify_until, verify_result, offset_fixed_bytes, corrections, verify_failures \
    FROM report";

pub(crate) fn points_from(text: &str) -> Result<Points, String> {
    serde_json::from_str::<Vec<u64>>(text)
        .map_err(|e| e.to_string())
        .and_then(|v| <Points>::try_from(v).map_err(|v| format!("{} points instead of 12", v.len())))
}

fn report_from_row(r: &Row<'_>) -> rusqlite::Result<Result<OutboxReport, OutboxError>> {
    let mac: String = r.get(0)?;
    let flux_hour: String = r.get(1)?;
    let bad = |why: String| OutboxError::BadRow { mac: mac.clone(), flux_hour: flux_hour.clone(), why };
    let raw = match points_from(&r.get::<_, String>(3)?) {
        Ok(p) => p,
        Err(e) => return Ok(Err(bad(e))),
    };
    let pushed = match points_from(&r.get::<_, String>(4)?) {
        Ok(p) => p,
        Err(e) => return Ok(Err(bad(e))),
    };
    let state_text: String = r.get(11)?;
    let Some(state) = ReportState::parse(&state_text) else {
        return Ok(Err(bad(format!("unknown state {state_text:?}"))));
    };
    Ok(Ok(OutboxReport {
        hour_start_ms: r.get::<_, i64>(2)? * 1000,
        raw,
        pushed,
        offset_bp: r.get(5)?,
        offset_source: r.get(6)?,
        direction: r.get(7)?,
        slot_flags: r.get(8)?,
        missing_slots: r.get(9)?,
        version: r.get(10)?,
        state,
        reason: r.get(12)?,
        solo: r.get(13)?,
        attempts: r.get(14)?,
        next_attempt_at_ms: r.get(15)?,
        last_error: r.get(16)?,
        updated_at_ms: r.get(17)?,
        sent_at_ms: r.get(18)?,
        verify_next_at_ms: r.get(19)?,
        verify_until_ms: r.get(20)?,
        verify_result: r.get(21)?,
        offset_fixed_bytes: r.get(22)?,
        corrections: r.get(23)?,
        verify_failures: r.get(24)?,
        mac,
        flux_hour,
    }))
}

fn points_json(p: &Points) -> String {
    serde_json::to_string(p).unwrap_or_else(|_| "[]".into())
}

impl Outbox {
    pub fn open(path: &Path) -> Result<Outbox, OutboxError> {
        let (conn, _) = statedb::open(path)?;
        Ok(Outbox { conn })
    }

    pub fn open_existing(path: &Path) -> Result<Outbox, OutboxError> {
        Ok(Outbox { conn: statedb::open_existing(path)? })
    }

    fn query_reports(
        &self,
        sql_tail: &str,
        args: impl rusqlite::Params,
    ) -> Result<Vec<OutboxReport>, OutboxError> {
        let mut stmt = self.conn.prepare_cached(&format!("{SELECT_REPORT} {sql_tail}"))?;
        let rows = stmt.query_map(args, report_from_row)?;
        let mut out = Vec::new();
        for row in rows {
            out.push(row??);
        }
        Ok(out)
    }

    /// Start (unix ms) of the next hour to build, if the cursor was ever set.
    pub fn cursor(&self) -> Result<Option<i64>, OutboxError> {
        let secs: Option<i64> = self
            .conn
            .query_row("SELECT next_hour FROM push_cursor WHERE id = 1", [], |r| r.get(0))
            .optional()?;
        Ok(secs.map(|s| s * 1000))
    }

    /// Commit an hour's reports and move the cursor past it, in one transaction: a crash
    /// either built the hour or did not.
    pub fn commit_hour(
        &mut self,
        reports: &[BuiltReport],
        next_hour_ms: i64,
        now_ms: i64,
    ) -> Result<(), OutboxError> {
        let tx = self.conn.transaction()?;
        for r in reports {
            tx.prepare_cached(
                "INSERT INTO report (mac, flux_hour, hour_start, raw_points, pushed_points, offset_bp, offset_source,
                    direction, slot_flags, missing_slots, version, state, reason, next_attempt_at, created_at, updated_at,
                    off_switches, off_slots, offset_fixed_bytes)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, 1, ?11, ?12, ?13, ?13, ?13, ?14, ?15, ?16)
                 ON CONFLICT (mac, flux_hour) DO NOTHING",
            )?
            .execute(params![
                r.mac,
                r.flux_hour,
                r.hour_start_ms.div_euclid(1000),
                points_json(&r.raw),
                points_json(&r.pushed),
                r.offset.basis_points,
                r.offset_source,
                r.direction.name(),
                r.slot_flags,
                r.missing_slots,
                r.state.as_str(),
                r.reason,
                now_ms,
                r.off_switches,
                r.off_slots,
                r.offset_fixed_bytes,
            ])?;
        }
        tx.execute(
            "INSERT INTO push_cursor (id, next_hour) VALUES (1, ?1)
             ON CONFLICT (id) DO UPDATE SET next_hour = excluded.next_hour",
            [next_hour_ms.div_euclid(1000)],
        )?;
        tx.commit()?;
        Ok(())
    }

    /// Pending reports due now, oldest hour first. A `solo` report at the head is sent alone.
    pub fn due_for_push(&self, now_ms: i64, batch_size: usize) -> Result<Vec<OutboxReport>, OutboxError> {
        let due = self.query_reports(
            "WHERE state = 'pending' AND next_attempt_at <= ?1 ORDER BY hour_start, mac LIMIT ?2",
            params![now_ms, batch_size as i64],
        )?;
        match due.iter().position(|r| r.solo) {
            Some(0) => Ok(due.into_iter().take(1).collect()),
            Some(i) => Ok(due.into_iter().take(i).collect()),
            None => Ok(due),
        }
    }

    pub fn earliest_pending_ms(&self) -> Result<Option<i64>, OutboxError> {
        Ok(self.conn.query_row(
            "SELECT MIN(next_attempt_at) FROM report WHERE state = 'pending'",
            [],
            |r| r.get(0),
        )?)
    }

    /// The reports waiting to be sent (pending: hours and corrections), or None when none
    /// waits: what a push switch that is off holds back (`health.push_held_by_switch`).
    pub fn waiting_to_send(&self) -> Result<Option<WaitingToSend>, OutboxError> {
        Ok(self
            .conn
            .query_row(
                "SELECT flux_hour, (SELECT COUNT(*) FROM report WHERE state = 'pending'),
                        (SELECT COUNT(*) FROM report WHERE state = 'pending' AND version > 1)
                 FROM report WHERE state = 'pending' ORDER BY hour_start, mac LIMIT 1",
                [],
                |r| {
                    Ok(WaitingToSend {
                        oldest_hour: r.get(0)?,
                        hours: r.get::<_, i64>(1)? as u64,
                        corrections: r.get::<_, i64>(2)? as u64,
                    })
                },
            )
            .optional()?)
    }

    pub fn earliest_verify_ms(&self) -> Result<Option<i64>, OutboxError> {
        Ok(self.conn.query_row(
            "SELECT MIN(verify_next_at) FROM report WHERE state = 'sent' AND verify_next_at IS NOT NULL",
            [],
            |r| r.get(0),
        )?)
    }

    pub fn get(&self, mac: &str, flux_hour: &str) -> Result<Option<OutboxReport>, OutboxError> {
        Ok(self
            .query_reports("WHERE mac = ?1 AND flux_hour = ?2", params![mac, flux_hour])?
            .into_iter()
            .next())
    }

    pub fn by_hour(&self, flux_hour: &str) -> Result<Vec<OutboxReport>, OutboxError> {
        self.query_reports("WHERE flux_hour = ?1 ORDER BY mac", params![flux_hour])
    }

    /// Reports of one day (hours `[from_ms, to_ms)`).
    pub fn between(&self, from_ms: i64, to_ms: i64) -> Result<Vec<OutboxReport>, OutboxError> {
        self.query_reports(
            "WHERE hour_start >= ?1 AND hour_start < ?2 ORDER BY hour_start, mac",
            params![from_ms.div_euclid(1000), to_ms.div_euclid(1000)],
        )
    }

    pub fn list(&self, state: Option<ReportState>, limit: usize) -> Result<Vec<OutboxReport>, OutboxError> {
        match state {
            Some(s) => self.query_reports(
                "WHERE state = ?1 ORDER BY hour_start DESC, mac LIMIT ?2",
                params![s.as_str(), limit as i64],
            ),
            None => self.query_reports("ORDER BY hour_start DESC, mac LIMIT ?1", params![limit as i64]),
        }
    }

    /// Sent reports whose next verification is due, oldest hour first.
    pub fn due_for_verify(&self, now_ms: i64, limit: usize) -> Result<Vec<OutboxReport>, OutboxError> {
        self.query_reports(
            "WHERE state = 'sent' AND verify_next_at IS NOT NULL AND verify_next_at <= ?1
             ORDER BY hour_start, mac LIMIT ?2",
            params![now_ms, limit as i64],
        )
    }

    pub fn counts(&self) -> Result<Vec<(String, u64)>, OutboxError> {
        let mut stmt =
            self.conn.prepare_cached("SELECT state, COUNT(*) FROM report GROUP BY state ORDER BY state")?;
        let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)? as u64)))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Record one exchange with the customer for every report of a batch and apply the
    /// state changes it implies, all in one transaction.
    pub fn record_attempts(
        &mut self,
        attempts: &[PushAttempt],
        changes: &[StateChange],
    ) -> Result<(), OutboxError> {
        let tx = self.conn.transaction()?;
        for a in attempts {
            insert_attempt(&tx, a)?;
        }
        for c in changes {
            apply_change(&tx, c)?;
        }
        tx.commit()?;
        Ok(())
    }

    pub fn record_verification(
        &mut self,
        v: &Verification,
        change: Option<&StateChange>,
    ) -> Result<(), OutboxError> {
        let tx = self.conn.transaction()?;
        tx.prepare_cached(
            "INSERT INTO verification (mac, flux_hour, at_ms, result, detail, version, checked_version,
                customer_points) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        )?
        .execute(params![
            v.mac,
            v.flux_hour,
            v.at_ms,
            v.result,
            v.detail,
            v.version,
            v.checked_version,
            v.customer_points.as_ref().map(points_json)
        ])?;
        tx.execute(
            "UPDATE report SET verify_result = ?3 WHERE mac = ?1 AND flux_hour = ?2",
            params![v.mac, v.flux_hour, v.result],
        )?;
        if let Some(c) = change {
            apply_change(&tx, c)?;
        }
        tx.commit()?;
        Ok(())
    }

    pub fn attempts_of(&self, mac: &str, flux_hour: &str) -> Result<Vec<PushAttempt>, OutboxError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT mac, flux_hour, version, at_ms, http_status, code, outcome, message, duration_ms
             FROM push_attempt WHERE mac = ?1 AND flux_hour = ?2 ORDER BY id",
        )?;
        let rows = stmt.query_map(params![mac, flux_hour], |r| {
            Ok(PushAttempt {
                mac: r.get(0)?,
                flux_hour: r.get(1)?,
                version: r.get(2)?,
                at_ms: r.get(3)?,
                http_status: r.get(4)?,
                code: r.get(5)?,
                outcome: r.get(6)?,
                message: r.get(7)?,
                duration_ms: r.get(8)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    pub fn verifications_since(&self, from_ms: i64) -> Result<Vec<Verification>, OutboxError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT mac, flux_hour, at_ms, result, detail, version, checked_version, customer_points
             FROM verification WHERE at_ms >= ?1 ORDER BY id",
        )?;
        let rows = stmt.query_map([from_ms], |r| {
            Ok(Verification {
                mac: r.get(0)?,
                flux_hour: r.get(1)?,
                at_ms: r.get(2)?,
                result: r.get(3)?,
                detail: r.get(4)?,
                version: r.get(5)?,
                checked_version: r.get(6)?,
                customer_points: r.get::<_, Option<String>>(7)?.and_then(|t| points_from(&t).ok()),
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// New raw and pushed points for a report, its state and version unchanged (a pending,
    /// held or skipped hour whose slots changed before it reached the customer).
    pub fn amend_values(&mut self, mac: &str, flux_hour: &str, v: &RepushValues) -> Result<(), OutboxError> {
        self.conn.execute(
            "UPDATE report SET raw_points = ?3, pushed_points = ?4, skip_mirrored = 0 WHERE mac = ?1 AND flux_hour = ?2",
            params![mac, flux_hour, points_json(&v.raw), points_json(&v.pushed)],
        )?;
        Ok(())
    }

    /// Slots of a report pushed as 0 because the push switch was off while they were measured
    /// (bit i = v_i).
    pub fn off_slots(&self, mac: &str, flux_hour: &str) -> Result<u16, OutboxError> {
        Ok(self
            .conn
            .query_row(
                "SELECT off_slots FROM report WHERE mac = ?1 AND flux_hour = ?2",
                params![mac, flux_hour],
                |r| r.get(0),
            )
            .optional()?
            .unwrap_or(0))
    }

    /// Apply one state change on its own (an operator re-push, a postponed check).
    pub fn schedule_repush(&mut self, change: &StateChange) -> Result<(), OutboxError> {
        let tx = self.conn.transaction()?;
        apply_change(&tx, change)?;
        tx.commit()?;
        Ok(())
    }

    /// Whether a `customer_extra` for this hour and customer version was recorded already.
    pub fn extra_recorded(
        &self,
        mac: &str,
        flux_hour: &str,
        their_version: u32,
    ) -> Result<bool, OutboxError> {
        Ok(self
            .conn
            .query_row(
                "SELECT 1 FROM verification WHERE mac = ?1 AND flux_hour = ?2 AND result = 'customer_extra'
                    AND checked_version = ?3 LIMIT 1",
                params![mac, flux_hour, their_version],
                |_| Ok(()),
            )
            .optional()?
            .is_some())
    }
}

/// New values for a re-push (raw, pushed, the offsets they were computed with).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepushValues {
    pub raw: Points,
    pub pushed: Points,
    pub offset_bp: i64,
    pub offset_source: String,
    pub offset_fixed_bytes: i64,
}

/// A change of one report's state, applied with the attempt or verification that caused it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StateChange {
    Sent {
        mac: String,
        flux_hour: String,
        at_ms: i64,
        verify_next_at_ms: Option<i64>,
        verify_until_ms: i64,
    },
    Retry {
        mac: String,
        flux_hour: String,
        next_attempt_at_ms: i64,
        error: String,
        now_ms: i64,
    },
    Held {
        mac: String,
        flux_hour: String,
        reason: String,
        now_ms: i64,
    },
    Solo {
        mac: String,
        flux_hour: String,
        now_ms: i64,
    },
    /// Push again under `version` (with new `pushed`/`raw` values when given), due at
    /// `due_at_ms`.
    Repush {
        mac: String,
        flux_hour: String,
        version: u32,
        values: Option<Box<RepushValues>>,
        reason: String,
        now_ms: i64,
        due_at_ms: i64,
        kind: RepushKind,
    },
    /// A verification read the customer's copy; check again at `next_ms` (or never).
    Verified {
        mac: String,
        flux_hour: String,
        next_ms: Option<i64>,
    },
    /// The customer's copy could not be read; try again at `next_ms` (backoff).
    VerifyLater {
        mac: String,
        flux_hour: String,
        next_ms: i64,
        error: String,
    },
    /// The verification window ended without the customer's copy ever being read.
    Unverifiable {
        mac: String,
        flux_hour: String,
        reason: String,
        now_ms: i64,
    },
    /// The customer kept other values after the most corrections allowed: held for an operator.
    CorrectionFailed {
        mac: String,
        flux_hour: String,
        reason: String,
        now_ms: i64,
    },
}

/// Why a report is pushed again: decides what happens to its correction count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RepushKind {
    /// The customer's copy differed or conflicted: counts against `max_corrections_per_hour`.
    Correction,
    /// The ring changed after the hour was built: our values changed, not counted.
    Rebuild,
    /// An operator asked (`pushagent push --hour`): the count starts again.
    Operator,
}

/// One attempt, with the points the report holds now (a later re-push may change the report).
fn insert_attempt(tx: &rusqlite::Transaction<'_>, a: &PushAttempt) -> Result<(), OutboxError> {
    let (raw, pushed, offset_bp, offset_fixed_bytes): (String, String, i64, i64) = tx
        .query_row(
            "SELECT raw_points, pushed_points, offset_bp, offset_fixed_bytes FROM report
             WHERE mac = ?1 AND flux_hour = ?2",
            params![a.mac, a.flux_hour],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
        )
        .optional()?
        .unwrap_or_else(|| ("[]".into(), "[]".into(), 0, 0));
    let total = |t: &str| points_from(t).map(|p| p.iter().sum::<u64>() as i64).unwrap_or(0);
    tx.prepare_cached(
        "INSERT INTO push_attempt (mac, flux_hour, version, at_ms, http_status, code, outcome, message,
            duration_ms, raw_total, pushed_total, raw_points, pushed_points, offset_bp, offset_fixed_bytes)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)",
    )?
    .execute(params![
        a.mac,
        a.flux_hour,
        a.version,
        a.at_ms,
        a.http_status,
        a.code,
        a.outcome,
        a.message,
        a.duration_ms,
        total(&raw),
        total(&pushed),
        raw,
        pushed,
        offset_bp,
        offset_fixed_bytes
    ])?;
    Ok(())
}

fn apply_change(tx: &rusqlite::Transaction<'_>, c: &StateChange) -> Result<(), OutboxError> {
    match c {
        StateChange::Sent { mac, flux_hour, at_ms, verify_next_at_ms, verify_until_ms } => {
            tx.execute(
                "UPDATE report SET state = 'sent', sent_at = ?3, updated_at = ?3, attempts = attempts + 1,
                    last_error = NULL, reason = NULL, solo = 0, verify_next_at = ?4, verify_until = ?5
                 WHERE mac = ?1 AND flux_hour = ?2",
                params![mac, flux_hour, at_ms, verify_next_at_ms, verify_until_ms],
            )?;
        }
        StateChange::Retry { mac, flux_hour, next_attempt_at_ms, error, now_ms } => {
            tx.execute(
                "UPDATE report SET attempts = attempts + 1, next_attempt_at = ?3, last_error = ?4, updated_at = ?5
                 WHERE mac = ?1 AND flux_hour = ?2",
                params![mac, flux_hour, next_attempt_at_ms, error, now_ms],
            )?;
        }
        StateChange::Held { mac, flux_hour, reason, now_ms } => {
            tx.execute(
                "UPDATE report SET state = 'held', reason = ?3, attempts = attempts + 1, last_error = ?3, updated_at = ?4,
                    held_mirrored = 0
                 WHERE mac = ?1 AND flux_hour = ?2",
                params![mac, flux_hour, reason, now_ms],
            )?;
        }
        StateChange::Solo { mac, flux_hour, now_ms } => {
            tx.execute(
                "UPDATE report SET solo = 1, next_attempt_at = ?3, updated_at = ?3 WHERE mac = ?1 AND flux_hour = ?2",
                params![mac, flux_hour, now_ms],
            )?;
        }
        StateChange::Repush { mac, flux_hour, version, values, reason, now_ms, due_at_ms, kind } => {
            if let Some(v) = values {
                tx.execute(
                    "UPDATE report SET raw_points = ?3, pushed_points = ?4, offset_bp = ?5, offset_source = ?6,
                        offset_fixed_bytes = ?7
                     WHERE mac = ?1 AND flux_hour = ?2",
                    params![
                        mac,
                        flux_hour,
                        points_json(&v.raw),
                        points_json(&v.pushed),
                        v.offset_bp,
                        v.offset_source,
                        v.offset_fixed_bytes
                    ],
                )?;
            }
            let corrections = match kind {
                RepushKind::Correction => "corrections + 1",
                RepushKind::Rebuild => "corrections",
                RepushKind::Operator => "0",
            };
            tx.execute(
                &format!(
                    "UPDATE report SET state = 'pending', version = ?3, next_attempt_at = ?6, updated_at = ?4,
                        reason = ?5, solo = 0, verify_next_at = NULL, verify_failures = 0, verify_result = NULL,
                        corrections = {corrections}
                     WHERE mac = ?1 AND flux_hour = ?2"
                ),
                params![mac, flux_hour, version, now_ms, reason, due_at_ms],
            )?;
        }
        StateChange::Verified { mac, flux_hour, next_ms } => {
            tx.execute(
                "UPDATE report SET verify_next_at = ?3, verify_failures = 0 WHERE mac = ?1 AND flux_hour = ?2",
                params![mac, flux_hour, next_ms],
            )?;
        }
        StateChange::VerifyLater { mac, flux_hour, next_ms, error } => {
            tx.execute(
                "UPDATE report SET verify_next_at = ?3, verify_failures = verify_failures + 1, last_error = ?4
                 WHERE mac = ?1 AND flux_hour = ?2",
                params![mac, flux_hour, next_ms, error],
            )?;
        }
        StateChange::Unverifiable { mac, flux_hour, reason, now_ms } => {
            tx.execute(
                "UPDATE report SET state = 'unverifiable', verify_next_at = NULL, reason = ?3, updated_at = ?4
                 WHERE mac = ?1 AND flux_hour = ?2",
                params![mac, flux_hour, reason, now_ms],
            )?;
        }
        StateChange::CorrectionFailed { mac, flux_hour, reason, now_ms } => {
            tx.execute(
                "UPDATE report SET state = 'correction_failed', verify_next_at = NULL, reason = ?3,
                    updated_at = ?4, held_mirrored = 0
                 WHERE mac = ?1 AND flux_hour = ?2",
                params![mac, flux_hour, reason, now_ms],
            )?;
        }
    }
    Ok(())
}
