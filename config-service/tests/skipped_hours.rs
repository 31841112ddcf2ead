//! Skipped hours (an agent obeyed a push switch-off): stored once per (mac, hour), shown per
//! machine and counted in the overview, never push history, never failures, and never under
//! another machine's MAC.

#![allow(clippy::unwrap_used)]

mod support;

use pushagent_proto::agent::{HistoryBatch, HistoryResponse, PushStatus, HEARTBEAT_PATH, HISTORY_PATH};
use serde_json::json;
use support::{heartbeat, push_item, skipped_item, Server, T0};

const MAC: &str = "aa:bb:cc:dd:ee:01";

#[test]
fn skipped_hours_are_stored_once_listed_per_machine_and_are_not_push_history() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    let (token, machine_id) = server.register("m-1", "web-01", MAC);
    assert_eq!(
        server.send("POST", HEARTBEAT_PATH, &json!(heartbeat("web-01", MAC, T0)), Some(&token)).0,
        200
    );

    // An old agent's batch (no `skipped` member at all) is read as before.
    let old = json!({ "pushes": [push_item(MAC, "2026112410", 1, PushStatus::Success, T0)] });
    let (status, answer) = server.send("POST", HISTORY_PATH, &old, Some(&token));
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer, json!({ "inserted": 1, "duplicates": 0, "skipped_stored": 0 }));

    let mut both = skipped_item("AA-BB-CC-DD-EE-01", "2026112412", 0, T0 + 7300);
    both.switches = vec!["machine".into(), "global".into()];
    let batch = HistoryBatch {
        skipped: vec![
            skipped_item(MAC, "2026112411", 123_456_789, T0 + 3700),
            both,
            // Built two days ago: outside the overview's 24 hours.
            skipped_item(MAC, "2026112210", 5, T0 - 2 * 86_400),
        ],
        ..HistoryBatch::default()
    };
    let (status, answer) = server.send("POST", HISTORY_PATH, &json!(batch), Some(&token));
    assert_eq!(status, 200, "{answer}");
    assert_eq!(
        serde_json::from_value::<HistoryResponse>(answer).unwrap(),
        HistoryResponse { inserted: 3, duplicates: 0, skipped_stored: Some(3) }
    );
    // The agent missed the answer and sends them again: nothing new, all acknowledged.
    let (status, answer) = server.send("POST", HISTORY_PATH, &json!(batch), Some(&token));
    assert_eq!(status, 200, "{answer}");
    assert_eq!(
        serde_json::from_value::<HistoryResponse>(answer).unwrap(),
        HistoryResponse { inserted: 0, duplicates: 3, skipped_stored: Some(3) }
    );

    let (status, page) = server.admin_get(&format!("/api/machines/{machine_id}/skipped"));
    assert_eq!(status, 200, "{page}");
    assert_eq!((page["total"].as_u64(), page["page"].as_u64()), (Some(3), Some(1)));
    let items = page["items"].as_array().unwrap();
    let hours: Vec<&str> = items.iter().map(|i| i["flux_hour"].as_str().unwrap()).collect();
    assert_eq!(hours, ["2026112412", "2026112411", "2026112210"], "newest hour first");
    let newest = &items[0];
    assert_eq!(newest["mac"], MAC, "canonical MAC");
    assert_eq!(newest["reason"], "switched_off");
    assert_eq!(newest["switches"], json!(["machine", "global"]));
    assert_eq!((newest["raw_bytes"].as_i64(), newest["decided_at"].as_i64()), (Some(0), Some(T0 + 7300)));
    assert_eq!(newest["received_at"].as_i64(), Some(T0));
    assert_eq!(
        (items[1]["raw_bytes"].as_i64(), items[1]["switches"].clone()),
        (Some(123_456_789), json!(["machine"]))
    );
    let (_, second) = server.admin_get(&format!("/api/machines/{machine_id}/skipped?page=2&page_size=2"));
    assert_eq!(second["items"].as_array().unwrap().len(), 1);
    assert_eq!(second["items"][0]["flux_hour"], "2026112210");

    // Not push attempts: history, its totals and the CSV hold the one push only.
    let (_, history) = server.admin_get("/api/history");
    assert_eq!(history["total"], 1, "{history}");
    let (_, history) = server.admin_get("/api/history?status=failure");
    assert_eq!(history["total"], 0, "{history}");
    let (status, csv) = server.get_text("/api/history.csv", Some(&server.api_token));
    assert_eq!(status, 200);
    assert_eq!(csv.lines().count(), 2, "header + the push: {csv}");
    assert!(!csv.contains("2026112411"), "{csv}");

    let (_, overview) = server.admin_get("/api/overview");
    assert_eq!(
        overview["pushes_24h"],
        json!({ "since": T0 - 86_400, "success": 1, "failure": 0, "held": 0, "skipped": 2 }),
        "{overview}"
    );
    assert_eq!(
        (overview["pushes_success"].as_i64(), overview["pushes_failure"].as_i64()),
        (Some(1), Some(0))
    );

    let (status, answer) = server.admin_get("/api/machines/999/skipped");
    assert_eq!((status, answer["error"].as_str()), (404, Some("not_found")), "{answer}");
    let (status, answer) = server.get(&format!("/api/machines/{machine_id}/skipped"), None);
    assert_eq!(status, 401, "{answer}");
}

#[test]
fn skipped_hours_under_another_machines_mac_are_refused_whole() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    let (_token_a, machine_a) = server.register("m-a", "web-a", MAC);
    let (token_b, machine_b) = server.register("m-b", "web-b", "aa:bb:cc:dd:ee:02");
    let batch = HistoryBatch {
        pushes: vec![push_item("aa:bb:cc:dd:ee:02", "2026112410", 1, PushStatus::Success, T0)],
        skipped: vec![skipped_item(MAC, "2026112411", 7, T0)],
        ..HistoryBatch::default()
    };
    let before = server.table_counts();
    let (status, answer) = server.send("POST", HISTORY_PATH, &json!(batch), Some(&token_b));
    assert_eq!(status, 400, "{answer}");
    assert!(
        answer["message"].as_str().unwrap().contains("aa:bb:cc:dd:ee:01 belongs to another machine (web-a)"),
        "{answer}"
    );
    assert_eq!(server.table_counts(), before, "nothing stored, not even the good push");
    for id in [machine_a, machine_b] {
        let (_, page) = server.admin_get(&format!("/api/machines/{id}/skipped"));
        assert_eq!(page["total"], 0, "{page}");
    }
}
