//! The customer profile and the machine settings through the admin API: the line preset is
//! stored and served to agents as is, and every value an agent would refuse is a 400 that
//! names the field (the service checks with the agent's own functions, `proto::check` and
//! `proto::profile`), so a bad value never reaches the fleet.

#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

mod support;

use serde_json::{json, Value};
use support::*;

fn line_preset(server: &Server) -> Value {
    let (status, presets) = server.admin_get("/api/profile-presets");
    assert_eq!(status, 200, "{presets}");
    let ids: Vec<&str> = presets.as_array().unwrap().iter().map(|p| p["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["reference-json", "line-csv"]);
    assert_eq!(presets[1]["name_zh"], "逐行 CSV (原厂商格式)");
    presets[1].clone()
}

#[test]
fn the_line_preset_is_stored_and_served_to_agents() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    let preset = line_preset(&server);
    let (_, mut global) = server.admin_get("/api/global-config");
    for key in ["encoding", "line", "auth", "answer", "query", "query_path", "batch_size"] {
        global["customer"][key] = preset[key].clone();
    }
    global["customer"]["access_id"] = json!("AK-line");
    global["provider_id"] = json!("P1001");
    let (status, shown) = server.admin_send("PUT", "/api/global-config", &global);
    assert_eq!(status, 200, "{shown}");
    assert_eq!(shown["customer"]["encoding"], "line");
    assert_eq!(shown["customer"]["auth"]["static_headers"], json!([["need_response", "true"]]));
    let (token, _) = server.register("m-1", "web-1", "aa:bb:cc:dd:ee:01");
    let (status, wire) = server.get(pushagent_proto::agent::GLOBAL_CONFIG_PATH, Some(&token));
    assert_eq!(status, 200, "{wire}");
    let wire: pushagent_proto::agent::GlobalConfig = serde_json::from_value(wire).unwrap();
    assert_eq!(wire.customer.encoding, pushagent_proto::profile::Encoding::Line);
    assert_eq!(wire.customer.auth.sequence_header, "X-Seq");
    assert_eq!(wire.customer.query_path, "", "no query API: verification unavailable");
    assert_eq!(wire.offset_fixed_bytes, 0);
    wire.validate().expect("what the service serves, the agent accepts");
}

/// Issue 11 §2: each of these the agent refuses; the service must refuse it too, naming the
/// field, and store nothing.
#[test]
fn every_value_the_agent_refuses_is_a_400_naming_the_field() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    let (_, machine_id) = server.register("m-1", "web-1", "aa:bb:cc:dd:ee:01");
    let (_, base) = server.admin_get("/api/global-config");
    let global_cases: Vec<(&str, Value, &str)> = vec![
        ("/customer/mac_format", json!("upper_dash"), "customer.mac_format"),
        ("/customer/day_format", json!("%Q%"), "customer.day_format"),
        ("/customer/day_format", json!("%Y"), "customer.day_format"),
        ("/customer/hour_format", json!(""), "customer.hour_format"),
        ("/customer/hour_format", json!("%Y%m%d"), "customer.hour_format"),
        ("/customer/access_id", json!("AK\u{0}"), "customer.access_id"),
        ("/customer/base_url", json!("http://x/"), "customer.base_url"),
        ("/customer/report_path", json!("/a b"), "customer.report_path"),
        ("/customer/batch_size", json!(0), "customer.batch_size"),
        ("/customer/line/separator", json!("x"), "customer.line.separator"),
        ("/customer/line/fields", json!(["mac", "nope"]), "customer.line.fields[1]"),
        (
            "/customer/auth/static_headers",
            json!([["need response", "true"]]),
            "customer.auth.static_headers[0].name",
        ),
        (
            "/customer/auth/static_headers",
            json!([["a", "x\r\nInjected: 1"]]),
            "customer.auth.static_headers[0].value",
        ),
        ("/customer/answer/result_field", json!("bad field"), "customer.answer.result_field"),
        ("/provider_id", json!("P\u{0}"), "provider_id"),
        ("/isp_id", json!(-1), "isp_id"),
        ("/device_type", json!(-7), "device_type"),
        ("/offset_bp", json!(-10_000), "offset_bp"),
        ("/offset_fixed_bytes", json!(4_000_000_000_001i64), "offset_fixed_bytes"),
    ];
    let before = server.table_counts();
    for (pointer, value, field) in global_cases {
        let mut doc = base.clone();
        *doc.pointer_mut(pointer).unwrap_or_else(|| panic!("{pointer}")) = value.clone();
        let (status, answer) = server.admin_send("PUT", "/api/global-config", &doc);
        assert_eq!(status, 400, "{pointer} = {value}: {answer}");
        let message = answer["message"].as_str().unwrap();
        assert!(message.starts_with(&format!("{field}:")), "{pointer} = {value}: {message}");
    }
    // A separator inside an id only matters in the line encoding.
    let mut doc = base.clone();
    doc["provider_id"] = json!("P,1");
    assert_eq!(server.admin_send("PUT", "/api/global-config", &doc).0, 200);
    doc["customer"]["encoding"] = json!("line");
    let (status, answer) = server.admin_send("PUT", "/api/global-config", &doc);
    assert_eq!(status, 400, "{answer}");
    assert!(answer["message"].as_str().unwrap().starts_with("provider_id:"), "{answer}");
    let path = format!("/api/machines/{machine_id}/config");
    for (patch, field) in [
        (json!({ "isp_id": -1 }), "isp_id"),
        (json!({ "device_type": -2 }), "device_type"),
        (json!({ "node": "bj\u{0}1" }), "node"),
        (json!({ "interface": "eth0:1" }), "interface"),
        (json!({ "offset_bp": 100_001 }), "offset_bp"),
    ] {
        let (status, answer) = server.admin_send("PATCH", &path, &patch);
        assert_eq!(status, 400, "{patch}: {answer}");
        assert!(answer["message"].as_str().unwrap().starts_with(&format!("{field}:")), "{patch}: {answer}");
        let bulk = json!({ "machine_ids": [machine_id], "patch": patch });
        let (status, answer) = server.admin_send("POST", "/api/machines/bulk", &bulk);
        assert_eq!(status, 400, "bulk {patch}: {answer}");
    }
    let mut after = server.table_counts();
    // The one valid global change above (provider_id "P,1" in json) is the only thing stored.
    after.retain(|(t, _)| t != "global_config" && t != "audit_log");
    let mut expected = before.clone();
    expected.retain(|(t, _)| t != "global_config" && t != "audit_log");
    assert_eq!(after, expected);
}

/// Issue 11 §2: a body with a key twice is refused whole (which of the two would win is not
/// the operator's choice to leave to a parser), and a config body must say it is JSON.
#[test]
fn duplicate_keys_and_non_json_bodies_are_refused_and_nothing_is_stored() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    let (_, machine_id) = server.register("m-1", "web-1", "aa:bb:cc:dd:ee:01");
    let before = server.table_counts();
    let (_, global) = server.admin_get("/api/global-config");
    let text = global.to_string();
    let twice = text.replacen("\"provider_id\":", "\"provider_id\":\"P-first\",\"provider_id\":", 1);
    assert_ne!(twice, text);
    let token = server.api_token.clone();
    let (status, answer) =
        server.send_raw("PUT", "/api/global-config", twice.as_bytes(), "application/json", Some(&token));
    assert!(matches!(status, 400 | 422), "{status} {answer}");
    assert!(answer.to_string().contains("provider_id"), "{answer}");
    let patch = r#"{"push_enabled": false, "push_enabled": true}"#;
    let path = format!("/api/machines/{machine_id}/config");
    let (status, answer) =
        server.send_raw("PATCH", &path, patch.as_bytes(), "application/json", Some(&token));
    assert!(matches!(status, 400 | 422), "{status} {answer}");
    for content_type in ["text/plain", "application/x-www-form-urlencoded", "application/jsonx"] {
        let (status, answer) =
            server.send_raw("PUT", "/api/global-config", text.as_bytes(), content_type, Some(&token));
        assert_eq!(status, 415, "{content_type}: {answer}");
    }
    assert_eq!(server.table_counts(), before, "nothing stored");
}
