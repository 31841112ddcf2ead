//! The PushAgent config service: agent registry, machine and global config, push history,
//! checks and alerts, and the admin API of the console. A library with a thin `main.rs`:
//! `serve(settings, listener, shutdown)` runs the whole service on any listener, so tests start
//! a real server on port 0.
//!
//! Layout: `store` (all SQL), `http` (router, extractors, the app state), `agent_api` and
//! `admin_api` (handlers), `error` (the one error type → HTTP answer), `checks` (the checks
//! job), `alerts` (channels and deliveries), `settlement` (95th-percentile figures) and
//! `settlement_api` (its endpoints and exports), `settings`, `validate`, `tokens`.

use std::future::Future;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};

pub mod access_api;
pub mod admin_api;
pub mod agent_api;
pub mod alerts;
pub mod checks;
pub mod error;
pub mod global;
pub mod guard;
pub mod health;
pub mod http;
pub mod inventory;
pub mod inventory_api;
pub mod login;
pub mod offsets_api;
pub mod retention;
pub mod settings;
pub mod settlement;
pub mod settlement_api;
pub mod store;
pub mod tls;
pub mod tokens;
pub mod validate;
pub mod web_assets;

pub use settings::{Secret, Settings};
use store::{Store, StoreError};

/// Where "now" comes from (unix seconds): the system clock in production, a hand-moved one in
/// tests, so checks over hours run in milliseconds.
pub trait Clock: Send + Sync {
    fn now(&self) -> i64;
}

pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> i64 {
        chrono::Utc::now().timestamp()
    }
}

/// A clock that moves only when told.
#[derive(Debug, Default)]
pub struct ManualClock(AtomicI64);

impl ManualClock {
    pub fn new(now: i64) -> ManualClock {
        ManualClock(AtomicI64::new(now))
    }
    pub fn set(&self, now: i64) {
        self.0.store(now, Ordering::SeqCst);
    }
    pub fn advance(&self, secs: i64) {
        self.0.fetch_add(secs, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> i64 {
        self.0.load(Ordering::SeqCst)
    }
}

/// The store, shared by handlers and jobs; SQLite calls run on blocking threads.
pub type SharedStore = Arc<Mutex<Store>>;

/// Lock the store; a panic of another holder does not make the data unusable (each write is
/// one transaction), so a poisoned lock is taken over.
pub fn lock(store: &SharedStore) -> std::sync::MutexGuard<'_, Store> {
    store.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("server failed: {0}")]
    Io(#[from] std::io::Error),
    #[error("{0}")]
    Tls(String),
}

/// Serve on `listener` until `shutdown` completes, with the system clock.
pub async fn serve(
    settings: Settings,
    listener: tokio::net::TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    serve_with_clock(settings, Arc::new(SystemClock), listener, shutdown).await
}

/// `serve` with a given clock; the checks and delivery jobs run inside.
pub async fn serve_with_clock(
    settings: Settings,
    clock: Arc<dyn Clock>,
    listener: tokio::net::TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    let acceptor = match (&settings.tls_cert_path, &settings.tls_key_path) {
        (Some(cert), Some(key)) => Some(tls::acceptor(cert, key).map_err(ServeError::Tls)?),
        (None, None) => None,
        _ => return Err(ServeError::Tls("set both tls_cert_path and tls_key_path, or neither".into())),
    };
    if acceptor.is_none() && listener.local_addr().is_ok_and(|a| !a.ip().is_loopback()) {
        log::warn!("plain HTTP on a non-loopback address: agent tokens and the customer secret cross the network in clear; set tls_cert_path and tls_key_path");
    }
    let store = Store::open(&settings.db_path)?;
    log::info!(
        "config service on {}: store {}, heartbeat {} s, checks every {} s",
        listener.local_addr().map_or_else(|e| e.to_string(), |a| a.to_string()),
        settings.db_path.display(),
        settings.heartbeat_interval_secs,
        settings.check_interval_secs,
    );
    let app = Arc::new(http::App::new(Arc::new(Mutex::new(store)), settings, clock));
    let mut jobs = checks::spawn_jobs(Arc::clone(&app));
    jobs.extend(inventory::job::spawn(app.inventory.clone(), Arc::clone(&app.store), Arc::clone(&app.clock)));
    let router = http::router(app);
    let result = match acceptor {
        Some(acceptor) => {
            tls::serve(listener, router, acceptor, shutdown).await;
            Ok(())
        }
        None => axum::serve(listener, router).with_graceful_shutdown(shutdown).await,
    };
    for job in jobs {
        job.abort();
    }
    log::info!("config service stopped");
    Ok(result?)
}
