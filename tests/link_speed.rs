//! The impossible-point check judges an hour by the fastest the link was during that hour: a
//! NIC that renegotiated from 10 Gbit/s down to 100 Mbit/s after the hour (a cable swapped, a
//! switch port reset) does not hold an hour of real 5 Gbit/s traffic as impossible. Real
//! sampler and ring (which record the speed with each slot), real pusher, reference customer.

mod common;

use common::customer::Customer;
use common::harness::Harness;
use common::{GBIT, T0};
use pushagent::push::outbox::Outbox;
use pushagent::push::report::ReportState;
use pushagent::slots::ReportTz;
use pushagent_customer::faults::Faults;

const MAC: &str = "52:54:00:12:34:56";
const HOUR_MS: i64 = 3_600_000;

#[test]
fn a_link_that_slowed_down_after_the_hour_does_not_hold_its_real_points() {
    let customer = Customer::start(Faults::default(), 5);
    let start = T0 + 3 * HOUR_MS;
    let harness = Harness::at(start, 9_000_000)
        .customer(&customer)
        .config(|c| {
            c.sample_interval_secs = 30;
            c.verify_days = 0;
        })
        .build();
    let (clock, nic, config) = (&harness.clock, &harness.nic, &harness.config);
    nic.with(|n| n.link_bits_per_sec = Some(10 * GBIT));
    let tz = ReportTz::default();
    let mut sampler = harness.sampler();
    let mut pusher = harness.pusher();
    sampler.sample(None).expect("baseline");
    // 5 Gbit/s for the whole hour: 18.75 GB every 30 s, 187.5 GB in each 5-minute point (half
    // of what 10 Gbit/s carries, 50 times what 100 Mbit/s does).
    let per_30s = 5 * GBIT / 8 * 30;
    let mut now = start;
    while now < start + HOUR_MS {
        clock.advance_ms(30_000);
        now += 30_000;
        nic.with(|n| n.send(per_30s, 1_000));
        sampler.sample(None).expect("sample");
        pusher.step().expect("push step");
    }
    // The link renegotiates at 100 Mbit/s before the hour is built.
    nic.with(|n| n.link_bits_per_sec = Some(100_000_000));
    while now < start + 2 * HOUR_MS {
        clock.advance_ms(30_000);
        now += 30_000;
        nic.with(|n| n.send(1_000_000, 1_000));
        sampler.sample(None).expect("sample");
        pusher.step().expect("push step");
    }

    let outbox = Outbox::open_existing(&config.state_db_path()).expect("outbox");
    let hour = outbox.get(MAC, &tz.flux_hour(start)).expect("outbox").expect("hour built");
    assert_eq!(hour.state, ReportState::Sent, "not held as impossible: {:?}", hour.reason);
    assert_eq!(hour.raw, [per_30s * 10; 12], "every point is the real 187.5 GB");
    assert_eq!(hour.pushed, hour.raw);
    let theirs = customer.records();
    let record = theirs
        .iter()
        .find(|r| r["flux_hour"].as_str() == Some(hour.flux_hour.as_str()))
        .expect("the customer holds the hour");
    let points: Vec<u64> = (0..12).map(|i| record[format!("v{i}")].as_u64().expect("v")).collect();
    assert_eq!(points, hour.pushed.to_vec());
}
