//! Machines: registration, heartbeats, the machine list, MAC history, fleet counts.

use super::identity::{apply_identity, node_after_patch, set_host_name};
use super::*;

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
    /// The agent's OS host name (`hostname` above is the name shown: see `host_name_set_by`).
    pub os_hostname: Option<String>,
    /// The ops platform's names as the agent last reported them (`[identity]`).
    pub identity: Identity,
    /// Who set `hostname` (a user, or e.g. `inventory:spug`); None: it follows the agent
    /// (its identity host name, else its OS host name).
    pub host_name_set_by: Option<String>,
    /// Who set `config.node`; None: it follows the node the agent reports.
    pub node_set_by: Option<String>,
    /// What the agent last reported wrong with itself (times on the service's clock); None:
    /// an agent older than health reports.
    pub health: Option<AgentHealth>,
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

/// A partial update of machine config; `Some(None)` clears a nullable field.
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigPatch {
    /// The host name shown (主机名称); `null` gives it back to the agent's identity/OS name.
    #[serde(default, deserialize_with = "nullable")]
    pub host_name: Option<Option<String>>,
    #[serde(default)]
    pub push_enabled: Option<bool>,
    #[serde(default)]
    pub acceptance: Option<Acceptance>,
    #[serde(default, deserialize_with = "nullable")]
    pub interface: Option<Option<String>>,
    /// Percentage in basis points; `null` = not set here (the node's, else the global one).
    #[serde(default, deserialize_with = "nullable")]
    pub offset_bp: Option<Option<i32>>,
    /// Fixed bytes per 5-minute point (+/-), after the percentage; `null` = not set here.
    #[serde(default, deserialize_with = "nullable")]
    pub offset_fixed_bytes: Option<Option<i64>>,
    /// The node; `null` gives it back to the node the agent reports (none if it reports none).
    #[serde(default, deserialize_with = "nullable")]
    pub node: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    pub isp_id: Option<Option<i64>>,
    #[serde(default, deserialize_with = "nullable")]
    pub device_type: Option<Option<i64>>,
}

pub(super) fn nullable<'de, T: serde::Deserialize<'de>, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<Option<T>>, D::Error> {
    <Option<T> as serde::Deserialize>::deserialize(d).map(Some)
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

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct MacHistoryRow {
    pub id: i64,
    pub old_mac: String,
    pub new_mac: String,
    pub changed_at: i64,
}

impl Store {
    /// Register (or re-register) the machine `req` describes; returns its id and whether it
    /// holds its MAC. Identity is /etc/machine-id, but cloned images share it: when the machine
    /// under that id is alive (seen at or after `alive_after`) with another MAC, or with the
    /// same MAC and its token in use (heartbeats since `alive_after`), the newcomer is a clone
    /// and gets a machine of its own (`<machine-id>#2`, ...) marked as a duplicate (an alert
    /// says so), instead of taking the other's token. A machine under that id not seen lately,
    /// with another MAC, is the same machine re-installed with a new NIC: its MAC change is
    /// kept. The MAC is claimed like a heartbeat's (see `claims`).
    pub fn register_machine(
        &mut self,
        req: &RegisterRequest,
        mac: &str,
        facts_json: &str,
        token_hash: &str,
        now: i64,
        alive_after: i64,
    ) -> Result<(i64, Claim), StoreError> {
        let tx = self.write_tx()?;
        let uid = &req.machine_id;
        // The same id and MAC: this machine (or one of its clones) registering again; a live
        // one (its token in use) is not taken over.
        let same: Option<(i64, bool)> = tx
            .query_row(
                "SELECT id, COALESCE(token_used_at, 0) >= ?4 FROM machines
                 WHERE (machine_uid = ?1 OR machine_uid LIKE ?2 ESCAPE '\\') AND mac = ?3
                 ORDER BY id LIMIT 1",
                params![uid, format!("{}#%", escape_like(uid)), mac, alive_after],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        let under_id: Option<(i64, String, i64)> = tx
            .query_row("SELECT id, mac, last_seen_at FROM machines WHERE machine_uid = ?1", [uid], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?))
            })
            .optional()?;
        let reuse = match (same, &under_id) {
            (Some((id, false)), _) => Some(id),
            (Some((_, true)), _) => None,
            (None, Some((id, _, last_seen))) if *last_seen < alive_after => Some(*id),
            _ => None,
        };
        let (id, claim) = match reuse {
            Some(id) => {
                let old_mac: String =
                    tx.query_row("SELECT mac FROM machines WHERE id = ?1", [id], |r| r.get(0))?;
                let claim = claims::claim_mac(&tx, id, mac, "register", now, alive_after)?;
                let mac = if claim == Claim::Held { mac } else { old_mac.as_str() };
                tx.execute(
                    "UPDATE machines SET mac = ?2, agent_version = ?3, facts = ?4, token_hash = ?5,
                         last_seen_at = ?6, token_used_at = NULL WHERE id = ?1",
                    params![id, mac, req.agent_version, facts_json, token_hash, now],
                )?;
                if old_mac != mac {
                    tx.execute(
                        "INSERT INTO mac_history (machine_id, old_mac, new_mac, changed_at) VALUES (?1, ?2, ?3, ?4)",
                        params![id, old_mac, mac, now],
                    )?;
                }
                (id, claim)
            }
            None => {
                // A clone of a live machine gets the first free `#n` id.
                let (machine_uid, duplicate_of) = match (under_id.as_ref().map(|u| u.0), same) {
                    (Some(other), _) | (None, Some((other, _))) => {
                        let mut n = 2;
                        loop {
                            let candidate = format!("{uid}#{n}");
                            let taken: bool = tx.query_row(
                                "SELECT EXISTS (SELECT 1 FROM machines WHERE machine_uid = ?1)",
                                [&candidate],
                                |r| r.get(0),
                            )?;
                            if !taken {
                                break (candidate, Some(other));
                            }
                            n += 1;
                        }
                    }
                    (None, None) => (uid.clone(), None),
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
                (id, claims::claim_mac(&tx, id, mac, "register", now, alive_after)?)
            }
        };
        apply_identity(&tx, id, &req.hostname, &req.identity, now)?;
        tx.commit()?;
        Ok((id, claim))
    }

    pub fn machine_by_token(&self, token_hash: &str) -> Result<Option<i64>, StoreError> {
        Ok(self
            .conn
            .query_row("SELECT id FROM machines WHERE token_hash = ?1", [token_hash], |r| r.get(0))
            .optional()?)
    }

    /// Store a heartbeat; a new MAC is recorded in the MAC history. Returns the machine and
    /// global config versions, or the refusal of its MAC: another live machine holds it (the
    /// refusal is recorded, nothing else of the heartbeat is).
    pub fn record_heartbeat(
        &mut self,
        machine_id: i64,
        hb: &HeartbeatRequest,
        mac: &str,
        facts_json: Option<&str>,
        now: i64,
        alive_after: i64,
    ) -> Result<Result<(i64, i64), String>, StoreError> {
        let tx = self.write_tx()?;
        let claim = claims::claim_mac(&tx, machine_id, mac, "heartbeat", now, alive_after)?;
        if let Some(refusal) = claim.refusal(mac) {
            tx.commit()?;
            return Ok(Err(refusal));
        }
        let old_mac: String =
            tx.query_row("SELECT mac FROM machines WHERE id = ?1", [machine_id], |r| r.get(0))?;
        if old_mac != mac {
            tx.execute(
                "INSERT INTO mac_history (machine_id, old_mac, new_mac, changed_at) VALUES (?1, ?2, ?3, ?4)",
                params![machine_id, old_mac, mac, now],
            )?;
        }
        let last_push = hb.last_push.as_ref().map(to_json).transpose()?;
        // A condition that continues keeps the time the service first learnt of it.
        let health = match &hb.health {
            Some(h) => {
                let old: Option<String> =
                    tx.query_row("SELECT health FROM machines WHERE id = ?1", [machine_id], |r| r.get(0))?;
                let old: Option<AgentHealth> = old.and_then(|o| serde_json::from_str(&o).ok());
                let rebased = crate::health::rebase(h.clone(), hb.agent_time, now);
                Some(to_json(&crate::health::merge(old.as_ref(), rebased))?)
            }
            None => None,
        };
        tx.execute(
            "UPDATE machines SET mac = ?2, agent_version = ?3, interfaces = ?4, chosen_interface = ?5,
                 ambiguous = ?6, backlog_outbox_hours = ?7, backlog_history_items = ?8, backlog_held_hours = ?9,
                 last_push = COALESCE(?10, last_push), agent_time = ?11, last_seen_at = ?12,
                 facts = COALESCE(?13, facts), report_timezone = COALESCE(?14, report_timezone),
                 health = ?15, token_used_at = ?12
             WHERE id = ?1",
            params![
                machine_id,
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
                health,
            ],
        )?;
        apply_identity(&tx, machine_id, &hb.hostname, &hb.identity, now)?;
        let machine_version: i64 =
            tx.query_row("SELECT version FROM machine_config WHERE machine_id = ?1", [machine_id], |r| {
                r.get(0)
            })?;
        let global_version: i64 = tx.query_row("SELECT MAX(version) FROM global_config", [], |r| r.get(0))?;
        tx.commit()?;
        Ok(Ok((machine_version, global_version)))
    }

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
        let from = format!("FROM machines m JOIN machine_config c ON c.machine_id = m.id {NODE_JOIN}");
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
                    "SELECT {MACHINE_COLUMNS} FROM machines m JOIN machine_config c ON c.machine_id = m.id {NODE_JOIN}
                     WHERE m.id = ?1"
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
        let tx = self.write_tx()?;
        let mut updated = Vec::new();
        for &id in ids {
            let old = config_in(&tx, id)?;
            if let Some(name) = &patch.host_name {
                set_host_name(&tx, id, name.as_deref(), actor, now)?;
            }
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
            if let Some(v) = patch.offset_fixed_bytes {
                new.offset_fixed_bytes = v;
            }
            if let Some(v) = &patch.node {
                new.node = node_after_patch(&tx, id, v.as_deref(), actor)?;
            }
            if let Some(v) = patch.isp_id {
                new.isp_id = v;
            }
            if let Some(v) = patch.device_type {
                new.device_type = v;
            }
            if new == old {
                updated.push(config_in(&tx, id)?);
                continue;
            }
            new.version = old.version + 1;
            let old_json = serde_json::to_value(&old).unwrap_or_default();
            let new_json = serde_json::to_value(&new).unwrap_or_default();
            for field in [
                "push_enabled",
                "acceptance",
                "interface",
                "offset_bp",
                "offset_fixed_bytes",
                "node",
                "isp_id",
                "device_type",
            ] {
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
                     offset_bp = ?6, node = ?7, isp_id = ?8, device_type = ?9, updated_at = ?10,
                     offset_fixed_bytes = ?11
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
                    now,
                    new.offset_fixed_bytes
                ],
            )?;
            // As the agent will get it: with its (maybe new) node's offsets.
            updated.push(config_in(&tx, id)?);
        }
        tx.commit()?;
        Ok(updated)
    }

    // ---- admin: history, alerts, audit ----

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

    pub(super) fn machine_exists(&self, machine_id: i64) -> Result<(), StoreError> {
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
}

/// A machine's config with its node's offsets, inside a transaction.
fn config_in(tx: &rusqlite::Transaction<'_>, id: i64) -> Result<MachineConfig, StoreError> {
    tx.query_row(
        &format!("SELECT {} FROM {CONFIG_FROM} WHERE c.machine_id = ?1", config_columns!()),
        [id],
        |r| config_from_row(r, 0),
    )
    .optional()?
    .ok_or_else(|| StoreError::NotFound(format!("no machine {id}")))
}
