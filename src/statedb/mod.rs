//! The agent's state database (one SQLite file, WAL): the ring's slots and last reading, and
//! (later) the push outbox. Opening, pragmas, numbered migrations and corruption handling
//! live here; each table group's SQL lives in its own module (`ring`, ...).

use std::path::{Path, PathBuf};

use rusqlite::Connection;

/// Numbered migrations, each applied in its own transaction; the schema version lives in
/// `PRAGMA user_version`.
const MIGRATIONS: &[(u32, &str)] = &[
    (1, include_str!("migrations/0001_ring.sql")),
    (2, include_str!("migrations/0002_outbox.sql")),
    (3, include_str!("migrations/0003_history_mirror.sql")),
    (4, include_str!("migrations/0004_skipped_mirror.sql")),
    (5, include_str!("migrations/0005_request_sequence.sql")),
    (6, include_str!("migrations/0006_clock.sql")),
    (7, include_str!("migrations/0007_slot_switch.sql")),
    (8, include_str!("migrations/0008_cost.sql")),
    (9, include_str!("migrations/0009_report_fixed_offset.sql")),
    (10, include_str!("migrations/0010_slot_link_speed.sql")),
    (11, include_str!("migrations/0011_odd_customer.sql")),
    (12, include_str!("migrations/0012_slot_open.sql")),
];

/// SQLite page cache per connection, in KiB (`PRAGMA cache_size = -N`). The default (2 MB per
/// connection, four connections) let a mature database grow the agent's RSS by megabytes; the
/// hot pages (the ring's last hours, the due rows of the outbox indexes) fit in far less.
pub const CACHE_KIB: i64 = 256;

/// The whole file is checked (`PRAGMA quick_check`) at most once per this period, and the
/// time recorded in the `upkeep` table; every start checks only what does not grow with
/// history (header, schema, the ring's tables: see [`startup_check`]).
pub const FULL_CHECK_EVERY_MS: i64 = 30 * 86_400_000;

/// Tables checked at every start: the ring and the push cursor, bounded by the retention,
/// without which no byte is counted or built. The outbox history (which grows with time)
/// waits for the periodic full check.
const CHECKED_AT_EVERY_START: &[&str] =
    &["last_reading", "slot", "slot_changed", "push_cursor", "request_sequence", "demo_clock", "upkeep"];

#[derive(Debug, thiserror::Error)]
pub enum StateDbError {
    #[error("cannot open the state database {path}: {source}")]
    Open { path: PathBuf, source: rusqlite::Error },
    #[error("the state database {path} is corrupt ({why}); it was moved aside to {moved_to}")]
    CorruptMovedAside { path: PathBuf, why: String, moved_to: PathBuf },
    #[error("the state database {path} is corrupt ({why}) and could not be moved aside: {source}")]
    CorruptStuck { path: PathBuf, why: String, source: std::io::Error },
    #[error("the state database {path} has schema version {found}, newer than this pushagent knows ({known}); upgrade pushagent")]
    TooNew { path: PathBuf, found: u32, known: u32 },
    #[error("no state database at {0}: the agent has not run with this state_dir yet")]
    Missing(PathBuf),
    #[error("state database error: {0}")]
    Db(#[from] rusqlite::Error),
}

/// Open (creating and migrating if needed). A corrupt file is moved aside, never overwritten,
/// and a fresh database is started: the returned notice says where the old one went.
pub fn open(path: &Path) -> Result<(Connection, Option<StateDbError>), StateDbError> {
    open_at(path, chrono::Utc::now().timestamp_millis())
}

/// [`open`] at wall time `now_ms` (which decides whether the full integrity check is due).
pub fn open_at(path: &Path, now_ms: i64) -> Result<(Connection, Option<StateDbError>), StateDbError> {
    match open_checked(path, now_ms) {
        Ok(conn) => Ok((conn, None)),
        Err(OpenFailure::Corrupt(why)) => {
            let moved_to = move_aside(path).map_err(|source| StateDbError::CorruptStuck {
                path: path.to_owned(),
                why: why.clone(),
                source,
            })?;
            let notice = StateDbError::CorruptMovedAside { path: path.to_owned(), why, moved_to };
            match open_checked(path, now_ms) {
                Ok(conn) => Ok((conn, Some(notice))),
                Err(OpenFailure::Corrupt(why)) => Err(StateDbError::CorruptStuck {
                    path: path.to_owned(),
                    why,
                    source: std::io::Error::other("a fresh database is corrupt too"),
                }),
                Err(OpenFailure::Other(e)) => Err(e),
            }
        }
        Err(OpenFailure::Other(e)) => Err(e),
    }
}

/// Another connection to a database `open` has already checked and migrated (the daemon's
/// other threads, the CLI while the daemon runs): no second check, no migration.
pub fn open_existing(path: &Path) -> Result<Connection, StateDbError> {
    if !path.exists() {
        return Err(StateDbError::Missing(path.to_owned()));
    }
    let conn =
        Connection::open(path).map_err(|source| StateDbError::Open { path: path.to_owned(), source })?;
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    // WAL is a property of the file; `synchronous` and the cache are per connection.
    tune(&conn)?;
    Ok(conn)
}

/// Per-connection settings. synchronous=FULL: each commit fsyncs the WAL, so a closed slot
/// and the reading that closed it survive power loss, not just a crash; at one commit per
/// sample that is cheap. A bounded page cache keeps the footprint flat as the file grows.
fn tune(conn: &Connection) -> rusqlite::Result<()> {
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "cache_size", -CACHE_KIB)?;
    Ok(())
}

/// Which integrity check a start ran.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartupCheck {
    /// Header, schema and the ring's tables (every start; does not grow with history).
    Bounded,
    /// The whole file too (the period had passed, or it never ran on this file).
    Full,
}

/// The start-up integrity check. Every start reads the header and the schema (a file that is
/// not a database, a truncated header or a garbled schema fail here) and runs `quick_check`
/// on the tables of [`CHECKED_AT_EVERY_START`] (b-tree damage in the ring, the last reading,
/// the cursor). The whole file (the outbox history, its indexes, free pages) is checked when
/// the last full check is older than [`FULL_CHECK_EVERY_MS`] (or lies in the future: a clock
/// that was ahead). Ok(Err(why)) when something is corrupt; Err for a database error (which
/// the caller classifies: a locked file is not a corrupt one).
pub fn startup_check(conn: &Connection, now_ms: i64) -> rusqlite::Result<Result<StartupCheck, String>> {
    let tables: Vec<String> = conn
        .prepare("SELECT name FROM sqlite_schema WHERE type = 'table'")?
        .query_map([], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    for table in CHECKED_AT_EVERY_START.iter().filter(|t| tables.iter().any(|n| n == *t)) {
        let check: String = conn.query_row(&format!("PRAGMA quick_check({table})"), [], |r| r.get(0))?;
        if check != "ok" {
            return Ok(Err(format!("quick_check({table}): {check}")));
        }
    }
    let last_full: Option<i64> = if tables.iter().any(|n| n == "upkeep") {
        conn.query_row("SELECT MAX(full_check_at_ms) FROM upkeep", [], |r| r.get(0))?
    } else {
        None
    };
    let due = last_full.is_none_or(|at| now_ms < at || now_ms - at >= FULL_CHECK_EVERY_MS);
    if !due {
        return Ok(Ok(StartupCheck::Bounded));
    }
    let check: String = conn.query_row("PRAGMA quick_check", [], |r| r.get(0))?;
    if check != "ok" {
        return Ok(Err(format!("quick_check: {check}")));
    }
    Ok(Ok(StartupCheck::Full))
}

enum OpenFailure {
    Corrupt(String),
    Other(StateDbError),
}

fn open_checked(path: &Path, now_ms: i64) -> Result<Connection, OpenFailure> {
    let classify = |e: rusqlite::Error| {
        if is_corruption(&e) {
            OpenFailure::Corrupt(e.to_string())
        } else {
            OpenFailure::Other(StateDbError::Open { path: path.to_owned(), source: e })
        }
    };
    let mut conn = Connection::open(path).map_err(classify)?;
    conn.busy_timeout(std::time::Duration::from_secs(5)).map_err(classify)?;
    tune(&conn).map_err(classify)?;
    let check = startup_check(&conn, now_ms).map_err(classify)?.map_err(OpenFailure::Corrupt)?;
    // WAL: readers (the CLI, the push thread) never block the sampler.
    conn.pragma_update(None, "journal_mode", "WAL").map_err(classify)?;
    let db_failure = |e: StateDbError| match e {
        StateDbError::Db(db) if is_corruption(&db) => OpenFailure::Corrupt(db.to_string()),
        other => OpenFailure::Other(other),
    };
    let migrated = migrate(&mut conn, path).map_err(db_failure)?;
    if check == StartupCheck::Full {
        conn.execute(
            "INSERT INTO upkeep (id, full_check_at_ms) VALUES (1, ?1)
             ON CONFLICT (id) DO UPDATE SET full_check_at_ms = excluded.full_check_at_ms",
            [now_ms],
        )
        .map_err(|e| db_failure(e.into()))?;
        log::info!("state database {}: full integrity check passed", path.display());
    }
    if migrated {
        // A migration that rebuilt tables wrote the whole file again through the WAL (133 MB
        // on a 10-year outbox): copy it back now and truncate it, so neither the disk nor the
        // WAL index in memory carries it for the agent's life.
        let (busy, _, _): (i64, i64, i64) = conn
            .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .map_err(classify)?;
        if busy != 0 {
            log::warn!(
                "state database {}: the WAL could not be truncated after the migration",
                path.display()
            );
        }
    }
    Ok(conn)
}

/// Apply the migrations the file lacks; true when at least one ran.
fn migrate(conn: &mut Connection, path: &Path) -> Result<bool, StateDbError> {
    let current: u32 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    let known = MIGRATIONS.last().map(|m| m.0).unwrap_or(0);
    if current > known {
        return Err(StateDbError::TooNew { path: path.to_owned(), found: current, known });
    }
    for (version, sql) in MIGRATIONS.iter().filter(|m| m.0 > current) {
        let tx = conn.transaction()?;
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", version)?;
        tx.commit()?;
        log::info!("state database {}: schema migrated to version {version}", path.display());
    }
    Ok(current < known)
}

/// Give freed heap back to the system. Migrating, checking or pruning a large file
/// (a 10-year outbox) leaves megabytes of freed heap that glibc keeps in the middle of the
/// arena; idle RSS would carry them for the agent's life (8.8 MB instead of 7.0 MB).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code)]
pub fn release_freed_memory() {
    // SAFETY: malloc_trim only returns free pages to the kernel; no pointer is involved.
    unsafe {
        libc::malloc_trim(0);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub fn release_freed_memory() {}

fn is_corruption(e: &rusqlite::Error) -> bool {
    matches!(
        e.sqlite_error_code(),
        Some(rusqlite::ErrorCode::DatabaseCorrupt) | Some(rusqlite::ErrorCode::NotADatabase)
    )
}

/// Rename the file and its WAL/SHM companions to `<name>.corrupt-<UTC time>`.
fn move_aside(path: &Path) -> std::io::Result<PathBuf> {
    let stamp = chrono::Utc::now().format("%Y%m%dT%H%M%SZ");
    let target = PathBuf::from(format!("{}.corrupt-{stamp}", path.display()));
    std::fs::rename(path, &target)?;
    for suffix in ["-wal", "-shm"] {
        let companion = PathBuf::from(format!("{}{suffix}", path.display()));
        if companion.exists() {
            std::fs::rename(&companion, format!("{}{suffix}", target.display()))?;
        }
    }
    Ok(target)
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY_MS: i64 = 86_400_000;
    const T0: i64 = 1_796_083_200_000;

    fn full_check_at(path: &Path) -> Option<i64> {
        let conn = Connection::open(path).expect("open");
        conn.query_row("SELECT full_check_at_ms FROM upkeep WHERE id = 1", [], |r| r.get(0)).ok()
    }

    #[test]
    fn the_whole_file_is_checked_once_a_period_and_the_time_recorded() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("state.sqlite");
        drop(open_at(&path, T0).expect("create"));
        assert_eq!(full_check_at(&path), Some(T0), "a new file is checked whole once");
        drop(open_at(&path, T0 + 29 * DAY_MS).expect("reopen"));
        assert_eq!(full_check_at(&path), Some(T0), "within the period: header, schema and ring only");
        drop(open_at(&path, T0 + 30 * DAY_MS).expect("reopen"));
        assert_eq!(full_check_at(&path), Some(T0 + 30 * DAY_MS), "the period passed: whole file");
        // A clock that was a year ahead recorded a future time: the next start checks again.
        drop(open_at(&path, T0 + 400 * DAY_MS).expect("ahead"));
        drop(open_at(&path, T0 + 31 * DAY_MS).expect("back"));
        assert_eq!(full_check_at(&path), Some(T0 + 31 * DAY_MS));
    }

    #[test]
    fn the_wal_a_migration_wrote_is_truncated_at_the_start() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("state.sqlite");
        let wal = dir.path().join("state.sqlite-wal");
        let (conn, _) = open_at(&path, T0).expect("create");
        // Every migration ran on the new file and wrote its pages through the WAL.
        assert_eq!(std::fs::metadata(&wal).expect("wal").len(), 0, "the WAL is truncated after migrating");
        drop(conn);
    }

    /// Overwrite the root page of `table` with garbage (the file closed and checkpointed).
    fn damage_root_page(path: &Path, table: &str) {
        let (page_size, root): (i64, i64) = {
            let conn = Connection::open(path).expect("open");
            let page_size = conn.query_row("PRAGMA page_size", [], |r| r.get(0)).expect("page size");
            let root = conn
                .query_row("SELECT rootpage FROM sqlite_schema WHERE name = ?1", [table], |r| r.get(0))
                .expect("root page");
            (page_size, root)
        };
        use std::io::{Seek, SeekFrom, Write};
        let mut file = std::fs::OpenOptions::new().write(true).open(path).expect("file");
        file.seek(SeekFrom::Start(((root - 1) * page_size) as u64)).expect("seek");
        file.write_all(&vec![0x5a; page_size as usize]).expect("damage");
    }

    fn with_history(path: &Path) {
        let (mut conn, _) = open_at(path, T0).expect("create");
        let tx = conn.transaction().expect("tx");
        for i in 0..5_000 {
            tx.execute(
                "INSERT INTO verification (mac, flux_hour, at_ms, result, detail) VALUES ('m', ?1, ?2, 'match', 'same')",
                rusqlite::params![format!("h{i}"), T0],
            )
            .expect("verification");
            tx.execute(
                "INSERT INTO slot (mac, slot_start, ifname, tx_bytes) VALUES ('m', ?1, 'eth0', 1)",
                [i * 300],
            )
            .expect("slot");
        }
        tx.commit().expect("commit");
    }

    #[test]
    fn every_start_checks_the_ring_and_the_history_waits_for_the_periodic_check() {
        let dir = tempfile::tempdir().expect("dir");
        // Damage in the ring: found at the next start, the file moved aside.
        let ring_damaged = dir.path().join("ring.sqlite");
        with_history(&ring_damaged);
        damage_root_page(&ring_damaged, "slot");
        let (_, notice) = open_at(&ring_damaged, T0 + DAY_MS).expect("a fresh file");
        let notice = notice.expect("the damage is reported").to_string();
        assert!(notice.contains("quick_check(slot)") && notice.contains("moved aside"), "{notice}");

        // Damage in the outbox history: a start inside the period does not read the history
        // (its cost does not grow with it); the periodic full check finds it.
        let history_damaged = dir.path().join("history.sqlite");
        with_history(&history_damaged);
        damage_root_page(&history_damaged, "verification");
        let (_, notice) = open_at(&history_damaged, T0 + DAY_MS).expect("open");
        assert!(notice.is_none(), "only header, schema and ring are read at every start");
        let (_, notice) = open_at(&history_damaged, T0 + 30 * DAY_MS).expect("a fresh file");
        let notice = notice.expect("the full check finds it").to_string();
        assert!(notice.contains("quick_check:") && notice.contains("moved aside"), "{notice}");
    }

    /// A database of the release before migration 11 (outbox states without `unverifiable`)
    /// keeps every report and verification, its indexes, and takes the new states afterwards.
    #[test]
    fn migration_11_keeps_reports_and_verifications_and_extends_the_states() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("state.sqlite");
        {
            let mut conn = Connection::open(&path).expect("open");
            for (version, sql) in MIGRATIONS.iter().filter(|m| m.0 < 11) {
                let tx = conn.transaction().expect("tx");
                tx.execute_batch(sql).expect("migration");
                tx.pragma_update(None, "user_version", version).expect("version");
                tx.commit().expect("commit");
            }
            conn.execute_batch(
                "INSERT INTO report (mac, flux_hour, hour_start, raw_points, pushed_points, offset_bp,
                    offset_source, direction, slot_flags, missing_slots, version, state, next_attempt_at,
                    created_at, updated_at, verify_result, off_slots, held_mirrored, offset_fixed_bytes)
                 VALUES ('aa:bb:cc:dd:ee:01', '2026112408', 1, '[1,2,3,4,5,6,7,8,9,10,11,12]', '[]', 0,
                    'global', 'tx', 0, 0, 3, 'sent', 5, 5, 5, 'match', 4, 1, -1000);
                 INSERT INTO verification (mac, flux_hour, at_ms, result, detail, version, mirrored)
                 VALUES ('aa:bb:cc:dd:ee:01', '2026112408', 7, 'corrected', 'd', 2, 1);",
            )
            .expect("rows");
            let err = conn.execute("UPDATE report SET state = 'unverifiable'", []);
            assert!(err.is_err(), "the old CHECK refuses the new state");
        }
        let (conn, notice) = open(&path).expect("migrated");
        assert!(notice.is_none());
        let row: (String, u32, String, i64, i64, i64, i64) = conn
            .query_row(
                "SELECT raw_points, version, verify_result, off_slots, held_mirrored, corrections,
                    verify_failures FROM report",
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?, r.get(6)?)),
            )
            .expect("report kept");
        assert_eq!(row, ("[1,2,3,4,5,6,7,8,9,10,11,12]".into(), 3, "match".into(), 4, 1, 0, 0));
        let fixed: i64 =
            conn.query_row("SELECT offset_fixed_bytes FROM report", [], |r| r.get(0)).expect("fixed offset");
        assert_eq!(fixed, -1000, "the fixed amount (migration 9) is kept");
        conn.execute("UPDATE report SET state = 'unverifiable'", []).expect("new state");
        conn.execute("UPDATE report SET state = 'correction_failed'", []).expect("new state");
        let v: (i64, String, u32, i64, Option<u32>) = conn
            .query_row("SELECT id, result, version, mirrored, checked_version FROM verification", [], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
            })
            .expect("verification kept");
        assert_eq!(v, (1, "corrected".into(), 2, 1, None));
        conn.execute(
            "INSERT INTO verification (mac, flux_hour, at_ms, result, detail) VALUES ('m', 'h', 8, 'customer_extra', '')",
            [],
        )
        .expect("new result");
        let id: i64 = conn.query_row("SELECT MAX(id) FROM verification", [], |r| r.get(0)).expect("id");
        assert_eq!(id, 2, "ids continue after the kept rows");
        // The indexes the migrations before left on both tables are all there again.
        let mut indexes: Vec<String> = conn
            .prepare(
                "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name IN ('report', 'verification')
                    AND name NOT LIKE 'sqlite_autoindex%' ORDER BY name",
            )
            .expect("indexes")
            .query_map([], |r| r.get(0))
            .expect("indexes")
            .collect::<Result<_, _>>()
            .expect("indexes");
        indexes.sort();
        assert_eq!(
            indexes,
            [
                "report_by_hour",
                "report_due",
                "report_verify_due",
                "verification_by_report",
                "verification_unmirrored"
            ]
        );
    }
}
