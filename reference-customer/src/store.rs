//! The customer's copy of the records: SQLite (WAL), all SQL of the reference customer lives here.
//! A push is applied in ONE transaction: either every record of the batch is stored, or none.

use std::path::{Path, PathBuf};
use std::time::Duration;

use pushagent_proto::customer::{Conflict, FluxRecord};
use rusqlite::{params, Connection, OptionalExtension, Row, Transaction};

/// Numbered migrations; the schema version lives in `PRAGMA user_version`.
const MIGRATIONS: &[(u32, &str)] = &[
    (1, include_str!("../migrations/0001_flux_records.sql")),
    (2, include_str!("../migrations/0002_push_origin.sql")),
];

const RECORD_COLUMNS: &str = "flux_dat, flux_hour, provider_id, provider_uiid, isp_id, mac, \
     v0, v1, v2, v3, v4, v5, v6, v7, v8, v9, v10, v11, version, device_type";

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot open the store {path}: {source}")]
    Open { path: PathBuf, source: rusqlite::Error },
    #[error("the store {path} has schema version {found}, newer than this server knows ({known})")]
    TooNew { path: PathBuf, found: u32, known: u32 },
    #[error("store database error: {0}")]
    Db(#[from] rusqlite::Error),
    #[error("value {0} does not fit SQLite's 63-bit integers")]
    TooLarge(u64),
    #[error("stored value {value} of {column} is negative")]
    NegativeStored { column: &'static str, value: i64 },
}

/// What a push did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PushOutcome {
    /// Every record is stored (or already was, identically).
    Stored,
    /// Nothing was stored: these records have a version not above the stored one but other values.
    Conflicts(Vec<Conflict>),
}

/// A stored value an operator (a test) may corrupt in place with `/_admin/alter`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AlterableField(&'static str);

impl AlterableField {
    const ALL: [&'static str; 14] =
        ["v0", "v1", "v2", "v3", "v4", "v5", "v6", "v7", "v8", "v9", "v10", "v11", "isp_id", "device_type"];

    pub fn parse(name: &str) -> Option<AlterableField> {
        Self::ALL.iter().find(|&&known| known == name).map(|&known| AlterableField(known))
    }

    pub fn name(self) -> &'static str {
        self.0
    }

    fn is_point(self) -> bool {
        self.0.starts_with('v')
    }
}

/// Who sent a push: the profile's name, the access id, and the line profile's sequence number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Origin<'a> {
    pub profile: &'static str,
    pub access_id: &'a str,
    pub seq: Option<u64>,
}

/// Everything the dump shows of the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dump {
    pub records: Vec<FluxRecord>,
    pub pushes: u64,
    /// The sequence numbers of the accepted line-profile pushes, in the order they came.
    pub line_seqs: Vec<u64>,
}

pub struct Store {
    conn: Connection,
    path: PathBuf,
}

impl Store {
    /// Open (creating if needed) the store at `path` and bring its schema up to date.
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        let open_err = |source| StoreError::Open { path: path.to_owned(), source };
        let conn = Connection::open(path).map_err(open_err)?;
        conn.busy_timeout(Duration::from_secs(5)).map_err(open_err)?;
        conn.pragma_update(None, "journal_mode", "WAL").map_err(open_err)?;
        let mut store = Store { conn, path: path.to_owned() };
        store.migrate()?;
        Ok(store)
    }

    fn migrate(&mut self) -> Result<(), StoreError> {
        let current: u32 = self.conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
        let known = MIGRATIONS.last().map(|m| m.0).unwrap_or(0);
        if current > known {
            return Err(StoreError::TooNew { path: self.path.clone(), found: current, known });
        }
        for (version, sql) in MIGRATIONS.iter().filter(|m| m.0 > current) {
            let tx = self.conn.transaction()?;
            tx.execute_batch(sql)?;
            tx.pragma_update(None, "user_version", version)?;
            tx.commit()?;
            log::info!("store {}: schema migrated to version {version}", self.path.display());
        }
        Ok(())
    }

    /// Apply a validated batch: per (mac, flux_hour) the highest version wins; the same version
    /// with the same values is a no-op; a version not above the stored one with other values is
    /// a conflict, and then nothing of the batch is stored.
    ///
    /// A record whose values equal the stored ones but whose version is LOWER is accepted as a
    /// no-op too: the spec calls it a conflict only when the values differ.
    pub fn push(
        &mut self,
        records: &[FluxRecord],
        received_at: i64,
        origin: Origin<'_>,
    ) -> Result<PushOutcome, StoreError> {
        let tx = self.conn.transaction()?;
        let mut conflicts = Vec::new();
        for record in records {
            match stored_record(&tx, &record.mac, &record.flux_hour)? {
                None => upsert(&tx, record, received_at)?,
                Some(stored) if record.version > stored.version => upsert(&tx, record, received_at)?,
                Some(stored) if same_values(&stored, record) => {}
                Some(stored) => conflicts.push(Conflict {
                    mac: record.mac.clone(),
                    flux_hour: record.flux_hour.clone(),
                    stored_version: stored.version,
                }),
            }
        }
        if !conflicts.is_empty() {
            tx.rollback()?;
            return Ok(PushOutcome::Conflicts(conflicts));
        }
        let count = i64::try_from(records.len()).map_err(|_| StoreError::TooLarge(records.len() as u64))?;
        let seq = origin.seq.map(to_sql_int).transpose()?;
        tx.execute(
            "INSERT INTO push (received_at, records, profile, access_id, seq) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![received_at, count, origin.profile, origin.access_id, seq],
        )?;
        tx.commit()?;
        Ok(PushOutcome::Stored)
    }

    /// What is stored for one MAC and report day, ordered by hour.
    pub fn query(&self, mac: &str, flux_dat: &str) -> Result<Vec<FluxRecord>, StoreError> {
        let sql = format!(
            "SELECT {RECORD_COLUMNS} FROM flux_record WHERE mac = ?1 AND flux_dat = ?2 ORDER BY flux_hour"
        );
        let mut stmt = self.conn.prepare(&sql)?;
        let rows = stmt.query_map(params![mac, flux_dat], read_row)?;
        rows.map(|row| row?).collect()
    }

    /// Change one stored value in place, keeping its version. Returns false when no such record.
    pub fn alter(
        &mut self,
        mac: &str,
        flux_hour: &str,
        field: AlterableField,
        value: i64,
    ) -> Result<bool, StoreError> {
        if field.is_point() && value < 0 {
            return Err(StoreError::NegativeStored { column: field.name(), value });
        }
        // The column name comes from AlterableField's fixed list, never from the caller's text.
        let sql = format!("UPDATE flux_record SET {} = ?1 WHERE mac = ?2 AND flux_hour = ?3", field.name());
        Ok(self.conn.execute(&sql, params![value, mac, flux_hour])? > 0)
    }

    /// Forget one stored record. Returns false when there was none.
    pub fn delete(&mut self, mac: &str, flux_hour: &str) -> Result<bool, StoreError> {
        let deleted = self
            .conn
            .execute("DELETE FROM flux_record WHERE mac = ?1 AND flux_hour = ?2", params![mac, flux_hour])?;
        Ok(deleted > 0)
    }

    /// All stored records (ordered by mac, flux_hour) and the number of accepted pushes.
    pub fn dump(&self) -> Result<Dump, StoreError> {
        let sql = format!("SELECT {RECORD_COLUMNS} FROM flux_record ORDER BY mac, flux_hour");
        let mut stmt = self.conn.prepare(&sql)?;
        let records = stmt.query_map([], read_row)?.map(|row| row?).collect::<Result<Vec<_>, _>>()?;
        let pushes: i64 = self.conn.query_row("SELECT COUNT(*) FROM push", [], |r| r.get(0))?;
        let mut stmt = self.conn.prepare("SELECT seq FROM push WHERE seq IS NOT NULL ORDER BY id")?;
        let line_seqs = stmt.query_map([], |r| r.get::<_, i64>(0))?.collect::<Result<Vec<_>, _>>()?;
        let line_seqs = line_seqs.into_iter().map(|seq| u64::try_from(seq).unwrap_or(0)).collect();
        Ok(Dump { records, pushes: u64::try_from(pushes).unwrap_or(0), line_seqs })
    }
}

/// Equal in everything, version aside.
fn same_values(stored: &FluxRecord, pushed: &FluxRecord) -> bool {
    let mut pushed = pushed.clone();
    pushed.version = stored.version;
    *stored == pushed
}

fn stored_record(tx: &Transaction, mac: &str, flux_hour: &str) -> Result<Option<FluxRecord>, StoreError> {
    let sql = format!("SELECT {RECORD_COLUMNS} FROM flux_record WHERE mac = ?1 AND flux_hour = ?2");
    tx.query_row(&sql, params![mac, flux_hour], read_row).optional()?.transpose()
}

fn upsert(tx: &Transaction, record: &FluxRecord, stored_at: i64) -> Result<(), StoreError> {
    let points = record.points().map(to_sql_int);
    let [v0, v1, v2, v3, v4, v5, v6, v7, v8, v9, v10, v11] = points;
    tx.execute(
        "INSERT OR REPLACE INTO flux_record (flux_dat, flux_hour, provider_id, provider_uiid, isp_id, mac, \
             v0, v1, v2, v3, v4, v5, v6, v7, v8, v9, v10, v11, version, device_type, stored_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21)",
        params![
            record.flux_dat,
            record.flux_hour,
            record.provider_id,
            record.provider_uiid,
            record.isp_id,
            record.mac,
            v0?,
            v1?,
            v2?,
            v3?,
            v4?,
            v5?,
            v6?,
            v7?,
            v8?,
            v9?,
            v10?,
            v11?,
            record.version,
            record.device_type,
            stored_at,
        ],
    )?;
    Ok(())
}

fn to_sql_int(value: u64) -> Result<i64, StoreError> {
    i64::try_from(value).map_err(|_| StoreError::TooLarge(value))
}

/// One row of RECORD_COLUMNS. The outer Result is SQLite's, the inner one ours (a negative
/// point cannot be a u64; it can only get there by hand).
fn read_row(row: &Row) -> rusqlite::Result<Result<FluxRecord, StoreError>> {
    let mut points = [0u64; 12];
    for (slot, point) in points.iter_mut().enumerate() {
        let value: i64 = row.get(6 + slot)?;
        match u64::try_from(value) {
            Ok(v) => *point = v,
            Err(_) => return Ok(Err(StoreError::NegativeStored { column: "v", value })),
        }
    }
    let mut record = FluxRecord {
        flux_dat: row.get(0)?,
        flux_hour: row.get(1)?,
        provider_id: row.get(2)?,
        provider_uiid: row.get(3)?,
        isp_id: row.get(4)?,
        mac: row.get(5)?,
        v0: 0,
        v1: 0,
        v2: 0,
        v3: 0,
        v4: 0,
        v5: 0,
        v6: 0,
        v7: 0,
        v8: 0,
        v9: 0,
        v10: 0,
        v11: 0,
        version: row.get(18)?,
        device_type: row.get(19)?,
    };
    record.set_points(points);
    Ok(Ok(record))
}

#[cfg(test)]
mod tests {
    use super::*;

    const ORIGIN: Origin<'static> = Origin { profile: "json", access_id: "AK-test", seq: None };

    fn record(mac: &str, hour: &str, version: u32, v0: u64) -> FluxRecord {
        let mut r = FluxRecord {
            flux_dat: hour[..8].to_owned(),
            flux_hour: hour.to_owned(),
            provider_id: "P1".to_owned(),
            provider_uiid: "U1".to_owned(),
            isp_id: 1,
            mac: mac.to_owned(),
            v0: 0,
            v1: 0,
            v2: 0,
            v3: 0,
            v4: 0,
            v5: 0,
            v6: 0,
            v7: 0,
            v8: 0,
            v9: 0,
            v10: 0,
            v11: 0,
            version,
            device_type: 2,
        };
        r.v0 = v0;
        r
    }

    fn open() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(&dir.path().join("c.sqlite")).expect("open");
        (dir, store)
    }

    #[test]
    fn conflicting_batch_stores_nothing_and_lists_every_conflict() {
        let (_dir, mut store) = open();
        let a = record("aa:bb:cc:dd:ee:01", "2026112400", 2, 10);
        assert_eq!(store.push(std::slice::from_ref(&a), 1, ORIGIN).expect("push"), PushOutcome::Stored);
        let fresh = record("aa:bb:cc:dd:ee:02", "2026112400", 1, 5);
        let stale = record("aa:bb:cc:dd:ee:01", "2026112400", 1, 11);
        let outcome = store.push(&[fresh, stale], 2, ORIGIN).expect("push");
        assert_eq!(
            outcome,
            PushOutcome::Conflicts(vec![Conflict {
                mac: a.mac.clone(),
                flux_hour: a.flux_hour.clone(),
                stored_version: 2
            }])
        );
        let dump = store.dump().expect("dump");
        assert_eq!(dump.records, vec![a]);
        assert_eq!(dump.pushes, 1);
    }

    #[test]
    fn lower_version_with_the_same_values_is_a_no_op() {
        let (_dir, mut store) = open();
        let v2 = record("aa:bb:cc:dd:ee:01", "2026112400", 2, 10);
        store.push(std::slice::from_ref(&v2), 1, ORIGIN).expect("push");
        let v1 = record("aa:bb:cc:dd:ee:01", "2026112400", 1, 10);
        assert_eq!(store.push(&[v1], 2, ORIGIN).expect("push"), PushOutcome::Stored);
        assert_eq!(store.dump().expect("dump").records, vec![v2]);
    }

    #[test]
    fn alter_keeps_the_version_and_refuses_negative_points() {
        let (_dir, mut store) = open();
        let r = record("aa:bb:cc:dd:ee:01", "2026112400", 3, 10);
        store.push(std::slice::from_ref(&r), 1, ORIGIN).expect("push");
        let v3 = AlterableField::parse("v3").expect("v3 is alterable");
        assert!(store.alter(&r.mac, &r.flux_hour, v3, 77).expect("alter"));
        assert!(!store.alter(&r.mac, "2026112401", v3, 77).expect("alter"));
        assert!(store.alter(&r.mac, &r.flux_hour, v3, -1).is_err());
        assert!(AlterableField::parse("version").is_none());
        let stored = store.query(&r.mac, "20261124").expect("query");
        assert_eq!((stored[0].v3, stored[0].version), (77, 3));
    }
}
