//! Push switch off means nothing goes to the customer (issue 10 §3): not new hours, not the
//! pending backlog, not corrections. The real sampler (following the switch) and the real
//! pusher against the reference customer, which counts every POST it receives:
//! hour 0 is pushed; the customer goes down and hours 1 and 2 wait pending; the switch goes
//! off and the customer comes back, its copy of hour 0 altered. While off: 0 POSTs, hours 1
//! and 2 stay pending, the verification's query finds the altered hour and its correction
//! waits too, hours built while off are `skipped_off`. Switched on: everything goes, and the
//! customer holds exactly what the ring holds for every pushed hour.

mod common;

use common::customer::Customer;
use common::harness::Harness;
use common::T0;
use pushagent::clock::Clock;
use pushagent::push::pusher::Pusher;
use pushagent::push::report::ReportState;
use pushagent::ring::Ring;
use pushagent::sampler::Sampler;
use pushagent::slots::ReportTz;
use pushagent_customer::faults::Faults;
use serde_json::{json, Value};

const MAC: &str = "52:54:00:12:34:56";
const HOUR_MS: i64 = 3_600_000;
const SLOT_MS: i64 = 300_000;

#[test]
fn switch_off_sends_nothing_not_the_backlog_nor_corrections() {
    let customer = Customer::start(Faults::default(), 5);
    let harness = Harness::at(T0, 9_000_000)
        .customer(&customer)
        .config(|c| {
            c.sample_interval_secs = 60;
            c.push_spread_secs = 0;
            c.verify_days = 2;
        })
        .build();
    let (clock, nic) = (&harness.clock, &harness.nic);
    let (mut sampler, mut switch) = harness.sampler_following_switch();
    let mut pusher = harness.pusher();
    let tz = ReportTz::default();
    let h = |n: i64| tz.flux_hour(T0 + n * HOUR_MS);
    // One simulated minute: traffic, a reading, a push step.
    let minute = |sampler: &mut Sampler<'_>, pusher: &mut Pusher<'_>| {
        clock.advance_ms(60_000);
        nic.with(|n| n.send(2_000_000, 1_000));
        sampler.sample(None).expect("sample");
        pusher.step().expect("push step");
    };
    let state = |pusher: &Pusher<'_>, n: i64| {
        let r = pusher.outbox.get(MAC, &h(n)).expect("outbox").unwrap_or_else(|| panic!("hour {n} built"));
        (r.state, r.version)
    };

    // Hour 0 goes out while all is well.
    for _ in 0..65 {
        minute(&mut sampler, &mut pusher);
    }
    assert_eq!(state(&pusher, 0), (ReportState::Sent, 1));
    // The customer is down: hours 1 and 2 are built and wait, pending.
    customer.set_faults(json!({"down": true}));
    for _ in 65..180 {
        minute(&mut sampler, &mut pusher);
    }
    assert_eq!(state(&pusher, 1).0, ReportState::Pending);
    assert_eq!(state(&pusher, 2).0, ReportState::Pending);

    // Switched off at 03:00 (machine time 180 min); the customer comes back, holding hour 0
    // with a value we never sent.
    switch.set(false, &mut pusher);
    customer.set_faults(json!({"down": false}));
    customer.alter(MAC, &h(0), "v3", 999);
    let posts_before = customer.requests_by_method("POST");
    let gets_before = customer.requests_by_method("GET");
    // Until the verification has found the difference (bounded: its retries after the
    // failed checks while down are at most hours apart), and two more hours built while off.
    let mut minutes = 180;
    while state(&pusher, 0).1 == 1 || minutes < 300 {
        assert!(minutes < 180 + 24 * 60, "the verification of hour 0 never found the difference");
        minute(&mut sampler, &mut pusher);
        minutes += 1;
    }
    assert_eq!(
        customer.requests_by_method("POST"),
        posts_before,
        "the customer got POSTs while the push switch was off"
    );
    assert!(customer.requests_by_method("GET") > gets_before, "verification's queries go on while off");
    assert_eq!(state(&pusher, 0), (ReportState::Pending, 2), "the correction waits for the switch");
    assert_eq!(state(&pusher, 1).0, ReportState::Pending, "the backlog stays pending");
    assert_eq!(state(&pusher, 2).0, ReportState::Pending, "the backlog stays pending");
    assert_eq!(state(&pusher, 3).0, ReportState::SkippedOff);
    assert_eq!(state(&pusher, 4).0, ReportState::SkippedOff);
    let theirs = customer.records();
    let hour0 = their(&theirs, &h(0)).expect("hour 0 at the customer");
    assert_eq!((hour0["version"].as_u64(), hour0["v3"].as_u64()), (Some(1), Some(999)), "{hour0}");
    assert!(their(&theirs, &h(1)).is_none() && their(&theirs, &h(2)).is_none());
    // Nothing is due to send while off: the push thread does not wake for the backlog.
    let now = clock.wall_ms();
    let next = pusher.next_due_ms().expect("next due");
    assert!(!matches!(next, Some(at) if at <= now), "due at {next:?} (now {now}) while off");

    // Switched on again, at an hour boundary: everything goes.
    while (minutes % 60) != 0 {
        minute(&mut sampler, &mut pusher);
        minutes += 1;
    }
    let last_off_hour = i64::from(minutes / 60) - 1;
    switch.set(true, &mut pusher);
    for _ in 0..65 {
        minute(&mut sampler, &mut pusher);
    }
    assert!(customer.requests_by_method("POST") > posts_before);
    let theirs = customer.records();
    let (ring, _) = Ring::open(&harness.config.state_db_path()).expect("ring");
    for n in 0..=last_off_hour + 1 {
        let (st, version) = state(&pusher, n);
        let held = their(&theirs, &h(n));
        if (3..=last_off_hour).contains(&n) {
            assert_eq!(st, ReportState::SkippedOff, "hour {n}");
            assert!(held.is_none(), "hour {n} built while off reached the customer");
            continue;
        }
        assert_eq!(st, ReportState::Sent, "hour {n}");
        let held = held.unwrap_or_else(|| panic!("hour {n} not at the customer"));
        assert_eq!(held["version"].as_u64(), Some(u64::from(version)), "hour {n}: {held}");
        let points: Vec<u64> = (0..12).map(|i| held[format!("v{i}")].as_u64().expect("v")).collect();
        let start = T0 + n * HOUR_MS;
        let mut in_ring = vec![0u64; 12];
        for s in ring.slots_between(start, start + HOUR_MS).expect("slots") {
            in_ring[((s.slot_start_ms - start) / SLOT_MS) as usize] += s.counters.tx_bytes;
        }
        assert_eq!(points, in_ring, "hour {n}: the customer's store == the ring");
        if n > 0 {
            // (Hour 0 starts with the first reading, the baseline.)
            assert_eq!(points.iter().sum::<u64>(), 60 * 2_000_000, "hour {n}: every byte of the hour");
        }
    }
    assert_eq!(state(&pusher, 0).1, 2, "hour 0 corrected as version 2");
}

fn their<'a>(records: &'a [Value], flux_hour: &str) -> Option<&'a Value> {
    records.iter().find(|r| r["mac"] == MAC && r["flux_hour"] == flux_hour)
}
