//! `pushagent push --hour H` as an operator runs it beside an agent that takes its offsets and
//! billed direction from the config service: the re-push is rebuilt exactly as the daemon
//! built the hour (the service's cached global config, not the file's), and a customer that is
//! down leaves the outbox as it was (clear error, non-zero exit); once the customer is up, the
//! same command pushes version 2 and records it.

// Tests build configs field by field from the defaults: clearer than one big literal.
#![allow(clippy::field_reassign_with_default)]

mod common;

use std::process::{Command, Output};

use common::customer::{Customer, ACCESS_ID, SECRET};
use common::harness::Harness;
use common::service::{ConfigService, ENROLL};
use common::T0;
use pushagent::config::{Secret, SharedConfig};
use pushagent::daemon::build_pusher;
use pushagent::netif::HostRoot;
use pushagent::push::outbox::Outbox;
use pushagent::push::report::ReportState;
use pushagent::ring::Ring;
use pushagent::service::sync::ServiceSync;
use pushagent::slots::ReportTz;
use pushagent::tally::TallyConfig;
use pushagent_customer::faults::Faults;
use serde_json::json;

const MAC: &str = "0c:c4:7a:10:00:01";
/// Per simulated minute: outbound and inbound bytes (the service bills inbound).
const TX_PER_MIN: u64 = 1_000_000;
const RX_PER_MIN: u64 = 3_000_000;

fn pushagent(config: &std::path::Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_pushagent"))
        .arg("--config")
        .arg(config)
        .args(args)
        .output()
        .expect("pushagent runs")
}

fn text(out: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

fn customer_points(customer: &Customer, flux_hour: &str) -> Option<(u64, Vec<u64>)> {
    let record = customer.records().into_iter().find(|r| r["flux_hour"].as_str() == Some(flux_hour))?;
    let points = (0..12).map(|i| record[format!("v{i}")].as_u64().expect("v")).collect();
    Some((record["version"].as_u64().expect("version"), points))
}

#[test]
fn an_operator_re_push_is_built_as_the_daemon_builds_and_recorded_only_once_accepted() {
    let customer = Customer::start(Faults::default(), 11);
    let service_dir = tempfile::tempdir().expect("tempdir");
    let service = ConfigService::start(service_dir.path());
    // The console's 推送配置: the customer, +10 %, billed on inbound traffic.
    service.push_to(&customer.base_url, json!({"offset_bp": 1000, "billed_direction": "rx"}));

    // The agent's file knows the customer too, but no offset and the default direction (tx):
    // a re-push built from the file alone would differ from what the daemon pushed.
    // The daemon's parts on a simulated clock (below): the service round caches and applies
    // the service's config; the sampler and the pusher run two hours with it.
    let harness = Harness::at(T0, 5_000_000)
        .customer_url(&customer.base_url)
        .config(|c| {
            c.push_spread_secs = 0;
            c.verify_days = 0;
            c.service.url = Some(service.base_url.clone());
            c.service.enrollment_token = Secret::new(ENROLL);
        })
        .build();
    let (clock, nic, local) = (&harness.clock, &harness.nic, &harness.config);
    let dir = harness.state_dir();
    let toml = dir.join("agent.toml");
    std::fs::write(
        &toml,
        format!(
            "state_dir = \"{}\"\npush_spread_secs = 0\nverify_days = 0\n\n[customer]\nbase_url = \"{}\"\n\
             access_id = \"{ACCESS_ID}\"\nsecret = \"{SECRET}\"\n\n[report]\nprovider_id = \"P\"\n\
             provider_uiid = \"U\"\n\n[service]\nurl = \"{}\"\nenrollment_token = \"{ENROLL}\"\n",
            dir.display(),
            customer.base_url,
            service.base_url
        ),
    )
    .expect("agent.toml");

    nic.with(|n| n.mac = MAC.into());
    let tally = TallyConfig { sample_interval_ms: 60_000, ..TallyConfig::default() };
    let mut sampler = harness.sampler_with(tally, ReportTz::default());
    let shared = SharedConfig::new(local.clone());
    let root = HostRoot::new(format!("{}/tests/fixtures/sysfs/plain-eth0", env!("CARGO_MANIFEST_DIR")));
    let outbox = Outbox::open(&local.state_db_path()).expect("outbox");
    let mut sync = ServiceSync::new(clock, local.clone(), shared.clone(), outbox, root).expect("sync");
    assert!(sync.step().expect("service round").config_applied);
    let (_, effective) = shared.get();
    assert_eq!(effective.report.offset_percent.percent_text(), "10.00");
    let mut pusher = build_pusher(&effective, clock).expect("pusher");
    sampler.sample(None).expect("baseline");
    for _ in 0..125 {
        clock.advance_ms(60_000);
        nic.with(|n| n.send(TX_PER_MIN, RX_PER_MIN));
        sampler.sample(None).expect("sample");
        pusher.step().expect("push step");
    }
    drop(pusher);
    let hour = ReportTz::default().flux_hour(T0);
    let state_db = local.state_db_path();
    let built =
        Outbox::open_existing(&state_db).expect("outbox").get(MAC, &hour).expect("read").expect("built");
    assert_eq!(built.state, ReportState::Sent, "{built:?}");
    let daemon_points = [RX_PER_MIN * 5 * 110 / 100; 12];
    assert_eq!(built.pushed, daemon_points, "the daemon pushed inbound +10 %");
    assert_eq!(customer_points(&customer, &hour), Some((1, daemon_points.to_vec())));

    // The customer is down: nothing is recorded, the operator is told.
    let before = Outbox::open_existing(&state_db).expect("outbox");
    let (reports_before, attempts_before) =
        (before.by_hour(&hour).expect("reports"), before.attempts_of(MAC, &hour).expect("attempts"));
    drop(before);
    customer.set_faults(json!({"down": true}));
    let out = pushagent(&toml, &["push", "--hour", &hour]);
    let t = text(&out);
    assert!(!out.status.success(), "a push that could not be sent fails: {t}");
    assert!(t.contains("did not accept") && t.contains("outbox is unchanged"), "{t}");
    let after = Outbox::open_existing(&state_db).expect("outbox");
    assert_eq!(after.by_hour(&hour).expect("reports"), reports_before, "the outbox is unchanged");
    assert_eq!(after.attempts_of(MAC, &hour).expect("attempts"), attempts_before, "no attempt recorded");
    drop(after);

    // The customer is back: version 2, built as the daemon builds (service config, not the file).
    customer.set_faults(json!({"down": false}));
    let out = pushagent(&toml, &["push", "--hour", &hour]);
    assert!(out.status.success(), "{}", text(&out));
    let report =
        Outbox::open_existing(&state_db).expect("outbox").get(MAC, &hour).expect("read").expect("report");
    assert_eq!((report.state, report.version), (ReportState::Sent, 2), "{report:?}");
    assert_eq!(report.pushed, daemon_points, "rebuilt with the effective config");
    assert_eq!(report.direction, "rx");
    assert_eq!(customer_points(&customer, &hour), Some((2, daemon_points.to_vec())));
    let attempts =
        Outbox::open_existing(&state_db).expect("outbox").attempts_of(MAC, &hour).expect("attempts");
    assert_eq!(attempts.len(), attempts_before.len() + 1, "the accepted re-push is recorded: {attempts:?}");
    assert_eq!(attempts.last().map(|a| a.version), Some(2));
}

/// `pushagent verify` and `push` under `demo_time_scale` run on the daemon's demo clock (its
/// origin persisted in the state database), not the host's: the demo agent's hours, attempts
/// and checks are all in demo time, and "now" is where the demo agent is.
#[test]
fn verify_and_push_from_the_command_line_use_the_demo_agents_clock() {
    use pushagent::clock::{Clock, DemoOrigin, SystemClock};
    let customer = Customer::start(Faults::default(), 12);
    // A demo agent that has run for a while: its clock is 30 days ahead of the host's.
    let real_now = SystemClock.wall_ms();
    let demo_now = (real_now / 3_600_000 + 30 * 24) * 3_600_000;
    // Its last three demo hours, pushed (on a simulated clock standing in for the demo one).
    let harness = Harness::at(demo_now - 3 * 3_600_000, 5_000_000)
        .customer(&customer)
        .config(|c| {
            c.push_spread_secs = 0;
            c.verify_days = 7;
        })
        .build();
    let (clock, nic, config, dir) = (&harness.clock, &harness.nic, &harness.config, harness.state_dir());
    let (mut ring, _) = Ring::open(&config.state_db_path()).expect("ring");
    ring.save_demo_origin(&DemoOrigin { scale: 60, real_ms: real_now, demo_ms: demo_now }).expect("origin");
    drop(ring);
    let tally = TallyConfig { sample_interval_ms: 60_000, ..TallyConfig::default() };
    let mut sampler = harness.sampler_with(tally, ReportTz::default());
    let mut pusher = harness.pusher();
    sampler.sample(None).expect("baseline");
    for _ in 0..170 {
        clock.advance_ms(60_000);
        nic.with(|n| n.send(TX_PER_MIN, RX_PER_MIN));
        sampler.sample(None).expect("sample");
        pusher.step().expect("push step");
    }
    drop(pusher);
    drop(sampler);
    let hour = ReportTz::default().flux_hour(demo_now - 3 * 3_600_000);
    let toml = dir.join("agent.toml");
    std::fs::write(
        &toml,
        format!(
            "state_dir = \"{}\"\ndemo_time_scale = 60\nverify_days = 7\n\n[customer]\nbase_url = \"{}\"\n\
             access_id = \"{ACCESS_ID}\"\nsecret = \"{SECRET}\"\n\n[report]\nprovider_id = \"P\"\nprovider_uiid = \"U\"\n",
            dir.display(),
            customer.base_url
        ),
    )
    .expect("agent.toml");

    let out = pushagent(&toml, &["verify", "--day", &hour[..8]]);
    let t = text(&out);
    assert!(out.status.success(), "{t}");
    assert!(t.contains(&format!("{hour} {}", nic.with(|n| n.mac.clone()))) && t.contains("match"), "{t}");
    let outbox = Outbox::open_existing(&config.state_db_path()).expect("outbox");
    // The checks of this command (the simulated run made its own before it stopped).
    let checks = outbox.verifications_since(clock.wall_ms() + 1).expect("verifications");
    assert!(!checks.is_empty(), "the command's checks are after the demo agent's last step: {t}");
    for v in &checks {
        assert!(v.at_ms >= demo_now, "checked at demo time, not the host's: {v:?} (demo now {demo_now})");
    }

    let out = pushagent(&toml, &["push", "--hour", &hour]);
    assert!(out.status.success(), "{}", text(&out));
    let attempts = outbox.attempts_of(&nic.with(|n| n.mac.clone()), &hour).expect("attempts");
    let operator = attempts.last().expect("an attempt");
    assert_eq!(operator.version, 2);
    assert!(operator.at_ms >= demo_now, "pushed at demo time: {operator:?} (demo now {demo_now})");
}
