//! The admin API: login, lockout, API tokens, server-side lists, audited config changes,
//! write-only secrets, CSV export, the OpenAPI document and metrics.

#![allow(clippy::unwrap_used)]

mod support;

use std::collections::BTreeSet;

use pushagent_config::http::ROUTES;
use pushagent_proto::agent::{PushStatus, HEARTBEAT_PATH, HISTORY_PATH};
use serde_json::{json, Value};
use support::{client, heartbeat, push_item, reply_json, Server, ADMIN, ADMIN_PASSWORD, T0};

fn login(server: &Server, password: &str) -> (u16, Value, Option<String>) {
    let response = client()
        .post(server.url("/api/login"))
        .header("Content-Type", "application/json")
        .send(json!({ "username": ADMIN, "password": password }).to_string().as_bytes())
        .unwrap();
    let cookie = response.headers().get("set-cookie").map(|v| v.to_str().unwrap().to_owned());
    let (status, body) = reply_json(Ok(response));
    (status, body, cookie)
}

#[test]
fn login_sets_a_strict_http_only_cookie_and_locks_after_five_failures() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    let (status, _, cookie) = login(&server, ADMIN_PASSWORD);
    assert_eq!(status, 200);
    let cookie = cookie.unwrap();
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"), "{cookie}");
    let session = cookie.split(';').next().unwrap().to_owned();
    let me = client().get(server.url("/api/me")).header("Cookie", &session).call();
    let (status, me) = reply_json(me);
    assert_eq!((status, me["username"].as_str()), (200, Some(ADMIN)));
    assert_eq!(server.get("/api/me", None).0, 401);

    for _ in 0..5 {
        let (status, answer, _) = login(&server, "wrong-password");
        assert_eq!(status, 401, "{answer}");
    }
    let (status, answer, _) = login(&server, ADMIN_PASSWORD);
    assert_eq!(status, 429, "locked even with the right password: {answer}");
    assert!(answer["message"].as_str().unwrap().contains("locked"));
    server.clock.advance(15 * 60 + 1);
    let (status, _, _) = login(&server, ADMIN_PASSWORD);
    assert_eq!(status, 200, "unlocked after 15 minutes");

    // JSON like every state-changing request (a cross-site form cannot send it).
    let out = client()
        .post(server.url("/api/logout"))
        .header("Cookie", &session)
        .header("Content-Type", "application/json")
        .send_empty();
    assert_eq!(reply_json(out).0, 204);
    let me = client().get(server.url("/api/me")).header("Cookie", &session).call();
    assert_eq!(reply_json(me).0, 401, "the session ended");
}

#[test]
fn machines_are_filtered_sorted_and_paged_by_the_server() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    let (mut ids, mut tokens) = (Vec::new(), Vec::new());
    for i in 0..7 {
        let mac = format!("aa:bb:cc:dd:ee:{i:02x}");
        let (token, id) = server.register(&format!("m-{i}"), &format!("web-{i:02}"), &mac);
        server.send(
            "POST",
            HEARTBEAT_PATH,
            &json!(heartbeat(&format!("web-{i:02}"), &mac, T0)),
            Some(&token),
        );
        ids.push(id);
        tokens.push(token);
    }
    let (status, answer) = server.admin_send(
        "POST",
        "/api/machines/bulk",
        &json!({ "machine_ids": [ids[0], ids[1], ids[2]], "patch": { "node": "gz-1", "offset_bp": -250, "push_enabled": false } }),
    );
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["updated"], 3);

    let (_, page) = server.admin_get("/api/machines?node=gz-1&sort=hostname&order=desc&page_size=2");
    assert_eq!(page["total"], 3);
    let names: Vec<&str> =
        page["items"].as_array().unwrap().iter().map(|m| m["hostname"].as_str().unwrap()).collect();
    assert_eq!(names, ["web-02", "web-01"]);
    assert_eq!(page["items"][0]["config"]["offset_bp"], -250);
    assert_eq!(page["items"][0]["state"], "online");
    let (_, page) = server.admin_get("/api/machines?node=gz-1&sort=hostname&order=desc&page_size=2&page=2");
    assert_eq!(page["items"][0]["hostname"], "web-00");
    let (_, page) = server.admin_get("/api/machines?q=web-0&push_enabled=true");
    assert_eq!(page["total"], 4);

    // By IP (the addresses of the facts, kept up to date) and by exact agent version.
    let mut hb = json!(heartbeat("web-05", "aa:bb:cc:dd:ee:05", T0));
    hb["agent_version"] = json!("0.2.0");
    hb["facts"] = json!({ "addresses": [
        { "interface": "eth0", "ipv4": [{ "address": "203.0.113.45", "prefix_len": 24 }],
          "ipv6": [{ "address": "2001:db8::45", "prefix_len": 64 }] },
        { "interface": "odd", "ipv4": "not a list" }, "not an object"
    ]});
    let (status, answer) = server.send("POST", HEARTBEAT_PATH, &hb, Some(&tokens[5]));
    assert_eq!(status, 200, "odd address shapes are no error: {answer}");
    let hosts = |query: &str| -> Vec<String> {
        let (status, page) = server.admin_get(&format!("/api/machines?{query}"));
        assert_eq!(status, 200, "{page}");
        page["items"].as_array().unwrap().iter().map(|m| m["hostname"].as_str().unwrap().to_owned()).collect()
    };
    assert_eq!(hosts("q=203.0.113.45"), ["web-05"]);
    assert_eq!(hosts("q=2001:db8::"), ["web-05"]);
    assert_eq!(hosts("q=203.0.113"), ["web-05"]);
    assert!(hosts("q=198.51.100.1").is_empty());
    assert_eq!(hosts("version=0.2.0"), ["web-05"]);
    assert_eq!(hosts("version=0.1.0").len(), 6);
    assert!(hosts("version=0.1").is_empty(), "exact, not a prefix");
    // New facts replace the addresses.
    hb["facts"] = json!({ "addresses": [{ "interface": "eth0", "ipv4": [{ "address": "198.51.100.7", "prefix_len": 24 }] }] });
    server.send("POST", HEARTBEAT_PATH, &hb, Some(&tokens[5]));
    assert!(hosts("q=203.0.113.45").is_empty());
    assert_eq!(hosts("q=198.51.100.7"), ["web-05"]);

    // Every change is audited with who, old and new.
    let (_, audit) = server.admin_get("/api/audit?page_size=100");
    let rows = audit["items"].as_array().unwrap();
    let offset_rows: Vec<&Value> = rows.iter().filter(|r| r["field"] == "offset_bp").collect();
    assert_eq!(offset_rows.len(), 3);
    assert_eq!(offset_rows[0]["old_value"], "null");
    assert_eq!(offset_rows[0]["new_value"], "-250");
    assert!(offset_rows[0]["actor"].as_str().unwrap().starts_with("token:"));
    assert!(rows
        .iter()
        .any(|r| r["field"] == "push_enabled" && r["old_value"] == "true" && r["new_value"] == "false"));

    // Offline after three heartbeat periods.
    server.clock.advance(3 * 300 + 1);
    let (_, page) = server.admin_get("/api/machines?state=offline");
    assert_eq!(page["total"], 7);
    let (_, overview) = server.admin_get("/api/overview");
    assert_eq!((overview["deployed"].as_i64(), overview["offline"].as_i64()), (Some(7), Some(7)));
}

#[test]
fn history_is_filtered_and_exported_as_csv() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    let mac = "aa:bb:cc:dd:ee:01";
    let (token, _) = server.register("m-1", "web-01", mac);
    let batch = json!({ "pushes": [
        push_item(mac, "2026112410", 1, PushStatus::Failure, T0),
        push_item(mac, "2026112410", 2, PushStatus::Success, T0 + 60),
        push_item(mac, "2026112411", 1, PushStatus::Success, T0 + 3600),
    ]});
    assert_eq!(server.send("POST", HISTORY_PATH, &batch, Some(&token)).0, 200);
    let (_, page) = server.admin_get("/api/history?status=success&sort=flux_hour&order=desc");
    assert_eq!(page["total"], 2);
    assert_eq!(page["items"][0]["flux_hour"], "2026112411");
    let (_, page) =
        server.admin_get(&format!("/api/history?mac={}&from_hour=2026112411", "AA-BB-CC-DD-EE-01"));
    assert_eq!(page["total"], 1);

    let (_, page) = server.admin_get("/api/history?latest=true&sort=flux_hour&order=asc");
    assert_eq!(page["total"], 2, "one row per hour");
    assert_eq!(
        (page["items"][0]["attempt"].as_i64(), page["items"][0]["hour_attempts"].as_i64()),
        (Some(2), Some(2))
    );
    assert_eq!(page["items"][0]["status"], "success");

    // By part of the host name (LIKE wildcards in it are plain characters).
    let (_, page) = server.admin_get("/api/history?host=eb-0");
    assert_eq!(page["total"], 3);
    let (_, page) = server.admin_get("/api/history?host=db-0");
    assert_eq!(page["total"], 0);
    let (_, page) = server.admin_get("/api/history?host=%25");
    assert_eq!(page["total"], 0, "% is not a wildcard");

    let (status, csv) = server.get_text("/api/history.csv?status=success&order=asc", Some(&server.api_token));
    assert_eq!(status, 200);
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines.len(), 3, "{csv}");
    assert!(lines[0].starts_with("node,hostname,mac,flux_hour,version,attempt,raw_bytes,pushed_bytes"));
    assert!(
        lines[1].contains(
            ",web-01,aa:bb:cc:dd:ee:01,2026112410,1,2,1200,1236,300,success,200,0,,2025-11-24 16:01:00,2"
        ),
        "{}",
        lines[1]
    );
}

#[test]
fn the_global_secret_is_write_only_and_changes_are_versioned_and_audited() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    let (_, mut global) = server.admin_get("/api/global-config");
    assert_eq!(global["customer"]["secret_set"], false);
    assert!(global["customer"].get("secret").is_none());
    global["customer"]["secret"] = json!("SK-1");
    global["offset_bp"] = json!(500);
    global["alerts"]["channels"] = json!([{ "name": "ops", "kind": "dingtalk", "url": "http://127.0.0.1:1/robot/send?access_token=x", "secret": "SEC-ding" }]);
    let (status, shown) = server.admin_send("PUT", "/api/global-config", &global);
    assert_eq!(status, 200, "{shown}");
    assert_eq!((shown["version"].as_i64(), shown["customer"]["secret_set"].as_bool()), (Some(2), Some(true)));
    assert!(!shown.to_string().contains("SK-1") && !shown.to_string().contains("SEC-ding"));
    assert_eq!(shown["alerts"]["channels"][0]["secret_set"], true);

    // Saving the form back as shown (no secrets in it) keeps the secrets.
    let mut again = shown.clone();
    again["push_enabled"] = json!(true);
    let (status, shown) = server.admin_send("PUT", "/api/global-config", &again);
    assert_eq!(status, 200, "{shown}");
    assert_eq!(shown["version"], 3);
    assert_eq!(shown["customer"]["secret_set"], true);
    assert_eq!(shown["alerts"]["channels"][0]["secret_set"], true);

    let (_, audit) = server.admin_get("/api/audit?page_size=100");
    let rows = audit["items"].as_array().unwrap();
    assert!(rows
        .iter()
        .any(|r| r["field"] == "offset_bp" && r["old_value"] == "0" && r["new_value"] == "500"));
    assert!(rows.iter().any(|r| r["field"] == "push_enabled" && r["new_value"] == "true"));
    assert!(!audit.to_string().contains("SK-1"), "the audit log never holds a secret");
}

#[test]
fn the_openapi_document_lists_every_route_and_metrics_are_prometheus_text() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    let (status, doc) = server.get("/api/openapi.json", None);
    assert_eq!(status, 200);
    let documented: BTreeSet<(String, String)> = doc["paths"]
        .as_object()
        .unwrap()
        .iter()
        .flat_map(|(path, ops)| {
            ops.as_object().unwrap().keys().map(move |m| (m.to_uppercase(), path.clone()))
        })
        .collect();
    let served: BTreeSet<(String, String)> =
        ROUTES.iter().map(|(m, p)| ((*m).to_owned(), (*p).to_owned())).collect();
    assert_eq!(documented, served);

    let (token, _) = server.register("m-1", "web-01", "aa:bb:cc:dd:ee:01");
    server.send("POST", HEARTBEAT_PATH, &json!(heartbeat("web-01", "aa:bb:cc:dd:ee:01", T0)), Some(&token));
    let (status, text) = server.get_text("/metrics", None);
    assert_eq!(status, 200);
    assert!(text.contains("pushagent_agents{state=\"online\"} 1"), "{text}");
    assert!(text.contains("pushagent_pushes_total{status=\"failure\"} 0"), "{text}");
    assert!(text.contains("pushagent_alerts_total 0"), "{text}");
}

#[test]
fn every_listed_route_is_served() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    for (method, path) in ROUTES {
        let url = server.url(&path.replace("{id}", "1"));
        let agent = client();
        let response = match *method {
            "GET" => agent.get(&url).call(),
            "POST" => agent.post(&url).header("Content-Type", "application/json").send("{}"),
            "PUT" => agent.put(&url).header("Content-Type", "application/json").send("{}"),
            "PATCH" => agent.patch(&url).header("Content-Type", "application/json").send("{}"),
            other => panic!("method {other}"),
        };
        let (status, answer) = reply_json(response);
        let unrouted = answer["error"] == "method_not_allowed"
            || answer["message"].as_str().is_some_and(|m| m.starts_with("no route"));
        assert!(!unrouted, "{method} {path}: {status} {answer}");
    }
}
