//! What the console's overview and machine drawer show, computed by the service: exact fleet
//! counts, agents by version, the last 24 hours' push outcomes, hourly traffic of the fleet
//! and of one machine (the latest successful attempt of each MAC and hour counts once), a
//! machine's MAC history and its verification results.

#![allow(clippy::unwrap_used)]

mod support;

use pushagent_proto::agent::{HistoryItem, PushStatus, HEARTBEAT_PATH, HISTORY_PATH};
use serde_json::{json, Value};
use support::{heartbeat, register_body, Server, T0};

/// T0 is 2025-11-25 00:00 in UTC+08:00; "now" is half an hour later, so the last 24 closed
/// report hours are 2025112400 ..= 2025112423.
const NOW: i64 = T0 + 1800;
const MAC_A: &str = "aa:bb:cc:00:00:01";
const MAC_A2: &str = "aa:bb:cc:00:00:99";
const MAC_B: &str = "aa:bb:cc:00:00:02";
const MAC_C: &str = "aa:bb:cc:00:00:03";

#[allow(clippy::too_many_arguments)]
fn attempt(
    mac: &str,
    flux_hour: &str,
    version: u32,
    attempt: u32,
    ok: bool,
    raw_bytes: u64,
    pushed_bytes: u64,
    attempted_at: i64,
) -> HistoryItem {
    HistoryItem {
        mac: mac.into(),
        flux_hour: flux_hour.into(),
        version,
        attempt,
        raw_bytes,
        pushed_bytes,
        raw_points: last_point(raw_bytes),
        pushed_points: last_point(pushed_bytes),
        offset_bp: 0,
        offset_fixed_bytes: 0,
        off_slots: 0,
        status: if ok { PushStatus::Success } else { PushStatus::Failure },
        http_status: Some(if ok { 200 } else { 503 }),
        code: None,
        message: (!ok).then(|| "HTTP 503".to_owned()),
        attempted_at,
    }
}

/// Points that sum to `bytes` (the service checks it).
fn last_point(bytes: u64) -> [u64; 12] {
    let mut points = [0; 12];
    points[11] = bytes;
    points
}

fn post_history(server: &Server, token: &str, batch: Value) {
    let (status, answer) = server.send("POST", HISTORY_PATH, &batch, Some(token));
    assert_eq!(status, 200, "{answer}");
}

struct Fleet {
    server: Server,
    a: (String, i64),
    b: (String, i64),
    c: (String, i64),
    _dir: tempfile::TempDir,
}

/// Three machines: A (0.1.0, online, changes its MAC), B (0.1.0, online, under acceptance),
/// C (0.0.9, last seen two hours ago: offline; switched off); known push history around the
/// 24-hour window's edges.
fn fleet() -> Fleet {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    server.clock.set(T0 - 7200);
    let mut body = register_body("m-c", "db-c", MAC_C);
    body["agent_version"] = json!("0.0.9");
    let (status, answer) = server.send("POST", pushagent_proto::agent::REGISTER_PATH, &body, None);
    assert_eq!(status, 200, "{answer}");
    let c = (
        answer["agent_token"].as_str().unwrap().to_owned(),
        answer["machine_id"].as_str().unwrap().parse().unwrap(),
    );
    server.clock.set(T0);
    let a = server.register("m-a", "web-a", MAC_A);
    let b = server.register("m-b", "web-b", MAC_B);
    server.clock.set(NOW);
    for (id, patch) in
        [(c.1, json!({ "push_enabled": false })), (b.1, json!({ "acceptance": "under_acceptance" }))]
    {
        let (status, answer) = server.admin_send("PATCH", &format!("/api/machines/{id}/config"), &patch);
        assert_eq!(status, 200, "{answer}");
    }
    let day_ago = NOW - 86_400;
    post_history(
        &server,
        &a.0,
        json!({
            "pushes": [
                // Just before the window: counted nowhere in the last 24 hours.
                attempt(MAC_A, "2025112323", 1, 1, true, 7000, 7777, day_ago - 1),
                // The window's first hour.
                attempt(MAC_A, "2025112400", 1, 1, true, 500, 500, day_ago),
                // v1 succeeded, its re-push v2 failed: the customer holds v1.
                attempt(MAC_A, "2025112421", 1, 1, true, 290, 300, NOW - 7000),
                attempt(MAC_A, "2025112421", 2, 1, false, 280, 999, NOW - 6000),
                // A failure, then the success.
                attempt(MAC_A, "2025112422", 1, 1, false, 1200, 1236, NOW - 5000),
                attempt(MAC_A, "2025112422", 1, 2, true, 1200, 1236, NOW - 4000),
                // v2 corrected v1: only v2 counts.
                attempt(MAC_A, "2025112423", 1, 1, true, 900, 1000, NOW - 1700),
                attempt(MAC_A, "2025112423", 2, 1, true, 1000, 1100, NOW - 60),
                // The hour in progress is not a closed hour.
                attempt(MAC_A, "2025112500", 1, 1, true, 4000, 4444, NOW - 10),
            ],
            "held": [
                { "mac": MAC_A, "flux_hour": "2025112420", "reason": "v3 over link speed", "held_at": NOW - 3000 },
                { "mac": MAC_A, "flux_hour": "2025112319", "reason": "v0 over link speed", "held_at": day_ago - 1 },
            ],
            "verifications": [
                { "mac": MAC_A, "flux_hour": "2025112422", "version": 1, "matched": true, "corrected": false, "verified_at": NOW - 900, "message": null },
                { "mac": MAC_A, "flux_hour": "2025112423", "version": 1, "matched": false, "corrected": true, "verified_at": NOW - 100, "message": "v3 differed" },
            ],
        }),
    );
    // A's NIC was swapped: the same hour also under the new MAC (its own customer record).
    let (status, answer) =
        server.send("POST", HEARTBEAT_PATH, &json!(heartbeat("web-a", MAC_A2, NOW)), Some(&a.0));
    assert_eq!(status, 200, "{answer}");
    post_history(
        &server,
        &a.0,
        json!({ "pushes": [attempt(MAC_A2, "2025112423", 1, 1, true, 40, 50, NOW - 30)] }),
    );
    let (status, answer) =
        server.send("POST", HEARTBEAT_PATH, &json!(heartbeat("web-b", MAC_B, NOW)), Some(&b.0));
    assert_eq!(status, 200, "{answer}");
    post_history(
        &server,
        &b.0,
        json!({
            "pushes": [
                attempt(MAC_B, "2025112423", 1, 1, true, 2000, 2000, NOW - 1600),
                // Never succeeded: no bytes reached the customer for this hour.
                attempt(MAC_B, "2025112422", 1, 1, false, 3000, 3000, NOW - 5000),
            ],
            "verifications": [
                { "mac": MAC_B, "flux_hour": "2025112423", "version": 1, "matched": true, "corrected": false, "verified_at": NOW - 500, "message": null },
            ],
        }),
    );
    Fleet { server, a, b, c, _dir: dir }
}

fn hour<'a>(window: &'a Value, flux_hour: &str) -> &'a Value {
    window["hours"].as_array().unwrap().iter().find(|h| h["flux_hour"] == flux_hour).unwrap()
}

#[test]
fn the_overview_counts_the_fleet_exactly() {
    let f = fleet();
    let (status, o) = f.server.admin_get("/api/overview");
    assert_eq!(status, 200, "{o}");
    let counts: Vec<i64> = ["deployed", "online", "offline", "switched_off", "under_acceptance"]
        .iter()
        .map(|k| o[k].as_i64().unwrap())
        .collect();
    assert_eq!(counts, [3, 2, 1, 1, 1], "{o}");
    assert_eq!(
        o["agents_by_version"],
        json!([{ "version": "0.1.0", "count": 2 }, { "version": "0.0.9", "count": 1 }])
    );
    // All time: 12 attempts stored, 3 of them failed.
    assert_eq!((o["pushes_success"].as_i64(), o["pushes_failure"].as_i64()), (Some(9), Some(3)));
    // The last 24 hours leave out the attempt and the held hour from a day and a second ago.
    assert_eq!(
        o["pushes_24h"],
        json!({ "since": NOW - 86_400, "success": 8, "failure": 3, "held": 1, "skipped": 0 })
    );
}

#[test]
fn fleet_traffic_per_hour_counts_the_latest_success_of_each_mac_and_hour_once() {
    let f = fleet();
    let (_, o) = f.server.admin_get("/api/overview");
    let t = &o["traffic_24h"];
    assert_eq!((t["from_hour"].as_str(), t["to_hour"].as_str()), (Some("2025112400"), Some("2025112423")));
    assert_eq!(t["report_timezone"], "UTC+08:00");
    let hours: Vec<&str> =
        t["hours"].as_array().unwrap().iter().map(|h| h["flux_hour"].as_str().unwrap()).collect();
    assert_eq!(hours.len(), 24, "every hour, empty ones too: {hours:?}");
    assert_eq!((hours[0], hours[1], hours[23]), ("2025112400", "2025112401", "2025112423"));
    assert_eq!(
        hour(t, "2025112400"),
        &json!({ "flux_hour": "2025112400", "pushed_bytes": 500, "raw_bytes": 500, "macs": 1 })
    );
    assert_eq!(
        hour(t, "2025112412"),
        &json!({ "flux_hour": "2025112412", "pushed_bytes": 0, "raw_bytes": 0, "macs": 0 })
    );
    assert_eq!(
        hour(t, "2025112421"),
        &json!({ "flux_hour": "2025112421", "pushed_bytes": 300, "raw_bytes": 290, "macs": 1 })
    );
    assert_eq!(
        hour(t, "2025112422"),
        &json!({ "flux_hour": "2025112422", "pushed_bytes": 1236, "raw_bytes": 1200, "macs": 1 })
    );
    // A v2 1100 + A's new MAC 50 + B 2000.
    assert_eq!(
        hour(t, "2025112423"),
        &json!({ "flux_hour": "2025112423", "pushed_bytes": 3150, "raw_bytes": 3040, "macs": 3 })
    );
    let total: i64 = t["hours"].as_array().unwrap().iter().map(|h| h["pushed_bytes"].as_i64().unwrap()).sum();
    assert_eq!(total, 500 + 300 + 1236 + 3150, "nothing from outside the window");
}

#[test]
fn the_window_follows_the_configured_report_time_zone() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_with(pushagent_config::Settings {
        report_timezone: "UTC".into(),
        ..support::settings(dir.path())
    });
    server.clock.set(NOW);
    let (_, o) = server.admin_get("/api/overview");
    // 2025-11-24 16:30 UTC: the closed hours are 2025112316 ..= 2025112415.
    let t = &o["traffic_24h"];
    assert_eq!((t["from_hour"].as_str(), t["to_hour"].as_str()), (Some("2025112316"), Some("2025112415")));
    assert_eq!((o["deployed"].as_i64(), o["agents_by_version"].as_array().map(Vec::len)), (Some(0), Some(0)));
}

#[test]
fn a_machines_hourly_traffic_shows_what_reached_the_customer_and_how_the_last_attempt_ended() {
    let f = fleet();
    let (status, t) = f.server.admin_get(&format!("/api/machines/{}/traffic?hours=24", f.a.1));
    assert_eq!(status, 200, "{t}");
    assert_eq!(t["hours"].as_array().unwrap().len(), 24);
    assert_eq!(
        hour(&t, "2025112400"),
        &json!({ "flux_hour": "2025112400", "pushed_bytes": 500, "raw_bytes": 500, "status": "success", "attempts": 1 })
    );
    assert_eq!(
        hour(&t, "2025112401"),
        &json!({ "flux_hour": "2025112401", "pushed_bytes": 0, "raw_bytes": 0, "status": null, "attempts": 0 })
    );
    // v1 reached the customer, the later v2 failed.
    assert_eq!(
        hour(&t, "2025112421"),
        &json!({ "flux_hour": "2025112421", "pushed_bytes": 300, "raw_bytes": 290, "status": "failure", "attempts": 2 })
    );
    assert_eq!(
        hour(&t, "2025112422"),
        &json!({ "flux_hour": "2025112422", "pushed_bytes": 1236, "raw_bytes": 1200, "status": "success", "attempts": 2 })
    );
    // Both of its MACs: v2 1100 + 50 under the new MAC.
    assert_eq!(
        hour(&t, "2025112423"),
        &json!({ "flux_hour": "2025112423", "pushed_bytes": 1150, "raw_bytes": 1040, "status": "success", "attempts": 3 })
    );

    let (_, b) = f.server.admin_get(&format!("/api/machines/{}/traffic?hours=24", f.b.1));
    assert_eq!(
        hour(&b, "2025112422"),
        &json!({ "flux_hour": "2025112422", "pushed_bytes": 0, "raw_bytes": 0, "status": "failure", "attempts": 1 })
    );
    assert_eq!(hour(&b, "2025112423")["pushed_bytes"], 2000);

    // Seven days by default, ending with the last closed hour.
    let (_, week) = f.server.admin_get(&format!("/api/machines/{}/traffic", f.a.1));
    assert_eq!(week["hours"].as_array().unwrap().len(), 168);
    assert_eq!(
        (week["from_hour"].as_str(), week["to_hour"].as_str()),
        (Some("2025111800"), Some("2025112423"))
    );
    assert_eq!(hour(&week, "2025112323")["pushed_bytes"], 7777);
    let total: i64 =
        week["hours"].as_array().unwrap().iter().map(|h| h["pushed_bytes"].as_i64().unwrap()).sum();
    assert_eq!(total, 7777 + 500 + 300 + 1236 + 1150);
}

#[test]
fn a_machines_mac_history_is_listed_newest_first_and_paged() {
    let f = fleet();
    f.server.clock.set(NOW + 600);
    let (status, answer) =
        f.server.send("POST", HEARTBEAT_PATH, &json!(heartbeat("web-a", MAC_A, NOW + 600)), Some(&f.a.0));
    assert_eq!(status, 200, "{answer}");
    let (status, page) = f.server.admin_get(&format!("/api/machines/{}/mac-history", f.a.1));
    assert_eq!(status, 200, "{page}");
    assert_eq!(page["total"], 2);
    let changes: Vec<(&str, &str, i64)> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["old_mac"].as_str().unwrap(),
                r["new_mac"].as_str().unwrap(),
                r["changed_at"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(changes, [(MAC_A2, MAC_A, NOW + 600), (MAC_A, MAC_A2, NOW)]);
    let (_, second) = f.server.admin_get(&format!("/api/machines/{}/mac-history?page=2&page_size=1", f.a.1));
    assert_eq!((second["total"].as_i64(), second["items"][0]["new_mac"].as_str()), (Some(2), Some(MAC_A2)));
    let (_, none) = f.server.admin_get(&format!("/api/machines/{}/mac-history", f.b.1));
    assert_eq!((none["total"].as_i64(), none["items"].as_array().map(Vec::len)), (Some(0), Some(0)));
}

#[test]
fn verifications_are_filtered_by_machine_on_the_server() {
    let f = fleet();
    let (status, page) = f.server.admin_get(&format!("/api/verifications?machine_id={}&page_size=1", f.a.1));
    assert_eq!(status, 200, "{page}");
    assert_eq!(page["total"], 2);
    assert_eq!(
        (page["items"][0]["flux_hour"].as_str(), page["items"][0]["message"].as_str()),
        (Some("2025112423"), Some("v3 differed"))
    );
    let (_, page) =
        f.server.admin_get(&format!("/api/verifications?machine_id={}&page=2&page_size=1", f.a.1));
    assert_eq!(
        (page["items"][0]["flux_hour"].as_str(), page["items"][0]["machine_id"].as_i64()),
        (Some("2025112422"), Some(f.a.1))
    );
    let (_, page) = f.server.admin_get(&format!("/api/verifications?machine_id={}", f.b.1));
    assert_eq!((page["total"].as_i64(), page["items"][0]["mac"].as_str()), (Some(1), Some(MAC_B)));
    let (_, page) = f.server.admin_get(&format!("/api/verifications?machine_id={}", f.c.1));
    assert_eq!(page["total"], 0);
    let (_, all) = f.server.admin_get("/api/verifications");
    assert_eq!(all["total"], 3);
}

#[test]
fn bad_requests_for_the_new_views_are_refused_with_a_reason() {
    let f = fleet();
    for (path, status, says) in [
        ("/api/machines/999/mac-history".to_owned(), 404, "no machine 999"),
        ("/api/machines/999/traffic".to_owned(), 404, "no machine 999"),
        (format!("/api/machines/{}/traffic?hours=0", f.a.1), 400, "hours: 1 to 744"),
        (format!("/api/machines/{}/traffic?hours=745", f.a.1), 400, "hours: 1 to 744"),
        (format!("/api/machines/{}/traffic?hours=week", f.a.1), 400, "hours"),
        (format!("/api/machines/{}/mac-history?page_size=0", f.a.1), 400, "page_size"),
        ("/api/verifications?machine_id=web-a".to_owned(), 400, "machine_id"),
        ("/api/verifications?machine=1".to_owned(), 400, "machine"),
    ] {
        let (got, answer) = f.server.admin_get(&path);
        assert_eq!(got, status, "{path}: {answer}");
        assert!(answer["message"].as_str().unwrap().contains(says), "{path}: {answer}");
    }
    assert_eq!(f.server.get(&format!("/api/machines/{}/traffic", f.a.1), None).0, 401);
    assert_eq!(f.server.get(&format!("/api/machines/{}/mac-history", f.a.1), None).0, 401);
}
