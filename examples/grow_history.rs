//! Benchmark helper: a state database as an agent of the previous release (schema 7, no
//! outbox retention) leaves it after DAYS days on one MAC: the ring's last `retention_days`
//! (35) of closed 5-minute slots, and every hour since the start in the outbox — sent, one
//! accepted attempt, its verifications (the first within 2 h, then daily for `verify_days`,
//! 7), all stored by the config service (mirrored). Hours of the last 7 days are still being
//! verified, next in 20 hours (nothing falls due during a benchmark). The build cursor is at
//! the current hour: nothing to build before the next hour ends.
//!
//!     cargo run --release --example grow_history -- STATE_DB DAYS MAC

use rusqlite::{params, Connection};

/// The previous release's migrations, applied as it applied them.
const OLD_SCHEMA: &[&str] = &[
    include_str!("../src/statedb/migrations/0001_ring.sql"),
    include_str!("../src/statedb/migrations/0002_outbox.sql"),
    include_str!("../src/statedb/migrations/0003_history_mirror.sql"),
    include_str!("../src/statedb/migrations/0004_skipped_mirror.sql"),
    include_str!("../src/statedb/migrations/0005_request_sequence.sql"),
    include_str!("../src/statedb/migrations/0006_clock.sql"),
    include_str!("../src/statedb/migrations/0007_slot_switch.sql"),
];
const HOUR: i64 = 3600;
const DAY: i64 = 86_400;
const RING_DAYS: i64 = 35;
const VERIFY_DAYS: i64 = 7;

fn main() -> Result<(), String> {
    let args: Vec<String> = std::env::args().collect();
    let [_, path, days, mac] = args.as_slice() else {
        return Err("usage: grow_history STATE_DB DAYS MAC".into());
    };
    let days: i64 = days.parse().map_err(|e| format!("DAYS: {e}"))?;
    grow(std::path::Path::new(path), days, mac).map_err(|e| e.to_string())?;
    println!("{path}: {days} days of history for {mac}");
    Ok(())
}

fn grow(path: &std::path::Path, days: i64, mac: &str) -> rusqlite::Result<()> {
    let mut conn = Connection::open(path)?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    for (i, sql) in OLD_SCHEMA.iter().enumerate() {
        let tx = conn.transaction()?;
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", i as i64 + 1)?;
        tx.commit()?;
    }
    let now = chrono::Utc::now().timestamp();
    let this_hour = now - now.rem_euclid(HOUR); // UTC+08:00 hours start on UTC hours too
    let tx = conn.transaction()?;
    // The ring first: its triggers see no cursor yet, so no slot counts as changed.
    for s in (this_hour - RING_DAYS.min(days) * DAY) / 300..this_hour / 300 {
        let tx_bytes = 40_000_000 + (s % 97) * 100_000;
        tx.prepare_cached(
            "INSERT INTO slot (mac, slot_start, ifname, rx_bytes, tx_bytes, rx_packets, tx_packets, covered_ms,
                samples, flags, closed, push_switch)
             VALUES (?1, ?2, 'eth0', ?3, ?4, ?5, ?6, 300000, 30, 0, 1, 1)",
        )?
        .execute(params![mac, s * 300, tx_bytes / 3, tx_bytes, tx_bytes / 1200, tx_bytes / 1400])?;
    }
    for h in 0..days * 24 {
        let start = this_hour - (days * 24 - h) * HOUR;
        let flux_hour = chrono::DateTime::from_timestamp(start + 8 * HOUR, 0)
            .map(|t| t.format("%Y%m%d%H").to_string())
            .unwrap_or_default();
        let points: Vec<i64> = (0..12).map(|i| 40_000_000 + ((start / 300 + i) % 97) * 100_000).collect();
        let points = serde_json::to_string(&points).unwrap_or_default();
        let sent_ms = (start + HOUR + 120) * 1000;
        let age_days = (now - start) / DAY;
        let verifying = age_days < VERIFY_DAYS;
        let verify_next = verifying.then_some((now + 20 * HOUR) * 1000);
        tx.prepare_cached(
            "INSERT INTO report (mac, flux_hour, hour_start, raw_points, pushed_points, offset_bp, offset_source,
                direction, slot_flags, missing_slots, version, state, next_attempt_at, created_at, updated_at,
                sent_at, verify_next_at, verify_until, verify_result, attempts)
             VALUES (?1, ?2, ?3, ?4, ?4, 0, 'global', 'tx', 0, 0, 1, 'sent', ?5, ?5, ?5, ?5, ?6, ?7, 'match', 1)",
        )?
        .execute(params![mac, flux_hour, start, points, sent_ms, verify_next, (start + HOUR + VERIFY_DAYS * DAY) * 1000])?;
        tx.prepare_cached(
            "INSERT INTO push_attempt (mac, flux_hour, version, at_ms, http_status, code, outcome, message,
                duration_ms, raw_total, pushed_total, raw_points, pushed_points, offset_bp, mirrored)
             VALUES (?1, ?2, 1, ?3, 200, 0, 'accepted', 'ok', 35, 0, 0, ?4, ?4, 0, 1)",
        )?
        .execute(params![mac, flux_hour, sent_ms, points])?;
        for check in 0..VERIFY_DAYS.min(age_days + 1) {
            tx.prepare_cached(
                "INSERT INTO verification (mac, flux_hour, at_ms, result, detail, version, mirrored)
                 VALUES (?1, ?2, ?3, 'match', 'customer holds version 1 with our values', 1, 1)",
            )?
            .execute(params![mac, flux_hour, sent_ms + (3600 + check * DAY) * 1000])?;
        }
    }
    tx.execute("INSERT INTO push_cursor (id, next_hour) VALUES (1, ?1)", [this_hour])?;
    tx.execute("DELETE FROM slot_changed", [])?;
    tx.commit()?;
    conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE)")?;
    Ok(())
}
