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
        let seen: Arc<Mutex<i64>> = Arc::default();
        let sink = seen.clone();
        ring.conn
            .trace_v2(
                TraceEventCodes::SQLITE_TRACE_PROFILE,
                Some(move |e: TraceEvent<'_>| {
                    if let TraceEvent::Profile(stmt, _) = e {
                        // Cumulative per cached statement over the readings so far: both
                        // rings get the same readings, so the totals compare.
                        *sink.lock().expect("sink") += i64::from(stmt.get_status(StatementStatus::VmStep));
                    }
                }),
            )
            .expect("trace");
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
