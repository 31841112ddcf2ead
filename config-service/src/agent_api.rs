//! The agent API (`pushagent_proto::agent`): registration, heartbeat, config pull, history.

use axum::extract::State;
use axum::Json;
use pushagent_proto::agent::{
    GlobalConfig, HeartbeatRequest, HeartbeatResponse, HistoryBatch, HistoryResponse, MachineConfig,
    RegisterRequest, RegisterResponse,
};

use crate::error::ApiError;
use crate::http::{AgentAuth, JsonBody, Shared};
use crate::{tokens, validate};

/// Facts above this size are refused (a real `pushagent info` is a few KiB).
const MAX_FACTS_BYTES: usize = 64 * 1024;

/// The agent API takes only the documented objects: serde would read a struct from a JSON
/// array too (by position), which no agent sends.
fn require_object(body: &[u8]) -> Result<(), ApiError> {
    match body.iter().find(|b| !b.is_ascii_whitespace()) {
        Some(b'{') => Ok(()),
        _ => Err(ApiError::BadRequest("invalid JSON body: expected a JSON object".into())),
    }
}

/// The `facts` member of the body exactly as sent (the typed `Facts` reads only a few fields).
fn raw_facts(body: &[u8]) -> Result<Option<String>, ApiError> {
    let value: serde_json::Value =
        serde_json::from_slice(body).map_err(|e| ApiError::BadRequest(format!("invalid JSON body: {e}")))?;
    match value.get("facts") {
        None | Some(serde_json::Value::Null) => Ok(None),
        Some(facts) if facts.is_object() => {
            let text = facts.to_string();
            if text.len() > MAX_FACTS_BYTES {
                return Err(ApiError::BadRequest(format!("facts: larger than {MAX_FACTS_BYTES} bytes")));
            }
            Ok(Some(text))
        }
        Some(_) => Err(ApiError::BadRequest("facts: must be a JSON object".into())),
    }
}

pub async fn register(
    State(app): State<Shared>,
    JsonBody(req, body): JsonBody<RegisterRequest>,
) -> Result<Json<RegisterResponse>, ApiError> {
    require_object(&body)?;
    let mac = validate::register(&req).map_err(ApiError::BadRequest)?;
    let facts = raw_facts(&body)?.unwrap_or_else(|| "{}".into());
    let presented = tokens::token_hash(&req.enrollment_token);
    let fixed = app.settings.enrollment_token.as_ref().map(|t| tokens::token_hash(t.expose()));
    let agent_token = tokens::new_token("pa_agent_").map_err(ApiError::Internal)?;
    let agent_hash = tokens::token_hash(&agent_token);
    let now = app.now();
    let alive_after = app.alive_after(now);
    let claimed_mac = mac.clone();
    let (machine_id, claim) = app
        .with_store(move |s| {
            let known =
                fixed.as_deref() == Some(presented.as_str()) || s.enrollment_token_valid(&presented)?;
            if !known {
                return Ok(None);
            }
            s.register_machine(&req, &mac, &facts, &agent_hash, now, alive_after).map(Some)
        })
        .await?
        .ok_or_else(|| ApiError::Unauthorized("unknown enrollment token".into()))?;
    match claim.refusal(&claimed_mac) {
        // Registered (a clone, or a squatter): the refusal is alerted, its heartbeats refused.
        Some(refusal) => log::warn!("machine {machine_id} registered without its MAC: {refusal}"),
        None => log::info!("machine {machine_id} registered"),
    }
    Ok(Json(RegisterResponse {
        agent_token,
        machine_id: machine_id.to_string(),
        heartbeat_interval_secs: app.settings.heartbeat_interval_secs,
    }))
}

pub async fn heartbeat(
    State(app): State<Shared>,
    AgentAuth(machine_id): AgentAuth,
    JsonBody(req, body): JsonBody<HeartbeatRequest>,
) -> Result<Json<HeartbeatResponse>, ApiError> {
    require_object(&body)?;
    let mac = validate::heartbeat(&req).map_err(ApiError::BadRequest)?;
    let facts = raw_facts(&body)?;
    let now = app.now();
    let alive_after = app.alive_after(now);
    let (machine_config_version, global_config_version) = app
        .with_store(move |s| s.record_heartbeat(machine_id, &req, &mac, facts.as_deref(), now, alive_after))
        .await?
        .map_err(ApiError::Conflict)?;
    Ok(Json(HeartbeatResponse {
        machine_config_version,
        global_config_version,
        server_time: now,
        heartbeat_interval_secs: app.settings.heartbeat_interval_secs,
    }))
}

pub async fn machine_config(
    State(app): State<Shared>,
    AgentAuth(machine_id): AgentAuth,
) -> Result<Json<MachineConfig>, ApiError> {
    Ok(Json(app.with_store(move |s| s.machine_config(machine_id)).await?))
}

/// The customer secret goes out here, and only to an authenticated agent.
pub async fn global_config(
    State(app): State<Shared>,
    AgentAuth(_): AgentAuth,
) -> Result<Json<GlobalConfig>, ApiError> {
    let (version, doc) = app.with_store(|s| s.global()).await?;
    Ok(Json(doc.to_wire(version)))
}

pub async fn history(
    State(app): State<Shared>,
    AgentAuth(machine_id): AgentAuth,
    JsonBody(batch, body): JsonBody<HistoryBatch>,
) -> Result<Json<HistoryResponse>, ApiError> {
    require_object(&body)?;
    let batch = validate::history(batch).map_err(ApiError::BadRequest)?;
    let skipped = batch.skipped.len() as u64;
    let now = app.now();
    let (inserted, duplicates) = app
        .with_store(move |s| {
            // Only MACs this machine held: another's would put rows in its history (and keep its
            // own rows out), an unreported one would squat it. Refused whole, nothing stored.
            let mut macs: Vec<&str> = batch.pushes.iter().map(|p| p.mac.as_str()).collect();
            macs.extend(batch.verifications.iter().map(|v| v.mac.as_str()));
            macs.extend(batch.held.iter().map(|h| h.mac.as_str()));
            macs.extend(batch.skipped.iter().map(|k| k.mac.as_str()));
            macs.sort_unstable();
            macs.dedup();
            if let Some(refusal) = s.unowned_history_mac(machine_id, &macs, now)? {
                return Ok(Err(refusal));
            }
            s.insert_history(machine_id, &batch, now).map(Ok)
        })
        .await?
        .map_err(ApiError::BadRequest)?;
    // Each skipped item is now in the store: stored by this call or already there under its
    // (mac, flux_hour). Telling the agent so lets it stop sending them.
    Ok(Json(HistoryResponse { inserted, duplicates, skipped_stored: Some(skipped) }))
}
