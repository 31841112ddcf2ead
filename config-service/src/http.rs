//! The router, the shared application state and the extractors that turn requests into typed,
//! authenticated values (or an `ApiError`). Handlers live in `agent_api` and `admin_api`.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, FromRequest, FromRequestParts, Request};
use axum::http::{header, request::Parts, Method};
use axum::routing::{get, patch, post};
use axum::Router;
use pushagent_proto::agent::{
    CONFIG_PATH, GLOBAL_CONFIG_PATH, HEARTBEAT_PATH, HISTORY_PATH, MAX_BODY_BYTES, REGISTER_PATH,
};
use serde::de::DeserializeOwned;

use crate::error::ApiError;
use crate::store::{Store, StoreError};
use crate::{
    access_api, admin_api, agent_api, inventory_api, lock, offsets_api, settlement_api, tokens, Clock,
    Settings, SharedStore,
};

pub const SESSION_COOKIE: &str = "pa_session";

pub struct App {
    pub store: SharedStore,
    /// A read-only connection for long reports (settlement), beside `store`
    /// ([`Store::open_reader`]); `store` itself when it could not be opened.
    pub reader: SharedStore,
    pub settings: Settings,
    pub clock: Arc<dyn Clock>,
    /// The inventory job's platform session, shared with the console's "sync now".
    pub inventory: crate::inventory::job::SharedSyncer,
    /// Permits to hash a password (`login_hash_concurrency`), and the threads that do it.
    pub login_hashing: Arc<tokio::sync::Semaphore>,
    pub password_checkers: crate::login::PasswordCheckers,
}

pub type Shared = Arc<App>;

impl App {
    pub fn new(store: SharedStore, settings: Settings, clock: Arc<dyn Clock>) -> App {
        let inventory = crate::inventory::job::shared(settings.inventory.as_ref());
        let login_hashing = Arc::new(tokio::sync::Semaphore::new(settings.login_hash_concurrency.max(1)));
        let password_checkers = crate::login::PasswordCheckers::start(settings.login_hash_concurrency);
        let reader = match Store::open_reader(&settings.db_path) {
            Ok(reader) => Arc::new(std::sync::Mutex::new(reader)),
            Err(e) => {
                log::warn!("reports read through the main store connection: {e}");
                Arc::clone(&store)
            }
        };
        App { store, reader, settings, clock, inventory, login_hashing, password_checkers }
    }

    pub fn now(&self) -> i64 {
        self.clock.now()
    }

    /// Alive = heard from within three heartbeat periods: a MAC held by a machine silent for
    /// longer can be claimed by another, a machine-id registered again.
    pub fn alive_after(&self, now: i64) -> i64 {
        now.saturating_sub(
            i64::try_from(self.settings.heartbeat_interval_secs.saturating_mul(3)).unwrap_or(i64::MAX),
        )
    }

    /// Run `job` on the store off the async workers (SQLite blocks).
    pub async fn with_store<T: Send + 'static>(
        &self,
        job: impl FnOnce(&mut Store) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, ApiError> {
        let store = Arc::clone(&self.store);
        tokio::task::spawn_blocking(move || job(&mut lock(&store)))
            .await
            .map_err(|e| ApiError::Internal(format!("store task failed: {e}")))?
            .map_err(ApiError::from)
    }

    /// Run a read-only `job` (a long report) on the reader connection, off the async workers:
    /// agents' writes on the main connection go on meanwhile.
    pub async fn with_reader<T: Send + 'static>(
        &self,
        job: impl FnOnce(&Store) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, ApiError> {
        let reader = Arc::clone(&self.reader);
        tokio::task::spawn_blocking(move || job(&lock(&reader)))
            .await
            .map_err(|e| ApiError::Internal(format!("report task failed: {e}")))?
            .map_err(ApiError::from)
    }
}

/// Every route: (method, path). The OpenAPI document is tested to describe exactly these.
pub const ROUTES: &[(&str, &str)] = &[
    ("POST", REGISTER_PATH),
    ("POST", HEARTBEAT_PATH),
    ("GET", CONFIG_PATH),
    ("GET", GLOBAL_CONFIG_PATH),
    ("POST", HISTORY_PATH),
    ("GET", "/api/openapi.json"),
    ("POST", "/api/login"),
    ("POST", "/api/logout"),
    ("GET", "/api/me"),
    ("GET", "/api/overview"),
    ("GET", "/api/machines"),
    ("GET", "/api/machines/versions"),
    ("GET", "/api/machines/{id}"),
    ("GET", "/api/machines/{id}/mac-history"),
    ("GET", "/api/machines/{id}/skipped"),
    ("GET", "/api/machines/{id}/traffic"),
    ("PATCH", "/api/machines/{id}/config"),
    ("POST", "/api/machines/bulk"),
    ("GET", "/api/nodes"),
    ("GET", "/api/nodes/{node}"),
    ("PUT", "/api/nodes/{node}/offsets"),
    ("GET", "/api/history"),
    ("GET", "/api/history.csv"),
    ("GET", "/api/global-config"),
    ("PUT", "/api/global-config"),
    ("GET", "/api/profile-presets"),
    ("GET", "/api/alerts"),
    ("POST", "/api/alerts/test"),
    ("GET", "/api/verifications"),
    ("GET", "/api/audit"),
    ("GET", "/api/settlement"),
    ("GET", "/api/settlement/series"),
    ("GET", "/api/settlement.csv"),
    ("GET", "/api/settlement.xlsx"),
    ("GET", "/api/inventory"),
    ("POST", "/api/inventory"),
    ("GET", "/api/inventory/hosts"),
    ("GET", "/api/inventory/unmatched-machines"),
    ("PUT", "/api/inventory/links"),
    ("POST", "/api/inventory/sync"),
    ("POST", "/api/mac-claims/release"),
    ("GET", "/api/enrollment-tokens"),
    ("POST", "/api/enrollment-tokens"),
    ("POST", "/api/enrollment-tokens/{id}/revoke"),
    ("GET", "/metrics"),
];

/// The agent API: under the base path like everything, and at the root too when there is a
/// base path, for agents that reach the service directly rather than through the proxy.
fn agent_routes() -> Router<Shared> {
    Router::new()
        .route(REGISTER_PATH, post(agent_api::register))
        .route(HEARTBEAT_PATH, post(agent_api::heartbeat))
        .route(CONFIG_PATH, get(agent_api::machine_config))
        .route(GLOBAL_CONFIG_PATH, get(agent_api::global_config))
        .route(HISTORY_PATH, post(agent_api::history))
}

/// Every route under `settings.base_path` (`""`: at the root).
pub fn router(app: Shared) -> Router {
    let base = app.settings.base_path.clone();
    let routes = agent_routes()
        .route("/api/openapi.json", get(admin_api::openapi))
        .route("/api/login", post(crate::login::login))
        .route("/api/logout", post(admin_api::logout))
        .route("/api/me", get(admin_api::me))
        .route("/api/overview", get(admin_api::overview))
        .route("/api/machines", get(admin_api::list_machines))
        .route("/api/machines/versions", get(admin_api::agent_versions))
        .route("/api/machines/{id}", get(admin_api::machine))
        .route("/api/machines/{id}/mac-history", get(admin_api::mac_history))
        .route("/api/machines/{id}/skipped", get(admin_api::skipped_hours))
        .route("/api/machines/{id}/traffic", get(admin_api::machine_traffic))
        .route("/api/machines/{id}/config", patch(admin_api::update_machine))
        .route("/api/machines/bulk", post(admin_api::bulk_update))
        .route("/api/nodes", get(offsets_api::list))
        .route("/api/nodes/{node}", get(offsets_api::get))
        .route("/api/nodes/{node}/offsets", axum::routing::put(offsets_api::set_offsets))
        .route("/api/history", get(admin_api::history))
        .route("/api/history.csv", get(admin_api::history_csv))
        .route("/api/global-config", get(admin_api::global_config).put(admin_api::update_global_config))
        .route("/api/profile-presets", get(admin_api::profile_presets))
        .route("/api/alerts", get(admin_api::alerts))
        .route("/api/alerts/test", post(admin_api::test_alert))
        .route("/api/verifications", get(admin_api::verifications))
        .route("/api/audit", get(admin_api::audit))
        .route("/api/settlement", get(settlement_api::table))
        .route("/api/settlement/series", get(settlement_api::series))
        .route("/api/settlement.csv", get(settlement_api::csv))
        .route("/api/settlement.xlsx", get(settlement_api::xlsx))
        .route("/api/inventory", get(inventory_api::state).post(inventory_api::import))
        .route("/api/inventory/hosts", get(inventory_api::hosts))
        .route("/api/inventory/unmatched-machines", get(inventory_api::unmatched_machines))
        .route("/api/inventory/links", axum::routing::put(inventory_api::link))
        .route("/api/inventory/sync", post(inventory_api::sync_now))
        .route("/api/mac-claims/release", post(access_api::release_mac))
        .route(
            "/api/enrollment-tokens",
            get(access_api::enrollment_tokens).post(access_api::create_enrollment_token),
        )
        .route("/api/enrollment-tokens/{id}/revoke", post(access_api::revoke_enrollment_token))
        .route("/metrics", get(admin_api::metrics))
        .fallback(crate::web_assets::fallback)
        .method_not_allowed_fallback(|method: Method, uri: axum::http::Uri| async move {
            ApiError::MethodNotAllowed(format!("{method} is not allowed on {}", uri.path()))
        });
    let routes = if base.is_empty() {
        routes
    } else {
        // `nest` takes `/pushagent` and `/pushagent/x`, not `/pushagent/`: the console's home.
        let home =
            |state, method| crate::web_assets::fallback(state, method, axum::http::Uri::from_static("/"));
        Router::new()
            .nest(&base, routes)
            .route(&format!("{base}/"), get(home))
            .merge(agent_routes())
            .fallback(|method: Method, uri: axum::http::Uri| async move {
                ApiError::NotFound(format!(
                    "no route {method} {} (the service is under its base_path)",
                    uri.path()
                ))
            })
    };
    routes
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(axum::middleware::from_fn_with_state(Arc::clone(&app), crate::guard::refuse_cross_site_writes))
        .layer(axum::middleware::from_fn(refuse_declared_large_bodies))
        // gzip for clients that ask (the console's JS: 806 KiB raw, 262 KiB gzip; CSV exports).
        .layer(tower_http::compression::CompressionLayer::new())
        // Outermost: every answer, refusals included, carries the security headers.
        .layer(axum::middleware::from_fn_with_state(Arc::clone(&app), crate::guard::security_headers))
        .with_state(app)
}

/// Bodies declared larger than this are not even drained: the connection is just closed.
const DRAIN_LIMIT_BYTES: usize = 16 * MAX_BODY_BYTES;

/// A body declared over the limit is answered 413 before any handler runs. It is read and
/// dropped first (up to `DRAIN_LIMIT_BYTES`) so that the client, still writing, gets to read
/// the answer instead of a reset connection.
async fn refuse_declared_large_bodies(
    req: Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    match declared {
        Some(length) if length > MAX_BODY_BYTES as u64 => {
            if length <= DRAIN_LIMIT_BYTES as u64 {
                let _ = axum::body::to_bytes(req.into_body(), DRAIN_LIMIT_BYTES).await;
            }
            axum::response::IntoResponse::into_response(ApiError::PayloadTooLarge)
        }
        _ => next.run(req).await,
    }
}

/// A JSON body of type `T`, plus its bytes (for fields kept as sent). Refuses a non-JSON
/// content type (415), a body over the limit (413) and JSON that does not fit `T` (400).
pub struct JsonBody<T>(pub T, pub Bytes);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let json =
            req.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).is_some_and(is_json_type);
        let bytes = Bytes::from_request(req, state).await.map_err(|rejection| {
            if rejection.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::PayloadTooLarge
            } else {
                ApiError::BadRequest(format!("cannot read the request body: {}", rejection.body_text()))
            }
        })?;
        if !json {
            return Err(ApiError::UnsupportedMediaType(
                "send the body as Content-Type: application/json".into(),
            ));
        }
        // serde_json keeps the last of a key given twice: which value an operator meant is
        // not the parser's guess, so such a body is refused whole.
        let mut deserializer = serde_json::Deserializer::from_slice(&bytes);
        serde_path_to_error::deserialize::<_, NoDuplicateKeys>(&mut deserializer).map_err(|e| {
            match e.path().to_string().as_str() {
                "." => ApiError::BadRequest(format!("invalid JSON body: {}", e.inner())),
                path => ApiError::BadRequest(format!("invalid JSON body: {path}: {}", e.inner())),
            }
        })?;
        // The error names the field path (`pushes[0].raw_bytes: invalid value ...`).
        let mut deserializer = serde_json::Deserializer::from_slice(&bytes);
        let value = serde_path_to_error::deserialize(&mut deserializer).map_err(|e| {
            match e.path().to_string().as_str() {
                "." => ApiError::BadRequest(format!("invalid JSON body: {}", e.inner())),
                path => ApiError::BadRequest(format!("invalid JSON body: {path}: {}", e.inner())),
            }
        })?;
        deserializer.end().map_err(|e| ApiError::BadRequest(format!("invalid JSON body: {e}")))?;
        Ok(JsonBody(value, bytes))
    }
}

/// `application/json`, with parameters (`; charset=utf-8`) or not; nothing else
/// (`application/jsonx`, `text/plain`, a missing type).
pub(crate) fn is_json_type(content_type: &str) -> bool {
    let essence = content_type.split(';').next().unwrap_or_default().trim();
    essence.eq_ignore_ascii_case("application/json")
}

/// Walks a JSON document and fails at the first object that has a key twice.
struct NoDuplicateKeys;

impl<'de> serde::Deserialize<'de> for NoDuplicateKeys {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(NoDuplicateKeysVisitor)
    }
}

struct NoDuplicateKeysVisitor;

impl<'de> serde::de::Visitor<'de> for NoDuplicateKeysVisitor {
    type Value = NoDuplicateKeys;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, _: bool) -> Result<NoDuplicateKeys, E> {
        Ok(NoDuplicateKeys)
    }

    fn visit_i64<E>(self, _: i64) -> Result<NoDuplicateKeys, E> {
        Ok(NoDuplicateKeys)
    }

    fn visit_u64<E>(self, _: u64) -> Result<NoDuplicateKeys, E> {
        Ok(NoDuplicateKeys)
    }

    fn visit_f64<E>(self, _: f64) -> Result<NoDuplicateKeys, E> {
        Ok(NoDuplicateKeys)
    }

    fn visit_str<E>(self, _: &str) -> Result<NoDuplicateKeys, E> {
        Ok(NoDuplicateKeys)
    }

    fn visit_unit<E>(self) -> Result<NoDuplicateKeys, E> {
        Ok(NoDuplicateKeys)
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<NoDuplicateKeys, A::Error> {
        while seq.next_element::<NoDuplicateKeys>()?.is_some() {}
        Ok(NoDuplicateKeys)
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<NoDuplicateKeys, A::Error> {
        let mut seen = std::collections::HashSet::new();
        while let Some(key) = map.next_key::<String>()? {
            if seen.contains(&key) {
                return Err(serde::de::Error::custom(format!("the key {key:?} is given twice")));
            }
            map.next_value::<NoDuplicateKeys>()?;
            seen.insert(key);
        }
        Ok(NoDuplicateKeys)
    }
}

/// Query parameters of type `T`; a bad one is a 400 naming it.
pub struct Params<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for Params<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|q| Params(q.0))
            .map_err(|r| ApiError::BadRequest(r.body_text()))
    }
}

fn bearer(parts: &Parts) -> Option<&str> {
    parts.headers.get(header::AUTHORIZATION)?.to_str().ok()?.strip_prefix("Bearer ").map(str::trim)
}

/// An agent, authenticated by its per-agent token: the machine's id.
pub struct AgentAuth(pub i64);

impl FromRequestParts<Shared> for AgentAuth {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &Shared) -> Result<Self, ApiError> {
        let token = bearer(parts).ok_or_else(|| {
            ApiError::Unauthorized("missing agent token: send Authorization: Bearer <agent token>".into())
        })?;
        let hash = tokens::token_hash(token);
        match app.with_store(move |s| s.machine_by_token(&hash)).await? {
            Some(id) => Ok(AgentAuth(id)),
            None => Err(ApiError::Unauthorized(
                "unknown agent token: register again with an enrollment token".into(),
            )),
        }
    }
}

/// An operator, by session cookie or API token: who, for the audit log.
pub struct AdminAuth(pub String);

pub fn session_cookie(parts: &Parts) -> Option<String> {
    parts.headers.get_all(header::COOKIE).iter().filter_map(|v| v.to_str().ok()).find_map(|cookies| {
        cookies
            .split(';')
            .find_map(|c| c.trim().strip_prefix(SESSION_COOKIE)?.strip_prefix('=').map(str::to_owned))
    })
}

impl FromRequestParts<Shared> for AdminAuth {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &Shared) -> Result<Self, ApiError> {
        let now = app.now();
        if let Some(token) = bearer(parts) {
            let hash = tokens::token_hash(token);
            return match app.with_store(move |s| s.api_token_name(&hash)).await? {
                Some(name) => Ok(AdminAuth(format!("token:{name}"))),
                None => Err(ApiError::Unauthorized("unknown API token".into())),
            };
        }
        let Some(session) = session_cookie(parts) else {
            return Err(ApiError::Unauthorized("log in first (POST /api/login) or send an API token".into()));
        };
        let hash = tokens::token_hash(&session);
        match app.with_store(move |s| s.session_user(&hash, now)).await? {
            Some(name) => Ok(AdminAuth(name)),
            None => Err(ApiError::Unauthorized("the session has expired: log in again".into())),
        }
    }
}
