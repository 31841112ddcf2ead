//! Everything persistent, behind one boundary: all SQL of the service lives in this module.
//! SQLite in WAL mode; numbered migrations, each applied in its own transaction, the schema
//! version in `PRAGMA user_version`. A PostgreSQL store would implement the same methods.

use std::path::{Path, PathBuf};
use std::time::Duration;

use pushagent_proto::agent::{Acceptance, HeartbeatRequest, HistoryBatch, MachineConfig, RegisterRequest};
use rusqlite::{params, params_from_iter, Connection, OptionalExtension, Row};
use serde::Serialize;

use crate::global::GlobalDoc;

const MIGRATIONS: &[(u32, &str)] = &[
    (1, include_str!("../migrations/0001_init.sql")),
    (2, include_str!("../migrations/0002_history_counts.sql")),
    (3, include_str!("../migrations/0003_history_latest.sql")),
    (4, include_str!("../migrations/0004_skipped_hours.sql")),
    (5, include_str!("../migrations/0005_machine_ips.sql")),
    (6, include_str!("../migrations/0006_machine_timezone.sql")),
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

/// A machine as the admin API lists it.
#[derive(Debug, Clone, Serialize)]
pub struct MachineView {
    pub id: i64,
    pub machine_uid: String,
    pub hostname: String,
    pub mac: String,
    pub agent_version: String,
    pub chosen_interface: Option<String>,
    pub ambiguous: bool,
    pub interfaces: serde_json::Value,
    pub backlog_outbox_hours: i64,
    pub backlog_history_items: i64,
    pub backlog_held_hours: i64,
    pub last_push: Option<serde_json::Value>,
    pub agent_time: Option<i64>,
    pub first_seen_at: i64,
    pub last_seen_at: i64,
    pub config: MachineConfig,
    /// `pushagent info` as the agent last sent it.
    pub facts: serde_json::Value,
    /// Registered beside this live machine with the same /etc/machine-id (a clone).
    pub duplicate_of: Option<i64>,
    /// The report time zone the agent names its hours in (`UTC+08:00`); None: not told.
    pub report_timezone: Option<String>,
}

#[derive(Debug, Clone, Default)]
pub struct MachineFilter {
    /// Substring of hostname, MAC, machine uid or one of its IP addresses.
    pub search: Option<String>,
    /// Exact agent version.
    pub version: Option<String>,
    pub node: Option<String>,
    pub push_enabled: Option<bool>,
    /// Seen since this unix time (online) / not since (offline).
    pub seen_since: Option<i64>,
    pub not_seen_since: Option<i64>,
    pub sort: MachineSort,
    pub descending: bool,
    pub limit: u32,
    pub offset: u64,
}

#[derive(Debug, Clone, Copy, Default)]
pub enum MachineSort {
    #[default]
    Hostname,
    LastSeen,
    Mac,
    Node,
}

/// What one retention pass deleted.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Pruned {
    pub history_hours: u64,
    pub history_rows: u64,
    pub verifications: u64,
    pub held_hours: u64,
    pub skipped_hours: u64,
    pub alerts: u64,
    pub incidents: u64,
    pub sessions: u64,
}

impl Pruned {
    /// Anything but expired sessions (those go every hour, not worth a log line).
    pub fn deleted_data(&self) -> bool {
        self.history_rows
            + self.verifications
            + self.held_hours
            + self.skipped_hours
            + self.alerts
            + self.incidents
            > 0
    }
}

impl std::ops::AddAssign for Pruned {
    fn add_assign(&mut self, other: Pruned) {
        self.history_hours += other.history_hours;
        self.history_rows += other.history_rows;
        self.verifications += other.verifications;
        self.held_hours += other.held_hours;
        self.skipped_hours += other.skipped_hours;
        self.alerts += other.alerts;
        self.incidents += other.incidents;
        self.sessions += other.sessions;
    }
}

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
    pub status: String,
    pub http_status: Option<i64>,
    pub code: Option<i64>,
    pub message: Option<String>,
    pub attempted_at: i64,
    pub received_at: i64,
    /// How many attempts of this (mac, flux_hour), all versions.
    pub hour_attempts: i64,
}

/// A partial update of machine config; `Some(None)` clears a nullable field.
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigPatch {
    #[serde(default)]
    pub push_enabled: Option<bool>,
    #[serde(default)]
    pub acceptance: Option<Acceptance>,
    #[serde(default, deserialize_with = "nullable")]
    pub interface: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    pub offset_bp: Option<Option<i32>>,
    #[serde(default, deserialize_with = "nullable")]
    pub node: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    pub isp_id: Option<Option<i64>>,
    #[serde(default, deserialize_with = "nullable")]
    pub device_type: Option<Option<i64>>,
}

fn nullable<'de, T: serde::Deserialize<'de>, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<Option<T>>, D::Error> {
    <Option<T> as serde::Deserialize>::deserialize(d).map(Some)
}

/// What the checks need to know of one machine.
#[derive(Debug, Clone)]
pub struct CheckSubject {
    pub id: i64,
    pub hostname: String,
    pub mac: String,
    pub node: Option<String>,
    pub last_seen_at: i64,
    pub push_enabled: bool,
    /// Statuses of the latest push attempts, newest first ("success"/"failure").
    pub recent_statuses: Vec<String>,
    pub last_push_message: Option<String>,
    pub held_hours: Vec<String>,
    pub ambiguous_unconfirmed: bool,
    pub uncorrected_mismatches: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct Incident {
    pub id: i64,
    pub kind: String,
    pub machine_id: Option<i64>,
    pub opened_at: i64,
    pub last_notified_at: i64,
    pub quiet: bool,
}

#[derive(Debug, Clone)]
pub struct Duplicate {
    pub machine_id: i64,
    pub hostname: String,
    pub mac: String,
    pub machine_uid: String,
    pub other_hostname: String,
    pub other_mac: String,
    pub registered_at: i64,
}

#[derive(Debug, Clone)]
pub struct MacChange {
    pub id: i64,
    pub machine_id: i64,
    pub hostname: String,
    pub old_mac: String,
    pub new_mac: String,
    pub changed_at: i64,
}

#[derive(Debug, Clone)]
pub struct DueDelivery {
    pub id: i64,
    pub channel: String,
    pub attempts: i64,
    pub alert_kind: String,
    pub title: String,
    pub body: String,
    pub created_at: i64,
    pub machine_id: Option<i64>,
    pub incident_id: Option<i64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct AlertRow {
    pub id: i64,
    pub incident_id: Option<i64>,
    pub kind: String,
    pub machine_id: Option<i64>,
    pub title: String,
    pub body: String,
    pub created_at: i64,
    pub deliveries: Vec<DeliveryRow>,
}

#[derive(Debug, Clone, Serialize)]
pub struct DeliveryRow {
    pub channel: String,
    pub status: String,
    pub attempts: i64,
    pub last_error: Option<String>,
    pub sent_at: Option<i64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct AuditRow {
    pub id: i64,
    pub at: i64,
    pub actor: String,
    pub entity: String,
    pub entity_id: String,
    pub field: String,
    pub old_value: Option<String>,
    pub new_value: Option<String>,
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

/// Machines by state, for the overview (one pass over `machines`).
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct FleetCounts {
    pub deployed: i64,
    /// Seen at or after the online cut-off.
    pub online: i64,
    /// Their own push switch is off.
    pub switched_off: i64,
    pub under_acceptance: i64,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct VersionCount {
    pub version: String,
    pub count: i64,
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

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct MacHistoryRow {
    pub id: i64,
    pub old_mac: String,
    pub new_mac: String,
    pub changed_at: i64,
}

/// The login state of one user.
#[derive(Debug, Clone)]
pub struct UserLogin {
    pub id: i64,
    pub password_hash: String,
    pub failed_logins: i64,
    pub locked_until: i64,
}

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

const MACHINE_COLUMNS: &str = "m.id, m.machine_uid, m.hostname, m.mac, m.agent_version, m.chosen_interface, \
     m.ambiguous, m.interfaces, m.backlog_outbox_hours, m.backlog_history_items, m.backlog_held_hours, \
     m.last_push, m.agent_time, m.first_seen_at, m.last_seen_at, \
     c.version, c.push_enabled, c.acceptance, c.interface, c.offset_bp, c.node, c.isp_id, c.device_type, m.facts, \
     m.duplicate_of, m.report_timezone";

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

    pub fn schema_version(&self) -> Result<u32, StoreError> {
        Ok(self.conn.pragma_query_value(None, "user_version", |r| r.get(0))?)
    }

    // ---- tokens and users ----

    pub fn add_enrollment_token(&self, token_hash: &str, now: i64) -> Result<(), StoreError> {
        self.conn.execute(
            "INSERT INTO enrollment_tokens (token_hash, created_at) VALUES (?1, ?2)",
            params![token_hash, now],
        )?;
        Ok(())
    }

    pub fn enrollment_token_exists(&self, token_hash: &str) -> Result<bool, StoreError> {
        Ok(self.conn.query_row(
            "SELECT EXISTS (SELECT 1 FROM enrollment_tokens WHERE token_hash = ?1)",
            [token_hash],
            |r| r.get(0),
        )?)
    }

    pub fn add_api_token(&self, name: &str, token_hash: &str, now: i64) -> Result<(), StoreError> {
        let inserted = self.conn.execute(
            "INSERT INTO api_tokens (name, token_hash, created_at) VALUES (?1, ?2, ?3) ON CONFLICT (name) DO NOTHING",
            params![name, token_hash, now],
        )?;
        if inserted == 0 {
            return Err(StoreError::Conflict(format!("an API token named {name:?} exists already")));
        }
        Ok(())
    }

    pub fn api_token_name(&self, token_hash: &str) -> Result<Option<String>, StoreError> {
        Ok(self
            .conn
            .query_row("SELECT name FROM api_tokens WHERE token_hash = ?1", [token_hash], |r| r.get(0))
            .optional()?)
    }

    pub fn add_user(&self, name: &str, password_hash: &str, now: i64) -> Result<(), StoreError> {
        let inserted = self.conn.execute(
            "INSERT INTO users (name, password_hash, created_at) VALUES (?1, ?2, ?3) ON CONFLICT (name) DO NOTHING",
            params![name, password_hash, now],
        )?;
        if inserted == 0 {
            return Err(StoreError::Conflict(format!("user {name:?} exists already")));
        }
        Ok(())
    }

    /// New password; also lifts a lockout.
    pub fn set_password(&self, name: &str, password_hash: &str) -> Result<(), StoreError> {
        let updated = self.conn.execute(
            "UPDATE users SET password_hash = ?2, failed_logins = 0, locked_until = 0 WHERE name = ?1",
            params![name, password_hash],
        )?;
        if updated == 0 {
            return Err(StoreError::NotFound(format!("no user {name:?}")));
        }
        Ok(())
    }

    pub fn user_login(&self, name: &str) -> Result<Option<UserLogin>, StoreError> {
        Ok(self
            .conn
            .query_row(
                "SELECT id, password_hash, failed_logins, locked_until FROM users WHERE name = ?1",
                [name],
                |r| {
                    Ok(UserLogin {
                        id: r.get(0)?,
                        password_hash: r.get(1)?,
                        failed_logins: r.get(2)?,
                        locked_until: r.get(3)?,
                    })
                },
            )
            .optional()?)
    }

    /// Counts a failed login; the `max_failures`th locks the user until `now + lock_secs`.
    pub fn login_failed(
        &self,
        user_id: i64,
        now: i64,
        max_failures: i64,
        lock_secs: i64,
    ) -> Result<(), StoreError> {
        self.conn.execute(
            "UPDATE users SET
                 locked_until = CASE WHEN failed_logins + 1 >= ?2 THEN ?3 ELSE locked_until END,
                 failed_logins = CASE WHEN failed_logins + 1 >= ?2 THEN 0 ELSE failed_logins + 1 END
             WHERE id = ?1",
            params![user_id, max_failures, now + lock_secs],
        )?;
        Ok(())
    }

    pub fn login_succeeded(
        &self,
        user_id: i64,
        session_hash: &str,
        expires_at: i64,
    ) -> Result<(), StoreError> {
        self.conn.execute("UPDATE users SET failed_logins = 0 WHERE id = ?1", [user_id])?;
        self.conn.execute(
            "INSERT INTO sessions (token_hash, user_id, expires_at) VALUES (?1, ?2, ?3)",
            params![session_hash, user_id, expires_at],
        )?;
        Ok(())
    }

    pub fn session_user(&self, session_hash: &str, now: i64) -> Result<Option<String>, StoreError> {
        Ok(self
            .conn
            .query_row(
                "SELECT u.name FROM sessions s JOIN users u ON u.id = s.user_id
                 WHERE s.token_hash = ?1 AND s.expires_at > ?2",
                params![session_hash, now],
                |r| r.get(0),
            )
            .optional()?)
    }

    pub fn delete_session(&self, session_hash: &str) -> Result<(), StoreError> {
        self.conn.execute("DELETE FROM sessions WHERE token_hash = ?1", [session_hash])?;
        Ok(())
    }

    // ---- agents ----

    /// Register (or re-register) a machine by its machine-id; its previous token stops working.
    /// Returns the machine's id.
    /// Register (or re-register) the machine `req` describes; returns its id. Identity is
    /// /etc/machine-id, but cloned images share it: when the machine under that id is alive
    /// (seen at or after `alive_after`) with another MAC, the newcomer is a clone and gets a
    /// machine of its own (`<machine-id>#2`, ...) marked as a duplicate (an alert says so),
    /// instead of taking the other's token. A machine under that id not seen lately, with
    /// another MAC, is the same machine re-installed with a new NIC: its MAC change is kept.
    pub fn register_machine(
        &mut self,
        req: &RegisterRequest,
        mac: &str,
        facts_json: &str,
        token_hash: &str,
        now: i64,
        alive_after: i64,
    ) -> Result<i64, StoreError> {
        let tx = self.conn.transaction()?;
        let uid = &req.machine_id;
        // The same id and MAC: this machine (or one of its clones) registering again.
        let same: Option<i64> = tx
            .query_row(
                "SELECT id FROM machines WHERE (machine_uid = ?1 OR machine_uid LIKE ?2 ESCAPE '\\') AND mac = ?3
                 ORDER BY id LIMIT 1",
                params![uid, format!("{}#%", escape_like(uid)), mac],
                |r| r.get(0),
            )
            .optional()?;
        let under_id: Option<(i64, String, i64)> = tx
            .query_row("SELECT id, mac, last_seen_at FROM machines WHERE machine_uid = ?1", [uid], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?))
            })
            .optional()?;
        let reuse = match (same, &under_id) {
            (Some(id), _) => Some(id),
            (None, Some((id, _, last_seen))) if *last_seen < alive_after => Some(*id),
            _ => None,
        };
        let id = match reuse {
            Some(id) => {
                let old_mac: String =
                    tx.query_row("SELECT mac FROM machines WHERE id = ?1", [id], |r| r.get(0))?;
                tx.execute(
                    "UPDATE machines SET hostname = ?2, mac = ?3, agent_version = ?4, facts = ?5, token_hash = ?6,
                         last_seen_at = ?7 WHERE id = ?1",
                    params![id, req.hostname, mac, req.agent_version, facts_json, token_hash, now],
                )?;
                if old_mac != mac {
                    tx.execute(
                        "INSERT INTO mac_history (machine_id, old_mac, new_mac, changed_at) VALUES (?1, ?2, ?3, ?4)",
                        params![id, old_mac, mac, now],
                    )?;
                }
                id
            }
            None => {
                // A clone of a live machine gets the first free `#n` id.
                let (machine_uid, duplicate_of) = match &under_id {
                    Some((other, _, _)) => {
                        let mut n = 2;
                        loop {
                            let candidate = format!("{uid}#{n}");
                            let taken: bool = tx.query_row(
                                "SELECT EXISTS (SELECT 1 FROM machines WHERE machine_uid = ?1)",
                                [&candidate],
                                |r| r.get(0),
                            )?;
                            if !taken {
                                break (candidate, Some(*other));
                            }
                            n += 1;
                        }
                    }
                    None => (uid.clone(), None),
                };
                tx.execute(
                    "INSERT INTO machines (machine_uid, hostname, mac, agent_version, facts, first_seen_at, last_seen_at,
                         token_hash, duplicate_of) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6, ?7, ?8)",
                    params![machine_uid, req.hostname, mac, req.agent_version, facts_json, now, token_hash, duplicate_of],
                )?;
                let id = tx.last_insert_rowid();
                tx.execute(
                    "INSERT INTO machine_config (machine_id, version, push_enabled, acceptance, updated_at)
                     VALUES (?1, 1, 1, 'accepted', ?2)",
                    params![id, now],
                )?;
                id
            }
        };
        tx.commit()?;
        Ok(id)
    }

    pub fn machine_by_token(&self, token_hash: &str) -> Result<Option<i64>, StoreError> {
        Ok(self
            .conn
            .query_row("SELECT id FROM machines WHERE token_hash = ?1", [token_hash], |r| r.get(0))
            .optional()?)
    }

    /// Store a heartbeat; a new MAC is recorded in the MAC history. Returns the machine and
    /// global config versions.
    pub fn record_heartbeat(
        &mut self,
        machine_id: i64,
        hb: &HeartbeatRequest,
        mac: &str,
        facts_json: Option<&str>,
        now: i64,
    ) -> Result<(i64, i64), StoreError> {
        let tx = self.conn.transaction()?;
        let old_mac: String =
            tx.query_row("SELECT mac FROM machines WHERE id = ?1", [machine_id], |r| r.get(0))?;
        if old_mac != mac {
            tx.execute(
                "INSERT INTO mac_history (machine_id, old_mac, new_mac, changed_at) VALUES (?1, ?2, ?3, ?4)",
                params![machine_id, old_mac, mac, now],
            )?;
        }
        let last_push = hb.last_push.as_ref().map(to_json).transpose()?;
        tx.execute(
            "UPDATE machines SET hostname = ?2, mac = ?3, agent_version = ?4, interfaces = ?5, chosen_interface = ?6,
                 ambiguous = ?7, backlog_outbox_hours = ?8, backlog_history_items = ?9, backlog_held_hours = ?10,
                 last_push = COALESCE(?11, last_push), agent_time = ?12, last_seen_at = ?13,
                 facts = COALESCE(?14, facts), report_timezone = COALESCE(?15, report_timezone)
             WHERE id = ?1",
            params![
                machine_id,
                hb.hostname,
                mac,
                hb.agent_version,
                to_json(&hb.interfaces)?,
                hb.chosen_interface,
                hb.ambiguous,
                clamp(hb.backlog.outbox_hours),
                clamp(hb.backlog.history_items),
                clamp(hb.backlog.held_hours),
                last_push,
                hb.agent_time,
                now,
                facts_json,
                hb.report_timezone,
            ],
        )?;
        let machine_version: i64 =
            tx.query_row("SELECT version FROM machine_config WHERE machine_id = ?1", [machine_id], |r| {
                r.get(0)
            })?;
        let global_version: i64 = tx.query_row("SELECT MAX(version) FROM global_config", [], |r| r.get(0))?;
        tx.commit()?;
        Ok((machine_version, global_version))
    }

    /// Store a batch of push results, verifications, held and skipped hours in one
    /// transaction; an item already stored (same identity) is skipped. Returns (inserted,
    /// duplicates), all kinds together.
    pub fn insert_history(
        &mut self,
        machine_id: i64,
        batch: &HistoryBatch,
        now: i64,
    ) -> Result<(u64, u64), StoreError> {
        let tx = self.conn.transaction()?;
        let (mut inserted, mut duplicates) = (0u64, 0u64);
        {
            let mut push = tx.prepare(
                "INSERT INTO push_history (machine_id, mac, flux_hour, version, attempt, raw_bytes, pushed_bytes,
                     raw_points, pushed_points, offset_bp, status, http_status, code, message, attempted_at, received_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)
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
                ])?;
                count(n, &mut inserted, &mut duplicates);
            }
            let mut verification = tx.prepare(
                "INSERT INTO verifications (machine_id, mac, flux_hour, version, matched, corrected, verified_at, message)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
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
                    v.message
                ])?;
                count(n, &mut inserted, &mut duplicates);
            }
            let mut held = tx.prepare(
                "INSERT INTO held_hours (machine_id, mac, flux_hour, reason, held_at) VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT (mac, flux_hour) DO NOTHING",
            )?;
            for h in &batch.held {
                let n = held.execute(params![machine_id, h.mac, h.flux_hour, h.reason, h.held_at])?;
                count(n, &mut inserted, &mut duplicates);
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
            }
        }
        tx.commit()?;
        Ok((inserted, duplicates))
    }

    pub fn machine_config(&self, machine_id: i64) -> Result<MachineConfig, StoreError> {
        self.conn
            .query_row(
                "SELECT version, push_enabled, acceptance, interface, offset_bp, node, isp_id, device_type
                 FROM machine_config WHERE machine_id = ?1",
                [machine_id],
                |r| config_from_row(r, 0),
            )
            .optional()?
            .ok_or_else(|| StoreError::NotFound(format!("no machine {machine_id}")))
    }

    /// The global config in force and its version.
    pub fn global(&self) -> Result<(i64, GlobalDoc), StoreError> {
        let (version, doc): (i64, String) = self.conn.query_row(
            "SELECT version, doc FROM global_config ORDER BY version DESC LIMIT 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?;
        let doc = serde_json::from_str(&doc)
            .map_err(|e| StoreError::Corrupt(format!("global config {version}: {e}")))?;
        Ok((version, doc))
    }

    /// Store a new version of the global config (when it differs) and audit each changed field.
    pub fn update_global(&mut self, doc: &GlobalDoc, actor: &str, now: i64) -> Result<i64, StoreError> {
        let (version, old) = self.global()?;
        if &old == doc {
            return Ok(version);
        }
        let tx = self.conn.transaction()?;
        let new_version = version + 1;
        tx.execute(
            "INSERT INTO global_config (version, doc, changed_at, changed_by) VALUES (?1, ?2, ?3, ?4)",
            params![new_version, to_json(doc)?, now, actor],
        )?;
        let old_flat = flatten(&old.redacted(version));
        let new_flat = flatten(&doc.redacted(new_version));
        for (field, new_value) in &new_flat {
            let old_value = old_flat.iter().find(|(f, _)| f == field).map(|(_, v)| v.clone());
            if field != "version" && old_value.as_ref() != Some(new_value) {
                audit(
                    &tx,
                    now,
                    actor,
                    "global_config",
                    &new_version.to_string(),
                    field,
                    old_value,
                    Some(new_value.clone()),
                )?;
            }
        }
        if old.customer.secret != doc.customer.secret {
            audit(
                &tx,
                now,
                actor,
                "global_config",
                &new_version.to_string(),
                "customer.secret",
                Some("<old>".into()),
                Some("<changed>".into()),
            )?;
        }
        for (field, old_value) in &old_flat {
            if !new_flat.iter().any(|(f, _)| f == field) {
                audit(
                    &tx,
                    now,
                    actor,
                    "global_config",
                    &new_version.to_string(),
                    field,
                    Some(old_value.clone()),
                    None,
                )?;
            }
        }
        tx.commit()?;
        Ok(new_version)
    }

    // ---- admin: machines ----

    pub fn list_machines(&self, f: &MachineFilter) -> Result<(u64, Vec<MachineView>), StoreError> {
        let mut clauses = Vec::new();
        let mut args: Vec<rusqlite::types::Value> = Vec::new();
        if let Some(search) = &f.search {
            args.push(format!("%{}%", escape_like(search)).into());
            let n = args.len();
            clauses.push(format!(
                "(m.hostname LIKE ?{n} ESCAPE '\\' OR m.mac LIKE ?{n} ESCAPE '\\' OR m.machine_uid LIKE ?{n} ESCAPE '\\'
                  OR m.ips LIKE ?{n} ESCAPE '\\')"
            ));
        }
        if let Some(version) = &f.version {
            args.push(version.clone().into());
            clauses.push(format!("m.agent_version = ?{}", args.len()));
        }
        if let Some(node) = &f.node {
            args.push(node.clone().into());
            clauses.push(format!("c.node = ?{}", args.len()));
        }
        if let Some(on) = f.push_enabled {
            args.push(i64::from(on).into());
            clauses.push(format!("c.push_enabled = ?{}", args.len()));
        }
        if let Some(since) = f.seen_since {
            args.push(since.into());
            clauses.push(format!("m.last_seen_at >= ?{}", args.len()));
        }
        if let Some(since) = f.not_seen_since {
            args.push(since.into());
            clauses.push(format!("m.last_seen_at < ?{}", args.len()));
        }
        let filter =
            if clauses.is_empty() { String::new() } else { format!("WHERE {}", clauses.join(" AND ")) };
        let from = "FROM machines m JOIN machine_config c ON c.machine_id = m.id";
        let total: i64 = self.conn.query_row(
            &format!("SELECT COUNT(*) {from} {filter}"),
            params_from_iter(args.iter()),
            |r| r.get(0),
        )?;
        let column = match f.sort {
            MachineSort::Hostname => "m.hostname",
            MachineSort::LastSeen => "m.last_seen_at",
            MachineSort::Mac => "m.mac",
            MachineSort::Node => "c.node",
        };
        let direction = if f.descending { "DESC" } else { "ASC" };
        let sql = format!(
            "SELECT {MACHINE_COLUMNS} {from} {filter} ORDER BY {column} {direction}, m.id {direction} LIMIT {} OFFSET {}",
            f.limit, f.offset
        );
        let mut stmt = self.conn.prepare(&sql)?;
        let rows = stmt
            .query_map(params_from_iter(args.iter()), machine_from_row)?
            .collect::<Result<Vec<_>, _>>()?;
        Ok((total as u64, rows))
    }

    pub fn machine(&self, id: i64) -> Result<MachineView, StoreError> {
        self.conn
            .query_row(
                &format!(
                    "SELECT {MACHINE_COLUMNS} FROM machines m JOIN machine_config c ON c.machine_id = m.id WHERE m.id = ?1"
                ),
                [id],
                machine_from_row,
            )
            .optional()?
            .ok_or_else(|| StoreError::NotFound(format!("no machine {id}")))
    }

    /// Apply `patch` to every machine in `ids` (all or none), auditing each changed field.
    pub fn update_machine_configs(
        &mut self,
        ids: &[i64],
        patch: &ConfigPatch,
        actor: &str,
        now: i64,
    ) -> Result<Vec<MachineConfig>, StoreError> {
        let tx = self.conn.transaction()?;
        let mut updated = Vec::new();
        for &id in ids {
            let old = tx
                .query_row(
                    "SELECT version, push_enabled, acceptance, interface, offset_bp, node, isp_id, device_type
                     FROM machine_config WHERE machine_id = ?1",
                    [id],
                    |r| config_from_row(r, 0),
                )
                .optional()?
                .ok_or_else(|| StoreError::NotFound(format!("no machine {id}")))?;
            let mut new = old.clone();
            if let Some(v) = patch.push_enabled {
                new.push_enabled = v;
            }
            if let Some(v) = patch.acceptance {
                new.acceptance = v;
            }
            if let Some(v) = &patch.interface {
                new.interface.clone_from(v);
            }
            if let Some(v) = patch.offset_bp {
                new.offset_bp = v;
            }
            if let Some(v) = &patch.node {
                new.node.clone_from(v);
            }
            if let Some(v) = patch.isp_id {
                new.isp_id = v;
            }
            if let Some(v) = patch.device_type {
                new.device_type = v;
            }
            if new == old {
                updated.push(new);
                continue;
            }
            new.version = old.version + 1;
            let old_json = serde_json::to_value(&old).unwrap_or_default();
            let new_json = serde_json::to_value(&new).unwrap_or_default();
            for field in
                ["push_enabled", "acceptance", "interface", "offset_bp", "node", "isp_id", "device_type"]
            {
                if old_json[field] != new_json[field] {
                    audit(
                        &tx,
                        now,
                        actor,
                        "machine_config",
                        &id.to_string(),
                        field,
                        Some(old_json[field].to_string()),
                        Some(new_json[field].to_string()),
                    )?;
                }
            }
            tx.execute(
                "UPDATE machine_config SET version = ?2, push_enabled = ?3, acceptance = ?4, interface = ?5,
                     offset_bp = ?6, node = ?7, isp_id = ?8, device_type = ?9, updated_at = ?10
                 WHERE machine_id = ?1",
                params![
                    id,
                    new.version,
                    new.push_enabled,
                    acceptance_str(new.acceptance),
                    new.interface,
                    new.offset_bp,
                    new.node,
                    new.isp_id,
                    new.device_type,
                    now
                ],
            )?;
            updated.push(new);
        }
        tx.commit()?;
        Ok(updated)
    }

    // ---- admin: history, alerts, audit ----

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
                 (SELECT COUNT(*) FROM push_history a WHERE a.mac = h.mac AND a.flux_hour = h.flux_hour)
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
                })
            })?
            .collect::<Result<Vec<_>, _>>()?;
        Ok((total as u64, rows))
    }

    pub fn list_alerts(&self, limit: u32, offset: u64) -> Result<(u64, Vec<AlertRow>), StoreError> {
        let (total, mut alerts) = self.page(
            "alerts",
            None,
            "id, incident_id, kind, machine_id, title, body, created_at",
            "id DESC",
            limit,
            offset,
            |r| {
                Ok(AlertRow {
                    id: r.get(0)?,
                    incident_id: r.get(1)?,
                    kind: r.get(2)?,
                    machine_id: r.get(3)?,
                    title: r.get(4)?,
                    body: r.get(5)?,
                    created_at: r.get(6)?,
                    deliveries: Vec::new(),
                })
            },
        )?;
        let mut deliveries = self.conn.prepare(
            "SELECT channel, status, attempts, last_error, sent_at FROM deliveries WHERE alert_id = ?1 ORDER BY id",
        )?;
        for alert in &mut alerts {
            alert.deliveries = deliveries
                .query_map([alert.id], |r| {
                    Ok(DeliveryRow {
                        channel: r.get(0)?,
                        status: r.get(1)?,
                        attempts: r.get(2)?,
                        last_error: r.get(3)?,
                        sent_at: r.get(4)?,
                    })
                })?
                .collect::<Result<Vec<_>, _>>()?;
        }
        Ok((total, alerts))
    }

    pub fn list_audit(&self, limit: u32, offset: u64) -> Result<(u64, Vec<AuditRow>), StoreError> {
        self.page(
            "audit_log",
            None,
            "id, at, actor, entity, entity_id, field, old_value, new_value",
            "id DESC",
            limit,
            offset,
            |r| {
                Ok(AuditRow {
                    id: r.get(0)?,
                    at: r.get(1)?,
                    actor: r.get(2)?,
                    entity: r.get(3)?,
                    entity_id: r.get(4)?,
                    field: r.get(5)?,
                    old_value: r.get(6)?,
                    new_value: r.get(7)?,
                })
            },
        )
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

    /// A machine's MAC changes, newest first.
    pub fn mac_history(
        &self,
        machine_id: i64,
        limit: u32,
        offset: u64,
    ) -> Result<(u64, Vec<MacHistoryRow>), StoreError> {
        self.machine_exists(machine_id)?;
        self.page(
            "mac_history",
            Some(machine_id),
            "id, old_mac, new_mac, changed_at",
            "changed_at DESC, id DESC",
            limit,
            offset,
            |r| {
                Ok(MacHistoryRow {
                    id: r.get(0)?,
                    old_mac: r.get(1)?,
                    new_mac: r.get(2)?,
                    changed_at: r.get(3)?,
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

    fn machine_exists(&self, machine_id: i64) -> Result<(), StoreError> {
        let exists: bool = self.conn.query_row(
            "SELECT EXISTS (SELECT 1 FROM machines WHERE id = ?1)",
            [machine_id],
            |r| r.get(0),
        )?;
        if exists {
            Ok(())
        } else {
            Err(StoreError::NotFound(format!("no machine {machine_id}")))
        }
    }

    // ---- admin: overview aggregates ----

    /// Machines deployed, online (seen since `seen_since`), switched off, under acceptance.
    pub fn fleet_counts(&self, seen_since: i64) -> Result<FleetCounts, StoreError> {
        Ok(self.conn.query_row(
            "SELECT COUNT(*), COALESCE(SUM(m.last_seen_at >= ?1), 0), COALESCE(SUM(c.push_enabled = 0), 0),
                 COALESCE(SUM(c.acceptance = 'under_acceptance'), 0)
             FROM machines m JOIN machine_config c ON c.machine_id = m.id",
            [seen_since],
            |r| {
                Ok(FleetCounts {
                    deployed: r.get(0)?,
                    online: r.get(1)?,
                    switched_off: r.get(2)?,
                    under_acceptance: r.get(3)?,
                })
            },
        )?)
    }

    /// Agents per version, most common first.
    pub fn agents_by_version(&self) -> Result<Vec<VersionCount>, StoreError> {
        let rows = self
            .conn
            .prepare(
                "SELECT agent_version, COUNT(*) AS n FROM machines GROUP BY agent_version
                 ORDER BY n DESC, agent_version DESC",
            )?
            .query_map([], |r| Ok(VersionCount { version: r.get(0)?, count: r.get(1)? }))?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
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

    /// Delete push history of report hours before `before_hour` (`YYYYMMDDHH`) — at most
    /// `max_hours` hours, oldest first, each hour in its own transaction with its kept counts
    /// and latest rows — plus verifications and held hours before `history_before`, and alerts
    /// (with deliveries) and resolved incidents before `alerts_before`; open incidents and
    /// their alerts stay. `None` keeps that kind. Expired sessions go too.
    pub fn prune(
        &mut self,
        history: Option<(&str, i64)>,
        alerts_before: Option<i64>,
        max_hours: u32,
        now: i64,
    ) -> Result<Pruned, StoreError> {
        let mut pruned = Pruned::default();
        if let Some((before_hour, before)) = history {
            for _ in 0..max_hours {
                let oldest: Option<String> = self.conn.query_row(
                    "SELECT MIN(flux_hour) FROM history_hour_counts WHERE flux_hour < ?1",
                    [before_hour],
                    |r| r.get(0),
                )?;
                let Some(hour) = oldest else { break };
                let tx = self.conn.transaction()?;
                let rows = tx.execute("DELETE FROM push_history WHERE flux_hour = ?1", [&hour])?;
                tx.execute("DELETE FROM history_latest WHERE flux_hour = ?1", [&hour])?;
                tx.execute("DELETE FROM history_hour_counts WHERE flux_hour = ?1", [&hour])?;
                tx.commit()?;
                pruned.history_rows += rows as u64;
                pruned.history_hours += 1;
            }
            pruned.verifications =
                self.conn.execute("DELETE FROM verifications WHERE verified_at < ?1", [before])? as u64;
            pruned.held_hours =
                self.conn.execute("DELETE FROM held_hours WHERE held_at < ?1", [before])? as u64;
            pruned.skipped_hours =
                self.conn.execute("DELETE FROM skipped_hours WHERE decided_at < ?1", [before])? as u64;
        }
        if let Some(before) = alerts_before {
            let tx = self.conn.transaction()?;
            // Alerts of incidents still open are kept whatever their age.
            let old_alerts = "SELECT a.id FROM alerts a WHERE a.created_at < ?1 AND NOT EXISTS (
                 SELECT 1 FROM incidents i WHERE i.id = a.incident_id AND i.resolved_at IS NULL)";
            tx.execute(&format!("DELETE FROM deliveries WHERE alert_id IN ({old_alerts})"), [before])?;
            pruned.alerts =
                tx.execute(&format!("DELETE FROM alerts WHERE id IN ({old_alerts})"), [before])? as u64;
            pruned.incidents = tx.execute(
                "DELETE FROM incidents WHERE resolved_at IS NOT NULL AND resolved_at < ?1
                     AND NOT EXISTS (SELECT 1 FROM alerts a WHERE a.incident_id = incidents.id)",
                [before],
            )? as u64;
            tx.commit()?;
        }
        pruned.sessions = self.conn.execute("DELETE FROM sessions WHERE expires_at <= ?1", [now])? as u64;
        Ok(pruned)
    }

    // ---- checks and alerts ----

    /// Every machine with what the checks look at; `recent` = how many latest attempts.
    pub fn check_subjects(&self, recent: u32) -> Result<Vec<CheckSubject>, StoreError> {
        let mut stmt = self.conn.prepare(
            "SELECT m.id, m.hostname, m.mac, c.node, m.last_seen_at, c.push_enabled,
                 (m.ambiguous = 1 AND c.interface IS NULL)
             FROM machines m JOIN machine_config c ON c.machine_id = m.id ORDER BY m.id",
        )?;
        let mut subjects = stmt
            .query_map([], |r| {
                Ok(CheckSubject {
                    id: r.get(0)?,
                    hostname: r.get(1)?,
                    mac: r.get(2)?,
                    node: r.get(3)?,
                    last_seen_at: r.get(4)?,
                    push_enabled: r.get(5)?,
                    ambiguous_unconfirmed: r.get(6)?,
                    recent_statuses: Vec::new(),
                    last_push_message: None,
                    held_hours: Vec::new(),
                    uncorrected_mismatches: Vec::new(),
                })
            })?
            .collect::<Result<Vec<_>, _>>()?;
        let mut recent_stmt = self.conn.prepare(
            "SELECT status, message FROM push_history WHERE machine_id = ?1 ORDER BY attempted_at DESC, id DESC LIMIT ?2",
        )?;
        // A held hour stays open until a later successful push of the same hour.
        let mut held_stmt = self.conn.prepare(
            "SELECT h.flux_hour FROM held_hours h WHERE h.machine_id = ?1 AND NOT EXISTS (
                 SELECT 1 FROM push_history p WHERE p.mac = h.mac AND p.flux_hour = h.flux_hour
                     AND p.status = 'success' AND p.attempted_at >= h.held_at)
             ORDER BY h.flux_hour",
        )?;
        // The latest verification of each hour decides.
        let mut mismatch_stmt = self.conn.prepare(
            "SELECT v.flux_hour FROM verifications v WHERE v.machine_id = ?1 AND v.matched = 0 AND v.corrected = 0
                 AND v.id = (SELECT v2.id FROM verifications v2 WHERE v2.mac = v.mac AND v2.flux_hour = v.flux_hour
                             ORDER BY v2.verified_at DESC, v2.id DESC LIMIT 1)
             ORDER BY v.flux_hour",
        )?;
        for s in &mut subjects {
            let recent_rows = recent_stmt
                .query_map(params![s.id, recent], |r| {
                    Ok((r.get::<_, String>(0)?, r.get::<_, Option<String>>(1)?))
                })?
                .collect::<Result<Vec<_>, _>>()?;
            s.last_push_message = recent_rows.first().and_then(|r| r.1.clone());
            s.recent_statuses = recent_rows.into_iter().map(|r| r.0).collect();
            s.held_hours = held_stmt.query_map([s.id], |r| r.get(0))?.collect::<Result<Vec<_>, _>>()?;
            s.uncorrected_mismatches =
                mismatch_stmt.query_map([s.id], |r| r.get(0))?.collect::<Result<Vec<_>, _>>()?;
        }
        Ok(subjects)
    }

    pub fn open_incidents(&self) -> Result<Vec<Incident>, StoreError> {
        let mut stmt = self.conn.prepare(
            "SELECT id, kind, machine_id, opened_at, last_notified_at, quiet FROM incidents WHERE resolved_at IS NULL",
        )?;
        let rows = stmt
            .query_map([], |r| {
                Ok(Incident {
                    id: r.get(0)?,
                    kind: r.get(1)?,
                    machine_id: r.get(2)?,
                    opened_at: r.get(3)?,
                    last_notified_at: r.get(4)?,
                    quiet: r.get(5)?,
                })
            })?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    }

    pub fn open_incident(
        &self,
        kind: &str,
        machine_id: Option<i64>,
        summary: &str,
        quiet: bool,
        now: i64,
    ) -> Result<i64, StoreError> {
        self.conn.execute(
            "INSERT INTO incidents (kind, machine_id, opened_at, last_notified_at, summary, quiet)
             VALUES (?1, ?2, ?3, ?3, ?4, ?5)",
            params![kind, machine_id, now, summary, quiet],
        )?;
        Ok(self.conn.last_insert_rowid())
    }

    pub fn resolve_incident(&self, id: i64, now: i64) -> Result<(), StoreError> {
        self.conn.execute("UPDATE incidents SET resolved_at = ?2 WHERE id = ?1", params![id, now])?;
        Ok(())
    }

    pub fn incident_notified(&self, id: i64, now: i64) -> Result<(), StoreError> {
        self.conn.execute("UPDATE incidents SET last_notified_at = ?2 WHERE id = ?1", params![id, now])?;
        Ok(())
    }

    /// Store an alert and one pending delivery per channel. Returns the alert's id.
    #[allow(clippy::too_many_arguments)]
    pub fn add_alert(
        &mut self,
        incident_id: Option<i64>,
        kind: &str,
        machine_id: Option<i64>,
        title: &str,
        body: &str,
        channels: &[String],
        now: i64,
    ) -> Result<i64, StoreError> {
        // A savepoint: this also runs inside a check pass's write transaction.
        let tx = self.conn.savepoint()?;
        tx.execute(
            "INSERT INTO alerts (incident_id, kind, machine_id, title, body, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![incident_id, kind, machine_id, title, body, now],
        )?;
        let alert_id = tx.last_insert_rowid();
        for channel in channels {
            tx.execute(
                "INSERT INTO deliveries (alert_id, channel, status, next_attempt_at) VALUES (?1, ?2, 'pending', ?3)",
                params![alert_id, channel, now],
            )?;
        }
        tx.commit()?;
        Ok(alert_id)
    }

    pub fn unalerted_mac_changes(&self) -> Result<Vec<MacChange>, StoreError> {
        let mut stmt = self.conn.prepare(
            "SELECT h.id, h.machine_id, m.hostname, h.old_mac, h.new_mac, h.changed_at
             FROM mac_history h JOIN machines m ON m.id = h.machine_id WHERE h.alerted = 0 ORDER BY h.id",
        )?;
        let rows = stmt
            .query_map([], |r| {
                Ok(MacChange {
                    id: r.get(0)?,
                    machine_id: r.get(1)?,
                    hostname: r.get(2)?,
                    old_mac: r.get(3)?,
                    new_mac: r.get(4)?,
                    changed_at: r.get(5)?,
                })
            })?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    }

    /// Machines registered as clones of another (same /etc/machine-id) not yet alerted.
    pub fn unalerted_duplicates(&self) -> Result<Vec<Duplicate>, StoreError> {
        let mut stmt = self.conn.prepare(
            "SELECT m.id, m.hostname, m.mac, m.machine_uid, o.hostname, o.mac, m.first_seen_at
             FROM machines m JOIN machines o ON o.id = m.duplicate_of WHERE m.duplicate_alerted = 0 ORDER BY m.id",
        )?;
        let rows = stmt
            .query_map([], |r| {
                Ok(Duplicate {
                    machine_id: r.get(0)?,
                    hostname: r.get(1)?,
                    mac: r.get(2)?,
                    machine_uid: r.get(3)?,
                    other_hostname: r.get(4)?,
                    other_mac: r.get(5)?,
                    registered_at: r.get(6)?,
                })
            })?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    }

    pub fn duplicate_alerted(&self, machine_id: i64) -> Result<(), StoreError> {
        self.conn.execute("UPDATE machines SET duplicate_alerted = 1 WHERE id = ?1", [machine_id])?;
        Ok(())
    }

    /// Of `macs`, those that belong to another machine (its MAC now or once) and never to
    /// `machine_id`: (mac, the other machine's hostname). History under them is refused.
    pub fn foreign_macs(&self, machine_id: i64, macs: &[&str]) -> Result<Vec<(String, String)>, StoreError> {
        let mut owners = self.conn.prepare(
            "SELECT m.id, m.hostname FROM machines m WHERE m.mac = ?1
             UNION SELECT m.id, m.hostname FROM mac_history h JOIN machines m ON m.id = h.machine_id
                 WHERE h.old_mac = ?1 OR h.new_mac = ?1",
        )?;
        let mut foreign = Vec::new();
        for mac in macs {
            let found = owners
                .query_map([mac], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?)))?
                .collect::<Result<Vec<_>, _>>()?;
            if !found.is_empty() && found.iter().all(|(id, _)| *id != machine_id) {
                foreign.push(((*mac).to_owned(), found[0].1.clone()));
            }
        }
        Ok(foreign)
    }

    pub fn mac_change_alerted(&self, id: i64) -> Result<(), StoreError> {
        self.conn.execute("UPDATE mac_history SET alerted = 1 WHERE id = ?1", [id])?;
        Ok(())
    }

    pub fn due_deliveries(&self, now: i64, limit: u32) -> Result<Vec<DueDelivery>, StoreError> {
        let mut stmt = self.conn.prepare(
            "SELECT d.id, d.channel, d.attempts, a.kind, a.title, a.body, a.created_at, a.machine_id, a.incident_id
             FROM deliveries d JOIN alerts a ON a.id = d.alert_id
             WHERE d.status = 'pending' AND d.next_attempt_at <= ?1 ORDER BY d.id LIMIT ?2",
        )?;
        let rows = stmt
            .query_map(params![now, limit], |r| {
                Ok(DueDelivery {
                    id: r.get(0)?,
                    channel: r.get(1)?,
                    attempts: r.get(2)?,
                    alert_kind: r.get(3)?,
                    title: r.get(4)?,
                    body: r.get(5)?,
                    created_at: r.get(6)?,
                    machine_id: r.get(7)?,
                    incident_id: r.get(8)?,
                })
            })?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    }

    /// Record one delivery attempt: sent, retried at `retry_at`, or failed for good (`None`).
    /// Take a due delivery for sending until `lease_until`: true for exactly one caller, also
    /// across processes (`runcheck` beside `serve`). A sender that dies mid-send leaves it due
    /// again when the lease ends.
    pub fn claim_delivery(&self, id: i64, now: i64, lease_until: i64) -> Result<bool, StoreError> {
        let changed = self.conn.execute(
            "UPDATE deliveries SET next_attempt_at = ?3 WHERE id = ?1 AND status = 'pending' AND next_attempt_at <= ?2",
            params![id, now, lease_until],
        )?;
        Ok(changed == 1)
    }

    pub fn delivery_attempted(
        &self,
        id: i64,
        outcome: Result<(), String>,
        now: i64,
        retry_at: Option<i64>,
    ) -> Result<(), StoreError> {
        match outcome {
            Ok(()) => self.conn.execute(
                "UPDATE deliveries SET status = 'sent', attempts = attempts + 1, sent_at = ?2, last_error = NULL
                 WHERE id = ?1",
                params![id, now],
            )?,
            Err(error) => self.conn.execute(
                "UPDATE deliveries SET attempts = attempts + 1, last_error = ?2,
                     status = CASE WHEN ?3 IS NULL THEN 'failed' ELSE 'pending' END,
                     next_attempt_at = COALESCE(?3, next_attempt_at)
                 WHERE id = ?1",
                params![id, error, retry_at],
            )?,
        };
        Ok(())
    }

    /// Everything that matters for "the store is unchanged" in tests: row counts per table.
    pub fn table_counts(&self) -> Result<Vec<(String, i64)>, StoreError> {
        let mut counts = Vec::new();
        for table in [
            "machines",
            "mac_history",
            "machine_config",
            "global_config",
            "push_history",
            "verifications",
            "held_hours",
            "skipped_hours",
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

fn count(changed: usize, inserted: &mut u64, duplicates: &mut u64) {
    if changed == 0 {
        *duplicates += 1;
    } else {
        *inserted += 1;
    }
}

/// Validation keeps values within i64; this only guards the conversion.
fn clamp(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

fn to_json<T: Serialize>(value: &T) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(|e| StoreError::Corrupt(e.to_string()))
}

fn escape_like(text: &str) -> String {
    text.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_")
}

fn acceptance_str(a: Acceptance) -> &'static str {
    match a {
        Acceptance::Accepted => "accepted",
        Acceptance::UnderAcceptance => "under_acceptance",
    }
}

fn config_from_row(r: &Row<'_>, at: usize) -> rusqlite::Result<MachineConfig> {
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
    })
}

fn machine_from_row(r: &Row<'_>) -> rusqlite::Result<MachineView> {
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
        facts: serde_json::from_str(&r.get::<_, String>(23)?).unwrap_or_default(),
        duplicate_of: r.get(24)?,
        report_timezone: r.get(25)?,
    })
}

#[allow(clippy::too_many_arguments)]
fn audit(
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
fn flatten(value: &serde_json::Value) -> Vec<(String, String)> {
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
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn history_totals_from_the_kept_counts_equal_counting_the_rows() {
        use pushagent_proto::agent::{Facts, HistoryItem, PushStatus};
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(&dir.path().join("s.sqlite")).unwrap();
        let req = RegisterRequest {
            enrollment_token: "x".into(),
            machine_id: "m1".into(),
            hostname: "h1".into(),
            mac: "aa:bb:cc:dd:ee:01".into(),
            agent_version: "0.1.0".into(),
            facts: Facts::default(),
        };
        let id = store.register_machine(&req, "aa:bb:cc:dd:ee:01", "{}", "hash", 0, 0).unwrap();
        let item = |hour: u32, attempt: u32, ok: bool| HistoryItem {
            mac: "aa:bb:cc:dd:ee:01".into(),
            flux_hour: format!("20261124{hour:02}"),
            version: 1,
            attempt,
            raw_bytes: 1,
            pushed_bytes: 1,
            raw_points: [0; 12],
            pushed_points: [0; 12],
            offset_bp: 0,
            status: if ok { PushStatus::Success } else { PushStatus::Failure },
            http_status: None,
            code: None,
            message: None,
            attempted_at: i64::from(hour),
        };
        let pushes: Vec<HistoryItem> = (0..10).flat_map(|h| [item(h, 1, false), item(h, 2, true)]).collect();
        let batch = HistoryBatch { pushes: pushes.clone(), ..Default::default() };
        store.insert_history(id, &batch, 0).unwrap();
        store.insert_history(id, &batch, 0).unwrap(); // duplicates change no count
        let total = |status: Option<&str>| {
            let f = HistoryFilter { status: status.map(str::to_owned), limit: 5, ..Default::default() };
            store.list_history(&f).unwrap().0
        };
        assert_eq!((total(None), total(Some("success")), total(Some("failure"))), (20, 10, 10));
        let f = HistoryFilter { from_hour: Some("2026112405".into()), limit: 5, ..Default::default() };
        assert_eq!(store.list_history(&f).unwrap().0, 10, "filtered totals are counted");
    }

    /// Every filter combination, for every attempt and for the latest attempt of each hour,
    /// pages exactly like a plain query over the rows (totals from the kept counts included).
    #[test]
    fn history_pages_equal_a_plain_query_for_every_filter() {
        use pushagent_proto::agent::{Facts, HistoryItem, PushStatus};
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(&dir.path().join("s.sqlite")).unwrap();
        let macs = ["aa:bb:cc:dd:ee:01", "aa:bb:cc:dd:ee:02", "aa:bb:cc:dd:ee:03"];
        let mut ids = Vec::new();
        for (n, mac) in macs.iter().enumerate() {
            let req = RegisterRequest {
                enrollment_token: "x".into(),
                machine_id: format!("m{n}"),
                hostname: format!("h{n}"),
                mac: (*mac).into(),
                agent_version: "0.1.0".into(),
                facts: Facts::default(),
            };
            ids.push(store.register_machine(&req, mac, "{}", &format!("hash{n}"), 0, 0).unwrap());
        }
        store.conn.execute("UPDATE machine_config SET node = 'n1' WHERE machine_id = ?1", [ids[1]]).unwrap();
        // Per machine and hour a varying number of attempts and versions, inserted out of
        // order and twice (duplicates), so "latest" is not simply the last row inserted.
        let mut items = Vec::new();
        for (m, mac) in macs.iter().enumerate() {
            for hour in 0..12u32 {
                let attempts = 1 + (hour + m as u32) % 3;
                for version in 1..=(1 + hour % 2) {
                    for attempt in 1..=attempts {
                        let ok = attempt == attempts && !(hour + m as u32).is_multiple_of(5);
                        items.push((
                            ids[m],
                            HistoryItem {
                                mac: (*mac).into(),
                                flux_hour: format!("20261124{hour:02}"),
                                version,
                                attempt,
                                raw_bytes: u64::from(hour * 100 + attempt),
                                pushed_bytes: u64::from(hour * 100 + attempt + version),
                                raw_points: [0; 12],
                                pushed_points: [0; 12],
                                offset_bp: 0,
                                status: if ok { PushStatus::Success } else { PushStatus::Failure },
                                http_status: None,
                                code: None,
                                message: None,
                                attempted_at: i64::from(hour * 7 % 12) * 100
                                    + i64::from(attempt * 10 + version),
                            },
                        ));
                    }
                }
            }
        }
        items.reverse();
        for round in 0..2 {
            for (machine, item) in items.iter().skip(round) {
                let batch = HistoryBatch { pushes: vec![item.clone()], ..Default::default() };
                store.insert_history(*machine, &batch, 0).unwrap();
            }
        }
        let plain = |f: &HistoryFilter| -> (u64, Vec<i64>) {
            let mut sql =
                "SELECT h.id FROM push_history h JOIN machine_config c ON c.machine_id = h.machine_id
                           JOIN machines m ON m.id = h.machine_id WHERE 1"
                    .to_owned();
            if let Some(id) = f.machine_id {
                sql += &format!(" AND h.machine_id = {id}");
            }
            if let Some(mac) = &f.mac {
                sql += &format!(" AND h.mac = '{mac}'");
            }
            if let Some(node) = &f.node {
                sql += &format!(" AND c.node = '{node}'");
            }
            if let Some(host) = &f.host {
                sql += &format!(" AND m.hostname LIKE '%{host}%'");
            }
            if let Some(status) = &f.status {
                sql += &format!(" AND h.status = '{status}'");
            }
            if let Some(hour) = &f.from_hour {
                sql += &format!(" AND h.flux_hour >= '{hour}'");
            }
            if let Some(hour) = &f.to_hour {
                sql += &format!(" AND h.flux_hour <= '{hour}'");
            }
            if f.latest_only {
                sql += " AND h.id = (SELECT l.id FROM push_history l WHERE l.mac = h.mac AND l.flux_hour = h.flux_hour
                                     ORDER BY l.version DESC, l.attempt DESC LIMIT 1)";
            }
            let column = match f.sort {
                HistorySort::AttemptedAt => "attempted_at",
                HistorySort::FluxHour => "flux_hour",
                HistorySort::PushedBytes => "pushed_bytes",
            };
            let dir = if f.descending { "DESC" } else { "ASC" };
            sql += &format!(" ORDER BY h.{column} {dir}, h.id {dir}");
            let all: Vec<i64> = store
                .conn
                .prepare(&sql)
                .unwrap()
                .query_map([], |r| r.get(0))
                .unwrap()
                .map(Result::unwrap)
                .collect();
            let page = all.iter().skip(f.offset as usize).take(f.limit as usize).copied().collect();
            (all.len() as u64, page)
        };
        let mut checked = 0;
        for latest_only in [false, true] {
            for per_machine in 0..5 {
                for status in [None, Some("success"), Some("failure")] {
                    for (from, to) in
                        [(None, None), (Some("2026112403"), None), (Some("2026112402"), Some("2026112408"))]
                    {
                        for sort in
                            [HistorySort::AttemptedAt, HistorySort::FluxHour, HistorySort::PushedBytes]
                        {
                            for (descending, offset) in [(true, 0), (false, 3)] {
                                let f = HistoryFilter {
                                    machine_id: (per_machine == 1).then_some(ids[2]),
                                    mac: (per_machine == 2).then(|| macs[0].to_owned()),
                                    node: (per_machine == 3).then(|| "n1".to_owned()),
                                    host: (per_machine == 4).then(|| "h2".to_owned()),
                                    status: status.map(str::to_owned),
                                    from_hour: from.map(str::to_owned),
                                    to_hour: to.map(str::to_owned),
                                    latest_only,
                                    descending,
                                    sort,
                                    limit: 7,
                                    offset,
                                };
                                let (total, rows) = store.list_history(&f).unwrap();
                                let got = (total, rows.iter().map(|r| r.id).collect::<Vec<_>>());
                                assert_eq!(got, plain(&f), "{f:?}");
                                checked += usize::from(total > 0);
                            }
                        }
                    }
                }
            }
        }
        assert!(checked > 300, "most combinations have rows: {checked}");
    }

    #[test]
    fn migrations_set_the_schema_version_and_reopen_cleanly() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.sqlite");
        let store = Store::open(&path).unwrap();
        assert_eq!(store.schema_version().unwrap(), MIGRATIONS.len() as u32);
        assert_eq!(store.global().unwrap().0, 1);
        drop(store);
        let store = Store::open(&path).unwrap();
        assert_eq!(store.global().unwrap().0, 1, "the default global config is seeded once");
        let mode: String = store.conn.pragma_query_value(None, "journal_mode", |r| r.get(0)).unwrap();
        assert_eq!(mode, "wal");
    }

    /// A store of schema 2 (session 1's service) with data, opened by this service: the kept
    /// counts and latest rows are built from the rows that exist, duplicate open incidents
    /// closed, IP addresses taken from the stored facts.
    #[test]
    fn an_older_store_with_data_is_migrated_with_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.sqlite");
        {
            let conn = Connection::open(&path).unwrap();
            for (version, sql) in MIGRATIONS.iter().filter(|m| m.0 <= 2) {
                conn.execute_batch(sql).unwrap();
                conn.pragma_update(None, "user_version", version).unwrap();
            }
            let facts =
                r#"{"addresses":[{"interface":"eth0","ipv4":[{"address":"203.0.113.9","prefix_len":24}]}]}"#;
            conn.execute(
                "INSERT INTO machines (id, machine_uid, hostname, mac, agent_version, facts, first_seen_at, last_seen_at)
                 VALUES (1, 'u1', 'web-01', 'aa:bb:cc:dd:ee:01', '0.1.0', ?1, 0, 0)",
                [facts],
            )
            .unwrap();
            conn.execute(
                "INSERT INTO machine_config (machine_id, version, push_enabled, acceptance, updated_at)
                 VALUES (1, 1, 1, 'accepted', 0)",
                [],
            )
            .unwrap();
            // Hour 10: v1 failed, v1 retry ok, v2 ok; hour 11: one failure.
            for (hour, version, attempt, status) in [
                ("10", 1, 1, "failure"),
                ("10", 1, 2, "success"),
                ("10", 2, 1, "success"),
                ("11", 1, 1, "failure"),
            ] {
                conn.execute(
                    "INSERT INTO push_history (machine_id, mac, flux_hour, version, attempt, raw_bytes, pushed_bytes,
                         raw_points, pushed_points, offset_bp, status, attempted_at, received_at)
                     VALUES (1, 'aa:bb:cc:dd:ee:01', ?1, ?2, ?3, 1, 1, '[]', '[]', 0, ?4, ?5, 0)",
                    params![format!("20261124{hour}"), version, attempt, status, version * 10 + attempt],
                )
                .unwrap();
            }
            for opened in [1, 2] {
                conn.execute(
                    "INSERT INTO incidents (kind, machine_id, opened_at, last_notified_at, summary)
                     VALUES ('offline', 1, ?1, ?1, 'x')",
                    [opened],
                )
                .unwrap();
            }
        }
        let store = Store::open(&path).unwrap();
        assert_eq!(store.schema_version().unwrap(), MIGRATIONS.len() as u32);
        let total = |latest_only: bool, status: Option<&str>| {
            let f = HistoryFilter {
                latest_only,
                status: status.map(str::to_owned),
                limit: 10,
                ..Default::default()
            };
            store.list_history(&f).unwrap()
        };
        assert_eq!((total(false, None).0, total(false, Some("failure")).0), (4, 2));
        let (n, latest) = total(true, None);
        let latest: Vec<(String, i64, i64)> =
            latest.into_iter().map(|r| (r.flux_hour, r.version, r.attempt)).collect();
        assert_eq!(n, 2);
        assert!(
            latest.contains(&("2026112410".into(), 2, 1)) && latest.contains(&("2026112411".into(), 1, 1))
        );
        assert_eq!(total(true, Some("success")).0, 1);
        assert_eq!(store.open_incidents().unwrap().len(), 1, "the duplicate open incident is closed");
        let f = MachineFilter { search: Some("203.0.113.9".into()), limit: 10, ..Default::default() };
        assert_eq!(store.list_machines(&f).unwrap().0, 1, "IPs from the stored facts");
    }

    #[test]
    fn a_newer_schema_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.sqlite");
        drop(Store::open(&path).unwrap());
        Connection::open(&path).unwrap().pragma_update(None, "user_version", 99).unwrap();
        assert!(matches!(Store::open(&path), Err(StoreError::TooNew { found: 99, .. })));
    }
}
