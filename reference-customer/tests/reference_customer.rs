//! The reference customer as the agent meets it: a real server on a loopback port, a real
//! blocking HTTP client, signed requests. Each test tells one behaviour of customer-api.md or
//! of the fault injection.

#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

mod support;

use std::time::Duration;

use pushagent_customer::{Faults, Settings};
use pushagent_proto::customer::{Conflict, QUERY_PATH, REPORT_PATH};
use serde_json::json;
use support::*;

const MAC: &str = "aa:bb:cc:dd:ee:01";
const OTHER_MAC: &str = "aa:bb:cc:dd:ee:02";

fn default_server() -> (tempfile::TempDir, Server) {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_in(dir.path());
    (dir, server)
}

fn server_with(faults: Faults, window_secs: u64) -> (tempfile::TempDir, Server) {
    let dir = tempfile::tempdir().unwrap();
    let settings = Settings {
        faults,
        timestamp_window_secs: window_secs,
        seed: Some(7),
        ..Settings::new(dir.path().join("customer.sqlite"))
    };
    (dir, Server::start(settings))
}

// ---- push ----

#[test]
fn a_signed_push_is_accepted_and_stored() {
    let (_dir, server) = default_server();
    let records = [record(MAC, "2026112400", 1, 100), record(MAC, "2026112401", 1, 200)];
    let answer = push(&server, &records).expect_code(0);
    assert_eq!(answer.msg, "ok");
    assert_eq!(server.stored(), records);
    assert_eq!(server.dump()["pushes"], 1);
}

#[test]
fn pushing_the_same_version_with_the_same_values_again_is_accepted() {
    let (_dir, server) = default_server();
    let records = [record(MAC, "2026112400", 1, 100)];
    push(&server, &records).expect_code(0);
    push(&server, &records).expect_code(0);
    assert_eq!(server.stored(), records);
    assert_eq!(server.dump()["pushes"], 2);
}

#[test]
fn a_version_not_above_the_stored_one_with_other_values_is_a_conflict_and_nothing_is_stored() {
    let (_dir, server) = default_server();
    let stored = record(MAC, "2026112400", 2, 100);
    push(&server, std::slice::from_ref(&stored)).expect_code(0);

    for version in [1, 2] {
        let answer = push(&server, &[record(MAC, "2026112400", version, 999)]).expect_code(40901);
        let expected = Conflict { mac: MAC.into(), flux_hour: "2026112400".into(), stored_version: 2 };
        assert_eq!(answer.conflicts, vec![expected]);
    }
    // One good record and one conflicting one: the good one is not stored either.
    let good = record(OTHER_MAC, "2026112400", 1, 5);
    let answer = push(&server, &[good, record(MAC, "2026112400", 1, 999)]).expect_code(40901);
    assert_eq!(answer.conflicts.len(), 1);
    assert_eq!(server.stored(), vec![stored]);
    assert_eq!(server.dump()["pushes"], 1);
}

#[test]
fn a_higher_version_replaces_the_stored_record() {
    let (_dir, server) = default_server();
    push(&server, &[record(MAC, "2026112400", 1, 100)]).expect_code(0);
    let corrected = record(MAC, "2026112400", 2, 150);
    push(&server, std::slice::from_ref(&corrected)).expect_code(0);
    assert_eq!(server.stored(), vec![corrected]);
}

#[test]
fn more_than_100_records_are_refused() {
    let (_dir, server) = default_server();
    let records: Vec<_> = (0..101)
        .map(|i| record(&format!("aa:bb:cc:dd:{:02x}:{:02x}", i / 24, i % 24), "2026112400", 1, i))
        .collect();
    let answer = push(&server, &records).expect_code(40001);
    assert!(answer.msg.contains("at most 100"), "{}", answer.msg);
    assert!(server.stored().is_empty());
    push(&server, &records[..100]).expect_code(0);
}

#[test]
fn each_invalid_record_is_refused_with_its_reason_and_nothing_is_stored() {
    let (_dir, server) = default_server();
    let good = serde_json::to_value(record(OTHER_MAC, "2026112400", 1, 1)).unwrap();
    let with = |field: &str, value: serde_json::Value| {
        let mut bad = serde_json::to_value(record(MAC, "2026112400", 1, 1)).unwrap();
        bad[field] = value;
        bad
    };
    let mut missing = with("mac", json!(MAC));
    missing.as_object_mut().unwrap().remove("provider_uiid");
    let cases = [
        (with("v5", json!(-1)), "records[1].v5: must be an integer >= 0"),
        (with("mac", json!("AA:BB:CC:DD:EE:01")), "records[1].mac: must be a lower-case MAC"),
        (with("flux_hour", json!("2026113125")), "records[1].flux_hour: must be a real hour"),
        (missing, "records[1].provider_uiid: missing"),
        (with("version", json!(0)), "records[1].version:"),
    ];
    for (bad, why) in cases {
        let body = json!({ "records": [good, bad] }).to_string();
        let answer = push_raw(&server, body.as_bytes()).expect_code(40001);
        assert!(answer.msg.starts_with(why), "{:?} does not start with {why:?}", answer.msg);
    }
    for body in ["not json", "[]", r#"{"records": "none"}"#] {
        push_raw(&server, body.as_bytes()).expect_code(40001);
    }
    assert!(server.stored().is_empty());
    assert_eq!(server.dump()["pushes"], 0);
}

#[test]
fn a_body_over_1_mib_is_refused_with_413() {
    let (_dir, server) = default_server();
    let body = format!(r#"{{"records":[],"pad":"{}"}}"#, "x".repeat(1024 * 1024));
    let reply = push_raw(&server, body.as_bytes());
    assert_eq!(reply.status, 413, "{}", reply.body);
    assert_eq!(reply.answer().code, 40001);
}

// ---- query ----

#[test]
fn the_query_returns_that_mac_and_day_ordered_by_hour_with_versions() {
    let (_dir, server) = default_server();
    let wanted = [record(MAC, "2026112400", 1, 1), record(MAC, "2026112413", 3, 2)];
    let others = [record(MAC, "2026112500", 1, 3), record(OTHER_MAC, "2026112400", 1, 4)];
    push(&server, &[wanted[1].clone(), others[0].clone(), wanted[0].clone(), others[1].clone()])
        .expect_code(0);

    assert_eq!(query(&server, MAC, "20261124"), wanted);
    assert_eq!(query(&server, MAC, "20261123"), vec![]);
}

#[test]
fn a_query_with_bad_parameters_is_refused() {
    let (_dir, server) = default_server();
    let client = agent(None);
    for params in [
        vec![("mac", MAC)],
        vec![("mac", "AA:BB:CC:DD:EE:01"), ("flux_dat", "20261124")],
        vec![("mac", MAC), ("flux_dat", "20261131")],
    ] {
        query_with(&client, &server, &params, &Signer::default()).unwrap().expect_code(40001);
    }
}

// ---- signing ----

#[test]
fn signing_failures_are_refused_with_40101_saying_why() {
    let (_dir, server) = default_server();
    let client = agent(None);
    let body = br#"{"records":[]}"#;
    let push_signed = |signer: Signer| push_raw_with(&client, &server, body, &signer).unwrap();

    push_signed(Signer { secret: "SK-wrong".into(), ..Signer::default() }).expect_refused("wrong signature");
    push_signed(Signer { access_id: "AK-nobody".into(), ..Signer::default() })
        .expect_refused("unknown access id");
    push_signed(Signer { timestamp: Some(unix_now() - 301), ..Signer::default() })
        .expect_refused("from the server clock");
    push_signed(Signer { timestamp: Some(unix_now() + 3600), ..Signer::default() })
        .expect_refused("from the server clock");
    push_signed(Signer { nonce: Some("abc123".into()), ..Signer::default() }).expect_refused("X-Nonce");

    let once = Signer { nonce: Some(fresh_nonce()), ..Signer::default() };
    push_signed(once.clone()).expect_code(0);
    push_signed(once).expect_refused("nonce already used");

    let unsigned = client.post(server.url(REPORT_PATH)).send(&body[..]).map(Reply::from).unwrap();
    unsigned.expect_refused("missing header");
    let by_outcome = &server.dump()["requests"]["by_outcome"];
    assert_eq!(by_outcome["refused"], 7, "{by_outcome}");
}

#[test]
fn the_spec_vectors_are_accepted_when_the_timestamp_window_is_off() {
    // Window 0 (simulated clocks): the spec's 2025 timestamp is no longer refused.
    let (_dir, server) = server_with(Faults::default(), 0);
    let client = agent(None);
    let vector_1 = client
        .post(server.url(REPORT_PATH))
        .header("X-Access-Id", "AK-test")
        .header("X-Timestamp", "1764000000")
        .header("X-Nonce", "0123456789abcdef")
        .header("X-Signature", "3f9970c43e1fcbbefcd694c5ecd6bd13fce91f0aa84508054f52781a42e64c1b")
        .send(&br#"{"records":[]}"#[..])
        .map(Reply::from)
        .unwrap();
    vector_1.expect_code(0);

    let (_dir2, server2) = server_with(Faults::default(), 0);
    let vector_2 = client
        .get(server2.url(&format!("{QUERY_PATH}?mac=aa:bb:cc:dd:ee:ff&flux_dat=20261124")))
        .header("X-Access-Id", "AK-test")
        .header("X-Timestamp", "1764000000")
        .header("X-Nonce", "0123456789abcdef")
        .header("X-Signature", "a807718d49649abc15ad74e780c1db698a44e440e9e52339cc69bbddd3457544")
        .call()
        .map(Reply::from)
        .unwrap();
    assert_eq!(vector_2.expect_code(0).data, Some(vec![]));

    // With the default window the same old timestamp is refused.
    let (_dir3, strict) = default_server();
    let old = Signer { timestamp: Some(1764000000), ..Signer::default() };
    push_raw_with(&client, &strict, b"{\"records\":[]}", &old)
        .unwrap()
        .expect_refused("from the server clock");
}

// ---- faults ----

#[test]
fn with_error_rate_1_every_request_gets_a_retryable_error_and_nothing_is_stored() {
    let (_dir, server) = server_with(Faults { error_rate: 1.0, ..Faults::default() }, 300);
    let client = agent(None);
    let body = serde_json::to_vec(&json!({ "records": [record(MAC, "2026112400", 1, 1)] })).unwrap();
    let mut statuses = std::collections::BTreeSet::new();
    for _ in 0..40 {
        let reply = push_raw_with(&client, &server, &body, &Signer::default()).unwrap();
        statuses.insert(reply.status);
        match reply.status {
            429 => assert_eq!(reply.answer().code, 42901),
            500 | 503 => assert_eq!(reply.answer().code, 50001),
            502 => {} // JSON, an HTML proxy page or plain text
            other => panic!("unexpected status {other}: {}", reply.body),
        }
    }
    assert!(statuses.len() > 1, "only {statuses:?}");
    assert!(server.stored().is_empty());
    assert_eq!(server.dump()["requests"]["total"], 40);
}

#[test]
fn an_error_answer_keeps_the_connection_it_did_not_say_it_closes() {
    // A client that sends its body after `100 Continue` makes the server decide before the
    // body is there, every time: the race that broke a pooled connection once in ~100 runs.
    let (_dir, server) = server_with(Faults { error_rate: 1.0, ..Faults::default() }, 300);
    let body = serde_json::to_vec(&json!({ "records": [record(MAC, "2026112400", 1, 1)] })).unwrap();
    let mut connection = RawConnection::open(&server);
    for request in 1..=12 {
        let mut headers = Signer::default().headers("POST", REPORT_PATH, &[], &body);
        headers.push(("Content-Type".into(), "application/json".into()));
        let answer = connection
            .post_expecting_continue(REPORT_PATH, &headers, &body)
            .unwrap_or_else(|e| panic!("request {request} on the kept connection: {e}"));
        assert!(matches!(answer.status, 429 | 500 | 502 | 503), "{answer:?}");
        assert!(!answer.closes(), "{answer:?}");
    }
    assert!(server.stored().is_empty());
    assert_eq!(server.dump()["requests"]["total"], 12);
}

#[test]
fn close_after_store_cuts_the_answer_but_the_record_is_stored() {
    let (_dir, server) = default_server();
    server.set_faults(json!({ "close_after_store_rate": 1.0 }));
    let records = [record(MAC, "2026112400", 1, 1)];
    let body = serde_json::to_vec(&json!({ "records": records })).unwrap();
    let result = push_raw_with(&agent(None), &server, &body, &Signer::default());
    assert!(result.is_err(), "expected a cut connection, got {result:?}");
    assert_eq!(server.stored(), records);
    assert_eq!(server.dump()["requests"]["by_outcome"]["fault_close_after_store"], 1);
}

#[test]
fn a_hanging_request_times_the_client_out_and_stores_nothing() {
    let (_dir, server) = default_server();
    server.set_faults(json!({ "timeout_rate": 1.0, "hang_secs": 2 }));
    let body = serde_json::to_vec(&json!({ "records": [record(MAC, "2026112400", 1, 1)] })).unwrap();
    let client = agent(Some(Duration::from_secs(1)));
    let result = push_raw_with(&client, &server, &body, &Signer::default());
    assert!(matches!(result, Err(ureq::Error::Timeout(_))), "expected a timeout, got {result:?}");
    assert!(server.stored().is_empty());
}

#[test]
fn slow_answers_arrive_late_but_arrive() {
    let (_dir, server) = default_server();
    server.set_faults(json!({ "slow_ms": 300 }));
    let started = std::time::Instant::now();
    push(&server, &[record(MAC, "2026112400", 1, 1)]).expect_code(0);
    assert!(started.elapsed() >= Duration::from_millis(300));
}

#[test]
fn a_down_customer_closes_connections_until_brought_back_up() {
    let (_dir, server) = server_with(Faults { down: true, ..Faults::default() }, 300);
    let records = [record(MAC, "2026112400", 1, 1)];
    let body = serde_json::to_vec(&json!({ "records": records })).unwrap();
    let result = push_raw_with(&agent(None), &server, &body, &Signer::default());
    assert!(result.is_err(), "expected a closed connection, got {result:?}");
    assert!(server.stored().is_empty());

    let (status, _) = server.admin_get("/_admin/health");
    assert_eq!(status, 200);
    server.set_faults(json!({ "down": false }));
    push(&server, &records).expect_code(0);
    assert_eq!(server.stored(), records);
}

#[test]
fn fault_settings_are_readable_and_bad_ones_refused() {
    let (_dir, server) = server_with(Faults::default(), 300);
    let (status, faults) = server.admin_get("/_admin/faults");
    assert_eq!(status, 200);
    assert_eq!(faults["seed"], 7);
    assert_eq!(faults["hang_secs"], 120);
    let (status, _) = server.admin_send("PUT", "/_admin/faults", json!({ "error_rate": 2.0 }));
    assert_eq!(status, 400);
    let (status, _) = server.admin_send("PUT", "/_admin/faults", json!({ "eror_rate": 0.5 }));
    assert_eq!(status, 400);
    let (_, faults) = server.admin_get("/_admin/faults");
    assert_eq!(faults["error_rate"], 0.0);
}

// ---- admin corruption ----

#[test]
fn an_altered_value_shows_in_the_query_with_the_same_version() {
    let (_dir, server) = default_server();
    push(&server, &[record(MAC, "2026112400", 3, 10)]).expect_code(0);
    let (status, answer) = server.admin_send(
        "POST",
        "/_admin/alter",
        json!({ "mac": MAC, "flux_hour": "2026112400", "field": "v3", "value": 123 }),
    );
    assert_eq!(status, 200, "{answer}");
    let held = query(&server, MAC, "20261124");
    assert_eq!((held[0].v3, held[0].version), (123, 3));

    let (status, _) = server.admin_send(
        "POST",
        "/_admin/alter",
        json!({ "mac": MAC, "flux_hour": "2026112401", "field": "v3", "value": 1 }),
    );
    assert_eq!(status, 404);
    let (status, _) = server.admin_send(
        "POST",
        "/_admin/alter",
        json!({ "mac": MAC, "flux_hour": "2026112400", "field": "version", "value": 9 }),
    );
    assert_eq!(status, 400);
}

#[test]
fn a_deleted_record_is_gone_and_can_be_pushed_again() {
    let (_dir, server) = default_server();
    let stored = record(MAC, "2026112400", 2, 10);
    push(&server, std::slice::from_ref(&stored)).expect_code(0);
    let (status, _) =
        server.admin_send("POST", "/_admin/delete", json!({ "mac": MAC, "flux_hour": "2026112400" }));
    assert_eq!(status, 200);
    assert!(query(&server, MAC, "20261124").is_empty());
    push(&server, &[record(MAC, "2026112400", 1, 10)]).expect_code(0);
}

// ---- persistence ----

#[test]
fn the_store_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let records = [record(MAC, "2026112400", 1, 10), record(MAC, "2026112401", 2, 20)];
    let first = Server::start_in(dir.path());
    push(&first, &records).expect_code(0);
    first.stop();

    let second = Server::start_in(dir.path());
    assert_eq!(query(&second, MAC, "20261124"), records);
    assert_eq!(second.dump()["pushes"], 1);
    push(&second, &[record(MAC, "2026112400", 1, 11)]).expect_code(40901);
}
