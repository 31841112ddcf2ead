//! Settlement: the 288 five-minute points of each (MAC, report day), raw and pushed, kept from
//! the push history as it arrives (the latest successful version of each hour wins), with each
//! hour's verification state; read back as whole-day series for the statistics of
//! `pushagent_proto::settlement`. Layout of the arrays: migrations/0008_settlement.sql.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use pushagent_proto::agent::{HistoryBatch, PushStatus};
use pushagent_proto::settlement::{Series, SLOTS_PER_DAY, SLOT_SECS};

use super::*;

/// The migration that creates `settlement_days`; its rows are backfilled in its transaction.
pub(super) const MIGRATION: u32 = 8;

const HOURS: usize = 24;
const SLOTS_PER_HOUR: usize = 12;
const HOUR_STATE_BYTES: usize = 4 + 4 + 4 + 8 + 1;
/// Hours named by an agent that did not say its zone (older agents): the agents' default.
const DEFAULT_OFFSET_SECS: i32 = 8 * 3600;
/// Backfill reads the history in chunks of this many items.
const BACKFILL_CHUNK: usize = 20_000;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct HourState {
    /// 0: no successful push of this hour.
    push_version: u32,
    push_attempt: u32,
    /// The latest verification of this hour (by `verified_at`): which version, and whether the
    /// customer's copy matched it.
    verified_version: u32,
    verified_at: i64,
    matched: bool,
}

#[derive(Debug, Clone)]
struct DayRow {
    machine_id: i64,
    raw: Vec<u64>,
    pushed: Vec<u64>,
    hours: [HourState; HOURS],
}

impl DayRow {
    fn new(machine_id: i64) -> DayRow {
        DayRow {
            machine_id,
            raw: vec![0; SLOTS_PER_DAY],
            pushed: vec![0; SLOTS_PER_DAY],
            hours: [HourState::default(); HOURS],
        }
    }
}

/// One successful push of an hour, as the settlement keeps it.
#[derive(Debug, Clone)]
struct PushedHour {
    mac: String,
    flux_hour: String,
    version: u32,
    attempt: u32,
    raw: [u64; SLOTS_PER_HOUR],
    pushed: [u64; SLOTS_PER_HOUR],
}

/// One verification of an hour.
#[derive(Debug, Clone)]
struct VerifiedHour {
    mac: String,
    flux_hour: String,
    version: u32,
    verified_at: i64,
    matched: bool,
}

fn encode_points(points: &[u64]) -> Vec<u8> {
    points.iter().flat_map(|p| p.to_le_bytes()).collect()
}

fn decode_points(blob: &[u8]) -> Result<Vec<u64>, StoreError> {
    if blob.len() != SLOTS_PER_DAY * 8 {
        return Err(StoreError::Corrupt(format!("settlement points of {} bytes", blob.len())));
    }
    Ok(blob.chunks_exact(8).map(|c| u64::from_le_bytes(c.try_into().unwrap_or_default())).collect())
}

fn encode_hours(hours: &[HourState; HOURS]) -> Vec<u8> {
    let mut out = Vec::with_capacity(HOURS * HOUR_STATE_BYTES);
    for h in hours {
        out.extend_from_slice(&h.push_version.to_le_bytes());
        out.extend_from_slice(&h.push_attempt.to_le_bytes());
        out.extend_from_slice(&h.verified_version.to_le_bytes());
        out.extend_from_slice(&h.verified_at.to_le_bytes());
        out.push(u8::from(h.matched));
    }
    out
}

fn decode_hours(blob: &[u8]) -> Result<[HourState; HOURS], StoreError> {
    if blob.len() != HOURS * HOUR_STATE_BYTES {
        return Err(StoreError::Corrupt(format!("settlement hours of {} bytes", blob.len())));
    }
    let mut hours = [HourState::default(); HOURS];
    for (h, c) in hours.iter_mut().zip(blob.chunks_exact(HOUR_STATE_BYTES)) {
        let u32_at = |at: usize| u32::from_le_bytes(c[at..at + 4].try_into().unwrap_or_default());
        *h = HourState {
            push_version: u32_at(0),
            push_attempt: u32_at(4),
            verified_version: u32_at(8),
            verified_at: i64::from_le_bytes(c[12..20].try_into().unwrap_or_default()),
            matched: c[20] != 0,
        };
    }
    Ok(hours)
}

/// `YYYYMMDDHH` → (`YYYYMMDD`, hour); `None` for anything else (validation refuses it before).
fn split_hour(flux_hour: &str) -> Option<(&str, usize)> {
    if flux_hour.len() != 10 || !flux_hour.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let hour: usize = flux_hour[8..].parse().ok()?;
    (hour < HOURS).then(|| (&flux_hour[..8], hour))
}

fn offset_of(report_timezone: Option<&str>) -> i32 {
    report_timezone
        .and_then(|tz| crate::settings::parse_report_timezone(tz).ok())
        .map_or(DEFAULT_OFFSET_SECS, |o| o.local_minus_utc())
}

/// Merge pushes and verifications of one machine, whose hours are named at `offset_secs`, into
/// their day rows. Idempotent and order-free: each hour keeps its highest successful
/// (version, attempt) and its latest verification.
fn merge(
    conn: &Connection,
    machine_id: i64,
    offset_secs: i32,
    pushes: &[PushedHour],
    verifications: &[VerifiedHour],
) -> Result<(), StoreError> {
    let mut rows: BTreeMap<(String, String), DayRow> = BTreeMap::new();
    let mut load = |mac: &str, day: &str| -> Result<(String, String), StoreError> {
        let key = (mac.to_owned(), day.to_owned());
        if !rows.contains_key(&key) {
            let found = conn
                .prepare_cached(
                    "SELECT raw, pushed, hours FROM settlement_days
                     WHERE mac = ?1 AND utc_offset_secs = ?2 AND day = ?3",
                )?
                .query_row(params![mac, offset_secs, day], |r| {
                    Ok((r.get::<_, Vec<u8>>(0)?, r.get::<_, Vec<u8>>(1)?, r.get::<_, Vec<u8>>(2)?))
                })
                .optional()?;
            let row = match found {
                Some((raw, pushed, hours)) => DayRow {
                    machine_id,
                    raw: decode_points(&raw)?,
                    pushed: decode_points(&pushed)?,
                    hours: decode_hours(&hours)?,
                },
                None => DayRow::new(machine_id),
            };
            rows.insert(key.clone(), row);
        }
        Ok(key)
    };
    let mut touched = Vec::new();
    for p in pushes {
        let Some((day, hour)) = split_hour(&p.flux_hour) else { continue };
        let key = load(&p.mac, day)?;
        touched.push((key.clone(), hour, p));
    }
    let mut verified = Vec::new();
    for v in verifications {
        let Some((day, hour)) = split_hour(&v.flux_hour) else { continue };
        let key = load(&v.mac, day)?;
        verified.push((key, hour, v));
    }
    for (key, hour, p) in touched {
        let Some(row) = rows.get_mut(&key) else { continue };
        let state = &mut row.hours[hour];
        if (p.version, p.attempt) > (state.push_version, state.push_attempt) {
            state.push_version = p.version;
            state.push_attempt = p.attempt;
            let slots = hour * SLOTS_PER_HOUR..(hour + 1) * SLOTS_PER_HOUR;
            row.raw[slots.clone()].copy_from_slice(&p.raw);
            row.pushed[slots].copy_from_slice(&p.pushed);
        }
    }
    for (key, hour, v) in verified {
        let Some(row) = rows.get_mut(&key) else { continue };
        let state = &mut row.hours[hour];
        if (v.verified_at, v.version) > (state.verified_at, state.verified_version) {
            state.verified_version = v.version;
            state.verified_at = v.verified_at;
            state.matched = v.matched;
        }
    }
    let mut write = conn.prepare_cached(
        "INSERT INTO settlement_days (machine_id, mac, day, utc_offset_secs, raw, pushed, hours)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
         ON CONFLICT (mac, utc_offset_secs, day) DO UPDATE SET
             machine_id = excluded.machine_id, raw = excluded.raw, pushed = excluded.pushed, hours = excluded.hours",
    )?;
    for ((mac, day), row) in rows {
        write.execute(params![
            row.machine_id,
            mac,
            day,
            offset_secs,
            encode_points(&row.raw),
            encode_points(&row.pushed),
            encode_hours(&row.hours)
        ])?;
    }
    Ok(())
}

/// Keep the settlement rows of `machine_id` up to date with a history batch (in the batch's
/// transaction): its successful pushes and its verifications. Items already stored before
/// merge to the same state, so a resent batch changes nothing.
pub(super) fn apply_batch(
    conn: &Connection,
    machine_id: i64,
    batch: &HistoryBatch,
) -> Result<(), StoreError> {
    if batch.pushes.is_empty() && batch.verifications.is_empty() {
        return Ok(());
    }
    let zone: Option<String> =
        conn.query_row("SELECT report_timezone FROM machines WHERE id = ?1", [machine_id], |r| r.get(0))?;
    let pushes: Vec<PushedHour> = batch
        .pushes
        .iter()
        .filter(|p| p.status == PushStatus::Success)
        .map(|p| PushedHour {
            mac: p.mac.clone(),
            flux_hour: p.flux_hour.clone(),
            version: p.version,
            attempt: p.attempt,
            raw: p.raw_points,
            pushed: p.pushed_points,
        })
        .collect();
    let verifications: Vec<VerifiedHour> = batch
        .verifications
        .iter()
        .map(|v| VerifiedHour {
            mac: v.mac.clone(),
            flux_hour: v.flux_hour.clone(),
            version: v.version,
            verified_at: v.verified_at,
            matched: v.matched,
        })
        .collect();
    merge(conn, machine_id, offset_of(zone.as_deref()), &pushes, &verifications)
}

fn points_json(text: &str) -> [u64; SLOTS_PER_HOUR] {
    serde_json::from_str(text).unwrap_or_default()
}

/// Fill `settlement_days` from every successful push and verification already stored (run by
/// the migration that creates it, in its transaction), in chunks so memory stays bounded.
pub(super) fn backfill(conn: &Connection) -> Result<(), StoreError> {
    type Chunk<T> = BTreeMap<(i64, i32), Vec<T>>;
    fn flush<T>(
        chunk: &mut Chunk<T>,
        mut each: impl FnMut(i64, i32, &[T]) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        for ((machine_id, offset), items) in std::mem::take(chunk) {
            each(machine_id, offset, &items)?;
        }
        Ok(())
    }
    let mut pushes: Chunk<PushedHour> = BTreeMap::new();
    let mut n = 0;
    let mut stmt = conn.prepare(
        "SELECT h.machine_id, m.report_timezone, h.mac, h.flux_hour, h.version, h.attempt, h.raw_points, h.pushed_points
         FROM push_history h JOIN machines m ON m.id = h.machine_id WHERE h.status = 'success'",
    )?;
    let mut rows = stmt.query([])?;
    while let Some(r) = rows.next()? {
        let zone: Option<String> = r.get(1)?;
        pushes.entry((r.get(0)?, offset_of(zone.as_deref()))).or_default().push(PushedHour {
            mac: r.get(2)?,
            flux_hour: r.get(3)?,
            version: r.get(4)?,
            attempt: r.get(5)?,
            raw: points_json(&r.get::<_, String>(6)?),
            pushed: points_json(&r.get::<_, String>(7)?),
        });
        n += 1;
        if n % BACKFILL_CHUNK == 0 {
            flush(&mut pushes, |id, offset, items| merge(conn, id, offset, items, &[]))?;
        }
    }
    flush(&mut pushes, |id, offset, items| merge(conn, id, offset, items, &[]))?;
    let mut verifications: Chunk<VerifiedHour> = BTreeMap::new();
    let mut stmt = conn.prepare(
        "SELECT v.machine_id, m.report_timezone, v.mac, v.flux_hour, v.version, v.verified_at, v.matched
         FROM verifications v JOIN machines m ON m.id = v.machine_id",
    )?;
    let mut rows = stmt.query([])?;
    while let Some(r) = rows.next()? {
        let zone: Option<String> = r.get(1)?;
        verifications.entry((r.get(0)?, offset_of(zone.as_deref()))).or_default().push(VerifiedHour {
            mac: r.get(2)?,
            flux_hour: r.get(3)?,
            version: r.get(4)?,
            verified_at: r.get(5)?,
            matched: r.get(6)?,
        });
        n += 1;
        if n % BACKFILL_CHUNK == 0 {
            flush(&mut verifications, |id, offset, items| merge(conn, id, offset, &[], items))?;
        }
    }
    flush(&mut verifications, |id, offset, items| merge(conn, id, offset, &[], items))?;
    Ok(())
}

/// A machine settled: who it is.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct SettledMachine {
    pub machine_id: i64,
    pub hostname: String,
    /// Its node (节点) now; `None` when it has none.
    pub node: Option<String>,
}

/// How the customer's copy of a machine's pushed hours is known: the service holds no values
/// of the customer, only the agents' verifications (the customer's copy matched the pushed
/// version, or did not).
#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq, Eq)]
pub struct CustomerHours {
    /// Pushed hours whose latest verification found the customer's copy equal to the pushed
    /// version in force.
    pub confirmed: u64,
    /// Pushed hours whose latest verification of the version in force found a difference.
    pub mismatched: u64,
    /// Pushed hours not verified since their version in force was pushed.
    pub unverified: u64,
}

impl CustomerHours {
    pub fn add(&mut self, other: CustomerHours) {
        self.confirmed += other.confirmed;
        self.mismatched += other.mismatched;
        self.unverified += other.unverified;
    }
}

/// One machine's points over a range of whole report days.
#[derive(Debug, Clone)]
pub struct MachineSeries {
    pub machine: SettledMachine,
    /// The MACs its points came under.
    pub macs: Vec<String>,
    pub raw: Series,
    pub pushed: Series,
    pub customer: CustomerHours,
}

/// Whole report days `[first_day, first_day + days)` in the zone `utc_offset_secs`.
#[derive(Debug, Clone, Copy)]
pub struct DayRange {
    pub first_day: NaiveDate,
    pub days: usize,
    pub utc_offset_secs: i32,
}

impl DayRange {
    fn start_utc(&self) -> i64 {
        day_start_utc(self.first_day, self.utc_offset_secs)
    }
}

fn day_start_utc(day: NaiveDate, offset_secs: i32) -> i64 {
    day.and_hms_opt(0, 0, 0).map_or(0, |t| t.and_utc().timestamp()) - i64::from(offset_secs)
}

fn day_text(day: NaiveDate) -> String {
    day.format("%Y%m%d").to_string()
}

impl Store {
    /// The machines a settlement covers, by node then host name: all, one node's (`Some("")`:
    /// the machines without a node) or one machine.
    pub fn settlement_machines(
        &self,
        node: Option<&str>,
        machine_id: Option<i64>,
    ) -> Result<Vec<SettledMachine>, StoreError> {
        if let Some(id) = machine_id {
            self.machine_exists(id)?;
        }
        let rows = self
            .conn
            .prepare(
                "SELECT m.id, m.hostname, c.node FROM machines m JOIN machine_config c ON c.machine_id = m.id
                 WHERE (?1 IS NULL OR COALESCE(c.node, '') = ?1) AND (?2 IS NULL OR m.id = ?2)
                 ORDER BY COALESCE(c.node, ''), m.hostname, m.id",
            )?
            .query_map(params![node, machine_id], |r| {
                Ok(SettledMachine { machine_id: r.get(0)?, hostname: r.get(1)?, node: r.get(2)? })
            })?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    }

    /// `machine`'s points over `range` (a slot belongs to the report day its instant falls in,
    /// whatever zone the agent named its hours in); `None` when it has no point in the range.
    pub fn settlement_series(
        &self,
        machine: &SettledMachine,
        range: DayRange,
    ) -> Result<Option<MachineSeries>, StoreError> {
        // Rows of the days around the range: an agent's day in another zone straddles ours.
        let first = range.first_day.pred_opt().unwrap_or(range.first_day);
        let last =
            range.first_day.checked_add_days(chrono::Days::new(range.days as u64)).unwrap_or(range.first_day);
        let mut stmt = self.conn.prepare_cached(
            "SELECT mac, day, utc_offset_secs, raw, pushed, hours FROM settlement_days
             WHERE machine_id = ?1 AND day >= ?2 AND day <= ?3 ORDER BY day, mac",
        )?;
        let mut rows = stmt.query(params![machine.machine_id, day_text(first), day_text(last)])?;
        let total = range.days * SLOTS_PER_DAY;
        let range_start = range.start_utc();
        let mut raw = Series::empty(range.days, 1);
        let mut pushed = Series::empty(range.days, 1);
        let mut customer = CustomerHours::default();
        let mut macs: Vec<String> = Vec::new();
        let mut any = false;
        while let Some(r) = rows.next()? {
            let mac: String = r.get(0)?;
            let day: String = r.get(1)?;
            let offset: i32 = r.get(2)?;
            let Ok(day) = NaiveDate::parse_from_str(&day, "%Y%m%d") else { continue };
            let shift = (day_start_utc(day, offset) - range_start).div_euclid(SLOT_SECS as i64);
            // The blobs are read in place (no copy): a fleet's month is ~30 000 of them.
            let blob = |i: usize| -> Result<&[u8], StoreError> {
                r.get_ref(i)?.as_blob().map_err(|e| StoreError::Corrupt(format!("settlement row: {e}")))
            };
            let raw_points = decode_points(blob(3)?)?;
            let pushed_points = decode_points(blob(4)?)?;
            let hours = decode_hours(blob(5)?)?;
            let mut used = false;
            for (h, state) in hours.iter().enumerate().filter(|(_, s)| s.push_version > 0) {
                let hour_at = shift + (h * SLOTS_PER_HOUR) as i64;
                if hour_at < 0 || hour_at >= total as i64 {
                    continue;
                }
                used = true;
                if state.verified_version == state.push_version {
                    if state.matched {
                        customer.confirmed += 1;
                    } else {
                        customer.mismatched += 1;
                    }
                } else {
                    customer.unverified += 1;
                }
                for i in h * SLOTS_PER_HOUR..(h + 1) * SLOTS_PER_HOUR {
                    let Ok(at) = usize::try_from(shift + i as i64) else { continue };
                    if at >= total {
                        continue;
                    }
                    raw.bytes[at] = raw.bytes[at].saturating_add(raw_points[i]);
                    pushed.bytes[at] = pushed.bytes[at].saturating_add(pushed_points[i]);
                    // A slot is present once, whichever of the machine's MACs brought it.
                    raw.present[at] = 1;
                    pushed.present[at] = 1;
                }
            }
            if used {
                any = true;
                if !macs.contains(&mac) {
                    macs.push(mac);
                }
            }
        }
        Ok(any.then(|| MachineSeries { machine: machine.clone(), macs, raw, pushed, customer }))
    }

    /// Bytes the settlement rows take in the database file (`dbstat`), and their count.
    pub fn settlement_size(&self) -> Result<(u64, u64), StoreError> {
        let rows: i64 = self.conn.query_row("SELECT COUNT(*) FROM settlement_days", [], |r| r.get(0))?;
        let bytes: Option<i64> = self
            .conn
            .query_row(
                "SELECT SUM(pgsize) FROM dbstat WHERE name IN ('settlement_days', 'settlement_days_machine',
                     'sqlite_autoindex_settlement_days_1')",
                [],
                |r| r.get(0),
            )
            .optional()?
            .flatten();
        Ok((bytes.unwrap_or(0) as u64, rows as u64))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use pushagent_proto::agent::{HistoryItem, VerificationItem};

    fn push(hour: &str, version: u32, attempt: u32, base: u64, ok: bool) -> HistoryItem {
        let raw: [u64; 12] = std::array::from_fn(|k| base + k as u64);
        let pushed = raw.map(|b| b * 2);
        HistoryItem {
            mac: "aa:bb:cc:00:00:01".into(),
            flux_hour: hour.into(),
            version,
            attempt,
            raw_bytes: raw.iter().sum(),
            pushed_bytes: pushed.iter().sum(),
            raw_points: raw,
            pushed_points: pushed,
            offset_bp: 10_000,
            offset_fixed_bytes: 0,
            off_slots: 0,
            status: if ok { PushStatus::Success } else { PushStatus::Failure },
            http_status: None,
            code: None,
            message: None,
            attempted_at: 1,
        }
    }

    type StoredRow = (String, String, i32, Vec<u8>, Vec<u8>, Vec<u8>);

    fn rows(store: &Store) -> Vec<StoredRow> {
        store
            .conn
            .prepare(
                "SELECT mac, day, utc_offset_secs, raw, pushed, hours FROM settlement_days ORDER BY mac, day",
            )
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?)))
            .unwrap()
            .collect::<Result<Vec<_>, _>>()
            .unwrap()
    }

    #[test]
    fn the_migrations_backfill_builds_what_live_batches_built() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(&dir.path().join("s.sqlite")).unwrap();
        store
            .conn
            .execute_batch(
                "INSERT INTO machines (id, machine_uid, hostname, mac, agent_version, first_seen_at, last_seen_at, report_timezone)
                     VALUES (1, 'u1', 'web-01', 'aa:bb:cc:00:00:01', '0.1.0', 0, 0, 'UTC+05:30');
                 INSERT INTO machine_config (machine_id, version, push_enabled, acceptance, updated_at)
                     VALUES (1, 1, 1, 'accepted', 0);",
            )
            .unwrap();
        // Versions out of order across batches, a failure, two days, verifications.
        let batches = [
            HistoryBatch {
                pushes: vec![push("2025112423", 2, 1, 500, true), push("2025112500", 1, 1, 7, true)],
                ..Default::default()
            },
            HistoryBatch {
                pushes: vec![push("2025112423", 1, 3, 900, true), push("2025112423", 3, 1, 999, false)],
                verifications: vec![VerificationItem {
                    mac: "aa:bb:cc:00:00:01".into(),
                    flux_hour: "2025112423".into(),
                    version: 2,
                    matched: true,
                    corrected: false,
                    verified_at: 50,
                    message: None,
                    ..Default::default()
                }],
                ..Default::default()
            },
        ];
        for batch in &batches {
            store.insert_history(1, batch, 100).unwrap();
        }
        let live = rows(&store);
        assert_eq!(live.len(), 2);
        assert_eq!(live[0].2, 5 * 3600 + 1800, "the machine's zone");
        let raw = decode_points(&live[0].3).unwrap();
        assert_eq!(raw[23 * 12], 500, "version 2 beat version 1's later attempt and the failed version 3");
        let hours = decode_hours(&live[0].5).unwrap();
        assert_eq!((hours[23].push_version, hours[23].verified_version, hours[23].matched), (2, 2, true));
        store.conn.execute("DELETE FROM settlement_days", []).unwrap();
        backfill(&store.conn).unwrap();
        assert_eq!(rows(&store), live);
    }

    #[test]
    fn arrays_round_trip() {
        let points: Vec<u64> = (0..SLOTS_PER_DAY as u64).map(|i| i * 1_000_000_007).collect();
        assert_eq!(decode_points(&encode_points(&points)).unwrap(), points);
        let mut hours = [HourState::default(); HOURS];
        hours[23] = HourState {
            push_version: 3,
            push_attempt: 2,
            verified_version: 3,
            verified_at: -5,
            matched: true,
        };
        assert_eq!(decode_hours(&encode_hours(&hours)).unwrap(), hours);
        assert!(decode_points(&[0; 7]).is_err());
        assert_eq!(split_hour("2026112923"), Some(("20261129", 23)));
        assert_eq!(split_hour("2026112924"), None);
        assert_eq!(offset_of(None), 8 * 3600);
        assert_eq!(offset_of(Some("UTC")), 0);
    }
}
