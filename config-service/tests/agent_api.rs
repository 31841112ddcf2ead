//! The agent API against a real server on a loopback port: registration and token exchange,
//! heartbeat, config pull, history idempotency, authentication failures.

#![allow(clippy::unwrap_used)]

mod support;

use pushagent_proto::agent::{
    GlobalConfig, HeartbeatResponse, HeldItem, HistoryBatch, HistoryResponse, MachineConfig, PushStatus,
    VerificationItem, CONFIG_PATH, GLOBAL_CONFIG_PATH, HEARTBEAT_PATH, HISTORY_PATH, REGISTER_PATH,
};
use serde_json::json;
use support::{heartbeat, push_item, register_body, Server, T0};

const MAC: &str = "aa:bb:cc:dd:ee:01";

#[test]
fn an_agent_registers_heartbeats_and_pulls_its_config() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    let (token, machine_id) = server.register("0123456789abcdef0123456789abcdef", "web-01", MAC);
    assert!(token.starts_with("pa_agent_"));

    let (status, answer) =
        server.send("POST", HEARTBEAT_PATH, &json!(heartbeat("web-01", MAC, T0)), Some(&token));
    assert_eq!(status, 200, "{answer}");
    let hb: HeartbeatResponse = serde_json::from_value(answer).unwrap();
    assert_eq!((hb.machine_config_version, hb.global_config_version, hb.server_time), (1, 1, T0));

    let (status, answer) = server.get(CONFIG_PATH, Some(&token));
    assert_eq!(status, 200, "{answer}");
    let config: MachineConfig = serde_json::from_value(answer).unwrap();
    assert!(config.push_enabled);
    assert_eq!(config.offset_bp, None);

    // An operator changes the machine: its version moves, the agent sees it on its next heartbeat.
    let (status, answer) = server.admin_send(
        "PATCH",
        &format!("/api/machines/{machine_id}/config"),
        &json!({ "offset_bp": 350, "interface": "eth0", "node": "北京-1" }),
    );
    assert_eq!(status, 200, "{answer}");
    let (_, answer) = server.send("POST", HEARTBEAT_PATH, &json!(heartbeat("web-01", MAC, T0)), Some(&token));
    assert_eq!(answer["machine_config_version"], 2);
    let (_, answer) = server.get(CONFIG_PATH, Some(&token));
    let config: MachineConfig = serde_json::from_value(answer).unwrap();
    assert_eq!(
        (config.offset_bp, config.interface.as_deref(), config.node.as_deref()),
        (Some(350), Some("eth0"), Some("北京-1"))
    );
}

#[test]
fn the_customer_secret_goes_only_to_authenticated_agents() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    let (_, mut global) = server.admin_get("/api/global-config");
    global["customer"]["access_id"] = json!("AK-1");
    global["customer"]["secret"] = json!("SK-very-secret");
    global["push_enabled"] = json!(true);
    let (status, shown) = server.admin_send("PUT", "/api/global-config", &global);
    assert_eq!(status, 200, "{shown}");
    assert!(!shown.to_string().contains("SK-very-secret"), "the admin API never returns the secret");
    assert_eq!(shown["customer"]["secret_set"], true);

    let (status, answer) = server.get(GLOBAL_CONFIG_PATH, None);
    assert_eq!(status, 401, "{answer}");
    assert!(!answer.to_string().contains("SK-very-secret"));
    let (token, _) = server.register("m-1", "web-01", MAC);
    let (status, answer) = server.get(GLOBAL_CONFIG_PATH, Some(&token));
    assert_eq!(status, 200, "{answer}");
    let global: GlobalConfig = serde_json::from_value(answer).unwrap();
    assert_eq!(
        (global.version, global.customer.secret.as_str(), global.push_enabled),
        (2, "SK-very-secret", true)
    );
}

#[test]
fn history_is_idempotent_per_mac_hour_version_and_attempt() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    let (token, _) = server.register("m-1", "web-01", MAC);
    let batch = HistoryBatch {
        pushes: vec![
            push_item(MAC, "2026112410", 1, PushStatus::Failure, T0),
            push_item(MAC, "2026112410", 2, PushStatus::Success, T0 + 60),
        ],
        verifications: vec![VerificationItem {
            mac: MAC.into(),
            flux_hour: "2026112410".into(),
            version: 1,
            matched: true,
            corrected: false,
            verified_at: T0 + 3600,
            message: None,
            ..Default::default()
        }],
        held: vec![HeldItem {
            mac: MAC.into(),
            flux_hour: "2026112411".into(),
            reason: "impossible point v3".into(),
            held_at: T0,
        }],
        skipped: vec![],
    };
    let (status, answer) = server.send("POST", HISTORY_PATH, &json!(batch), Some(&token));
    assert_eq!(status, 200, "{answer}");
    assert_eq!(
        serde_json::from_value::<HistoryResponse>(answer).unwrap(),
        HistoryResponse { inserted: 4, duplicates: 0, skipped_stored: Some(0) }
    );
    // The agent did not see the answer and sends the same batch again, plus a new attempt.
    let mut again = batch.clone();
    again.pushes.push(push_item(MAC, "2026112411", 1, PushStatus::Success, T0 + 3700));
    let (status, answer) = server.send("POST", HISTORY_PATH, &json!(again), Some(&token));
    assert_eq!(status, 200, "{answer}");
    assert_eq!(
        serde_json::from_value::<HistoryResponse>(answer).unwrap(),
        HistoryResponse { inserted: 1, duplicates: 4, skipped_stored: Some(0) }
    );

    let (_, page) = server.admin_get("/api/history?order=asc");
    assert_eq!(page["total"], 3);
    let first = &page["items"][0];
    assert_eq!((first["raw_bytes"].as_i64(), first["pushed_bytes"].as_i64()), (Some(1200), Some(1236)));
    assert_eq!(first["pushed_points"][0], 103);
    assert_eq!(first["status"], "failure");
}

#[test]
fn unknown_and_missing_tokens_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    let mut body = register_body("m-1", "web-01", MAC);
    body["enrollment_token"] = json!("not-the-token");
    let (status, answer) = server.send("POST", REGISTER_PATH, &body, None);
    assert_eq!(status, 401);
    assert_eq!(answer["message"], "unknown enrollment token");

    for token in [None, Some("pa_agent_forged"), Some("")] {
        for (method, path) in [("GET", CONFIG_PATH), ("GET", GLOBAL_CONFIG_PATH)] {
            let (status, answer) = server.get(path, token);
            assert_eq!(status, 401, "{method} {path} {token:?}: {answer}");
            assert!(answer["message"].as_str().unwrap().contains("token"), "{answer}");
        }
        let (status, _) = server.send("POST", HISTORY_PATH, &json!({ "pushes": [] }), token);
        assert_eq!(status, 401);
    }
    // An agent token is not an admin token, and an admin token is not an agent token.
    let (agent_token, _) = server.register("m-1", "web-01", MAC);
    assert_eq!(server.get("/api/machines", Some(&agent_token)).0, 401);
    assert_eq!(server.get(CONFIG_PATH, Some(&server.api_token)).0, 401);
    // Registering again replaces the token: the old one stops working.
    let (new_token, _) = server.register("m-1", "web-01", MAC);
    assert_eq!(server.get(CONFIG_PATH, Some(&agent_token)).0, 401);
    assert_eq!(server.get(CONFIG_PATH, Some(&new_token)).0, 200);
}

#[test]
fn a_new_mac_is_recorded_in_the_mac_history() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    let mut registration = register_body("m-1", "web-01", MAC);
    registration["facts"]["cpu"] = json!({ "model_name": "Xeon", "logical_cores": 8 });
    let (status, answer) = server.send("POST", REGISTER_PATH, &registration, None);
    assert_eq!(status, 200, "{answer}");
    let token = answer["agent_token"].as_str().unwrap().to_owned();
    let machine_id: i64 = answer["machine_id"].as_str().unwrap().parse().unwrap();
    let (status, _) = server.send(
        "POST",
        HEARTBEAT_PATH,
        &json!(heartbeat("web-01", "AA:BB:CC:DD:EE:02", T0)),
        Some(&token),
    );
    assert_eq!(status, 200);
    let (_, machine) = server.admin_get(&format!("/api/machines/{machine_id}"));
    assert_eq!(machine["mac"], "aa:bb:cc:dd:ee:02", "stored in canonical form");
    assert_eq!(machine["clock_skew_secs"], 0);
    assert_eq!(machine["facts"]["cpu"]["logical_cores"], 8, "facts are kept as the agent sent them");
    assert_eq!(machine["interfaces"][1]["name"], "docker0");
    assert_eq!(machine["backlog_history_items"], 2);
    let counts = server.table_counts();
    assert!(counts.contains(&("mac_history".to_owned(), 1)), "{counts:?}");
}

#[test]
fn a_clone_with_the_same_machine_id_gets_a_machine_of_its_own() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    let uid = "0123456789abcdef0123456789abcdef";
    let (token_a, id_a) = server.register(uid, "web-01", MAC);
    // A clone of web-01's image (same /etc/machine-id, its own NIC) while web-01 is alive.
    let (token_b, id_b) = server.register(uid, "web-01", "aa:bb:cc:dd:ee:02");
    assert_ne!(id_a, id_b, "the clone does not take the live machine over");
    assert_eq!(server.get(CONFIG_PATH, Some(&token_a)).0, 200, "the first machine keeps its token");
    assert_eq!(server.get(CONFIG_PATH, Some(&token_b)).0, 200);
    let (_, clone) = server.admin_get(&format!("/api/machines/{id_b}"));
    assert_eq!(
        (clone["mac"].as_str(), clone["duplicate_of"].as_i64()),
        (Some("aa:bb:cc:dd:ee:02"), Some(id_a))
    );
    assert!(server.admin_get(&format!("/api/machines/{id_a}")).1["duplicate_of"].is_null());
    // Each registering again (a lost token file) finds its own machine by id + MAC.
    let (_, again_b) = server.register(uid, "web-01", "aa:bb:cc:dd:ee:02");
    let (_, again_a) = server.register(uid, "web-01", MAC);
    assert_eq!((again_a, again_b), (id_a, id_b));
    let counts = server.table_counts();
    assert!(counts.contains(&("machines".to_owned(), 2)), "{counts:?}");
    assert!(counts.contains(&("mac_history".to_owned(), 0)), "no MAC flapping: {counts:?}");
    // The checks tell the operators once.
    let (_, mut global) = server.admin_get("/api/global-config");
    global["push_enabled"] = json!(true);
    assert_eq!(server.admin_send("PUT", "/api/global-config", &global).0, 200);
    let mut store = pushagent_config::store::Store::open(&server.db_path).unwrap();
    let settings = support::settings(dir.path());
    let report = pushagent_config::checks::run_checks(&mut store, &settings, T0 + 1).unwrap();
    assert_eq!(report.events.len(), 1, "{report:?}");
    assert!(report.events[0].contains("/etc/machine-id"), "{report:?}");
    assert!(pushagent_config::checks::run_checks(&mut store, &settings, T0 + 2).unwrap().events.is_empty());
}

#[test]
fn a_machine_reinstalled_with_a_new_nic_after_silence_keeps_its_record() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    let uid = "0123456789abcdef0123456789abcdef";
    let (_, id) = server.register(uid, "web-01", MAC);
    // Silent for longer than three heartbeat periods, then back with a new NIC and no token.
    server.clock.advance(3 * 300 + 1);
    let (token, again) = server.register(uid, "web-01", "aa:bb:cc:dd:ee:02");
    assert_eq!(again, id);
    assert_eq!(server.get(CONFIG_PATH, Some(&token)).0, 200);
    let counts = server.table_counts();
    assert!(counts.contains(&("mac_history".to_owned(), 1)), "the MAC change is kept: {counts:?}");
}

#[test]
fn history_under_another_machines_mac_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    let (token_a, _) = server.register("m-a", "web-a", MAC);
    let (token_b, _) = server.register("m-b", "web-b", "aa:bb:cc:dd:ee:02");
    let batch = |mac: &str| HistoryBatch {
        pushes: vec![push_item(mac, "2025112416", 1, PushStatus::Success, T0)],
        ..HistoryBatch::default()
    };
    let before = server.table_counts();
    let (status, answer) = server.send("POST", HISTORY_PATH, &json!(batch(MAC)), Some(&token_b));
    assert_eq!(status, 400, "{answer}");
    assert!(answer.to_string().contains("aa:bb:cc:dd:ee:01 belongs to another machine (web-a)"), "{answer}");
    assert_eq!(server.table_counts(), before, "nothing stored");
    // The real owner's row is not blocked.
    let (status, answer) = server.send("POST", HISTORY_PATH, &json!(batch(MAC)), Some(&token_a));
    assert_eq!((status, answer["inserted"].as_u64()), (200, Some(1)), "{answer}");
    // After B's NIC changes, hours under its old MAC are still B's.
    let (status, _) = server.send(
        "POST",
        HEARTBEAT_PATH,
        &json!(heartbeat("web-b", "aa:bb:cc:dd:ee:03", T0)),
        Some(&token_b),
    );
    assert_eq!(status, 200);
    let (status, answer) =
        server.send("POST", HISTORY_PATH, &json!(batch("aa:bb:cc:dd:ee:02")), Some(&token_b));
    assert_eq!(status, 200, "{answer}");
    // A MAC this machine never reported is refused: it would squat it (issue 11).
    let (status, answer) =
        server.send("POST", HISTORY_PATH, &json!(batch("aa:bb:cc:dd:ee:09")), Some(&token_b));
    assert_eq!(status, 400, "{answer}");
}

#[test]
fn the_agents_report_time_zone_is_kept_and_a_different_one_flagged() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    let (token, id) = server.register("m-1", "web-01", MAC);
    let mut hb = json!(heartbeat("web-01", MAC, T0));
    let flag = |hb: &serde_json::Value| {
        let (status, answer) = server.send("POST", HEARTBEAT_PATH, hb, Some(&token));
        assert_eq!(status, 200, "{answer}");
        let (_, machine) = server.admin_get(&format!("/api/machines/{id}"));
        (
            machine["report_timezone"].as_str().map(str::to_owned),
            machine["timezone_mismatch"].as_bool().unwrap(),
        )
    };
    assert_eq!(flag(&hb), (Some("UTC+08:00".to_owned()), false), "the service's zone (default)");
    hb["report_timezone"] = json!("UTC+00:00");
    assert_eq!(flag(&hb), (Some("UTC+00:00".to_owned()), true));
    // An agent older than the field: the last zone told is kept.
    hb.as_object_mut().unwrap().remove("report_timezone");
    assert_eq!(flag(&hb), (Some("UTC+00:00".to_owned()), true));
    hb["report_timezone"] = json!("UTC+08:00");
    assert_eq!(flag(&hb), (Some("UTC+08:00".to_owned()), false));
    // Not a zone: refused, nothing changed.
    let before = server.table_counts();
    hb["report_timezone"] = json!("Mars/Olympus");
    let (status, answer) = server.send("POST", HEARTBEAT_PATH, &hb, Some(&token));
    assert_eq!(status, 400, "{answer}");
    assert!(answer["message"].as_str().unwrap().contains("report_timezone"), "{answer}");
    assert_eq!(server.table_counts(), before);
    let (_, machine) = server.admin_get(&format!("/api/machines/{id}"));
    assert_eq!(machine["report_timezone"], "UTC+08:00");
}

/// Issue 10 §3: the points of a pushed hour that a push switch sent as 0 are kept with its
/// history and shown (API and CSV), raw points as measured.
#[test]
fn the_points_a_switch_sent_as_zero_are_kept_with_the_history() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    let (token, _) = server.register("m-1", "web-01", MAC);
    let mut partly_off = push_item(MAC, "2026112410", 1, PushStatus::Success, T0);
    partly_off.off_slots = 0b1110_0000_0000;
    partly_off.pushed_points[9..].fill(0);
    partly_off.pushed_bytes = partly_off.pushed_points.iter().sum();
    let batch = HistoryBatch {
        pushes: vec![partly_off, push_item(MAC, "2026112411", 1, PushStatus::Success, T0)],
        ..Default::default()
    };
    let (status, answer) = server.send("POST", HISTORY_PATH, &json!(batch), Some(&token));
    assert_eq!(status, 200, "{answer}");
    let (_, page) = server.admin_get("/api/history?order=asc&sort=flux_hour");
    assert_eq!(page["items"][0]["off_slots"], 0b1110_0000_0000);
    assert_eq!(page["items"][0]["raw_points"][11], 100, "raw kept");
    assert_eq!(page["items"][1]["off_slots"], 0);
    let (status, csv) = server.get_text("/api/history.csv?order=asc&sort=flux_hour", Some(&server.api_token));
    assert_eq!(status, 200);
    let mut reader = csv::Reader::from_reader(csv.as_bytes());
    let at = reader.headers().unwrap().iter().position(|h| h == "off_points").expect("off_points column");
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!((&rows[0][at], &rows[1][at]), ("9,10,11", ""));
}
