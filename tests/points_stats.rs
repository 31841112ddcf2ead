//! `pushagent points --day D --stats` on a machine that sampled and pushed a whole report day
//! (simulated clock, real sampler, ring, outbox and reference customer): the figures it prints
//! are the settlement statistics of what the ring measured and of what the customer holds,
//! exactly, so finance's figure can be checked on the machine itself.

mod common;

use std::process::Command;

use common::customer::{Customer, ACCESS_ID, SECRET};
use common::harness::Harness;
use common::T0;
use pushagent::config::Offset;
use pushagent::ring::Ring;
use pushagent::slots::ReportTz;
use pushagent::tally::TallyConfig;
use pushagent_customer::faults::Faults;
use pushagent_proto::settlement::{settle, Figures, Series};
use serde_json::Value;

const HOUR_MS: i64 = 3_600_000;
const MAC: &str = "52:54:00:12:34:56";

#[test]
fn the_days_figures_on_the_machine_match_its_ring_and_the_customers_copy() {
    let customer = Customer::start(Faults::default(), 6);
    // T0 is 2026-11-24 00:00 UTC; the report day 2026-11-25 (UTC+08:00) starts 16 hours later.
    let day_start = T0 + 16 * HOUR_MS;
    let harness = Harness::at(day_start - 120_000, 9_000_000)
        .customer(&customer)
        .config(|c| {
            c.push_spread_secs = 0;
            c.report.offset_percent = Offset { basis_points: 500 };
        })
        .build();
    let (clock, nic, config) = (&harness.clock, &harness.nic, &harness.config);
    let tally = TallyConfig { sample_interval_ms: 60_000, ..TallyConfig::default() };
    let mut sampler = harness.sampler_with(tally, ReportTz::default());
    let mut pusher = harness.pusher();
    // A day with an evening peak and a 20-minute burst: 24 hours, then the last hour's push.
    for minute in 0..24 * 60 + 65u64 {
        clock.advance_ms(60_000);
        let base = 2_000_000 + (minute % 1440) * 5_000;
        let burst = if (1200..1220).contains(&minute) { 90_000_000 } else { 0 };
        nic.with(|n| n.send(base + burst + minute % 7, 1_000));
        sampler.sample(None).expect("sample");
        pusher.step().expect("step");
    }
    drop(pusher);
    let day = &ReportTz::default().flux_hour(day_start)[..8];
    assert_eq!(day, "20261125");

    let config_path = harness.state_dir().join("agent.toml");
    std::fs::write(
        &config_path,
        format!(
            "state_dir = \"{}\"\n[customer]\nbase_url = \"{}\"\naccess_id = \"{ACCESS_ID}\"\nsecret = \"{SECRET}\"\n\
             [report]\nprovider_id = \"P\"\nprovider_uiid = \"U\"\noffset_percent = 5\n",
            harness.state_dir().display(),
            customer.base_url
        ),
    )
    .expect("config");
    let out = Command::new(env!("CARGO_BIN_EXE_pushagent"))
        .arg("--config")
        .arg(&config_path)
        .args(["points", "--day", day, "--stats", "--json"])
        .output()
        .expect("pushagent runs");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}{}", String::from_utf8_lossy(&out.stderr));
    let stats: Value = serde_json::from_str(&text).expect("JSON");
    let figures = |key: &str| -> Figures { serde_json::from_value(stats[key].clone()).expect(key) };

    // What the ring measured, tx billed, slot by slot.
    let ring = Ring::open_existing(&config.state_db_path()).expect("ring");
    let mut measured = Series::empty(1, 1);
    for s in ring.slots_between(day_start, day_start + 24 * HOUR_MS).expect("slots") {
        let i = ((s.slot_start_ms - day_start) / 300_000) as usize;
        measured.bytes[i] += s.counters.tx_bytes;
        measured.present[i] = 1;
    }
    // What the customer holds: the pushed points of every hour.
    let mut theirs = Series::empty(1, 1);
    for record in customer
        .records()
        .iter()
        .filter(|r| r["mac"] == MAC && r["flux_hour"].as_str().is_some_and(|h| h.starts_with(day)))
    {
        let hour: usize = record["flux_hour"].as_str().expect("hour")[8..].parse().expect("hour");
        for k in 0..12 {
            theirs.bytes[hour * 12 + k] = record[format!("v{k}")].as_u64().expect("point");
            theirs.present[hour * 12 + k] = 1;
        }
    }
    assert_eq!(stats["sent_hours"], 24, "{stats}");
    assert_eq!(figures("ring_raw"), settle(&measured));
    assert_eq!(figures("sent_raw"), settle(&measured), "every hour was sent from the ring's points");
    assert_eq!(figures("sent_pushed"), settle(&theirs), "the customer's copy");
    let (raw, pushed) = (figures("sent_raw"), figures("sent_pushed"));
    assert!(pushed.p95_bytes > raw.p95_bytes && pushed.total_bytes > raw.total_bytes, "+5 % offset");
    // The burst (4 slots) is in the dropped top 14: the 95th is below the peak.
    assert!(raw.p95_bytes < raw.peak_bytes / 5, "{raw:?}");
    assert_eq!((raw.present, raw.expected), (288, 288));

    // The table names the figures.
    let out = Command::new(env!("CARGO_BIN_EXE_pushagent"))
        .arg("--config")
        .arg(&config_path)
        .args(["points", "--day", day, "--stats"])
        .output()
        .expect("pushagent runs");
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(
        table.contains("95th (日95)") && table.contains("288/288") && table.contains("pushed (sent hours)"),
        "{table}"
    );
    let out = Command::new(env!("CARGO_BIN_EXE_pushagent"))
        .arg("--config")
        .arg(&config_path)
        .args(["points", "--stats"])
        .output()
        .expect("pushagent runs");
    assert!(!out.status.success() && String::from_utf8_lossy(&out.stderr).contains("--day"));
}
