//! The push loop's queries cost the same on a year of history as on a month: each one reads
//! only the due rows (checked on the statements the outbox really runs: their plans, and
//! SQLite's count of VM steps), and retention removes only what the service has stored.

use std::sync::{Arc, Mutex};

use rusqlite::trace::{TraceEvent, TraceEventCodes};
use rusqlite::{params, StatementStatus};

use super::Outbox;

const HOUR: i64 = 3600;
const MAC: &str = "0c:c4:7a:10:00:01";
/// "now" of these tests (unix ms): 2026-12-01 00:00 UTC.
const NOW_MS: i64 = 1_796_083_200_000;

/// An outbox with `days` of sent hours before NOW, as a year-old agent leaves it: each hour
/// with one accepted attempt and two verifications, all mirrored; the last `verify_days` (7)
/// still verified daily (the next check tomorrow), older ones done with.
fn outbox_with_history(dir: &tempfile::TempDir, days: i64) -> Outbox {
    let mut outbox = Outbox::open(&dir.path().join("state.sqlite")).expect("open");
    let now = NOW_MS / 1000;
    let tx = outbox.conn.transaction().expect("tx");
    for h in 0..days * 24 {
        let start = now - (days * 24 - h) * HOUR;
        let flux_hour = format!("h{start}");
        let verifying = now - start < 7 * 24 * HOUR;
        let verify_next = verifying.then_some((now + 86_400) * 1000);
        tx.execute(
            "INSERT INTO report (mac, flux_hour, hour_start, raw_points, pushed_points, offset_bp, offset_source,
                direction, slot_flags, missing_slots, version, state, next_attempt_at, created_at, updated_at,
                sent_at, verify_next_at, verify_until)
             VALUES (?1, ?2, ?3, '[1,1,1,1,1,1,1,1,1,1,1,1]', '[1,1,1,1,1,1,1,1,1,1,1,1]', 0, 'global', 'tx', 0, 0,
                1, 'sent', ?4, ?4, ?4, ?4, ?5, ?6)",
            params![MAC, flux_hour, start, (start + HOUR) * 1000, verify_next, (start + 8 * 86_400) * 1000],
        )
        .expect("report");
        tx.execute(
            "INSERT INTO push_attempt (mac, flux_hour, version, at_ms, outcome, message, duration_ms, raw_total,
                pushed_total, mirrored)
             VALUES (?1, ?2, 1, ?3, 'accepted', 'ok', 12, 12, 12, 1)",
            params![MAC, flux_hour, (start + HOUR) * 1000],
        )
        .expect("attempt");
        for at in [start + 2 * HOUR, start + 26 * HOUR] {
            tx.execute(
                "INSERT INTO verification (mac, flux_hour, at_ms, result, detail, version, mirrored)
                 VALUES (?1, ?2, ?3, 'match', 'same', 1, 1)",
                params![MAC, flux_hour, at * 1000],
            )
            .expect("verification");
        }
    }
    tx.commit().expect("commit");
    outbox
}

/// Every statement the closure runs on the outbox's connection: its SQL with the values bound,
/// and the VM steps it took.
fn statements_of(outbox: &mut Outbox, run: impl FnOnce(&mut Outbox)) -> Vec<(String, i32)> {
    let seen: Arc<Mutex<Vec<(String, i32)>>> = Arc::default();
    let sink = seen.clone();
    outbox
        .conn
        .trace_v2(
            TraceEventCodes::SQLITE_TRACE_PROFILE,
            Some(move |e: TraceEvent<'_>| {
                if let TraceEvent::Profile(stmt, _) = e {
                    let sql = stmt.expanded_sql().unwrap_or_else(|| stmt.sql().into_owned());
                    sink.lock().expect("sink").push((sql, stmt.get_status(StatementStatus::VmStep)));
                }
            }),
        )
        .expect("trace");
    run(outbox);
    outbox.conn.trace_v2(TraceEventCodes::empty(), None::<fn(TraceEvent<'_>)>).expect("untrace");
    let out = seen.lock().expect("seen").clone();
    out
}

fn plan_of(outbox: &Outbox, sql: &str) -> Vec<String> {
    outbox
        .conn
        .prepare(&format!("EXPLAIN QUERY PLAN {sql}"))
        .expect("explain")
        .query_map([], |r| r.get::<_, String>(3))
        .expect("plan")
        .collect::<Result<_, _>>()
        .expect("plan rows")
}

/// What the push thread asks after every step, and the service thread every round.
fn scheduler_queries(outbox: &mut Outbox) {
    outbox.earliest_verify_ms().expect("earliest verify");
    outbox.due_for_verify(NOW_MS, 500).expect("due for verify");
    outbox.earliest_pending_ms().expect("earliest pending");
    outbox.due_for_push(NOW_MS, 50).expect("due for push");
    outbox.cursor().expect("cursor");
    outbox.backlog().expect("backlog");
    outbox.unmirrored_history(500).expect("unmirrored");
    // While a push switch is off (each push step) and every heartbeat.
    outbox.waiting_to_send().expect("waiting to send");
    outbox.history_refused().expect("history refused");
    // A report_timezone change asks what is unsettled.
    outbox.unsettled_hours().expect("unsettled hours");
}

#[test]
fn the_push_loops_queries_read_only_due_rows_at_any_age() {
    let (month_dir, year_dir) = (tempfile::tempdir().expect("dir"), tempfile::tempdir().expect("dir"));
    let mut month = outbox_with_history(&month_dir, 30);
    let mut year = outbox_with_history(&year_dir, 365);
    let month_steps = statements_of(&mut month, scheduler_queries);
    let year_steps = statements_of(&mut year, scheduler_queries);
    assert_eq!(month_steps.len(), year_steps.len());
    assert!(month_steps.len() >= 7, "{month_steps:?}");
    for ((sql, small), (_, large)) in month_steps.iter().zip(&year_steps) {
        // 12x the history: the same work (a few steps of slack for a deeper b-tree).
        assert!(*large <= small + small / 10 + 10, "{large} VM steps on a year vs {small} on a month: {sql}");
        let plan = plan_of(&year, sql);
        for step in &plan {
            // A scan of a whole table or index grows with history; a temp b-tree sorts the
            // due rows only.
            // `mirror_refused` holds only the items the service refused, never the history.
            let scans_history = step.starts_with("SCAN ")
                && !step.contains("TEMP B-TREE")
                && !step.starts_with("SCAN mirror_refused")
                // The one row that holds scalar subqueries.
                && step != "SCAN CONSTANT ROW";
            assert!(!scans_history, "{sql}\nplans {step}\nwhole plan: {plan:?}");
        }
    }
}

#[test]
fn retention_removes_only_old_history_the_service_stored() {
    let dir = tempfile::tempdir().expect("dir");
    let mut outbox = outbox_with_history(&dir, 60);
    let now = NOW_MS / 1000;
    let old = |days_ago: i64| format!("h{}", now - days_ago * 86_400);
    let conn = &outbox.conn;
    // Old hours that must stay: pending, held, an attempt the service has not stored, a
    // verification it has not stored, one still being verified, one skipped and not mirrored.
    conn.execute(
        "UPDATE report SET state = 'pending', verify_next_at = NULL WHERE flux_hour = ?1",
        [old(50)],
    )
    .expect("pending");
    conn.execute("UPDATE report SET state = 'held', verify_next_at = NULL WHERE flux_hour = ?1", [old(49)])
        .expect("held");
    conn.execute("UPDATE push_attempt SET mirrored = 0 WHERE flux_hour = ?1", [old(48)]).expect("attempt");
    conn.execute("UPDATE verification SET mirrored = 0 WHERE flux_hour = ?1", [old(47)]).expect("verif");
    conn.execute("UPDATE report SET verify_next_at = ?2 WHERE flux_hour = ?1", params![old(46), NOW_MS])
        .expect("verifying");
    conn.execute("UPDATE report SET state = 'skipped_off' WHERE flux_hour = ?1", [old(45)]).expect("skipped");
    // An old hour held after its corrections failed: kept for the operator.
    conn.execute(
        "UPDATE report SET state = 'correction_failed', verify_next_at = NULL WHERE flux_hour = ?1",
        [old(43)],
    )
    .expect("correction failed");
    // An old hour whose checks ended unverifiable, all stored: it may go, like a sent one.
    let unverifiable = format!("h{}", now - 44 * 86_400 - 3600);
    conn.execute("UPDATE report SET state = 'unverifiable' WHERE flux_hour = ?1", [&unverifiable])
        .expect("unverifiable");
    // One old skipped hour the service stored: it may go.
    conn.execute(
        "UPDATE report SET state = 'skipped_off', skip_mirrored = 1 WHERE flux_hour = ?1",
        [old(44)],
    )
    .expect("skipped, mirrored");

    let count = |o: &Outbox, table: &str| -> i64 {
        o.conn.query_row(&format!("SELECT COUNT(*) FROM {table}"), [], |r| r.get(0)).expect("count")
    };
    let before_ms = NOW_MS - 42 * 86_400_000; // keep 42 days
    let mut pruned = Default::default();
    let statements = statements_of(&mut outbox, |o| pruned = o.prune_history(before_ms).expect("prune"));
    for (sql, _) in &statements {
        // Hour by hour from the oldest; each hour's evidence by its key, never through the
        // `mirrored` indexes (every stored attempt, for every hour: quadratic on a big file).
        for step in plan_of(&outbox, sql) {
            let reads_history = step.starts_with("SCAN ") || step.contains("_unmirrored");
            assert!(!reads_history, "{sql}\nplans {step}");
        }
    }
    let old_hours = 18 * 24; // days 60..42 ago
    assert_eq!(pruned.reports, old_hours - 7, "every old stored hour but the 7 kept");
    assert_eq!(pruned.attempts, pruned.reports);
    assert_eq!(pruned.verifications, 2 * pruned.reports);
    for (days_ago, why) in [
        (50, "pending"),
        (49, "held"),
        (48, "attempt not mirrored"),
        (47, "verification not mirrored"),
        (46, "still verified"),
        (45, "skipped, not mirrored"),
        (43, "correction_failed"),
    ] {
        let kept: i64 = outbox
            .conn
            .query_row("SELECT COUNT(*) FROM report WHERE flux_hour = ?1", [old(days_ago)], |r| r.get(0))
            .expect("kept");
        assert_eq!(kept, 1, "{why}: kept");
    }
    let unverifiable_left: i64 = outbox
        .conn
        .query_row("SELECT COUNT(*) FROM report WHERE flux_hour = ?1", [&unverifiable], |r| r.get(0))
        .expect("unverifiable");
    assert_eq!(unverifiable_left, 0, "an old unverifiable hour, all stored, goes like a sent one");
    let kept_evidence: i64 = outbox
        .conn
        .query_row("SELECT COUNT(*) FROM push_attempt WHERE flux_hour IN (?1, ?2)", [old(48), old(47)], |r| {
            r.get(0)
        })
        .expect("evidence");
    assert_eq!(kept_evidence, 2, "the attempts of kept hours stay with them");
    assert_eq!(count(&outbox, "report"), (60 * 24 - old_hours + 7) as i64);
    // The recent 42 days are all there, with their evidence.
    let recent: i64 = outbox
        .conn
        .query_row("SELECT COUNT(*) FROM report WHERE hour_start >= ?1", [before_ms / 1000], |r| r.get(0))
        .expect("recent");
    assert_eq!(recent, 42 * 24);
    assert_eq!(count(&outbox, "verification"), 2 * count(&outbox, "report"));
    // A second pass finds nothing more.
    assert_eq!(outbox.prune_history(before_ms).expect("again"), Default::default());
}
