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

/// A store with the global switch on, one machine heartbeating at T0 with `health`.
fn store_with_health(
    dir: &std::path::Path,
    health: serde_json::Value,
) -> (pushagent_config::store::Store, i64) {
    use pushagent_config::global::GlobalDoc;
    use pushagent_config::store::Store;
    let settings = support::settings(dir);
    let mut store = Store::open(&settings.db_path).unwrap();
    let doc = GlobalDoc { push_enabled: true, ..GlobalDoc::default() };
    store.update_global(&doc, "test", T0).unwrap();
    let req = serde_json::from_value(support::register_body("m-1", "web-01", MAC)).unwrap();
    let id = store.register_machine(&req, MAC, "{}", "hash-m-1", T0, T0).unwrap().0;
    let mut hb = heartbeat("web-01", MAC, T0);
    hb.health = Some(serde_json::from_value(health).unwrap());
    store.record_heartbeat(id, &hb, MAC, None, T0, T0).unwrap().unwrap();
    (store, id)
}

#[test]
fn a_reported_condition_is_alerted_once_it_has_held_for_the_configured_time_and_recovers() {
    use pushagent_config::checks::run_checks;
    let dir = tempfile::tempdir().unwrap();
    let settings = support::settings(dir.path());
    let (mut store, id) = store_with_health(
        dir.path(),
        json!({
            "interface_missing": {"name": "eth9", "since": T0 - 60},
            "config_refused": {"key": "offset_bp", "why": "out of range", "since": T0 - 3600},
        }),
    );
    // The refused config has held for an hour: alerted; the missing interface for a minute: not yet.
    let report = run_checks(&mut store, &settings, T0).unwrap();
    assert_eq!(report.opened.len(), 1, "{report:?}");
    assert!(report.opened[0].contains("offset_bp"), "{report:?}");
    // 15 minutes (the default health_after_minutes) after it was first seen: alerted, once.
    let report = run_checks(&mut store, &settings, T0 + 14 * 60 - 60).unwrap();
    assert!(report.opened.is_empty(), "not before 15 minutes: {report:?}");
    let report = run_checks(&mut store, &settings, T0 + 14 * 60).unwrap();
    assert_eq!(report.opened.len(), 1, "{report:?}");
    assert!(report.opened[0].contains("eth9"), "{report:?}");
    assert!(
        run_checks(&mut store, &settings, T0 + 15 * 60).unwrap().opened.is_empty(),
        "one alert per incident"
    );

    // Fixed: the next heartbeat has no condition; both incidents recover.
    let mut hb = heartbeat("web-01", MAC, T0 + 16 * 60);
    hb.health = Some(Default::default());
    store.record_heartbeat(id, &hb, MAC, None, T0 + 16 * 60, T0 + 16 * 60).unwrap().unwrap();
    let report = run_checks(&mut store, &settings, T0 + 16 * 60).unwrap();
    assert_eq!(report.recovered.len(), 2, "{report:?}");
}

#[test]
fn every_health_condition_has_its_alert() {
    use pushagent_config::checks::run_checks;
    let dir = tempfile::tempdir().unwrap();
    let settings = support::settings(dir.path());
    let (mut store, _) = store_with_health(
        dir.path(),
        json!({
            "clock_unsynchronised_since": T0 - 7200,
            "sampler_cannot_commit": {"since": T0 - 7200, "why": "database or disk is full"},
            "settings_missing": {"which": ["report.provider_id"], "since": T0 - 7200},
            "last_clock_step": {"step_ms": -28_800_000, "at": T0 - 7000},
        }),
    );
    let report = run_checks(&mut store, &settings, T0).unwrap();
    let text = report.opened.join("\n");
    assert_eq!(report.opened.len(), 3, "{text}");
    assert!(
        text.contains("时钟") && text.contains("disk is full") && text.contains("report.provider_id"),
        "{text}"
    );
}
