//! Changing `report_timezone` mid-day on an agent that has reported hours: from UTC+08:00 to
//! UTC, and to UTC+05:30. The customer files hours by name, and both new zones would reuse
//! names already reported (and UTC+05:30 would move the hour boundaries by 30 minutes), so
//! the agent refuses the change, says so in its health, and goes on naming hours in the zone in
//! force: every byte in exactly one pushed hour, no hour renamed — customer store == ring ==
//! kernel delta. A change the outbox allows (east, same boundaries, nothing in flight) is taken
//! at the cursor: the next hour is named in the new zone, and still no byte is in two hours.
//! The real sampler, ring, pusher and the zone decision of the daemon's start, against the
//! reference customer, on a simulated clock.

mod common;

use std::collections::BTreeMap;

use common::customer::Customer;
use common::harness::Harness;
use common::{SharedNic, T0};
use pushagent::clock::SimClock;
use pushagent::config::AgentConfig;
use pushagent::daemon::{build_pusher, tally_config};
use pushagent::health::Health;
use pushagent::push::outbox::Outbox;
use pushagent::push::report::ReportState;
use pushagent::push::zone::{settle_zone, zone_of_hour};
use pushagent::ring::Ring;
use pushagent::sampler::Sampler;
use pushagent::shutdown::Shutdown;
use pushagent::slots::ReportTz;
use pushagent_customer::faults::Faults;

const HOUR_MS: i64 = 3_600_000;
const TX_PER_30S: u64 = 15_000_000;

/// Run the daemon's parts as a start would: decide the zone in force, then sample and push
/// every 30 s until `until`. Returns the zone the parts ran with and the health.
fn run_agent(config: &AgentConfig, clock: &SimClock, nic: &SharedNic, until: i64) -> (ReportTz, Health) {
    let mut config = config.clone();
    let health = Health::new();
    let (ring, _) = Ring::open(&config.state_db_path()).expect("ring");
    let outbox = Outbox::open_existing(&config.state_db_path()).expect("outbox");
    settle_zone(&mut config, &outbox, &health, clock_secs(clock)).expect("zone");
    let mut sampler = Sampler::new(
        clock,
        Box::new(nic.clone()),
        ring,
        tally_config(&config),
        config.report_timezone,
        35,
        Shutdown::new(),
    )
    .expect("sampler");
    let mut pusher = build_pusher(&config, clock).expect("pusher");
    while pushagent::clock::Clock::wall_ms(clock) < until {
        clock.advance_ms(30_000);
        nic.with(|n| n.send(TX_PER_30S, 1_000));
        sampler.sample(None).expect("sample");
        pusher.step().expect("push step");
    }
    (config.report_timezone, health)
}

fn clock_secs(clock: &SimClock) -> i64 {
    pushagent::clock::Clock::wall_ms(clock) / 1000
}

/// Every byte in exactly one pushed hour: per built hour, the customer holds the ring's
/// points under the hour's one name; no instant is in two hours; every name is in `zone_of`.
fn assert_every_byte_in_one_hour(
    config: &AgentConfig,
    customer: &Customer,
    zone_of: impl Fn(i64) -> ReportTz,
) {
    let outbox = Outbox::open_existing(&config.state_db_path()).expect("outbox");
    let ring = Ring::open_existing(&config.state_db_path()).expect("ring");
    let reports = outbox.between(0, i64::MAX).expect("reports");
    let first = reports.iter().map(|r| r.hour_start_ms).min().expect("hours");
    let cursor = outbox.cursor().expect("cursor").expect("built");
    let ring_total: u64 =
        ring.slots_between(first, cursor).expect("slots").iter().map(|s| s.counters.tx_bytes).sum();
    let theirs = customer.records();
    let their_total: u64 =
        theirs.iter().map(|t| (0..12).map(|i| t[format!("v{i}")].as_u64().expect("v")).sum::<u64>()).sum();
    let ours: u64 = reports.iter().map(|r| r.pushed.iter().sum::<u64>()).sum();
    assert_eq!((their_total, ours), (ring_total, ring_total), "customer store == outbox == ring");
    assert_eq!(theirs.len(), reports.len(), "one record per hour, none overwritten");
    let mut covered: BTreeMap<i64, String> = BTreeMap::new();
    for r in &reports {
        assert_eq!(r.state, ReportState::Sent, "{r:?}");
        for i in 0..12 {
            let slot = r.hour_start_ms + i * 300_000;
            if let Some(other) = covered.insert(slot, r.flux_hour.clone()) {
                panic!("slot {slot} is in hour {other} and in hour {}", r.flux_hour);
            }
        }
        let named_in = zone_of_hour(&r.flux_hour, r.hour_start_ms);
        assert_eq!(named_in, Some(zone_of(r.hour_start_ms)), "no hour renamed: {r:?}");
    }
}

#[test]
fn a_time_zone_change_that_would_reuse_hour_names_is_refused_and_nothing_is_renamed_or_lost() {
    for new_zone in ["UTC", "UTC+05:30"] {
        let customer = Customer::start(Faults::default(), 21);
        let harness = Harness::at(T0, 3_000_000)
            .customer(&customer)
            .config(|c| {
                c.sample_interval_secs = 30;
                c.push_spread_secs = 0;
            })
            .build();
        let (clock, nic) = (&harness.clock, &harness.nic);
        let mut config = harness.config.clone();
        // 08:00 to 13:30 in UTC+08:00, then the operator changes the zone and restarts.
        let (zone, health) = run_agent(&config, clock, nic, T0 + 5 * HOUR_MS + HOUR_MS / 2);
        assert_eq!(zone, ReportTz::default());
        assert!(health.snapshot().config_refused.is_none());
        config.report_timezone = ReportTz::parse(new_zone).expect("zone");
        let (zone, health) = run_agent(&config, clock, nic, T0 + 12 * HOUR_MS);
        assert_every_byte_in_one_hour(&config, &customer, |_| ReportTz::default());
        let ring = Ring::open_existing(&config.state_db_path()).expect("ring");
        let truth = nic.with(|n| n.truth_tx);
        assert_eq!(u128::from(ring.totals().expect("totals").1), truth, "ring == kernel delta");
        assert_eq!(zone, ReportTz::default(), "{new_zone}: the zone in force stays");
        let refused = health.snapshot().config_refused.expect("the refusal is reported");
        assert_eq!(refused.key, "report_timezone");
        assert!(refused.why.contains(new_zone), "{refused:?}");
    }
}

#[test]
fn a_change_east_with_nothing_in_flight_names_the_next_hour_in_the_new_zone() {
    let customer = Customer::start(Faults::default(), 22);
    let harness = Harness::at(T0, 3_000_000)
        .customer(&customer)
        .config(|c| {
            c.sample_interval_secs = 30;
            c.push_spread_secs = 0;
            c.verify_days = 0; // nothing is checked later under the old names
            c.report_timezone = ReportTz::parse("UTC").expect("zone");
        })
        .build();
    let (clock, nic) = (&harness.clock, &harness.nic);
    let mut config = harness.config.clone();
    let utc = ReportTz::parse("UTC").expect("zone");
    run_agent(&config, clock, nic, T0 + 5 * HOUR_MS + HOUR_MS / 2);
    let cursor = Outbox::open_existing(&config.state_db_path())
        .expect("outbox")
        .cursor()
        .expect("cursor")
        .expect("built");
    config.report_timezone = ReportTz::default();
    let (zone, health) = run_agent(&config, clock, nic, T0 + 12 * HOUR_MS);
    assert_eq!(zone, ReportTz::default(), "taken");
    assert!(health.snapshot().config_refused.is_none());
    assert_every_byte_in_one_hour(
        &config,
        &customer,
        |start| if start < cursor { utc } else { ReportTz::default() },
    );
}
