//! Node offsets in the admin API: the level between the global config and a machine's own
//! (`proto::offset`: machine > node > global, per kind). A node is the name its machines carry
//! (节点名称); setting its offsets is audited with the level `node` and makes its agents pull
//! their config again.

use axum::extract::{Path, State};
use axum::Json;
use pushagent_proto::offset::{self, Effective, LevelOffsets};
use serde::{Deserialize, Serialize};

use crate::error::ApiError;
use crate::http::{AdminAuth, JsonBody, Shared};
use crate::store::NodeView;

/// A node with what applies to its machines that set nothing themselves.
#[derive(Serialize)]
pub struct NodeOut {
    #[serde(flatten)]
    node: NodeView,
    /// The node's offsets over the global ones, and the level each comes from.
    effective_offset: Effective,
}

#[derive(Serialize)]
pub struct NodeList {
    items: Vec<NodeOut>,
}

fn node_out(node: NodeView, global: LevelOffsets) -> NodeOut {
    let set = LevelOffsets { offset_bp: node.offset_bp, offset_fixed_bytes: node.offset_fixed_bytes };
    NodeOut { effective_offset: offset::resolve(global, set, LevelOffsets::default()), node }
}

/// A node name by the rule the agent's `[identity] node` follows (`proto::check::node_name`).
fn checked_node(node: &str) -> Result<(), ApiError> {
    pushagent_proto::check::node_name("node", node).map_err(|e| ApiError::BadRequest(e.to_string()))
}

pub async fn list(State(app): State<Shared>, AdminAuth(_): AdminAuth) -> Result<Json<NodeList>, ApiError> {
    let (nodes, global) = app.with_store(|s| Ok((s.list_nodes()?, s.global()?.1.offset_level()))).await?;
    Ok(Json(NodeList { items: nodes.into_iter().map(|n| node_out(n, global)).collect() }))
}

pub async fn get(
    State(app): State<Shared>,
    AdminAuth(_): AdminAuth,
    Path(node): Path<String>,
) -> Result<Json<NodeOut>, ApiError> {
    checked_node(&node)?;
    let (node, global) = app.with_store(move |s| Ok((s.node(&node)?, s.global()?.1.offset_level()))).await?;
    Ok(Json(node_out(node, global)))
}

/// `PUT /api/nodes/{node}/offsets`: both kinds at once; `null` (or absent) = not set at the node.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeOffsets {
    /// Basis points (350 = +3.5 %).
    #[serde(default)]
    offset_bp: Option<i32>,
    /// Bytes per 5-minute point, + or -, after the percentage.
    #[serde(default)]
    offset_fixed_bytes: Option<i64>,
}

pub async fn set_offsets(
    State(app): State<Shared>,
    AdminAuth(who): AdminAuth,
    Path(node): Path<String>,
    JsonBody(body, _): JsonBody<NodeOffsets>,
) -> Result<Json<NodeOut>, ApiError> {
    checked_node(&node)?;
    let offsets = LevelOffsets { offset_bp: body.offset_bp, offset_fixed_bytes: body.offset_fixed_bytes };
    // The agent's own check of a node level (`MachineConfig::validate`): never stored if refused.
    offsets.validate().map_err(|e| ApiError::BadRequest(e.to_string()))?;
    let now = app.now();
    let (node, global) = app
        .with_store(move |s| {
            Ok((s.set_node_offsets(&node, offsets, &who, now)?, s.global()?.1.offset_level()))
        })
        .await?;
    Ok(Json(node_out(node, global)))
}
