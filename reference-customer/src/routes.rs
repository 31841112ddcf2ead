//! HTTP: the signed customer API (`/api/v1/flux/...`) and the unsigned admin API (`/_admin/...`).
//! Handlers never build SQL (that is `store`) and every failure becomes an answer in ONE place,
//! `Failure::into_response`.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use axum::body::{Body, Bytes};
use axum::extract::rejection::JsonRejection;
use axum::extract::{Request, State};
use axum::http::{header, request::Parts, HeaderMap, Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use http_body_util::BodyExt;
use pushagent_proto::customer::{
    code, Answer, Conflict, FluxRecord, HEADER_ACCESS_ID, HEADER_NONCE, HEADER_SIGNATURE, HEADER_TIMESTAMP,
    QUERY_PATH, REPORT_PATH,
};
use serde::{Deserialize, Serialize};

use crate::auth::{self, Profile, Refusal, SignedRequest, Verifier};
use crate::connection::Cut;
use crate::faults::{Faults, FaultsUpdate, Injector};
use crate::line::{self, LineAnswer, LineAnswers};
use crate::store::{AlterableField, Origin, PushOutcome, Store, StoreError};
use crate::validate::{self, Invalid};
use crate::Settings;

/// Request bodies above this are refused (413).
pub const MAX_BODY_BYTES: usize = 1024 * 1024;
/// Not in the customer spec: the answer code of an unknown path on this server.
const NOT_FOUND_CODE: i64 = 40401;

pub(crate) struct App {
    store: Arc<Mutex<Store>>,
    verifier: Verifier,
    injector: Injector,
    requests: Mutex<RequestCounts>,
    line_separator: char,
    line_answers: LineAnswers,
}

type Shared = Arc<App>;

impl App {
    pub(crate) fn new(store: Store, settings: &Settings, seed: u64) -> App {
        App {
            store: Arc::new(Mutex::new(store)),
            verifier: Verifier::new(&settings.credentials, settings.timestamp_window_secs),
            injector: Injector::new(settings.faults, seed),
            requests: Mutex::new(RequestCounts::default()),
            line_separator: settings.line_separator,
            line_answers: settings.line_answers,
        }
    }

    /// Run `job` on the store off the async workers (SQLite blocks).
    async fn with_store<T: Send + 'static>(
        &self,
        job: impl FnOnce(&mut Store) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, Failure> {
        let store = Arc::clone(&self.store);
        tokio::task::spawn_blocking(move || job(&mut lock(&store)))
            .await
            .map_err(|e| Failure::Internal(format!("store job failed: {e}")))?
            .map_err(Failure::Store)
    }

    /// Count and log one API request in one line (never its headers: no secret can leak).
    fn finish(&self, method: &Method, path: &str, outcome: &'static str, records: usize, started: Instant) {
        self.finish_with(method, path, outcome, records, started, "");
    }

    fn finish_with(
        &self,
        method: &Method,
        path: &str,
        outcome: &'static str,
        records: usize,
        started: Instant,
        detail: &str,
    ) {
        lock(&self.requests).count(method, outcome);
        let ms = started.elapsed().as_millis();
        if detail.is_empty() {
            log::info!("{method} {path} {outcome} records={records} ms={ms}");
        } else {
            log::info!("{method} {path} {outcome} records={records} ms={ms}: {detail}");
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// API requests by outcome ("ok", "invalid", "refused", "fault_502", ...), for the dump.
#[derive(Debug, Default, Serialize)]
struct RequestCounts {
    total: u64,
    by_outcome: BTreeMap<&'static str, u64>,
    /// API requests by HTTP method ("POST": pushes, "GET": queries), whatever their outcome.
    by_method: BTreeMap<String, u64>,
}

impl RequestCounts {
    fn count(&mut self, method: &Method, outcome: &'static str) {
        self.total += 1;
        *self.by_outcome.entry(outcome).or_default() += 1;
        *self.by_method.entry(method.as_str().to_owned()).or_default() += 1;
    }
}

pub(crate) fn router(app: App) -> Router {
    let app = Arc::new(app);
    Router::new()
        .route(REPORT_PATH, post(report))
        .route(QUERY_PATH, get(query))
        .route("/_admin/health", get(health))
        .route("/_admin/faults", get(faults).put(set_faults))
        .route("/_admin/alter", post(alter))
        .route("/_admin/delete", post(delete))
        .route("/_admin/dump", get(dump))
        .fallback(not_found)
        .layer(middleware::from_fn_with_state(Arc::clone(&app), down_gate))
        .with_state(app)
}

/// Why a request gets something other than `{"code":0}`.
#[derive(Debug)]
enum Failure {
    BodyTooLarge,
    Invalid(Invalid),
    Refused(Refusal),
    Conflict(Vec<Conflict>),
    /// A bad admin request.
    BadRequest(String),
    NotFound(String),
    Store(StoreError),
    Internal(String),
}

impl Failure {
    /// The name under which the dump counts it.
    fn outcome(&self) -> &'static str {
        match self {
            Failure::BodyTooLarge => "too_large",
            Failure::Invalid(_) | Failure::BadRequest(_) => "invalid",
            Failure::Refused(_) => "refused",
            Failure::Conflict(_) => "conflict",
            Failure::NotFound(_) => "not_found",
            Failure::Store(_) | Failure::Internal(_) => "server_error",
        }
    }
}

impl Failure {
    /// What the log line says about it (the client's own mistakes; server errors log themselves).
    fn detail(&self) -> String {
        match self {
            Failure::Invalid(Invalid(msg)) | Failure::BadRequest(msg) | Failure::NotFound(msg) => msg.clone(),
            Failure::Refused(refusal) => refusal.to_string(),
            Failure::Conflict(conflicts) => conflicts
                .iter()
                .map(|c| format!("{} {} stored v{}", c.mac, c.flux_hour, c.stored_version))
                .collect::<Vec<_>>()
                .join(", "),
            Failure::BodyTooLarge | Failure::Store(_) | Failure::Internal(_) => String::new(),
        }
    }
}

impl IntoResponse for Failure {
    fn into_response(self) -> Response {
        self.respond(Wire::Json)
    }
}

impl Failure {
    /// The answer in the wire format of the request: `code` (JSON profile) or `ret` (line).
    fn respond(self, wire: Wire) -> Response {
        let (status, code, msg, conflicts) = match self {
            Failure::BodyTooLarge => (
                StatusCode::PAYLOAD_TOO_LARGE,
                code::INVALID_RECORD,
                format!("request body over {MAX_BODY_BYTES} bytes"),
                vec![],
            ),
            Failure::Invalid(invalid) => (StatusCode::OK, code::INVALID_RECORD, invalid.0, vec![]),
            Failure::Refused(refusal) => {
                (StatusCode::UNAUTHORIZED, code::SIGNATURE_REFUSED, refusal.to_string(), vec![])
            }
            Failure::Conflict(conflicts) => (
                StatusCode::OK,
                code::VERSION_CONFLICT,
                format!("{} record(s) not above the stored version with other values", conflicts.len()),
                conflicts,
            ),
            Failure::BadRequest(msg) => (StatusCode::BAD_REQUEST, code::INVALID_RECORD, msg, vec![]),
            Failure::NotFound(msg) => (StatusCode::NOT_FOUND, NOT_FOUND_CODE, msg, vec![]),
            Failure::Store(e) => {
                log::error!("{e}");
                (StatusCode::INTERNAL_SERVER_ERROR, code::SERVER_ERROR, "store error".to_owned(), vec![])
            }
            Failure::Internal(e) => {
                log::error!("{e}");
                (StatusCode::INTERNAL_SERVER_ERROR, code::SERVER_ERROR, "internal error".to_owned(), vec![])
            }
        };
        match wire {
            Wire::Json => (status, Json(Answer { code, msg, conflicts, data: None })).into_response(),
            Wire::Line(LineAnswers::Json) => {
                (status, Json(LineAnswer { ret: code, msg, conflicts, list: None })).into_response()
            }
            Wire::Line(LineAnswers::Text) => {
                (status, [(header::CONTENT_TYPE, "text/plain")], format!("{}: {msg}", line::TEXT_FAIL))
                    .into_response()
            }
        }
    }
}

fn ok_answer(data: Option<Vec<FluxRecord>>) -> Answer {
    Answer { code: code::OK, msg: "ok".to_owned(), conflicts: vec![], data }
}

fn unix_now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// While `down`, every request but the admin API loses its connection without an answer.
async fn down_gate(
    State(app): State<Shared>,
    Extension(cut): Extension<Cut>,
    request: Request,
    next: Next,
) -> Response {
    if !request.uri().path().starts_with("/_admin/") && app.injector.faults().down {
        app.finish(request.method(), request.uri().path(), "down", 0, Instant::now());
        return cut.close_without_answer().await;
    }
    next.run(request).await
}

#[derive(Debug, Clone, Copy)]
enum Endpoint {
    Report,
    Query,
}

/// The profile a request speaks, told by its access-id header: `access_id` = the line
/// profile, anything else the JSON one (whose checks then name what is missing).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Wire {
    Json,
    /// How the answers of a line push look (a query always answers JSON).
    Line(LineAnswers),
}

impl Wire {
    fn of(headers: &HeaderMap, endpoint: Endpoint, answers: LineAnswers) -> Wire {
        match (headers.contains_key(line::HEADER_ACCESS_ID), endpoint) {
            (false, _) => Wire::Json,
            (true, Endpoint::Report) => Wire::Line(answers),
            (true, Endpoint::Query) => Wire::Line(LineAnswers::Json),
        }
    }
}

/// A good answer.
enum Success {
    Json(Answer),
    Line(LineAnswer),
    /// A line push stored, answered in text: `ok`.
    Text,
    /// A line push stored without `need_response: true`: 200 with an empty body.
    Empty,
}

impl IntoResponse for Success {
    fn into_response(self) -> Response {
        match self {
            Success::Json(answer) => Json(answer).into_response(),
            Success::Line(answer) => Json(answer).into_response(),
            Success::Text => ([(header::CONTENT_TYPE, "text/plain")], line::TEXT_OK).into_response(),
            Success::Empty => StatusCode::OK.into_response(),
        }
    }
}

async fn report(State(app): State<Shared>, Extension(cut): Extension<Cut>, request: Request) -> Response {
    api(app, cut, request, Endpoint::Report).await
}

async fn query(State(app): State<Shared>, Extension(cut): Extension<Cut>, request: Request) -> Response {
    api(app, cut, request, Endpoint::Query).await
}

/// One API request: its drawn fault first, then body, signature, endpoint, answer.
async fn api(app: Shared, cut: Cut, request: Request, endpoint: Endpoint) -> Response {
    let started = Instant::now();
    let (parts, body) = request.into_parts();
    let path = parts.uri.path().to_owned();
    let draw = app.injector.draw();
    if let Some(hang) = draw.hang {
        app.finish(&parts.method, &path, "fault_hang", 0, started);
        tokio::time::sleep(hang).await;
        return cut.close_without_answer().await;
    }
    if let Some(error) = draw.error {
        // Read the request before answering, as every other answer does: hyper notices an
        // unread body only after the answer's head is out, then closes a connection the client
        // was told it could keep ("Peer disconnected" on the client's next request over it).
        let _ = read_body(body, &parts.headers).await;
        tokio::time::sleep(draw.slow).await;
        app.finish(&parts.method, &path, error.outcome(), 0, started);
        return error.into_response();
    }
    let mut records = 0;
    let wire = Wire::of(&parts.headers, endpoint, app.line_answers);
    let result = match (endpoint, wire) {
        (Endpoint::Report, Wire::Json) => {
            push_records(&app, &parts, body, &mut records).await.map(Success::Json)
        }
        (Endpoint::Query, Wire::Json) => {
            query_records(&app, &parts, body, &mut records).await.map(Success::Json)
        }
        (Endpoint::Report, Wire::Line(answers)) => {
            push_lines(&app, &parts, body, &mut records, answers).await
        }
        (Endpoint::Query, Wire::Line(_)) => {
            query_lines(&app, &parts, body, &mut records).await.map(Success::Line)
        }
    };
    match result {
        Ok(_) if matches!(endpoint, Endpoint::Report) && draw.close_after_store => {
            app.finish(&parts.method, &path, "fault_close_after_store", records, started);
            cut.close_without_answer().await
        }
        Ok(answer) => {
            tokio::time::sleep(draw.slow).await;
            app.finish(&parts.method, &path, "ok", records, started);
            answer.into_response()
        }
        Err(failure) => {
            tokio::time::sleep(draw.slow).await;
            app.finish_with(&parts.method, &path, failure.outcome(), records, started, &failure.detail());
            failure.respond(wire)
        }
    }
}

async fn push_records(app: &App, parts: &Parts, body: Body, records: &mut usize) -> Result<Answer, Failure> {
    let body = read_body(body, &parts.headers).await?;
    let access_id = check_signature(app, parts, &body)?;
    let batch = validate::push_body(&body).map_err(Failure::Invalid)?;
    *records = batch.len();
    store_batch(app, batch, access_id, None).await?;
    Ok(ok_answer(None))
}

/// A line-profile push: access id (and signature when its credential wants one), sequence
/// number, lines; the same store rules as the JSON profile.
async fn push_lines(
    app: &App,
    parts: &Parts,
    body: Body,
    records: &mut usize,
    answers: LineAnswers,
) -> Result<Success, Failure> {
    let body = read_body(body, &parts.headers).await?;
    let access_id = check_line_auth(app, parts, &body)?;
    let header = |name: &str| parts.headers.get(name).and_then(|value| value.to_str().ok());
    let seq = line::sequence(header(line::HEADER_SEQUENCE)).map_err(Failure::Invalid)?;
    let batch = line::push_body(&body, app.line_separator).map_err(Failure::Invalid)?;
    *records = batch.len();
    store_batch(app, batch, access_id, Some(seq)).await?;
    let need_response =
        header(line::HEADER_NEED_RESPONSE).is_some_and(|value| value.trim().eq_ignore_ascii_case("true"));
    Ok(match (need_response, answers) {
        (false, _) => Success::Empty,
        (true, LineAnswers::Text) => Success::Text,
        (true, LineAnswers::Json) => Success::Line(LineAnswer::ok(None)),
    })
}

async fn store_batch(
    app: &App,
    batch: Vec<FluxRecord>,
    access_id: String,
    seq: Option<u64>,
) -> Result<(), Failure> {
    let profile = if seq.is_some() { "line" } else { "json" };
    let outcome = app
        .with_store(move |store| {
            store.push(&batch, unix_now(), Origin { profile, access_id: &access_id, seq })
        })
        .await?;
    match outcome {
        PushOutcome::Stored => Ok(()),
        PushOutcome::Conflicts(conflicts) => Err(Failure::Conflict(conflicts)),
    }
}

async fn query_records(app: &App, parts: &Parts, body: Body, records: &mut usize) -> Result<Answer, Failure> {
    let body = read_body(body, &parts.headers).await?;
    check_signature(app, parts, &body)?;
    let params = auth::query_pairs(parts.uri.query());
    let (mac, flux_dat) = validate::query_params(&params).map_err(Failure::Invalid)?;
    let stored = app.with_store(move |store| store.query(&mac, &flux_dat)).await?;
    *records = stored.len();
    Ok(ok_answer(Some(stored)))
}

/// The line profile's query: same parameters, the records under `list`.
async fn query_lines(
    app: &App,
    parts: &Parts,
    body: Body,
    records: &mut usize,
) -> Result<LineAnswer, Failure> {
    let body = read_body(body, &parts.headers).await?;
    check_line_auth(app, parts, &body)?;
    let params = auth::query_pairs(parts.uri.query());
    let (mac, flux_dat) = validate::query_params(&params).map_err(Failure::Invalid)?;
    let stored = app.with_store(move |store| store.query(&mac, &flux_dat)).await?;
    *records = stored.len();
    Ok(LineAnswer::ok(Some(stored)))
}

/// The whole body, at most MAX_BODY_BYTES of it. A larger body is still read (up to
/// DRAIN_BYTES, and not kept) so the client gets its 413 instead of a broken pipe.
async fn read_body(mut body: Body, headers: &HeaderMap) -> Result<Bytes, Failure> {
    const DRAIN_BYTES: u64 = 16 * MAX_BODY_BYTES as u64;
    let declared = headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    if declared.is_some_and(|len| len > DRAIN_BYTES) {
        return Err(Failure::BodyTooLarge);
    }
    let mut kept = Vec::new();
    let mut total: u64 = 0;
    while let Some(frame) = body.frame().await {
        let frame =
            frame.map_err(|e| Failure::Invalid(Invalid(format!("cannot read the request body: {e}"))))?;
        if let Ok(data) = frame.into_data() {
            total = total.saturating_add(data.len() as u64);
            if total > DRAIN_BYTES {
                break;
            }
            if total <= MAX_BODY_BYTES as u64 {
                kept.extend_from_slice(&data);
            }
        }
    }
    if total > MAX_BODY_BYTES as u64 {
        return Err(Failure::BodyTooLarge);
    }
    Ok(Bytes::from(kept))
}

/// The JSON profile's signed request; returns its access id.
fn check_signature(app: &App, parts: &Parts, body: &[u8]) -> Result<String, Failure> {
    let access_id = verify_signed(app, parts, body, HEADER_ACCESS_ID)?;
    expect_profile(app, &access_id, "json")?;
    Ok(access_id)
}

/// The line profile's access id, and its signature when its credential asks for one.
fn check_line_auth(app: &App, parts: &Parts, body: &[u8]) -> Result<String, Failure> {
    let access_id = parts
        .headers
        .get(line::HEADER_ACCESS_ID)
        .and_then(|value| value.to_str().ok())
        .ok_or(Failure::Refused(Refusal::MissingHeader(line::HEADER_ACCESS_ID)))?;
    match app.verifier.profile(access_id) {
        None => Err(Failure::Refused(Refusal::UnknownAccessId)),
        Some(Profile::Line { signed: false }) => Ok(access_id.to_owned()),
        Some(Profile::Line { signed: true }) => verify_signed(app, parts, body, line::HEADER_ACCESS_ID),
        Some(Profile::Json) => expect_profile(app, access_id, "line").map(|()| access_id.to_owned()),
    }
}

fn expect_profile(app: &App, access_id: &str, used: &'static str) -> Result<(), Failure> {
    match app.verifier.profile(access_id) {
        Some(profile) if profile.name() != used => Err(Failure::Refused(Refusal::WrongProfile {
            access_id: access_id.to_owned(),
            speaks: profile.name(),
            used,
        })),
        _ => Ok(()),
    }
}

/// Check the HMAC signature of a request whose access id is in `access_id_header`.
fn verify_signed(
    app: &App,
    parts: &Parts,
    body: &[u8],
    access_id_header: &'static str,
) -> Result<String, Failure> {
    let header = |name: &str| parts.headers.get(name).and_then(|value| value.to_str().ok());
    let request = SignedRequest {
        method: parts.method.as_str(),
        path: parts.uri.path(),
        raw_query: parts.uri.query(),
        access_id: header(access_id_header),
        timestamp: header(HEADER_TIMESTAMP),
        nonce: header(HEADER_NONCE),
        signature: header(HEADER_SIGNATURE),
        body,
    };
    app.verifier.check(&request, unix_now(), Instant::now()).map_err(Failure::Refused)?;
    Ok(request.access_id.unwrap_or_default().to_owned())
}

// ---- admin API (unsigned; the server binds to loopback by default) ----

async fn health() -> Json<Answer> {
    Json(ok_answer(None))
}

#[derive(Debug, Serialize)]
struct FaultsView {
    seed: u64,
    #[serde(flatten)]
    faults: Faults,
}

async fn faults(State(app): State<Shared>) -> Json<FaultsView> {
    Json(FaultsView { seed: app.injector.seed(), faults: app.injector.faults() })
}

async fn set_faults(
    State(app): State<Shared>,
    update: Result<Json<FaultsUpdate>, JsonRejection>,
) -> Result<Json<FaultsView>, Failure> {
    let Json(update) = update.map_err(|rejection| Failure::BadRequest(rejection.body_text()))?;
    let faults = app.injector.update(&update).map_err(Failure::BadRequest)?;
    log::info!("faults changed: {faults:?}");
    Ok(Json(FaultsView { seed: app.injector.seed(), faults }))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AlterRequest {
    mac: String,
    flux_hour: String,
    field: String,
    value: i64,
}

async fn alter(
    State(app): State<Shared>,
    request: Result<Json<AlterRequest>, JsonRejection>,
) -> Result<Json<Answer>, Failure> {
    let Json(request) = request.map_err(|rejection| Failure::BadRequest(rejection.body_text()))?;
    let field = AlterableField::parse(&request.field).ok_or_else(|| {
        Failure::BadRequest(format!(
            "field {:?}: only v0..v11, isp_id and device_type can be altered",
            request.field
        ))
    })?;
    let (mac, flux_hour, value) = (request.mac.clone(), request.flux_hour.clone(), request.value);
    let altered = app.with_store(move |store| store.alter(&mac, &flux_hour, field, value)).await.map_err(
        |failure| match failure {
            Failure::Store(e @ StoreError::NegativeStored { .. }) => Failure::BadRequest(e.to_string()),
            other => other,
        },
    )?;
    if !altered {
        return Err(Failure::NotFound(format!("no record for {} {}", request.mac, request.flux_hour)));
    }
    log::info!(
        "admin: {} {} {} altered to {} (version kept)",
        request.mac,
        request.flux_hour,
        field.name(),
        value
    );
    Ok(Json(ok_answer(None)))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DeleteRequest {
    mac: String,
    flux_hour: String,
}

async fn delete(
    State(app): State<Shared>,
    request: Result<Json<DeleteRequest>, JsonRejection>,
) -> Result<Json<Answer>, Failure> {
    let Json(request) = request.map_err(|rejection| Failure::BadRequest(rejection.body_text()))?;
    let (mac, flux_hour) = (request.mac.clone(), request.flux_hour.clone());
    if !app.with_store(move |store| store.delete(&mac, &flux_hour)).await? {
        return Err(Failure::NotFound(format!("no record for {} {}", request.mac, request.flux_hour)));
    }
    log::info!("admin: {} {} deleted", request.mac, request.flux_hour);
    Ok(Json(ok_answer(None)))
}

#[derive(Debug, Serialize)]
struct DumpView {
    records: Vec<FluxRecord>,
    pushes: u64,
    line_seqs: Vec<u64>,
    requests: serde_json::Value,
}

async fn dump(State(app): State<Shared>) -> Result<Json<DumpView>, Failure> {
    let dump = app.with_store(|store| store.dump()).await?;
    let requests =
        serde_json::to_value(&*lock(&app.requests)).map_err(|e| Failure::Internal(e.to_string()))?;
    Ok(Json(DumpView { records: dump.records, pushes: dump.pushes, line_seqs: dump.line_seqs, requests }))
}

async fn not_found(request: Request) -> Failure {
    Failure::NotFound(format!("no such path: {} {}", request.method(), request.uri().path()))
}
