//! Unit tests of `client`: answer rules, signing, query answers.

use super::*;

fn reference() -> AnswerRule {
    AnswerRule::default()
}

fn line_rule() -> AnswerRule {
    pushagent_proto::profile::presets()[1].answer.clone()
}

/// A query answer is JSON with the records list, whatever the push answer rule says: a
/// line profile's pushes answer an empty body or a text (no result field), its query a
/// JSON document. The old code judged it by the push rule: never read, every hour
/// ended unverifiable.
#[test]
fn query_answers_are_read_as_json_records_under_any_answer_rule() {
    let records = r#"{"records":[{"mac":"aa"}]}"#;
    let ex = judge_query(&line_rule(), "records", 200, records, 1);
    assert_eq!(ex.verdict, Verdict::Accepted, "{}", ex.message);
    assert_eq!(
        ex.data.as_deref().and_then(|d| d.first()).map(|v| v["records"][0]["mac"].clone()),
        Some("aa".into())
    );
    // The reference rule: the result field must say OK too.
    let ok = judge_query(&reference(), "records", 200, r#"{"code":0,"records":[]}"#, 1);
    assert_eq!(ok.verdict, Verdict::Accepted, "{}", ok.message);
    assert_ne!(
        judge_query(&reference(), "records", 200, r#"{"code":1,"records":[]}"#, 1).verdict,
        Verdict::Accepted
    );
    for (status, body) in [(200, "<html>"), (200, "ok"), (200, ""), (200, r#"{"data":[]}"#), (502, records)] {
        let ex = judge_query(&line_rule(), "records", status, body, 1);
        assert_eq!(ex.verdict, Verdict::Retry, "{status} {body}: {}", ex.message);
        assert!(ex.data.is_none());
    }
    assert_eq!(judge_query(&line_rule(), "records", 401, "", 1).verdict, Verdict::AuthRefused);
}

#[test]
fn answers_are_judged_strictly() {
    assert_eq!(judge(&reference(), 200, r#"{"code":0,"msg":"ok"}"#, 1).verdict, Verdict::Accepted);
    assert_eq!(
        judge(&reference(), 200, r#"{"code":40001,"msg":"records[0].v3"}"#, 1).verdict,
        Verdict::Invalid
    );
    let c = judge(
        &reference(),
        200,
        r#"{"code":40901,"msg":"x","conflicts":[{"mac":"a","flux_hour":"h","stored_version":2}]}"#,
        1,
    );
    assert!(matches!(c.verdict, Verdict::Conflict(ref v) if v.len() == 1 && v[0].stored_version == 2));
    assert_eq!(
        judge(&reference(), 401, r#"{"code":40101,"msg":"bad sig"}"#, 1).verdict,
        Verdict::AuthRefused
    );
    for (status, body) in [
        (200, "not json"),
        (502, "<html><body>Bad Gateway</body></html>"),
        (200, r#"{"msg":"no code"}"#),
        (200, ""),
        (503, r#"{"code":50001}"#),
        (429, r#"{"code":42901}"#),
        (200, r#"{"code":12345}"#),
        (500, r#"{"code":0}"#),
    ] {
        let e = judge(&reference(), status, body, 1);
        assert_eq!(e.verdict, Verdict::Retry, "{status} {body}");
        assert!(!e.message.is_empty());
    }
    let html = judge(&reference(), 502, "<html>", 1);
    assert!(html.message.contains("HTML"), "{}", html.message);
}

/// What a real customer may answer, judged by the line preset (no result field) and by a
/// rule with a result field.
#[test]
fn the_judge_reads_what_a_real_customer_may_answer() {
    let html = "<!DOCTYPE html><html><body><h1>502 Bad Gateway</h1></body></html>";
    let line = line_rule();
    for (status, body, verdict) in [
        (200, "", Verdict::Accepted),
        (200, "ok", Verdict::Accepted),
        (200, " OK\n", Verdict::Accepted),
        (200, "success", Verdict::Accepted),
        (200, "fail", Verdict::Retry),
        (200, r#"{"ret":0}"#, Verdict::Retry), // says something we were not told how to read
        (200, r#"{"code":1,"msg":"bad mac"}"#, Verdict::Retry),
        (200, html, Verdict::Retry),
        (502, html, Verdict::Retry),
        (500, "", Verdict::Retry),
        (401, "", Verdict::AuthRefused),
    ] {
        let e = judge(&line, status, body, 1);
        assert_eq!(e.verdict, verdict, "line preset: {status} {body:?} -> {}", e.message);
    }
    let ret = AnswerRule {
        result_field: "ret".into(),
        ok_values: vec!["0".into()],
        invalid_values: vec!["2".into()],
        ..line_rule()
    };
    for (status, body, verdict) in [
        (200, r#"{"ret":0}"#, Verdict::Accepted),
        (200, r#"{"ret":"0"}"#, Verdict::Accepted),
        (200, r#"{"ret":2,"msg":"bad mac"}"#, Verdict::Invalid),
        (200, r#"{"ret":1,"msg":"busy"}"#, Verdict::Retry),
        (200, "", Verdict::Retry),
        (200, "ok", Verdict::Retry), // a result field is configured: non-JSON is not believed
        (200, "fail", Verdict::Retry),
        (200, html, Verdict::Retry),
        (200, r#"{"code":0}"#, Verdict::Retry),
    ] {
        let e = judge(&ret, status, body, 1);
        assert_eq!(e.verdict, verdict, "ret rule: {status} {body:?} -> {}", e.message);
    }
    let code = AnswerRule { result_field: "code".into(), ok_values: vec!["0".into()], ..line_rule() };
    let e = judge(&code, 200, r#"{"code":1,"msg":"signature expired"}"#, 1);
    assert_eq!(e.verdict, Verdict::Retry);
    assert_eq!(e.code, Some(1));
    assert!(e.message.contains("signature expired"), "{}", e.message);
    let e = judge(&line, 200, "fail", 1);
    assert!(e.message.contains("fail"), "the body is kept for the operator: {}", e.message);
}

fn line_profile() -> CustomerProfile {
    let p = &pushagent_proto::profile::presets()[1];
    CustomerProfile {
        base_url: "http://127.0.0.1:1".into(),
        access_id: "AK-line".into(),
        encoding: p.encoding,
        line: p.line.clone(),
        auth: p.auth.clone(),
        answer: p.answer.clone(),
        query: p.query.clone(),
        query_path: p.query_path.clone(),
        batch_size: 1,
        ..CustomerProfile::default()
    }
}

fn record(hour: &str, version: u32) -> Value {
    serde_json::json!({
        "flux_dat": &hour[..8], "flux_hour": hour, "provider_id": "P1001", "provider_uiid": "U-20001",
        "isp_id": 3, "mac": "aa:bb:cc:dd:ee:ff",
        "v0": 1200, "v1": 0, "v2": 5, "v3": 6, "v4": 7, "v5": 8, "v6": 9, "v7": 10, "v8": 11, "v9": 12,
        "v10": 13, "v11": 18446744073709551615u64, "version": version, "device_type": 1
    })
}

#[test]
fn the_reference_profile_renders_the_signing_vector() {
    let profile = CustomerProfile {
        secret: crate::config::Secret::new("SK-test-secret"),
        access_id: "AK".into(),
        ..Default::default()
    };
    let stamp =
        RequestStamp { timestamp: 1_764_000_000, nonce: "0123456789abcdef".into(), sequence: Some(9) };
    let r =
        render_request(&profile, "POST", "/api/v1/flux/report", &[], render_push_body(&profile, &[]), &stamp);
    assert_eq!(r.body, br#"{"records":[]}"#);
    assert_eq!(
        r.headers,
        [
            ("Content-Type", "application/json"),
            ("X-Access-Id", "AK"),
            ("X-Timestamp", "1764000000"),
            ("X-Nonce", "0123456789abcdef"),
            ("X-Signature", "3f9970c43e1fcbbefcd694c5ecd6bd13fce91f0aa84508054f52781a42e64c1b"),
        ]
        .map(|(k, v)| (k.to_string(), v.to_string()))
    );
    let q = render_request(
        &profile,
        "GET",
        "/api/v1/flux/query",
        &[("mac", "aa:bb:cc:dd:ee:ff"), ("flux_dat", "20261124")],
        Vec::new(),
        &stamp,
    );
    assert_eq!(q.target, "/api/v1/flux/query?flux_dat=20261124&mac=aa%3Abb%3Acc%3Add%3Aee%3Aff");
    assert_eq!(q.headers[3].1, "a807718d49649abc15ad74e780c1db698a44e440e9e52339cc69bbddd3457544");
}

#[test]
fn the_line_profile_renders_one_line_per_record() {
    let mut profile = line_profile();
    let body = render_push_body(&profile, &[record("2026112415", 1)]);
    assert_eq!(
        String::from_utf8(body).expect("utf8"),
        "20261124,2026112415,P1001,U-20001,3,aa:bb:cc:dd:ee:ff,1200,0,5,6,7,8,9,10,11,12,13,18446744073709551615,1,1"
    );
    profile.line.separator = "|".into();
    profile.line.fields = vec!["mac".into(), "flux_hour".into(), "v0".into(), "version".into()];
    let body = render_push_body(&profile, &[record("2026112415", 1), record("2026112416", 2)]);
    assert_eq!(body, b"aa:bb:cc:dd:ee:ff|2026112415|1200|1\naa:bb:cc:dd:ee:ff|2026112416|1200|2");
}

/// The exact bytes the customer receives, headers included, read off a loopback socket.
#[test]
fn the_line_profile_request_is_exactly_what_the_customer_documented() {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let server = std::thread::spawn(move || {
        let mut requests = Vec::new();
        for _ in 0..2 {
            let (mut stream, _) = listener.accept().expect("accept");
            stream.set_read_timeout(Some(Duration::from_secs(10))).expect("timeout");
            let mut got = Vec::new();
            let mut buf = [0u8; 4096];
            // Read the head, then exactly Content-Length bytes of body.
            loop {
                let n = stream.read(&mut buf).expect("read");
                assert!(n > 0, "closed early");
                got.extend_from_slice(&buf[..n]);
                let text = String::from_utf8_lossy(&got).to_string();
                if let Some(end) = text.find("\r\n\r\n") {
                    let length = text[..end]
                        .lines()
                        .find_map(|l| {
                            l.to_ascii_lowercase()
                                .strip_prefix("content-length: ")
                                .map(|v| v.trim().parse::<usize>().expect("length"))
                        })
                        .unwrap_or(0);
                    if got.len() >= end + 4 + length {
                        break;
                    }
                }
                assert!(got.len() < 1 << 16, "request too large");
            }
            stream
                .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                .expect("answer");
            requests.push(String::from_utf8(got).expect("utf8"));
        }
        requests
    });
    let dir = tempfile::tempdir().expect("tmp");
    let db = dir.path().join("state.sqlite");
    drop(crate::statedb::open(&db).expect("state db"));
    let profile = CustomerProfile { base_url: format!("http://127.0.0.1:{port}"), ..line_profile() };
    let client = CustomerClient::for_agent(&profile, &db).expect("client");
    assert_eq!(client.push(&[record("2026112415", 1)]).verdict, Verdict::Accepted);
    assert_eq!(client.push(&[record("2026112416", 1)]).verdict, Verdict::Accepted);
    let requests = server.join().expect("server");
    let line = "20261124,2026112415,P1001,U-20001,3,aa:bb:cc:dd:ee:ff,1200,0,5,6,7,8,9,10,11,12,13,18446744073709551615,1,1";
    let expected = format!(
        "POST /api/v1/flux/report HTTP/1.1\r\n\
         content-length: {}\r\n\
         user-agent: pushagent/{}\r\n\
         accept: */*\r\n\
         host: 127.0.0.1:{port}\r\n\
         content-type: application/x-www-form-urlencoded\r\n\
         access_id: AK-line\r\n\
         need_response: true\r\n\
         x-seq: 1\r\n\
         \r\n\
         {line}",
        line.len(),
        env!("CARGO_PKG_VERSION")
    );
    assert_eq!(requests[0], expected);
    assert!(requests[1].contains("\r\nx-seq: 2\r\n"), "the sequence increases: {}", requests[1]);
    assert!(!requests[0].to_ascii_lowercase().contains("x-signature"), "no signature in this profile");
}

#[test]
fn without_a_query_api_nothing_is_asked() {
    let client = CustomerClient::new(&line_profile()).expect("client");
    let ex = client.query("aa:bb:cc:dd:ee:ff", "20261124");
    assert_eq!(ex.verdict, Verdict::Unavailable);
    assert_eq!(ex.http_status, None);
}

#[test]
fn nonces_are_long_random_hex() {
    let (a, b) = (nonce(), nonce());
    assert_eq!(a.len(), 32);
    assert!(a.chars().all(|c| c.is_ascii_hexdigit()));
    assert_ne!(a, b);
}
