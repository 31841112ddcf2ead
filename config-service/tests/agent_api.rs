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
        }],
        held: vec![HeldItem {
            mac: MAC.into(),
            flux_hour: "2026112411".into(),
            reason: "impossible point v3".into(),
            held_at: T0,
        }],
    };
    let (status, answer) = server.send("POST", HISTORY_PATH, &json!(batch), Some(&token));
    assert_eq!(status, 200, "{answer}");
    assert_eq!(
        serde_json::from_value::<HistoryResponse>(answer).unwrap(),
        HistoryResponse { inserted: 4, duplicates: 0 }
    );
    // The agent did not see the answer and sends the same batch again, plus a new attempt.
    let mut again = batch.clone();
    again.pushes.push(push_item(MAC, "2026112411", 1, PushStatus::Success, T0 + 3700));
    let (status, answer) = server.send("POST", HISTORY_PATH, &json!(again), Some(&token));
    assert_eq!(status, 200, "{answer}");
    assert_eq!(
        serde_json::from_value::<HistoryResponse>(answer).unwrap(),
        HistoryResponse { inserted: 1, duplicates: 4 }
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
