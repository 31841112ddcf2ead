//! Settlement: the 288 five-minute points of each (MAC, report day), raw and pushed, kept from
//! the push history as it arrives (the latest successful version of each hour wins), with each
//! hour's verification state; read back as whole-day series for the statistics of
//! `pushagent_proto::settlement`. Layout of the arrays: migrations/0008_settlement.sql.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use pushagent_proto::agent::{
    HistoryBatch, PushStatus, VERIFY_CORRECTION_FAILED, VERIFY_CUSTOMER_EXTRA, VERIFY_MISMATCH_CORRECTED,
    VERIFY_UNVERIFIABLE,
};
use pushagent_proto::settlement::{Series, SLOT_SECS};

use super::settlement_codec::{self as codec, DayRow, HOURS, SLOTS_PER_DAY, SLOTS_PER_HOUR};
use super::*;

/// The migration that (re)creates `settlement_days`; its rows are backfilled from the stored
/// history in its transaction.
pub(super) const MIGRATION: u32 = 14;

/// Hours named by an agent that did not say its zone (older agents): the agents' default.
const DEFAULT_OFFSET_SECS: i32 = 8 * 3600;
/// Backfill reads the history in chunks of this many items.
const BACKFILL_CHUNK: usize = 20_000;

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

/// What a verification read of the customer's copy of an hour.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CustomerRead {
    /// Nothing (an agent older than the customer's points, or the query failed).
    Nothing,
    /// The customer holds no record of the hour.
    NoRecord,
    Points([u64; SLOTS_PER_HOUR]),
}

/// One verification of an hour.
#[derive(Debug, Clone)]
struct VerifiedHour {
    mac: String,
    flux_hour: String,
    version: u32,
    verified_at: i64,
    matched: bool,
    /// "The customer holds hours we did not send": its read is of no version of ours.
    extra: bool,
    /// A verdict on our version (matched or not); not one that could not read the customer's
    /// copy, nor one of an hour we did not send.
    verdict: bool,
    read: CustomerRead,
}

impl VerifiedHour {
    fn new(
        item: (&str, &str, u32, i64, bool),
        state: Option<&str>,
        checked_version: Option<u32>,
        points: Option<[u64; SLOTS_PER_HOUR]>,
    ) -> VerifiedHour {
        let (mac, flux_hour, version, verified_at, matched) = item;
        let read = match (points, state) {
            (Some(points), _) => CustomerRead::Points(points),
            // A difference found without points: the customer held no record of the hour.
            (None, Some(VERIFY_MISMATCH_CORRECTED | VERIFY_CORRECTION_FAILED))
                if checked_version.is_none() =>
            {
                CustomerRead::NoRecord
            }
            (None, _) => CustomerRead::Nothing,
        };
        VerifiedHour {
            mac: mac.to_owned(),
            flux_hour: flux_hour.to_owned(),
            version,
            verified_at,
            matched,
            extra: state == Some(VERIFY_CUSTOMER_EXTRA),
            verdict: !matches!(state, Some(VERIFY_CUSTOMER_EXTRA | VERIFY_UNVERIFIABLE)),
            read,
        }
    }
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
/// (version, attempt), its latest verification and the customer's copy of its latest read.
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
                    "SELECT points, hours FROM settlement_days
                     WHERE mac = ?1 AND utc_offset_secs = ?2 AND day = ?3",
                )?
                .query_row(params![mac, offset_secs, day], |r| {
                    Ok((r.get::<_, Vec<u8>>(0)?, r.get::<_, Vec<u8>>(1)?))
                })
                .optional()?;
            let row = match found {
                Some((points, hours)) => codec::decode(&points, &hours)?,
                None => DayRow::default(),
            };
            rows.insert(key.clone(), row);
        }
        Ok(key)
    };
    let mut touched = Vec::new();
    for p in pushes {
        let Some((day, hour)) = split_hour(&p.flux_hour) else { continue };
        let key = load(&p.mac, day)?;
        touched.push((key, hour, p));
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
        if v.verdict && (v.verified_at, v.version) > (state.verified_at, state.verified_version) {
            state.verified_version = v.version;
            state.verified_at = v.verified_at;
            state.matched = v.matched;
        }
        let version = if v.extra { 0 } else { v.version };
        let newer = (v.verified_at, version) > (state.customer_at, state.customer_version);
        if v.read != CustomerRead::Nothing && newer {
            let points = match v.read {
                CustomerRead::Points(points) => points,
                _ => [0; SLOTS_PER_HOUR],
            };
            state.customer_version = version;
            state.customer_at = v.verified_at;
            state.customer_held = matches!(v.read, CustomerRead::Points(_));
            row.customer[hour * SLOTS_PER_HOUR..(hour + 1) * SLOTS_PER_HOUR].copy_from_slice(&points);
        }
    }
    let mut write = conn.prepare_cached(
        "INSERT INTO settlement_days (machine_id, mac, day, utc_offset_secs, points, hours)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)
         ON CONFLICT (mac, utc_offset_secs, day) DO UPDATE SET
             machine_id = excluded.machine_id, points = excluded.points, hours = excluded.hours",
    )?;
    for ((mac, day), row) in rows {
        let (points, hours) = codec::encode(&row);
        write.execute(params![machine_id, mac, day, offset_secs, points, hours])?;
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
        .map(|v| {
            VerifiedHour::new(
                (&v.mac, &v.flux_hour, v.version, v.verified_at, v.matched),
                v.state.as_deref(),
                v.checked_version,
                v.customer_points,
            )
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
        "SELECT v.machine_id, m.report_timezone, v.mac, v.flux_hour, v.version, v.verified_at, v.matched,
                v.state, v.checked_version, v.customer_points
         FROM verifications v JOIN machines m ON m.id = v.machine_id",
    )?;
    let mut rows = stmt.query([])?;
    while let Some(r) = rows.next()? {
        let zone: Option<String> = r.get(1)?;
        let (mac, flux_hour): (String, String) = (r.get(2)?, r.get(3)?);
        let state: Option<String> = r.get(7)?;
        let points: Option<String> = r.get(9)?;
        verifications.entry((r.get(0)?, offset_of(zone.as_deref()))).or_default().push(VerifiedHour::new(
            (&mac, &flux_hour, r.get(4)?, r.get(5)?, r.get(6)?),
            state.as_deref(),
            r.get(8)?,
            points.as_deref().map(points_json),
        ));
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

/// What is known of the customer's copy of a machine's (or node's) hours in a range: from the
/// agents' verifications, which carry the customer's points as the agent read them (agents
/// older than that carry only a verdict: matched, or not).
#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq, Eq)]
pub struct CustomerHours {
    /// Pushed hours whose customer's copy, read since the version in force was pushed, equals
    /// it (or was verified equal by an agent that sends no points).
    pub confirmed: u64,
    /// Pushed hours whose customer's copy, read since the version in force was pushed,
    /// differs from it (other values, or no record at all).
    pub mismatched: u64,
    /// Of `mismatched`: hours found different by an agent that does not send the customer's
    /// points (older agents), so the customer's values of them are not known.
    pub mismatched_without_values: u64,
    /// Pushed hours whose customer's copy is not known for the version in force.
    pub unverified: u64,
    /// Hours the customer holds that we never pushed successfully ("the customer holds hours
    /// we did not send"): money we may be paid or blamed for.
    pub extra: u64,
}

impl CustomerHours {
    /// The customer's value of every slot is known: its figures can be computed.
    pub fn values_known(&self) -> bool {
        self.unverified == 0 && self.mismatched_without_values == 0
    }

    pub fn add(&mut self, other: CustomerHours) {
        self.confirmed += other.confirmed;
        self.mismatched += other.mismatched;
        self.mismatched_without_values += other.mismatched_without_values;
        self.unverified += other.unverified;
        self.extra += other.extra;
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
    /// The customer's copy, slot by slot, where it is known (everywhere when
    /// `customer_hours.values_known()`).
    pub customer: Series,
    pub customer_hours: CustomerHours,
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

/// Add one machine's `points` to `series` from slot `at` on; `present`: the slots have a point
/// (a slot is present once, whichever of the machine's MACs brought it).
fn add_slots(series: &mut Series, at: usize, points: &[u64], present: bool) {
    let end = at + points.len();
    for (sum, p) in series.bytes[at..end].iter_mut().zip(points) {
        *sum = sum.saturating_add(*p);
    }
    if present {
        series.present[at..end].fill(1);
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
            "SELECT mac, day, utc_offset_secs, points, hours FROM settlement_days
             WHERE machine_id = ?1 AND day >= ?2 AND day <= ?3",
        )?;
        let mut rows = stmt.query(params![machine.machine_id, day_text(first), day_text(last)])?;
        let total = (range.days * SLOTS_PER_DAY) as i64;
        let range_start = range.start_utc();
        let mut raw = Series::empty(range.days, 1);
        let mut pushed = Series::empty(range.days, 1);
        let mut customer = Series::empty(range.days, 1);
        let mut hours_known = CustomerHours::default();
        let mut macs: Vec<String> = Vec::new();
        let mut any = false;
        while let Some(r) = rows.next()? {
            let day: String = r.get(1)?;
            let offset: i32 = r.get(2)?;
            let Ok(day) = NaiveDate::parse_from_str(&day, "%Y%m%d") else { continue };
            let shift = (day_start_utc(day, offset) - range_start).div_euclid(SLOT_SECS as i64);
            // The blobs are read in place (no copy): a fleet's month is ~30 000 of them.
            let blob = |i: usize| -> Result<&[u8], StoreError> {
                r.get_ref(i)?.as_blob().map_err(|e| StoreError::Corrupt(format!("settlement row: {e}")))
            };
            let row = codec::decode(blob(3)?, blob(4)?)?;
            let mut used = false;
            for (h, state) in row.hours.iter().enumerate() {
                // The slots of this hour inside the range (an agent's day in another zone
                // straddles the range's days).
                let first = shift + (h * SLOTS_PER_HOUR) as i64;
                let slots = first.max(0)..(first + SLOTS_PER_HOUR as i64).min(total);
                if slots.is_empty() {
                    continue;
                }
                let (at, len) = (slots.start as usize, (slots.end - slots.start) as usize);
                let from = h * SLOTS_PER_HOUR + (slots.start - first) as usize;
                let ours = from..from + len;
                let known = state.customer_known();
                let verdict_in_force = state.verified_at != 0 && state.verified_version == state.push_version;
                if state.push_version > 0 {
                    used = true;
                    add_slots(&mut raw, at, &row.raw[ours.clone()], true);
                    add_slots(&mut pushed, at, &row.pushed[ours.clone()], true);
                    let theirs = if known {
                        (state.customer_held && row.customer[ours.clone()] == row.pushed[ours.clone()])
                            .then_some(&row.customer[ours.clone()])
                    } else if verdict_in_force && state.matched {
                        // An agent without the customer's points said they are the pushed ones.
                        Some(&row.pushed[ours.clone()])
                    } else {
                        None
                    };
                    match (theirs, known) {
                        (None, false) if verdict_in_force => {
                            hours_known.mismatched += 1;
                            hours_known.mismatched_without_values += 1;
                        }
                        (Some(points), _) => {
                            hours_known.confirmed += 1;
                            add_slots(&mut customer, at, points, true);
                        }
                        (None, true) => {
                            hours_known.mismatched += 1;
                            add_slots(&mut customer, at, &row.customer[ours], state.customer_held);
                        }
                        (None, false) => hours_known.unverified += 1,
                    }
                } else if known && state.customer_held {
                    used = true;
                    hours_known.extra += 1;
                    add_slots(&mut customer, at, &row.customer[ours], true);
                }
            }
            if used {
                any = true;
                let mac: String = r.get(0)?;
                if !macs.contains(&mac) {
                    macs.push(mac);
                }
            }
        }
        Ok(any.then(|| MachineSeries {
            machine: machine.clone(),
            macs,
            raw,
            pushed,
            customer,
            customer_hours: hours_known,
        }))
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
    use pushagent_proto::agent::{HistoryItem, VerificationItem, VERIFY_MATCHED};

    const MAC: &str = "aa:bb:cc:00:00:01";

    fn push(hour: &str, version: u32, attempt: u32, base: u64, ok: bool) -> HistoryItem {
        let raw: [u64; 12] = std::array::from_fn(|k| base + k as u64);
        let pushed = raw.map(|b| b * 2);
        HistoryItem {
            mac: MAC.into(),
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

    fn verification(
        hour: &str,
        version: u32,
        at: i64,
        state: &str,
        points: Option<[u64; 12]>,
    ) -> VerificationItem {
        VerificationItem {
            mac: MAC.into(),
            flux_hour: hour.into(),
            version,
            matched: state == VERIFY_MATCHED,
            verified_at: at,
            state: Some(state.into()),
            checked_version: points.map(|_| version),
            customer_points: points,
            ..VerificationItem::default()
        }
    }

    type StoredRow = (String, String, i32, DayRow);

    fn rows(store: &Store) -> Vec<StoredRow> {
        store
            .conn
            .prepare("SELECT mac, day, utc_offset_secs, points, hours FROM settlement_days ORDER BY mac, day")
            .unwrap()
            .query_map([], |r| {
                let (points, hours): (Vec<u8>, Vec<u8>) = (r.get(3)?, r.get(4)?);
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, codec::decode(&points, &hours).unwrap()))
            })
            .unwrap()
            .collect::<Result<Vec<_>, _>>()
            .unwrap()
    }

    fn store_with_machine(dir: &tempfile::TempDir) -> Store {
        let store = Store::open(&dir.path().join("s.sqlite")).unwrap();
        store
            .conn
            .execute_batch(
                "INSERT INTO machines (id, machine_uid, hostname, mac, agent_version, first_seen_at, last_seen_at, report_timezone)
                     VALUES (1, 'u1', 'web-01', 'aa:bb:cc:00:00:01', '0.1.0', 0, 0, 'UTC+05:30');
                 INSERT INTO machine_config (machine_id, version, push_enabled, acceptance, updated_at)
                     VALUES (1, 1, 1, 'accepted', 0);",
            )
            .unwrap();
        store
    }

    #[test]
    fn the_migrations_backfill_builds_what_live_batches_built() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = store_with_machine(&dir);
        // Versions out of order across batches, a failure, two days, verifications of an old
        // agent (no points) and of a new one (the customer's points, a differing copy).
        let old_agent = VerificationItem {
            mac: MAC.into(),
            flux_hour: "2025112423".into(),
            version: 2,
            matched: true,
            verified_at: 50,
            ..VerificationItem::default()
        };
        let batches = [
            HistoryBatch {
                pushes: vec![push("2025112423", 2, 1, 500, true), push("2025112500", 1, 1, 7, true)],
                ..Default::default()
            },
            HistoryBatch {
                pushes: vec![push("2025112423", 1, 3, 900, true), push("2025112423", 3, 1, 999, false)],
                verifications: vec![
                    old_agent,
                    verification("2025112500", 1, 60, VERIFY_MISMATCH_CORRECTED, Some([3; 12])),
                ],
                ..Default::default()
            },
        ];
        for batch in &batches {
            store.insert_history(1, batch, 100).unwrap();
        }
        let live = rows(&store);
        assert_eq!(live.len(), 2);
        assert_eq!(live[0].2, 5 * 3600 + 1800, "the machine's zone");
        assert_eq!(
            live[0].3.raw[23 * 12],
            500,
            "version 2 beat version 1's later attempt and the failed version 3"
        );
        let h = live[0].3.hours[23];
        assert_eq!((h.push_version, h.verified_version, h.matched, h.customer_at), (2, 2, true, 0));
        let h = live[1].3.hours[0];
        assert_eq!((h.customer_version, h.customer_at, h.customer_held), (1, 60, true));
        assert_eq!(live[1].3.customer[..12], [3; 12]);
        store.conn.execute("DELETE FROM settlement_days", []).unwrap();
        backfill(&store.conn).unwrap();
        assert_eq!(rows(&store), live);
    }

    #[test]
    fn the_customers_copy_is_the_latest_read_and_known_only_for_the_version_in_force() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = store_with_machine(&dir);
        let day = NaiveDate::from_ymd_opt(2025, 11, 25).unwrap();
        let range = DayRange { first_day: day, days: 1, utc_offset_secs: 5 * 3600 + 1800 };
        let machine = store.settlement_machines(None, Some(1)).unwrap().remove(0);
        let series = |store: &Store| store.settlement_series(&machine, range).unwrap().unwrap();
        let batch = |pushes, verifications| HistoryBatch { pushes, verifications, ..Default::default() };
        // Hour 00 pushed; the customer's copy read: other values. Hour 01 pushed and matched.
        // Hour 02: the customer holds it, we never sent it. Hour 03 pushed, never verified.
        let ours = push("2025112500", 1, 1, 10, true).pushed_points;
        store
            .insert_history(
                1,
                &batch(
                    vec![
                        push("2025112500", 1, 1, 10, true),
                        push("2025112501", 1, 1, 10, true),
                        push("2025112503", 1, 1, 10, true),
                    ],
                    vec![
                        verification("2025112500", 1, 60, VERIFY_MISMATCH_CORRECTED, Some([1; 12])),
                        verification("2025112501", 1, 60, VERIFY_MATCHED, Some(ours)),
                        VerificationItem {
                            checked_version: Some(4),
                            ..verification("2025112502", 0, 60, VERIFY_CUSTOMER_EXTRA, Some([5; 12]))
                        },
                    ],
                ),
                100,
            )
            .unwrap();
        let s = series(&store);
        assert_eq!(
            s.customer_hours,
            CustomerHours { confirmed: 1, mismatched: 1, unverified: 1, extra: 1, ..Default::default() }
        );
        assert_eq!(s.customer.bytes[..12], [1; 12], "the customer's own values");
        assert_eq!(s.customer.bytes[12..24], ours);
        assert_eq!(s.customer.bytes[24..36], [5; 12], "the hour we did not send");
        assert_eq!(s.pushed.bytes[24..36], [0; 12]);
        assert_eq!(s.customer.present[36..48], [0; 12], "never verified: unknown");
        // Hour 00 corrected as version 2: the old read is not the customer's copy of it.
        store.insert_history(1, &batch(vec![push("2025112500", 2, 1, 20, true)], vec![]), 100).unwrap();
        assert_eq!(series(&store).customer_hours.unverified, 2);
        // Read again: now the customer holds version 2. A late, older read changes nothing.
        let v2 = push("2025112500", 2, 1, 20, true).pushed_points;
        store
            .insert_history(
                1,
                &batch(
                    vec![],
                    vec![
                        verification("2025112500", 2, 90, VERIFY_MATCHED, Some(v2)),
                        verification("2025112500", 1, 70, VERIFY_MISMATCH_CORRECTED, Some([9; 12])),
                    ],
                ),
                100,
            )
            .unwrap();
        let s = series(&store);
        assert_eq!(
            s.customer_hours,
            CustomerHours { confirmed: 2, mismatched: 0, unverified: 1, extra: 1, ..Default::default() }
        );
        assert_eq!(s.customer.bytes[..12], v2);
        // A new agent's mismatch without points: the customer held no record of the hour.
        store
            .insert_history(
                1,
                &batch(vec![], vec![verification("2025112503", 1, 95, VERIFY_MISMATCH_CORRECTED, None)]),
                100,
            )
            .unwrap();
        let s = series(&store);
        assert_eq!(
            s.customer_hours,
            CustomerHours { confirmed: 2, mismatched: 1, unverified: 0, extra: 1, ..Default::default() }
        );
        assert_eq!(s.customer.present[36..48], [0; 12], "no record: missing slots");
        // An unverifiable verdict says nothing of the customer's copy.
        store
            .insert_history(
                1,
                &batch(vec![], vec![verification("2025112501", 1, 99, VERIFY_UNVERIFIABLE, None)]),
                100,
            )
            .unwrap();
        assert_eq!(series(&store).customer_hours.confirmed, 2);
    }

    #[test]
    fn helpers() {
        assert_eq!(split_hour("2026112923"), Some(("20261129", 23)));
        assert_eq!(split_hour("2026112924"), None);
        assert_eq!(offset_of(None), 8 * 3600);
        assert_eq!(offset_of(Some("UTC")), 0);
    }
}
