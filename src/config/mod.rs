//! The agent's TOML config (`/etc/pushagent/agent.toml`). Unknown keys and bad values are
//! errors that name the key and the line; every key is in `packaging/agent.toml`.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Deserializer};

use crate::slots::ReportTz;

pub mod customer;
pub mod identity;
pub mod shared;
pub use customer::{BilledDirection, Billing, CustomerProfile, MacFormat, Offset, ReportSettings, Secret};
pub use identity::IdentitySettings;
pub use shared::SharedConfig;

pub const DEFAULT_PATH: &str = "/etc/pushagent/agent.toml";

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AgentConfig {
    /// Collect this interface instead of the detected one.
    #[serde(deserialize_with = "interface_name")]
    pub interface: Option<String>,
    /// Allow a virtual interface (veth, bridge...) as `interface`; for tests.
    pub allow_virtual: bool,
    /// Seconds between counter readings (boundary readings are taken in addition).
    #[serde(deserialize_with = "sample_interval")]
    pub sample_interval_secs: u64,
    /// Time zone that names report hours: a fixed offset like "UTC+08:00".
    #[serde(deserialize_with = "report_tz")]
    pub report_timezone: ReportTz,
    /// Where the state database (state.sqlite: ring, outbox) and other state live.
    pub state_dir: PathBuf,
    /// Days of slots kept in the ring.
    #[serde(deserialize_with = "retention")]
    pub retention_days: u32,
    /// Link speed to assume when the NIC reports none (virtio, some VFs).
    #[serde(deserialize_with = "link_speed")]
    pub max_link_bits_per_sec: Option<u64>,
    /// Width of the kernel's byte counters: "auto" (64-bit on a 64-bit kernel), "32" or "64".
    /// Only a counter known to be 32-bit is ever taken to have wrapped.
    pub counter_bits: crate::delta::CounterBits,
    /// Build hours from the wall clock even when the kernel says it is not synchronised
    /// (machines without NTP). Default false: readings are kept, hours wait for NTP.
    pub trust_unsynced_clock: bool,
    /// A wall clock ahead of slot time by more than this is a clock step, followed only once
    /// the clock is synchronised and settled; until then boot time places the readings.
    #[serde(deserialize_with = "clock_secs")]
    pub clock_step_bound_secs: u64,
    /// A wall clock behind slot time by up to this is waited for (slot time runs 1/16 slower);
    /// further behind, slot time re-anchors on the synchronised clock.
    #[serde(deserialize_with = "clock_secs")]
    pub max_backward_hold_secs: u64,
    /// Local push switch (until the config service provides one). Hours built while it is
    /// off are recorded as `skipped_off` and never pushed later.
    pub push_enabled: bool,
    /// Hour H is pushed after H+1:00 plus a per-MAC delay inside this many seconds.
    #[serde(deserialize_with = "push_spread")]
    pub push_spread_secs: u64,
    /// Days during which pushed hours are re-checked against the customer's copy.
    #[serde(deserialize_with = "verify_days")]
    pub verify_days: u32,
    /// Most corrections (version + 1 because the customer's copy differed or conflicted) per
    /// hour; then the hour is `correction_failed`, held for an operator.
    #[serde(deserialize_with = "max_corrections")]
    pub max_corrections_per_hour: u32,
    /// DEMO ONLY: run the agent's clock this many times faster than real time (60 = one
    /// report hour per real minute). Never set it in production: the points would be wrong.
    #[serde(deserialize_with = "time_scale")]
    pub demo_time_scale: u32,
    pub customer: CustomerProfile,
    pub report: ReportSettings,
    pub service: ServiceSettings,
    /// The ops platform's names for this machine (written by deploy.sh from Spug).
    pub identity: IdentitySettings,
    /// Set by the service merge: which switches are off (`machine`, `global`, `local`), so a
    /// skipped hour can say why. Not a config key.
    #[serde(skip)]
    pub push_off_switches: Vec<&'static str>,
}

impl AgentConfig {
    /// The switches that keep pushes off now; empty while pushing is on. Without the config
    /// service only the file's own switch exists.
    pub fn off_switches(&self) -> Vec<&'static str> {
        if self.push_enabled {
            Vec::new()
        } else if self.push_off_switches.is_empty() {
            vec![pushagent_proto::agent::SWITCH_LOCAL]
        } else {
            self.push_off_switches.clone()
        }
    }
}

/// How to reach the config service (optional: without it the agent runs on this file alone).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServiceSettings {
    /// e.g. "https://pushagent-config.internal:8443"; unset = no config service.
    #[serde(deserialize_with = "service_url")]
    pub url: Option<String>,
    /// The enrollment token of the deploy step, exchanged for this agent's own token once.
    pub enrollment_token: Secret,
    pub enrollment_token_file: Option<PathBuf>,
    /// Heartbeat and config pull period.
    #[serde(deserialize_with = "config_interval")]
    pub config_interval_secs: u64,
    #[serde(deserialize_with = "service_timeout")]
    pub timeout_secs: u64,
}

impl Default for ServiceSettings {
    fn default() -> Self {
        ServiceSettings {
            url: None,
            enrollment_token: Secret::default(),
            enrollment_token_file: None,
            config_interval_secs: 60,
            timeout_secs: 10,
        }
    }
}

impl Default for AgentConfig {
    fn default() -> Self {
        AgentConfig {
            interface: None,
            allow_virtual: false,
            sample_interval_secs: 10,
            report_timezone: ReportTz::default(),
            state_dir: PathBuf::from("/var/lib/pushagent"),
            retention_days: 35,
            max_link_bits_per_sec: None,
            counter_bits: crate::delta::CounterBits::Auto,
            trust_unsynced_clock: false,
            clock_step_bound_secs: 300,
            max_backward_hold_secs: 600,
            push_enabled: true,
            push_spread_secs: 300,
            verify_days: 7,
            max_corrections_per_hour: pushagent_proto::check::MAX_CORRECTIONS_DEFAULT,
            demo_time_scale: 1,
            customer: CustomerProfile::default(),
            report: ReportSettings::default(),
            service: ServiceSettings::default(),
            identity: IdentitySettings::default(),
            push_off_switches: Vec::new(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("invalid config {path}: {message}")]
    Invalid { path: PathBuf, message: String },
}

impl AgentConfig {
    /// Load `path`; when `path` is the default location and it does not exist, use defaults.
    pub fn load(path: &Path, explicit: bool) -> Result<AgentConfig, ConfigError> {
        match std::fs::read_to_string(path) {
            Ok(text) => Self::parse(&text, path),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && !explicit => {
                log::warn!("no config at {}: using defaults", path.display());
                Ok(AgentConfig::default())
            }
            Err(source) => Err(ConfigError::Read { path: path.to_owned(), source }),
        }
    }

    pub fn parse(text: &str, path: &Path) -> Result<AgentConfig, ConfigError> {
        let invalid = |message: String| ConfigError::Invalid { path: path.to_owned(), message };
        let mut config: AgentConfig =
            toml::from_str(text).map_err(|e| invalid(e.to_string().trim_end().to_string()))?;
        config.customer.resolve_secret().map_err(invalid)?;
        // The checks that span keys (a separator inside an id...), as the config service runs them.
        config.customer.validate(&config.report).map_err(|e| invalid(e.to_string()))?;
        let service = &config.service;
        if let Some(token) = Secret::from_file(
            "service.enrollment_token",
            &service.enrollment_token,
            service.enrollment_token_file.as_deref(),
        )
        .map_err(invalid)?
        {
            config.service.enrollment_token = token;
        }
        Ok(config)
    }

    /// The interface the operator asked for (or automatic), as interface selection takes it.
    pub fn interface_choice(&self) -> crate::netif::InterfaceChoiceConfig {
        crate::netif::InterfaceChoiceConfig {
            interface: self.interface.clone(),
            allow_virtual: self.allow_virtual,
            management_ip: self.identity.management_ip,
        }
    }

    pub fn state_db_path(&self) -> PathBuf {
        self.state_dir.join("state.sqlite")
    }
}

fn interface_name<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    let name = String::deserialize(d)?;
    crate::netif::validate_name(&name).map_err(serde::de::Error::custom)?;
    Ok(Some(name))
}

fn sample_interval<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    let secs = u64::deserialize(d)?;
    if !(1..=300).contains(&secs) {
        return Err(serde::de::Error::custom(format!(
            "sample_interval_secs must be between 1 and 300, got {secs}"
        )));
    }
    Ok(secs)
}

fn report_tz<'de, D: Deserializer<'de>>(d: D) -> Result<ReportTz, D::Error> {
    let text = String::deserialize(d)?;
    ReportTz::parse(&text).map_err(serde::de::Error::custom)
}

fn retention<'de, D: Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
    let days = u32::deserialize(d)?;
    if !(1..=3650).contains(&days) {
        return Err(serde::de::Error::custom(format!(
            "retention_days must be between 1 and 3650, got {days}"
        )));
    }
    Ok(days)
}

fn link_speed<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    let bits = u64::deserialize(d)?;
    // 1 Mbit/s .. 1.6 Tbit/s: anything else is a typo, not a link.
    if !(1_000_000..=1_600_000_000_000).contains(&bits) {
        return Err(serde::de::Error::custom(format!(
            "max_link_bits_per_sec must be between 1000000 and 1600000000000, got {bits}"
        )));
    }
    Ok(Some(bits))
}

fn clock_secs<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    let secs = u64::deserialize(d)?;
    if !(10..=86_400).contains(&secs) {
        return Err(serde::de::Error::custom(format!("must be between 10 and 86400 seconds, got {secs}")));
    }
    Ok(secs)
}

fn service_url<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    let url = String::deserialize(d)?;
    customer::check::base_url(&url).map_err(|e| serde::de::Error::custom(e.replace("base_url", "url")))?;
    Ok(Some(url))
}

fn config_interval<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    let secs = u64::deserialize(d)?;
    if !(5..=3600).contains(&secs) {
        return Err(serde::de::Error::custom(format!(
            "config_interval_secs must be between 5 and 3600, got {secs}"
        )));
    }
    Ok(secs)
}

fn service_timeout<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    let secs = u64::deserialize(d)?;
    if !(1..=600).contains(&secs) {
        return Err(serde::de::Error::custom(format!("timeout_secs must be between 1 and 600, got {secs}")));
    }
    Ok(secs)
}

fn push_spread<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    let secs = u64::deserialize(d)?;
    if secs > 3000 {
        return Err(serde::de::Error::custom(format!("push_spread_secs must be at most 3000, got {secs}")));
    }
    Ok(secs)
}

fn verify_days<'de, D: Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
    let days = u32::deserialize(d)?;
    if days > 35 {
        return Err(serde::de::Error::custom(format!("verify_days must be at most 35, got {days}")));
    }
    Ok(days)
}

fn max_corrections<'de, D: Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
    let n = u32::deserialize(d)?;
    pushagent_proto::check::max_corrections_per_hour(n).map_err(serde::de::Error::custom)?;
    Ok(n)
}

fn time_scale<'de, D: Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
    let scale = u32::deserialize(d)?;
    if !(1..=3600).contains(&scale) {
        return Err(serde::de::Error::custom(format!(
            "demo_time_scale must be between 1 and 3600, got {scale}"
        )));
    }
    Ok(scale)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<AgentConfig, String> {
        AgentConfig::parse(text, Path::new("agent.toml")).map_err(|e| e.to_string())
    }

    #[test]
    fn defaults_are_the_documented_ones() {
        let c = parse("").expect("empty config is valid");
        assert_eq!(c.sample_interval_secs, 10);
        assert_eq!(c.retention_days, 35);
        assert_eq!(c.report_timezone.0.local_minus_utc(), 8 * 3600);
        assert_eq!(c.state_dir, PathBuf::from("/var/lib/pushagent"));
    }

    #[test]
    fn unknown_key_names_key_and_line() {
        let e = parse("sample_interval_secs = 10\nsampel_interval = 5\n").expect_err("unknown key");
        assert!(e.contains("line 2"), "{e}");
        assert!(e.contains("sampel_interval"), "{e}");
    }

    #[test]
    fn bad_values_name_key_and_line() {
        let e = parse("\n\nsample_interval_secs = 0\n").expect_err("zero interval");
        assert!(e.contains("line 3") && e.contains("sample_interval_secs"), "{e}");
        let e = parse("report_timezone = \"Mars/Olympus\"\n").expect_err("bad tz");
        assert!(e.contains("line 1") && e.contains("report_timezone"), "{e}");
        let e = parse("interface = \"../etc\"\n").expect_err("bad name");
        assert!(e.contains("line 1") && e.contains("interface"), "{e}");
        let e = parse("retention_days = \"many\"\n").expect_err("wrong type");
        assert!(e.contains("retention_days"), "{e}");
    }

    #[test]
    fn identity_is_checked_by_the_shared_rules() {
        let c = parse(
            "[identity]\nops_host_id = \"42\"\nhost_name = \"北京-电信-01\"\nmanagement_ip = \"203.0.113.10\"\nnode = \"华北/北京\"\n",
        )
        .expect("spug identity");
        assert_eq!(c.identity.to_wire().management_ip.as_deref(), Some("203.0.113.10"));
        assert_eq!(c.interface_choice().management_ip, Some("203.0.113.10".parse().expect("ip")));
        let e = parse("[identity]\n\nmanagement_ip = \"web01.example.com\"\n").expect_err("DNS name");
        assert!(e.contains("line 3") && e.contains("management_ip"), "{e}");
        let e = parse("[identity]\nnode = \"a\\tb\"\n").expect_err("control character");
        assert!(e.contains("line 2") && e.contains("node"), "{e}");
        let e = parse("[identity]\nhostname = \"x\"\n").expect_err("unknown key");
        assert!(e.contains("hostname"), "{e}");
    }

    #[test]
    fn example_file_documents_every_key() {
        let example = include_str!("../../packaging/agent.toml");
        // Uncomment every `# key = value` line: the result must parse with every key set.
        let uncommented: String = example
            .lines()
            .map(|l| match l.strip_prefix("# ") {
                Some(rest) if rest.split_once(" = ").is_some_and(|(k, _)| !k.contains(' ')) => rest,
                _ => l,
            })
            .collect::<Vec<_>>()
            .join("\n");
        let parsed: toml::Table = toml::from_str(&uncommented).expect("example parses");
        for key in [
            "interface",
            "allow_virtual",
            "sample_interval_secs",
            "report_timezone",
            "state_dir",
            "retention_days",
            "max_link_bits_per_sec",
            "counter_bits",
            "trust_unsynced_clock",
            "clock_step_bound_secs",
            "max_backward_hold_secs",
            "verify_days",
            "max_corrections_per_hour",
        ] {
            assert!(parsed.contains_key(key), "example lacks {key}");
        }
        let identity = parsed.get("identity").and_then(|t| t.as_table()).expect("[identity] documented");
        for key in ["ops_host_id", "host_name", "management_ip", "node"] {
            assert!(identity.contains_key(key), "example lacks identity.{key}");
        }
        // secret and secret_file exclude each other: drop the file for the full parse.
        let uncommented = uncommented
            .replace("\nsecret_file = ", "\n# secret_file = ")
            .replace("\nenrollment_token_file = ", "\n# enrollment_token_file = ");
        parse(&uncommented).expect("example values are valid");
    }
}
