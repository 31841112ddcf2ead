//! Nothing waits silently (issue 10 §3/§4): what the agent knew only in its log and local
//! tables reaches the heartbeat and the service's machine.
//!
//! - Hours waiting behind a push switch that is off: the real sampler and pusher against the
//!   reference customer, the real config service whose machine switch an operator turns off
//!   while two hours wait (the customer was down): the heartbeat carries
//!   `push_held_by_switch` (which switch, how many hours, the oldest) and the machine shows it;
//!   a correction the verification finds meanwhile is counted too; switched on, the hours and
//!   the correction go to the customer and the condition clears.
//! - A history item the service refused: the agent records and skips it (as before), and now
//!   reports it in its heartbeat until an operator has read and cleared it with
//!   `pushagent outbox --refused` / `--forget-refused`.

// Tests build configs field by field from the defaults: clearer than one big literal.
#![allow(clippy::field_reassign_with_default)]

mod common;

use std::process::Command;

use common::customer::{Customer, ACCESS_ID, SECRET};
use common::service::{ConfigService, ENROLL};
use common::{SharedNic, T0};
use pushagent::clock::{Clock, SimClock};
use pushagent::config::{AgentConfig, Secret, SharedConfig};
use pushagent::daemon::{build_pusher, tally_config};
use pushagent::netif::HostRoot;
use pushagent::push::outbox::{Outbox, PushAttempt};
use pushagent::push::pusher::Pusher;
use pushagent::push::report::{self, BuildRules, ReportState};
use pushagent::ring::Ring;
use pushagent::sampler::Sampler;
use pushagent::service::sync::ServiceSync;
use pushagent::shutdown::Shutdown;
use pushagent::slots::ReportTz;
use pushagent_customer::faults::Faults;
use serde_json::{json, Value};

/// The fixture host's eth0: the MAC the agent registers with and counts under.
const MAC: &str = "0c:c4:7a:10:00:01";
const HOUR_MS: i64 = 3_600_000;

fn fixture_root() -> HostRoot {
    HostRoot::new(format!("{}/tests/fixtures/sysfs/plain-eth0", env!("CARGO_MANIFEST_DIR")))
}

fn the_machine(service: &ConfigService) -> Value {
    let machines = service.admin("GET", "/api/machines", None);
    assert_eq!(machines["items"].as_array().map(Vec::len), Some(1), "{machines}");
    machines["items"][0].clone()
}

fn machine_switch(service: &ConfigService, on: bool) {
    let id = the_machine(service)["id"].as_i64().expect("machine id");
    let answer = service.admin(
        "POST",
        "/api/machines/bulk",
        Some(json!({ "machine_ids": [id], "patch": { "push_enabled": on } })),
    );
    assert!(answer.get("error").is_none(), "{answer}");
}

#[test]
fn hours_waiting_behind_a_switch_reach_the_heartbeat_and_clear_once_sent() {
    let customer = Customer::start(Faults::default(), 11);
    let service_dir = tempfile::tempdir().expect("tempdir");
    let service = ConfigService::start(service_dir.path());
    // The console's push config: this customer, push on.
    service.store_global_unchecked(|g| {
        g.push_enabled = true;
        g.customer.base_url = customer.base_url.clone();
        g.customer.access_id = ACCESS_ID.into();
        g.customer.secret = SECRET.into();
        g.provider_id = "P".into();
        g.provider_uiid = "U".into();
    });
    let dir = tempfile::tempdir().expect("tempdir");
    let mut local = customer.agent_config(dir.path());
    local.sample_interval_secs = 60;
    local.push_spread_secs = 0;
    local.service.url = Some(service.base_url.clone());
    local.service.enrollment_token = Secret::new(ENROLL);
    let clock = SimClock::new(T0, 9_000_000);
    let nic = SharedNic::new();
    nic.with(|n| n.mac = MAC.into());
    let (ring, _) = Ring::open(&local.state_db_path()).expect("ring");
    let shared = SharedConfig::new(local.clone());
    let outbox = Outbox::open(&local.state_db_path()).expect("outbox");
    let mut sync =
        ServiceSync::new(&clock, local.clone(), shared.clone(), outbox, fixture_root()).expect("sync");
    assert!(sync.step().expect("registers and applies the service's config").config_applied);
    let mut sampler = Sampler::new(
        &clock,
        Box::new(nic.clone()),
        ring,
        tally_config(&local),
        ReportTz::default(),
        35,
        Shutdown::new(),
    )
    .expect("sampler")
    .following_push_switch(shared.clone());
    let mut pusher = build_pusher(&shared.get().1, &clock).expect("pusher");
    pusher.health = sync.health.clone();
    let mut seen = shared.generation();
    // One simulated minute, as the daemon's threads do it: traffic, a reading, the push step
    // with the config the service thread applied last.
    let mut minute = |pusher: &mut Pusher<'_>| {
        clock.advance_ms(60_000);
        nic.with(|n| n.send(2_000_000, 1_000));
        sampler.sample(None).expect("sample");
        if shared.generation() != seen {
            seen = shared.generation();
            pusher.reconfigure(shared.get().1).expect("reconfigure");
        }
        pusher.step().expect("push step");
    };
    let tz = ReportTz::default();
    let h = |n: i64| tz.flux_hour(T0 + n * HOUR_MS);
    let state = |pusher: &Pusher<'_>, n: i64| {
        pusher.outbox.get(MAC, &h(n)).expect("outbox").unwrap_or_else(|| panic!("hour {n} built")).state
    };

    // Hour 0 goes out; then the customer is down and hours 1 and 2 wait, pending.
    for _ in 0..65 {
        minute(&mut pusher);
    }
    assert_eq!(state(&pusher, 0), ReportState::Sent);
    customer.set_faults(json!({"down": true}));
    for _ in 65..180 {
        minute(&mut pusher);
    }
    assert_eq!((state(&pusher, 1), state(&pusher, 2)), (ReportState::Pending, ReportState::Pending));
    sync.step().expect("heartbeat");
    assert!(
        the_machine(&service)["health"].get("push_held_by_switch").is_none(),
        "waiting on the customer, not on a switch"
    );

    // An operator turns the machine's switch off (验收中); the customer is back.
    machine_switch(&service, false);
    customer.set_faults(json!({"down": false}));
    let posts_before = customer.requests_by_method("POST");
    sync.step().expect("the new config"); // the daemon's service thread nudges the pusher
    minute(&mut pusher);
    sync.step().expect("heartbeat");
    let held = the_machine(&service)["health"]["push_held_by_switch"].clone();
    assert_eq!(held["switches"], json!(["machine"]), "{held}");
    assert_eq!(held["hours_waiting"], 2, "{held}");
    assert_eq!(held["corrections_waiting"], 0, "{held}");
    assert_eq!(held["oldest_hour"], h(1), "{held}");
    // The customer's copy of hour 0 is altered: the verification (a read, it goes on) finds it
    // and its correction waits behind the switch too.
    customer.alter(MAC, &h(0), "v3", 999);
    let mut minutes = 0;
    while pusher.outbox.get(MAC, &h(0)).expect("outbox").map(|r| r.version) != Some(2) {
        assert!(minutes < 24 * 60, "the verification of hour 0 never found the difference");
        minute(&mut pusher);
        minutes += 1;
    }
    sync.step().expect("heartbeat");
    let held = the_machine(&service)["health"]["push_held_by_switch"].clone();
    assert_eq!(
        (held["hours_waiting"].as_u64(), held["corrections_waiting"].as_u64()),
        (Some(3), Some(1)),
        "{held}"
    );
    assert_eq!(held["oldest_hour"], h(0), "{held}");
    let agent_since = |sync: &ServiceSync<'_>| sync.health.snapshot().push_held_by_switch.map(|h| h.since);
    let since = agent_since(&sync).expect("held");
    // An hour later: still held, from the same moment, nothing sent. (The service re-bases
    // `since` on its own clock, which this simulated hour did not move: compared on the agent.)
    for _ in 0..60 {
        minute(&mut pusher);
    }
    sync.step().expect("heartbeat");
    let held = the_machine(&service)["health"]["push_held_by_switch"].clone();
    assert_eq!(held["hours_waiting"], 3, "{held}");
    assert_eq!(agent_since(&sync), Some(since));
    assert_eq!(customer.requests_by_method("POST"), posts_before, "nothing sent while off");

    // Switched on: the waiting hours go to the customer and the condition clears.
    machine_switch(&service, true);
    sync.step().expect("the new config");
    let mut minutes = 0;
    while (0..3).any(|n| state(&pusher, n) != ReportState::Sent) {
        assert!(minutes < 60, "the waiting hours were not sent within an hour of the switch");
        minute(&mut pusher);
        minutes += 1;
    }
    sync.step().expect("heartbeat");
    let health = the_machine(&service)["health"].clone();
    assert!(health.get("push_held_by_switch").is_none(), "{health}");
    let theirs = customer.records();
    for n in [1, 2] {
        assert!(theirs.iter().any(|r| r["mac"] == MAC && r["flux_hour"] == h(n)), "hour {n} at the customer");
    }
    let hour0 = theirs.iter().find(|r| r["mac"] == MAC && r["flux_hour"] == h(0)).expect("hour 0");
    assert_eq!(hour0["version"], 2, "the correction went once on: {hour0}");
}

#[test]
fn a_history_item_the_service_refused_is_reported_until_an_operator_clears_it() {
    let service_dir = tempfile::tempdir().expect("tempdir");
    let service = ConfigService::start(service_dir.path());
    let dir = tempfile::tempdir().expect("tempdir");
    let mut local = AgentConfig::default();
    local.state_dir = dir.path().to_owned();
    local.service.url = Some(service.base_url.clone());
    local.service.enrollment_token = Secret::new(ENROLL);
    let hour = T0;
    let clock = SimClock::new(hour + 2 * HOUR_MS, 1);
    // An hour with an attempt the service refuses as invalid (version 0) between good ones.
    let mut outbox = Outbox::open(&local.state_db_path()).expect("outbox");
    let rules = BuildRules::from_settings(local.customer.billed_direction, &local.report, true, None);
    let built = report::build(MAC, hour, &[], &ReportTz::default(), &rules);
    let flux_hour = built.flux_hour.clone();
    outbox.commit_hour(&[built], hour + HOUR_MS, clock.wall_ms()).expect("commit");
    for version in [1, 0, 1] {
        let attempt = PushAttempt {
            mac: MAC.into(),
            flux_hour: flux_hour.clone(),
            version,
            at_ms: clock.wall_ms(),
            http_status: Some(503),
            code: None,
            outcome: "retry".into(),
            message: "busy".into(),
            duration_ms: 5,
        };
        outbox.record_attempts(&[attempt], &[]).expect("attempt");
    }
    let shared = SharedConfig::new(local.clone());
    let mut sync = ServiceSync::new(&clock, local.clone(), shared, outbox, fixture_root()).expect("sync");
    sync.step().expect("a round: the history is sent, the bad item refused and skipped");
    sync.step().expect("the next heartbeat");
    let refused = the_machine(&service)["health"]["history_refused"].clone();
    assert_eq!(refused["count"], 1, "{refused}");
    assert_eq!(refused["latest"]["kind"], "push", "{refused}");
    assert_eq!(refused["latest"]["mac"], MAC, "{refused}");
    assert_eq!(refused["latest"]["flux_hour"], flux_hour.as_str(), "{refused}");
    assert_eq!(refused["latest"]["status"], 400, "{refused}");
    assert!(refused["latest"]["message"].as_str().unwrap_or("").contains("version"), "{refused}");
    // Kept while the agent keeps the evidence: the next heartbeat still carries it.
    sync.step().expect("heartbeat");
    assert_eq!(the_machine(&service)["health"]["history_refused"]["count"], 1);

    // The operator's view: `pushagent outbox` says so, `--refused` lists it, and
    // `--forget-refused` clears it after listing it.
    let config = dir.path().join("agent.toml");
    std::fs::write(&config, format!("state_dir = {:?}\n", dir.path().to_str().expect("utf8")))
        .expect("config");
    let cli = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_pushagent"))
            .args(["--config", config.to_str().expect("utf8")])
            .args(args)
            .output()
            .expect("pushagent runs");
        let text =
            format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        assert!(out.status.success(), "pushagent {args:?}: {text}");
        text
    };
    let listing = cli(&["outbox"]);
    assert!(listing.contains("refused by the config service: 1"), "{listing}");
    let refused = cli(&["outbox", "--refused"]);
    assert!(refused.contains(&flux_hour) && refused.contains("push") && refused.contains("400"), "{refused}");
    let forgotten = cli(&["outbox", "--forget-refused"]);
    assert!(
        forgotten.contains(&flux_hour) && forgotten.contains("1 refused history item(s) forgotten"),
        "{forgotten}"
    );
    assert!(cli(&["outbox", "--refused"]).contains("no history item refused"));

    sync.step().expect("heartbeat");
    let health = the_machine(&service)["health"].clone();
    assert!(health.get("history_refused").is_none(), "{health}");
}
