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

/// Hours waiting behind a push switch that is off: stored with the machine's health, shown by
/// the machine API at once, alerted only once they have waited `alerts.push_held_after_hours`
/// (24 by default) — on a machine whose switch is off, which the other checks skip — and
/// recovered when the switch is on again and they are sent.
#[test]
fn hours_held_by_a_switch_are_shown_at_once_and_alerted_after_the_configured_time() {
    use pushagent_config::checks::run_checks;
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    let (token, id) = server.register("m-1", "web-01", MAC);
    let (_, mut global) = server.admin_get("/api/global-config");
    global["push_enabled"] = json!(true);
    assert_eq!(server.admin_send("PUT", "/api/global-config", &global).0, 200);
    // The machine's switch is turned off (验收中): its checks are skipped...
    let (status, answer) = server.admin_send(
        "POST",
        "/api/machines/bulk",
        &json!({ "machine_ids": [id], "patch": { "push_enabled": false } }),
    );
    assert_eq!(status, 200, "{answer}");
    // ... while 3 hours built before wait (one a correction), for 10 minutes on the agent.
    let mut hb = json!(heartbeat("web-01", MAC, T0));
    hb["health"] = json!({"push_held_by_switch": {
        "since": T0 - 600, "switches": ["machine"], "hours_waiting": 3, "corrections_waiting": 1,
        "oldest_hour": "2026120608"}});
    let (status, answer) = server.send("POST", HEARTBEAT_PATH, &hb, Some(&token));
    assert_eq!(status, 200, "{answer}");
    let machine = server.admin_get(&format!("/api/machines/{id}")).1;
    assert_eq!(
        machine["health"]["push_held_by_switch"],
        json!({"since": T0 - 600, "switches": ["machine"], "hours_waiting": 3, "corrections_waiting": 1,
               "oldest_hour": "2026120608"}),
        "{machine}"
    );
    let listed = server.admin_get("/api/machines").1;
    assert_eq!(listed["items"][0]["health"]["push_held_by_switch"]["hours_waiting"], 3, "{listed}");

    let mut store = pushagent_config::store::Store::open(&server.db_path).unwrap();
    let settings = support::settings(dir.path());
    assert!(run_checks(&mut store, &settings, T0).unwrap().opened.is_empty(), "not before 24 h");
    let later = T0 - 600 + 24 * 3600;
    let report = run_checks(&mut store, &settings, later).unwrap();
    assert_eq!(report.opened.len(), 1, "{report:?}");
    assert!(
        report.opened[0].contains("3 小时待推送") && report.opened[0].contains("2026120608"),
        "{report:?}"
    );
    assert!(run_checks(&mut store, &settings, later + 60).unwrap().opened.is_empty(), "one per incident");

    // Switched on, the hours sent: the next heartbeat has no condition; the incident recovers.
    server.admin_send(
        "POST",
        "/api/machines/bulk",
        &json!({ "machine_ids": [id], "patch": { "push_enabled": true } }),
    );
    server.clock.advance(24 * 3600);
    let mut hb = json!(heartbeat("web-01", MAC, later + 120));
    hb["health"] = json!({});
    assert_eq!(server.send("POST", HEARTBEAT_PATH, &hb, Some(&token)).0, 200);
    assert!(server.admin_get(&format!("/api/machines/{id}")).1["health"]
        .get("push_held_by_switch")
        .is_none());
    let report = run_checks(&mut store, &settings, later + 120).unwrap();
    assert_eq!(report.recovered.len(), 1, "{report:?}");
    assert!(report.recovered[0].contains("推送关闭"), "{report:?}");

    // 0 = never alerted (still shown).
    let (_, mut global) = server.admin_get("/api/global-config");
    global["alerts"]["push_held_after_hours"] = json!(0);
    assert_eq!(server.admin_send("PUT", "/api/global-config", &global).0, 200);
    let mut hb = json!(heartbeat("web-01", MAC, later + 180));
    hb["health"] = json!({"push_held_by_switch": {
        "since": T0 - 7 * 86_400, "switches": ["local"], "hours_waiting": 1, "oldest_hour": "2026113008"}});
    assert_eq!(server.send("POST", HEARTBEAT_PATH, &hb, Some(&token)).0, 200);
    assert!(run_checks(&mut store, &settings, later + 180).unwrap().opened.is_empty());
    // An old agent's body without `corrections_waiting` reads.
    assert_eq!(
        server.admin_get(&format!("/api/machines/{id}")).1["health"]["push_held_by_switch"]
            ["corrections_waiting"],
        0
    );
}

/// A history item the service refused (the agent recorded and skipped it): stored, shown on
/// the machine, alerted at once — with the global switch off too — and recovered when an
/// operator cleared it on the agent. Malformed: refused with the field named.
#[test]
fn refused_history_is_shown_and_alerted_at_once_whatever_the_switch() {
    use pushagent_config::checks::run_checks;
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    let (token, id) = server.register("m-1", "web-01", MAC);
    // The global switch stays off (the default): no other check runs.
    let refused = json!({"count": 2, "since": T0 - 300, "latest": {
        "kind": "verification", "mac": MAC, "flux_hour": "2026120610", "status": 400,
        "message": "verifications[0].state: \"weird\" is not a verification state", "at": T0 - 60}});
    let mut hb = json!(heartbeat("web-01", MAC, T0));
    hb["health"] = json!({"history_refused": refused});
    let (status, answer) = server.send("POST", HEARTBEAT_PATH, &hb, Some(&token));
    assert_eq!(status, 200, "{answer}");
    let machine = server.admin_get(&format!("/api/machines/{id}")).1;
    assert_eq!(machine["health"]["history_refused"], refused, "{machine}");

    let mut store = pushagent_config::store::Store::open(&server.db_path).unwrap();
    let settings = support::settings(dir.path());
    let report = run_checks(&mut store, &settings, T0).unwrap();
    assert_eq!(report.opened.len(), 1, "{report:?}");
    assert!(
        report.opened[0].contains("拒收了 2 条") && report.opened[0].contains("2026120610"),
        "{report:?}"
    );

    let long = json!({"count": 1, "since": T0, "latest": {
        "kind": "push", "mac": MAC, "flux_hour": "2026120610", "status": 400, "message": "x".repeat(501), "at": T0}});
    hb["health"] = json!({"history_refused": long});
    let (status, answer) = server.send("POST", HEARTBEAT_PATH, &hb, Some(&token));
    assert_eq!(status, 400, "{answer}");
    assert!(
        answer["message"].as_str().unwrap().contains("health.history_refused.latest.message"),
        "{answer}"
    );

    // Cleared on the agent (`pushagent outbox --forget-refused`): recovered.
    hb["health"] = json!({});
    assert_eq!(server.send("POST", HEARTBEAT_PATH, &hb, Some(&token)).0, 200);
    let report = run_checks(&mut store, &settings, T0 + 60).unwrap();
    assert_eq!(report.recovered.len(), 1, "{report:?}");
}
