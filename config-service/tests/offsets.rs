//! Offsets at every level (issue 12): a node's offsets and a machine's fixed amount through the
//! admin API, what the agent is served, the effective offset and its level the machine API
//! shows (the agent's own `proto::offset::resolve`), the audit of every change with its level,
//! refusals, and the fixed amount kept in push history.

#![allow(clippy::unwrap_used)]

mod support;

use pushagent_proto::agent::{
    GlobalConfig, MachineConfig, PushStatus, CONFIG_PATH, GLOBAL_CONFIG_PATH, HEARTBEAT_PATH, HISTORY_PATH,
};
use pushagent_proto::offset::{self, Level};
use serde_json::{json, Value};
use support::{heartbeat, push_item, Server, T0};

const MAC_A: &str = "aa:bb:cc:dd:ee:01";
const MAC_B: &str = "aa:bb:cc:dd:ee:02";
const NODE: &str = "北京-1";
const MB: i64 = 1_000_000;

/// A path segment, percent-encoded (node names are often Chinese).
fn segment(text: &str) -> String {
    text.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b == b'-' {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

fn node_path(node: &str) -> String {
    format!("/api/nodes/{}/offsets", segment(node))
}

/// (percent bp, its level, fixed bytes, its level) as the machine API shows them.
fn effective(server: &Server, id: i64) -> (i64, String, i64, String) {
    let (status, m) = server.admin_get(&format!("/api/machines/{id}"));
    assert_eq!(status, 200, "{m}");
    let e = &m["effective_offset"];
    (
        e["offset_bp"].as_i64().unwrap(),
        e["offset_bp_level"].as_str().unwrap().to_owned(),
        e["offset_fixed_bytes"].as_i64().unwrap(),
        e["offset_fixed_level"].as_str().unwrap().to_owned(),
    )
}

fn eff(bp: i64, bp_level: &str, fixed: i64, fixed_level: &str) -> (i64, String, i64, String) {
    (bp, bp_level.to_owned(), fixed, fixed_level.to_owned())
}

/// What the agent itself would push with: its machine and global config, resolved by the
/// same function the agent uses.
fn agent_effective(server: &Server, token: &str) -> offset::Effective {
    let (_, machine) = server.get(CONFIG_PATH, Some(token));
    let machine: MachineConfig = serde_json::from_value(machine).unwrap();
    let (_, global) = server.get(GLOBAL_CONFIG_PATH, Some(token));
    let global: GlobalConfig = serde_json::from_value(global).unwrap();
    let (node, own) = machine.offset_levels();
    offset::resolve(global.offset_level(), node, own)
}

fn audit_rows(server: &Server) -> Vec<Value> {
    let (_, audit) = server.admin_get("/api/audit?page_size=500");
    audit["items"].as_array().unwrap().clone()
}

fn machine_config_version(server: &Server, token: &str, mac: &str) -> i64 {
    let (status, answer) =
        server.send("POST", HEARTBEAT_PATH, &json!(heartbeat("web", mac, T0)), Some(token));
    assert_eq!(status, 200, "{answer}");
    answer["machine_config_version"].as_i64().unwrap()
}

#[test]
fn machine_beats_node_beats_global_per_kind_and_the_agent_is_served_the_same() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    let (token_a, a) = server.register("m-a", "web-a", MAC_A);
    let (token_b, b) = server.register("m-b", "web-b", MAC_B);
    let (_, mut global) = server.admin_get("/api/global-config");
    global["offset_bp"] = json!(300);
    global["offset_fixed_bytes"] = json!(MB);
    let (status, answer) = server.admin_send("PUT", "/api/global-config", &global);
    assert_eq!(status, 200, "{answer}");
    let (status, answer) = server.admin_send(
        "POST",
        "/api/machines/bulk",
        &json!({ "machine_ids": [a, b], "patch": { "node": NODE } }),
    );
    assert_eq!(status, 200, "{answer}");
    assert_eq!(effective(&server, a), eff(300, "global", MB, "global"));

    // The node's offsets: both machines take them, and their agents are told to pull again.
    let version_before = machine_config_version(&server, &token_a, MAC_A);
    let (status, node) = server.admin_send(
        "PUT",
        &node_path(NODE),
        &json!({ "offset_bp": -200, "offset_fixed_bytes": -2 * MB }),
    );
    assert_eq!(status, 200, "{node}");
    assert_eq!((node["node"].as_str(), node["machines"].as_i64()), (Some(NODE), Some(2)));
    assert_eq!(node["effective_offset"]["offset_bp_level"], "node");
    assert_eq!(machine_config_version(&server, &token_a, MAC_A), version_before + 1);
    let (_, served) = server.get(CONFIG_PATH, Some(&token_a));
    let served: MachineConfig = serde_json::from_value(served).unwrap();
    assert_eq!(
        (served.node_offset_bp, served.node_offset_fixed_bytes, served.offset_bp, served.offset_fixed_bytes),
        (Some(-200), Some(-2 * MB), None, None)
    );
    assert_eq!(effective(&server, a), eff(-200, "node", -2 * MB, "node"));
    assert_eq!(effective(&server, b), eff(-200, "node", -2 * MB, "node"));

    // The machine's own fixed amount wins over the node's; its percentage still comes from the node.
    let (status, patched) = server.admin_send(
        "PATCH",
        &format!("/api/machines/{a}/config"),
        &json!({ "offset_fixed_bytes": 5 * MB }),
    );
    assert_eq!(status, 200, "{patched}");
    assert_eq!(
        (patched["offset_fixed_bytes"].as_i64(), patched["node_offset_bp"].as_i64()),
        (Some(5 * MB), Some(-200))
    );
    assert_eq!(effective(&server, a), eff(-200, "node", 5 * MB, "machine"));
    assert_eq!(
        effective(&server, b),
        eff(-200, "node", -2 * MB, "node"),
        "the other machine keeps the node's"
    );
    // 0 % set at the machine is set.
    server.admin_send("PATCH", &format!("/api/machines/{a}/config"), &json!({ "offset_bp": 0 }));
    assert_eq!(effective(&server, a), eff(0, "machine", 5 * MB, "machine"));
    // What the machine API shows is what the agent computes from what it is served.
    for (token, id) in [(&token_a, a), (&token_b, b)] {
        let e = agent_effective(&server, token);
        let shown = effective(&server, id);
        assert_eq!(
            (
                i64::from(e.offset_bp),
                e.offset_bp_level.as_str(),
                e.offset_fixed_bytes,
                e.offset_fixed_level.as_str()
            ),
            (shown.0, shown.1.as_str(), shown.2, shown.3.as_str())
        );
    }
    assert_eq!(agent_effective(&server, &token_a).offset_fixed_level, Level::Machine);

    // The node list shows the node; unsetting the node's offsets hands b back to the global ones.
    let (_, nodes) = server.admin_get("/api/nodes");
    let listed: Vec<&Value> =
        nodes["items"].as_array().unwrap().iter().filter(|n| n["node"] == NODE).collect();
    assert_eq!((listed.len(), listed[0]["offset_fixed_bytes"].as_i64()), (1, Some(-2 * MB)));
    let (status, node) = server.admin_send("PUT", &node_path(NODE), &json!({ "offset_bp": null }));
    assert_eq!(status, 200, "{node}");
    assert_eq!((node["offset_bp"].clone(), node["offset_fixed_bytes"].clone()), (Value::Null, Value::Null));
    assert_eq!(effective(&server, b), eff(300, "global", MB, "global"));
    assert_eq!(effective(&server, a), eff(0, "machine", 5 * MB, "machine"));
    // Clearing the machine's own values (null) gives them back to the levels above.
    server.admin_send(
        "PATCH",
        &format!("/api/machines/{a}/config"),
        &json!({ "offset_bp": null, "offset_fixed_bytes": null }),
    );
    assert_eq!(effective(&server, a), eff(300, "global", MB, "global"));
    // A node's offsets can be set before any machine carries it.
    let (status, node) =
        server.admin_send("PUT", &node_path("gz-2"), &json!({ "offset_fixed_bytes": 3 * MB }));
    assert_eq!((status, node["machines"].as_i64()), (200, Some(0)), "{node}");
    let (status, node) = server.admin_get(&format!("/api/nodes/{}", segment("gz-2")));
    assert_eq!((status, node["offset_fixed_bytes"].as_i64()), (200, Some(3 * MB)));

    // Every change is audited: who, when, old, new and the level it was made at.
    let rows = audit_rows(&server);
    let find = |level: &str, field: &str, old: &str, new: &str| {
        rows.iter().find(|r| {
            r["level"] == level && r["field"] == field && r["old_value"] == old && r["new_value"] == new
        })
    };
    for (level, field, old, new) in [
        ("global", "offset_bp", "0", "300"),
        ("global", "offset_fixed_bytes", "0", "1000000"),
        ("node", "offset_bp", "null", "-200"),
        ("node", "offset_fixed_bytes", "null", "-2000000"),
        ("node", "offset_bp", "-200", "null"),
        ("node", "offset_fixed_bytes", "-2000000", "null"),
        ("machine", "offset_fixed_bytes", "null", "5000000"),
        ("machine", "offset_bp", "null", "0"),
        ("machine", "offset_fixed_bytes", "5000000", "null"),
    ] {
        let row =
            find(level, field, old, new).unwrap_or_else(|| panic!("no audit {level} {field} {old} -> {new}"));
        assert!(row["actor"].as_str().unwrap().starts_with("token:"), "{row}");
        assert!(row["at"].as_i64().unwrap() >= T0, "{row}");
    }
    let node_row = find("node", "offset_bp", "null", "-200").unwrap();
    assert_eq!(
        (node_row["entity"].as_str(), node_row["entity_id"].as_str()),
        (Some("node_config"), Some(NODE))
    );
    let machine_row = find("machine", "offset_fixed_bytes", "null", "5000000").unwrap();
    assert_eq!(machine_row["entity_id"], a.to_string());
    // Setting the same values again changes (and audits) nothing.
    let count = rows.len();
    server.admin_send("PUT", &node_path("gz-2"), &json!({ "offset_fixed_bytes": 3 * MB }));
    server.admin_send("PATCH", &format!("/api/machines/{b}/config"), &json!({ "offset_bp": null }));
    assert_eq!(audit_rows(&server).len(), count);
}

#[test]
fn bad_offsets_are_refused_with_400_naming_the_field_and_change_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    let (token, id) = server.register("m-a", "web-a", MAC_A);
    let too_big = offset::FIXED_BYTES_MAX + 1;
    let before = server.table_counts();
    let config = format!("/api/machines/{id}/config");
    let cases: Vec<(&str, String, Value, &str)> = vec![
        ("PUT", node_path(NODE), json!({ "offset_bp": -10_000 }), "offset_bp"),
        ("PUT", node_path(NODE), json!({ "offset_bp": 100_001 }), "offset_bp"),
        ("PUT", node_path(NODE), json!({ "offset_fixed_bytes": too_big }), "offset_fixed_bytes"),
        ("PUT", node_path(NODE), json!({ "offset_fixed_bytes": -too_big }), "offset_fixed_bytes"),
        ("PUT", node_path(NODE), json!({ "offset_fixed_bytes": "5" }), "offset_fixed_bytes"),
        ("PUT", node_path(NODE), json!({ "offset_fixed_bytes": 1.5 }), "offset_fixed_bytes"),
        ("PUT", node_path(NODE), json!({ "offset_bp": 10, "offset_percent": 1 }), "offset_percent"),
        ("PUT", node_path(" padded"), json!({ "offset_bp": 10 }), "node"),
        ("PUT", node_path(&"n".repeat(300)), json!({ "offset_bp": 10 }), "node"),
        ("PATCH", config.clone(), json!({ "offset_fixed_bytes": too_big }), "offset_fixed_bytes"),
        ("PATCH", config.clone(), json!({ "offset_fixed_bytes": i64::MIN }), "offset_fixed_bytes"),
        ("PATCH", config.clone(), json!({ "offset_fixed_bytes": "1MB" }), "offset_fixed_bytes"),
    ];
    for (method, path, body, names) in cases {
        let (status, answer) = server.admin_send(method, &path, &body);
        assert_eq!(status, 400, "{method} {path} {body}: {answer}");
        assert!(answer["message"].as_str().unwrap_or_default().contains(names), "{body}: {answer}");
    }
    // An agent's history with an impossible fixed amount is refused whole.
    let mut item = serde_json::to_value(push_item(MAC_A, "2026112410", 1, PushStatus::Success, T0)).unwrap();
    item["offset_fixed_bytes"] = json!(too_big);
    let (status, answer) = server.send("POST", HISTORY_PATH, &json!({ "pushes": [item] }), Some(&token));
    assert_eq!(status, 400, "{answer}");
    assert!(answer["message"].as_str().unwrap().contains("pushes[0].offset_fixed_bytes"), "{answer}");
    assert_eq!(server.table_counts(), before, "nothing stored, nothing audited");
    let (_, nodes) = server.admin_get("/api/nodes");
    assert_eq!(nodes["items"], json!([]));
}

#[test]
fn push_history_keeps_the_fixed_amount_each_report_was_built_with() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    let (token, _) = server.register("m-a", "web-a", MAC_A);
    let mut with_fixed = push_item(MAC_A, "2026112410", 1, PushStatus::Success, T0);
    with_fixed.offset_fixed_bytes = -40;
    with_fixed.pushed_points = [63; 12];
    with_fixed.pushed_bytes = 756;
    // An agent older than the field sends none: 0.
    let mut old_agent =
        serde_json::to_value(push_item(MAC_A, "2026112411", 1, PushStatus::Success, T0)).unwrap();
    old_agent.as_object_mut().unwrap().remove("offset_fixed_bytes");
    let (status, answer) =
        server.send("POST", HISTORY_PATH, &json!({ "pushes": [with_fixed, old_agent] }), Some(&token));
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["inserted"], 2);

    let (_, history) = server.admin_get("/api/history?sort=flux_hour&order=asc");
    let shown: Vec<(String, i64, i64, i64, i64)> = history["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| {
            (
                h["flux_hour"].as_str().unwrap().to_owned(),
                h["raw_bytes"].as_i64().unwrap(),
                h["pushed_bytes"].as_i64().unwrap(),
                h["offset_bp"].as_i64().unwrap(),
                h["offset_fixed_bytes"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        shown,
        [("2026112410".to_owned(), 1200, 756, 300, -40), ("2026112411".to_owned(), 1200, 1236, 300, 0)]
    );
    let (status, csv) = server.get_text("/api/history.csv?sort=flux_hour&order=asc", Some(&server.api_token));
    assert_eq!(status, 200, "{csv}");
    let mut lines = csv.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let column = header.iter().position(|h| *h == "offset_fixed_bytes").expect("offset_fixed_bytes column");
    let values: Vec<String> = lines.map(|l| l.split(',').nth(column).unwrap().to_owned()).collect();
    assert_eq!(values, ["-40", "0"]);

    // The same attempt sent again with another fixed amount is a conflict, not a silent duplicate.
    let mut changed = with_fixed_again();
    changed.offset_fixed_bytes = -41;
    let (status, answer) = server.send("POST", HISTORY_PATH, &json!({ "pushes": [changed] }), Some(&token));
    assert_eq!((status, answer["duplicates"].as_i64()), (200, Some(1)), "{answer}");
    let conflicts = server.table_counts().into_iter().find(|(t, _)| t == "history_conflicts");
    assert_eq!(conflicts.map(|c| c.1), Some(1));
}

fn with_fixed_again() -> pushagent_proto::agent::HistoryItem {
    let mut item = push_item(MAC_A, "2026112410", 1, PushStatus::Success, T0);
    item.pushed_points = [63; 12];
    item.pushed_bytes = 756;
    item
}
