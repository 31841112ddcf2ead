//! The push switch applies to the slots it covered, not to the moment an hour is built: the
//! real sampler records the effective switch with every reading, and the real pusher builds
//! against the reference customer. Off 10 minutes into hour 19, on again 10 minutes before the
//! end of hour 22: hour 19 goes out with v2..v11 as 0, hours 20 and 21 are skipped, hour 22
//! goes out with only v10 and v11; the raw points keep what was measured.

mod common;

use common::customer::Customer;
use common::harness::Harness;
use common::T0;
use pushagent::push::outbox::{Outbox, OutboxReport};
use pushagent::push::report::ReportState;
use pushagent::sampler::Sampler;
use pushagent::slots::ReportTz;
use pushagent_customer::faults::Faults;

const MAC: &str = "52:54:00:12:34:56";
const HOUR_MS: i64 = 3_600_000;

#[test]
fn the_switch_applies_to_the_slots_it_covered() {
    let customer = Customer::start(Faults::default(), 3);
    // 19:00 in the report time zone; readings every 30 s, on every slot boundary.
    let start = T0 + 11 * HOUR_MS;
    let harness = Harness::at(start, 7_000_000)
        .customer(&customer)
        .config(|c| {
            c.sample_interval_secs = 30;
            c.verify_days = 0;
        })
        .build();
    let (clock, nic) = (&harness.clock, &harness.nic);
    let (mut sampler, mut switch) = harness.sampler_following_switch();
    let mut pusher = harness.pusher();
    let mut now = start;
    let mut run_until =
        |until: i64, sampler: &mut Sampler<'_>, pusher: &mut pushagent::push::pusher::Pusher<'_>| {
            while now < until {
                clock.advance_ms(30_000);
                now += 30_000;
                nic.with(|n| n.send(30_000_000, 30_000));
                sampler.sample(None).expect("sample");
                pusher.step().expect("push step");
            }
        };
    run_until(start + 10 * 60_000, &mut sampler, &mut pusher);
    switch.set(false, &mut pusher);
    run_until(start + 3 * HOUR_MS + 50 * 60_000, &mut sampler, &mut pusher);
    switch.set(true, &mut pusher);
    run_until(start + 5 * HOUR_MS + 10 * 60_000, &mut sampler, &mut pusher);

    let outbox = Outbox::open_existing(&harness.config.state_db_path()).expect("outbox");
    let tz = ReportTz::default();
    let hour = |h: i64| -> OutboxReport {
        outbox.get(MAC, &tz.flux_hour(start + h * HOUR_MS)).expect("outbox").expect("hour built")
    };
    let (h19, h20, h21, h22, h23) = (hour(0), hour(1), hour(2), hour(3), hour(4));
    assert_eq!(h19.state, ReportState::Sent, "hour 19 was on for 10 minutes: {:?}", h19.reason);
    assert!(h19.pushed[..2].iter().all(|v| *v > 0) && h19.pushed[..2] == h19.raw[..2], "{h19:?}");
    assert!(h19.pushed[2..].iter().all(|v| *v == 0), "off slots pushed as 0: {h19:?}");
    assert!(h19.raw[2..].iter().all(|v| *v == 300_000_000), "raw keeps what was measured: {h19:?}");
    assert_eq!(outbox.off_slots(MAC, &h19.flux_hour).expect("off slots"), 0b1111_1111_1100);
    assert_eq!(h20.state, ReportState::SkippedOff);
    assert_eq!(h21.state, ReportState::SkippedOff);
    assert_eq!(h22.state, ReportState::Sent, "{:?}", h22.reason);
    assert!(h22.pushed[..10].iter().all(|v| *v == 0), "50 off minutes not pushed: {h22:?}");
    assert_eq!(&h22.pushed[10..], &[300_000_000, 300_000_000], "{h22:?}");
    assert_eq!(outbox.off_slots(MAC, &h22.flux_hour).expect("off slots"), 0b0011_1111_1111);
    assert_eq!(h23.state, ReportState::Sent);
    assert_eq!(h23.pushed, h23.raw);
    // The history mirrored to the config service says which slots went out as 0.
    let history = outbox.unmirrored_history(100).expect("history");
    let mirrored = |hour: &OutboxReport| {
        let item = history.batch.pushes.iter().find(|p| p.flux_hour == hour.flux_hour).expect("mirrored");
        (item.off_slots, item.raw_points, item.pushed_points)
    };
    assert_eq!(mirrored(&h19), (0b1111_1111_1100, h19.raw, h19.pushed));
    assert_eq!(mirrored(&h22), (0b0011_1111_1111, h22.raw, h22.pushed));
    assert_eq!(mirrored(&h23).0, 0);

    let theirs = customer.records();
    let hours: Vec<&str> = theirs.iter().map(|r| r["flux_hour"].as_str().unwrap_or("")).collect();
    assert_eq!(
        hours,
        vec![h19.flux_hour.as_str(), &h22.flux_hour, &h23.flux_hour],
        "nothing of the off hours"
    );
    for (r, ours) in theirs.iter().zip([&h19, &h22, &h23]) {
        let points: Vec<u64> = (0..12).map(|i| r[format!("v{i}")].as_u64().expect("v")).collect();
        assert_eq!(points, ours.pushed.to_vec(), "hour {}", ours.flux_hour);
    }
}
