//! Agent ↔ config service, both real, with the real reference customer: the agent registers,
//! takes its customer credentials, offset and switches from the service, and mirrors every
//! push attempt. The service is stopped for 2 simulated hours while the agent keeps pushing;
//! once it is back, its history is complete and identical to the agent's outbox.

// Tests build configs field by field from the defaults: clearer than one big literal.
#![allow(clippy::field_reassign_with_default)]

mod common;

use common::customer::{Customer, ACCESS_ID, SECRET};
use common::harness::Harness;
use common::service::{ConfigService, ENROLL};
use common::{FakeNic, SharedNic, T0};
use pushagent::clock::SimClock;
use pushagent::config::{AgentConfig, Secret, SharedConfig};
use pushagent::netif::HostRoot;
use pushagent::push::outbox::Outbox;
use pushagent::push::pusher::Pusher;
use pushagent::push::report::ReportState;
use pushagent::ring::Ring;
use pushagent::sampler::Sampler;
use pushagent::service::sync::{ServiceSync, SyncError};
use pushagent::shutdown::Shutdown;
use pushagent::slots::ReportTz;
use pushagent::tally::TallyConfig;
use pushagent_customer::faults::Faults;
use serde_json::{json, Value};

/// The agent's file: only how to reach the service.
fn local_config(dir: &std::path::Path, service: &ConfigService) -> AgentConfig {
    let mut local = AgentConfig::default();
    local.state_dir = dir.to_owned();
    local.push_spread_secs = 0;
    local.service.url = Some(service.base_url.clone());
    local.service.enrollment_token = Secret::new(ENROLL);
    local
}

/// The real agent's parts (sampler, service link, pusher) on a simulated clock and a fake
/// NIC, stepped a minute at a time as the daemon's threads would.
struct Agent<'a> {
    nic: SharedNic,
    sampler: Sampler<'a>,
    sync: ServiceSync<'a>,
    pusher: Pusher<'a>,
    shared: SharedConfig,
    seen: u64,
}

impl<'a> Agent<'a> {
    fn new(harness: &'a Harness) -> Agent<'a> {
        let (clock, local) = (&harness.clock, &harness.config);
        // The fake NIC is the fixture's eth0: the MAC it counts under is the MAC the agent
        // reports (the service refuses history under a MAC the machine never reported).
        let nic = harness.nic.clone();
        nic.with(|n| n.mac = "0c:c4:7a:10:00:01".into());
        let tally = TallyConfig { sample_interval_ms: 60_000, ..TallyConfig::default() };
        let sampler = harness.sampler_with(tally, ReportTz::default());
        let shared = SharedConfig::new(local.clone());
        let root = HostRoot::new(format!("{}/tests/fixtures/sysfs/plain-eth0", env!("CARGO_MANIFEST_DIR")));
        let outbox = Outbox::open(&local.state_db_path()).expect("outbox");
        let sync = ServiceSync::new(clock, local.clone(), shared.clone(), outbox, root).expect("sync");
        let pusher = harness.pusher();
        let seen = shared.generation();
        Agent { nic, sampler, sync, pusher, shared, seen }
    }

    /// One simulated minute with `traffic`, a service round when `sync`, and its result.
    fn minute(
        &mut self,
        clock: &SimClock,
        sync: bool,
        traffic: impl FnOnce(&mut FakeNic),
    ) -> Result<(), SyncError> {
        clock.advance_ms(60_000);
        self.nic.with(traffic);
        self.sampler.sample(None).expect("sample");
        let round = if sync { self.sync.step().map(|_| ()) } else { Ok(()) };
        if self.shared.generation() != self.seen {
            let (generation, config) = self.shared.get();
            self.seen = generation;
            self.pusher.reconfigure(config).expect("reconfigure");
        }
        self.pusher.step().expect("push");
        round
    }
}

#[test]
fn history_is_complete_after_the_service_was_down_for_two_hours() {
    let customer = Customer::start(Faults::default(), 11);
    let service_dir = tempfile::tempdir().expect("tempdir");
    let mut service = ConfigService::start(service_dir.path());
    service.admin(
        "PUT",
        "/api/global-config",
        Some(json!({
            "push_enabled": true,
            "customer": {
                "base_url": customer.base_url, "report_path": "/api/v1/flux/report",
                "query_path": "/api/v1/flux/query", "access_id": ACCESS_ID, "secret": SECRET,
                "day_format": "%Y%m%d", "hour_format": "%Y%m%d%H", "mac_format": "lower-colon",
                "batch_size": 100
            },
            "provider_id": "P-svc", "provider_uiid": "U-svc", "isp_id": 4, "device_type": 5,
            "offset_bp": 250, "billed_direction": "tx"
        })),
    );

    // The agent's own file knows only how to reach the service.
    let harness = Harness::at(T0, 4_000_000).settings(|dir| local_config(dir, &service)).build();
    let (clock, local) = (&harness.clock, &harness.config);
    let mut agent = Agent::new(&harness);

    let mut failed_rounds = 0;
    for minute in 0..8 * 60 {
        match minute {
            120 => service.down(),
            240 => service.up(),
            _ => {}
        }
        if agent.minute(clock, minute % 5 == 0, |n| n.send(2_000_000 + minute, 3_000)).is_err() {
            failed_rounds += 1;
        }
    }
    agent.sync.step().expect("final round with the service up");
    assert!(failed_rounds >= 20, "the service really was down ({failed_rounds} failed rounds)");

    let outbox = Outbox::open_existing(&local.state_db_path()).expect("outbox");
    let reports = outbox.list(None, 1000).expect("reports");
    assert!(reports.len() >= 7, "{} hours", reports.len());
    assert!(reports.iter().all(|r| r.state == ReportState::Sent));
    assert!(reports.iter().all(|r| r.offset_bp == 250), "the service's offset was applied");
    let history = service.admin("GET", "/api/history?page_size=500", None);
    let items = history["items"].as_array().expect("items").clone();
    let mut agent_attempts = Vec::new();
    for r in &reports {
        for a in outbox.attempts_of(&r.mac, &r.flux_hour).expect("attempts") {
            agent_attempts.push((a.mac, a.flux_hour, a.version, a.outcome == "accepted"));
        }
    }
    assert_eq!(items.len(), agent_attempts.len(), "every attempt mirrored once: {history}");
    for r in &reports {
        let theirs: Vec<&Value> = items.iter().filter(|i| i["flux_hour"] == r.flux_hour.as_str()).collect();
        let success =
            theirs.iter().find(|i| i["status"] == "success").expect("the success is in the history");
        assert_eq!(success["pushed_bytes"].as_u64(), Some(r.pushed.iter().sum::<u64>()), "{success}");
        assert_eq!(success["raw_bytes"].as_u64(), Some(r.raw.iter().sum::<u64>()));
        assert_eq!(success["mac"], r.mac.as_str());
    }
    assert_eq!(outbox.backlog().expect("backlog").history_items, 0, "nothing left to mirror");
    let record = customer.records().into_iter().next().expect("pushed");
    assert_eq!(record["provider_id"], "P-svc", "credentials and ids came from the service");
    // The heartbeat told the service which zone the agent names its hours in.
    let machines = service.admin("GET", "/api/machines", None);
    let machine = &machines["items"][0];
    assert_eq!(
        (machine["report_timezone"].as_str(), machine["timezone_mismatch"].as_bool()),
        (Some("UTC+08:00"), Some(false))
    );
}

#[test]
fn a_restart_while_the_service_is_down_runs_with_the_cached_config() {
    let service_dir = tempfile::tempdir().expect("tempdir");
    let mut service = ConfigService::start(service_dir.path());
    service.admin(
        "PUT",
        "/api/global-config",
        Some(json!({
            "push_enabled": true,
            "customer": {
                "base_url": "http://127.0.0.1:9", "report_path": "/api/v1/flux/report",
                "query_path": "/api/v1/flux/query", "access_id": "AK-cached", "secret": "SK-cached",
                "day_format": "%Y%m%d", "hour_format": "%Y%m%d%H", "mac_format": "lower-colon",
                "batch_size": 100
            },
            "provider_id": "P", "provider_uiid": "U", "isp_id": 1, "device_type": 1,
            "offset_bp": -125, "billed_direction": "sum"
        })),
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let mut local = AgentConfig::default();
    local.state_dir = dir.path().to_owned();
    local.service.url = Some(service.base_url.clone());
    local.service.enrollment_token = Secret::new(ENROLL);
    let _ = Ring::open(&local.state_db_path()).expect("state db");
    let root = HostRoot::new(format!("{}/tests/fixtures/sysfs/plain-eth0", env!("CARGO_MANIFEST_DIR")));
    let clock = SimClock::new(T0, 1);
    {
        let shared = SharedConfig::new(local.clone());
        let outbox = Outbox::open(&local.state_db_path()).expect("outbox");
        let mut sync =
            ServiceSync::new(&clock, local.clone(), shared.clone(), outbox, root.clone()).expect("sync");
        let report = sync.step().expect("round");
        assert!(report.registered && report.config_applied);
    }
    service.down();
    // The agent restarts; the service is unreachable.
    let shared = SharedConfig::new(local.clone());
    let outbox = Outbox::open(&local.state_db_path()).expect("outbox");
    let mut sync = ServiceSync::new(&clock, local.clone(), shared.clone(), outbox, root).expect("sync");
    let (_, effective) = shared.get();
    assert_eq!(effective.customer.access_id, "AK-cached");
    assert_eq!(effective.report.offset_percent.percent_text(), "-1.25");
    assert!(sync.step().is_err(), "the service is down");
    assert_eq!(shared.get().1.customer.access_id, "AK-cached", "still running with the cached config");
    let token_mode = std::fs::metadata(dir.path().join("agent.token")).expect("token stored").permissions();
    assert_eq!(
        std::os::unix::fs::PermissionsExt::mode(&token_mode) & 0o777,
        0o600,
        "token readable by its owner only"
    );
}

#[test]
fn an_operator_switching_a_machine_off_makes_its_next_hour_skipped_off() {
    let customer = Customer::start(Faults::default(), 12);
    let service_dir = tempfile::tempdir().expect("tempdir");
    let service = ConfigService::start(service_dir.path());
    service.push_to(&customer.base_url, json!({}));

    let harness = Harness::at(T0, 4_000_000).settings(|dir| local_config(dir, &service)).build();
    let (clock, local) = (&harness.clock, &harness.config);
    let mut agent = Agent::new(&harness);
    let tz = ReportTz::default();
    for minute in 0..3 * 60 + 5 {
        if minute == 70 {
            // What the console's confirmed switch does: PATCH the machine's config.
            let machines = service.admin("GET", "/api/machines", None);
            let id = machines["items"][0]["id"].as_i64().expect("registered machine");
            service.admin(
                "PATCH",
                &format!("/api/machines/{id}/config"),
                Some(json!({"push_enabled": false})),
            );
        }
        agent.minute(clock, minute % 5 == 0, |n| n.send(1_000_000, 1_000)).expect("service round");
    }
    let outbox = Outbox::open_existing(&local.state_db_path()).expect("outbox");
    let state = |h: i64| {
        outbox
            .get(&agent.nic.with(|n| n.mac.clone()), &tz.flux_hour(T0 + h * 3_600_000))
            .expect("db")
            .map(|r| r.state)
    };
    assert_eq!(state(0), Some(ReportState::Sent), "before the switch");
    assert_eq!(state(1), Some(ReportState::SkippedOff), "switched off during hour 1, built off");
    assert_eq!(state(2), Some(ReportState::SkippedOff));
    assert_eq!(customer.records().len(), 1, "nothing pushed after the switch");
}

#[test]
fn skipped_hours_reach_the_service_exactly_once_across_an_outage() {
    let customer = Customer::start(Faults::default(), 13);
    let service_dir = tempfile::tempdir().expect("tempdir");
    let mut service = ConfigService::start(service_dir.path());
    service.push_to(&customer.base_url, json!({}));

    let harness = Harness::at(T0, 4_000_000).settings(|dir| local_config(dir, &service)).build();
    let (clock, local) = (&harness.clock, &harness.config);
    let mut agent = Agent::new(&harness);
    let mut machine_id = 0;
    let mut failed_rounds = 0;
    for minute in 0..5 * 60 + 5 {
        match minute {
            70 => {
                let machines = service.admin("GET", "/api/machines", None);
                machine_id = machines["items"][0]["id"].as_i64().expect("registered machine");
                service.admin(
                    "PATCH",
                    &format!("/api/machines/{machine_id}/config"),
                    Some(json!({"push_enabled": false})),
                );
            }
            // Down while hours 1, 2 and 3 are built (at 2:00, 3:00, 4:00).
            100 => service.down(),
            250 => service.up(),
            _ => {}
        }
        // The traffic grows each minute: every hour has its own raw total.
        if agent.minute(clock, minute % 5 == 0, |n| n.send(1_000_000 + 7 * minute, 1_000)).is_err() {
            failed_rounds += 1;
        }
    }
    assert!(failed_rounds >= 25, "the service really was down ({failed_rounds} failed rounds)");
    agent.sync.step().expect("a round with the service up");

    let outbox = Outbox::open_existing(&local.state_db_path()).expect("outbox");
    let skipped = outbox.list(Some(ReportState::SkippedOff), 100).expect("reports");
    let mut hours: Vec<&str> = skipped.iter().map(|r| r.flux_hour.as_str()).collect();
    hours.sort_unstable();
    let tz = ReportTz::default();
    let expected: Vec<String> = (1..=4).map(|h| tz.flux_hour(T0 + h * 3_600_000)).collect();
    assert_eq!(hours, expected, "hours 1-4 built while the machine was switched off");
    assert!(skipped
        .iter()
        .all(|r| r.reason.as_deref() == Some("push switch off (machine) when the hour was built")));

    let page = service.admin("GET", &format!("/api/machines/{machine_id}/skipped?page_size=100"), None);
    assert_eq!(page["total"], 4, "{page}");
    for r in &skipped {
        let theirs: Vec<&Value> = page["items"]
            .as_array()
            .expect("items")
            .iter()
            .filter(|i| i["flux_hour"] == r.flux_hour.as_str())
            .collect();
        assert_eq!(theirs.len(), 1, "{} once: {page}", r.flux_hour);
        let raw: u64 = r.raw.iter().sum();
        assert!(raw > 0);
        assert_eq!(theirs[0]["raw_bytes"].as_u64(), Some(raw), "the raw bytes the agent measured");
        assert_eq!(theirs[0]["mac"], r.mac.as_str());
        assert_eq!(theirs[0]["reason"], "switched_off");
        assert_eq!(theirs[0]["switches"], json!(["machine"]));
        assert_eq!(theirs[0]["decided_at"].as_i64(), Some(r.updated_at_ms / 1000));
    }
    // Marked only once stored: nothing left, and the next round sends nothing again.
    assert_eq!(outbox.backlog().expect("backlog").history_items, 0);
    assert_eq!(agent.sync.step().expect("round").history_items_sent, 0);
    // Not push history: the service's history holds the hour-0 push attempts only.
    let history = service.admin("GET", "/api/history?page_size=100", None);
    assert!(
        history["items"]
            .as_array()
            .expect("items")
            .iter()
            .all(|i| i["flux_hour"] == tz.flux_hour(T0).as_str()),
        "{history}"
    );
    assert_eq!(customer.records().len(), 1, "only hour 0 reached the customer");
}

#[test]
fn the_ops_platform_identity_names_the_machine_in_the_service() {
    let service_dir = tempfile::tempdir().expect("tempdir");
    let service = ConfigService::start(service_dir.path());
    let harness = Harness::at(T0, 4_000_000)
        .settings(|dir| {
            let text = format!(
                "state_dir = {:?}\n[service]\nurl = {:?}\nenrollment_token = {ENROLL:?}\n\
                 [identity]\nops_host_id = \"42\"\nhost_name = \"北京-电信-01\"\nnode = \"华北/北京\"\n",
                dir, service.base_url
            );
            AgentConfig::parse(&text, std::path::Path::new("agent.toml")).expect("config")
        })
        .build();
    let clock = &harness.clock;
    let mut agent = Agent::new(&harness);
    // Registration, then heartbeats with the merged config (the identity must survive it).
    for _ in 0..3 {
        agent.minute(clock, true, |n| n.send(1_000, 10)).expect("round");
    }
    let machines = service.admin("GET", "/api/machines", None);
    let machine = &machines["items"][0];
    assert_eq!(machine["hostname"], "北京-电信-01", "{machine}");
    assert_eq!(machine["config"]["node"], "华北/北京");
    assert_eq!(machine["identity"]["ops_host_id"], "42");
    let (_, merged) = agent.shared.get();
    assert_eq!(merged.identity.host_name.as_deref(), Some("北京-电信-01"));
}

/// A simulated clock that remembers every sleep (the daemon's loops sleep through it).
struct RecordingClock {
    sim: SimClock,
    sleeps: std::sync::Mutex<Vec<u64>>,
}

impl pushagent::clock::Clock for RecordingClock {
    fn wall_ms(&self) -> i64 {
        self.sim.wall_ms()
    }
    fn boot_ms(&self) -> u64 {
        self.sim.boot_ms()
    }
    fn sleep_ms(&self, ms: u64, shutdown: &Shutdown) -> bool {
        self.sleeps.lock().expect("sleeps").push(ms);
        self.sim.sleep_ms(ms, shutdown)
    }
}

#[test]
fn the_agent_heartbeats_at_the_period_the_service_asks_for() {
    // The service counts an agent offline after 3 missed periods of 120 s; the agent's file
    // says 60 s (its period until the service has answered).
    let service_dir = tempfile::tempdir().expect("tempdir");
    let service = ConfigService::start_with_heartbeat(service_dir.path(), 120);
    let dir = tempfile::tempdir().expect("tempdir");
    let mut local = local_config(dir.path(), &service);
    local.service.config_interval_secs = 60;
    let _ = Ring::open(&local.state_db_path()).expect("state db");
    let root = HostRoot::new(format!("{}/tests/fixtures/sysfs/plain-eth0", env!("CARGO_MANIFEST_DIR")));
    let clock = RecordingClock { sim: SimClock::new(T0, 1), sleeps: std::sync::Mutex::new(Vec::new()) };
    let shared = SharedConfig::new(local.clone());
    let outbox = Outbox::open(&local.state_db_path()).expect("outbox");
    let sync = ServiceSync::new(&clock, local.clone(), shared, outbox, root).expect("sync");
    assert_eq!(sync.period_ms(), 60_000, "the file's period until the service answers");
    let shutdown = Shutdown::new();
    std::thread::scope(|scope| {
        scope.spawn(|| pushagent::daemon::service_loop(sync, &clock, &shutdown));
        // The daemon's real loop: register, then heartbeat rounds, each followed by a sleep.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        while clock.sleeps.lock().expect("sleeps").len() < 4 && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        shutdown.request();
    });
    let sleeps = clock.sleeps.lock().expect("sleeps").clone();
    assert!(sleeps.len() >= 4, "four rounds within a minute: {sleeps:?}");
    assert!(sleeps.iter().all(|ms| *ms == 120_000), "every round one service period apart: {sleeps:?}");
}
