//! The service's settings: defaults, then a TOML file, then `PUSHAGENT_*` environment
//! variables. A secret may also come from a file named by `PUSHAGENT_<NAME>_FILE` (or
//! `<name>_file` in TOML). Secrets never show in `Debug`.

use std::fmt;
use std::path::{Path, PathBuf};

use chrono::FixedOffset;
use serde::Deserialize;

/// A secret that never shows in logs or `Debug` output.
#[derive(Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.0.is_empty() { "Secret(<unset>)" } else { "Secret(<redacted>)" })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Settings {
    /// Address `serve` listens on.
    pub listen: String,
    pub db_path: PathBuf,
    /// Heartbeat period the agents are told; offline = `offline_periods` of these.
    pub heartbeat_interval_secs: u64,
    /// Period of the checks job inside `serve`.
    pub check_interval_secs: u64,
    /// Period of the alert delivery job (retries of failed deliveries).
    pub delivery_interval_secs: u64,
    /// Deliveries are tried this many times before they are marked failed.
    pub delivery_max_attempts: u32,
    pub session_ttl_secs: u64,
    /// Add `Secure` to the session cookie (set it when the service is behind HTTPS).
    pub cookie_secure: bool,
    /// A fixed enrollment token (besides the ones `enroll-token create` stores), e.g. from
    /// the deploy system's secret store.
    pub enrollment_token: Option<Secret>,
    pub enrollment_token_file: Option<PathBuf>,
    /// Timeout of one alert delivery.
    pub alert_timeout_secs: u64,
    /// HTTPS: PEM certificate chain and private key. Unset = plain HTTP (loopback, tests).
    pub tls_cert_path: Option<PathBuf>,
    pub tls_key_path: Option<PathBuf>,
    /// Push history, verifications and held hours older than this many days are deleted by
    /// the hourly retention job (and `prune`); 0 (the default: billing evidence) keeps them
    /// forever. At least 30 otherwise.
    pub history_retention_days: u64,
    /// Alerts (with their deliveries) and resolved incidents older than this; 0 = forever.
    /// At least 7 otherwise. Open incidents and their alerts are always kept.
    pub alert_retention_days: u64,
    /// The report time zone the agents name hours (`flux_hour`) in, a fixed offset such as
    /// `UTC+08:00` (the agents' default): the console's hourly charts are cut in it.
    pub report_timezone: String,
    /// The path the service is reached under behind a proxy, e.g. `/pushagent`: the console,
    /// the admin API and the agent API are all served under it. Empty (the default): `/`.
    pub base_path: String,
    /// The console's look: `default` (antd blue) or `spug` (Spug's primary colour, dark side
    /// menu, compact header), to look native inside the ops platform.
    pub console_theme: ConsoleTheme,
    /// Host names and nodes from the ops platform's inventory (`[inventory]`); unset: none.
    pub inventory: Option<crate::inventory::InventorySettings>,
    /// Who may show the console in a frame: the CSP `frame-ancestors` sources, e.g.
    /// `'self' https://ops.example.com` for the ops platform's menu; `'none'` = nobody.
    pub frame_ancestors: String,
    /// Origins besides the service's own that may send state-changing requests (a console
    /// reached through another name, e.g. `https://ops.example.com`).
    pub allowed_origins: Vec<String>,
    /// At most this many password hashes (argon2, ~19 MiB each) at once; others wait.
    pub login_hash_concurrency: usize,
    /// A login that cannot start hashing within this many seconds is answered 429.
    pub login_wait_secs: u64,
    /// Waits before each retry of a failed alert delivery (the last one repeats). The first is
    /// long enough that a receiver which answered after the timeout is not sent it twice soon.
    pub delivery_retry_secs: Vec<u64>,
    /// Alert channels sent to at once (each channel's deliveries in order, on its own worker):
    /// a hung receiver delays only its own.
    pub delivery_concurrency: usize,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ConsoleTheme {
    #[default]
    Default,
    Spug,
}

impl Default for Settings {
    fn default() -> Settings {
        Settings {
            listen: "127.0.0.1:8790".into(),
            db_path: PathBuf::from("./pushagent-config.sqlite"),
            heartbeat_interval_secs: 300,
            check_interval_secs: 60,
            delivery_interval_secs: 30,
            delivery_max_attempts: 10,
            session_ttl_secs: 12 * 3600,
            cookie_secure: false,
            enrollment_token: None,
            enrollment_token_file: None,
            alert_timeout_secs: 10,
            tls_cert_path: None,
            tls_key_path: None,
            history_retention_days: 0,
            alert_retention_days: 180,
            report_timezone: "UTC+08:00".into(),
            base_path: String::new(),
            console_theme: ConsoleTheme::Default,
            inventory: None,
            frame_ancestors: "'self'".into(),
            allowed_origins: Vec::new(),
            login_hash_concurrency: 2,
            login_wait_secs: 10,
            delivery_retry_secs: vec![300, 900, 1800, 3600],
            delivery_concurrency: 4,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error("cannot read the config file {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("config file {path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("environment variable {name}: {message}")]
    Env { name: String, message: String },
    #[error("{0}")]
    Invalid(String),
}

impl Settings {
    /// Defaults, then `toml_path` (when given), then the environment as `env` reads it.
    pub fn load(
        toml_path: Option<&Path>,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Settings, SettingsError> {
        let mut settings = match toml_path {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .map_err(|source| SettingsError::Read { path: path.to_owned(), source })?;
                toml::from_str(&text)
                    .map_err(|e| SettingsError::Parse { path: path.to_owned(), message: e.to_string() })?
            }
            None => Settings::default(),
        };
        settings.apply_env(&env)?;
        settings.resolve_secret_files()?;
        settings.validate()?;
        Ok(settings)
    }

    fn apply_env(&mut self, env: &impl Fn(&str) -> Option<String>) -> Result<(), SettingsError> {
        fn number(name: &str, text: &str) -> Result<u64, SettingsError> {
            text.trim().parse().map_err(|_| SettingsError::Env {
                name: name.to_owned(),
                message: format!("{text:?} is not a whole number"),
            })
        }
        if let Some(v) = env("PUSHAGENT_LISTEN") {
            self.listen = v;
        }
        if let Some(v) = env("PUSHAGENT_DB_PATH") {
            self.db_path = v.into();
        }
        for (name, slot) in [
            ("PUSHAGENT_HEARTBEAT_INTERVAL_SECS", &mut self.heartbeat_interval_secs),
            ("PUSHAGENT_CHECK_INTERVAL_SECS", &mut self.check_interval_secs),
            ("PUSHAGENT_DELIVERY_INTERVAL_SECS", &mut self.delivery_interval_secs),
            ("PUSHAGENT_SESSION_TTL_SECS", &mut self.session_ttl_secs),
            ("PUSHAGENT_ALERT_TIMEOUT_SECS", &mut self.alert_timeout_secs),
            ("PUSHAGENT_HISTORY_RETENTION_DAYS", &mut self.history_retention_days),
            ("PUSHAGENT_ALERT_RETENTION_DAYS", &mut self.alert_retention_days),
            ("PUSHAGENT_LOGIN_WAIT_SECS", &mut self.login_wait_secs),
        ] {
            if let Some(v) = env(name) {
                *slot = number(name, &v)?;
            }
        }
        for (name, slot) in [
            ("PUSHAGENT_LOGIN_HASH_CONCURRENCY", &mut self.login_hash_concurrency),
            ("PUSHAGENT_DELIVERY_CONCURRENCY", &mut self.delivery_concurrency),
        ] {
            if let Some(v) = env(name) {
                *slot = usize::try_from(number(name, &v)?).unwrap_or(usize::MAX);
            }
        }
        if let Some(v) = env("PUSHAGENT_DELIVERY_RETRY_SECS") {
            self.delivery_retry_secs = v
                .split(',')
                .map(|part| number("PUSHAGENT_DELIVERY_RETRY_SECS", part))
                .collect::<Result<_, _>>()?;
        }
        if let Some(v) = env("PUSHAGENT_FRAME_ANCESTORS") {
            self.frame_ancestors = v;
        }
        if let Some(v) = env("PUSHAGENT_ALLOWED_ORIGINS") {
            self.allowed_origins =
                v.split(',').map(str::trim).filter(|o| !o.is_empty()).map(str::to_owned).collect();
        }
        if let Some(v) = env("PUSHAGENT_DELIVERY_MAX_ATTEMPTS") {
            self.delivery_max_attempts =
                u32::try_from(number("PUSHAGENT_DELIVERY_MAX_ATTEMPTS", &v)?).unwrap_or(u32::MAX);
        }
        if let Some(v) = env("PUSHAGENT_COOKIE_SECURE") {
            self.cookie_secure = match v.trim() {
                "1" | "true" | "yes" => true,
                "0" | "false" | "no" => false,
                other => {
                    return Err(SettingsError::Env {
                        name: "PUSHAGENT_COOKIE_SECURE".into(),
                        message: format!("{other:?} is not true/false"),
                    })
                }
            };
        }
        if let Some(v) = env("PUSHAGENT_TLS_CERT_PATH") {
            self.tls_cert_path = Some(v.into());
        }
        if let Some(v) = env("PUSHAGENT_TLS_KEY_PATH") {
            self.tls_key_path = Some(v.into());
        }
        if let Some(v) = env("PUSHAGENT_REPORT_TIMEZONE") {
            self.report_timezone = v;
        }
        if let Some(v) = env("PUSHAGENT_BASE_PATH") {
            self.base_path = v;
        }
        if let Some(v) = env("PUSHAGENT_CONSOLE_THEME") {
            self.console_theme = match v.trim() {
                "default" => ConsoleTheme::Default,
                "spug" => ConsoleTheme::Spug,
                other => {
                    return Err(SettingsError::Env {
                        name: "PUSHAGENT_CONSOLE_THEME".into(),
                        message: format!("{other:?} is not default or spug"),
                    })
                }
            };
        }
        if let Some(v) = env("PUSHAGENT_INVENTORY_PASSWORD_FILE") {
            if let Some(inventory) = &mut self.inventory {
                inventory.password_file = Some(v.into());
            }
        }
        if let Some(v) = env("PUSHAGENT_ENROLLMENT_TOKEN") {
            self.enrollment_token = Some(Secret::new(v));
        }
        if let Some(v) = env("PUSHAGENT_ENROLLMENT_TOKEN_FILE") {
            self.enrollment_token_file = Some(v.into());
        }
        Ok(())
    }

    fn resolve_secret_files(&mut self) -> Result<(), SettingsError> {
        if let Some(path) = self.enrollment_token_file.take() {
            let text = std::fs::read_to_string(&path)
                .map_err(|source| SettingsError::Read { path: path.clone(), source })?;
            self.enrollment_token = Some(Secret::new(text.trim_end_matches(['\r', '\n'])));
        }
        if let Some(inventory) = &mut self.inventory {
            inventory.resolve_password_file().map_err(SettingsError::Invalid)?;
        }
        Ok(())
    }

    fn validate(&mut self) -> Result<(), SettingsError> {
        // Agents heartbeat at this period: the range they accept (proto::check).
        pushagent_proto::check::heartbeat_interval_secs(
            "heartbeat_interval_secs",
            self.heartbeat_interval_secs,
        )
        .map_err(|e| SettingsError::Invalid(e.to_string()))?;
        if self.check_interval_secs == 0 || self.delivery_interval_secs == 0 {
            return Err(SettingsError::Invalid("interval settings must be at least 1 second".into()));
        }
        if self.enrollment_token.as_ref().is_some_and(|t| t.expose().len() < 16) {
            return Err(SettingsError::Invalid("enrollment_token: at least 16 characters".into()));
        }
        if (1..30).contains(&self.history_retention_days) {
            return Err(SettingsError::Invalid(
                "history_retention_days: 0 (keep forever) or at least 30 (money depends on it)".into(),
            ));
        }
        if (1..7).contains(&self.alert_retention_days) {
            return Err(SettingsError::Invalid(
                "alert_retention_days: 0 (keep forever) or at least 7".into(),
            ));
        }
        parse_report_timezone(&self.report_timezone).map_err(SettingsError::Invalid)?;
        self.base_path = normalize_base_path(&self.base_path).map_err(SettingsError::Invalid)?;
        if let Some(inventory) = &self.inventory {
            inventory.validate().map_err(SettingsError::Invalid)?;
        }
        if self.delivery_max_attempts == 0 {
            return Err(SettingsError::Invalid("delivery_max_attempts: at least 1".into()));
        }
        if self.login_hash_concurrency == 0 || self.delivery_concurrency == 0 {
            return Err(SettingsError::Invalid(
                "login_hash_concurrency and delivery_concurrency: at least 1".into(),
            ));
        }
        if self.delivery_retry_secs.is_empty() || self.delivery_retry_secs.contains(&0) {
            return Err(SettingsError::Invalid(
                "delivery_retry_secs: a list of waits of at least 1 second, e.g. [300, 900, 3600]".into(),
            ));
        }
        let ancestors = self.frame_ancestors.trim();
        if ancestors.is_empty() || ancestors.chars().any(|c| c.is_control() || matches!(c, ';' | ',' | '"')) {
            return Err(SettingsError::Invalid(format!(
                "frame_ancestors: {:?} is not a list of CSP sources like \"'self' https://ops.example.com\"",
                self.frame_ancestors
            )));
        }
        for origin in &self.allowed_origins {
            let rest = origin.strip_prefix("https://").or_else(|| origin.strip_prefix("http://"));
            if !rest.is_some_and(|r| !r.is_empty() && !r.contains('/') && !r.chars().any(char::is_whitespace))
            {
                return Err(SettingsError::Invalid(format!(
                    "allowed_origins: {origin:?} is not an origin like \"https://ops.example.com\""
                )));
            }
        }
        Ok(())
    }
}

impl Settings {
    /// The service speaks HTTPS itself: cookies are Secure, HSTS is sent.
    pub fn tls_enabled(&self) -> bool {
        self.tls_cert_path.is_some() && self.tls_key_path.is_some()
    }

    /// The report time zone as an offset; `load` has checked it, a hand-built `Settings` with
    /// a bad one falls back to the agents' default (UTC+08:00).
    pub fn report_offset(&self) -> FixedOffset {
        parse_report_timezone(&self.report_timezone).unwrap_or(DEFAULT_REPORT_OFFSET)
    }
}

const DEFAULT_REPORT_OFFSET: FixedOffset = match FixedOffset::east_opt(8 * 3600) {
    Some(offset) => offset,
    None => panic!("UTC+08:00 is a valid offset"),
};

/// `""` or `/` → `""`; `/pushagent/` → `/pushagent`. A base path is absolute, made of plain
/// path segments (letters, digits, `-._~`), so it can be pasted into HTML and routes as is.
pub fn normalize_base_path(text: &str) -> Result<String, String> {
    let trimmed = text.trim().trim_end_matches('/');
    if trimmed.is_empty() {
        return Ok(String::new());
    }
    let segments_ok = trimmed.strip_prefix('/').is_some_and(|rest| {
        rest.split('/').all(|seg| {
            !seg.is_empty()
                && seg != "."
                && seg != ".."
                && seg.chars().all(|c| c.is_ascii_alphanumeric() || "-._~".contains(c))
        })
    });
    if !segments_ok || ["/api", "/agent", "/metrics", "/assets"].contains(&trimmed) {
        return Err(format!(
            "base_path: {text:?} is not a path like \"/pushagent\" (starts with /, segments of letters, digits, -._~; not /api, /agent, /metrics or /assets)"
        ));
    }
    Ok(trimmed.to_owned())
}

/// `UTC`, `UTC+08:00`, `+08:00`, `GMT-05:30`, `+0800` (the forms the agent's
/// `report_timezone` takes); a whole number of 5 minutes, like every slot boundary.
pub fn parse_report_timezone(text: &str) -> Result<FixedOffset, String> {
    let t = text.trim();
    let offset = t.strip_prefix("UTC").or_else(|| t.strip_prefix("GMT")).unwrap_or(t);
    let parsed = if offset.is_empty() { FixedOffset::east_opt(0) } else { offset.parse().ok() };
    match parsed {
        Some(o) if o.local_minus_utc() % 300 == 0 => Ok(o),
        _ => Err(format!(
            "report_timezone: {text:?} is not a fixed offset like \"UTC+08:00\" (whole 5 minutes)"
        )),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn env_overrides_toml_which_overrides_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let toml_path = dir.path().join("c.toml");
        std::fs::write(&toml_path, "listen = \"127.0.0.1:9000\"\nheartbeat_interval_secs = 60\n").unwrap();
        let env = |name: &str| (name == "PUSHAGENT_HEARTBEAT_INTERVAL_SECS").then(|| "30".to_owned());
        let settings = Settings::load(Some(&toml_path), env).unwrap();
        assert_eq!(settings.listen, "127.0.0.1:9000");
        assert_eq!(settings.heartbeat_interval_secs, 30);
        assert_eq!(settings.check_interval_secs, 60, "default kept");
    }

    #[test]
    fn secrets_come_from_files_and_never_show_in_debug() {
        let dir = tempfile::tempdir().unwrap();
        let secret_path = dir.path().join("token");
        std::fs::write(&secret_path, "enroll-very-secret-1234\n").unwrap();
        let path_text = secret_path.display().to_string();
        let env = move |name: &str| (name == "PUSHAGENT_ENROLLMENT_TOKEN_FILE").then(|| path_text.clone());
        let settings = Settings::load(None, env).unwrap();
        assert_eq!(settings.enrollment_token.as_ref().unwrap().expose(), "enroll-very-secret-1234");
        let debug = format!("{settings:?}");
        assert!(!debug.contains("enroll-very-secret"), "{debug}");
        assert!(debug.contains("<redacted>"));
    }

    #[test]
    fn the_example_file_is_the_defaults() {
        let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("pushagent-config.example.toml");
        assert_eq!(Settings::load(Some(&example), |_| None).unwrap(), Settings::default());
    }

    #[test]
    fn the_report_timezone_takes_the_agents_forms_and_refuses_others() {
        for (text, secs) in [("UTC+08:00", 8 * 3600), ("+0800", 8 * 3600), ("UTC", 0), ("GMT-05:30", -19_800)]
        {
            assert_eq!(parse_report_timezone(text).unwrap().local_minus_utc(), secs, "{text}");
        }
        for bad in ["Asia/Shanghai", "+08:01", "UTC+8h"] {
            let env = move |name: &str| (name == "PUSHAGENT_REPORT_TIMEZONE").then(|| bad.to_owned());
            let error = Settings::load(None, env).unwrap_err().to_string();
            assert!(error.contains("report_timezone"), "{bad}: {error}");
        }
        assert_eq!(Settings::default().report_offset().local_minus_utc(), 8 * 3600);
    }

    #[test]
    fn a_base_path_is_normalized_or_refused() {
        for (text, expected) in
            [("", ""), ("/", ""), ("/pushagent", "/pushagent"), ("/ops/pushagent/", "/ops/pushagent")]
        {
            assert_eq!(normalize_base_path(text).unwrap(), expected, "{text}");
        }
        for bad in ["pushagent", "/a b", "/a/../b", "/api", "/x\"y", "/a//b", "/<script>"] {
            let env = move |name: &str| (name == "PUSHAGENT_BASE_PATH").then(|| bad.to_owned());
            let error = Settings::load(None, env).unwrap_err().to_string();
            assert!(error.contains("base_path"), "{bad}: {error}");
        }
    }

    #[test]
    fn inventory_settings_are_checked_and_the_password_stays_hidden() {
        let dir = tempfile::tempdir().unwrap();
        let password = dir.path().join("spug-password");
        std::fs::write(&password, "very-secret-spug\n").unwrap();
        let toml_path = dir.path().join("c.toml");
        let write = |extra: &str| {
            std::fs::write(
                &toml_path,
                format!("[inventory]\nkind = \"spug\"\nurl = \"https://ops.example.com\"\nusername = \"pushagent\"\npassword_file = {:?}\n{extra}", password.display().to_string()),
            )
            .unwrap();
        };
        write("node_from = \"path\"\n");
        let settings = Settings::load(Some(&toml_path), |_| None).unwrap();
        let inventory = settings.inventory.as_ref().unwrap();
        assert_eq!(inventory.node_from, crate::inventory::NodeFrom::Path);
        assert_eq!(inventory.interval_secs, 600);
        assert_eq!(inventory.password.as_ref().unwrap().expose(), "very-secret-spug");
        assert!(!format!("{settings:?}").contains("very-secret-spug"));
        for (extra, named) in [
            ("interval_secs = 5\n", "interval_secs"),
            ("node_from = \"root\"\n", "node_from"),
            ("kind = \"cmdb\"\n", "kind"),
        ] {
            write(extra);
            let error = Settings::load(Some(&toml_path), |_| None).unwrap_err().to_string();
            assert!(error.contains(named), "{extra}: {error}");
        }
    }

    #[test]
    fn bad_values_are_named() {
        let env = |name: &str| (name == "PUSHAGENT_CHECK_INTERVAL_SECS").then(|| "soon".to_owned());
        let error = Settings::load(None, env).unwrap_err().to_string();
        assert!(error.contains("PUSHAGENT_CHECK_INTERVAL_SECS"), "{error}");
        let dir = tempfile::tempdir().unwrap();
        let toml_path = dir.path().join("c.toml");
        std::fs::write(&toml_path, "lisen = \"x\"\n").unwrap();
        let error = Settings::load(Some(&toml_path), |_| None).unwrap_err().to_string();
        assert!(error.contains("lisen"), "{error}");
    }
}
