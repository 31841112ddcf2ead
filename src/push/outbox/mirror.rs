//! What the config service gets from the outbox: history not yet mirrored (push attempts,
//! verifications, held and skipped hours), items it refused as invalid, the backlog and the
//! last push for the heartbeat. Texts are clipped before they leave.

use rusqlite::{params, OptionalExtension};

use pushagent_proto::agent;

use super::{points_from, Outbox, OutboxError};

/// History not yet mirrored to the config service, with the row ids to mark afterwards.
#[derive(Debug, Default)]
pub struct UnmirroredHistory {
    pub batch: agent::HistoryBatch,
    pub push_ids: Vec<i64>,
    pub verification_ids: Vec<i64>,
    pub held_keys: Vec<(String, String)>,
    pub skipped_keys: Vec<(String, String)>,
}

impl UnmirroredHistory {
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn len(&self) -> usize {
        self.push_ids.len() + self.verification_ids.len() + self.held_keys.len() + self.skipped_keys.len()
    }

    /// Every item as a batch of its own (to find the one the service refuses).
    pub fn singles(&self) -> Vec<UnmirroredHistory> {
        let mut out = Vec::with_capacity(self.len());
        for (id, item) in self.push_ids.iter().zip(&self.batch.pushes) {
            let mut one = UnmirroredHistory { push_ids: vec![*id], ..Default::default() };
            one.batch.pushes.push(item.clone());
            out.push(one);
        }
        for (id, item) in self.verification_ids.iter().zip(&self.batch.verifications) {
            let mut one = UnmirroredHistory { verification_ids: vec![*id], ..Default::default() };
            one.batch.verifications.push(item.clone());
            out.push(one);
        }
        for (key, item) in self.held_keys.iter().zip(&self.batch.held) {
            let mut one = UnmirroredHistory { held_keys: vec![key.clone()], ..Default::default() };
            one.batch.held.push(item.clone());
            out.push(one);
        }
        for (key, item) in self.skipped_keys.iter().zip(&self.batch.skipped) {
            let mut one = UnmirroredHistory { skipped_keys: vec![key.clone()], ..Default::default() };
            one.batch.skipped.push(item.clone());
            out.push(one);
        }
        out
    }

    /// (kind, mac, flux_hour) of every item.
    fn keys(&self) -> Vec<(&'static str, &str, &str)> {
        let b = &self.batch;
        let mut out: Vec<(&'static str, &str, &str)> = Vec::new();
        out.extend(b.pushes.iter().map(|i| ("push", i.mac.as_str(), i.flux_hour.as_str())));
        out.extend(b.verifications.iter().map(|i| ("verification", i.mac.as_str(), i.flux_hour.as_str())));
        out.extend(b.held.iter().map(|i| ("held", i.mac.as_str(), i.flux_hour.as_str())));
        out.extend(b.skipped.iter().map(|i| ("skipped", i.mac.as_str(), i.flux_hour.as_str())));
        out
    }
}

/// A history item the config service refused as invalid, as recorded.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct MirrorRefusal {
    pub id: i64,
    pub kind: String,
    pub mac: String,
    pub flux_hour: String,
    pub at_ms: i64,
    pub status: u16,
    pub message: String,
}

impl Outbox {
    /// Up to `limit` history items the config service has not acknowledged yet, oldest first.
    pub fn unmirrored_history(&self, limit: usize) -> Result<UnmirroredHistory, OutboxError> {
        let mut out = UnmirroredHistory::default();
        let mut stmt = self.conn.prepare_cached(
            "SELECT id, mac, flux_hour, version, at_ms, http_status, code, outcome, message, raw_points,
                    pushed_points, offset_bp, offset_fixed_bytes,
                    (SELECT COUNT(*) FROM push_attempt p2 WHERE p2.mac = p.mac AND p2.flux_hour = p.flux_hour
                        AND p2.version = p.version AND p2.id <= p.id),
                    (SELECT off_slots FROM report r WHERE r.mac = p.mac AND r.flux_hour = p.flux_hour)
             FROM push_attempt p WHERE mirrored = 0 ORDER BY id LIMIT ?1",
        )?;
        let rows = stmt.query_map([limit as i64], |r| {
            let raw: String = r.get(9)?;
            let pushed: String = r.get(10)?;
            Ok((
                r.get::<_, i64>(0)?,
                agent::HistoryItem {
                    mac: r.get(1)?,
                    flux_hour: r.get(2)?,
                    version: r.get(3)?,
                    attempt: r.get(13)?,
                    raw_points: points_from(&raw).unwrap_or_default(),
                    pushed_points: points_from(&pushed).unwrap_or_default(),
                    raw_bytes: points_from(&raw).map(|p| p.iter().sum()).unwrap_or(0),
                    pushed_bytes: points_from(&pushed).map(|p| p.iter().sum()).unwrap_or(0),
                    offset_bp: r.get::<_, i64>(11)? as i32,
                    offset_fixed_bytes: r.get(12)?,
                    off_slots: r.get::<_, Option<u16>>(14)?.unwrap_or(0),
                    status: if r.get::<_, String>(7)? == "accepted" {
                        agent::PushStatus::Success
                    } else {
                        agent::PushStatus::Failure
                    },
                    http_status: r.get(5)?,
                    code: r.get(6)?,
                    message: Some(clip_for_mirror(&r.get::<_, String>(8)?)),
                    attempted_at: r.get::<_, i64>(4)?.div_euclid(1000),
                },
            ))
        })?;
        for row in rows {
            let (id, item) = row?;
            out.push_ids.push(id);
            out.batch.pushes.push(item);
        }
        let left = limit.saturating_sub(out.push_ids.len());
        let mut stmt = self.conn.prepare_cached(
            "SELECT id, mac, flux_hour, version, at_ms, result, detail, checked_version, customer_points
             FROM verification WHERE mirrored = 0 ORDER BY id LIMIT ?1",
        )?;
        let rows = stmt.query_map([left as i64], |r| {
            let result: String = r.get(5)?;
            let customer_points: Option<String> = r.get(8)?;
            Ok((
                r.get::<_, i64>(0)?,
                agent::VerificationItem {
                    mac: r.get(1)?,
                    flux_hour: r.get(2)?,
                    version: r.get(3)?,
                    matched: result == "match",
                    corrected: result == "corrected" || result == "missing",
                    verified_at: r.get::<_, i64>(4)?.div_euclid(1000),
                    message: Some(clip_for_mirror(&format!("{result}: {}", r.get::<_, String>(6)?))),
                    state: Some(verification_state(&result).into()),
                    checked_version: r.get(7)?,
                    customer_points: customer_points.and_then(|t| points_from(&t).ok()),
                },
            ))
        })?;
        for row in rows {
            let (id, item) = row?;
            out.verification_ids.push(id);
            out.batch.verifications.push(item);
        }
        let left = limit.saturating_sub(out.push_ids.len() + out.verification_ids.len());
        let mut stmt = self.conn.prepare_cached(
            "SELECT mac, flux_hour, COALESCE(reason, ''), updated_at FROM report
             WHERE state IN ('held', 'correction_failed') AND held_mirrored = 0 ORDER BY hour_start LIMIT ?1",
        )?;
        let rows = stmt.query_map([left as i64], |r| {
            Ok(agent::HeldItem {
                mac: r.get(0)?,
                flux_hour: r.get(1)?,
                reason: clip_for_mirror(&r.get::<_, String>(2)?),
                held_at: r.get::<_, i64>(3)?.div_euclid(1000),
            })
        })?;
        for row in rows {
            let item = row?;
            out.held_keys.push((item.mac.clone(), item.flux_hour.clone()));
            out.batch.held.push(item);
        }
        // Hours not reported because a push switch was off: evidence too (raw bytes measured).
        let left = limit.saturating_sub(out.len());
        let mut stmt = self.conn.prepare_cached(
            "SELECT mac, flux_hour, raw_points, off_switches, created_at FROM report
             WHERE state = 'skipped_off' AND skip_mirrored = 0 ORDER BY hour_start, mac LIMIT ?1",
        )?;
        let rows = stmt.query_map([left as i64], |r| {
            let raw: String = r.get(2)?;
            let switches: String = r.get(3)?;
            Ok((
                raw,
                agent::SkippedItem {
                    mac: r.get(0)?,
                    flux_hour: r.get(1)?,
                    reason: agent::SKIPPED_SWITCHED_OFF.into(),
                    switches: switches.split(',').filter(|s| !s.is_empty()).map(str::to_owned).collect(),
                    raw_bytes: 0,
                    decided_at: r.get::<_, i64>(4)?.div_euclid(1000),
                },
            ))
        })?;
        for row in rows {
            let (raw, mut item) = row?;
            match points_from(&raw) {
                Ok(points) => item.raw_bytes = points.iter().sum(),
                Err(why) => {
                    // Never a made-up total: the row stays queued (and visible in `outbox`).
                    log::error!(
                        "skipped hour {} of {} not mirrored: raw points unreadable: {why}",
                        item.flux_hour,
                        item.mac
                    );
                    continue;
                }
            }
            out.skipped_keys.push((item.mac.clone(), item.flux_hour.clone()));
            out.batch.skipped.push(item);
        }
        Ok(out)
    }

    /// The service stored these: never send them again. With `skipped_too` false (a service
    /// older than skipped hours ignored them) the skipped hours stay queued.
    pub fn mark_mirrored(&mut self, sent: &UnmirroredHistory, skipped_too: bool) -> Result<(), OutboxError> {
        let tx = self.conn.transaction()?;
        for id in &sent.push_ids {
            tx.prepare_cached("UPDATE push_attempt SET mirrored = 1 WHERE id = ?1")?.execute([id])?;
        }
        for id in &sent.verification_ids {
            tx.prepare_cached("UPDATE verification SET mirrored = 1 WHERE id = ?1")?.execute([id])?;
        }
        for (mac, flux_hour) in &sent.held_keys {
            tx.prepare_cached("UPDATE report SET held_mirrored = 1 WHERE mac = ?1 AND flux_hour = ?2")?
                .execute(params![mac, flux_hour])?;
        }
        if skipped_too {
            for (mac, flux_hour) in &sent.skipped_keys {
                tx.prepare_cached("UPDATE report SET skip_mirrored = 1 WHERE mac = ?1 AND flux_hour = ?2")?
                    .execute(params![mac, flux_hour])?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// The service refused these items (sent alone) as invalid: record why and never send them
    /// again, so they do not block the items after them.
    pub fn record_mirror_refused(
        &mut self,
        refused: &UnmirroredHistory,
        status: u16,
        message: &str,
        now_ms: i64,
    ) -> Result<(), OutboxError> {
        {
            let tx = self.conn.transaction()?;
            for (kind, mac, flux_hour) in refused.keys() {
                tx.prepare_cached(
                    "INSERT INTO mirror_refused (kind, mac, flux_hour, at_ms, status, message)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                )?
                .execute(params![
                    kind,
                    mac,
                    flux_hour,
                    now_ms,
                    status,
                    clip_for_mirror(message)
                ])?;
            }
            tx.commit()?;
        }
        self.mark_mirrored(refused, true)
    }

    pub fn mirror_refusals(&self) -> Result<Vec<MirrorRefusal>, OutboxError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT id, kind, mac, flux_hour, at_ms, status, message FROM mirror_refused ORDER BY id",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok(MirrorRefusal {
                id: r.get(0)?,
                kind: r.get(1)?,
                mac: r.get(2)?,
                flux_hour: r.get(3)?,
                at_ms: r.get(4)?,
                status: r.get(5)?,
                message: r.get(6)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// The refused history items the agent holds, for the heartbeat (health
    /// `history_refused`): how many, since when, the latest one (its message clipped to
    /// `MAX_HEALTH_TEXT`). None when there is none.
    pub fn history_refused(&self) -> Result<Option<agent::HistoryRefused>, OutboxError> {
        let latest = self
            .conn
            .query_row(
                "SELECT kind, mac, flux_hour, status, message, at_ms,
                        (SELECT COUNT(*) FROM mirror_refused), (SELECT MIN(at_ms) FROM mirror_refused)
                 FROM mirror_refused ORDER BY id DESC LIMIT 1",
                [],
                |r| {
                    let clip = |text: String, max: usize| -> String {
                        text.chars().take(max).map(|c| if c == '\0' { ' ' } else { c }).collect()
                    };
                    Ok(agent::HistoryRefused {
                        count: r.get::<_, i64>(6)? as u64,
                        since: r.get::<_, i64>(7)?.div_euclid(1000),
                        latest: agent::RefusedHistoryItem {
                            kind: clip(r.get(0)?, agent::MAX_HEALTH_NAME),
                            mac: clip(r.get(1)?, agent::MAX_HEALTH_NAME),
                            flux_hour: clip(r.get(2)?, agent::MAX_HEALTH_NAME),
                            status: r.get(3)?,
                            message: clip(r.get(4)?, agent::MAX_HEALTH_TEXT),
                            at: r.get::<_, i64>(5)?.div_euclid(1000),
                        },
                    })
                },
            )
            .optional()?;
        Ok(latest)
    }

    /// An operator read the refused items up to `through_id` (`pushagent outbox
    /// --forget-refused`): they go, and with them the heartbeat's `history_refused`. Items
    /// refused after the listing (higher ids) stay. Returns how many went.
    pub fn forget_mirror_refusals(&mut self, through_id: i64) -> Result<usize, OutboxError> {
        Ok(self.conn.execute("DELETE FROM mirror_refused WHERE id <= ?1", [through_id])?)
    }

    /// What the agent still holds locally (for the heartbeat).
    pub fn backlog(&self) -> Result<agent::Backlog, OutboxError> {
        let count = |sql: &str| -> Result<u64, OutboxError> {
            Ok(self.conn.query_row(sql, [], |r| r.get::<_, i64>(0))? as u64)
        };
        Ok(agent::Backlog {
            outbox_hours: count("SELECT COUNT(*) FROM report WHERE state = 'pending'")?,
            history_items: count("SELECT COUNT(*) FROM push_attempt WHERE mirrored = 0")?
                + count("SELECT COUNT(*) FROM verification WHERE mirrored = 0")?
                + count("SELECT COUNT(*) FROM report WHERE state = 'skipped_off' AND skip_mirrored = 0")?,
            held_hours: count("SELECT COUNT(*) FROM report WHERE state IN ('held', 'correction_failed')")?,
        })
    }

    /// The last attempt to push to the customer.
    pub fn last_push(&self) -> Result<Option<agent::LastPush>, OutboxError> {
        Ok(self
            .conn
            .query_row(
                "SELECT flux_hour, outcome, at_ms, message FROM push_attempt ORDER BY id DESC LIMIT 1",
                [],
                |r| {
                    let outcome: String = r.get(1)?;
                    Ok(agent::LastPush {
                        flux_hour: r.get(0)?,
                        status: if outcome == "accepted" {
                            agent::PushStatus::Success
                        } else {
                            agent::PushStatus::Failure
                        },
                        attempted_at: r.get::<_, i64>(2)?.div_euclid(1000),
                        message: Some(clip_for_mirror(&r.get::<_, String>(3)?)),
                    })
                },
            )
            .optional()?)
    }
}

/// Texts that reach the service (the customer's messages among them) are clipped to this many
/// characters, on a character boundary: a customer's essay never makes the service refuse
/// the item.
pub const MIRROR_TEXT_CHARS: usize = 500;

/// `text` cut to [`MIRROR_TEXT_CHARS`] characters (never inside a UTF-8 sequence), NULs
/// replaced.
pub fn clip_for_mirror(text: &str) -> String {
    let clean = |c: char| if c == '\0' { ' ' } else { c };
    if text.chars().count() <= MIRROR_TEXT_CHARS {
        return text.chars().map(clean).collect();
    }
    let mut out: String = text.chars().take(MIRROR_TEXT_CHARS - 1).map(clean).collect();
    out.push('…');
    out
}

/// The wire outcome (`agent::VERIFY_*`) of a stored verification result.
pub fn verification_state(result: &str) -> &'static str {
    match result {
        "match" => agent::VERIFY_MATCHED,
        "corrected" | "missing" => agent::VERIFY_MISMATCH_CORRECTED,
        "correction_failed" => agent::VERIFY_CORRECTION_FAILED,
        "customer_extra" => agent::VERIFY_CUSTOMER_EXTRA,
        _ => agent::VERIFY_UNVERIFIABLE,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mirrored_texts_are_clipped_on_a_character_boundary() {
        let long = "数".repeat(MIRROR_TEXT_CHARS + 10);
        let clipped = clip_for_mirror(&long);
        assert_eq!(clipped.chars().count(), MIRROR_TEXT_CHARS);
        assert!(clipped.ends_with('…'));
        assert_eq!(clip_for_mirror("a\0b"), "a b");
        assert_eq!(clip_for_mirror("short"), "short");
    }
}
