//! Host names and nodes from the ops platform's inventory.
//!
//! The platform (Spug, `spug.rs`) or an uploaded CSV file (`csv_import.rs`) gives a list of
//! [`InventoryHost`]s; `matching.rs` pairs them with the registered machines (an operator's
//! link, then the platform's host id the agent reported, then the management IP, then any IP
//! of the host, then the MAC); `job.rs` runs one sync pass and stores its outcome through the
//! store (`store/inventory.rs`), where every change of a host name or node is audited as made
//! by `inventory:<source>`.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::settings::Secret;

pub mod csv_import;
pub mod job;
pub mod matching;
pub mod spug;

/// `[inventory]` of the service's settings.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InventorySettings {
    pub kind: InventoryKind,
    /// The platform's address as a browser reaches it, e.g. `https://ops.example.com`; the API
    /// is under `/api/` there (Spug's nginx strips that prefix before its Django).
    pub url: String,
    pub username: String,
    /// Better: `password_file` (or PUSHAGENT_INVENTORY_PASSWORD_FILE); read again at each pass,
    /// so a changed password needs no restart.
    #[serde(default)]
    pub password: Option<Secret>,
    #[serde(default)]
    pub password_file: Option<PathBuf>,
    /// Spug's login type: `default` (its own accounts) or `ldap`.
    #[serde(default = "default_login_type")]
    pub login_type: String,
    #[serde(default = "default_interval_secs")]
    pub interval_secs: u64,
    #[serde(default)]
    pub node_from: NodeFrom,
    #[serde(default = "default_timeout_secs")]
    pub timeout_secs: u64,
}

fn default_login_type() -> String {
    "default".into()
}
fn default_interval_secs() -> u64 {
    600
}
fn default_timeout_secs() -> u64 {
    30
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum InventoryKind {
    Spug,
}

/// Which name of the host's group becomes the node: the group's own name (`leaf`, e.g.
/// `华东-联通`) or its whole path in the group tree (`path`, e.g. `华东/华东-联通`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum NodeFrom {
    #[default]
    Leaf,
    Path,
}

impl InventorySettings {
    pub fn validate(&self) -> Result<(), String> {
        let url_ok = (self.url.starts_with("http://") || self.url.starts_with("https://"))
            && !self.url.chars().any(|c| c.is_whitespace() || c.is_control());
        if !url_ok {
            return Err(format!("inventory.url: {:?} is not an http(s) URL", self.url));
        }
        if self.username.trim().is_empty() {
            return Err("inventory.username: required".into());
        }
        if self.password.as_ref().is_none_or(|p| p.expose().is_empty()) && self.password_file.is_none() {
            return Err("inventory.password_file (or inventory.password): required".into());
        }
        if !["default", "ldap"].contains(&self.login_type.as_str()) {
            return Err(format!("inventory.login_type: {:?} is not default or ldap", self.login_type));
        }
        if self.interval_secs < 60 {
            return Err("inventory.interval_secs: at least 60".into());
        }
        if self.timeout_secs == 0 {
            return Err("inventory.timeout_secs: at least 1".into());
        }
        Ok(())
    }

    /// Load the password from `password_file` when set (first line, trailing newline dropped).
    pub fn resolve_password_file(&mut self) -> Result<(), String> {
        if let Some(path) = &self.password_file {
            let text = std::fs::read_to_string(path)
                .map_err(|e| format!("inventory.password_file {}: {e}", path.display()))?;
            self.password = Some(Secret::new(text.lines().next().unwrap_or_default()));
        }
        Ok(())
    }

    /// The source name used in the store and in audit actors (`inventory:spug`).
    pub fn source(&self) -> &'static str {
        match self.kind {
            InventoryKind::Spug => "spug",
        }
    }
}

/// One host of an inventory, whatever the source. Never holds a credential.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InventoryHost {
    /// Unique within the source: Spug's host id; for a CSV row, its ops id, else IP, else MAC.
    pub key: String,
    /// The platform's host id (`SPUG_HOST_ID` on the host), when known.
    pub ops_host_id: Option<String>,
    /// 主机名称: the platform's host name.
    pub name: String,
    /// The address the platform reaches it by (Spug's `hostname` when it is an IP).
    pub management_ip: Option<String>,
    /// Its other IP addresses (Spug's private/public addresses).
    pub other_ips: Vec<String>,
    pub mac: Option<String>,
    /// 节点名称: its group (see [`NodeFrom`]); None when it has none that fits.
    pub node: Option<String>,
    /// Why the node is not simply its one group (several groups, too long a path...), for the
    /// console; None when nothing to say.
    pub note: Option<String>,
}

/// Why a sync pass failed, kept and shown on the console; never a secret in the text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SyncError {
    #[error("wrong user name or password (the platform said: {0}); not retried until the password changes, as 3 failed logins a day disable the account")]
    WrongPassword(String),
    #[error("the account is disabled on the platform (it said: {0}); an administrator must enable it")]
    AccountDisabled(String),
    #[error("the platform refused the login: {0}")]
    LoginRefused(String),
    #[error("the platform refused the fresh token (HTTP 401 right after login): it binds tokens to the login IP (bind_ip) and sees this service from another address; turn its IP binding off or let the service reach it directly")]
    TokenRefused,
    #[error("the platform answered {path} with an error: {message}")]
    Answer { path: String, message: String },
    #[error("the platform cannot be reached at {url}: {message}")]
    Unreachable { url: String, message: String },
    #[error("the platform's answer to {path} is not what Spug sends: {message}")]
    BadAnswer { path: String, message: String },
    #[error("{0}")]
    Settings(String),
}

impl SyncError {
    /// A short stable code for the API and the console.
    pub fn code(&self) -> &'static str {
        match self {
            SyncError::WrongPassword(_) => "wrong_password",
            SyncError::AccountDisabled(_) => "account_disabled",
            SyncError::LoginRefused(_) => "login_refused",
            SyncError::TokenRefused => "token_refused",
            SyncError::Answer { .. } => "error_answer",
            SyncError::Unreachable { .. } => "unreachable",
            SyncError::BadAnswer { .. } => "bad_answer",
            SyncError::Settings(_) => "settings",
        }
    }

    /// Trying the same credentials again would count as another failed login.
    pub fn blocks_login(&self) -> bool {
        matches!(self, SyncError::WrongPassword(_) | SyncError::AccountDisabled(_))
    }
}
