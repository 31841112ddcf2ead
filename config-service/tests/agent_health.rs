//! What an agent reports wrong with itself (its heartbeat's `health`): kept on the machine with
//! every time on the service's clock, refused with the field named when malformed, absent for
//! agents older than the field.

#![allow(clippy::unwrap_used)]

mod support;

use pushagent_proto::agent::HEARTBEAT_PATH;
use serde_json::json;
use support::{heartbeat, Server, T0};

const MAC: &str = "aa:bb:cc:dd:ee:01";

#[test]
fn health_is_kept_on_the_service_clock_and_a_continuing_condition_keeps_its_start() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    let (token, id) = server.register("m-1", "web-01", MAC);
    let machine = || server.admin_get(&format!("/api/machines/{id}")).1;

    // An old agent: no health at all.
    let (status, answer) =
        server.send("POST", HEARTBEAT_PATH, &json!(heartbeat("web-01", MAC, T0)), Some(&token));
    assert_eq!(status, 200, "{answer}");
    assert!(machine()["health"].is_null());

    // An agent whose clock is 8 h ahead, unsynchronised for 10 of its minutes.
    let agent_time = T0 + 8 * 3600;
    let mut hb = json!(heartbeat("web-01", MAC, agent_time));
    hb["health"] = json!({
        "clock_unsynchronised_since": agent_time - 600,
        "interface_missing": {"name": "eth9", "since": agent_time - 60},
    });
    let (status, answer) = server.send("POST", HEARTBEAT_PATH, &hb, Some(&token));
    assert_eq!(status, 200, "{answer}");
    let health = machine()["health"].clone();
    assert_eq!(health["clock_unsynchronised_since"], T0 - 600, "{health}");
    assert_eq!(health["interface_missing"], json!({"name": "eth9", "since": T0 - 60}));

    // NTP steps the agent's clock back 8 h while the condition holds: still the same start.
    server.clock.advance(300);
    let mut hb = json!(heartbeat("web-01", MAC, T0 + 300));
    hb["health"] = json!({"clock_unsynchronised_since": T0 + 290});
    server.send("POST", HEARTBEAT_PATH, &hb, Some(&token));
    let health = machine()["health"].clone();
    assert_eq!(health["clock_unsynchronised_since"], T0 - 600, "{health}");
    assert!(health.get("interface_missing").is_none(), "cleared: {health}");

    // Malformed: refused with the field named, nothing changed.
    let before = server.table_counts();
    hb["health"] = json!({"config_refused": {"key": "offset_bp", "why": "x".repeat(501), "since": T0}});
    let (status, answer) = server.send("POST", HEARTBEAT_PATH, &hb, Some(&token));
    assert_eq!(status, 400, "{answer}");
    assert!(answer["message"].as_str().unwrap().contains("health.config_refused.why"), "{answer}");
    assert_eq!(server.table_counts(), before);
    assert_eq!(machine()["health"]["clock_unsynchronised_since"], T0 - 600);
}
