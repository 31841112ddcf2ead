//! Push history, verifications, held and skipped hours, and the traffic figures read from them.

use super::*;

#[derive(Debug, Clone, Default)]
pub struct HistoryFilter {
    pub machine_id: Option<i64>,
    pub mac: Option<String>,
    /// Part of the machine's host name.
    pub host: Option<String>,
    pub node: Option<String>,
    pub status: Option<String>,
    pub from_hour: Option<String>,
    pub to_hour: Option<String>,
    /// Only the latest attempt (highest version, then attempt) of each (mac, flux_hour).
    pub latest_only: bool,
    pub descending: bool,
    pub sort: HistorySort,
    pub limit: u32,
    pub offset: u64,
}

#[derive(Debug, Clone, Copy, Default)]
pub enum HistorySort {
    #[default]
    AttemptedAt,
    FluxHour,
    PushedBytes,
}

#[derive(Debug, Clone, Serialize)]
pub struct HistoryRow {
    pub id: i64,
    pub machine_id: i64,
    pub node: Option<String>,
    pub hostname: String,
    pub mac: String,
    pub flux_hour: String,
    pub version: i64,
    pub attempt: i64,
    pub raw_bytes: i64,
    pub pushed_bytes: i64,
    pub raw_points: Vec<u64>,
    pub pushed_points: Vec<u64>,
    pub offset_bp: i64,
    /// Fixed bytes per point the report was built with (0 from agents older than the field).
    pub offset_fixed_bytes: i64,
    /// Points pushed as 0 because a push switch was off while they were measured (bit i =
    /// point i); 0 from agents older than the field.
    pub off_slots: i64,
    pub status: String,
    pub http_status: Option<i64>,
    pub code: Option<i64>,
    pub message: Option<String>,
    pub attempted_at: i64,
    pub received_at: i64,
    /// How many attempts of this (mac, flux_hour), all versions.
    pub hour_attempts: i64,
}

#[derive(Debug, Clone, Serialize)]
pub struct VerificationRow {
    pub id: i64,
    pub machine_id: i64,
    pub mac: String,
    pub flux_hour: String,
    pub version: i64,
    pub matched: bool,
    pub corrected: bool,
    pub verified_at: i64,
    pub message: Option<String>,
}

/// Push attempts and held hours since a time.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct PushOutcomes {
    pub success: i64,
    pub failure: i64,
    /// Hours held for an operator (impossible points), by when they were held.
    pub held: i64,
    /// Hours the agents did not report because a push switch was off (not failures), by
    /// when the agent built them.
    pub skipped: i64,
}

/// One report hour of the whole fleet: the latest successful attempt of each (MAC, hour).
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct FleetHour {
    pub flux_hour: String,
    pub pushed_bytes: i64,
    pub raw_bytes: i64,
    /// MACs with a successful push of this hour.
    pub macs: i64,
}

/// One report hour of one machine.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct MachineHour {
    pub flux_hour: String,
    /// Of the latest successful attempt of each of its MACs in this hour (0 when none).
    pub pushed_bytes: i64,
    pub raw_bytes: i64,
    /// "success" when the latest attempt of every MAC of the hour succeeded, "failure" when
    /// one failed; `None`: no attempt.
    pub status: Option<String>,
    /// Attempts of this hour, all versions.
    pub attempts: i64,
}

/// An hour an agent did not report because a push switch was off.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct SkippedHourRow {
    pub id: i64,
    pub mac: String,
    pub flux_hour: String,
    pub reason: String,
    /// The switches that were off ("machine", "global", "local"); empty = the agent did not say.
    pub switches: Vec<String>,
    pub raw_bytes: i64,
    pub decided_at: i64,
    pub received_at: i64,
}

impl Store {
    /// Store a batch of push results, verifications, held and skipped hours in one
    /// transaction; an item already stored (same identity) is skipped, and when it differs
    /// from the stored one (other values, or another machine) it is kept as a conflict for the
    /// checks to alert. Returns (inserted, duplicates), all kinds together.
    pub fn insert_history(
        &mut self,
        machine_id: i64,
        batch: &HistoryBatch,
        now: i64,
    ) -> Result<(u64, u64), StoreError> {
        let tx = self.write_tx()?;
        let (mut inserted, mut duplicates) = (0u64, 0u64);
        {
            let mut push = tx.prepare(
                "INSERT INTO push_history (machine_id, mac, flux_hour, version, attempt, raw_bytes, pushed_bytes,
                     raw_points, pushed_points, offset_bp, status, http_status, code, message, attempted_at, received_at,
                     offset_fixed_bytes, off_slots)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18)
                 ON CONFLICT (mac, flux_hour, version, attempt) DO NOTHING",
            )?;
            for p in &batch.pushes {
                let n = push.execute(params![
                    machine_id,
                    p.mac,
                    p.flux_hour,
                    p.version,
                    p.attempt,
                    clamp(p.raw_bytes),
                    clamp(p.pushed_bytes),
                    to_json(&p.raw_points)?,
                    to_json(&p.pushed_points)?,
                    p.offset_bp,
                    p.status.as_str(),
                    p.http_status,
                    p.code,
                    p.message,
                    p.attempted_at,
                    now,
                    p.offset_fixed_bytes,
                    p.off_slots,
                ])?;
                count(n, &mut inserted, &mut duplicates);
                if n == 0 {
                    let stored: PushValues =
                        tx.query_row(
                            "SELECT machine_id, raw_bytes, pushed_bytes, raw_points, pushed_points, offset_bp, status,
                                 http_status, code, message, attempted_at, offset_fixed_bytes
                             FROM push_history WHERE mac = ?1 AND flux_hour = ?2 AND version = ?3 AND attempt = ?4",
                            params![p.mac, p.flux_hour, p.version, p.attempt],
                            |r| {
                                Ok((
                                    r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?, r.get(6)?,
                                    r.get(7)?, r.get(8)?, r.get(9)?, r.get(10)?, r.get(11)?,
                                ))
                            },
                        )?;
                    let sent = (
                        machine_id,
                        clamp(p.raw_bytes),
                        clamp(p.pushed_bytes),
                        to_json(&p.raw_points)?,
                        to_json(&p.pushed_points)?,
                        i64::from(p.offset_bp),
                        p.status.as_str().to_owned(),
                        p.http_status.map(i64::from),
                        p.code,
                        p.message.clone(),
                        p.attempted_at,
                        p.offset_fixed_bytes,
                    );
                    if stored != sent {
                        conflict(&tx, "push", machine_id, &p.mac, &p.flux_hour, stored.0, &to_json(p)?, now)?;
                    }
                }
            }
            let mut verification = tx.prepare(
                "INSERT INTO verifications (machine_id, mac, flux_hour, version, matched, corrected, verified_at, message,
                     state, checked_version, customer_points)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)
                 ON CONFLICT (mac, flux_hour, version, verified_at) DO NOTHING",
            )?;
            for v in &batch.verifications {
                let n = verification.execute(params![
                    machine_id,
                    v.mac,
                    v.flux_hour,
                    v.version,
                    v.matched,
                    v.corrected,
                    v.verified_at,
                    v.message,
                    v.state,
                    v.checked_version,
                    v.customer_points.as_ref().map(to_json).transpose()?
                ])?;
                count(n, &mut inserted, &mut duplicates);
                if n == 0 {
                    let stored: (i64, bool, bool, Option<String>) = tx.query_row(
                        "SELECT machine_id, matched, corrected, message FROM verifications
                         WHERE mac = ?1 AND flux_hour = ?2 AND version = ?3 AND verified_at = ?4",
                        params![v.mac, v.flux_hour, v.version, v.verified_at],
                        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
                    )?;
                    if stored != (machine_id, v.matched, v.corrected, v.message.clone()) {
                        conflict(
                            &tx,
                            "verification",
                            machine_id,
                            &v.mac,
                            &v.flux_hour,
                            stored.0,
                            &to_json(v)?,
                            now,
                        )?;
                    }
                }
            }
            let mut held = tx.prepare(
                "INSERT INTO held_hours (machine_id, mac, flux_hour, reason, held_at) VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT (mac, flux_hour) DO NOTHING",
            )?;
            for h in &batch.held {
                let n = held.execute(params![machine_id, h.mac, h.flux_hour, h.reason, h.held_at])?;
                count(n, &mut inserted, &mut duplicates);
                if n == 0 {
                    let stored: i64 = tx.query_row(
                        "SELECT machine_id FROM held_hours WHERE mac = ?1 AND flux_hour = ?2",
                        params![h.mac, h.flux_hour],
                        |r| r.get(0),
                    )?;
                    if stored != machine_id {
                        conflict(&tx, "held", machine_id, &h.mac, &h.flux_hour, stored, &to_json(h)?, now)?;
                    }
                }
            }
            let mut skipped = tx.prepare(
                "INSERT INTO skipped_hours (machine_id, mac, flux_hour, reason, switches, raw_bytes, decided_at, received_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
                 ON CONFLICT (mac, flux_hour) DO NOTHING",
            )?;
            for k in &batch.skipped {
                let n = skipped.execute(params![
                    machine_id,
                    k.mac,
                    k.flux_hour,
                    k.reason,
                    k.switches.join(","),
                    clamp(k.raw_bytes),
                    k.decided_at,
                    now
                ])?;
                count(n, &mut inserted, &mut duplicates);
                if n == 0 {
                    let stored: (i64, i64) = tx.query_row(
                        "SELECT machine_id, raw_bytes FROM skipped_hours WHERE mac = ?1 AND flux_hour = ?2",
                        params![k.mac, k.flux_hour],
                        |r| Ok((r.get(0)?, r.get(1)?)),
                    )?;
                    if stored != (machine_id, clamp(k.raw_bytes)) {
                        conflict(
                            &tx,
                            "skipped",
                            machine_id,
                            &k.mac,
                            &k.flux_hour,
                            stored.0,
                            &to_json(k)?,
                            now,
                        )?;
                    }
                }
            }
        }
        settlement::apply_batch(&tx, machine_id, batch)?;
        tx.commit()?;
        Ok((inserted, duplicates))
    }

    /// How many history items were kept as conflicts (all time).
    pub fn history_conflict_count(&self) -> Result<i64, StoreError> {
        Ok(self.conn.query_row("SELECT COUNT(*) FROM history_conflicts", [], |r| r.get(0))?)
    }

    pub fn list_history(&self, f: &HistoryFilter) -> Result<(u64, Vec<HistoryRow>), StoreError> {
        // The rows to page over: every attempt (`push_history`), or the latest attempt of each
        // (mac, hour) (`history_latest`, kept by a trigger). Both have the filtered and sorted
        // columns, and `id` is the push_history row.
        let base = if f.latest_only { "history_latest" } else { "push_history" };
        let mut clauses = Vec::new();
        let mut args: Vec<rusqlite::types::Value> = Vec::new();
        let mut add = |clause: &str, value: rusqlite::types::Value| {
            args.push(value);
            clauses.push(clause.replace('?', &format!("?{}", args.len())));
        };
        if let Some(id) = f.machine_id {
            add("h.machine_id = ?", id.into());
        }
        if let Some(mac) = &f.mac {
            add("h.mac = ?", mac.clone().into());
        }
        if let Some(node) = &f.node {
            add(
                "h.machine_id IN (SELECT machine_id FROM machine_config WHERE node = ?)",
                node.clone().into(),
            );
        }
        if let Some(host) = &f.host {
            add(
                "h.machine_id IN (SELECT id FROM machines WHERE hostname LIKE ? ESCAPE '\\')",
                format!("%{}%", escape_like(host)).into(),
            );
        }
        if let Some(status) = &f.status {
            add("h.status = ?", status.clone().into());
        }
        if let Some(hour) = &f.from_hour {
            add("h.flux_hour >= ?", hour.clone().into());
        }
        if let Some(hour) = &f.to_hour {
            add("h.flux_hour <= ?", hour.clone().into());
        }
        let filter =
            if clauses.is_empty() { String::new() } else { format!("WHERE {}", clauses.join(" AND ")) };
        let per_machine = f.machine_id.is_some() || f.mac.is_some() || f.node.is_some() || f.host.is_some();
        let hour_range = f.from_hour.is_some() || f.to_hour.is_some();
        // Totals: filters on status and hours only are summed from the per-hour counts kept by
        // triggers (a few rows per hour in range); per-machine filters count that machine's rows.
        let total: i64 = if per_machine {
            self.conn.query_row(
                &format!("SELECT COUNT(*) FROM {base} h {filter}"),
                params_from_iter(args.iter()),
                |r| r.get(0),
            )?
        } else {
            self.conn.query_row(
                &format!(
                    "SELECT COALESCE(SUM(n), 0) FROM history_hour_counts h {} latest = {}",
                    if filter.is_empty() { "WHERE".to_owned() } else { format!("{filter} AND") },
                    i32::from(f.latest_only)
                ),
                params_from_iter(args.iter()),
                |r| r.get(0),
            )?
        };
        // Without a machine filter, an hour range is read from the (flux_hour, status,
        // attempted_at) index alone; left to itself the planner may walk the time index
        // backwards through millions of rows outside the range.
        let index = match (per_machine, hour_range) {
            (false, true) if f.latest_only => "INDEXED BY history_latest_hour",
            (false, true) => "INDEXED BY push_history_hour",
            _ => "",
        };
        let column = match f.sort {
            HistorySort::AttemptedAt => "attempted_at",
            HistorySort::FluxHour => "flux_hour",
            HistorySort::PushedBytes => "pushed_bytes",
        };
        let direction = if f.descending { "DESC" } else { "ASC" };
        // The page's ids first (from the indexes), then its rows with their machine.
        let sql = format!(
            "WITH page AS (SELECT h.id, h.{column} AS k FROM {base} h {index} {filter}
                           ORDER BY h.{column} {direction}, h.id {direction} LIMIT {} OFFSET {})
             SELECT h.id, h.machine_id, c.node, m.hostname, h.mac, h.flux_hour, h.version, h.attempt, h.raw_bytes,
                 h.pushed_bytes, h.raw_points, h.pushed_points, h.offset_bp, h.status, h.http_status, h.code, h.message,
                 h.attempted_at, h.received_at,
                 (SELECT COUNT(*) FROM push_history a WHERE a.mac = h.mac AND a.flux_hour = h.flux_hour),
                 h.offset_fixed_bytes, h.off_slots
             FROM page JOIN push_history h ON h.id = page.id JOIN machines m ON m.id = h.machine_id
                 JOIN machine_config c ON c.machine_id = m.id
             ORDER BY page.k {direction}, page.id {direction}",
            f.limit, f.offset
        );
        let mut stmt = self.conn.prepare(&sql)?;
        let rows = stmt
            .query_map(params_from_iter(args.iter()), |r| {
                Ok(HistoryRow {
                    id: r.get(0)?,
                    machine_id: r.get(1)?,
                    node: r.get(2)?,
                    hostname: r.get(3)?,
                    mac: r.get(4)?,
                    flux_hour: r.get(5)?,
                    version: r.get(6)?,
                    attempt: r.get(7)?,
                    raw_bytes: r.get(8)?,
                    pushed_bytes: r.get(9)?,
                    raw_points: serde_json::from_str(&r.get::<_, String>(10)?).unwrap_or_default(),
                    pushed_points: serde_json::from_str(&r.get::<_, String>(11)?).unwrap_or_default(),
                    offset_bp: r.get(12)?,
                    status: r.get(13)?,
                    http_status: r.get(14)?,
                    code: r.get(15)?,
                    message: r.get(16)?,
                    attempted_at: r.get(17)?,
                    received_at: r.get(18)?,
                    hour_attempts: r.get(19)?,
                    offset_fixed_bytes: r.get(20)?,
                    off_slots: r.get(21)?,
                })
            })?
            .collect::<Result<Vec<_>, _>>()?;
        Ok((total as u64, rows))
    }

    /// Verification results, newest first; of one machine when `machine_id` is given.
    pub fn list_verifications(
        &self,
        machine_id: Option<i64>,
        limit: u32,
        offset: u64,
    ) -> Result<(u64, Vec<VerificationRow>), StoreError> {
        self.page(
            "verifications",
            machine_id,
            "id, machine_id, mac, flux_hour, version, matched, corrected, verified_at, message",
            "verified_at DESC, id DESC",
            limit,
            offset,
            |r| {
                Ok(VerificationRow {
                    id: r.get(0)?,
                    machine_id: r.get(1)?,
                    mac: r.get(2)?,
                    flux_hour: r.get(3)?,
                    version: r.get(4)?,
                    matched: r.get(5)?,
                    corrected: r.get(6)?,
                    verified_at: r.get(7)?,
                    message: r.get(8)?,
                })
            },
        )
    }

    /// A machine's skipped hours (push switch off), newest report hour first.
    pub fn skipped_hours(
        &self,
        machine_id: i64,
        limit: u32,
        offset: u64,
    ) -> Result<(u64, Vec<SkippedHourRow>), StoreError> {
        self.machine_exists(machine_id)?;
        self.page(
            "skipped_hours",
            Some(machine_id),
            "id, mac, flux_hour, reason, switches, raw_bytes, decided_at, received_at",
            "flux_hour DESC, mac",
            limit,
            offset,
            |r| {
                let switches: String = r.get(4)?;
                Ok(SkippedHourRow {
                    id: r.get(0)?,
                    mac: r.get(1)?,
                    flux_hour: r.get(2)?,
                    reason: r.get(3)?,
                    switches: switches.split(',').filter(|s| !s.is_empty()).map(str::to_owned).collect(),
                    raw_bytes: r.get(5)?,
                    decided_at: r.get(6)?,
                    received_at: r.get(7)?,
                })
            },
        )
    }

    /// Push attempts made at or after `since` (by the agents' `attempted_at`), by outcome, and
    /// the hours held since then.
    pub fn push_outcomes_since(&self, since: i64) -> Result<PushOutcomes, StoreError> {
        // Each count is a range of the (status, attempted_at) index: no row is read.
        let attempts = |status: &str| -> Result<i64, StoreError> {
            Ok(self.conn.query_row(
                "SELECT COUNT(*) FROM push_history WHERE status = ?1 AND attempted_at >= ?2",
                params![status, since],
                |r| r.get(0),
            )?)
        };
        Ok(PushOutcomes {
            success: attempts("success")?,
            failure: attempts("failure")?,
            held: self.conn.query_row(
                "SELECT COUNT(*) FROM held_hours WHERE held_at >= ?1",
                [since],
                |r| r.get(0),
            )?,
            skipped: self.conn.query_row(
                "SELECT COUNT(*) FROM skipped_hours WHERE decided_at >= ?1",
                [since],
                |r| r.get(0),
            )?,
        })
    }

    /// Pushed and raw bytes of the fleet per report hour in `[from_hour, to_hour]`, each
    /// (MAC, hour) counted once: its latest successful attempt (highest version, then
    /// attempt). Hours without a success are absent.
    pub fn fleet_hourly_traffic(&self, from_hour: &str, to_hour: &str) -> Result<Vec<FleetHour>, StoreError> {
        // The hour range first, through the flux_hour index (`+status`: not the status index,
        // which would walk every success ever stored).
        let rows = self
            .conn
            .prepare(
                "SELECT flux_hour, SUM(pushed_bytes), SUM(raw_bytes), COUNT(*) FROM (
                     SELECT flux_hour, pushed_bytes, raw_bytes, ROW_NUMBER() OVER (
                         PARTITION BY mac, flux_hour ORDER BY version DESC, attempt DESC) AS newest
                     FROM push_history
                     WHERE flux_hour >= ?1 AND flux_hour <= ?2 AND +status = 'success')
                 WHERE newest = 1 GROUP BY flux_hour ORDER BY flux_hour",
            )?
            .query_map(params![from_hour, to_hour], |r| {
                Ok(FleetHour {
                    flux_hour: r.get(0)?,
                    pushed_bytes: r.get(1)?,
                    raw_bytes: r.get(2)?,
                    macs: r.get(3)?,
                })
            })?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    }

    /// One machine's report hours in `[from_hour, to_hour]`: bytes of the latest successful
    /// attempt of each of its MACs, the latest attempt's outcome, the attempt count. Only
    /// attempts made at or after `attempted_since` are read (the machine index's range): an
    /// hour is pushed after it ends, so a bound at the window's start loses none.
    pub fn machine_hourly_traffic(
        &self,
        machine_id: i64,
        from_hour: &str,
        to_hour: &str,
        attempted_since: i64,
    ) -> Result<Vec<MachineHour>, StoreError> {
        self.machine_exists(machine_id)?;
        let rows = self
            .conn
            .prepare(
                "WITH attempts AS (
                     SELECT mac, flux_hour, status, pushed_bytes, raw_bytes,
                         ROW_NUMBER() OVER (PARTITION BY mac, flux_hour ORDER BY version DESC, attempt DESC) AS newest,
                         ROW_NUMBER() OVER (PARTITION BY mac, flux_hour, status = 'success'
                                            ORDER BY version DESC, attempt DESC) AS newest_of_outcome
                     FROM push_history
                     WHERE machine_id = ?1 AND attempted_at >= ?4 AND flux_hour >= ?2 AND flux_hour <= ?3)
                 SELECT flux_hour,
                     COALESCE(SUM(CASE WHEN status = 'success' AND newest_of_outcome = 1 THEN pushed_bytes END), 0),
                     COALESCE(SUM(CASE WHEN status = 'success' AND newest_of_outcome = 1 THEN raw_bytes END), 0),
                     MAX(CASE WHEN newest = 1 AND status <> 'success' THEN 1 ELSE 0 END),
                     COUNT(*)
                 FROM attempts GROUP BY flux_hour ORDER BY flux_hour",
            )?
            .query_map(params![machine_id, from_hour, to_hour, attempted_since], |r| {
                let failed: bool = r.get(3)?;
                Ok(MachineHour {
                    flux_hour: r.get(0)?,
                    pushed_bytes: r.get(1)?,
                    raw_bytes: r.get(2)?,
                    status: Some(if failed { "failure" } else { "success" }.to_owned()),
                    attempts: r.get(4)?,
                })
            })?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    }
}

/// What a stored push attempt says, to compare with one sent again under its identity:
/// (machine, raw, pushed, raw points, pushed points, offset, status, http, code, message, at,
/// fixed offset).
type PushValues =
    (i64, i64, i64, String, String, i64, String, Option<i64>, Option<i64>, Option<String>, i64, i64);

/// Keep `sent`, which disagrees with the item stored under the same identity.
#[allow(clippy::too_many_arguments)]
fn conflict(
    tx: &rusqlite::Transaction<'_>,
    kind: &str,
    machine_id: i64,
    mac: &str,
    flux_hour: &str,
    stored_machine_id: i64,
    sent: &str,
    now: i64,
) -> Result<(), StoreError> {
    tx.execute(
        "INSERT INTO history_conflicts (kind, machine_id, mac, flux_hour, stored_machine_id, sent, received_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![kind, machine_id, mac, flux_hour, stored_machine_id, sent, now],
    )?;
    Ok(())
}
