//! kill -9 of the real agent binary in the middle of a backlog drain (30 days of hours):
//! nothing is lost, nothing conflicts, and at worst a batch the customer already stored is
//! sent again (which it accepts as the same version with the same values).

// Tests build configs field by field from the defaults: clearer than one big literal.
#![allow(clippy::field_reassign_with_default)]

mod common;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::customer::{Customer, ACCESS_ID, SECRET};
use pushagent::config::AgentConfig;
use pushagent::push::outbox::Outbox;
use pushagent::push::report::{self, BuildRules, ReportState};
use pushagent::ring::Ring;
use pushagent::slots::ReportTz;
use pushagent_customer::faults::Faults;

const HOURS: i64 = 30 * 24;
const MAC: &str = "0c:c4:7a:00:00:01";

fn start_agent(config: &std::path::Path, root: &std::path::Path, log: &std::path::Path) -> Child {
    let log_file = std::fs::File::options().create(true).append(true).open(log).expect("log");
    Command::new(env!("CARGO_BIN_EXE_pushagent"))
        .arg("--root")
        .arg(root)
        .arg("--config")
        .arg(config)
        .arg("run")
        .stdout(Stdio::null())
        .stderr(log_file)
        .spawn()
        .expect("agent starts")
}

fn wait_for(what: &str, log: &std::path::Path, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(90);
    while !condition() {
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}; agent log:\n{}",
            std::fs::read_to_string(log).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn kill_9_during_a_30_day_backlog_drain_loses_nothing() {
    let customer = Customer::start(Faults { slow_ms: 20, ..Faults::default() }, 7);
    let dir = tempfile::tempdir().expect("tempdir");
    let tz = ReportTz::default();
    let now_hour = tz.hour_start_of(chrono::Utc::now().timestamp_millis());
    let first_hour = now_hour - HOURS * 3_600_000;

    // A backlog as a long customer outage leaves it: 720 hours built, none sent.
    let mut config = AgentConfig::default();
    config.state_dir = dir.path().join("state");
    std::fs::create_dir_all(&config.state_dir).expect("state dir");
    {
        let path = config.state_db_path();
        let _ = Ring::open(&path).expect("state db");
        let mut outbox = Outbox::open(&path).expect("outbox");
        let rules = BuildRules::from_settings(config.customer.billed_direction, &config.report, true, None);
        for h in 0..HOURS {
            let hour = first_hour + h * 3_600_000;
            let mut built = report::build(MAC, hour, &[], &tz, &rules);
            built.raw = std::array::from_fn(|i| (h as u64) * 1_000 + i as u64);
            built.pushed = built.raw;
            // The cursor stays a day ahead: this test is about draining, not building.
            outbox.commit_hour(&[built], now_hour + 86_400_000, now_hour).expect("commit");
        }
    }
    let config_path = dir.path().join("agent.toml");
    std::fs::write(
        &config_path,
        format!(
            "state_dir = \"{}\"\nverify_days = 0\n[customer]\nbase_url = \"{}\"\naccess_id = \"{ACCESS_ID}\"\nsecret = \"{SECRET}\"\nbatch_size = 10\n[report]\nprovider_id = \"P\"\nprovider_uiid = \"U\"\n",
            config.state_dir.display(),
            customer.base_url
        ),
    )
    .expect("config");
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/sysfs/plain-eth0");
    let log = dir.path().join("agent.log");

    let mut agent = start_agent(&config_path, &root, &log);
    wait_for("a third of the backlog at the customer", &log, || customer.records().len() >= 240);
    agent.kill().expect("kill -9");
    let _ = agent.wait();
    let stored_at_kill = customer.records().len();
    assert!(stored_at_kill < HOURS as usize, "killed in the middle of the drain");

    let mut agent = start_agent(&config_path, &root, &log);
    let outbox = Outbox::open_existing(&config.state_db_path()).expect("outbox");
    wait_for("the backlog drained", &log, || {
        outbox.list(Some(ReportState::Pending), 1).map(|p| p.is_empty()).unwrap_or(false)
    });
    agent.kill().expect("stop");
    let _ = agent.wait();

    let records = customer.records();
    assert_eq!(records.len(), HOURS as usize, "every hour at the customer, once");
    for (h, r) in records.iter().enumerate() {
        assert_eq!(r["version"], 1, "no correction was needed: {r}");
        assert_eq!(r["v5"].as_u64(), Some(h as u64 * 1_000 + 5), "{r}");
    }
    let sent = outbox.list(Some(ReportState::Sent), 10_000).expect("sent");
    assert_eq!(sent.len(), HOURS as usize);
    for r in &sent {
        let attempts = outbox.attempts_of(&r.mac, &r.flux_hour).expect("attempts");
        assert!(attempts.iter().all(|a| a.outcome != "conflict"), "{attempts:?}");
    }
}
