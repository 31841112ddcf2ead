//! Host name (主机名称) and node from the ops platform: what the agent reports in `[identity]`
//! is used unless someone set the value (`host_name_set_by`, `node_set_by`: the user, or an
//! inventory sync such as `inventory:spug`). Every change of either is audited.

use pushagent_proto::identity::Identity;

use super::*;

/// Who changes a name when an agent's report changes it (audit actor).
pub const AGENT_ACTOR: &str = "agent";

fn json_text(value: Option<&str>) -> String {
    serde_json::Value::from(value).to_string()
}

/// Store what the agent reported and apply it where nobody set the value. Called inside the
/// registration or heartbeat transaction.
pub(super) fn apply_identity(
    tx: &rusqlite::Transaction<'_>,
    machine_id: i64,
    os_hostname: &str,
    identity: &Identity,
    now: i64,
) -> Result<(), StoreError> {
    let (old_name, name_set_by): (String, Option<String>) =
        tx.query_row("SELECT hostname, host_name_set_by FROM machines WHERE id = ?1", [machine_id], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })?;
    let new_name = match &name_set_by {
        Some(_) => old_name.clone(),
        None => identity.host_name.clone().unwrap_or_else(|| os_hostname.to_owned()),
    };
    tx.execute(
        "UPDATE machines SET os_hostname = ?2, ops_host_id = ?3, reported_host_name = ?4, management_ip = ?5,
             reported_node = ?6, hostname = ?7
         WHERE id = ?1",
        params![
            machine_id,
            os_hostname,
            identity.ops_host_id,
            identity.host_name,
            identity.management_ip,
            identity.node,
            new_name
        ],
    )?;
    if new_name != old_name {
        let id = machine_id.to_string();
        let (old, new) = (Some(json_text(Some(&old_name))), Some(json_text(Some(&new_name))));
        audit(tx, now, AGENT_ACTOR, "machine", &id, "host_name", old, new)?;
    }
    // A node the agent does not report is left as it is (never cleared by an agent).
    if let Some(node) = &identity.node {
        let (old_node, node_set_by): (Option<String>, Option<String>) = tx.query_row(
            "SELECT node, node_set_by FROM machine_config WHERE machine_id = ?1",
            [machine_id],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?;
        if node_set_by.is_none() && old_node.as_deref() != Some(node.as_str()) {
            set_node(tx, machine_id, Some(node), now)?;
            let id = machine_id.to_string();
            let (old, new) = (Some(json_text(old_node.as_deref())), Some(json_text(Some(node))));
            audit(tx, now, AGENT_ACTOR, "machine_config", &id, "node", old, new)?;
        }
    }
    Ok(())
}

/// A new node bumps the machine config version: the agent pulls its config again.
fn set_node(
    tx: &rusqlite::Transaction<'_>,
    machine_id: i64,
    node: Option<&str>,
    now: i64,
) -> Result<(), StoreError> {
    tx.execute(
        "UPDATE machine_config SET node = ?2, version = version + 1, updated_at = ?3 WHERE machine_id = ?1",
        params![machine_id, node, now],
    )?;
    Ok(())
}

/// An operator's (or an inventory sync's) `host_name` of a [`ConfigPatch`]: `Some(name)` sets it
/// and marks it set by `actor`; `None` gives it back to the agent (identity, else OS name).
pub(super) fn set_host_name(
    tx: &rusqlite::Transaction<'_>,
    machine_id: i64,
    host_name: Option<&str>,
    actor: &str,
    now: i64,
) -> Result<(), StoreError> {
    let old_name: String =
        tx.query_row("SELECT hostname FROM machines WHERE id = ?1", [machine_id], |r| r.get(0))?;
    match host_name {
        Some(name) => tx.execute(
            "UPDATE machines SET hostname = ?2, host_name_set_by = ?3 WHERE id = ?1",
            params![machine_id, name, actor],
        )?,
        None => tx.execute(
            "UPDATE machines SET hostname = COALESCE(reported_host_name, os_hostname, hostname),
                 host_name_set_by = NULL
             WHERE id = ?1",
            [machine_id],
        )?,
    };
    let new_name: String =
        tx.query_row("SELECT hostname FROM machines WHERE id = ?1", [machine_id], |r| r.get(0))?;
    if new_name != old_name {
        let (old, new) = (Some(json_text(Some(&old_name))), Some(json_text(Some(&new_name))));
        audit(tx, now, actor, "machine", &machine_id.to_string(), "host_name", old, new)?;
    }
    Ok(())
}

/// Who set the node after a patch's `node`: `Some(_)` = `actor`; `None` = nobody (it follows
/// the agent again) and the value to use is the agent's reported node.
pub(super) fn node_after_patch(
    tx: &rusqlite::Transaction<'_>,
    machine_id: i64,
    node: Option<&str>,
    actor: &str,
) -> Result<Option<String>, StoreError> {
    match node {
        Some(node) => {
            tx.execute(
                "UPDATE machine_config SET node_set_by = ?2 WHERE machine_id = ?1",
                params![machine_id, actor],
            )?;
            Ok(Some(node.to_owned()))
        }
        None => {
            tx.execute("UPDATE machine_config SET node_set_by = NULL WHERE machine_id = ?1", [machine_id])?;
            Ok(tx.query_row("SELECT reported_node FROM machines WHERE id = ?1", [machine_id], |r| r.get(0))?)
        }
    }
}
