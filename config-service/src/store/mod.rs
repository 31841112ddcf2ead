//! Everything persistent, behind one boundary: all SQL of the service lives in this module.
//! SQLite in WAL mode; numbered migrations, each applied in its own transaction, the schema
//! version in `PRAGMA user_version`. A PostgreSQL store would implement the same methods.

use std::path::{Path, PathBuf};
use std::time::Duration;

use pushagent_proto::agent::{
    Acceptance, AgentHealth, HeartbeatRequest, HistoryBatch, Identity, MachineConfig, RegisterRequest,
};
use rusqlite::{params, params_from_iter, Connection, OptionalExtension, Row};
use serde::Serialize;

use crate::global::GlobalDoc;

const MIGRATIONS: &[(u32, &str)] = &[
    (1, include_str!("../../migrations/0001_init.sql")),
    (2, include_str!("../../migrations/0002_history_counts.sql")),
    (3, include_str!("../../migrations/0003_history_latest.sql")),
    (4, include_str!("../../migrations/0004_skipped_hours.sql")),
    (5, include_str!("../../migrations/0005_machine_ips.sql")),
    (6, include_str!("../../migrations/0006_machine_timezone.sql")),
    (7, include_str!("../../migrations/0007_machine_identity.sql")),
    (8, include_str!("../../migrations/0008_settlement.sql")),
    (9, include_str!("../../migrations/0009_machine_health.sql")),
    (10, include_str!("../../migrations/0010_inventory.sql")),
    (11, include_str!("../../migrations/0011_security.sql")),
    (12, include_str!("../../migrations/0012_history_received.sql")),
    (13, include_str!("../../migrations/0013_offset_levels.sql")),
    (settlement::MIGRATION, include_str!("../../migrations/0014_settlement_customer.sql")),
];

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot open the store {path}: {source}")]
    Open { path: PathBuf, source: rusqlite::Error },
    #[error("the store {path} has schema version {found}, newer than this service knows ({known})")]
    TooNew { path: PathBuf, found: u32, known: u32 },
    #[error("store database error: {0}")]
    Db(#[from] rusqlite::Error),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
}

pub struct Store {
    conn: Connection,
}

mod alerts;
mod audit;
mod claims;
mod config;
mod history;
mod identity;
mod inventory;
mod machines;
mod nodes;
mod retention;
mod settlement;
mod settlement_codec;
mod tokens;

pub use alerts::*;
pub use audit::*;
pub use claims::*;
pub use history::*;
pub use identity::AGENT_ACTOR;
pub use inventory::*;
pub use machines::*;
pub use nodes::*;
pub use retention::*;
pub use settlement::*;
pub use tokens::*;

#[derive(Debug, Clone, Default, Serialize)]
pub struct Counts {
    pub machines: i64,
    pub machines_seen_since: i64,
    pub pushes_success: i64,
    pub pushes_failure: i64,
    pub alerts: i64,
    pub deliveries_sent: i64,
    pub deliveries_failed: i64,
    pub deliveries_pending: i64,
    pub open_incidents: i64,
}

/// A machine's config with its node's offsets: `config_from_row` reads these columns of
/// [`CONFIG_FROM`] (`c` the machine's config, `n` its node's).
macro_rules! config_columns {
    () => {
        "c.version, c.push_enabled, c.acceptance, c.interface, c.offset_bp, c.node, c.isp_id, c.device_type, \
         c.offset_fixed_bytes, n.offset_bp, n.offset_fixed_bytes"
    };
}
pub(super) use config_columns;

/// The node's offsets beside a machine config `c` (a node nobody set offsets for has no row).
pub(super) const NODE_JOIN: &str = "LEFT JOIN node_config n ON n.node = c.node";
/// The machine config joined with its node's.
pub(super) const CONFIG_FROM: &str = "machine_config c LEFT JOIN node_config n ON n.node = c.node";

pub(super) const MACHINE_COLUMNS: &str = concat!(
    "m.id, m.machine_uid, m.hostname, m.mac, m.agent_version, m.chosen_interface, \
     m.ambiguous, m.interfaces, m.backlog_outbox_hours, m.backlog_history_items, m.backlog_held_hours, \
     m.last_push, m.agent_time, m.first_seen_at, m.last_seen_at, ",
    config_columns!(),
    ", m.facts, m.duplicate_of, m.report_timezone, \
     m.os_hostname, m.ops_host_id, m.reported_host_name, m.management_ip, m.reported_node, m.host_name_set_by, \
     c.node_set_by, m.health"
);

impl Store {
    /// Open (creating if needed) the store at `path` and bring its schema up to date.
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        let open_err = |source| StoreError::Open { path: path.to_owned(), source };
        let conn = Connection::open(path).map_err(open_err)?;
        conn.busy_timeout(Duration::from_secs(5)).map_err(open_err)?;
        conn.pragma_update(None, "journal_mode", "WAL").map_err(open_err)?;
        conn.pragma_update(None, "foreign_keys", "ON").map_err(open_err)?;
        conn.pragma_update(None, "synchronous", "NORMAL").map_err(open_err)?;
        let mut store = Store { conn };
        store.migrate(path)?;
        Ok(store)
    }

    /// A second, read-only connection to the store at `path` (already opened and migrated by
    /// [`Store::open`]), for long reports (settlement): in WAL mode its reads neither wait for
    /// nor block the writers of the main connection, so agents are not held up by a report.
    pub fn open_reader(path: &Path) -> Result<Store, StoreError> {
        use rusqlite::OpenFlags;
        let open_err = |source| StoreError::Open { path: path.to_owned(), source };
        let flags =
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX | OpenFlags::SQLITE_OPEN_URI;
        let conn = Connection::open_with_flags(path, flags).map_err(open_err)?;
        conn.busy_timeout(Duration::from_secs(5)).map_err(open_err)?;
        // Pages are read through a memory map rather than copied in by read(2): a month's
        // settlement rows of a fleet are ~100 MiB read whole for every table.
        conn.pragma_update(None, "mmap_size", 1_i64 << 30).map_err(open_err)?;
        Ok(Store { conn })
    }

    fn migrate(&mut self, path: &Path) -> Result<(), StoreError> {
        let current: u32 = self.conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
        let known = MIGRATIONS.last().map_or(0, |m| m.0);
        if current > known {
            return Err(StoreError::TooNew { path: path.to_owned(), found: current, known });
        }
        for (version, sql) in MIGRATIONS.iter().filter(|m| m.0 > current) {
            log::info!(
                "migrating the store schema to version {version} (minutes on a store of millions of rows)"
            );
            let tx = self.conn.transaction()?;
            tx.execute_batch(sql)?;
            if *version == settlement::MIGRATION {
                settlement::backfill(&tx)?;
            }
            tx.pragma_update(None, "user_version", version)?;
            tx.commit()?;
            log::info!("store schema migrated to version {version}");
        }
        let has_global: bool =
            self.conn.query_row("SELECT EXISTS (SELECT 1 FROM global_config)", [], |r| r.get(0))?;
        if !has_global {
            self.conn.execute(
                "INSERT INTO global_config (version, doc, changed_at, changed_by) VALUES (1, ?1, 0, 'system')",
                [to_json(&GlobalDoc::default())?],
            )?;
        }
        Ok(())
    }

    /// Run `f` in one write transaction taken before it reads anything (BEGIN IMMEDIATE): a
    /// check pass of `serve` and a `runcheck` beside it run one after the other, and the second
    /// sees the incidents the first opened. On error nothing of `f` is kept.
    pub fn write_exclusively<T>(
        &mut self,
        f: impl FnOnce(&mut Store) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        self.conn.execute_batch("BEGIN IMMEDIATE")?;
        match f(self) {
            Ok(value) => {
                self.conn.execute_batch("COMMIT")?;
                Ok(value)
            }
            Err(e) => {
                let _ = self.conn.execute_batch("ROLLBACK");
                Err(e)
            }
        }
    }

    /// A write transaction that takes the write lock before it reads (BEGIN IMMEDIATE): a
    /// deferred one that reads first and writes later fails at once with "database is locked"
    /// when another connection (a `runcheck` beside `serve`) wrote in between, whatever the
    /// busy timeout; an immediate one waits its turn.
    pub(super) fn write_tx(&mut self) -> Result<rusqlite::Transaction<'_>, StoreError> {
        Ok(self.conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?)
    }

    pub fn schema_version(&self) -> Result<u32, StoreError> {
        Ok(self.conn.pragma_query_value(None, "user_version", |r| r.get(0))?)
    }

    // ---- tokens and users ----

    /// One page of a whole table: its row count and the rows `select` (with `LIMIT ?1 OFFSET
    /// ?2`) returns, each mapped by `row`.
    /// One page of `table` (of one machine when `machine_id` is given; the table's
    /// (machine_id, ...) index serves both the count and the page) with its exact total.
    #[allow(clippy::too_many_arguments)]
    fn page<T>(
        &self,
        table: &str,
        machine_id: Option<i64>,
        columns: &str,
        order: &str,
        limit: u32,
        offset: u64,
        row: impl FnMut(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
    ) -> Result<(u64, Vec<T>), StoreError> {
        let (filter, args): (&str, Vec<i64>) = match machine_id {
            Some(id) => ("WHERE machine_id = ?3", vec![i64::from(limit), offset as i64, id]),
            None => ("", vec![i64::from(limit), offset as i64]),
        };
        let total: i64 = self.conn.query_row(
            &format!("SELECT COUNT(*) FROM {table} {}", filter.replace("?3", "?1")),
            params_from_iter(machine_id.iter()),
            |r| r.get(0),
        )?;
        let rows = self
            .conn
            .prepare(&format!("SELECT {columns} FROM {table} {filter} ORDER BY {order} LIMIT ?1 OFFSET ?2"))?
            .query_map(params_from_iter(args.iter()), row)?
            .collect::<Result<Vec<_>, _>>()?;
        Ok((total as u64, rows))
    }

    pub fn counts(&self, seen_since: i64) -> Result<Counts, StoreError> {
        let one = |sql: &str| -> Result<i64, StoreError> { Ok(self.conn.query_row(sql, [], |r| r.get(0))?) };
        Ok(Counts {
            machines: one("SELECT COUNT(*) FROM machines")?,
            machines_seen_since: self.conn.query_row(
                "SELECT COUNT(*) FROM machines WHERE last_seen_at >= ?1",
                [seen_since],
                |r| r.get(0),
            )?,
            // Trigger-kept (migration 0003): exact, without counting millions of rows.
            pushes_success: one(
                "SELECT COALESCE(SUM(n), 0) FROM history_hour_counts WHERE latest = 0 AND status = 'success'",
            )?,
            pushes_failure: one(
                "SELECT COALESCE(SUM(n), 0) FROM history_hour_counts WHERE latest = 0 AND status = 'failure'",
            )?,
            alerts: one("SELECT COUNT(*) FROM alerts")?,
            deliveries_sent: one("SELECT COUNT(*) FROM deliveries WHERE status = 'sent'")?,
            deliveries_failed: one("SELECT COUNT(*) FROM deliveries WHERE status = 'failed'")?,
            deliveries_pending: one("SELECT COUNT(*) FROM deliveries WHERE status = 'pending'")?,
            open_incidents: one("SELECT COUNT(*) FROM incidents WHERE resolved_at IS NULL")?,
        })
    }

    // ---- retention ----

    /// Everything that matters for "the store is unchanged" in tests: row counts per table.
    pub fn table_counts(&self) -> Result<Vec<(String, i64)>, StoreError> {
        let mut counts = Vec::new();
        for table in [
            "machines",
            "mac_history",
            "machine_config",
            "node_config",
            "global_config",
            "push_history",
            "history_conflicts",
            "verifications",
            "held_hours",
            "skipped_hours",
            "settlement_days",
            "incidents",
            "alerts",
            "deliveries",
            "audit_log",
            "users",
            "api_tokens",
        ] {
            let n: i64 = self.conn.query_row(&format!("SELECT COUNT(*) FROM {table}"), [], |r| r.get(0))?;
            counts.push((table.to_owned(), n));
        }
        Ok(counts)
    }
}

pub(super) fn count(changed: usize, inserted: &mut u64, duplicates: &mut u64) {
    if changed == 0 {
        *duplicates += 1;
    } else {
        *inserted += 1;
    }
}

/// Validation keeps values within i64; this only guards the conversion.
pub(super) fn clamp(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

pub(super) fn to_json<T: Serialize>(value: &T) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(|e| StoreError::Corrupt(e.to_string()))
}

pub(super) fn escape_like(text: &str) -> String {
    text.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_")
}

pub(super) fn acceptance_str(a: Acceptance) -> &'static str {
    match a {
        Acceptance::Accepted => "accepted",
        Acceptance::UnderAcceptance => "under_acceptance",
    }
}

pub(super) fn config_from_row(r: &Row<'_>, at: usize) -> rusqlite::Result<MachineConfig> {
    let acceptance: String = r.get(at + 2)?;
    Ok(MachineConfig {
        version: r.get(at)?,
        push_enabled: r.get(at + 1)?,
        acceptance: if acceptance == "under_acceptance" {
            Acceptance::UnderAcceptance
        } else {
            Acceptance::Accepted
        },
        interface: r.get(at + 3)?,
        offset_bp: r.get(at + 4)?,
        node: r.get(at + 5)?,
        isp_id: r.get(at + 6)?,
        device_type: r.get(at + 7)?,
        offset_fixed_bytes: r.get(at + 8)?,
        node_offset_bp: r.get(at + 9)?,
        node_offset_fixed_bytes: r.get(at + 10)?,
    })
}

pub(super) fn machine_from_row(r: &Row<'_>) -> rusqlite::Result<MachineView> {
    let interfaces: String = r.get(7)?;
    let last_push: Option<String> = r.get(11)?;
    Ok(MachineView {
        id: r.get(0)?,
        machine_uid: r.get(1)?,
        hostname: r.get(2)?,
        mac: r.get(3)?,
        agent_version: r.get(4)?,
        chosen_interface: r.get(5)?,
        ambiguous: r.get(6)?,
        interfaces: serde_json::from_str(&interfaces).unwrap_or_default(),
        backlog_outbox_hours: r.get(8)?,
        backlog_history_items: r.get(9)?,
        backlog_held_hours: r.get(10)?,
        last_push: last_push.and_then(|p| serde_json::from_str(&p).ok()),
        agent_time: r.get(12)?,
        first_seen_at: r.get(13)?,
        last_seen_at: r.get(14)?,
        config: config_from_row(r, 15)?,
        facts: serde_json::from_str(&r.get::<_, String>(26)?).unwrap_or_default(),
        duplicate_of: r.get(27)?,
        report_timezone: r.get(28)?,
        os_hostname: r.get(29)?,
        identity: Identity {
            ops_host_id: r.get(30)?,
            host_name: r.get(31)?,
            management_ip: r.get(32)?,
            node: r.get(33)?,
        },
        host_name_set_by: r.get(34)?,
        node_set_by: r.get(35)?,
        health: r.get::<_, Option<String>>(36)?.and_then(|h| serde_json::from_str(&h).ok()),
    })
}

#[allow(clippy::too_many_arguments)]
pub(super) fn audit(
    tx: &rusqlite::Transaction<'_>,
    at: i64,
    actor: &str,
    entity: &str,
    entity_id: &str,
    field: &str,
    old_value: Option<String>,
    new_value: Option<String>,
) -> Result<(), StoreError> {
    tx.execute(
        "INSERT INTO audit_log (at, actor, entity, entity_id, field, old_value, new_value)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![at, actor, entity, entity_id, field, old_value, new_value],
    )?;
    Ok(())
}

/// `{"a":{"b":1}}` → `[("a.b", "1")]`; arrays stay whole (alert channels are audited as one).
pub(super) fn flatten(value: &serde_json::Value) -> Vec<(String, String)> {
    fn walk(prefix: &str, value: &serde_json::Value, out: &mut Vec<(String, String)>) {
        match value {
            serde_json::Value::Object(map) => {
                for (k, v) in map {
                    let key = if prefix.is_empty() { k.clone() } else { format!("{prefix}.{k}") };
                    walk(&key, v, out);
                }
            }
            other => out.push((prefix.to_owned(), other.to_string())),
        }
    }
    let mut out = Vec::new();
    walk("", value, &mut out);
    out
}

#[cfg(test)]
mod tests;
