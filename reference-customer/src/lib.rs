//! The reference customer: the traffic API of `customer-api.md` (signed push and query, highest
//! version wins, all-or-nothing batches) over a SQLite store, with fault injection and an
//! unsigned admin API under `/_admin/` for tests and demos. Not the agent: async is fine here.

use std::future::Future;
use std::path::PathBuf;

pub mod auth;
mod connection;
pub mod faults;
pub mod line;
mod routes;
pub mod store;
pub mod validate;

pub use auth::{Credential, Profile, Secret};
pub use faults::Faults;
use store::{Store, StoreError};

pub const DEFAULT_ACCESS_ID: &str = "AK-test";
pub const DEFAULT_SECRET: &str = "SK-test-secret";
pub const DEFAULT_TIMESTAMP_WINDOW_SECS: u64 = 300;

/// Everything the server needs; `main.rs` builds it from the command line, tests directly.
#[derive(Debug, Clone)]
pub struct Settings {
    pub db_path: PathBuf,
    pub credentials: Vec<Credential>,
    /// Allowed distance of X-Timestamp from the server clock; 0 = not checked.
    pub timestamp_window_secs: u64,
    pub faults: Faults,
    /// Seed of the fault RNG; None = a random one (logged, so the run can be replayed).
    pub seed: Option<u64>,
    /// Between the values of a line-profile record.
    pub line_separator: char,
    /// How line pushes are answered.
    pub line_answers: line::LineAnswers,
}

impl Settings {
    /// The defaults: test credentials, the spec's 300 s window, no faults.
    pub fn new(db_path: impl Into<PathBuf>) -> Settings {
        Settings {
            db_path: db_path.into(),
            credentials: vec![Credential::json(DEFAULT_ACCESS_ID, DEFAULT_SECRET)],
            timestamp_window_secs: DEFAULT_TIMESTAMP_WINDOW_SECS,
            faults: Faults::default(),
            seed: None,
            line_separator: line::SEPARATOR,
            line_answers: line::LineAnswers::default(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("invalid fault settings: {0}")]
    Faults(String),
    #[error("no credentials configured")]
    NoCredentials,
}

/// Serve on `listener` until `shutdown` completes, then finish the requests in flight (for at
/// most a second) and return.
pub async fn serve(
    settings: Settings,
    listener: tokio::net::TcpListener,
    shutdown: impl Future<Output = ()>,
) -> Result<(), ServeError> {
    settings.faults.validate().map_err(ServeError::Faults)?;
    if settings.credentials.is_empty() {
        return Err(ServeError::NoCredentials);
    }
    if settings.timestamp_window_secs == 0 {
        log::warn!(
            "!!! --timestamp-window-secs 0: X-Timestamp is NOT checked; for simulated-clock tests only !!!"
        );
    }
    let store = Store::open(&settings.db_path)?;
    let seed = settings.seed.unwrap_or_else(|| fastrand::u64(..));
    let ids: Vec<String> =
        settings.credentials.iter().map(|c| format!("{} ({:?})", c.access_id, c.profile)).collect();
    log::info!(
        "reference customer on {}: store {}, access ids {ids:?}, fault seed {seed}, faults {:?}",
        listener.local_addr().map_or_else(|e| e.to_string(), |a| a.to_string()),
        settings.db_path.display(),
        settings.faults,
    );
    let router = routes::router(routes::App::new(store, &settings, seed));
    connection::accept_loop(listener, router, shutdown).await;
    log::info!("reference customer stopped");
    Ok(())
}
