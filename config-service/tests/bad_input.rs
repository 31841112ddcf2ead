//! Bad input: each is a 4xx with a clear JSON message, the service stays up and the store is
//! unchanged.

#![allow(clippy::unwrap_used)]

mod support;

use pushagent_proto::agent::{PushStatus, HEARTBEAT_PATH, HISTORY_PATH, REGISTER_PATH};
use serde_json::{json, Value};
use support::{heartbeat, push_item, register_body, skipped_item, Server, T0};

const MAC: &str = "aa:bb:cc:dd:ee:01";

/// (what, method, path, body, content type, agent token?, expected status, words in the message)
struct Case {
    what: &'static str,
    path: String,
    body: Vec<u8>,
    content_type: &'static str,
    agent: bool,
    status: u16,
    says: &'static str,
}

fn case(what: &'static str, path: &str, body: Vec<u8>, agent: bool, status: u16, says: &'static str) -> Case {
    Case { what, path: path.to_owned(), body, content_type: "application/json", agent, status, says }
}

fn json_bytes(v: &Value) -> Vec<u8> {
    v.to_string().into_bytes()
}

#[test]
fn bad_agent_input_is_refused_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    let (token, machine_id) = server.register("m-1", "web-01", MAC);
    let good_heartbeat = json!(heartbeat("web-01", MAC, T0));
    let good_push = json!(push_item(MAC, "2026112410", 1, PushStatus::Success, T0));
    let with = |base: &Value, pointer: &str, value: Value| {
        let mut v = base.clone();
        *v.pointer_mut(pointer).unwrap() = value;
        v
    };
    let batch = |item: Value| json!({ "pushes": [item] });
    let good_skipped = json!(skipped_item(MAC, "2026112411", 1200, T0));
    // A good push first: a bad skipped item refuses the whole batch.
    let skipped = |item: Value| json!({ "pushes": [good_push.clone()], "skipped": [item] });
    let registration = register_body("m-2", "web-02", "aa:bb:cc:dd:ee:02");
    let full = json_bytes(&good_heartbeat);

    let cases = vec![
        case("malformed JSON", HEARTBEAT_PATH, b"{\"mac\": ".to_vec(), true, 400, "invalid JSON"),
        case("truncated JSON", HEARTBEAT_PATH, full[..full.len() / 2].to_vec(), true, 400, "invalid JSON"),
        case(
            "too many items",
            HISTORY_PATH,
            json_bytes(&json!({ "pushes": vec![good_push.clone(); 501] })),
            true,
            400,
            "at most 500",
        ),
        case(
            "too many items, skipped hours counted",
            HISTORY_PATH,
            json_bytes(
                &json!({ "pushes": vec![good_push.clone(); 250], "skipped": vec![good_skipped.clone(); 251] }),
            ),
            true,
            400,
            "at most 500 items, this one 501",
        ),
        case(
            "skipped: invalid MAC",
            HISTORY_PATH,
            json_bytes(&skipped(with(&good_skipped, "/mac", json!("aa:bb:cc")))),
            true,
            400,
            "skipped[0].mac",
        ),
        case(
            "skipped: bad hour",
            HISTORY_PATH,
            json_bytes(&skipped(with(&good_skipped, "/flux_hour", json!("2026022930")))),
            true,
            400,
            "skipped[0].flux_hour",
        ),
        case(
            "skipped: reason not a code",
            HISTORY_PATH,
            json_bytes(&skipped(with(&good_skipped, "/reason", json!("'; DROP TABLE skipped_hours; --")))),
            true,
            400,
            "skipped[0].reason",
        ),
        case(
            "skipped: empty reason",
            HISTORY_PATH,
            json_bytes(&skipped(with(&good_skipped, "/reason", json!("")))),
            true,
            400,
            "skipped[0].reason",
        ),
        case(
            "skipped: switch not a code",
            HISTORY_PATH,
            json_bytes(&skipped(with(&good_skipped, "/switches", json!(["machine", "Global!"])))),
            true,
            400,
            "skipped[0].switches[1]",
        ),
        case(
            "skipped: too many switches",
            HISTORY_PATH,
            json_bytes(&skipped(with(&good_skipped, "/switches", json!(vec!["machine"; 9])))),
            true,
            400,
            "at most 8",
        ),
        case(
            "skipped: negative bytes",
            HISTORY_PATH,
            json_bytes(&skipped(with(&good_skipped, "/raw_bytes", json!(-1)))),
            true,
            400,
            "skipped[0].raw_bytes",
        ),
        case(
            "skipped: bytes above 2^63-1",
            HISTORY_PATH,
            json_bytes(&skipped(with(&good_skipped, "/raw_bytes", json!(u64::MAX)))),
            true,
            400,
            "larger than 2^63-1",
        ),
        case(
            "skipped: before 1970",
            HISTORY_PATH,
            json_bytes(&skipped(with(&good_skipped, "/decided_at", json!(-5)))),
            true,
            400,
            "before 1970",
        ),
        case(
            "skipped: not a list",
            HISTORY_PATH,
            json_bytes(&json!({ "skipped": good_skipped.clone() })),
            true,
            400,
            "skipped: invalid type",
        ),
        case(
            "trailing garbage",
            HEARTBEAT_PATH,
            [full.clone(), b"}{".to_vec()].concat(),
            true,
            400,
            "trailing",
        ),
        case("not JSON at all", HISTORY_PATH, b"hello".to_vec(), true, 400, "invalid JSON"),
        case("10 MiB body", HISTORY_PATH, vec![b' '; 10 * 1024 * 1024], true, 413, "larger than"),
        case(
            "wrong type",
            HEARTBEAT_PATH,
            json_bytes(&with(&good_heartbeat, "/agent_time", json!("noon"))),
            true,
            400,
            "agent_time: invalid type",
        ),
        case(
            "negative bytes",
            HISTORY_PATH,
            json_bytes(&batch(with(&good_push, "/raw_bytes", json!(-5)))),
            true,
            400,
            "pushes[0].raw_bytes",
        ),
        case(
            "11 points",
            HISTORY_PATH,
            json_bytes(&batch(with(&good_push, "/raw_points", json!(vec![1; 11])))),
            true,
            400,
            "raw_points",
        ),
        case(
            "totals not the sum",
            HISTORY_PATH,
            json_bytes(&batch(with(&good_push, "/pushed_bytes", json!(1)))),
            true,
            400,
            "not the sum",
        ),
        case(
            "invalid MAC",
            HEARTBEAT_PATH,
            json_bytes(&with(&good_heartbeat, "/mac", json!("zz:bb:cc:dd:ee:01"))),
            true,
            400,
            "MAC",
        ),
        case(
            "invalid MAC in history",
            HISTORY_PATH,
            json_bytes(&batch(with(&good_push, "/mac", json!("aa:bb")))),
            true,
            400,
            "MAC",
        ),
        case(
            "interface with /",
            HEARTBEAT_PATH,
            json_bytes(&with(&good_heartbeat, "/chosen_interface", json!("eth0/../x"))),
            true,
            400,
            "interface",
        ),
        case(
            "interface ..",
            HEARTBEAT_PATH,
            json_bytes(&with(&good_heartbeat, "/interfaces/0/name", json!(".."))),
            true,
            400,
            "interface",
        ),
        case(
            "offset -100%",
            HISTORY_PATH,
            json_bytes(&batch(with(&good_push, "/offset_bp", json!(-10_000)))),
            true,
            400,
            "out of range",
        ),
        case(
            "offset above 1000%",
            HISTORY_PATH,
            json_bytes(&batch(with(&good_push, "/offset_bp", json!(100_001)))),
            true,
            400,
            "out of range",
        ),
        case(
            "SQL-looking host name",
            HEARTBEAT_PATH,
            json_bytes(&with(&good_heartbeat, "/hostname", json!("x'); DROP TABLE machines;--"))),
            true,
            400,
            "host name",
        ),
        case(
            "SQL-looking registration",
            REGISTER_PATH,
            json_bytes(&with(&registration, "/hostname", json!("a' OR '1'='1"))),
            false,
            400,
            "host name",
        ),
        case(
            "bad hour",
            HISTORY_PATH,
            json_bytes(&batch(with(&good_push, "/flux_hour", json!("2026113125")))),
            true,
            400,
            "YYYYMMDDHH",
        ),
        case(
            "attempt 0",
            HISTORY_PATH,
            json_bytes(&batch(with(&good_push, "/attempt", json!(0)))),
            true,
            400,
            "start at 1",
        ),
        case("missing field", HEARTBEAT_PATH, json_bytes(&json!({ "mac": MAC })), true, 400, "missing field"),
        case(
            "unknown enrollment token",
            REGISTER_PATH,
            json_bytes(&with(&registration, "/enrollment_token", json!("guess"))),
            false,
            401,
            "enrollment token",
        ),
        Case {
            content_type: "text/plain",
            ..case("not declared JSON", HEARTBEAT_PATH, full.clone(), true, 415, "application/json")
        },
    ];
    let before = server.table_counts();
    for c in &cases {
        let bearer = c.agent.then_some(token.as_str());
        let (status, answer) = server.send_raw("POST", &c.path, &c.body, c.content_type, bearer);
        assert_eq!(status, c.status, "{}: {answer}", c.what);
        let message =
            answer["message"].as_str().unwrap_or_else(|| panic!("{}: no JSON message: {answer}", c.what));
        assert!(message.contains(c.says), "{}: {message:?} should say {:?}", c.what, c.says);
        assert!(answer["error"].is_string(), "{}", c.what);
    }
    assert_eq!(server.table_counts(), before, "the store is unchanged");
    let (_, machine) = server.admin_get(&format!("/api/machines/{machine_id}"));
    assert_eq!(machine["hostname"], "web-01");
    // Still up and serving.
    let (status, _) = server.send("POST", HEARTBEAT_PATH, &good_heartbeat, Some(&token));
    assert_eq!(status, 200);
}

#[test]
fn bad_admin_input_is_refused_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    let (token, machine_id) = server.register("m-1", "web-01", MAC);
    assert_eq!(
        server.send("POST", HEARTBEAT_PATH, &json!(heartbeat("web-01", MAC, T0)), Some(&token)).0,
        200
    );
    let config = format!("/api/machines/{machine_id}/config");
    let before = server.table_counts();
    let cases: Vec<(&str, &str, String, Value, u16, &str)> = vec![
        ("offset -100%", "PATCH", config.clone(), json!({ "offset_bp": -10_000 }), 400, "out of range"),
        ("offset above 1000%", "PATCH", config.clone(), json!({ "offset_bp": 100_001 }), 400, "out of range"),
        ("interface path", "PATCH", config.clone(), json!({ "interface": "../../etc" }), 400, "interface"),
        (
            "virtual interface",
            "PATCH",
            config.clone(),
            json!({ "interface": "docker0" }),
            400,
            "not a physical NIC",
        ),
        (
            "unreported interface",
            "PATCH",
            config.clone(),
            json!({ "interface": "eth7" }),
            400,
            "not among the physical NICs",
        ),
        (
            "interface in bulk",
            "POST",
            "/api/machines/bulk".into(),
            json!({ "machine_ids": [machine_id], "patch": { "interface": "eth0" } }),
            400,
            "one machine at a time",
        ),
        ("unknown field", "PATCH", config.clone(), json!({ "ofset_bp": 1 }), 400, "unknown field"),
        (
            "wrong type",
            "PATCH",
            config.clone(),
            json!({ "push_enabled": "yes" }),
            400,
            "push_enabled: invalid type",
        ),
        (
            "no such machine",
            "PATCH",
            "/api/machines/999/config".into(),
            json!({ "push_enabled": false }),
            404,
            "no machine",
        ),
        (
            "bulk with a missing machine",
            "POST",
            "/api/machines/bulk".into(),
            json!({ "machine_ids": [machine_id, 999], "patch": { "push_enabled": false } }),
            404,
            "no machine",
        ),
        (
            "global offset out of range",
            "PUT",
            "/api/global-config".into(),
            {
                let (_, mut g) = server.admin_get("/api/global-config");
                g["offset_bp"] = json!(-20_000);
                g
            },
            400,
            "out of range",
        ),
        ("global config not an object", "PUT", "/api/global-config".into(), json!([1, 2]), 400, "object"),
    ];
    for (what, method, path, body, status, says) in cases {
        let (got, answer) = server.admin_send(method, &path, &body);
        assert_eq!(got, status, "{what}: {answer}");
        assert!(answer["message"].as_str().unwrap().contains(says), "{what}: {answer}");
    }
    for (what, path, says) in [
        ("bad page size", "/api/machines?page_size=100000", "page_size"),
        ("bad sort", "/api/history?sort=password", "sort"),
        ("bad MAC filter", "/api/history?mac=nope", "MAC"),
        ("bad hour filter", "/api/history?from_hour=yesterday", "YYYYMMDDHH"),
        ("bad number", "/api/machines?page=abc", "page"),
    ] {
        let (status, answer) = server.admin_get(path);
        assert_eq!(status, 400, "{what}: {answer}");
        assert!(answer["message"].as_str().unwrap().contains(says), "{what}: {answer}");
    }
    let (status, answer) = server.get(pushagent_proto::agent::HISTORY_PATH, None);
    assert_eq!((status, answer["error"].as_str()), (405, Some("method_not_allowed")), "{answer}");
    let (status, answer) =
        server.send("POST", "/api/login", &json!({ "username": "nobody", "password": "x" }), None);
    assert_eq!((status, answer["message"].as_str()), (401, Some("wrong user name or password")));
    let (status, answer) = server.admin_get("/api/nowhere");
    assert_eq!((status, answer["error"].as_str()), (404, Some("not_found")));
    assert_eq!(server.table_counts(), before, "the store is unchanged");
}
