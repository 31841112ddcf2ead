//! The admin API of the inventory: its state, unmatched hosts and machines, operators' links,
//! "sync now" and the CSV import.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap};
use axum::Json;
use serde::{Deserialize, Serialize};

use crate::admin_api::{paging, Page};
use crate::error::ApiError;
use crate::http::{AdminAuth, JsonBody, Params, Shared};
use crate::inventory::job::{self, lock_syncer, PassError};
use crate::inventory::{InventoryKind, NodeFrom};
use crate::store::{Applied, InventoryFilter, InventoryHostRow, InventoryRun, UnmatchedMachine};

/// `[inventory]` as the console may see it (no password).
#[derive(Serialize)]
pub struct Configured {
    kind: InventoryKind,
    url: String,
    username: String,
    interval_secs: u64,
    node_from: NodeFrom,
}

#[derive(Serialize)]
pub struct RunOut {
    #[serde(flatten)]
    run: InventoryRun,
    last_ok_at: Option<i64>,
}

#[derive(Serialize)]
pub struct InventoryState {
    configured: Option<Configured>,
    runs: Vec<RunOut>,
    hosts: u64,
    unmatched_hosts: u64,
    unmatched_machines: u64,
}

pub async fn state(
    State(app): State<Shared>,
    AdminAuth(_): AdminAuth,
) -> Result<Json<InventoryState>, ApiError> {
    let configured = app.settings.inventory.as_ref().map(|i| Configured {
        kind: i.kind,
        url: i.url.clone(),
        username: i.username.clone(),
        interval_secs: i.interval_secs,
        node_from: i.node_from,
    });
    let (runs, hosts, unmatched_hosts, unmatched_machines) = app
        .with_store(|s| {
            let runs = s.inventory_runs()?;
            let count = |matched| {
                s.list_inventory_hosts(&InventoryFilter { matched, limit: 0, ..InventoryFilter::default() })
            };
            Ok((runs, count(None)?.0, count(Some(false))?.0, s.unmatched_machines(0, 0)?.0))
        })
        .await?;
    let runs = runs.into_iter().map(|(run, last_ok_at)| RunOut { run, last_ok_at }).collect();
    Ok(Json(InventoryState { configured, runs, hosts, unmatched_hosts, unmatched_machines }))
}

#[derive(Deserialize)]
pub struct HostsQuery {
    source: Option<String>,
    matched: Option<bool>,
    q: Option<String>,
    page: Option<u32>,
    page_size: Option<u32>,
}

pub async fn hosts(
    State(app): State<Shared>,
    AdminAuth(_): AdminAuth,
    Params(q): Params<HostsQuery>,
) -> Result<Json<Page<InventoryHostRow>>, ApiError> {
    let (page, page_size, offset) = paging(q.page, q.page_size)?;
    let filter = InventoryFilter {
        source: q.source.filter(|s| !s.is_empty()),
        matched: q.matched,
        search: q.q.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty()),
        limit: page_size,
        offset,
    };
    let (total, items) = app.with_store(move |s| s.list_inventory_hosts(&filter)).await?;
    Ok(Json(Page { total, page, page_size, items }))
}

#[derive(Deserialize)]
pub struct PageQuery {
    page: Option<u32>,
    page_size: Option<u32>,
}

pub async fn unmatched_machines(
    State(app): State<Shared>,
    AdminAuth(_): AdminAuth,
    Params(q): Params<PageQuery>,
) -> Result<Json<Page<UnmatchedMachine>>, ApiError> {
    let (page, page_size, offset) = paging(q.page, q.page_size)?;
    let (total, items) = app.with_store(move |s| s.unmatched_machines(page_size, offset)).await?;
    Ok(Json(Page { total, page, page_size, items }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LinkRequest {
    source: String,
    host_key: String,
    /// null removes the operator's link (the rules pair the host again).
    machine_id: Option<i64>,
}

/// An operator pairs a host with a machine (or undoes it); the pairing applies at once.
pub async fn link(
    State(app): State<Shared>,
    AdminAuth(actor): AdminAuth,
    JsonBody(req, _): JsonBody<LinkRequest>,
) -> Result<Json<Applied>, ApiError> {
    let now = app.now();
    let applied = app
        .with_store(move |s| {
            s.link_inventory_host(&req.source, &req.host_key, req.machine_id, &actor, now)?;
            job::rematch(s, &req.source, now)
        })
        .await?;
    Ok(Json(applied))
}

#[derive(Serialize)]
pub struct SyncOut {
    ok: bool,
    #[serde(flatten)]
    applied: Applied,
    error_code: Option<&'static str>,
    error: Option<String>,
}

/// Run a pass now (the console's 立即同步), even with a password refused before.
pub async fn sync_now(State(app): State<Shared>, AdminAuth(_): AdminAuth) -> Result<Json<SyncOut>, ApiError> {
    let (syncer, store, clock) = (app.inventory.clone(), app.store.clone(), app.clock.clone());
    let outcome = tokio::task::spawn_blocking(move || {
        lock_syncer(&syncer).as_mut().map(|s| s.pass(&store, clock.as_ref(), true))
    })
    .await
    .map_err(|e| ApiError::Internal(format!("inventory pass failed: {e}")))?;
    match outcome {
        None => Err(ApiError::Conflict("no [inventory] is configured on the service".into())),
        Some(Ok(applied)) => Ok(Json(SyncOut { ok: true, applied, error_code: None, error: None })),
        Some(Err(PassError::Sync(e))) => Ok(Json(SyncOut {
            ok: false,
            applied: Applied::default(),
            error_code: Some(e.code()),
            error: Some(e.to_string()),
        })),
        Some(Err(PassError::Store(e))) => Err(e.into()),
    }
}

/// The CSV import: `Content-Type: text/csv`, columns as `inventory::csv_import` says.
pub async fn import(
    State(app): State<Shared>,
    AdminAuth(actor): AdminAuth,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Applied>, ApiError> {
    let csv = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim_start().to_ascii_lowercase().starts_with("text/csv"));
    if !csv {
        return Err(ApiError::UnsupportedMediaType("send the file as Content-Type: text/csv".into()));
    }
    let text = String::from_utf8(body.to_vec())
        .map_err(|_| ApiError::BadRequest("the CSV file is not UTF-8 (save it as CSV UTF-8)".into()))?;
    let now = app.now();
    log::info!("inventory: CSV import by {actor}");
    let applied = app.with_store(move |s| job::import_csv(s, &text, now)).await?;
    applied.map(Json).map_err(ApiError::BadRequest)
}
