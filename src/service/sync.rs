//! One round with the config service, as the service thread (or a test) calls it: register
//! once, heartbeat, pull and apply a changed config, mirror unsent history. Everything it
//! needs to survive a restart (token, last config) is on disk; history waits in the outbox's
//! durable queue until the service acknowledges it.

use std::io::Write;
use std::path::{Path, PathBuf};

use serde_json::Value;

use pushagent_proto::agent;

use super::client::{ServiceClient, ServiceError};
use super::merge::{effective, ServiceConfig};
use crate::clock::Clock;
use crate::config::{AgentConfig, Secret, SharedConfig};
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
        let cached = read_cached(&local);
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
            health: Some(self.health.snapshot()),
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
/// file: what the daemon runs with from its start. None without a cache, or when the cache
/// is unreadable or refused (logged): the file alone then.
fn read_cached(local: &AgentConfig) -> Option<(ServiceConfig, AgentConfig)> {
    let text = std::fs::read_to_string(cache_path(&local.state_dir)).ok()?;
    let cached: ServiceConfig = match serde_json::from_str(&text) {
        Ok(c) => c,
        Err(e) => {
            log::error!("ignoring the unreadable cached service config: {e}");
            return None;
        }
    };
    match effective(local, &cached) {
        Ok(e) => Some((cached, e)),
        Err(e) => {
            log::error!("cached service config refused: {e}");
            None
        }
    }
}

/// The config the daemon runs with, for the CLI: the file overlaid with the service's cached
/// global and machine config (customer, ids, offsets, billed direction, switches) and the
/// report time zone in force, by the same code the daemon's start uses.
pub fn effective_config(local: &AgentConfig) -> AgentConfig {
    let mut config = match local.service.url {
        Some(_) => read_cached(local).map(|(_, e)| e).unwrap_or_else(|| local.clone()),
        None => local.clone(),
    };
    // The report time zone in force, as the daemon's start decides it.
    if let Ok(outbox) = Outbox::open_existing(&config.state_db_path()) {
        let _ = crate::push::zone::settle_zone(&mut config, &outbox, &Health::new(), 0);
    }
    config
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
