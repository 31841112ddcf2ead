//! End to end with a simulated clock: the real sampler, ring, outbox and pusher against the
//! real reference customer over HTTP, through 40 hours of faults — 30% 5xx/429, 10%
//! timeouts, 10% connections closed after the store, 3 hours down, a value altered at the
//! customer. At the end both sides hold the same numbers, every hour once, and versions went
//! up only where a correction was needed. The same 40 hours run in both profiles of
//! customer-api.md (JSON batches, and one CSV line per request as the line preset says), and
//! the two customers end with identical stores.

// Tests build configs field by field from the defaults: clearer than one big literal.
#![allow(clippy::field_reassign_with_default)]

mod common;

use std::collections::BTreeMap;

use common::customer::{Customer, Speaks};
use common::harness::Harness;
use common::T0;
use pushagent::config::{AgentConfig, Offset};
use pushagent::push::outbox::Outbox;
use pushagent::push::report::ReportState;
use pushagent::ring::Ring;
use pushagent::slots::ReportTz;
use pushagent::tally::TallyConfig;
use pushagent_customer::faults::Faults;
use serde_json::{json, Value};

const MAC: &str = "52:54:00:12:34:56";

fn agent_config(dir: &std::path::Path, customer: &Customer) -> AgentConfig {
    let mut config = customer.agent_config(dir);
    config.customer.timeout_secs = 1;
    config.customer.connect_timeout_secs = 1;
    config.customer.batch_size = 5;
    config.report.provider_id = "P-1".into();
    config.report.provider_uiid = "8c1e2f3a-0000-4000-8000-000000000001".into();
    config.report.isp_id = 3;
    config.report.device_type = 2;
    config.report.offset_percent = Offset::from_percent(3.5).expect("offset");
    config.verify_days = 2;
    config
}

#[test]
fn forty_hours_of_faults_end_with_identical_stores_in_both_profiles() {
    let json = forty_hours_of_faults(Speaks::Json);
    let line = forty_hours_of_faults(Speaks::Line);
    assert_eq!(json.len(), line.len());
    assert_eq!(json, line, "the JSON and the line customer hold the same records");
}

/// The 40 hours against a customer speaking `speaks`; returns what the customer stored.
fn forty_hours_of_faults(speaks: Speaks) -> Vec<Value> {
    let customer = Customer::start_speaking(
        speaks,
        Faults {
            error_rate: 0.3,
            timeout_rate: 0.1,
            hang_secs: 2,
            close_after_store_rate: 0.1,
            ..Faults::default()
        },
        20261124,
    );
    let harness = Harness::at(T0 + 7_000, 5_000_000).settings(|dir| agent_config(dir, &customer)).build();
    let (clock, nic, config) = (&harness.clock, &harness.nic, &harness.config);
    let tally = TallyConfig { sample_interval_ms: 60_000, ..TallyConfig::default() };
    let mut sampler = harness.sampler_with(tally, ReportTz::default());
    let mut pusher = harness.pusher();

    let hour_3 = ReportTz::default().flux_hour(T0 + 3 * 3_600_000);
    let mut seed: u64 = 99;
    let mut tick = |minute: u64| {
        seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        clock.advance_ms(60_000);
        nic.with(|n| n.send(50_000_000 + (seed >> 40) + minute, 1_000_000 + (seed >> 50)));
        sampler.sample(None).expect("sample");
        pusher.step().expect("push step");
    };
    for minute in 0..40 * 60 {
        match minute {
            600 => customer.set_faults(json!({"down": true})),
            780 => customer.set_faults(json!({"down": false})),
            // Hour 3 was pushed and verified long ago; the customer now corrupts it. The daily
            // re-check must find it and push a corrected version.
            1200 => customer.alter(MAC, &hour_3, "v4", 12_345),
            _ => {}
        }
        tick(minute);
    }
    // Calm weather until everything due is delivered (bounded: at most 6 more hours).
    customer.set_faults(json!({"error_rate": 0.0, "timeout_rate": 0.0, "close_after_store_rate": 0.0}));
    let watch = Outbox::open_existing(&config.state_db_path()).expect("outbox");
    for minute in 0..6 * 60 {
        tick(40 * 60 + minute);
        if watch.list(Some(ReportState::Pending), 1).expect("outbox").is_empty() {
            break;
        }
    }

    let reports = pusher.outbox.list(None, 10_000).expect("outbox");
    assert!(reports.len() >= 39, "{} hours built", reports.len());
    assert!(
        reports.iter().all(|r| r.state == ReportState::Sent),
        "all sent: {:?}",
        reports.iter().map(|r| (&r.flux_hour, r.state)).collect::<Vec<_>>()
    );
    let theirs: BTreeMap<String, Value> = customer
        .records()
        .into_iter()
        .map(|r| (r["flux_hour"].as_str().unwrap_or("").to_string(), r))
        .collect();
    assert_eq!(theirs.len(), reports.len(), "every hour present once at the customer, and nothing else");
    for r in &reports {
        let t = &theirs[&r.flux_hour];
        let their_points: Vec<u64> = (0..12).map(|i| t[format!("v{i}")].as_u64().expect("v")).collect();
        assert_eq!(their_points, r.pushed.to_vec(), "hour {}: customer holds what we pushed", r.flux_hour);
        assert_eq!(t["version"].as_u64(), Some(u64::from(r.version)), "hour {}", r.flux_hour);
        let expected_version = if r.flux_hour == hour_3 { 2 } else { 1 };
        assert_eq!(
            r.version, expected_version,
            "hour {}: version goes up only for a correction",
            r.flux_hour
        );
        for i in 0..12 {
            assert_eq!(r.pushed[i], config.report.offset_percent.apply(r.raw[i]));
        }
        assert_eq!(t["provider_id"], "P-1");
        assert_eq!(t["isp_id"], 3);
    }
    // The raw points of the built hours are exactly the ring's bytes of those hours.
    let ring = Ring::open_existing(&config.state_db_path()).expect("ring");
    let first = reports.iter().map(|r| r.hour_start_ms).min().expect("hours");
    let last = reports.iter().map(|r| r.hour_start_ms).max().expect("hours") + 3_600_000;
    let ring_tx: u64 =
        ring.slots_between(first, last).expect("slots").iter().map(|s| s.counters.tx_bytes).sum();
    let raw_tx: u64 = reports.iter().map(|r| r.raw.iter().sum::<u64>()).sum();
    assert_eq!(raw_tx, ring_tx);
    let verifications = pusher.outbox.verifications_since(0).expect("verifications");
    assert!(
        verifications.iter().any(|v| v.flux_hour == hour_3 && v.result == "corrected"),
        "the altered hour was caught"
    );
    assert!(verifications.iter().filter(|v| v.result == "match").count() >= 30);
    let failures = reports.iter().map(|r| r.attempts).sum::<u32>() as usize - reports.len();
    assert!(failures > 10, "the faults really happened ({failures} failed attempts)");
    if speaks == Speaks::Line {
        // One line per request, each with the agent's next sequence number.
        let seqs = customer.line_seqs();
        assert!(seqs.len() >= reports.len(), "{} line pushes for {} hours", seqs.len(), reports.len());
        assert!(seqs.windows(2).all(|w| w[0] < w[1]), "X-Seq increases: {seqs:?}");
    }
    customer.records()
}
