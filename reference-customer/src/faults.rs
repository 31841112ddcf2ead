//! Fault injection: the ways a real customer API misbehaves (errors, proxy pages, hangs, slow
//! answers, connections cut after the data was stored, being down), drawn from a seeded RNG so
//! that a run can be reproduced with `--seed`.

use std::sync::Mutex;
use std::time::Duration;

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use pushagent_proto::customer::{code, Answer};
use serde::{Deserialize, Serialize};

/// The fault settings, set by flags at start and changed at run time by `PUT /_admin/faults`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Faults {
    /// Fraction of API requests answered 500/502/503/429 before anything is stored.
    pub error_rate: f64,
    /// Fraction of API requests that hang `hang_secs` and are then cut without an answer.
    pub timeout_rate: f64,
    pub hang_secs: u64,
    /// Every API answer is delayed this long.
    pub slow_ms: u64,
    /// Fraction of successful pushes that are stored and then cut without an answer.
    pub close_after_store_rate: f64,
    /// Every API connection is closed without an answer (admin paths still work).
    pub down: bool,
}

impl Default for Faults {
    fn default() -> Faults {
        Faults {
            error_rate: 0.0,
            timeout_rate: 0.0,
            hang_secs: 120,
            slow_ms: 0,
            close_after_store_rate: 0.0,
            down: false,
        }
    }
}

/// A partial update of the faults; absent fields stay as they are.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultsUpdate {
    pub error_rate: Option<f64>,
    pub timeout_rate: Option<f64>,
    pub hang_secs: Option<u64>,
    pub slow_ms: Option<u64>,
    pub close_after_store_rate: Option<f64>,
    pub down: Option<bool>,
}

impl Faults {
    /// Rates must be fractions in [0, 1].
    pub fn validate(&self) -> Result<(), String> {
        for (name, rate) in [
            ("error_rate", self.error_rate),
            ("timeout_rate", self.timeout_rate),
            ("close_after_store_rate", self.close_after_store_rate),
        ] {
            if !(0.0..=1.0).contains(&rate) {
                return Err(format!("{name} must be between 0 and 1, got {rate}"));
            }
        }
        Ok(())
    }

    /// These faults with `update` applied, if the result is valid.
    pub fn updated(&self, update: &FaultsUpdate) -> Result<Faults, String> {
        let next = Faults {
            error_rate: update.error_rate.unwrap_or(self.error_rate),
            timeout_rate: update.timeout_rate.unwrap_or(self.timeout_rate),
            hang_secs: update.hang_secs.unwrap_or(self.hang_secs),
            slow_ms: update.slow_ms.unwrap_or(self.slow_ms),
            close_after_store_rate: update.close_after_store_rate.unwrap_or(self.close_after_store_rate),
            down: update.down.unwrap_or(self.down),
        };
        next.validate()?;
        Ok(next)
    }
}

/// What happens to one API request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Draw {
    /// Hang this long, then cut the connection; nothing is stored.
    pub hang: Option<Duration>,
    /// Answer this error at once; nothing is stored.
    pub error: Option<InjectedError>,
    /// When the push is stored, cut the connection instead of answering.
    pub close_after_store: bool,
    /// Delay before the answer.
    pub slow: Duration,
}

/// An error answer as a real API or the proxy in front of it gives it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InjectedError {
    TooManyRequests,
    Internal,
    /// A proxy's 502: sometimes JSON, sometimes an HTML page, sometimes plain text.
    BadGateway(GatewayBody),
    Unavailable,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GatewayBody {
    Json,
    Html,
    Text,
}

const PROXY_PAGE: &str = "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n\
    <center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n";

impl InjectedError {
    pub fn status(self) -> StatusCode {
        match self {
            InjectedError::TooManyRequests => StatusCode::TOO_MANY_REQUESTS,
            InjectedError::Internal => StatusCode::INTERNAL_SERVER_ERROR,
            InjectedError::BadGateway(_) => StatusCode::BAD_GATEWAY,
            InjectedError::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    /// The name under which the dump counts it.
    pub fn outcome(self) -> &'static str {
        match self {
            InjectedError::TooManyRequests => "fault_429",
            InjectedError::Internal => "fault_500",
            InjectedError::BadGateway(_) => "fault_502",
            InjectedError::Unavailable => "fault_503",
        }
    }
}

impl IntoResponse for InjectedError {
    fn into_response(self) -> Response {
        let json =
            |code, msg: &str| axum::Json(Answer { code, msg: msg.to_owned(), conflicts: vec![], data: None });
        match self {
            InjectedError::TooManyRequests => {
                let mut response =
                    (self.status(), json(code::TOO_MANY_REQUESTS, "too many requests, retry later"))
                        .into_response();
                response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
                response
            }
            InjectedError::Internal => {
                (self.status(), json(code::SERVER_ERROR, "internal error")).into_response()
            }
            InjectedError::Unavailable => {
                (self.status(), json(code::SERVER_ERROR, "service unavailable")).into_response()
            }
            InjectedError::BadGateway(GatewayBody::Json) => {
                (self.status(), json(code::SERVER_ERROR, "bad gateway")).into_response()
            }
            InjectedError::BadGateway(GatewayBody::Html) => {
                (self.status(), [(header::CONTENT_TYPE, "text/html")], PROXY_PAGE).into_response()
            }
            InjectedError::BadGateway(GatewayBody::Text) => (
                self.status(),
                [(header::CONTENT_TYPE, "text/plain")],
                "upstream connect error or disconnect",
            )
                .into_response(),
        }
    }
}

/// The current faults and the seeded RNG they are drawn from.
pub struct Injector {
    seed: u64,
    state: Mutex<(Faults, fastrand::Rng)>,
}

impl Injector {
    pub fn new(faults: Faults, seed: u64) -> Injector {
        Injector { seed, state: Mutex::new((faults, fastrand::Rng::with_seed(seed))) }
    }

    pub fn seed(&self) -> u64 {
        self.seed
    }

    pub fn faults(&self) -> Faults {
        self.lock().0
    }

    pub fn update(&self, update: &FaultsUpdate) -> Result<Faults, String> {
        let mut state = self.lock();
        state.0 = state.0.updated(update)?;
        Ok(state.0)
    }

    /// Draw the fate of one API request. Every request takes the same number of draws
    /// whatever the settings, so a seed replays the same sequence of fates.
    pub fn draw(&self) -> Draw {
        let mut state = self.lock();
        let (faults, rng) = &mut *state;
        let hang = rng.f64() < faults.timeout_rate;
        let error = rng.f64() < faults.error_rate;
        let kind = rng.u8(0..4);
        let gateway_body = match rng.u8(0..3) {
            0 => GatewayBody::Json,
            1 => GatewayBody::Html,
            _ => GatewayBody::Text,
        };
        let close_after_store = rng.f64() < faults.close_after_store_rate;
        let error = error.then_some(match kind {
            0 => InjectedError::TooManyRequests,
            1 => InjectedError::Internal,
            2 => InjectedError::BadGateway(gateway_body),
            _ => InjectedError::Unavailable,
        });
        Draw {
            hang: hang.then(|| Duration::from_secs(faults.hang_secs)),
            error,
            close_after_store,
            slow: Duration::from_millis(faults.slow_ms),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, (Faults, fastrand::Rng)> {
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_seed_draws_the_same_fates() {
        let faults =
            Faults { error_rate: 0.5, timeout_rate: 0.2, close_after_store_rate: 0.3, ..Faults::default() };
        let a = Injector::new(faults, 42);
        let b = Injector::new(faults, 42);
        let fates_a: Vec<Draw> = (0..50).map(|_| a.draw()).collect();
        let fates_b: Vec<Draw> = (0..50).map(|_| b.draw()).collect();
        assert_eq!(fates_a, fates_b);
        assert!(fates_a.iter().any(|d| d.error.is_some()) && fates_a.iter().any(|d| d.error.is_none()));
    }

    #[test]
    fn rates_outside_zero_to_one_are_refused_and_nothing_changes() {
        let injector = Injector::new(Faults::default(), 1);
        let bad = FaultsUpdate { error_rate: Some(1.5), down: Some(true), ..FaultsUpdate::default() };
        assert!(injector.update(&bad).is_err());
        assert_eq!(injector.faults(), Faults::default());
        let nan = FaultsUpdate { timeout_rate: Some(f64::NAN), ..FaultsUpdate::default() };
        assert!(injector.update(&nan).is_err());
        let partial = FaultsUpdate { slow_ms: Some(5), ..FaultsUpdate::default() };
        assert_eq!(injector.update(&partial).map(|f| f.slow_ms), Ok(5));
        assert_eq!(injector.faults().hang_secs, 120);
    }
}
