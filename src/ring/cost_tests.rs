//! A reading costs the same on a full ring (35 days of closed slots) as on a new one: it
//! touches the open slots only (checked on the statements `apply` runs: SQLite's VM steps).

use std::sync::{Arc, Mutex};

use rusqlite::trace::{TraceEvent, TraceEventCodes};
use rusqlite::StatementStatus;

use super::Ring;
use crate::netif::IfCounters;
use crate::source::SourceReading;
use crate::tally::{self, Reading, TallyConfig};

const MAC: &str = "0c:c4:7a:10:00:01";
/// 2026-12-01 00:00:05 UTC, unix ms.
const T_MS: i64 = 1_796_083_205_000;

fn reading(wall_ms: i64, tx_bytes: u64) -> Reading {
    Reading {
        source: SourceReading {
            boot_id: "boot".into(),
            ifname: "eth0".into(),
            ifindex: 2,
            mac: MAC.into(),
            counters: IfCounters { tx_bytes, rx_bytes: tx_bytes / 3, ..Default::default() },
            link_bits_per_sec: Some(1_000_000_000),
        },
        wall_ms,
        boot_ms: (wall_ms - T_MS) as u64 + 1_000_000,
        clock_synced: true,
        push_on: None,
    }
}

/// From now on, the VM steps of every statement the ring's connection runs, summed.
fn count_vm_steps(ring: &mut Ring) -> Arc<Mutex<i64>> {
    let seen: Arc<Mutex<i64>> = Arc::default();
    let sink = seen.clone();
    ring.conn
        .trace_v2(
            TraceEventCodes::SQLITE_TRACE_PROFILE,
            Some(move |e: TraceEvent<'_>| {
                if let TraceEvent::Profile(stmt, _) = e {
                    *sink.lock().expect("sink") += i64::from(stmt.get_status(StatementStatus::VmStep));
                }
            }),
        )
        .expect("trace");
    seen
}

/// VM steps of the statements of the readings' commits, on a ring holding `days` of closed
/// slots before T: a baseline at T, then a reading every 10 s for two minutes.
fn steps_of_a_reading(days: i64) -> i64 {
    let dir = tempfile::tempdir().expect("dir");
    let (mut ring, _) = Ring::open(&dir.path().join("state.sqlite")).expect("ring");
    let first_slot = T_MS / 1000 - T_MS / 1000 % 300;
    let tx = ring.conn.transaction().expect("tx");
    for s in 1..=days * 288 {
        tx.execute(
            "INSERT INTO slot (mac, slot_start, ifname, tx_bytes, covered_ms, samples, closed)
             VALUES (?1, ?2, 'eth0', 1000, 300000, 30, 1)",
            rusqlite::params![MAC, first_slot - s * 300],
        )
        .expect("slot");
    }
    tx.commit().expect("commit");
    let config = TallyConfig::default();
    let mut last = None;
    let mut steps = 0;
    for i in 0..12 {
        let observation =
            tally::observe(last.as_ref(), reading(T_MS + i * 10_000, 1_000 * i as u64), &config);
        // Cumulative per cached statement over the readings so far: both rings get the same
        // readings, so the totals compare.
        let seen = count_vm_steps(&mut ring);
        ring.apply(&observation).expect("apply");
        steps = *seen.lock().expect("seen");
        last = Some(observation.last);
    }
    steps
}

#[test]
fn a_reading_on_a_full_ring_costs_what_it_costs_on_a_new_one() {
    let (new, full) = (steps_of_a_reading(1), steps_of_a_reading(35));
    assert!(
        full <= new + new / 10 + 20,
        "{full} VM steps for 12 readings with 35 days of slots, {new} with 1 day"
    );
}

/// VM steps of the hourly prune of a ring holding 36 days of closed slots (a day past a
/// 35-day retention) beside an outbox of `history_days` sent hours, as the sampler runs it.
fn steps_of_a_prune(history_days: i64) -> (i64, usize) {
    let dir = tempfile::tempdir().expect("dir");
    let (mut ring, _) = Ring::open(&dir.path().join("state.sqlite")).expect("ring");
    let now = T_MS / 1000 - T_MS / 1000 % 3600;
    let tx = ring.conn.transaction().expect("tx");
    for s in 1..=36 * 288 {
        tx.execute(
            "INSERT INTO slot (mac, slot_start, ifname, tx_bytes, covered_ms, samples, closed)
             VALUES (?1, ?2, 'eth0', 1000, 300000, 30, 1)",
            rusqlite::params![MAC, now - s * 300],
        )
        .expect("slot");
    }
    for h in 1..=history_days * 24 {
        let start = now - h * 3600;
        tx.execute(
            "INSERT INTO report (mac, flux_hour, hour_start, raw_points, pushed_points, offset_bp, offset_source,
                direction, slot_flags, missing_slots, version, state, next_attempt_at, created_at, updated_at)
             VALUES (?1, ?2, ?3, '[]', '[]', 0, 'global', 'tx', 0, 0, 1, 'sent', 0, 0, 0)",
            rusqlite::params![MAC, format!("h{start}"), start],
        )
        .expect("report");
    }
    tx.execute("INSERT INTO push_cursor (id, next_hour) VALUES (1, ?1)", [now]).expect("cursor");
    tx.commit().expect("commit");
    let seen = count_vm_steps(&mut ring);
    let pruned = ring.prune((now - 35 * 86_400) * 1000).expect("prune");
    let steps = *seen.lock().expect("seen");
    (steps, pruned.removed)
}

/// The sampler prunes the ring every hour. Each old slot asks whether a pending or held report
/// covers it: that question must read the few such reports, never every report of the MAC (a
/// 10-year outbox made each hourly prune cost 130 ms).
#[test]
fn the_hourly_prune_costs_the_same_beside_any_age_of_history() {
    let ((month, removed_month), (decade, removed_decade)) = (steps_of_a_prune(30), steps_of_a_prune(3650));
    assert_eq!(removed_month, 288);
    assert_eq!(removed_decade, 288);
    assert!(
        decade <= month + month / 10 + 20,
        "{decade} VM steps to prune a day of slots beside 10 years of reports, {month} beside 30 days"
    );
}
