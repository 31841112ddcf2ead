//! The ops platform's names (issue 13): an agent's `[identity]` gives the machine its host name
//! (主机名称) and node unless an operator set them; both are audited and shown by the machine API.

#![allow(clippy::unwrap_used)]

mod support;

use pushagent_proto::agent::{
    Identity, PushStatus, CONFIG_PATH, HEARTBEAT_PATH, HISTORY_PATH, REGISTER_PATH,
};
use serde_json::{json, Value};
use support::{heartbeat, push_item, register_body, Server, T0};

const MAC: &str = "aa:bb:cc:dd:ee:01";

fn spug(host_name: &str, node: &str) -> Identity {
    Identity {
        ops_host_id: Some("42".into()),
        host_name: Some(host_name.into()),
        management_ip: Some("203.0.113.10".into()),
        node: Some(node.into()),
    }
}

fn register(server: &Server, identity: &Identity) -> (String, i64) {
    let mut body = register_body("0123456789abcdef0123456789abcdef", "web-01", MAC);
    body["identity"] = json!(identity);
    let (status, answer) = server.send("POST", REGISTER_PATH, &body, None);
    assert_eq!(status, 200, "{answer}");
    (
        answer["agent_token"].as_str().unwrap().to_owned(),
        answer["machine_id"].as_str().unwrap().parse().unwrap(),
    )
}

fn beat(server: &Server, token: &str, identity: &Identity) -> Value {
    let mut hb = heartbeat("web-01", MAC, T0);
    hb.identity = identity.clone();
    let (status, answer) = server.send("POST", HEARTBEAT_PATH, &json!(hb), Some(token));
    assert_eq!(status, 200, "{answer}");
    answer
}

fn names(server: &Server, id: i64) -> (Value, Value, Value, Value) {
    let (status, m) = server.admin_get(&format!("/api/machines/{id}"));
    assert_eq!(status, 200, "{m}");
    (
        m["hostname"].clone(),
        m["config"]["node"].clone(),
        m["host_name_set_by"].clone(),
        m["node_set_by"].clone(),
    )
}

#[test]
fn the_platform_names_a_machine_until_an_operator_does() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    let (token, id) = register(&server, &spug("北京-电信-01", "华北/北京"));

    // Registration: the platform's names, the OS name kept beside them.
    let (_, m) = server.admin_get(&format!("/api/machines/{id}"));
    assert_eq!(m["hostname"], "北京-电信-01");
    assert_eq!(m["os_hostname"], "web-01");
    assert_eq!(m["config"]["node"], "华北/北京");
    assert_eq!(
        m["identity"],
        json!({"ops_host_id": "42", "host_name": "北京-电信-01",
        "management_ip": "203.0.113.10", "node": "华北/北京"})
    );
    assert_eq!((m["host_name_set_by"].clone(), m["node_set_by"].clone()), (Value::Null, Value::Null));
    // The node is machine config: the agent sees a new version and pulls it.
    let (_, config) = server.get(CONFIG_PATH, Some(&token));
    assert_eq!(config["node"], "华北/北京");

    // The platform renames and regroups it: the next heartbeat carries it over.
    let answer = beat(&server, &token, &spug("北京-电信-02", "华北/天津"));
    let version = answer["machine_config_version"].as_i64().unwrap();
    assert_eq!(names(&server, id).0, "北京-电信-02");
    assert_eq!(names(&server, id).1, "华北/天津");
    // The same again changes nothing (no new config version).
    let answer = beat(&server, &token, &spug("北京-电信-02", "华北/天津"));
    assert_eq!(answer["machine_config_version"].as_i64().unwrap(), version);

    // Push history names the machine by the platform's host name and node.
    let item = push_item(MAC, "2026112410", 1, PushStatus::Success, T0);
    let (status, answer) = server.send("POST", HISTORY_PATH, &json!({"pushes": [item]}), Some(&token));
    assert_eq!(status, 200, "{answer}");
    let (_, page) = server.admin_get("/api/history");
    assert_eq!(
        (page["items"][0]["hostname"].clone(), page["items"][0]["node"].clone()),
        (json!("北京-电信-02"), json!("华北/天津"))
    );

    // An operator overrides both: the agent's reports no longer move them.
    let (status, answer) = server.admin_send(
        "PATCH",
        &format!("/api/machines/{id}/config"),
        &json!({"host_name": "手工-主机", "node": "手工节点"}),
    );
    assert_eq!(status, 200, "{answer}");
    beat(&server, &token, &spug("北京-电信-03", "华北/河北"));
    let (host, node, host_by, node_by) = names(&server, id);
    assert_eq!((host, node), (json!("手工-主机"), json!("手工节点")));
    assert!(host_by.as_str().unwrap().starts_with("token:"), "{host_by}");
    assert!(node_by.as_str().unwrap().starts_with("token:"), "{node_by}");

    // Clearing the overrides gives both back to the platform's latest names.
    let (status, answer) = server.admin_send(
        "PATCH",
        &format!("/api/machines/{id}/config"),
        &json!({"host_name": null, "node": null}),
    );
    assert_eq!(status, 200, "{answer}");
    assert_eq!(names(&server, id), (json!("北京-电信-03"), json!("华北/河北"), Value::Null, Value::Null));

    // Every change is audited, by who made it.
    let (_, audit) = server.admin_get("/api/audit?page_size=100");
    let changes: Vec<(String, String, String)> = audit["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["field"] == "host_name" || r["field"] == "node")
        .map(|r| {
            let actor = r["actor"].as_str().unwrap();
            let actor = if actor.starts_with("token:") { "operator" } else { actor };
            (
                actor.to_owned(),
                r["field"].as_str().unwrap().to_owned(),
                r["new_value"].as_str().unwrap().to_owned(),
            )
        })
        .rev()
        .collect();
    let expected: Vec<(String, String, String)> = [
        ("agent", "host_name", "\"北京-电信-01\""),
        ("agent", "node", "\"华北/北京\""),
        ("agent", "host_name", "\"北京-电信-02\""),
        ("agent", "node", "\"华北/天津\""),
        ("operator", "host_name", "\"手工-主机\""),
        ("operator", "node", "\"手工节点\""),
        ("operator", "host_name", "\"北京-电信-03\""),
        ("operator", "node", "\"华北/河北\""),
    ]
    .iter()
    .map(|(a, f, v)| ((*a).to_owned(), (*f).to_owned(), (*v).to_owned()))
    .collect();
    assert_eq!(changes, expected);
}

#[test]
fn an_agent_without_identity_keeps_its_os_name_and_the_operator_node() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    let (token, id) = register(&server, &Identity::default());
    assert_eq!(names(&server, id), (json!("web-01"), Value::Null, Value::Null, Value::Null));
    let (status, _) =
        server.admin_send("PATCH", &format!("/api/machines/{id}/config"), &json!({"node": "北京-1"}));
    assert_eq!(status, 200);
    // An identity with a host name but no node: the name follows, the node stays the operator's.
    let identity = Identity { host_name: Some("bj-01".into()), ..Identity::default() };
    beat(&server, &token, &identity);
    assert_eq!(names(&server, id).0, "bj-01");
    assert_eq!(names(&server, id).1, "北京-1");
    // The identity gone again (config edited): back to the OS name; the node is untouched.
    beat(&server, &token, &Identity::default());
    assert_eq!(names(&server, id).0, "web-01");
    assert_eq!(names(&server, id).1, "北京-1");
}

#[test]
fn bad_identity_values_are_refused_naming_the_field() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    let mut body = register_body("m-1", "web-01", MAC);
    body["identity"] = json!({"management_ip": "web01.example.com"});
    let (status, answer) = server.send("POST", REGISTER_PATH, &body, None);
    assert_eq!(status, 400, "{answer}");
    assert!(answer["message"].as_str().unwrap().starts_with("identity.management_ip:"), "{answer}");
    let (token, id) = server.register("m-1", "web-01", MAC);
    let mut hb = json!(heartbeat("web-01", MAC, T0));
    hb["identity"] = json!({"host_name": "bad\nname"});
    let (status, answer) = server.send("POST", HEARTBEAT_PATH, &hb, Some(&token));
    assert_eq!(status, 400, "{answer}");
    assert!(answer["message"].as_str().unwrap().starts_with("identity.host_name:"), "{answer}");
    let (status, answer) =
        server.admin_send("PATCH", &format!("/api/machines/{id}/config"), &json!({"host_name": " "}));
    assert_eq!(status, 400, "{answer}");
    assert!(answer["message"].as_str().unwrap().starts_with("host_name:"), "{answer}");
}
