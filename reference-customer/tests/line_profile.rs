//! The reference customer in the line profile (customer-api.md "Profile 2"), as the agent meets
//! it: one CSV line per record, `access_id`, `need_response` and `X-Seq` headers, the same store
//! rules as the JSON profile, the same faults, and a JSON query answer.

#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

mod support;

use pushagent_customer::line::{render, LineAnswers};
use pushagent_customer::{Credential, Settings};
use pushagent_proto::customer::{FluxRecord, QUERY_PATH, REPORT_PATH};
use serde_json::{json, Value};
use support::*;

const MAC: &str = "aa:bb:cc:dd:ee:01";
const OTHER_MAC: &str = "aa:bb:cc:dd:ee:02";
const LINE_ID: &str = "AK-line";
const SIGNED_LINE_ID: &str = "AK-line-signed";

/// One server taking both profiles: the JSON test id, an unsigned and a signed line id; line
/// pushes answered in JSON (`ret`).
fn server() -> (tempfile::TempDir, Server) {
    server_answering(LineAnswers::Json)
}

fn server_answering(line_answers: LineAnswers) -> (tempfile::TempDir, Server) {
    let dir = tempfile::tempdir().unwrap();
    let settings = Settings {
        credentials: vec![
            Credential::json(ACCESS_ID, SECRET),
            Credential::line(LINE_ID, SECRET, false),
            Credential::line(SIGNED_LINE_ID, SECRET, true),
        ],
        seed: Some(11),
        line_answers,
        ..Settings::new(dir.path().join("customer.sqlite"))
    };
    (dir, Server::start(settings))
}

/// A line-profile request as the first in-house agent sent it.
struct LinePush<'a> {
    access_id: Option<&'a str>,
    seq: Option<&'a str>,
    need_response: bool,
    signer: Option<Signer>,
}

impl Default for LinePush<'_> {
    fn default() -> Self {
        LinePush { access_id: Some(LINE_ID), seq: Some("1"), need_response: true, signer: None }
    }
}

impl LinePush<'_> {
    fn send(&self, server: &Server, body: &str) -> Result<Reply, ureq::Error> {
        let mut request = agent(None)
            .post(server.url(REPORT_PATH))
            .header("Content-Type", "application/x-www-form-urlencoded");
        if let Some(access_id) = self.access_id {
            request = request.header("access_id", access_id);
        }
        if self.need_response {
            request = request.header("need_response", "true");
        }
        if let Some(seq) = self.seq {
            request = request.header("X-Seq", seq);
        }
        if let Some(signer) = &self.signer {
            for (name, value) in signer.headers("POST", REPORT_PATH, &[], body.as_bytes()) {
                if name != "X-Access-Id" {
                    request = request.header(name, value);
                }
            }
        }
        request.send(body).map(Reply::from)
    }

    fn push(&self, server: &Server, records: &[FluxRecord]) -> Reply {
        let body: Vec<String> = records.iter().map(|r| render(r, ',')).collect();
        self.send(server, &body.join("\n")).unwrap()
    }
}

fn push_lines(server: &Server, records: &[FluxRecord]) -> Reply {
    LinePush::default().push(server, records)
}

fn json_body(reply: &Reply) -> Value {
    serde_json::from_str(&reply.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", reply.body))
}

/// HTTP 200 and `ret`.
fn expect_ret(reply: &Reply, ret: i64) -> Value {
    assert_eq!(reply.status, 200, "{}", reply.body);
    let body = json_body(reply);
    assert_eq!(body["ret"], ret, "{}", reply.body);
    body
}

fn expect_refused(reply: &Reply, why: &str) {
    assert_eq!(reply.status, 401, "{}", reply.body);
    let body = json_body(reply);
    assert_eq!(body["ret"], 40101, "{}", reply.body);
    assert!(body["msg"].as_str().unwrap().contains(why), "{} does not say {why:?}", body["msg"]);
}

#[test]
fn a_line_push_is_stored_and_answered_with_ret_0_and_its_sequence_number_kept() {
    let (_dir, server) = server();
    let records = [record(MAC, "2026112400", 1, 100), record(MAC, "2026112401", 1, 200)];
    for (seq, record) in ["7", "8"].iter().zip(&records) {
        let reply =
            LinePush { seq: Some(seq), ..LinePush::default() }.push(&server, std::slice::from_ref(record));
        assert_eq!(expect_ret(&reply, 0)["msg"], "ok");
    }
    assert_eq!(server.stored(), records);
    let dump = server.dump();
    assert_eq!(dump["pushes"], 2);
    assert_eq!(dump["line_seqs"], json!([7, 8]));
}

#[test]
fn several_lines_in_one_request_are_stored_all_or_nothing() {
    let (_dir, server) = server();
    let good = [record(MAC, "2026112400", 1, 1), record(OTHER_MAC, "2026112400", 1, 2)];
    expect_ret(&push_lines(&server, &good), 0);
    assert_eq!(server.stored(), good);

    let fresh = render(&record(MAC, "2026112402", 1, 3), ',');
    let bad = render(&record(MAC, "2026112403", 1, 4), ',').replace(",4,", ",-4,");
    let body = expect_ret(&LinePush::default().send(&server, &format!("{fresh}\n{bad}")).unwrap(), 40001);
    assert!(body["msg"].as_str().unwrap().starts_with("line 2: v0: must be an integer >= 0"), "{body}");
    assert_eq!(server.stored(), good, "the good first line is not stored either");
}

#[test]
fn without_need_response_a_stored_push_is_answered_200_with_an_empty_body() {
    let (_dir, server) = server();
    let records = [record(MAC, "2026112400", 1, 1)];
    let reply = LinePush { need_response: false, ..LinePush::default() }.push(&server, &records);
    assert_eq!((reply.status, reply.body.as_str()), (200, ""));
    assert_eq!(server.stored(), records);
}

#[test]
fn by_default_line_pushes_are_answered_in_text_as_the_line_preset_expects() {
    let (_dir, server) = server_answering(LineAnswers::default());
    let records = [record(MAC, "2026112400", 1, 1)];
    let reply = push_lines(&server, &records);
    assert_eq!((reply.status, reply.body.as_str()), (200, "ok"));
    let bad = render(&record(MAC, "2026112401", 1, 2), ',').replace(",2,", ",-2,");
    let reply = LinePush::default().send(&server, &bad).unwrap();
    assert_eq!((reply.status, reply.body.as_str()), (200, "fail: line 1: v0: must be an integer >= 0"));
    let reply = LinePush { access_id: Some("AK-nobody"), ..LinePush::default() }.push(&server, &records);
    assert_eq!((reply.status, reply.body.as_str()), (401, "fail: unknown access id"));
    assert_eq!(server.stored(), records);
}

#[test]
fn highest_version_wins_same_values_are_idempotent_other_values_conflict() {
    let (_dir, server) = server();
    let stored = record(MAC, "2026112400", 2, 100);
    expect_ret(&push_lines(&server, std::slice::from_ref(&stored)), 0);
    expect_ret(&push_lines(&server, std::slice::from_ref(&stored)), 0);

    let body = expect_ret(&push_lines(&server, &[record(MAC, "2026112400", 2, 999)]), 40901);
    assert_eq!(body["conflicts"], json!([{"mac": MAC, "flux_hour": "2026112400", "stored_version": 2}]));
    assert_eq!(server.stored(), vec![stored]);

    let corrected = record(MAC, "2026112400", 3, 150);
    expect_ret(&push_lines(&server, std::slice::from_ref(&corrected)), 0);
    assert_eq!(server.stored(), vec![corrected]);
}

#[test]
fn bad_headers_are_refused_saying_which() {
    let (_dir, server) = server();
    let records = [record(MAC, "2026112400", 1, 1)];
    let with_seq = |seq| LinePush { seq, ..LinePush::default() }.push(&server, &records);
    let why = |reply: Reply| expect_ret(&reply, 40001)["msg"].as_str().unwrap().to_owned();
    assert_eq!(why(with_seq(None)), "X-Seq header: missing");
    assert!(why(with_seq(Some("0"))).starts_with("X-Seq header: must be a positive integer"));

    expect_refused(
        &LinePush { access_id: Some("AK-nobody"), ..LinePush::default() }.push(&server, &records),
        "unknown access id",
    );
    expect_refused(
        &LinePush { access_id: Some(ACCESS_ID), ..LinePush::default() }.push(&server, &records),
        "speaks the json profile, not the line one",
    );
    // A line id presented the JSON way: a correctly signed JSON batch is still refused.
    let body = serde_json::to_vec(&json!({ "records": records })).unwrap();
    let signer = Signer { access_id: LINE_ID.into(), ..Signer::default() };
    push_raw_with(&agent(None), &server, &body, &signer)
        .unwrap()
        .expect_refused("speaks the line profile, not the json one");
    assert!(server.stored().is_empty());
}

#[test]
fn a_signed_line_id_takes_only_signed_requests() {
    let (_dir, server) = server();
    let records = [record(MAC, "2026112400", 1, 1)];
    let unsigned = LinePush { access_id: Some(SIGNED_LINE_ID), ..LinePush::default() };
    expect_refused(&unsigned.push(&server, &records), "missing header X-Timestamp");
    let forged = Signer { access_id: SIGNED_LINE_ID.into(), secret: "SK-wrong".into(), ..Signer::default() };
    let forged = LinePush { signer: Some(forged), ..unsigned };
    expect_refused(&forged.push(&server, &records), "wrong signature");
    assert!(server.stored().is_empty());

    let signer = Signer { access_id: SIGNED_LINE_ID.into(), ..Signer::default() };
    let signed = LinePush { access_id: Some(SIGNED_LINE_ID), signer: Some(signer), ..LinePush::default() };
    expect_ret(&signed.push(&server, &records), 0);
    assert_eq!(server.stored(), records);
}

#[test]
fn the_query_answers_json_with_the_records_under_list() {
    let (_dir, server) = server();
    let wanted = [record(MAC, "2026112400", 1, 1), record(MAC, "2026112413", 3, 2)];
    push_lines(&server, &[wanted[1].clone(), record(MAC, "2026112500", 1, 3), wanted[0].clone()]);
    let url = format!("{}?mac={MAC}&flux_dat=20261124", server.url(QUERY_PATH));
    let reply = agent(None).get(&url).header("access_id", LINE_ID).call().map(Reply::from).unwrap();
    let body = expect_ret(&reply, 0);
    let list: Vec<FluxRecord> = serde_json::from_value(body["list"].clone()).unwrap();
    assert_eq!(list, wanted);

    let bad = format!("{}?mac=AA:BB:CC:DD:EE:01&flux_dat=20261124", server.url(QUERY_PATH));
    let reply = agent(None).get(&bad).header("access_id", LINE_ID).call().map(Reply::from).unwrap();
    expect_ret(&reply, 40001);
    let reply = agent(None).get(&url).header("access_id", "AK-nobody").call().map(Reply::from).unwrap();
    expect_refused(&reply, "unknown access id");
}

#[test]
fn both_profiles_land_in_the_same_store() {
    let (_dir, server) = server();
    push(&server, &[record(MAC, "2026112400", 1, 1)]).expect_code(0);
    expect_ret(&push_lines(&server, &[record(MAC, "2026112401", 1, 2)]), 0);
    assert_eq!(server.stored(), [record(MAC, "2026112400", 1, 1), record(MAC, "2026112401", 1, 2)]);
    assert_eq!(server.dump()["line_seqs"], json!([1]));
}

#[test]
fn faults_hit_line_requests_too() {
    let (_dir, server) = server();
    let records = [record(MAC, "2026112400", 1, 1)];

    server.set_faults(json!({ "error_rate": 1.0 }));
    for _ in 0..10 {
        let reply = push_lines(&server, &records);
        assert!(matches!(reply.status, 429 | 500 | 502 | 503), "{} {}", reply.status, reply.body);
    }
    assert!(server.stored().is_empty());

    server.set_faults(json!({ "error_rate": 0.0, "close_after_store_rate": 1.0 }));
    let body = render(&records[0], ',');
    assert!(LinePush::default().send(&server, &body).is_err(), "the answer is cut");
    assert_eq!(server.stored(), records, "but the record is stored");

    server.set_faults(json!({ "close_after_store_rate": 0.0, "down": true }));
    assert!(LinePush::default().send(&server, &body).is_err());
    server.set_faults(json!({ "down": false }));

    // An altered value shows in the line query with the same version.
    let (status, _) = server.admin_send(
        "POST",
        "/_admin/alter",
        json!({"mac": MAC, "flux_hour": "2026112400", "field": "v3", "value": 77}),
    );
    assert_eq!(status, 200);
    let url = format!("{}?mac={MAC}&flux_dat=20261124", server.url(QUERY_PATH));
    let reply = agent(None).get(&url).header("access_id", LINE_ID).call().map(Reply::from).unwrap();
    let list = &expect_ret(&reply, 0)["list"];
    assert_eq!((list[0]["v3"].as_u64(), list[0]["version"].as_u64()), (Some(77), Some(1)));
}
