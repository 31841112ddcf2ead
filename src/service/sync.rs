//! One round with the config service, as the service thread (or a test) calls it: register
//! once, heartbeat, pull and apply a changed config, mirror unsent history. Everything it
//! needs to survive a restart (token, last config) is on disk; history waits in the outbox's
//! durable queue until the service acknowledges it.

use std::io::Write;
use std::path::{Path, PathBuf};

use serde_json::Value;

use pushagent_proto::agent;
use pushagent_proto::offset::{self, Level};

use super::client::{ServiceClient, ServiceError};
use super::merge::{effective, ServiceConfig};
use crate::clock::Clock;
use crate::config::{AgentConfig, Billing, Offset, Secret, SharedConfig};
use crate::health::Health;
use crate::netif::{self, HostRoot, NetifError};
use crate::push::outbox::{Outbox, OutboxError};

#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error(transparent)]
    Service(#[from] ServiceError),
    #[error(transparent)]
    Outbox(#[from] OutboxError),
    #[error("{0}")]
    Local(String),
}

/// What a round did (for logs and tests).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct SyncReport {
    pub registered: bool,
    pub config_applied: bool,
    pub history_items_sent: usize,
}

pub struct ServiceSync<'a> {
    pub clock: &'a dyn Clock,
    /// The config file as loaded: the base the service's values are laid over.
    pub local: AgentConfig,
    pub shared: SharedConfig,
    pub outbox: Outbox,
    pub root: HostRoot,
    /// Shared with the other threads; sent with every heartbeat.
    pub health: Health,
    client: ServiceClient,
    token: Option<Secret>,
    cached: Option<ServiceConfig>,
    last_facts: Option<String>,
    /// The MAC of the last heartbeat: still the identity while a pinned interface is missing.
    last_mac: Option<String>,
    /// The service's `heartbeat_interval_secs` (register and heartbeat answers): the period of
    /// the service rounds, so its "offline after 3 missed periods" counts the agent's real ones.
    heartbeat_interval_secs: Option<u64>,
    refused_interval: Option<u64>,
}

fn token_path(state_dir: &Path) -> PathBuf {
    state_dir.join("agent.token")
}

fn cache_path(state_dir: &Path) -> PathBuf {
    state_dir.join("service-config.json")
}

/// Write a file readable by its owner only, atomically (temp file + rename).
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let tmp = path.with_extension("tmp");
    let mut f = std::fs::OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(&tmp)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    std::fs::rename(&tmp, path)
}

impl<'a> ServiceSync<'a> {
    /// Load the token and the cached config; apply the cached config at once (so a restart
    /// while the service is down runs with what it said last).
    pub fn new(
        clock: &'a dyn Clock,
        local: AgentConfig,
        shared: SharedConfig,
        outbox: Outbox,
        root: HostRoot,
    ) -> Result<Self, SyncError> {
        let url = local.service.url.clone().ok_or_else(|| SyncError::Local("no [service] url".into()))?;
        let client = ServiceClient::new(&url, local.service.timeout_secs);
        let token = std::fs::read_to_string(token_path(&local.state_dir))
            .ok()
            .map(|t| Secret::new(t.trim()))
            .filter(|t| !t.is_empty());
        let cached = read_cached(&local).unwrap_or_else(|why| {
            log::error!("{why}");
            None
        });
        let mut sync = ServiceSync {
            clock,
            local,
            shared,
            outbox,
            root,
            health: Health::new(),
            client,
            token,
            cached: None,
            last_facts: None,
            last_mac: None,
            heartbeat_interval_secs: None,
            refused_interval: None,
        };
        if let Some((c, e)) = cached {
            sync.shared.replace(e);
            log::info!(
                "running with the cached service config (machine v{}, global v{})",
                c.machine.version,
                c.global.version
            );
            sync.cached = Some(c);
        }
        Ok(sync)
    }

    pub fn step(&mut self) -> Result<SyncReport, SyncError> {
        let mut report = SyncReport::default();
        let token = match &self.token {
            Some(t) => t.clone(),
            None => {
                let t = self.register()?;
                report.registered = true;
                t
            }
        };
        let heartbeat = match self.heartbeat_body() {
            Ok(h) => h,
            Err(e) => {
                return Err(SyncError::Local(format!("cannot describe this machine for the heartbeat: {e}")))
            }
        };
        let answer = match self.client.heartbeat(&token, &heartbeat) {
            Err(ServiceError::Unauthorized(why)) => {
                // The service forgot us (reset, or this machine registered again elsewhere).
                log::error!("config service refused our token ({why}); registering again");
                self.token = None;
                let _ = std::fs::remove_file(token_path(&self.local.state_dir));
                return Err(ServiceError::Unauthorized(why).into());
            }
            other => other?,
        };
        self.follow_heartbeat_interval(answer.heartbeat_interval_secs);
        self.last_mac = heartbeat.get("mac").and_then(Value::as_str).map(str::to_string);
        if let Some(facts) = heartbeat.get("facts").filter(|f| !f.is_null()) {
            self.last_facts = Some(comparable_facts(facts));
        }
        let stale = self.cached.as_ref().is_none_or(|c| {
            c.machine.version != answer.machine_config_version
                || c.global.version != answer.global_config_version
        });
        if stale {
            let fresh = ServiceConfig {
                machine: self.client.machine_config(&token)?,
                global: self.client.global_config(&token)?,
            };
            let now_secs = self.clock.wall_ms() / 1000;
            match effective(&self.local, &fresh) {
                Ok(e) => {
                    let bytes = serde_json::to_vec(&fresh).map_err(|e| SyncError::Local(e.to_string()))?;
                    if let Err(e) = write_private(&cache_path(&self.local.state_dir), &bytes) {
                        log::error!("cannot cache the service config: {e}");
                    }
                    log::info!(
                        "applied service config: machine v{} global v{} (push {}, offset {}%{})",
                        fresh.machine.version,
                        fresh.global.version,
                        if e.push_enabled { "on" } else { "off" },
                        e.report.machine_offset_percent.unwrap_or(e.report.offset_percent).percent_text(),
                        e.interface.as_deref().map(|i| format!(", interface {i}")).unwrap_or_default()
                    );
                    self.shared.replace(e);
                    self.cached = Some(fresh);
                    self.health.config_refused(None, now_secs);
                    report.config_applied = true;
                }
                Err(refused) => {
                    log::error!(
                        "config service sent a config we refuse (keeping the previous one): {refused}"
                    );
                    self.health.config_refused(Some((&refused.key, &refused.why)), now_secs);
                }
            }
        }
        report.history_items_sent = self.mirror(&token)?;
        Ok(report)
    }

    /// Time between two service rounds: the service's heartbeat period once it said it, the
    /// file's `config_interval_secs` before (and while the service has never answered).
    pub fn period_ms(&self) -> u64 {
        self.heartbeat_interval_secs.unwrap_or(self.local.service.config_interval_secs) * 1000
    }

    /// Take the service's heartbeat period; one outside what the agent accepts (the shared
    /// check) is refused, logged once per value, and the period stays as it was.
    fn follow_heartbeat_interval(&mut self, secs: u64) {
        if self.heartbeat_interval_secs == Some(secs) {
            return;
        }
        match pushagent_proto::check::heartbeat_interval_secs("heartbeat_interval_secs", secs) {
            Ok(()) => {
                log::info!("heartbeat every {secs} s, as the config service asks");
                self.heartbeat_interval_secs = Some(secs);
            }
            Err(e) if self.refused_interval != Some(secs) => {
                self.refused_interval = Some(secs);
                log::error!(
                    "config service asks for a heartbeat period we refuse ({e}); keeping {} s",
                    self.period_ms() / 1000
                );
            }
            Err(_) => {}
        }
    }

    fn register(&mut self) -> Result<Secret, SyncError> {
        let enrollment = self.local.service.enrollment_token.clone();
        if enrollment.is_empty() {
            return Err(SyncError::Local(
                "not registered and no service.enrollment_token to register with".into(),
            ));
        }
        let (_, current) = self.shared.get();
        let facts = crate::facts::collect(&self.root, None, self.clock.wall_ms() / 1000);
        let facts_json = serde_json::to_value(&facts).map_err(|e| SyncError::Local(e.to_string()))?;
        let (detection, _) = self.detect_for_heartbeat(&current).map_err(SyncError::Local)?;
        let request = agent::RegisterRequest {
            enrollment_token: enrollment.expose().to_string(),
            machine_id: registration_id(facts.machine_id.as_deref(), &detection.chosen.mac),
            hostname: host_name(facts.hostname.as_deref(), &detection.chosen.mac),
            mac: detection.chosen.mac.clone(),
            agent_version: env!("CARGO_PKG_VERSION").into(),
            facts: serde_json::from_value(facts_json).unwrap_or_default(),
            identity: current.identity.to_wire(),
        };
        let answer = self.client.register(&request)?;
        self.follow_heartbeat_interval(answer.heartbeat_interval_secs);
        write_private(&token_path(&self.local.state_dir), answer.agent_token.as_bytes())
            .map_err(|e| SyncError::Local(format!("cannot store the agent token: {e}")))?;
        log::info!("registered with the config service as machine {}", answer.machine_id);
        let token = Secret::new(answer.agent_token);
        self.token = Some(token.clone());
        Ok(token)
    }

    /// The collected interface as the heartbeat describes it. A pinned interface that does not
    /// exist (renamed NIC, typo) does not stop the heartbeat: it reports the pinned name, the
    /// MAC counted under last, the interfaces there are (for the operator to choose from) and
    /// the condition in its health.
    fn detect_for_heartbeat(&self, current: &AgentConfig) -> Result<(netif::Detection, String), String> {
        let choice = current.interface_choice();
        let now_secs = self.clock.wall_ms() / 1000;
        match (netif::detect(&self.root, &choice), &choice.interface) {
            (Ok(d), _) => {
                self.health.interface_missing(None, now_secs);
                let name = d.chosen.name.clone();
                Ok((d, name))
            }
            (Err(NetifError::NoSuchInterface(_)), Some(pinned)) => {
                self.health.interface_missing(Some(pinned), now_secs);
                let automatic = netif::InterfaceChoiceConfig { interface: None, ..choice.clone() };
                let mut d = netif::detect(&self.root, &automatic).map_err(|e| e.to_string())?;
                if let Some(mac) = self.last_mac.clone().or_else(|| self.ring_mac()) {
                    d.chosen.mac = mac;
                }
                Ok((d, pinned.clone()))
            }
            (Err(e), _) => Err(e.to_string()),
        }
    }

    /// The MAC of the last reading in the ring (the identity counted under last).
    fn ring_mac(&self) -> Option<String> {
        let ring = crate::ring::Ring::open_existing(&self.local.state_db_path()).ok()?;
        ring.last_reading().ok().flatten().map(|(last, _)| last.reading.source.mac)
    }

    fn heartbeat_body(&self) -> Result<Value, String> {
        let (_, current) = self.shared.get();
        let (detection, chosen_name) = self.detect_for_heartbeat(&current)?;
        let now_secs = self.clock.wall_ms() / 1000;
        let facts = crate::facts::collect(&self.root, Some(&detection.chosen.name), now_secs);
        let facts_json = serde_json::to_value(&facts).map_err(|e| e.to_string())?;
        let changed = self.last_facts.as_deref() != Some(comparable_facts(&facts_json).as_str());
        let request = agent::HeartbeatRequest {
            agent_version: env!("CARGO_PKG_VERSION").into(),
            mac: detection.chosen.mac.clone(),
            hostname: host_name(facts.hostname.as_deref(), &detection.chosen.mac),
            interfaces: detection
                .candidates
                .iter()
                .map(|c| agent::InterfaceReport {
                    name: c.name.clone(),
                    mac: c.mac.clone(),
                    physical: c.kind == "physical",
                })
                .collect(),
            chosen_interface: chosen_name,
            ambiguous: detection.chosen.ambiguous,
            backlog: self.outbox.backlog().map_err(|e| e.to_string())?,
            last_push: self.outbox.last_push().map_err(|e| e.to_string())?,
            agent_time: now_secs,
            facts: None,
            report_timezone: Some(current.report_timezone.label()),
            identity: current.identity.to_wire(),
            health: Some(agent::AgentHealth {
                // From the outbox (durable): refused items stay reported until an operator
                // clears them (`pushagent outbox --forget-refused`).
                history_refused: self.outbox.history_refused().map_err(|e| e.to_string())?,
                ..self.health.snapshot()
            }),
        };
        let mut body = serde_json::to_value(&request).map_err(|e| e.to_string())?;
        if changed {
            // The whole `pushagent info` object, not only the fields the service interprets.
            body["facts"] = facts_json;
        }
        Ok(body)
    }

    /// Send unsent history in batches until none is left; each batch is marked only after
    /// the service stored it, so a failure anywhere just means "send again later".
    ///
    /// Skipped hours (push switch off) are marked only when the answer says the service holds
    /// all of them (`skipped_stored`); a service older than skipped hours ignores them and
    /// does not say so: they stay queued (the round stops there: the same batch again would
    /// change nothing) and go out again next round, until the service is upgraded.
    fn mirror(&mut self, token: &Secret) -> Result<usize, SyncError> {
        let mut sent = 0;
        for _ in 0..100 {
            let pending = self.outbox.unmirrored_history(agent::MAX_HISTORY_BATCH)?;
            if pending.is_empty() {
                break;
            }
            let answer = match self.client.history(token, &pending.batch) {
                Err(ServiceError::Refused { status, message }) if is_invalid(status) => {
                    // Some item is invalid to the service: find it, record it and go on with
                    // the others, so it never blocks every item after it.
                    sent += self.mirror_one_by_one(token, &pending, status, &message)?;
                    continue;
                }
                other => other?,
            };
            let skipped = pending.skipped_keys.len();
            let skipped_taken = skipped == 0 || answer.skipped_stored == Some(skipped as u64);
            self.outbox.mark_mirrored(&pending, skipped_taken)?;
            sent += pending.len() - if skipped_taken { 0 } else { skipped };
            if !skipped_taken {
                log::warn!(
                    "the config service did not acknowledge {skipped} skipped hour(s) (stored: {:?}); \
                     keeping them queued (a service older than skipped-hour history?)",
                    answer.skipped_stored
                );
                break;
            }
        }
        Ok(sent)
    }
}

/// What the service said last (cached on disk), and the effective config it makes with the
/// file: what the daemon runs with from its start. Ok(None) without a cache; Err(why) when
/// the cache is unreadable or refused: the file alone then.
fn read_cached(local: &AgentConfig) -> Result<Option<(ServiceConfig, AgentConfig)>, String> {
    let Ok(text) = std::fs::read_to_string(cache_path(&local.state_dir)) else { return Ok(None) };
    let cached: ServiceConfig = serde_json::from_str(&text)
        .map_err(|e| format!("ignoring the unreadable cached service config: {e}"))?;
    match effective(local, &cached) {
        Ok(e) => Ok(Some((cached, e))),
        Err(e) => Err(format!("cached service config refused: {e}")),
    }
}

/// The config the daemon runs with, as the CLI reads it, and where every key that differs
/// from the file came from.
#[derive(Debug, Clone)]
pub struct EffectiveConfig {
    pub config: AgentConfig,
    /// The keys whose value is not the file's, each with its source.
    pub sources: Vec<KeySource>,
    /// Why the service's cached config is not applied (the file alone then), when it is not.
    pub cache_ignored: Option<String>,
}

/// One key of the effective config that differs from the file: its value, where it came
/// from, and what the file says.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct KeySource {
    pub key: &'static str,
    pub value: String,
    pub source: String,
    pub file: String,
    /// Why the file's value is not taken, where the agent refused it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refused: Option<String>,
}

impl std::fmt::Display for KeySource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {} ({}, file says {})", self.key, self.value, self.source, self.file)?;
        match &self.refused {
            Some(why) => write!(f, ": {why}"),
            None => Ok(()),
        }
    }
}

impl EffectiveConfig {
    /// One line per key that differs from the file (and one if the cache is ignored).
    pub fn notes(&self) -> Vec<String> {
        let mut lines: Vec<String> = self.sources.iter().map(ToString::to_string).collect();
        if let Some(why) = &self.cache_ignored {
            lines.push(format!("{why}: the file alone applies"));
        }
        lines
    }
}

/// The config the daemon runs with, for the CLI: the file overlaid with the service's cached
/// global and machine config (customer, ids, offsets, billed direction, switches) and the
/// report time zone in force, by the same code the daemon's start uses (`read_cached`, as
/// `ServiceSync::new` applies it, and `zone::settle_zone`).
pub fn effective_config(local: &AgentConfig) -> EffectiveConfig {
    let (service, cache_ignored) = match local.service.url {
        Some(_) => match read_cached(local) {
            Ok(cached) => (cached, None),
            Err(why) => (None, Some(why)),
        },
        None => (None, None),
    };
    let mut config = service.as_ref().map(|(_, e)| e.clone()).unwrap_or_else(|| local.clone());
    // The report time zone in force, as the daemon's start decides it.
    let health = Health::new();
    if let Ok(outbox) = Outbox::open_existing(&config.state_db_path()) {
        let _ = crate::push::zone::settle_zone(&mut config, &outbox, &health, 0);
    }
    let zone_why = health.snapshot().config_refused.map(|r| r.why);
    let sources = key_sources(local, &config, service.as_ref().map(|(s, _)| s), zone_why);
    EffectiveConfig { config, sources, cache_ignored }
}

/// Where each key of `effective` that differs from the file (`local`) came from.
fn key_sources(
    local: &AgentConfig,
    effective: &AgentConfig,
    service: Option<&ServiceConfig>,
    zone_why: Option<String>,
) -> Vec<KeySource> {
    let (global, machine) = match service {
        Some(s) => (
            format!("global config v{} from the service", s.global.version),
            format!("machine config v{} from the service", s.machine.version),
        ),
        None => ("the file".to_owned(), "the file".to_owned()),
    };
    let mut out = Vec::new();
    if local.report_timezone != effective.report_timezone {
        out.push(KeySource {
            key: "report time zone",
            value: effective.report_timezone.label(),
            source: "the outbox's hours are named in it".into(),
            file: local.report_timezone.label(),
            refused: Some(zone_why.unwrap_or_else(|| "a change would rename or lose an hour".into())),
        });
    }
    let mut differs = |key: &'static str, file: String, value: String, source: &str| {
        if file != value {
            out.push(KeySource { key, value, source: source.to_owned(), file, refused: None });
        }
    };
    let direction = |c: &AgentConfig| c.customer.billed_direction.name().to_owned();
    differs("billed direction", direction(local), direction(effective), &global);
    let level_source = |level: Level| match level {
        Level::Machine => machine.clone(),
        Level::Node => format!("the node's offset in the {machine}"),
        Level::Global => global.clone(),
    };
    let (file_offset, offset) = (resolved_offsets(&local.report), resolved_offsets(&effective.report));
    let percent = |e: &offset::Effective| {
        format!(
            "{} % at {} level",
            Offset { basis_points: i64::from(e.offset_bp) }.percent_text(),
            e.offset_bp_level.as_str()
        )
    };
    differs("offset", percent(&file_offset), percent(&offset), &level_source(offset.offset_bp_level));
    let fixed = |e: &offset::Effective| {
        format!("{} B a point at {} level", e.offset_fixed_bytes, e.offset_fixed_level.as_str())
    };
    differs("fixed offset", fixed(&file_offset), fixed(&offset), &level_source(offset.offset_fixed_level));
    let switch = |c: &AgentConfig| match c.off_switches().as_slice() {
        [] => "on".to_owned(),
        off => format!("off ({} switch off)", off.join(", ")),
    };
    let switch_source =
        if effective.off_switches().contains(&agent::SWITCH_MACHINE) { &machine } else { &global };
    differs("push switch", switch(local), switch(effective), switch_source);
    let interface = |c: &AgentConfig| c.interface.clone().unwrap_or_else(|| "automatic".into());
    differs("interface", interface(local), interface(effective), &machine);
    let from_machine = |set: Option<i64>| if set.is_some() { &machine } else { &global };
    let m = service.map(|s| &s.machine);
    differs(
        "isp_id",
        local.report.isp_id.to_string(),
        effective.report.isp_id.to_string(),
        from_machine(m.and_then(|m| m.isp_id)),
    );
    differs(
        "device_type",
        local.report.device_type.to_string(),
        effective.report.device_type.to_string(),
        from_machine(m.and_then(|m| m.device_type)),
    );
    differs("provider_id", local.report.provider_id.clone(), effective.report.provider_id.clone(), &global);
    differs(
        "provider_uiid",
        local.report.provider_uiid.clone(),
        effective.report.provider_uiid.clone(),
        &global,
    );
    differs(
        "customer base_url",
        local.customer.base_url.clone(),
        effective.customer.base_url.clone(),
        &global,
    );
    differs(
        "customer access_id",
        local.customer.access_id.clone(),
        effective.customer.access_id.clone(),
        &global,
    );
    out
}

/// The offsets in force and the level each comes from (machine > node > global), from the
/// report settings as `BuildRules::from_settings` reads them.
fn resolved_offsets(report: &crate::config::ReportSettings) -> offset::Effective {
    offset::resolve(
        offset::LevelOffsets {
            offset_bp: Some(report.offset_percent.bp()),
            offset_fixed_bytes: Some(report.offset_fixed_bytes),
        },
        report.node_offsets,
        offset::LevelOffsets {
            offset_bp: report.machine_offset_percent.map(Offset::bp),
            offset_fixed_bytes: report.machine_offset_fixed_bytes,
        },
    )
}

/// The service refused the request as invalid (not "try again later").
fn is_invalid(status: u16) -> bool {
    matches!(status, 400 | 422)
}

impl ServiceSync<'_> {
    /// Send a refused batch's items one at a time; an item refused on its own is recorded
    /// (`mirror_refused`, and the log) and never sent again. Returns how many were stored.
    fn mirror_one_by_one(
        &mut self,
        token: &Secret,
        pending: &crate::push::outbox::UnmirroredHistory,
        status: u16,
        message: &str,
    ) -> Result<usize, SyncError> {
        log::warn!(
            "the config service refused a history batch of {} item(s) (HTTP {status}: {message}); sending them one by one",
            pending.len()
        );
        let mut stored = 0;
        for one in pending.singles() {
            match self.client.history(token, &one.batch) {
                Ok(answer) => {
                    let skipped = one.skipped_keys.len();
                    let taken = skipped == 0 || answer.skipped_stored == Some(skipped as u64);
                    self.outbox.mark_mirrored(&one, taken)?;
                    stored += usize::from(taken);
                }
                Err(ServiceError::Refused { status, message }) if is_invalid(status) => {
                    log::error!(
                        "the config service refused a history item as invalid; recorded and skipped: HTTP {status}: {message}"
                    );
                    self.outbox.record_mirror_refused(&one, status, &message, self.clock.wall_ms())?;
                }
                Err(e) => return Err(e.into()),
            }
        }
        Ok(stored)
    }
}

/// The machine's identity at the service: /etc/machine-id, or (hosts without one) the MAC of
/// the collected NIC, so the id is stable and made of letters, digits and '-'.
fn registration_id(machine_id: Option<&str>, mac: &str) -> String {
    match machine_id
        .filter(|id| !id.is_empty() && id.len() <= 64 && id.chars().all(|c| c.is_ascii_alphanumeric()))
    {
        Some(id) => id.to_string(),
        None => format!("mac-{}", mac.replace(':', "")),
    }
}

/// The host name, or (unreadable) one made from the MAC: the service needs a name to show.
fn host_name(hostname: Option<&str>, mac: &str) -> String {
    match hostname.filter(|h| !h.is_empty()) {
        Some(h) => h.to_string(),
        None => format!("host-{}", mac.replace(':', "")),
    }
}

/// Facts without the fields that change on every collection.
fn comparable_facts(facts: &Value) -> String {
    let mut f = facts.clone();
    if let Some(o) = f.as_object_mut() {
        o.remove("collected_at");
        o.remove("root_filesystem");
    }
    f.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cli_is_told_when_the_cached_service_config_is_not_applied() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut file = AgentConfig { state_dir: dir.path().to_owned(), ..AgentConfig::default() };
        // No service: the file is the effective config, nothing to say.
        let alone = effective_config(&file);
        assert!(alone.notes().is_empty(), "{:?}", alone.notes());
        // A service whose cache cannot be read: the file alone, and the CLI says why.
        file.service.url = Some("http://127.0.0.1:9".into());
        std::fs::write(cache_path(dir.path()), b"{\"machine\": 1").expect("cache");
        let broken = effective_config(&file);
        assert_eq!(broken.config.customer.billed_direction, file.customer.billed_direction);
        assert!(broken.sources.is_empty());
        let notes = broken.notes();
        assert_eq!(notes.len(), 1, "{notes:?}");
        assert!(
            notes[0].starts_with("ignoring the unreadable cached service config")
                && notes[0].ends_with("the file alone applies"),
            "{notes:?}"
        );
    }
}
