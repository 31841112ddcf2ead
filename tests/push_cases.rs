//! The push pipeline's rules, one story each, against the real reference customer:
//! a version conflict is resolved by querying and pushing version + 1; an invalid record is
//! held for an operator; hours built while the switch is off are skipped and never
//! back-filled; a MAC change reports the new MAC at once and keeps the old one for the past;
//! the operator's `push --hour` and `verify --day` work from the command line.

// Tests build configs field by field from the defaults: clearer than one big literal.
#![allow(clippy::field_reassign_with_default)]

mod common;

use std::process::Command;

use common::customer::{Customer, ACCESS_ID, SECRET};
use common::harness::Harness;
use common::T0;
use pushagent::clock::SimClock;
use pushagent::config::{AgentConfig, MacFormat};
use pushagent::daemon::build_pusher;
use pushagent::push::outbox::Outbox;
use pushagent::push::pusher::{Pusher, StepReport};
use pushagent::push::report::{self, BuildRules, ReportState};
use pushagent::ring::Ring;
use pushagent::slots::ReportTz;
use pushagent::tally::TallyConfig;
use pushagent_customer::faults::Faults;
use serde_json::Value;

const HOUR_MS: i64 = 3_600_000;
/// The fake NIC's MAC (sampled tests).
const MAC: &str = "52:54:00:12:34:56";
/// A MAC with letters, for reports built directly (so MAC formats make a difference).
const HEX_MAC: &str = "0c:c4:7a:ab:cd:ef";

fn config_for(dir: &std::path::Path, customer: &Customer) -> AgentConfig {
    customer.agent_config(dir)
}

/// An outbox holding one built hour with the given points, and a pusher on it.
fn pusher_with_hour<'a>(config: &AgentConfig, clock: &'a SimClock, hours: &[(i64, [u64; 12])]) -> Pusher<'a> {
    let path = config.state_db_path();
    let _ = Ring::open(&path).expect("state db");
    let mut outbox = Outbox::open(&path).expect("outbox");
    let rules = BuildRules::from_settings(config.customer.billed_direction, &config.report, true, None);
    for (hour, points) in hours {
        let mut built = report::build(HEX_MAC, *hour, &[], &ReportTz::default(), &rules);
        built.raw = *points;
        built.pushed = *points;
        outbox.commit_hour(&[built], hour + HOUR_MS, clock.wall_ms_for_test()).expect("commit");
    }
    build_pusher(config, clock).expect("pusher")
}

trait WallForTest {
    fn wall_ms_for_test(&self) -> i64;
}
impl WallForTest for SimClock {
    fn wall_ms_for_test(&self) -> i64 {
        pushagent::clock::Clock::wall_ms(self)
    }
}

fn their_record(customer: &Customer, mac: &str, flux_hour: &str) -> Option<Value> {
    customer.records().into_iter().find(|r| r["mac"] == mac && r["flux_hour"] == flux_hour)
}

#[test]
fn a_conflict_is_resolved_by_pushing_the_next_version() {
    let customer = Customer::start(Faults::default(), 1);
    let clock = SimClock::new(T0 + 2 * HOUR_MS, 1);
    // A first install pushed the hour with some values...
    let first = tempfile::tempdir().expect("tempdir");
    let mut old = pusher_with_hour(&config_for(first.path(), &customer), &clock, &[(T0, [1; 12])]);
    old.send_due(&mut StepReport::default()).expect("push");
    // ...and a reinstalled agent (fresh state) measured the same hour differently.
    let second = tempfile::tempdir().expect("tempdir");
    let mut new = pusher_with_hour(&config_for(second.path(), &customer), &clock, &[(T0, [2; 12])]);
    let mut done = StepReport::default();
    new.send_due(&mut done).expect("push");

    let flux_hour = ReportTz::default().flux_hour(T0);
    let theirs = their_record(&customer, HEX_MAC, &flux_hour).expect("stored");
    assert_eq!(theirs["version"], 2, "{theirs}");
    assert_eq!(theirs["v0"], 2);
    let ours = new.outbox.get(HEX_MAC, &flux_hour).expect("db").expect("report");
    assert_eq!((ours.state, ours.version), (ReportState::Sent, 2));
    let outcomes: Vec<String> = new
        .outbox
        .attempts_of(HEX_MAC, &flux_hour)
        .expect("attempts")
        .into_iter()
        .map(|a| a.outcome)
        .collect();
    assert_eq!(outcomes, ["conflict", "accepted"]);
}

#[test]
fn an_invalid_record_is_held_for_an_operator_and_its_batch_mates_go_alone() {
    let customer = Customer::start(Faults::default(), 2);
    let clock = SimClock::new(T0 + 5 * HOUR_MS, 1);
    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = config_for(dir.path(), &customer);
    // A profile that does not match this customer: it wants lower-case MACs.
    config.customer.mac_format = MacFormat::UpperColon;
    let mut pusher = pusher_with_hour(
        &config,
        &clock,
        &[(T0, [1; 12]), (T0 + HOUR_MS, [2; 12]), (T0 + 2 * HOUR_MS, [3; 12])],
    );
    pusher.send_due(&mut StepReport::default()).expect("push");
    let held = pusher.outbox.list(Some(ReportState::Held), 10).expect("held");
    assert_eq!(held.len(), 3, "each record was tried alone, then held");
    assert!(
        held.iter().all(|r| r.reason.as_deref().unwrap_or("").starts_with("rejected: invalid record")),
        "{held:?}"
    );
    assert!(customer.records().is_empty());
}

#[test]
fn switch_off_skips_hours_for_good_and_a_mac_change_reports_the_new_mac_at_once() {
    let customer = Customer::start(Faults::default(), 3);
    let harness = Harness::at(T0, 9_000_000)
        .settings(|dir| config_for(dir, &customer))
        .config(|c| c.push_spread_secs = 0)
        .build();
    let (clock, nic) = (&harness.clock, &harness.nic);
    let tally = TallyConfig { sample_interval_ms: 60_000, ..TallyConfig::default() };
    let mut sampler = harness.sampler_with(tally, ReportTz::default());
    let mut pusher = harness.pusher();
    let tz = ReportTz::default();
    for minute in 0..5 * 60 + 5 {
        match minute {
            60 => pusher.config.push_enabled = false, // hour 1 is built while off
            120 => pusher.config.push_enabled = true,
            // The NIC is swapped half-way through hour 3.
            210 => nic.with(|n| n.mac = "52:54:00:ab:cd:ef".into()),
            _ => {}
        }
        clock.advance_ms(60_000);
        nic.with(|n| n.send(1_000_000, 1_000));
        sampler.sample(None).expect("sample");
        // The build for hour H runs at H+1:00 with no spread: the switch state then decides.
        pusher.step().expect("step");
    }
    let h = |n: i64| tz.flux_hour(T0 + n * HOUR_MS);
    let skipped = pusher.outbox.get(MAC, &h(1)).expect("db").expect("hour 1");
    assert_eq!(skipped.state, ReportState::SkippedOff);
    assert!(
        their_record(&customer, MAC, &h(1)).is_none(),
        "an off hour is never pushed, even after the switch is back on"
    );
    assert!(their_record(&customer, MAC, &h(0)).is_some());
    assert!(their_record(&customer, MAC, &h(2)).is_some());
    // Hour 3 has two reports: the old MAC for its first half, the new one for the rest.
    let old_half = their_record(&customer, MAC, &h(3)).expect("old MAC keeps what it measured");
    let new_half = their_record(&customer, "52:54:00:ab:cd:ef", &h(3)).expect("new MAC at once");
    let sum = |r: &Value| (0..12).map(|i| r[format!("v{i}")].as_u64().unwrap_or(0)).sum::<u64>();
    assert_eq!(sum(&old_half) + sum(&new_half), 60 * 1_000_000, "the hour's bytes, split between the MACs");
    assert!(their_record(&customer, "52:54:00:ab:cd:ef", &h(4)).is_some());
    assert!(their_record(&customer, MAC, &h(4)).is_none(), "no report for the old MAC after the change");
}

fn cli(config_path: &std::path::Path, args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_pushagent"))
        .arg("--config")
        .arg(config_path)
        .args(args)
        .output()
        .expect("pushagent runs");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "pushagent {args:?} failed:\n{text}");
    text
}

#[test]
fn operator_repush_and_verify_from_the_command_line() {
    let customer = Customer::start(Faults::default(), 4);
    let dir = tempfile::tempdir().expect("tempdir");
    let config = config_for(dir.path(), &customer);
    let tz = ReportTz::default();
    let hour = tz.hour_start_of(chrono::Utc::now().timestamp_millis()) - 5 * HOUR_MS;
    let flux_hour = tz.flux_hour(hour);
    let clock = SimClock::new(hour + 2 * HOUR_MS, 1);
    let mut pusher = pusher_with_hour(&config, &clock, &[(hour, [7; 12])]);
    pusher.send_due(&mut StepReport::default()).expect("push");
    drop(pusher);
    let config_path = dir.path().join("agent.toml");
    std::fs::write(
        &config_path,
        format!(
            "state_dir = \"{}\"\n[customer]\nbase_url = \"{}\"\naccess_id = \"{ACCESS_ID}\"\nsecret = \"{SECRET}\"\n[report]\nprovider_id = \"P\"\nprovider_uiid = \"U\"\n",
            dir.path().display(),
            customer.base_url
        ),
    )
    .expect("config");

    let out = cli(&config_path, &["push", "--hour", &flux_hour]);
    assert!(out.contains("version 2 accepted by the customer"), "{out}");
    assert_eq!(their_record(&customer, HEX_MAC, &flux_hour).expect("stored")["version"], 2);

    customer.alter(HEX_MAC, &flux_hour, "v3", 999);
    let day = &flux_hour[..8];
    let out = cli(&config_path, &["verify", "--day", day]);
    assert!(out.contains("corrected"), "{out}");
    let theirs = their_record(&customer, HEX_MAC, &flux_hour).expect("stored");
    assert_eq!((theirs["version"].as_u64(), theirs["v3"].as_u64()), (Some(3), Some(7)), "{theirs}");

    let out = cli(&config_path, &["outbox", "--state", "sent"]);
    assert!(out.contains(&flux_hour) && out.contains("sent"), "{out}");
}
