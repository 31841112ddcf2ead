//! What is wrong on an agent reaches the service with its heartbeat and shows on the machine:
//! a pinned interface that does not exist never locks the agent out of its service (and is
//! fixed from the console), a config the agent refuses changes nothing but is reported with
//! its key, and reports held for a missing setting say which.

// Tests build configs field by field from the defaults: clearer than one big literal.
#![allow(clippy::field_reassign_with_default)]

mod common;

use common::service::{ConfigService, ENROLL};
use common::T0;
use pushagent::clock::SimClock;
use pushagent::config::{AgentConfig, Secret, SharedConfig};
use pushagent::daemon::build_pusher;
use pushagent::netif::{HostRoot, InterfaceChoiceConfig};
use pushagent::push::outbox::Outbox;
use pushagent::ring::Ring;
use pushagent::service::sync::ServiceSync;
use pushagent::source::{CounterSource, SysfsSource};
use serde_json::{json, Value};

fn fixture_root() -> HostRoot {
    HostRoot::new(format!("{}/tests/fixtures/sysfs/plain-eth0", env!("CARGO_MANIFEST_DIR")))
}

fn local_config(dir: &std::path::Path, service: &ConfigService) -> AgentConfig {
    let mut local = AgentConfig::default();
    local.state_dir = dir.to_owned();
    local.service.url = Some(service.base_url.clone());
    local.service.enrollment_token = Secret::new(ENROLL);
    let _ = Ring::open(&local.state_db_path()).expect("state db");
    local
}

fn sync_for<'a>(clock: &'a SimClock, local: &AgentConfig, shared: &SharedConfig) -> ServiceSync<'a> {
    let outbox = Outbox::open(&local.state_db_path()).expect("outbox");
    ServiceSync::new(clock, local.clone(), shared.clone(), outbox, fixture_root()).expect("sync")
}

fn the_machine(service: &ConfigService) -> Value {
    let machines = service.admin("GET", "/api/machines", None);
    assert_eq!(machines["items"].as_array().map(Vec::len), Some(1), "{machines}");
    machines["items"][0].clone()
}

#[test]
fn a_misspelled_interface_never_locks_the_agent_out_and_is_fixed_from_the_console() {
    let service_dir = tempfile::tempdir().expect("tempdir");
    let service = ConfigService::start(service_dir.path());
    let dir = tempfile::tempdir().expect("tempdir");
    let mut local = local_config(dir.path(), &service);
    local.interface = Some("eth9".into()); // a typo: the host has eth0 and eth1
    let clock = SimClock::new(T0, 1);
    let shared = SharedConfig::new(local.clone());
    let mut source = SysfsSource::new(
        fixture_root(),
        InterfaceChoiceConfig { interface: local.interface.clone(), ..InterfaceChoiceConfig::default() },
    )
    .following(shared.clone());
    assert!(source.read().is_err(), "nothing to count on eth9");

    let mut sync = sync_for(&clock, &local, &shared);
    let round = sync.step().expect("registers and heartbeats although eth9 does not exist");
    assert!(round.registered);
    let machine = the_machine(&service);
    assert_eq!(machine["health"]["interface_missing"]["name"], "eth9", "{machine}");
    assert_eq!(machine["chosen_interface"], "eth9", "the pinned name is what the agent collects");
    let offered: Vec<&str> = machine["interfaces"]
        .as_array()
        .expect("interfaces")
        .iter()
        .filter_map(|i| i["name"].as_str())
        .collect();
    assert!(offered.contains(&"eth0"), "the operator can choose among the real ones: {offered:?}");

    // Still missing at the next heartbeat: the condition keeps its first sighting.
    let first = machine["health"]["interface_missing"]["since"].as_i64().expect("since");
    sync.step().expect("heartbeat");
    let since = the_machine(&service)["health"]["interface_missing"]["since"].as_i64().expect("since");
    assert!(since <= first, "since the first heartbeat that saw it: {since} vs {first}");

    // The operator picks eth0 in the console: the next round applies it, counting resumes.
    let id = machine["id"].as_i64().expect("id");
    service.admin("PATCH", &format!("/api/machines/{id}/config"), Some(json!({"interface": "eth0"})));
    let round = sync.step().expect("round");
    assert!(round.config_applied);
    let reading = source.read().expect("counting eth0 again");
    assert_eq!(reading.ifname, "eth0");
    sync.step().expect("heartbeat");
    let machine = the_machine(&service);
    assert!(machine["health"].get("interface_missing").is_none(), "cleared: {machine}");
    assert_eq!(machine["chosen_interface"], "eth0");
}

#[test]
fn a_refused_config_changes_nothing_and_is_reported_with_its_key() {
    let service_dir = tempfile::tempdir().expect("tempdir");
    let service = ConfigService::start(service_dir.path());
    service.store_global_unchecked(|g| g.offset_bp = 350);
    let dir = tempfile::tempdir().expect("tempdir");
    let local = local_config(dir.path(), &service);
    let clock = SimClock::new(T0, 1);
    let shared = SharedConfig::new(local.clone());
    let mut sync = sync_for(&clock, &local, &shared);
    assert!(sync.step().expect("round").config_applied);
    assert_eq!(shared.get().1.report.offset_percent.percent_text(), "3.50");

    // A service that does not check its values hands out an offset of -100 %.
    service.store_global_unchecked(|g| g.offset_bp = -10_000);
    let round = sync.step().expect("round");
    assert!(!round.config_applied);
    assert_eq!(shared.get().1.report.offset_percent.percent_text(), "3.50", "the last good config stays");
    sync.step().expect("heartbeat carrying the refusal");
    let refused = the_machine(&service)["health"]["config_refused"].clone();
    assert_eq!(refused["key"], "offset_bp", "{refused}");
    assert!(refused["why"].as_str().unwrap_or_default().contains("-10000"), "{refused}");

    // Fixed at the service: applied, and the refusal clears.
    service.store_global_unchecked(|g| g.offset_bp = 100);
    assert!(sync.step().expect("round").config_applied);
    sync.step().expect("heartbeat");
    assert!(the_machine(&service)["health"].get("config_refused").is_none());
    assert_eq!(shared.get().1.report.offset_percent.percent_text(), "1.00");
}

#[test]
fn reports_held_for_a_missing_setting_say_which_in_the_heartbeat() {
    let service_dir = tempfile::tempdir().expect("tempdir");
    let service = ConfigService::start(service_dir.path());
    service.store_global_unchecked(|g| {
        g.customer.access_id = "AK".into();
        g.customer.secret = "SK".into();
        g.provider_id = String::new(); // emptied in the console
        g.provider_uiid = "U".into();
    });
    let dir = tempfile::tempdir().expect("tempdir");
    let local = local_config(dir.path(), &service);
    let clock = SimClock::new(T0, 1);
    let shared = SharedConfig::new(local.clone());
    let mut sync = sync_for(&clock, &local, &shared);
    sync.step().expect("round");
    let mut pusher = build_pusher(&shared.get().1, &clock).expect("pusher");
    pusher.health = sync.health.clone();
    pusher.step().expect("push step");
    sync.step().expect("heartbeat");
    let missing = the_machine(&service)["health"]["settings_missing"].clone();
    assert_eq!(missing["which"], json!(["report.provider_id"]), "{missing}");

    service.store_global_unchecked(|g| g.provider_id = "P".into());
    sync.step().expect("round");
    pusher.reconfigure(shared.get().1).expect("reconfigure");
    pusher.step().expect("push step");
    sync.step().expect("heartbeat");
    assert!(the_machine(&service)["health"].get("settings_missing").is_none());
}
