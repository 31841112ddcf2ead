//! Clocks that lie, through the real sampler, ring, outbox and pusher against the real
//! reference customer, on a simulated clock that knows the true time. In every story: the
//! customer holds exactly what the ring holds for every pushed hour, the ring holds exactly
//! what the kernel counted, no hour reaches the customer before it has ended (true time), and
//! no slot holds more than the link can carry because of a clock artefact.

// Tests build configs field by field from the defaults: clearer than one big literal.
#![allow(clippy::field_reassign_with_default)]

mod common;

use std::cell::Cell;
use std::collections::BTreeMap;

use common::customer::Customer;
use common::harness::Harness;
use common::{GBIT, T0};
use pushagent::push::outbox::Outbox;
use pushagent::push::pusher::Pusher;
use pushagent::push::report::ReportState;
use pushagent::ring::Ring;
use pushagent::sampler::Sampler;
use pushagent::slots::{ReportTz, SLOT_MS, SLOT_SECS};
use pushagent_customer::faults::Faults;
use serde_json::Value;

const HOUR_MS: i64 = 3_600_000;
const TICK_MS: u64 = 30_000;

/// One machine, its customer, and the true time (what the wall clock should say).
struct World {
    customer: Customer,
    harness: Harness,
    true_ms: Cell<i64>,
}

impl World {
    fn new() -> World {
        World::starting_at(T0 + 17_000)
    }

    fn starting_at(start: i64) -> World {
        let customer = Customer::start(Faults::default(), 7);
        let harness = Harness::at(start, 40_000)
            .customer(&customer)
            .config(|c| {
                c.sample_interval_secs = TICK_MS / 1000;
                c.verify_days = 1;
            })
            .build();
        harness.nic.with(|n| n.link_bits_per_sec = Some(GBIT));
        World { customer, harness, true_ms: Cell::new(start) }
    }

    /// A fresh agent process: its sampler and its pusher on the state database.
    fn agent(&self) -> (Sampler<'_>, Pusher<'_>) {
        (self.harness.sampler(), self.harness.pusher())
    }

    /// Let `minutes` pass at `bytes_per_sec` outbound, reading and pushing every tick.
    fn run(&self, agent: &mut (Sampler<'_>, Pusher<'_>), minutes: u64, bytes_per_sec: u64) {
        for _ in 0..minutes * 60_000 / TICK_MS {
            self.harness.clock.advance_ms(TICK_MS);
            self.true_ms.set(self.true_ms.get() + TICK_MS as i64);
            self.harness.nic.with(|n| n.send(bytes_per_sec * TICK_MS / 1000, 1_000));
            agent.0.sample(None).expect("sample commits");
            agent.1.step().expect("push step");
            self.assert_nothing_pushed_early();
        }
    }

    /// Power off right after a reading for `off_minutes`, then boot (counters from zero) with
    /// the wall clock `wall_error_ms` off and NTP not yet synchronised.
    fn reboot(&self, off_minutes: i64, wall_error_ms: i64) {
        let off_ms = off_minutes * 60_000;
        self.harness.clock.advance_ms(off_ms as u64);
        self.true_ms.set(self.true_ms.get() + off_ms);
        self.harness.clock.reboot(20_000);
        self.harness.clock.step_wall_ms(wall_error_ms);
        self.harness.clock.set_synced(false);
        self.harness.nic.with(|n| {
            n.boot_id = "boot-2".into();
            n.tx = 0;
            n.rx = 0;
            n.send(200_000_000, 20_000); // the 20 s since boot, before the agent ran
        });
    }

    fn outbox(&self) -> Outbox {
        Outbox::open_existing(&self.harness.config.state_db_path()).expect("outbox")
    }

    fn assert_nothing_pushed_early(&self) {
        for r in self.outbox().list(Some(ReportState::Sent), 100_000).expect("outbox") {
            assert!(
                r.hour_start_ms + HOUR_MS <= self.true_ms.get(),
                "hour {} pushed before its end (true time {})",
                r.flux_hour,
                ReportTz::default().hhmm(self.true_ms.get())
            );
        }
    }

    /// The end of every story: customer == ring for every pushed hour, ring == kernel, no
    /// slot above the link's capacity, and every closed hour pushed.
    fn assert_money_safe(&self) {
        let ring = Ring::open_existing(&self.harness.config.state_db_path()).expect("ring");
        let slots = ring.slots_between(0, i64::MAX / 2).expect("slots");
        let (_, ring_tx) = ring.totals().expect("totals");
        let truth_tx = self.harness.nic.with(|n| n.truth_tx);
        assert_eq!(u128::from(ring_tx), truth_tx, "the ring holds exactly what the kernel counted");
        let capacity = GBIT / 8 * SLOT_SECS as u64;
        for s in &slots {
            assert!(s.counters.tx_bytes <= capacity, "slot above link capacity: {s:?}");
        }
        let reports = self.outbox().list(None, 100_000).expect("outbox");
        assert!(reports.len() >= 3, "hours were built: {reports:?}");
        for r in &reports {
            assert_eq!(r.state, ReportState::Sent, "hour {} not pushed: {:?}", r.flux_hour, r.reason);
        }
        let theirs: BTreeMap<String, Value> = self
            .customer
            .records()
            .into_iter()
            .map(|r| (r["flux_hour"].as_str().unwrap_or("").to_string(), r))
            .collect();
        assert_eq!(theirs.len(), reports.len(), "every built hour once at the customer, nothing else");
        let built_from = reports.iter().map(|r| r.hour_start_ms).min().expect("hours");
        let built_to = reports.iter().map(|r| r.hour_start_ms).max().expect("hours") + HOUR_MS;
        for r in &reports {
            let t = &theirs[&r.flux_hour];
            let their_points: Vec<u64> = (0..12).map(|i| t[format!("v{i}")].as_u64().expect("v")).collect();
            let ring_points: Vec<u64> = (0..12)
                .map(|i| {
                    let start = r.hour_start_ms + i * SLOT_MS;
                    slots.iter().filter(|s| s.slot_start_ms == start).map(|s| s.counters.tx_bytes).sum()
                })
                .collect();
            assert_eq!(
                their_points, ring_points,
                "hour {}: the customer holds what the ring holds",
                r.flux_hour
            );
        }
        // Nothing in the ring before the first built hour, and the unbuilt tail is the open hour.
        assert!(slots.iter().all(|s| s.slot_start_ms >= built_from), "slots before every built hour");
        let tail: Vec<_> = slots.iter().filter(|s| s.slot_start_ms >= built_to).collect();
        assert!(
            tail.iter().all(|s| s.slot_start_ms < built_to + 2 * HOUR_MS),
            "only the last hour or two wait to be built: {tail:?}"
        );
    }
}

#[test]
fn booting_8_hours_ahead_then_stepped_back_by_ntp_pushes_no_future_hour_and_loses_nothing() {
    let w = World::new();
    let mut agent = w.agent();
    w.run(&mut agent, 180, 10_000_000);
    drop(agent);
    // The hardware clock kept local time (UTC+08:00) and the OS took it for UTC.
    w.reboot(10, 8 * HOUR_MS);
    let mut agent = w.agent();
    w.run(&mut agent, 30, 10_000_000);
    w.harness.clock.step_wall_ms(-8 * HOUR_MS);
    w.harness.clock.set_synced(true);
    w.run(&mut agent, 240, 10_000_000);
    w.assert_money_safe();
}

#[test]
fn a_clock_a_day_behind_after_a_reboot_piles_nothing_into_one_slot() {
    let w = World::new();
    let mut agent = w.agent();
    w.run(&mut agent, 120, 100_000_000);
    drop(agent);
    // Dead CMOS battery: the clock comes up a day behind; NTP fixes it 20 minutes later.
    w.reboot(5, -24 * HOUR_MS);
    let mut agent = w.agent();
    w.run(&mut agent, 20, 100_000_000);
    w.harness.clock.step_wall_ms(24 * HOUR_MS);
    w.harness.clock.set_synced(true);
    w.run(&mut agent, 240, 100_000_000);
    w.assert_money_safe();
}

#[test]
fn a_ten_minute_step_back_at_100_mb_per_sec_stays_under_the_link_capacity() {
    let w = World::new();
    let mut agent = w.agent();
    w.run(&mut agent, 125, 100_000_000);
    // NTP finds the clock 10 minutes fast and steps it back (it stays synchronised).
    w.harness.clock.step_wall_ms(-10 * 60_000);
    w.run(&mut agent, 300, 100_000_000);
    w.assert_money_safe();
}

#[test]
fn date_set_a_day_ahead_and_back_builds_no_future_hour() {
    let w = World::new();
    let mut agent = w.agent();
    w.run(&mut agent, 90, 10_000_000);
    // `date -s "+1 day"`: the kernel marks the clock unsynchronised.
    w.harness.clock.step_wall_ms(24 * HOUR_MS);
    w.harness.clock.set_synced(false);
    w.run(&mut agent, 30, 10_000_000);
    // NTP steps it back and synchronises.
    w.harness.clock.step_wall_ms(-24 * HOUR_MS);
    w.harness.clock.set_synced(true);
    w.run(&mut agent, 180, 10_000_000);
    w.assert_money_safe();
}

#[test]
fn unsynchronised_for_30_minutes_after_boot_builds_nothing_until_synchronised() {
    // Booted at 08:40: hour 08 ends while the clock is not synchronised yet.
    let w = World::starting_at(T0 + 40 * 60_000);
    w.harness.clock.set_synced(false);
    let mut agent = w.agent();
    w.run(&mut agent, 30, 10_000_000);
    assert!(w.outbox().list(None, 10).expect("outbox").is_empty(), "nothing built while unsynchronised");
    w.harness.clock.set_synced(true);
    w.run(&mut agent, 240, 10_000_000);
    w.assert_money_safe();
}

#[test]
fn a_pushed_hour_that_the_ring_changes_is_re_pushed_as_a_correction() {
    let w = World::new();
    let mut agent = w.agent();
    w.run(&mut agent, 240, 10_000_000);
    // NTP finds the clock 2 hours fast (beyond the hold) and steps it back: slot time
    // re-anchors and the next readings land in hours already pushed.
    w.harness.clock.step_wall_ms(-2 * HOUR_MS);
    w.run(&mut agent, 240, 10_000_000);
    w.assert_money_safe();
    let corrected: Vec<_> =
        w.outbox().list(None, 1_000).expect("outbox").into_iter().filter(|r| r.version > 1).collect();
    assert!(!corrected.is_empty(), "amended hours went out as version 2");
    let verifications = w.outbox().verifications_since(0).expect("verifications");
    for r in &corrected {
        assert!(
            verifications.iter().any(|v| v.flux_hour == r.flux_hour
                && v.result == "corrected"
                && v.detail.contains("ring changed")),
            "hour {} recorded as a correction with its reason: {verifications:?}",
            r.flux_hour
        );
    }
}

#[test]
fn a_corrected_hour_keeps_the_offsets_it_was_built_with_and_its_history_carries_them() {
    use pushagent::config::Offset;
    use pushagent_proto::offset::apply;
    let mut w = World::new();
    w.harness.config.report.offset_percent = Offset { basis_points: 300 };
    w.harness.config.report.offset_fixed_bytes = 2_000_000;
    let mut agent = w.agent();
    w.run(&mut agent, 240, 10_000_000);
    let built_before: Vec<String> =
        w.outbox().list(None, 1_000).expect("outbox").into_iter().map(|r| r.flux_hour).collect();
    assert!(built_before.len() >= 3, "{built_before:?}");
    // Finance changes the offsets; then NTP steps the clock back 2 hours and late bytes land in
    // hours already pushed: their corrections are no re-price.
    agent.1.config.report.offset_percent = Offset { basis_points: -100 };
    agent.1.config.report.offset_fixed_bytes = -1_000_000;
    w.harness.clock.step_wall_ms(-2 * HOUR_MS);
    w.run(&mut agent, 240, 10_000_000);

    let reports = w.outbox().list(None, 1_000).expect("outbox");
    let corrected: Vec<_> = reports.iter().filter(|r| r.version > 1).collect();
    assert!(!corrected.is_empty(), "amended hours went out as version 2");
    assert!(corrected.iter().all(|r| built_before.contains(&r.flux_hour)), "{corrected:?}");
    assert!(reports.iter().any(|r| !built_before.contains(&r.flux_hour)), "hours built after the change");
    let theirs: BTreeMap<String, Vec<u64>> = w
        .customer
        .records()
        .into_iter()
        .map(|r| {
            let points = (0..12).map(|i| r[format!("v{i}")].as_u64().expect("v")).collect();
            (r["flux_hour"].as_str().unwrap_or("").to_string(), points)
        })
        .collect();
    for r in &reports {
        let (bp, fixed) =
            if built_before.contains(&r.flux_hour) { (300, 2_000_000) } else { (-100, -1_000_000) };
        assert_eq!((r.offset_bp, r.offset_fixed_bytes), (bp, fixed), "hour {} v{}", r.flux_hour, r.version);
        assert_eq!(r.pushed, r.raw.map(|v| apply(v, bp as i32, fixed)), "hour {}", r.flux_hour);
        assert_eq!(theirs[&r.flux_hour], r.pushed.to_vec(), "the customer holds hour {}", r.flux_hour);
    }
    // The history mirrored to the config service says which offsets each attempt pushed with.
    let history = w.outbox().unmirrored_history(10_000).expect("history").batch.pushes;
    for r in &corrected {
        let last = history
            .iter()
            .rfind(|h| h.flux_hour == r.flux_hour && h.version == r.version)
            .unwrap_or_else(|| panic!("no history of hour {} v{}", r.flux_hour, r.version));
        assert_eq!((last.offset_bp, last.offset_fixed_bytes), (300, 2_000_000), "{last:?}");
        assert_eq!(last.pushed_points, last.raw_points.map(|v| apply(v, 300, 2_000_000)));
    }
    assert!(history.iter().any(|h| h.offset_fixed_bytes == -1_000_000), "new hours, new offsets");
}
