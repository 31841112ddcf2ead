//! The ops platform's inventory: hosts as last pulled, operators' links, sync passes. Host
//! names and nodes it sets on machines are audited as made by `inventory:<source>`.

use std::collections::{HashMap, HashSet};

use super::*;
use crate::inventory::matching::{HostMatch, MachineKeys};
use crate::inventory::InventoryHost;

/// One inventory host as the console lists it.
#[derive(Debug, Clone, Serialize)]
pub struct InventoryHostRow {
    pub source: String,
    pub host_key: String,
    pub ops_host_id: Option<String>,
    pub name: String,
    pub management_ip: Option<String>,
    pub other_ips: Vec<String>,
    pub mac: Option<String>,
    pub node: Option<String>,
    pub note: Option<String>,
    pub machine_id: Option<i64>,
    pub matched_by: Option<String>,
    pub unmatched_reason: Option<String>,
    pub seen_at: i64,
}

/// A registered machine no inventory host is paired with.
#[derive(Debug, Clone, Serialize)]
pub struct UnmatchedMachine {
    pub id: i64,
    pub hostname: String,
    pub mac: String,
    pub ips: Vec<String>,
    pub node: Option<String>,
    pub last_seen_at: i64,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct InventoryRun {
    pub source: String,
    pub started_at: i64,
    pub finished_at: i64,
    pub ok: bool,
    pub error_code: Option<String>,
    pub error: Option<String>,
    pub hosts: i64,
    pub matched: i64,
    pub changed: i64,
}

/// A machine's host name shown, who set it, its node, who set that.
type Named = (String, Option<String>, Option<String>, Option<String>);

/// What one pass stored.
#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq, Eq)]
pub struct Applied {
    pub hosts: i64,
    pub matched: i64,
    /// Machines whose host name or node changed.
    pub changed: i64,
}

#[derive(Debug, Clone, Default)]
pub struct InventoryFilter {
    pub source: Option<String>,
    pub matched: Option<bool>,
    /// Part of the name, key, an address or the node.
    pub search: Option<String>,
    pub limit: u32,
    pub offset: u64,
}

const HOST_COLUMNS: &str =
    "source, host_key, ops_host_id, name, management_ip, other_ips, mac, node, note, machine_id, \
     matched_by, unmatched_reason, seen_at";

fn host_from_row(r: &Row<'_>) -> rusqlite::Result<InventoryHostRow> {
    let other: String = r.get(5)?;
    Ok(InventoryHostRow {
        source: r.get(0)?,
        host_key: r.get(1)?,
        ops_host_id: r.get(2)?,
        name: r.get(3)?,
        management_ip: r.get(4)?,
        other_ips: other.split_whitespace().map(str::to_owned).collect(),
        mac: r.get(6)?,
        node: r.get(7)?,
        note: r.get(8)?,
        machine_id: r.get(9)?,
        matched_by: r.get(10)?,
        unmatched_reason: r.get(11)?,
        seen_at: r.get(12)?,
    })
}

impl Store {
    /// Every machine with what the matching looks at.
    pub fn inventory_machine_keys(&self) -> Result<Vec<MachineKeys>, StoreError> {
        let rows = self
            .conn
            .prepare("SELECT id, ips, mac, ops_host_id, management_ip FROM machines")?
            .query_map([], |r| {
                let ips: String = r.get(1)?;
                Ok(MachineKeys {
                    id: r.get(0)?,
                    ops_host_id: r.get(3)?,
                    management_ip: r.get(4)?,
                    ips: ips.split_whitespace().map(str::to_owned).collect(),
                    mac: r.get(2)?,
                })
            })?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    }

    /// Operators' links of `source`: host key → machine id.
    pub fn inventory_links(&self, source: &str) -> Result<HashMap<String, i64>, StoreError> {
        let rows = self
            .conn
            .prepare("SELECT host_key, machine_id FROM inventory_links WHERE source = ?1")?
            .query_map([source], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<Result<HashMap<_, _>, _>>()?;
        Ok(rows)
    }

    /// Replace `source`'s hosts with `hosts` (paired as `matches` says) and set the host name
    /// and node of each paired machine, in one transaction; each change is audited as made by
    /// `inventory:<source>`. A name or node someone else set (an operator: `*_set_by`) is left
    /// as it is; one this source set and whose host left the inventory goes back to the agent's.
    pub fn apply_inventory(
        &mut self,
        source: &str,
        hosts: &[InventoryHost],
        matches: &[HostMatch],
        now: i64,
    ) -> Result<Applied, StoreError> {
        let actor = format!("inventory:{source}");
        let tx = self.conn.transaction()?;
        let current: HashMap<i64, Named> = tx
            .prepare(
                "SELECT m.id, m.hostname, m.host_name_set_by, c.node, c.node_set_by
                 FROM machines m JOIN machine_config c ON c.machine_id = m.id",
            )?
            .query_map([], |r| Ok((r.get(0)?, (r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))))?
            .collect::<Result<_, _>>()?;
        tx.execute("DELETE FROM inventory_hosts WHERE source = ?1", [source])?;
        let mut applied = Applied { hosts: hosts.len() as i64, ..Applied::default() };
        let mut paired: HashSet<i64> = HashSet::new();
        {
            let mut insert = tx.prepare(
                "INSERT INTO inventory_hosts (source, host_key, ops_host_id, name, management_ip, other_ips, mac, node,
                     note, machine_id, matched_by, unmatched_reason, seen_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
            )?;
            for (host, found) in hosts.iter().zip(matches) {
                let (machine_id, by, reason) = match found {
                    HostMatch::Matched { machine_id, by } => (Some(*machine_id), Some(by.as_str()), None),
                    HostMatch::Unmatched { reason } => (None, None, Some(reason.as_str())),
                };
                insert.execute(params![
                    source,
                    host.key,
                    host.ops_host_id,
                    host.name,
                    host.management_ip,
                    host.other_ips.join(" "),
                    host.mac,
                    host.node,
                    host.note,
                    machine_id,
                    by,
                    reason,
                    now
                ])?;
                let Some(id) = machine_id else { continue };
                let Some((name, name_by, node, node_by)) = current.get(&id) else { continue };
                applied.matched += 1;
                paired.insert(id);
                let ours = |by: &Option<String>| by.as_deref().is_none_or(|by| by == actor);
                let mut changed = false;
                if ours(name_by)
                    && crate::validate::display_host_name("name", &host.name).is_ok()
                    && (name != &host.name || name_by.is_none())
                {
                    changed |= name != &host.name;
                    super::identity::set_host_name(&tx, id, Some(&host.name), &actor, now)?;
                }
                if let Some(new_node) = &host.node {
                    if ours(node_by) && (node.as_ref() != Some(new_node) || node_by.is_none()) {
                        if node.as_ref() != Some(new_node) {
                            set_node(&tx, id, node.clone(), new_node, &actor, now)?;
                            changed = true;
                        }
                        tx.execute(
                            "UPDATE machine_config SET node_set_by = ?2 WHERE machine_id = ?1",
                            params![id, actor],
                        )?;
                    }
                }
                applied.changed += i64::from(changed);
            }
        }
        // Machines this source had named but no host pairs with any more: back to the agent's.
        for (id, (name, name_by, _, node_by)) in &current {
            if paired.contains(id) {
                continue;
            }
            let mut changed = false;
            if name_by.as_deref() == Some(actor.as_str()) {
                super::identity::set_host_name(&tx, *id, None, &actor, now)?;
                let after: String =
                    tx.query_row("SELECT hostname FROM machines WHERE id = ?1", [id], |r| r.get(0))?;
                changed |= &after != name;
            }
            if node_by.as_deref() == Some(actor.as_str()) {
                // The node stays (nodes are never cleared by a sync) but follows the agent again.
                tx.execute("UPDATE machine_config SET node_set_by = NULL WHERE machine_id = ?1", [id])?;
            }
            applied.changed += i64::from(changed);
        }
        tx.commit()?;
        Ok(applied)
    }

    pub fn record_inventory_run(&self, run: &InventoryRun) -> Result<(), StoreError> {
        self.conn.execute(
            "INSERT INTO inventory_runs (source, started_at, finished_at, ok, error_code, error, hosts, matched, changed)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            params![run.source, run.started_at, run.finished_at, run.ok, run.error_code, run.error, run.hosts, run.matched, run.changed],
        )?;
        // Keep the last 1000 passes of each source.
        self.conn.execute(
            "DELETE FROM inventory_runs WHERE source = ?1 AND id <= (SELECT id FROM inventory_runs WHERE source = ?1
                 ORDER BY id DESC LIMIT 1 OFFSET 1000)",
            [&run.source],
        )?;
        Ok(())
    }

    /// The last pass of each source, and the last successful one.
    pub fn inventory_runs(&self) -> Result<Vec<(InventoryRun, Option<i64>)>, StoreError> {
        let rows = self
            .conn
            .prepare(
                "SELECT r.source, r.started_at, r.finished_at, r.ok, r.error_code, r.error, r.hosts, r.matched, r.changed,
                     (SELECT MAX(finished_at) FROM inventory_runs o WHERE o.source = r.source AND o.ok = 1)
                 FROM inventory_runs r WHERE r.id IN (SELECT MAX(id) FROM inventory_runs GROUP BY source)
                 ORDER BY r.source",
            )?
            .query_map([], |r| {
                Ok((
                    InventoryRun {
                        source: r.get(0)?,
                        started_at: r.get(1)?,
                        finished_at: r.get(2)?,
                        ok: r.get(3)?,
                        error_code: r.get(4)?,
                        error: r.get(5)?,
                        hosts: r.get(6)?,
                        matched: r.get(7)?,
                        changed: r.get(8)?,
                    },
                    r.get(9)?,
                ))
            })?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    }

    pub fn list_inventory_hosts(
        &self,
        f: &InventoryFilter,
    ) -> Result<(u64, Vec<InventoryHostRow>), StoreError> {
        let mut clauses = Vec::new();
        let mut args: Vec<rusqlite::types::Value> = Vec::new();
        if let Some(source) = &f.source {
            args.push(source.clone().into());
            clauses.push(format!("source = ?{}", args.len()));
        }
        match f.matched {
            Some(true) => clauses.push("machine_id IS NOT NULL".into()),
            Some(false) => clauses.push("machine_id IS NULL".into()),
            None => {}
        }
        if let Some(search) = &f.search {
            args.push(format!("%{}%", escape_like(search)).into());
            let n = args.len();
            clauses.push(format!(
                "(name LIKE ?{n} ESCAPE '\\' OR host_key LIKE ?{n} ESCAPE '\\' OR management_ip LIKE ?{n} ESCAPE '\\'
                  OR other_ips LIKE ?{n} ESCAPE '\\' OR mac LIKE ?{n} ESCAPE '\\' OR node LIKE ?{n} ESCAPE '\\')"
            ));
        }
        let filter =
            if clauses.is_empty() { String::new() } else { format!("WHERE {}", clauses.join(" AND ")) };
        let total: i64 = self.conn.query_row(
            &format!("SELECT COUNT(*) FROM inventory_hosts {filter}"),
            params_from_iter(args.iter()),
            |r| r.get(0),
        )?;
        let rows = self
            .conn
            .prepare(&format!(
                "SELECT {HOST_COLUMNS} FROM inventory_hosts {filter} ORDER BY source, name, host_key LIMIT {} OFFSET {}",
                f.limit, f.offset
            ))?
            .query_map(params_from_iter(args.iter()), host_from_row)?
            .collect::<Result<Vec<_>, _>>()?;
        Ok((total as u64, rows))
    }

    /// Machines no inventory host is paired with, by host name.
    pub fn unmatched_machines(
        &self,
        limit: u32,
        offset: u64,
    ) -> Result<(u64, Vec<UnmatchedMachine>), StoreError> {
        let from = "FROM machines m JOIN machine_config c ON c.machine_id = m.id
             WHERE NOT EXISTS (SELECT 1 FROM inventory_hosts h WHERE h.machine_id = m.id)";
        let total: i64 = self.conn.query_row(&format!("SELECT COUNT(*) {from}"), [], |r| r.get(0))?;
        let rows = self
            .conn
            .prepare(&format!(
                "SELECT m.id, m.hostname, m.mac, m.ips, c.node, m.last_seen_at {from} ORDER BY m.hostname, m.id LIMIT ?1 OFFSET ?2"
            ))?
            .query_map(params![limit, offset as i64], |r| {
                let ips: String = r.get(3)?;
                Ok(UnmatchedMachine {
                    id: r.get(0)?,
                    hostname: r.get(1)?,
                    mac: r.get(2)?,
                    ips: ips.split_whitespace().map(str::to_owned).collect(),
                    node: r.get(4)?,
                    last_seen_at: r.get(5)?,
                })
            })?
            .collect::<Result<Vec<_>, _>>()?;
        Ok((total as u64, rows))
    }

    /// An operator pairs a host with a machine (`Some`) or removes the pairing (`None`); kept
    /// for the next passes. The host must be in the last pull.
    pub fn link_inventory_host(
        &mut self,
        source: &str,
        host_key: &str,
        machine_id: Option<i64>,
        actor: &str,
        now: i64,
    ) -> Result<(), StoreError> {
        let tx = self.conn.transaction()?;
        let exists: bool = tx.query_row(
            "SELECT EXISTS (SELECT 1 FROM inventory_hosts WHERE source = ?1 AND host_key = ?2)",
            params![source, host_key],
            |r| r.get(0),
        )?;
        if !exists {
            return Err(StoreError::NotFound(format!("no {source} host {host_key} in the inventory")));
        }
        let old: Option<i64> = tx
            .query_row(
                "SELECT machine_id FROM inventory_links WHERE source = ?1 AND host_key = ?2",
                params![source, host_key],
                |r| r.get(0),
            )
            .optional()?;
        match machine_id {
            Some(id) => {
                let known: bool =
                    tx.query_row("SELECT EXISTS (SELECT 1 FROM machines WHERE id = ?1)", [id], |r| r.get(0))?;
                if !known {
                    return Err(StoreError::NotFound(format!("no machine {id}")));
                }
                tx.execute(
                    "INSERT INTO inventory_links (source, host_key, machine_id, linked_by, linked_at) VALUES (?1, ?2, ?3, ?4, ?5)
                     ON CONFLICT (source, host_key) DO UPDATE SET machine_id = ?3, linked_by = ?4, linked_at = ?5",
                    params![source, host_key, id, actor, now],
                )?;
            }
            None => {
                tx.execute(
                    "DELETE FROM inventory_links WHERE source = ?1 AND host_key = ?2",
                    params![source, host_key],
                )?;
            }
        }
        if old != machine_id {
            audit(
                &tx,
                now,
                actor,
                "inventory_link",
                &format!("{source}:{host_key}"),
                "machine_id",
                old.map(|v| v.to_string()),
                machine_id.map(|v| v.to_string()),
            )?;
        }
        tx.commit()?;
        Ok(())
    }

    /// `source`'s hosts as last stored, to pair them again after a link changed.
    pub fn inventory_hosts_of(&self, source: &str) -> Result<Vec<InventoryHost>, StoreError> {
        let rows = self
            .conn
            .prepare(&format!("SELECT {HOST_COLUMNS} FROM inventory_hosts WHERE source = ?1 ORDER BY rowid"))?
            .query_map([source], host_from_row)?
            .map(|r| {
                r.map(|h| InventoryHost {
                    key: h.host_key,
                    ops_host_id: h.ops_host_id,
                    name: h.name,
                    management_ip: h.management_ip,
                    other_ips: h.other_ips,
                    mac: h.mac,
                    node: h.node,
                    note: h.note,
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    }
}

/// Set a machine's node (a new config version, pulled by its agent), audited.
fn set_node(
    tx: &rusqlite::Transaction<'_>,
    machine_id: i64,
    old: Option<String>,
    node: &str,
    actor: &str,
    now: i64,
) -> Result<(), StoreError> {
    tx.execute(
        "UPDATE machine_config SET node = ?2, version = version + 1, updated_at = ?3 WHERE machine_id = ?1",
        params![machine_id, node, now],
    )?;
    audit(
        tx,
        now,
        actor,
        "machine_config",
        &machine_id.to_string(),
        "node",
        Some(serde_json::to_value(&old).unwrap_or_default().to_string()),
        Some(serde_json::Value::from(node).to_string()),
    )
}
