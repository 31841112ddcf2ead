//! The inventory over HTTP: CSV import (all or nothing, errors naming row and column), the
//! state, unmatched hosts and machines, an operator's link, "sync now" without [inventory].

#![allow(clippy::unwrap_used)]

mod support;

use serde_json::{json, Value};
use support::{register_body, Server};

fn register_with_ip(server: &Server, uid: &str, mac: &str, ip: &str) -> i64 {
    let mut body = register_body(uid, uid, mac);
    body["facts"]["addresses"] = json!([{"name": "eth0", "ipv4": [{"address": ip, "prefix": 24}]}]);
    let (status, answer) = server.send("POST", pushagent_proto::agent::REGISTER_PATH, &body, None);
    assert_eq!(status, 200, "{answer}");
    answer["machine_id"].as_str().unwrap().parse().unwrap()
}

fn import(server: &Server, csv: &str) -> (u16, Value) {
    server.send_raw(
        "POST",
        "/api/inventory",
        csv.as_bytes(),
        "text/csv; charset=utf-8",
        Some(&server.api_token),
    )
}

#[test]
fn a_csv_import_names_machines_and_an_operator_links_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    let a = register_with_ip(&server, "m-a", "02:00:00:00:00:0a", "203.0.113.1");
    let b = register_with_ip(&server, "m-b", "02:00:00:00:00:0b", "10.0.0.2");
    let c = register_with_ip(&server, "m-c", "02:00:00:00:00:0c", "10.0.0.3");

    // A bad row refuses the whole file, naming the row and the column.
    let (status, answer) =
        import(&server, "host_name,ip,mac,node\nbj-01,203.0.113.1,,北京\nsh-02,10.0.0.300,,上海\n");
    assert_eq!(status, 400, "{answer}");
    assert!(answer["message"].as_str().unwrap().contains("row 3, ip"), "{answer}");
    assert_eq!(server.admin_get("/api/inventory").1["hosts"], 0);
    let (status, _) = server.send_raw(
        "POST",
        "/api/inventory",
        b"host_name,ip\n",
        "application/json",
        Some(&server.api_token),
    );
    assert_eq!(status, 415);
    // Without a token a CSV post is what a cross-site form could send: refused before auth (415).
    let (status, _) = server.send_raw("POST", "/api/inventory", b"host_name,ip\n", "text/csv", None);
    assert_eq!(status, 415);

    let (status, answer) = import(
        &server,
        "host_name,ip,mac,node\nbj-01,203.0.113.1,,北京\nsh-02,,02:00:00:00:00:0b,上海\nspare,192.0.2.9,,\n",
    );
    assert_eq!(status, 200, "{answer}");
    assert_eq!((answer["hosts"].as_i64(), answer["matched"].as_i64()), (Some(3), Some(2)));
    let (_, machine) = server.admin_get(&format!("/api/machines/{a}"));
    assert_eq!(machine["config"]["node"], "北京");
    let (_, machine) = server.admin_get(&format!("/api/machines/{b}"));
    assert_eq!(machine["config"]["node"], "上海");

    let (_, state) = server.admin_get("/api/inventory");
    assert_eq!(
        (state["hosts"].as_i64(), state["unmatched_hosts"].as_i64(), state["unmatched_machines"].as_i64()),
        (Some(3), Some(1), Some(1))
    );
    assert_eq!(state["configured"], Value::Null);
    assert_eq!(state["runs"][0]["source"], "csv");
    let (_, unmatched) = server.admin_get("/api/inventory/hosts?matched=false");
    assert_eq!(unmatched["items"][0]["name"], "spare");
    let (_, machines) = server.admin_get("/api/inventory/unmatched-machines");
    assert_eq!(machines["items"][0]["id"], c);

    let (status, answer) = server.admin_send(
        "PUT",
        "/api/inventory/links",
        &json!({"source": "csv", "host_key": "192.0.2.9", "machine_id": c}),
    );
    assert_eq!(status, 200, "{answer}");
    let (_, machines) = server.admin_get("/api/inventory/unmatched-machines");
    assert_eq!(machines["total"], 0);
    let (status, _) = server.admin_send(
        "PUT",
        "/api/inventory/links",
        &json!({"source": "csv", "host_key": "nope", "machine_id": c}),
    );
    assert_eq!(status, 404);
    let (_, audit) = server.admin_get("/api/audit?page_size=100");
    let items = audit["items"].as_array().unwrap();
    assert!(items.iter().any(|r| r["actor"] == "inventory:csv" && r["field"] == "node"));
    assert!(items
        .iter()
        .any(|r| r["entity"] == "inventory_link" && r["actor"].as_str().unwrap().starts_with("token:")));

    let (status, answer) = server.admin_send("POST", "/api/inventory/sync", &json!({}));
    assert_eq!(status, 409, "{answer}");
    server.stop();
}
