//! The admin API of the console under `/api/`, plus `/metrics`. Every change of machine or
//! global config goes through the store's audited updates (who, when, old → new).

use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::FixedOffset;
use pushagent_proto::offset::{self, Effective, LevelOffsets};
use serde::{Deserialize, Serialize};

use crate::error::ApiError;
use crate::global::GlobalDoc;
use crate::http::{session_cookie, AdminAuth, JsonBody, Params, Shared, SESSION_COOKIE};
use crate::store::{
    ConfigPatch, FleetHour, HistoryFilter, HistorySort, MachineFilter, MachineHour, MachineSort, MachineView,
    PushOutcomes, VersionCount,
};
use crate::{tokens, validate};

const MAX_PAGE_SIZE: u32 = 500;
const MAX_CSV_ROWS: u32 = 1_000_000;
const MAX_BULK: usize = 10_000;

pub const OPENAPI_JSON: &str = include_str!("openapi.json");

pub async fn openapi() -> Response {
    ([(header::CONTENT_TYPE, "application/json")], OPENAPI_JSON).into_response()
}

pub async fn logout(State(app): State<Shared>, headers: HeaderMap) -> Result<Response, ApiError> {
    let (mut parts, ()) = axum::http::Request::new(()).into_parts();
    parts.headers = headers;
    if let Some(session) = session_cookie(&parts) {
        let hash = tokens::token_hash(&session);
        app.with_store(move |s| s.delete_session(&hash)).await?;
    }
    let cookie =
        format!("{SESSION_COOKIE}=; HttpOnly; SameSite=Strict; Path={}/; Max-Age=0", app.settings.base_path);
    Ok(([(header::SET_COOKIE, cookie)], StatusCode::NO_CONTENT).into_response())
}

pub async fn me(AdminAuth(who): AdminAuth) -> Json<serde_json::Value> {
    Json(serde_json::json!({ "username": who }))
}

/// A machine with its computed state.
#[derive(Serialize)]
pub struct MachineOut {
    #[serde(flatten)]
    machine: MachineView,
    /// "online" or "offline" (silent for the configured number of heartbeat periods).
    state: &'static str,
    /// Agent clock minus service clock at the last heartbeat (positive = agent ahead).
    clock_skew_secs: Option<i64>,
    /// The agent names its hours in another zone than the service's `report_timezone`: its
    /// hours and the console's hourly figures do not line up.
    timezone_mismatch: bool,
    /// The offsets the agent pushes with and the level each comes from (machine > node >
    /// global, per kind: `proto::offset::resolve`).
    effective_offset: Effective,
}

#[derive(Serialize)]
pub struct Page<T> {
    pub(crate) total: u64,
    pub(crate) page: u32,
    pub(crate) page_size: u32,
    pub(crate) items: Vec<T>,
}

/// Seen at or after this time = online.
async fn online_since(app: &Shared) -> Result<i64, ApiError> {
    let (_, doc) = app.with_store(|s| s.global()).await?;
    let periods = i64::from(doc.alerts.offline_periods);
    let heartbeat = i64::try_from(app.settings.heartbeat_interval_secs).unwrap_or(i64::MAX);
    Ok(app.now().saturating_sub(periods.saturating_mul(heartbeat)))
}

pub(crate) fn paging(page: Option<u32>, page_size: Option<u32>) -> Result<(u32, u32, u64), ApiError> {
    let page = page.unwrap_or(1);
    let size = page_size.unwrap_or(50);
    if page == 0 || size == 0 || size > MAX_PAGE_SIZE {
        return Err(ApiError::BadRequest(format!("page starts at 1; page_size is 1 to {MAX_PAGE_SIZE}")));
    }
    Ok((page, size, u64::from(page - 1) * u64::from(size)))
}

fn descending(order: Option<&str>, default_desc: bool) -> Result<bool, ApiError> {
    match order {
        None => Ok(default_desc),
        Some("asc") => Ok(false),
        Some("desc") => Ok(true),
        Some(other) => Err(ApiError::BadRequest(format!("order: {other:?} is not asc or desc"))),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MachineQuery {
    /// Part of the hostname, MAC, machine-id or an IP address.
    q: Option<String>,
    /// Exact agent version.
    version: Option<String>,
    node: Option<String>,
    push_enabled: Option<bool>,
    /// online | offline
    state: Option<String>,
    /// hostname | last_seen | mac | node
    sort: Option<String>,
    order: Option<String>,
    page: Option<u32>,
    page_size: Option<u32>,
}

pub async fn list_machines(
    State(app): State<Shared>,
    AdminAuth(_): AdminAuth,
    Params(q): Params<MachineQuery>,
) -> Result<Json<Page<MachineOut>>, ApiError> {
    let (page, page_size, offset) = paging(q.page, q.page_size)?;
    let since = online_since(&app).await?;
    let sort = match q.sort.as_deref() {
        None | Some("hostname") => MachineSort::Hostname,
        Some("last_seen") => MachineSort::LastSeen,
        Some("mac") => MachineSort::Mac,
        Some("node") => MachineSort::Node,
        Some(other) => {
            return Err(ApiError::BadRequest(format!(
                "sort: {other:?} is not hostname, last_seen, mac or node"
            )))
        }
    };
    let (seen_since, not_seen_since) = match q.state.as_deref() {
        None => (None, None),
        Some("online") => (Some(since), None),
        Some("offline") => (None, Some(since)),
        Some(other) => {
            return Err(ApiError::BadRequest(format!("state: {other:?} is not online or offline")))
        }
    };
    let filter = MachineFilter {
        search: q.q.filter(|s| !s.is_empty()),
        version: q.version.filter(|v| !v.is_empty()),
        node: q.node,
        push_enabled: q.push_enabled,
        seen_since,
        not_seen_since,
        sort,
        descending: descending(q.order.as_deref(), false)?,
        limit: page_size,
        offset,
    };
    let ((total, machines), global) =
        app.with_store(move |s| Ok((s.list_machines(&filter)?, s.global()?.1.offset_level()))).await?;
    let zone = app.settings.report_offset();
    let items = machines.into_iter().map(|m| machine_out(m, since, zone, global)).collect();
    Ok(Json(Page { total, page, page_size, items }))
}

fn machine_out(
    machine: MachineView,
    online_since: i64,
    zone: chrono::FixedOffset,
    global: LevelOffsets,
) -> MachineOut {
    let state = if machine.last_seen_at >= online_since { "online" } else { "offline" };
    let clock_skew_secs = machine.agent_time.map(|agent| agent.saturating_sub(machine.last_seen_at));
    let timezone_mismatch = machine
        .report_timezone
        .as_deref()
        .is_some_and(|tz| !crate::settings::parse_report_timezone(tz).is_ok_and(|offset| offset == zone));
    let (node, own) = machine.config.offset_levels();
    let effective_offset = offset::resolve(global, node, own);
    MachineOut { machine, state, clock_skew_secs, timezone_mismatch, effective_offset }
}

pub async fn machine(
    State(app): State<Shared>,
    AdminAuth(_): AdminAuth,
    Path(id): Path<i64>,
) -> Result<Json<MachineOut>, ApiError> {
    let since = online_since(&app).await?;
    let (machine, global) =
        app.with_store(move |s| Ok((s.machine(id)?, s.global()?.1.offset_level()))).await?;
    Ok(Json(machine_out(machine, since, app.settings.report_offset(), global)))
}

/// The values a patch sets, checked by the agent's own function (`MachineConfig::validate`).
fn validate_patch(patch: &ConfigPatch) -> Result<(), ApiError> {
    if let Some(Some(name)) = &patch.host_name {
        validate::display_host_name("host_name", name).map_err(ApiError::BadRequest)?;
    }
    let probe = pushagent_proto::agent::MachineConfig {
        version: 0,
        push_enabled: true,
        acceptance: Default::default(),
        interface: patch.interface.clone().flatten(),
        offset_bp: patch.offset_bp.flatten(),
        offset_fixed_bytes: patch.offset_fixed_bytes.flatten(),
        node_offset_bp: None,
        node_offset_fixed_bytes: None,
        node: patch.node.clone().flatten(),
        isp_id: patch.isp_id.flatten(),
        device_type: patch.device_type.flatten(),
    };
    validate::machine_config(&probe).map_err(ApiError::BadRequest)
}

pub async fn update_machine(
    State(app): State<Shared>,
    AdminAuth(who): AdminAuth,
    Path(id): Path<i64>,
    JsonBody(patch, _): JsonBody<ConfigPatch>,
) -> Result<Json<pushagent_proto::agent::MachineConfig>, ApiError> {
    validate_patch(&patch)?;
    if let Some(Some(interface)) = &patch.interface {
        let machine = app.with_store(move |s| s.machine(id)).await?;
        reported_physical(&machine, interface)?;
    }
    let now = app.now();
    let mut updated = app.with_store(move |s| s.update_machine_configs(&[id], &patch, &who, now)).await?;
    updated.pop().map(Json).ok_or_else(|| ApiError::NotFound(format!("no machine {id}")))
}

/// The collected interface is one the agent reported as a physical NIC, never a bond, bridge
/// or virtual one.
fn reported_physical(machine: &MachineView, interface: &str) -> Result<(), ApiError> {
    let reported: Vec<(&str, bool)> = machine
        .interfaces
        .as_array()
        .map(|list| {
            list.iter()
                .filter_map(|i| Some((i.get("name")?.as_str()?, i.get("physical")?.as_bool()?)))
                .collect()
        })
        .unwrap_or_default();
    match reported.iter().find(|(name, _)| *name == interface) {
        Some((_, true)) => Ok(()),
        Some((_, false)) => Err(ApiError::BadRequest(format!(
            "interface: {interface} is not a physical NIC on {}; only physical NICs are collected",
            machine.hostname
        ))),
        None => {
            let physical: Vec<&str> = reported.iter().filter(|(_, p)| *p).map(|(n, _)| *n).collect();
            Err(ApiError::BadRequest(format!(
                "interface: {interface} is not among the physical NICs {} reported: [{}]",
                machine.hostname,
                physical.join(", ")
            )))
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Bulk {
    machine_ids: Vec<i64>,
    patch: ConfigPatch,
}

/// One change to many machines, all or nothing (e.g. switch a node off, set its offset).
pub async fn bulk_update(
    State(app): State<Shared>,
    AdminAuth(who): AdminAuth,
    JsonBody(bulk, _): JsonBody<Bulk>,
) -> Result<Json<serde_json::Value>, ApiError> {
    validate_patch(&bulk.patch)?;
    if matches!(bulk.patch.interface, Some(Some(_))) {
        return Err(ApiError::BadRequest(
            "interface: set a machine's interface one machine at a time (interfaces differ per machine)"
                .into(),
        ));
    }
    if bulk.machine_ids.is_empty() || bulk.machine_ids.len() > MAX_BULK {
        return Err(ApiError::BadRequest(format!("machine_ids: 1 to {MAX_BULK} ids")));
    }
    let now = app.now();
    let updated =
        app.with_store(move |s| s.update_machine_configs(&bulk.machine_ids, &bulk.patch, &who, now)).await?;
    Ok(Json(serde_json::json!({ "updated": updated.len() })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HistoryQuery {
    machine_id: Option<i64>,
    mac: Option<String>,
    /// Part of the host name.
    host: Option<String>,
    node: Option<String>,
    status: Option<String>,
    from_hour: Option<String>,
    to_hour: Option<String>,
    /// true: one row per (mac, hour), its latest attempt, with `hour_attempts`.
    latest: Option<bool>,
    /// attempted_at | flux_hour | pushed_bytes
    sort: Option<String>,
    order: Option<String>,
    page: Option<u32>,
    page_size: Option<u32>,
}

fn history_filter(q: HistoryQuery, limit: u32, offset: u64) -> Result<HistoryFilter, ApiError> {
    let bad = ApiError::BadRequest;
    let mac = q.mac.map(|m| validate::mac("mac", &m)).transpose().map_err(bad)?;
    for hour in [&q.from_hour, &q.to_hour].into_iter().flatten() {
        validate::flux_hour("from_hour/to_hour", hour).map_err(bad)?;
    }
    if let Some(status) = &q.status {
        if status != "success" && status != "failure" {
            return Err(bad(format!("status: {status:?} is not success or failure")));
        }
    }
    let sort = match q.sort.as_deref() {
        None | Some("attempted_at") => HistorySort::AttemptedAt,
        Some("flux_hour") => HistorySort::FluxHour,
        Some("pushed_bytes") => HistorySort::PushedBytes,
        Some(other) => {
            return Err(bad(format!("sort: {other:?} is not attempted_at, flux_hour or pushed_bytes")));
        }
    };
    Ok(HistoryFilter {
        machine_id: q.machine_id,
        mac,
        host: q.host.map(|h| h.trim().to_owned()).filter(|h| !h.is_empty()),
        node: q.node,
        status: q.status,
        from_hour: q.from_hour,
        to_hour: q.to_hour,
        latest_only: q.latest.unwrap_or(false),
        descending: descending(q.order.as_deref(), true)?,
        sort,
        limit,
        offset,
    })
}

pub async fn history(
    State(app): State<Shared>,
    AdminAuth(_): AdminAuth,
    Params(q): Params<HistoryQuery>,
) -> Result<Json<Page<crate::store::HistoryRow>>, ApiError> {
    let (page, page_size, offset) = paging(q.page, q.page_size)?;
    let filter = history_filter(q, page_size, offset)?;
    let (total, items) = app.with_store(move |s| s.list_history(&filter)).await?;
    Ok(Json(Page { total, page, page_size, items }))
}

/// The filtered history (no paging) as CSV: times as `YYYY-MM-DD HH:MM:SS` UTC.
pub async fn history_csv(
    State(app): State<Shared>,
    AdminAuth(_): AdminAuth,
    Params(q): Params<HistoryQuery>,
) -> Result<Response, ApiError> {
    let filter = history_filter(q, MAX_CSV_ROWS, 0)?;
    let (_, rows) = app.with_store(move |s| s.list_history(&filter)).await?;
    let mut writer = csv::Writer::from_writer(Vec::new());
    let csv_err = |e: csv::Error| ApiError::Internal(format!("CSV: {e}"));
    writer
        .write_record([
            "node",
            "hostname",
            "mac",
            "flux_hour",
            "version",
            "attempt",
            "raw_bytes",
            "pushed_bytes",
            "offset_bp",
            "status",
            "http_status",
            "code",
            "message",
            "attempted_at",
            "hour_attempts",
            // Last: the columns before it keep their places for scripts that read by position.
            "offset_fixed_bytes",
            // The points a push switch sent as 0, e.g. "0,1,2" (points 00:00-00:10 of the hour).
            "off_points",
        ])
        .map_err(csv_err)?;
    for r in rows {
        writer
            .write_record([
                r.node.unwrap_or_default(),
                r.hostname,
                r.mac,
                r.flux_hour,
                r.version.to_string(),
                r.attempt.to_string(),
                r.raw_bytes.to_string(),
                r.pushed_bytes.to_string(),
                r.offset_bp.to_string(),
                r.status,
                r.http_status.map(|s| s.to_string()).unwrap_or_default(),
                r.code.map(|c| c.to_string()).unwrap_or_default(),
                r.message.unwrap_or_default(),
                format_time(r.attempted_at),
                r.hour_attempts.to_string(),
                r.offset_fixed_bytes.to_string(),
                (0..12)
                    .filter(|i| r.off_slots & (1 << i) != 0)
                    .map(|i| i.to_string())
                    .collect::<Vec<_>>()
                    .join(","),
            ])
            .map_err(csv_err)?;
    }
    let bytes = writer.into_inner().map_err(|e| ApiError::Internal(format!("CSV: {e}")))?;
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (header::CONTENT_DISPOSITION, "attachment; filename=\"push-history.csv\""),
        ],
        bytes,
    )
        .into_response())
}

pub fn format_time(unix_secs: i64) -> String {
    chrono::DateTime::from_timestamp(unix_secs, 0)
        .map_or_else(|| unix_secs.to_string(), |t| t.format("%Y-%m-%d %H:%M:%S").to_string())
}

/// The global config with secrets shown only as set/unset.
pub async fn global_config(
    State(app): State<Shared>,
    AdminAuth(_): AdminAuth,
) -> Result<Json<serde_json::Value>, ApiError> {
    let (version, doc) = app.with_store(|s| s.global()).await?;
    Ok(Json(doc.redacted(version)))
}

/// Replace the global config (a missing secret keeps the stored one); a new version is stored
/// and each changed field audited.
pub async fn update_global_config(
    State(app): State<Shared>,
    AdminAuth(who): AdminAuth,
    JsonBody(update, _): JsonBody<serde_json::Value>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let now = app.now();
    let doc = app
        .with_store(move |s| {
            let (_, old) = s.global()?;
            Ok(GlobalDoc::from_update(update, &old))
        })
        .await?
        .map_err(ApiError::BadRequest)?;
    validate::global(&doc).map_err(ApiError::BadRequest)?;
    let (version, doc) = app
        .with_store(move |s| {
            let version = s.update_global(&doc, &who, now)?;
            Ok((version, doc))
        })
        .await?;
    Ok(Json(doc.redacted(version)))
}

/// The built-in customer profiles (`proto::profile::presets`), for the push-config page.
pub async fn profile_presets(AdminAuth(_): AdminAuth) -> Json<Vec<pushagent_proto::profile::Preset>> {
    Json(pushagent_proto::profile::presets())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PageQuery {
    page: Option<u32>,
    page_size: Option<u32>,
}

pub async fn alerts(
    State(app): State<Shared>,
    AdminAuth(_): AdminAuth,
    Params(q): Params<PageQuery>,
) -> Result<Json<Page<crate::store::AlertRow>>, ApiError> {
    let (page, page_size, offset) = paging(q.page, q.page_size)?;
    let (total, items) = app.with_store(move |s| s.list_alerts(page_size, offset)).await?;
    Ok(Json(Page { total, page, page_size, items }))
}

/// Send a test message to every configured alert channel now, and say what each answered.
/// Nothing is stored: it is an operator checking the wiring, not an incident.
pub async fn test_alert(
    State(app): State<Shared>,
    AdminAuth(who): AdminAuth,
) -> Result<Json<serde_json::Value>, ApiError> {
    let (_, doc) = app.with_store(|s| s.global()).await?;
    let channels = doc.alerts.channels.clone();
    if channels.is_empty() {
        return Err(ApiError::BadRequest("no alert channel is configured: add one first".into()));
    }
    let (title, body) = if doc.alerts.language == "en" {
        ("PushAgent test alert".to_string(), format!("A test message sent by {who} from the console."))
    } else {
        ("PushAgent 测试告警".to_string(), format!("这是 {who} 从控制台发送的测试消息。"))
    };
    let settings = app.settings.clone();
    let now = app.now();
    let results = tokio::task::spawn_blocking(move || {
        let http = crate::alerts::http_agent(&settings);
        channels
            .iter()
            .map(|channel| {
                let delivery = crate::store::DueDelivery {
                    id: 0,
                    channel: channel.name.clone(),
                    attempts: 0,
                    alert_kind: "test".into(),
                    title: title.clone(),
                    body: body.clone(),
                    created_at: now,
                    machine_id: None,
                    incident_id: None,
                };
                let outgoing = crate::alerts::render(channel, &delivery, now * 1000);
                match crate::alerts::send(&http, &outgoing) {
                    Ok(()) => serde_json::json!({ "channel": channel.name, "ok": true }),
                    Err(e) => serde_json::json!({ "channel": channel.name, "ok": false, "error": e }),
                }
            })
            .collect::<Vec<_>>()
    })
    .await
    .map_err(|e| ApiError::Internal(format!("test alert task: {e}")))?;
    Ok(Json(serde_json::json!({ "results": results })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VerificationQuery {
    /// Only this machine's results.
    machine_id: Option<i64>,
    page: Option<u32>,
    page_size: Option<u32>,
}

pub async fn verifications(
    State(app): State<Shared>,
    AdminAuth(_): AdminAuth,
    Params(q): Params<VerificationQuery>,
) -> Result<Json<Page<crate::store::VerificationRow>>, ApiError> {
    let (page, page_size, offset) = paging(q.page, q.page_size)?;
    let machine_id = q.machine_id;
    let (total, items) = app.with_store(move |s| s.list_verifications(machine_id, page_size, offset)).await?;
    Ok(Json(Page { total, page, page_size, items }))
}

/// A machine's MAC changes (old → new, when the service saw the new one), newest first.
pub async fn mac_history(
    State(app): State<Shared>,
    AdminAuth(_): AdminAuth,
    Path(id): Path<i64>,
    Params(q): Params<PageQuery>,
) -> Result<Json<Page<crate::store::MacHistoryRow>>, ApiError> {
    let (page, page_size, offset) = paging(q.page, q.page_size)?;
    let (total, items) = app.with_store(move |s| s.mac_history(id, page_size, offset)).await?;
    Ok(Json(Page { total, page, page_size, items }))
}

/// A machine's skipped hours: hours its agent did not report because a push switch was off
/// when it built them (never reported later), with the raw bytes it measured; newest first.
pub async fn skipped_hours(
    State(app): State<Shared>,
    AdminAuth(_): AdminAuth,
    Path(id): Path<i64>,
    Params(q): Params<PageQuery>,
) -> Result<Json<Page<crate::store::SkippedHourRow>>, ApiError> {
    let (page, page_size, offset) = paging(q.page, q.page_size)?;
    let (total, items) = app.with_store(move |s| s.skipped_hours(id, page_size, offset)).await?;
    Ok(Json(Page { total, page, page_size, items }))
}

/// The report hours (`YYYYMMDDHH` in `offset`) of the `count` whole hours before the one
/// holding `now`, oldest first, and the start (unix secs) of the oldest.
pub fn closed_report_hours(now: i64, offset: FixedOffset, count: u32) -> (Vec<String>, i64) {
    let local = i64::from(offset.local_minus_utc());
    let current_start = (now + local).div_euclid(3600) * 3600 - local;
    let oldest_start = current_start - i64::from(count) * 3600;
    let hours = (0..i64::from(count))
        .map(|k| {
            chrono::DateTime::from_timestamp(oldest_start + k * 3600, 0)
                .map(|t| t.with_timezone(&offset).format("%Y%m%d%H").to_string())
                .unwrap_or_default()
        })
        .collect();
    (hours, oldest_start)
}

/// Hourly charts: the hours of the window in the report time zone.
#[derive(Serialize)]
pub struct HourWindow<T> {
    report_timezone: String,
    from_hour: String,
    to_hour: String,
    /// Every hour of the window, oldest first; an hour without data is zeros.
    hours: Vec<T>,
}

fn hour_window<T: Default>(
    report_timezone: &str,
    hours: &[String],
    mut rows: Vec<T>,
    hour_of: impl Fn(&T) -> &str,
    named: impl Fn(String) -> T,
) -> HourWindow<T> {
    let mut dense = Vec::with_capacity(hours.len());
    rows.reverse(); // ascending → pop from the end
    for hour in hours {
        while rows.last().is_some_and(|r| hour_of(r) < hour.as_str()) {
            rows.pop();
        }
        match rows.last() {
            Some(r) if hour_of(r) == hour => dense.extend(rows.pop()),
            _ => dense.push(named(hour.clone())),
        }
    }
    HourWindow {
        report_timezone: report_timezone.to_owned(),
        from_hour: hours.first().cloned().unwrap_or_default(),
        to_hour: hours.last().cloned().unwrap_or_default(),
        hours: dense,
    }
}

const MAX_TRAFFIC_HOURS: u32 = 31 * 24;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrafficQuery {
    /// How many closed hours back (default 168 = 7 days, at most 744).
    hours: Option<u32>,
}

/// One machine's traffic per report hour over the last `hours` closed hours: what reached
/// the customer (latest successful attempt) and how the latest attempt ended.
pub async fn machine_traffic(
    State(app): State<Shared>,
    AdminAuth(_): AdminAuth,
    Path(id): Path<i64>,
    Params(q): Params<TrafficQuery>,
) -> Result<Json<HourWindow<MachineHour>>, ApiError> {
    let count = q.hours.unwrap_or(7 * 24);
    if count == 0 || count > MAX_TRAFFIC_HOURS {
        return Err(ApiError::BadRequest(format!("hours: 1 to {MAX_TRAFFIC_HOURS}")));
    }
    let (hours, oldest_start) = closed_report_hours(app.now(), app.settings.report_offset(), count);
    let (from, to) = (hours[0].clone(), hours[hours.len() - 1].clone());
    // A day of slack below the window's start for agent clocks that run behind.
    let since = oldest_start - 86_400;
    let rows = app.with_store(move |s| s.machine_hourly_traffic(id, &from, &to, since)).await?;
    let named = |flux_hour| MachineHour { flux_hour, ..MachineHour::default() };
    Ok(Json(hour_window(&app.settings.report_timezone, &hours, rows, |r| &r.flux_hour, named)))
}

pub async fn audit(
    State(app): State<Shared>,
    AdminAuth(_): AdminAuth,
    Params(q): Params<PageQuery>,
) -> Result<Json<Page<crate::store::AuditRow>>, ApiError> {
    let (page, page_size, offset) = paging(q.page, q.page_size)?;
    let (total, items) = app.with_store(move |s| s.list_audit(page_size, offset)).await?;
    Ok(Json(Page { total, page, page_size, items }))
}

/// The overview page (Agent 状态): exact fleet aggregates, all computed by the store.
#[derive(Serialize)]
pub struct Overview {
    deployed: i64,
    /// Seen within `alerts.offline_periods` heartbeat periods (running).
    online: i64,
    offline: i64,
    switched_off: i64,
    under_acceptance: i64,
    open_incidents: i64,
    /// Push attempts ever stored, by status.
    pushes_success: i64,
    pushes_failure: i64,
    agents_by_version: Vec<VersionCount>,
    /// Push attempts made (and hours held, hours skipped with the push switch off) in the
    /// last 24 hours.
    pushes_24h: Outcomes24h,
    /// The fleet's pushed and raw bytes per report hour over the last 24 closed hours.
    traffic_24h: HourWindow<FleetHour>,
}

#[derive(Serialize)]
pub struct Outcomes24h {
    since: i64,
    #[serde(flatten)]
    outcomes: PushOutcomes,
}

pub async fn overview(
    State(app): State<Shared>,
    AdminAuth(_): AdminAuth,
) -> Result<Json<Overview>, ApiError> {
    let online_since = online_since(&app).await?;
    let now = app.now();
    let since = now - 86_400;
    let (hours, _) = closed_report_hours(now, app.settings.report_offset(), 24);
    let (from, to) = (hours[0].clone(), hours[hours.len() - 1].clone());
    let (fleet, counts, versions, outcomes, traffic) = app
        .with_store(move |s| {
            Ok((
                s.fleet_counts(online_since)?,
                s.counts(online_since)?,
                s.agents_by_version()?,
                s.push_outcomes_since(since)?,
                s.fleet_hourly_traffic(&from, &to)?,
            ))
        })
        .await?;
    let named = |flux_hour| FleetHour { flux_hour, ..FleetHour::default() };
    Ok(Json(Overview {
        deployed: fleet.deployed,
        online: fleet.online,
        offline: fleet.deployed - fleet.online,
        switched_off: fleet.switched_off,
        under_acceptance: fleet.under_acceptance,
        open_incidents: counts.open_incidents,
        pushes_success: counts.pushes_success,
        pushes_failure: counts.pushes_failure,
        agents_by_version: versions,
        pushes_24h: Outcomes24h { since, outcomes },
        traffic_24h: hour_window(&app.settings.report_timezone, &hours, traffic, |r| &r.flux_hour, named),
    }))
}

/// The fleet's agent versions (what the machine table's version filter offers), without the
/// overview's traffic figures.
pub async fn agent_versions(
    State(app): State<Shared>,
    AdminAuth(_): AdminAuth,
) -> Result<Json<Vec<VersionCount>>, ApiError> {
    Ok(Json(app.with_store(|s| s.agents_by_version()).await?))
}

/// Prometheus text format. Unauthenticated, like most scrape targets: it holds counts only.
pub async fn metrics(State(app): State<Shared>) -> Result<Response, ApiError> {
    let since = online_since(&app).await?;
    let c = app.with_store(move |s| s.counts(since)).await?;
    let text = format!(
        "# HELP pushagent_agents Agents by state.\n# TYPE pushagent_agents gauge\n\
         pushagent_agents{{state=\"online\"}} {}\npushagent_agents{{state=\"offline\"}} {}\n\
         # HELP pushagent_pushes_total Push attempts reported by agents, by status.\n# TYPE pushagent_pushes_total counter\n\
         pushagent_pushes_total{{status=\"success\"}} {}\npushagent_pushes_total{{status=\"failure\"}} {}\n\
         # HELP pushagent_alerts_total Alerts raised.\n# TYPE pushagent_alerts_total counter\npushagent_alerts_total {}\n\
         # HELP pushagent_alert_deliveries Alert deliveries by status.\n# TYPE pushagent_alert_deliveries gauge\n\
         pushagent_alert_deliveries{{status=\"sent\"}} {}\npushagent_alert_deliveries{{status=\"failed\"}} {}\n\
         pushagent_alert_deliveries{{status=\"pending\"}} {}\n\
         # HELP pushagent_open_incidents Incidents not yet recovered.\n# TYPE pushagent_open_incidents gauge\n\
         pushagent_open_incidents {}\n",
        c.machines_seen_since,
        c.machines - c.machines_seen_since,
        c.pushes_success,
        c.pushes_failure,
        c.alerts,
        c.deliveries_sent,
        c.deliveries_failed,
        c.deliveries_pending,
        c.open_incidents,
    );
    Ok(([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text).into_response())
}
