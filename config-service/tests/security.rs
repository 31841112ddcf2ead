//! The config service under attack, as stories against a real server on a loopback port:
//! forged evidence (another machine's MAC, squatted MACs, takeovers by re-registration,
//! disagreeing duplicates), and what the checks tell the operators about each.

#![allow(clippy::unwrap_used)]

mod support;

use pushagent_config::checks::run_checks;
use pushagent_config::store::Store;
use pushagent_config::Clock;
use pushagent_proto::agent::{HistoryBatch, PushStatus, CONFIG_PATH, HEARTBEAT_PATH, HISTORY_PATH};
use serde_json::json;
use support::{heartbeat, push_item, Server, T0};

const MAC_A: &str = "aa:bb:cc:dd:ee:0a";
const MAC_B: &str = "aa:bb:cc:dd:ee:0b";

fn one_push(mac: &str, flux_hour: &str, attempt: u32) -> HistoryBatch {
    HistoryBatch {
        pushes: vec![push_item(mac, flux_hour, attempt, PushStatus::Success, T0)],
        ..HistoryBatch::default()
    }
}

/// The events of one check pass (run as `runcheck` would, on the store file).
fn check_events(server: &Server) -> Vec<String> {
    let mut store = Store::open(&server.db_path).unwrap();
    let settings = support::settings(server.db_path.parent().unwrap());
    run_checks(&mut store, &settings, Clock::now(&*server.clock)).unwrap().events
}

#[test]
fn a_machine_cannot_heartbeat_under_another_live_machines_mac_and_the_refusal_is_alerted() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    let (token_a, id_a) = server.register("m-a", "web-a", MAC_A);
    let (token_b, id_b) = server.register("m-b", "web-b", MAC_B);
    assert_eq!(
        server.send("POST", HEARTBEAT_PATH, &json!(heartbeat("web-b", MAC_B, T0)), Some(&token_b)).0,
        200
    );

    // A heartbeats with B's MAC: refused, and A keeps its own.
    let (status, answer) =
        server.send("POST", HEARTBEAT_PATH, &json!(heartbeat("web-a", MAC_B, T0)), Some(&token_a));
    assert_eq!(status, 409, "{answer}");
    assert!(answer["message"].as_str().unwrap().contains("belongs to another machine (web-b)"), "{answer}");
    assert_eq!(server.admin_get(&format!("/api/machines/{id_a}")).1["mac"], MAC_A);
    assert_eq!(server.admin_get(&format!("/api/machines/{id_b}")).1["mac"], MAC_B);

    // Nor can it post history under it.
    let (status, answer) =
        server.send("POST", HISTORY_PATH, &json!(one_push(MAC_B, "2026112410", 1)), Some(&token_a));
    assert_eq!(status, 400, "{answer}");

    // B's real row is stored as B sent it, not shadowed.
    let (status, answer) =
        server.send("POST", HISTORY_PATH, &json!(one_push(MAC_B, "2026112410", 1)), Some(&token_b));
    assert_eq!((status, answer["inserted"].as_u64()), (200, Some(1)), "{answer}");
    let (_, page) = server.admin_get(&format!("/api/history?mac={MAC_B}"));
    assert_eq!(page["total"], 1, "{page}");
    assert_eq!(page["items"][0]["machine_id"], id_b);

    // The operators hear of it once, with both refusals (heartbeat and history) counted.
    let events = check_events(&server);
    assert_eq!(events.len(), 1, "{events:?}");
    assert!(
        events[0].contains(MAC_B) && events[0].contains("web-a") && events[0].contains("2 次"),
        "{events:?}"
    );
    assert!(check_events(&server).is_empty(), "told once");
}

#[test]
fn a_mac_nobody_reported_cannot_be_squatted_through_history() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    let (token_a, _) = server.register("m-a", "web-a", MAC_A);
    let before = server.table_counts();
    let (status, answer) = server.send(
        "POST",
        HISTORY_PATH,
        &json!(one_push("aa:bb:cc:dd:ee:99", "2026112410", 1)),
        Some(&token_a),
    );
    assert_eq!(status, 400, "{answer}");
    assert!(answer["message"].as_str().unwrap().contains("never reported by this machine"), "{answer}");
    assert_eq!(server.table_counts(), before, "nothing stored");
}

#[test]
fn a_mac_moves_to_another_machine_only_when_its_holder_is_offline_or_released() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    let (token_a, id_a) = server.register("m-a", "web-a", MAC_A);
    let (token_b, id_b) = server.register("m-b", "web-b", MAC_B);
    // The NIC of A is moved into B while A is still alive: refused.
    let hb_b = |mac: &str| {
        server.send("POST", HEARTBEAT_PATH, &json!(heartbeat("web-b", mac, T0)), Some(&token_b)).0
    };
    assert_eq!(hb_b(MAC_A), 409);
    // An operator releases it: B gets it, audited.
    let (status, answer) = server.admin_send("POST", "/api/mac-claims/release", &json!({ "mac": MAC_A }));
    assert_eq!(status, 200, "{answer}");
    assert_eq!(hb_b(MAC_A), 200);
    assert_eq!(server.admin_get(&format!("/api/machines/{id_b}")).1["mac"], MAC_A);
    let (_, audit) = server.admin_get("/api/audit");
    assert!(audit.to_string().contains("mac_claim"), "{audit}");
    // A, still running, cannot take it back while B is alive.
    let (status, _) =
        server.send("POST", HEARTBEAT_PATH, &json!(heartbeat("web-a", MAC_A, T0)), Some(&token_a));
    assert_eq!(status, 409);
    // B goes silent for more than three periods: the MAC can move (to A), audited.
    server.clock.advance(3 * 300 + 1);
    let (status, _) =
        server.send("POST", HEARTBEAT_PATH, &json!(heartbeat("web-a", MAC_A, T0)), Some(&token_a));
    assert_eq!(status, 200);
    assert_eq!(server.admin_get(&format!("/api/machines/{id_a}")).1["mac"], MAC_A);
    // B's hours under the MAC it held are still B's to send.
    let (status, answer) =
        server.send("POST", HISTORY_PATH, &json!(one_push(MAC_A, "2026112411", 1)), Some(&token_b));
    assert_eq!(status, 200, "{answer}");
}

#[test]
fn re_registering_a_live_machine_with_the_enrollment_token_is_a_clone_not_a_takeover() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    let uid = "0123456789abcdef0123456789abcdef";
    let (token, id) = server.register(uid, "web-01", MAC_A);
    assert_eq!(
        server.send("POST", HEARTBEAT_PATH, &json!(heartbeat("web-01", MAC_A, T0)), Some(&token)).0,
        200
    );
    // Someone with the enrollment token registers the same machine-id and MAC.
    let (intruder, intruder_id) = server.register(uid, "web-01", MAC_A);
    assert_ne!(intruder_id, id, "not the live machine's record");
    assert_eq!(server.get(CONFIG_PATH, Some(&token)).0, 200, "the live machine keeps its token");
    let (_, clone) = server.admin_get(&format!("/api/machines/{intruder_id}"));
    assert_eq!(clone["duplicate_of"], id);
    // The MAC stays with the live machine: the clone's heartbeats and history are refused.
    let (status, _) =
        server.send("POST", HEARTBEAT_PATH, &json!(heartbeat("web-01", MAC_A, T0)), Some(&intruder));
    assert_eq!(status, 409);
    let (status, _) =
        server.send("POST", HISTORY_PATH, &json!(one_push(MAC_A, "2026112410", 1)), Some(&intruder));
    assert_eq!(status, 400);
}

#[test]
fn a_duplicate_with_different_values_is_kept_as_a_conflict_and_alerted() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    let (token, _) = server.register("m-a", "web-a", MAC_A);
    let batch = one_push(MAC_A, "2026112410", 1);
    assert_eq!(server.send("POST", HISTORY_PATH, &json!(batch), Some(&token)).0, 200);
    // The same batch again (a lost answer): a plain duplicate, nothing to tell.
    let (status, answer) = server.send("POST", HISTORY_PATH, &json!(batch), Some(&token));
    assert_eq!((status, answer["duplicates"].as_u64()), (200, Some(1)), "{answer}");
    assert!(check_events(&server).is_empty());
    // The same identity with other bytes: the stored row stays, the new one is a conflict.
    let mut other = batch.clone();
    other.pushes[0].pushed_points[0] += 1;
    other.pushes[0].pushed_bytes += 1;
    let (status, answer) = server.send("POST", HISTORY_PATH, &json!(other), Some(&token));
    assert_eq!((status, answer["duplicates"].as_u64()), (200, Some(1)), "{answer}");
    let (_, page) = server.admin_get(&format!("/api/history?mac={MAC_A}"));
    assert_eq!((page["total"].as_u64(), page["items"][0]["pushed_bytes"].as_u64()), (Some(1), Some(1236)));
    let events = check_events(&server);
    assert_eq!(events.len(), 1, "{events:?}");
    assert!(events[0].contains("1237") && events[0].contains("2026112410"), "{events:?}");
}

#[test]
fn history_takes_only_the_documented_object_not_an_array() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    let (token, _) = server.register("m-a", "web-a", MAC_A);
    let batch = one_push(MAC_A, "2026112410", 1);
    // The same fields by position, as serde would read a struct from an array.
    let array = json!([batch.pushes, [], [], []]);
    let before = server.table_counts();
    let (status, answer) = server.send("POST", HISTORY_PATH, &array, Some(&token));
    assert_eq!(status, 400, "{answer}");
    assert_eq!(server.table_counts(), before, "nothing stored");
}

#[test]
fn the_enrollment_token_is_rotated_and_revoked_from_the_console_and_audited() {
    let dir = tempfile::tempdir().unwrap();
    // No fixed token in the settings: only stored ones.
    let server = Server::start_with(pushagent_config::Settings {
        enrollment_token: None,
        ..support::settings(dir.path())
    });
    let register = |token: &str| {
        let mut body = support::register_body("m-new", "web-new", MAC_A);
        body["enrollment_token"] = json!(token);
        server.send("POST", pushagent_proto::agent::REGISTER_PATH, &body, None).0
    };
    let (status, first) = server.admin_send("POST", "/api/enrollment-tokens", &json!({}));
    assert_eq!(status, 200, "{first}");
    let first_token = first["token"].as_str().unwrap().to_owned();
    assert_eq!(register(&first_token), 200);
    // Rotation: a new token, the old one revoked at once.
    let (status, second) =
        server.admin_send("POST", "/api/enrollment-tokens", &json!({ "revoke_others": true }));
    assert_eq!(status, 200, "{second}");
    assert_eq!(second["revoked"], json!([first["id"]]));
    assert_eq!(register(&first_token), 401, "the old token no longer registers");
    let second_token = second["token"].as_str().unwrap().to_owned();
    assert_eq!(register(&second_token), 200);
    // Revoked by hand.
    let (status, _) =
        server.admin_send("POST", &format!("/api/enrollment-tokens/{}/revoke", second["id"]), &json!({}));
    assert_eq!(status, 200);
    assert_eq!(register(&second_token), 401);
    // The list never shows a token; the audit log has every step, by whom.
    let (_, list) = server.admin_get("/api/enrollment-tokens");
    assert_eq!(list["items"].as_array().unwrap().len(), 2, "{list}");
    assert!(!list.to_string().contains(&first_token) && !list.to_string().contains(&second_token));
    let (_, audit) = server.admin_get("/api/audit?page_size=50");
    let text = audit.to_string();
    assert_eq!(text.matches("enrollment_token").count(), 4, "2 created, 2 revoked: {audit}");
    assert!(!text.contains(&first_token) && !text.contains(&second_token));
}
