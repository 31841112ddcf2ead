//! Blocking HTTP to the config service (ureq), JSON both ways, bearer token.

use std::time::Duration;

use serde::de::DeserializeOwned;
use serde_json::Value;

use pushagent_proto::agent;

use crate::config::Secret;

const MAX_ANSWER_BYTES: u64 = 1 << 20;
const IO_BUFFER_BYTES: usize = 16 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error("config service unreachable: {0}")]
    Unreachable(String),
    #[error("config service refused our token: {0}")]
    Unauthorized(String),
    #[error("config service answered HTTP {status}: {message}")]
    Refused { status: u16, message: String },
    #[error("config service answer unreadable: {0}")]
    BadAnswer(String),
}

pub struct ServiceClient {
    http: ureq::Agent,
    base_url: String,
}

impl ServiceClient {
    pub fn new(base_url: &str, timeout_secs: u64) -> Self {
        let http = ureq::Agent::config_builder()
            .timeout_global(Some(Duration::from_secs(timeout_secs)))
            .http_status_as_error(false)
            .max_redirects(0)
            .input_buffer_size(IO_BUFFER_BYTES)
            .output_buffer_size(IO_BUFFER_BYTES)
            .user_agent(format!("pushagent/{}", env!("CARGO_PKG_VERSION")))
            .proxy(None)
            .build()
            .into();
        ServiceClient { http, base_url: base_url.trim_end_matches('/').to_string() }
    }

    fn call<T: DeserializeOwned>(
        &self,
        path: &str,
        token: Option<&Secret>,
        body: Option<&Value>,
    ) -> Result<T, ServiceError> {
        let url = format!("{}{path}", self.base_url);
        let bearer = token.map(|t| format!("Bearer {}", t.expose()));
        let result = match body {
            Some(b) => {
                let mut req = self.http.post(&url).header("Content-Type", "application/json");
                if let Some(h) = &bearer {
                    req = req.header("Authorization", h);
                }
                req.send(b.to_string())
            }
            None => {
                let mut req = self.http.get(&url);
                if let Some(h) = &bearer {
                    req = req.header("Authorization", h);
                }
                req.call()
            }
        };
        let mut response = result.map_err(|e| ServiceError::Unreachable(e.to_string()))?;
        let status = response.status().as_u16();
        let text = response
            .body_mut()
            .with_config()
            .limit(MAX_ANSWER_BYTES)
            .read_to_string()
            .map_err(|e| ServiceError::BadAnswer(e.to_string()))?;
        if status == 401 || status == 403 {
            return Err(ServiceError::Unauthorized(error_message(&text)));
        }
        if !(200..300).contains(&status) {
            return Err(ServiceError::Refused { status, message: error_message(&text) });
        }
        serde_json::from_str(&text).map_err(|e| ServiceError::BadAnswer(format!("{path}: {e}")))
    }

    pub fn register(
        &self,
        request: &agent::RegisterRequest,
    ) -> Result<agent::RegisterResponse, ServiceError> {
        let body = serde_json::to_value(request).map_err(|e| ServiceError::BadAnswer(e.to_string()))?;
        self.call(agent::REGISTER_PATH, None, Some(&body))
    }

    /// `heartbeat` is a [`agent::HeartbeatRequest`] as JSON, with the full facts object.
    pub fn heartbeat(
        &self,
        token: &Secret,
        heartbeat: &Value,
    ) -> Result<agent::HeartbeatResponse, ServiceError> {
        self.call(agent::HEARTBEAT_PATH, Some(token), Some(heartbeat))
    }

    pub fn machine_config(&self, token: &Secret) -> Result<agent::MachineConfig, ServiceError> {
        self.call(agent::CONFIG_PATH, Some(token), None)
    }

    pub fn global_config(&self, token: &Secret) -> Result<agent::GlobalConfig, ServiceError> {
        self.call(agent::GLOBAL_CONFIG_PATH, Some(token), None)
    }

    pub fn history(
        &self,
        token: &Secret,
        batch: &agent::HistoryBatch,
    ) -> Result<agent::HistoryResponse, ServiceError> {
        let body = serde_json::to_value(batch).map_err(|e| ServiceError::BadAnswer(e.to_string()))?;
        self.call(agent::HISTORY_PATH, Some(token), Some(&body))
    }
}

/// The `message` of an [`agent::ErrorBody`], or the start of whatever came.
fn error_message(text: &str) -> String {
    match serde_json::from_str::<agent::ErrorBody>(text) {
        Ok(e) => format!("{}: {}", e.error, e.message),
        Err(_) => text.chars().take(200).collect(),
    }
}
