//! Synthetic counter traces driven by a simulated clock: every byte the fake kernel counted
//! must land in exactly one slot of the real ring, whatever happens between readings.

mod common;

use std::sync::{Arc, Mutex};

use common::{FakeNic, SharedNic, GBIT, T0};

const MAC: &str = "52:54:00:12:34:56";
use pushagent::clock::{Clock, SimClock};
use pushagent::config::{BilledDirection, ReportSettings};
use pushagent::delta::CounterBits;
use pushagent::netif::{IfCounters, NetifError};
use pushagent::push::outbox::Outbox;
use pushagent::push::report::{self, BuildRules, ReportState};
use pushagent::ring::{Ring, SlotRow};
use pushagent::sampler::Sampler;
use pushagent::shutdown::Shutdown;
use pushagent::slots::{ReportTz, SLOT_MS};
use pushagent::source::{CounterSource, SourceReading};
use pushagent::tally::{flag, TallyConfig};

struct Harness {
    dir: tempfile::TempDir,
    clock: SimClock,
    nic: SharedNic,
    tally: TallyConfig,
}

impl Harness {
    fn new() -> Self {
        Harness {
            dir: tempfile::tempdir().expect("tempdir"),
            clock: SimClock::new(T0 + 123_456, 50_000_000),
            nic: SharedNic(Arc::new(Mutex::new(FakeNic::new()))),
            tally: TallyConfig::default(),
        }
    }

    fn ring_path(&self) -> std::path::PathBuf {
        self.dir.path().join("ring.sqlite")
    }

    /// A fresh agent process on the same ring (as after a restart).
    fn agent(&self) -> Sampler<'_> {
        let (ring, notice) = Ring::open(&self.ring_path()).expect("ring opens");
        assert!(notice.is_none());
        Sampler::new(
            &self.clock,
            Box::new(self.nic.clone()),
            ring,
            self.tally,
            ReportTz::default(),
            35,
            Shutdown::new(),
        )
        .expect("sampler")
    }

    /// Let `secs` pass with traffic at a constant rate, reading every `step_ms`.
    fn run(&self, agent: &mut Sampler<'_>, secs: u64, step_ms: u64, tx_per_sec: u64, rx_per_sec: u64) {
        let mut left = secs * 1000;
        while left > 0 {
            let step = step_ms.min(left);
            self.clock.advance_ms(step);
            self.nic.with(|n| n.send(tx_per_sec * step / 1000, rx_per_sec * step / 1000));
            agent.sample(None).expect("sample commits");
            left -= step;
        }
    }

    fn slots(&self) -> Vec<SlotRow> {
        Ring::open_existing(&self.ring_path()).expect("ring").slots_between(0, i64::MAX / 2).expect("slots")
    }

    fn assert_conserved(&self) {
        let (rx, tx) = Ring::open_existing(&self.ring_path()).expect("ring").totals().expect("totals");
        let (truth_rx, truth_tx) = self.nic.with(|n| (n.truth_rx, n.truth_tx));
        assert_eq!(u128::from(tx), truth_tx, "tx bytes conserved");
        assert_eq!(u128::from(rx), truth_rx, "rx bytes conserved");
    }
}

#[test]
fn steady_traffic_lands_in_the_right_slots() {
    let h = Harness::new();
    let mut agent = h.agent();
    h.run(&mut agent, 3600, 10_000, 1_000_000, 2_000);
    h.assert_conserved();
    let slots = h.slots();
    let full: Vec<&SlotRow> = slots.iter().filter(|s| s.flags == 0 && s.closed).collect();
    assert!(full.len() >= 10, "{slots:#?}");
    for s in full {
        assert_eq!(s.counters.tx_bytes, 300_000_000, "a full slot holds 300 s of traffic");
    }
    assert_ne!(slots[0].flags & flag::PARTIAL, 0, "the slot the agent started in is partial");
}

#[test]
fn a_real_32_bit_wrap_adds_exactly_what_passed() {
    let mut h = Harness::new();
    h.tally.counter_bits = CounterBits::Bits32;
    h.nic.with(|n| {
        n.wraps_at_32_bits = true;
        n.link_bits_per_sec = Some(GBIT);
        n.tx = (1 << 32) - 3_000_000_000;
    });
    let mut agent = h.agent();
    // 100 MB/s on a 1 Gbit/s link: the 32-bit counter wraps every ~43 s.
    h.run(&mut agent, 1800, 10_000, 100_000_000, 100_000_000);
    h.assert_conserved();
    assert!(h.slots().iter().any(|s| s.flags & flag::WRAP != 0));
}

#[test]
fn a_reset_from_3_9_gib_to_1_kib_is_not_taken_for_a_wrap() {
    let h = Harness::new();
    h.nic.with(|n| {
        n.link_bits_per_sec = Some(GBIT);
        n.tx = 3_900 * 1024 * 1024 * 1024 / 1000;
    });
    let mut agent = h.agent();
    h.run(&mut agent, 600, 10_000, 50_000, 50_000);
    // The driver resets its statistics (same boot, same ifindex): the counter restarts.
    h.nic.with(|n| {
        n.tx = 0;
        n.rx = 0;
        n.send(1024, 1024);
    });
    h.run(&mut agent, 600, 10_000, 50_000, 50_000);
    h.assert_conserved();
    let slots = h.slots();
    assert!(slots.iter().any(|s| s.flags & flag::RESET != 0));
    assert!(slots.iter().all(|s| s.counters.tx_bytes < 1 << 30), "no +4 GiB slot: {slots:#?}");
}

#[test]
fn a_64_bit_counter_dropping_from_4_2_gb_to_1000_after_10_mb_per_sec_counts_1000() {
    // A real veth with bind-mounted counters: 4,200,000,000 -> 1,000 right after a 10 MB/s
    // interval. By rate it could be a 32-bit wrap (+94,968,296), but sysfs counters are 64-bit.
    let h = Harness::new();
    h.nic.with(|n| {
        n.link_bits_per_sec = Some(GBIT);
        n.tx = 4_200_000_000 - 600_000_000;
    });
    let mut agent = h.agent();
    h.run(&mut agent, 60, 10_000, 10_000_000, 10_000_000);
    assert_eq!(h.nic.with(|n| n.tx), 4_200_000_000);
    h.clock.advance_ms(10_000);
    h.nic.with(|n| {
        n.tx = 0;
        n.rx = 0;
        n.send(1_000, 1_000);
    });
    let (_, tx_before) = Ring::open_existing(&h.ring_path()).expect("ring").totals().expect("totals");
    agent.sample(None).expect("sample");
    let (_, tx_after) = Ring::open_existing(&h.ring_path()).expect("ring").totals().expect("totals");
    assert_eq!(tx_after - tx_before, 1_000, "a reset counts +1,000, not a +95 MB wrap");
    h.assert_conserved();
    assert!(h.slots().iter().all(|s| s.flags & flag::WRAP == 0));
}

#[test]
fn a_true_32_bit_wrap_counts_5001_under_the_32_bit_setting() {
    let mut h = Harness::new();
    h.tally.counter_bits = CounterBits::Bits32;
    h.nic.with(|n| {
        n.wraps_at_32_bits = true;
        n.link_bits_per_sec = Some(GBIT);
        n.tx = (1 << 32) - 4_000;
    });
    let mut agent = h.agent();
    agent.sample(None).expect("baseline");
    h.clock.advance_ms(10_000);
    h.nic.with(|n| n.send(5_001, 0));
    assert_eq!(h.nic.with(|n| n.tx), 1_001);
    agent.sample(None).expect("sample");
    let (_, tx) = Ring::open_existing(&h.ring_path()).expect("ring").totals().expect("totals");
    assert_eq!(tx, 5_001);
    assert!(h.slots().iter().any(|s| s.flags & flag::WRAP != 0));
}

#[test]
fn reboot_counts_the_new_counter_from_zero() {
    let h = Harness::new();
    let mut agent = h.agent();
    h.run(&mut agent, 900, 10_000, 1_000_000, 1_000_000);
    drop(agent); // power off right after a reading: nothing in flight
    h.clock.advance_ms(120_000);
    h.clock.reboot(30_000);
    h.nic.with(|n| {
        n.boot_id = "boot-2".into();
        n.ifindex = 3;
        n.tx = 0;
        n.rx = 0;
        n.send(30_000_000, 30_000); // traffic during the 30 s since boot, before the agent ran
    });
    let mut agent = h.agent();
    h.run(&mut agent, 900, 10_000, 1_000_000, 1_000_000);
    h.assert_conserved();
}

#[test]
fn re_created_interface_counts_from_zero() {
    let h = Harness::new();
    let mut agent = h.agent();
    h.run(&mut agent, 300, 10_000, 1_000, 1_000);
    h.nic.with(|n| n.present = false);
    h.run(&mut agent, 60, 10_000, 0, 0);
    h.nic.with(|n| {
        n.present = true;
        n.ifindex = 9;
        n.tx = 0;
        n.rx = 0;
        n.send(777, 555);
    });
    h.run(&mut agent, 300, 10_000, 1_000, 1_000);
    h.assert_conserved();
    assert!(h.slots().iter().any(|s| s.flags & flag::RESET != 0));
}

#[test]
fn agent_restart_after_47_minutes_spreads_the_gap_and_loses_nothing() {
    let h = Harness::new();
    let mut agent = h.agent();
    h.run(&mut agent, 600, 10_000, 1_000_000, 1_000);
    drop(agent); // kill -9: no clean stop recorded
                 // 47 minutes without an agent, traffic going on.
    h.clock.advance_ms(47 * 60_000);
    // Odd totals: integer splitting must not lose the remainder.
    h.nic.with(|n| n.send(47 * 60 * 1_000_000 + 7, 47 * 60 * 1_000 + 11));
    let mut agent = h.agent();
    h.run(&mut agent, 600, 10_000, 1_000_000, 1_000);
    h.assert_conserved();
    let gap_slots: Vec<SlotRow> = h.slots().into_iter().filter(|s| s.flags & flag::GAP != 0).collect();
    assert!(gap_slots.len() >= 9, "47 minutes cover at least 9 slots: {}", gap_slots.len());
    // Whole slots inside the gap hold exactly 300 s at the average rate.
    for s in gap_slots.iter().filter(|s| s.covered_ms == SLOT_MS) {
        assert!(s.counters.tx_bytes.abs_diff(300_000_000) <= 1, "{s:?}");
    }
}

#[test]
fn wall_clock_steps_forward_1h_and_back_10min_without_losing_or_doubling() {
    let h = Harness::new();
    let mut agent = h.agent();
    h.run(&mut agent, 900, 10_000, 1_000_000, 1_000);
    let before_step: Vec<SlotRow> = h.slots().into_iter().filter(|s| s.closed).collect();
    h.clock.step_wall_ms(3_600_000);
    h.run(&mut agent, 900, 10_000, 1_000_000, 1_000);
    h.clock.step_wall_ms(-600_000);
    h.run(&mut agent, 1800, 10_000, 1_000_000, 1_000);
    h.assert_conserved();
    // Closed slots never change: the step back did not re-open them.
    let after = h.slots();
    for old in before_step {
        let now = after.iter().find(|s| s.slot_start_ms == old.slot_start_ms).expect("slot kept");
        assert_eq!(now.counters, old.counters);
    }
    assert!(after.iter().any(|s| s.flags & flag::CLOCK_STEP != 0));
    assert!(after.iter().all(|s| s.flags & flag::AMENDED == 0));
}

#[test]
fn sampling_jitter_changes_nothing_but_the_edges() {
    let h = Harness::new();
    let mut agent = h.agent();
    // Readings 7..13 s apart, deterministic pseudo-random.
    let mut seed: u64 = 42;
    for _ in 0..1000 {
        seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        let step = 7_000 + (seed >> 33) % 6_001;
        h.clock.advance_ms(step);
        h.nic.with(|n| n.send(step * 1_000, step));
        agent.sample(None).expect("sample");
    }
    h.assert_conserved();
    for s in h.slots().iter().filter(|s| s.closed && s.flags == 0) {
        // Constant 1 MB/s: proportional splitting puts exactly 300 s worth in every full slot.
        assert_eq!(s.counters.tx_bytes, 300_000_000, "{s:?}");
    }
}

#[test]
fn a_day_at_100_gbit_per_sec_does_not_overflow() {
    let h = Harness::new();
    h.nic.with(|n| {
        n.link_bits_per_sec = Some(100 * GBIT);
        n.tx = u64::MAX / 2;
    });
    let mut agent = h.agent();
    h.run(&mut agent, 86_400, 60_000, 12_500_000_000, 12_500_000_000);
    h.assert_conserved();
    let slots = h.slots();
    assert!(slots.len() >= 288);
    assert!(slots
        .iter()
        .filter(|s| s.closed && s.flags == 0)
        .all(|s| s.counters.tx_bytes == 3_750_000_000_000));
}

#[test]
fn the_run_loop_reads_exactly_on_every_boundary() {
    let h = Harness::new();
    let shutdown = Shutdown::new();
    // A source whose counters grow with simulated time and that ends the run after 3 hours.
    struct Timed<'a> {
        clock: &'a SimClock,
        shutdown: Shutdown,
        end_ms: i64,
    }
    impl CounterSource for Timed<'_> {
        fn read(&mut self) -> Result<SourceReading, NetifError> {
            if self.clock.wall_ms() >= self.end_ms {
                self.shutdown.request();
            }
            let ms = self.clock.boot_ms();
            Ok(SourceReading {
                boot_id: "b".into(),
                ifname: "eth0".into(),
                ifindex: 2,
                mac: "52:54:00:00:00:01".into(),
                counters: IfCounters { tx_bytes: ms * 1000, rx_bytes: ms, ..Default::default() },
                link_bits_per_sec: Some(GBIT),
            })
        }
    }
    let source = Timed { clock: &h.clock, shutdown: shutdown.clone(), end_ms: T0 + 3 * 3_600_000 + 200_000 };
    let (ring, _) = Ring::open(&h.ring_path()).expect("ring");
    let mut sampler =
        Sampler::new(&h.clock, Box::new(source), ring, h.tally, ReportTz::default(), 35, shutdown)
            .expect("sampler");
    sampler.run().expect("runs");
    let slots = h.slots();
    let full: Vec<&SlotRow> = slots.iter().filter(|s| s.closed && s.flags == 0).collect();
    assert_eq!(full.len(), 35, "every whole slot of 3 hours");
    for s in &full {
        assert_eq!(s.counters.tx_bytes, 300_000_000, "1 MB/s × 300 s exactly: {s:?}");
        assert_eq!(s.samples, 30, "a reading every 10 s, the last on the boundary");
        assert_eq!(s.slot_start_ms % SLOT_MS, 0);
    }
    let last = slots.last().expect("slots");
    assert_ne!(last.flags & flag::PARTIAL, 0, "the slot the agent stopped in is partial");
}

#[test]
fn a_corrupt_ring_is_moved_aside_not_overwritten() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("ring.sqlite");
    std::fs::write(&path, b"this is not a sqlite database, but somebody's data".repeat(100)).expect("write");
    let (_ring, notice) = Ring::open(&path).expect("a fresh ring replaces it");
    let notice = notice.expect("the corruption is reported").to_string();
    assert!(notice.contains("corrupt") && notice.contains("moved aside"), "{notice}");
    let moved: Vec<_> = std::fs::read_dir(dir.path())
        .expect("dir")
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().contains(".corrupt-"))
        .collect();
    assert_eq!(moved.len(), 1);
    let kept = std::fs::read(moved[0].path()).expect("read");
    assert!(kept.starts_with(b"this is not a sqlite database"));
}

#[test]
fn slots_older_than_the_retention_are_pruned_and_nothing_else() {
    let h = Harness::new();
    let mut agent = h.agent();
    h.run(&mut agent, 3 * 3600, 60_000, 1_000, 1_000);
    let (mut ring, _) = Ring::open(&h.ring_path()).expect("ring");
    let cutoff = T0 + 2 * 3_600_000;
    let before = h.slots();
    let old = before.iter().filter(|s| s.slot_start_ms < cutoff).count();
    // Nothing built yet: old slots are kept (never pushed as zeros), and said so.
    let pruned = ring.prune(cutoff).expect("prune");
    assert_eq!((pruned.removed, pruned.kept_unbuilt), (0, old));
    // Hours 08:00 and 09:00 built; 08:00 still pending at the customer: only 09:00 goes.
    let mut outbox = Outbox::open_existing(&h.ring_path()).expect("outbox");
    let rules = BuildRules::from_settings(BilledDirection::Tx, &ReportSettings::default(), true, Some(GBIT));
    let pending = report::build(MAC, T0, &before, &ReportTz::default(), &rules);
    assert_eq!(pending.state, ReportState::Pending);
    outbox.commit_hour(&[pending], cutoff, T0 + 3 * 3_600_000).expect("commit");
    let pruned = ring.prune(cutoff).expect("prune");
    let after = h.slots();
    let first_hour = before.iter().filter(|s| s.slot_start_ms < T0 + 3_600_000).count();
    assert_eq!(pruned.removed, old - first_hour);
    assert_eq!(pruned.kept_unbuilt, first_hour);
    assert!(pruned.removed >= 11);
    assert!(after.iter().all(|s| s.slot_start_ms >= cutoff || s.slot_start_ms < T0 + 3_600_000));
    assert_eq!(after.len(), before.len() - pruned.removed);
}

#[test]
fn a_reading_that_cannot_be_committed_is_carried_by_the_next_one() {
    let h = Harness::new();
    let mut agent = h.agent();
    h.run(&mut agent, 60, 10_000, 1_000_000, 1_000);
    // Another process holds the database locked past the busy timeout: the commit fails.
    let blocker = rusqlite::Connection::open(h.ring_path()).expect("open");
    blocker.execute_batch("BEGIN EXCLUSIVE").expect("lock");
    h.clock.advance_ms(10_000);
    h.nic.with(|n| n.send(10_000_000, 10_000));
    assert!(agent.sample(None).is_err(), "the commit could not happen");
    blocker.execute_batch("COMMIT").expect("unlock");
    h.run(&mut agent, 60, 10_000, 1_000_000, 1_000);
    h.assert_conserved();
}
