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
];

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
    match open_checked(path) {
        Ok(conn) => Ok((conn, None)),
        Err(OpenFailure::Corrupt(why)) => {
            let moved_to = move_aside(path).map_err(|source| StateDbError::CorruptStuck {
                path: path.to_owned(),
                why: why.clone(),
                source,
            })?;
            let notice = StateDbError::CorruptMovedAside { path: path.to_owned(), why, moved_to };
            match open_checked(path) {
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
    // WAL is a property of the file; `synchronous` is per connection.
    conn.pragma_update(None, "synchronous", "FULL")?;
    Ok(conn)
}

enum OpenFailure {
    Corrupt(String),
    Other(StateDbError),
}

fn open_checked(path: &Path) -> Result<Connection, OpenFailure> {
    let classify = |e: rusqlite::Error| {
        if is_corruption(&e) {
            OpenFailure::Corrupt(e.to_string())
        } else {
            OpenFailure::Other(StateDbError::Open { path: path.to_owned(), source: e })
        }
    };
    let mut conn = Connection::open(path).map_err(classify)?;
    conn.busy_timeout(std::time::Duration::from_secs(5)).map_err(classify)?;
    let check: String = conn.query_row("PRAGMA quick_check", [], |r| r.get(0)).map_err(classify)?;
    if check != "ok" {
        return Err(OpenFailure::Corrupt(format!("quick_check: {check}")));
    }
    // WAL: readers (the CLI, the push thread) never block the sampler.
    // synchronous=FULL: each commit fsyncs the WAL, so a closed slot and the reading that
    // closed it survive power loss, not just a crash; at one commit per sample that is cheap.
    conn.pragma_update(None, "journal_mode", "WAL").map_err(classify)?;
    conn.pragma_update(None, "synchronous", "FULL").map_err(classify)?;
    migrate(&mut conn, path).map_err(|e| match e {
        StateDbError::Db(db) if is_corruption(&db) => OpenFailure::Corrupt(db.to_string()),
        other => OpenFailure::Other(other),
    })?;
    Ok(conn)
}

fn migrate(conn: &mut Connection, path: &Path) -> Result<(), StateDbError> {
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
    Ok(())
}

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
