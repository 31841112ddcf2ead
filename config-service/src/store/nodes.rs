//! Nodes (节点, the ops platform's host groups) and the offsets set for each: the level between
//! the global config and a machine's own (`proto::offset`). A node is the name machines carry
//! in `machine_config.node`; `node_config` holds only what was set for one.

use pushagent_proto::offset::LevelOffsets;

use super::*;

/// A node as the admin API lists it: its machines and the offsets set at the node.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct NodeView {
    pub node: String,
    /// Machines whose config names this node.
    pub machines: i64,
    /// `None` = not set at the node (the global value applies to its machines).
    pub offset_bp: Option<i32>,
    pub offset_fixed_bytes: Option<i64>,
    /// Last change of the node's offsets (None: never set).
    pub updated_at: Option<i64>,
    pub updated_by: Option<String>,
}

/// Every node (machines' nodes, and nodes with offsets but no machine yet), by name.
const NODES: &str = "WITH names AS (SELECT node FROM machine_config WHERE node IS NOT NULL
                                   UNION SELECT node FROM node_config)
     SELECT names.node, (SELECT COUNT(*) FROM machine_config c WHERE c.node = names.node),
         n.offset_bp, n.offset_fixed_bytes, n.updated_at, n.updated_by
     FROM names LEFT JOIN node_config n ON n.node = names.node";

fn node_from_row(r: &Row<'_>) -> rusqlite::Result<NodeView> {
    Ok(NodeView {
        node: r.get(0)?,
        machines: r.get(1)?,
        offset_bp: r.get(2)?,
        offset_fixed_bytes: r.get(3)?,
        updated_at: r.get(4)?,
        updated_by: r.get(5)?,
    })
}

impl Store {
    /// Every node by name.
    pub fn list_nodes(&self) -> Result<Vec<NodeView>, StoreError> {
        let rows = self
            .conn
            .prepare(&format!("{NODES} ORDER BY names.node"))?
            .query_map([], node_from_row)?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    }

    /// One node (a name no machine carries and nobody set offsets for is still a node with
    /// nothing set: offsets may be set before its machines arrive).
    pub fn node(&self, node: &str) -> Result<NodeView, StoreError> {
        let found = self
            .conn
            .query_row(&format!("{NODES} WHERE names.node = ?1"), [node], node_from_row)
            .optional()?;
        Ok(found.unwrap_or_else(|| NodeView {
            node: node.to_owned(),
            machines: 0,
            offset_bp: None,
            offset_fixed_bytes: None,
            updated_at: None,
            updated_by: None,
        }))
    }

    /// Set both offsets of a node (`None` = not set there), auditing each change with the
    /// level `node`. The config version of every machine of the node goes up, so their agents
    /// pull the new offsets at their next heartbeat. The values are checked by the caller
    /// (`LevelOffsets::validate`, the agent's own check).
    pub fn set_node_offsets(
        &mut self,
        node: &str,
        offsets: LevelOffsets,
        actor: &str,
        now: i64,
    ) -> Result<NodeView, StoreError> {
        let tx = self.write_tx()?;
        let old: LevelOffsets = tx
            .query_row("SELECT offset_bp, offset_fixed_bytes FROM node_config WHERE node = ?1", [node], |r| {
                Ok(LevelOffsets { offset_bp: r.get(0)?, offset_fixed_bytes: r.get(1)? })
            })
            .optional()?
            .unwrap_or_default();
        if old != offsets {
            tx.execute(
                "INSERT INTO node_config (node, offset_bp, offset_fixed_bytes, updated_at, updated_by)
                 VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT (node) DO UPDATE SET offset_bp = excluded.offset_bp,
                     offset_fixed_bytes = excluded.offset_fixed_bytes, updated_at = excluded.updated_at,
                     updated_by = excluded.updated_by",
                params![node, offsets.offset_bp, offsets.offset_fixed_bytes, now, actor],
            )?;
            let text = |v: Option<i64>| Some(serde_json::Value::from(v).to_string());
            let changes = [
                ("offset_bp", old.offset_bp.map(i64::from), offsets.offset_bp.map(i64::from)),
                ("offset_fixed_bytes", old.offset_fixed_bytes, offsets.offset_fixed_bytes),
            ];
            for (field, before, after) in changes {
                if before != after {
                    audit(&tx, now, actor, NODE_ENTITY, node, field, text(before), text(after))?;
                }
            }
            tx.execute(
                "UPDATE machine_config SET version = version + 1, updated_at = ?2 WHERE node = ?1",
                params![node, now],
            )?;
        }
        tx.commit()?;
        self.node(node)
    }
}

/// The audit log's entity of a node's config.
pub const NODE_ENTITY: &str = "node_config";
