//! The customer's API over blocking HTTP (ureq): ONE renderer of everything the customer
//! profile says (encoding, headers, signature, sequence) and ONE judge of every possible
//! answer — good, bad, garbage, slow or none — by the profile's answer rule, turned into an
//! [`Exchange`] that says what to do next.

use std::cell::RefCell;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::Value;

use pushagent_proto::customer::{HEADER_NONCE, HEADER_SIGNATURE, HEADER_TIMESTAMP};
use pushagent_proto::profile::{AnswerRule, Encoding, Signature};
use pushagent_proto::signing;

use crate::config::CustomerProfile;

/// Answers larger than this are not read (a misbehaving proxy can send anything).
const MAX_ANSWER_BYTES: u64 = 1 << 20;
/// ureq's default I/O buffers are 128 KiB; our requests and answers are small.
const IO_BUFFER_BYTES: usize = 16 * 1024;

/// What the customer's answer means for the records of a push.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// code 0: the whole batch is stored.
    Accepted,
    /// code 40001: a record is invalid; not retryable as is.
    Invalid,
    /// code 40901: versions conflict; `conflicts` say where.
    Conflict(Vec<pushagent_proto::customer::Conflict>),
    /// HTTP 401: signing refused. Retried, but counts as a failure for alerting.
    AuthRefused,
    /// 429, 5xx, timeouts, resets, garbage: try again later.
    Retry,
    /// The profile has no query API: nothing was asked (verification `unavailable`).
    Unavailable,
}

impl Verdict {
    pub fn outcome(&self) -> &'static str {
        match self {
            Verdict::Accepted => "accepted",
            Verdict::Invalid => "invalid",
            Verdict::Conflict(_) => "conflict",
            Verdict::AuthRefused => "auth_refused",
            Verdict::Retry => "retry",
            Verdict::Unavailable => "unavailable",
        }
    }
}

/// One request and what came back.
#[derive(Debug, Clone)]
pub struct Exchange {
    pub verdict: Verdict,
    pub http_status: Option<u16>,
    pub code: Option<i64>,
    /// Human-readable: the customer's msg, or what went wrong.
    pub message: String,
    pub duration_ms: i64,
    /// The answer's `data` (query API).
    pub data: Option<Vec<Value>>,
}

pub struct CustomerClient {
    agent: ureq::Agent,
    profile: CustomerProfile,
    /// The state database holding the request sequence (profiles with a sequence header).
    sequence_db: Option<PathBuf>,
    sequence_conn: RefCell<Option<rusqlite::Connection>>,
}

/// A request as the profile renders it, before it is sent: what the customer gets, byte for
/// byte (ureq adds `Host`, `User-Agent`, `Accept-Encoding` and `Content-Length`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenderedRequest {
    pub method: &'static str,
    /// Path and canonical query (`/api/v1/flux/query?flux_dat=...&mac=...`).
    pub target: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

/// What a request carries besides the records: the real clock's time, a nonce, the sequence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestStamp {
    pub timestamp: i64,
    pub nonce: String,
    /// The agent's request number, when the profile has a sequence header.
    pub sequence: Option<u64>,
}

/// The body of a push: `{"records":[...]}` (json) or one line per record (line).
pub fn render_push_body(profile: &CustomerProfile, records: &[Value]) -> Vec<u8> {
    match profile.encoding {
        Encoding::Json => serde_json::json!({ "records": records }).to_string().into_bytes(),
        Encoding::Line => {
            let lines: Vec<String> = records.iter().map(|r| render_line(profile, r)).collect();
            lines.join("\n").into_bytes()
        }
    }
}

/// One record as a line: the values of `line.fields` (record field names, through the
/// profile's id renames) joined by the separator; numbers as decimal digits.
fn render_line(profile: &CustomerProfile, record: &Value) -> String {
    let names = &profile.fields;
    let values: Vec<String> = profile
        .line
        .fields
        .iter()
        .map(|field| {
            let key = match field.as_str() {
                "provider_id" => names.provider_id.as_str(),
                "provider_uiid" => names.provider_uiid.as_str(),
                "isp_id" => names.isp_id.as_str(),
                "device_type" => names.device_type.as_str(),
                other => other,
            };
            match record.get(key) {
                Some(Value::String(text)) => text.clone(),
                Some(other) => other.to_string(),
                None => String::new(),
            }
        })
        .collect();
    values.join(&profile.line.separator)
}

/// The whole request the profile says: body, content type, access id, signature (or not),
/// static headers, sequence header. Pure: tests compare its bytes.
pub fn render_request(
    profile: &CustomerProfile,
    method: &'static str,
    path: &str,
    query: &[(&str, &str)],
    body: Vec<u8>,
    stamp: &RequestStamp,
) -> RenderedRequest {
    let canonical = signing::canonical_query(query);
    let mut headers: Vec<(String, String)> = Vec::new();
    if method == "POST" {
        let content_type = match profile.encoding {
            Encoding::Json => "application/json",
            Encoding::Line => profile.line.content_type.as_str(),
        };
        headers.push(("Content-Type".into(), content_type.into()));
    }
    headers.push((profile.auth.access_id_header.clone(), profile.access_id.clone()));
    if profile.auth.signature == Signature::HmacSha256 {
        let signature = signing::sign(
            profile.secret.expose().as_bytes(),
            &signing::string_to_sign(method, path, &canonical, stamp.timestamp, &stamp.nonce, &body),
        );
        headers.push((HEADER_TIMESTAMP.into(), stamp.timestamp.to_string()));
        headers.push((HEADER_NONCE.into(), stamp.nonce.clone()));
        headers.push((HEADER_SIGNATURE.into(), signature));
    }
    headers.extend(profile.auth.static_headers.iter().cloned());
    if let (false, Some(n)) = (profile.auth.sequence_header.is_empty(), stamp.sequence) {
        headers.push((profile.auth.sequence_header.clone(), n.to_string()));
    }
    let target = if canonical.is_empty() { path.to_string() } else { format!("{path}?{canonical}") };
    RenderedRequest { method, target, headers, body }
}

impl CustomerClient {
    pub fn new(profile: &CustomerProfile) -> Result<Self, String> {
        let proxy = match &profile.proxy {
            Some(url) => Some(ureq::Proxy::new(url).map_err(|e| format!("customer.proxy {url:?}: {e}"))?),
            None => None,
        };
        let config = ureq::Agent::config_builder()
            .timeout_global(Some(Duration::from_secs(profile.timeout_secs)))
            .timeout_connect(Some(Duration::from_secs(profile.connect_timeout_secs)))
            .http_status_as_error(false)
            .max_redirects(0)
            .input_buffer_size(IO_BUFFER_BYTES)
            .output_buffer_size(IO_BUFFER_BYTES)
            .user_agent(format!("pushagent/{}", env!("CARGO_PKG_VERSION")))
            .proxy(proxy)
            .build();
        Ok(CustomerClient {
            agent: config.into(),
            profile: profile.clone(),
            sequence_db: None,
            sequence_conn: RefCell::new(None),
        })
    }

    /// The agent's client: its request numbers come from the state database at `state_db`.
    pub fn for_agent(profile: &CustomerProfile, state_db: &Path) -> Result<Self, String> {
        let mut client = CustomerClient::new(profile)?;
        client.sequence_db = Some(state_db.to_owned());
        Ok(client)
    }

    /// POST the records to the report API.
    pub fn push(&self, records: &[Value]) -> Exchange {
        let body = render_push_body(&self.profile, records);
        self.exchange("POST", &self.profile.report_path.clone(), &[], body, Judge::Push)
    }

    /// GET what the customer holds for one MAC and day (`mac` and `day` already in the
    /// profile's formats); `data` is the answer's list of records. Without a query API the
    /// verdict is [`Verdict::Unavailable`] and nothing is sent.
    pub fn query(&self, mac: &str, day: &str) -> Exchange {
        if !self.profile.has_query() {
            return Exchange {
                verdict: Verdict::Unavailable,
                http_status: None,
                code: None,
                message: "the customer profile has no query API".into(),
                duration_ms: 0,
                data: None,
            };
        }
        let q = &self.profile.query;
        let mut ex = self.exchange(
            "GET",
            &self.profile.query_path.clone(),
            &[(q.mac_param.as_str(), mac), (q.day_param.as_str(), day)],
            Vec::new(),
            Judge::Query,
        );
        ex.data = match ex.verdict {
            Verdict::Accepted => ex
                .data
                .as_ref()
                .and_then(|v| v.first())
                .and_then(|answer| answer.get(&q.records_field))
                .and_then(Value::as_array)
                .cloned(),
            _ => None,
        };
        ex
    }

    /// The next request number (persisted before the request goes out, so never reused).
    fn next_sequence(&self) -> Result<Option<u64>, String> {
        if self.profile.auth.sequence_header.is_empty() {
            return Ok(None);
        }
        let path = self.sequence_db.as_deref().ok_or("no state database for the request sequence")?;
        let mut conn = self.sequence_conn.borrow_mut();
        if conn.is_none() {
            *conn = Some(crate::statedb::open_existing(path).map_err(|e| e.to_string())?);
        }
        let conn = conn.as_ref().ok_or("no state database")?;
        super::sequence::next(conn).map(Some).map_err(|e| format!("request sequence: {e}"))
    }

    fn exchange(
        &self,
        method: &'static str,
        path: &str,
        query: &[(&str, &str)],
        body: Vec<u8>,
        how: Judge,
    ) -> Exchange {
        let started = Instant::now();
        let elapsed = |s: Instant| s.elapsed().as_millis() as i64;
        let sequence = match self.next_sequence() {
            Ok(n) => n,
            Err(e) => {
                return Exchange {
                    verdict: Verdict::Retry,
                    http_status: None,
                    code: None,
                    message: format!("not sent: {e}"),
                    duration_ms: elapsed(started),
                    data: None,
                }
            }
        };
        // Request timestamps always come from the real clock (the customer checks them).
        let stamp = RequestStamp { timestamp: chrono::Utc::now().timestamp(), nonce: nonce(), sequence };
        let request = render_request(&self.profile, method, path, query, body, &stamp);
        let url = format!("{}{}", self.profile.base_url, request.target);
        let result = if method == "GET" {
            let mut builder = self.agent.get(&url);
            for (name, value) in &request.headers {
                builder = builder.header(name, value);
            }
            builder.call()
        } else {
            let mut builder = self.agent.post(&url);
            for (name, value) in &request.headers {
                builder = builder.header(name, value);
            }
            builder.send(&request.body[..])
        };
        let mut response = match result {
            Ok(r) => r,
            Err(e) => {
                return Exchange {
                    verdict: Verdict::Retry,
                    http_status: None,
                    code: None,
                    message: format!("no answer: {}", describe_transport_error(&e)),
                    duration_ms: elapsed(started),
                    data: None,
                }
            }
        };
        let status = response.status().as_u16();
        let text = response.body_mut().with_config().limit(MAX_ANSWER_BYTES).read_to_string();
        let duration_ms = elapsed(started);
        match text {
            Ok(text) => match how {
                Judge::Push => judge(&self.profile.answer, status, &text, duration_ms),
                Judge::Query => judge_query(
                    &self.profile.answer,
                    &self.profile.query.records_field,
                    status,
                    &text,
                    duration_ms,
                ),
            },
            Err(e) => Exchange {
                verdict: Verdict::Retry,
                http_status: Some(status),
                code: None,
                message: format!("HTTP {status}, answer unreadable: {}", describe_transport_error(&e)),
                duration_ms,
                data: None,
            },
        }
    }
}

/// Which answer an exchange expects.
#[derive(Debug, Clone, Copy)]
enum Judge {
    /// A push: the profile's answer rule.
    Push,
    /// A query: JSON holding the records list.
    Query,
}

/// Decide what a query's answer means: a 2xx JSON object holding the records list (and, when
/// the answer rule has a result field, an OK value in it) is read; anything else is retried.
/// A query answer is always JSON (the profile's query mapping), whatever a push's answer is:
/// the line profile's pushes answer an empty body or a text, its queries a JSON document.
pub fn judge_query(
    rule: &AnswerRule,
    records_field: &str,
    status: u16,
    text: &str,
    duration_ms: i64,
) -> Exchange {
    let success = (200..300).contains(&status);
    let mut parsed: Option<Value> = None;
    if !success || !rule.result_field.is_empty() {
        // The rule's own terms: non-2xx (never accepted), 401, or a result field that must say
        // OK; an accepted answer comes back parsed.
        let ex = judge(rule, status, text, duration_ms);
        if ex.verdict != Verdict::Accepted {
            return ex;
        }
        parsed = ex.data.and_then(|d| d.into_iter().next());
    }
    let parsed = parsed.or_else(|| serde_json::from_str(text).ok());
    let has_records = parsed.as_ref().and_then(|v| v.get(records_field)).is_some_and(Value::is_array);
    let (verdict, message) = match (&parsed, has_records) {
        (Some(_), true) => (Verdict::Accepted, format!("HTTP {status}: records read")),
        (Some(_), false) => (
            Verdict::Retry,
            format!("HTTP {status}, answer has no {records_field} list: {}", clip(text, 200)),
        ),
        (None, _) => {
            (Verdict::Retry, format!("HTTP {status}, query answer is not JSON: {}", clip(text, 200)))
        }
    };
    Exchange {
        data: (verdict == Verdict::Accepted).then(|| parsed.into_iter().collect()),
        verdict,
        http_status: Some(status),
        code: None,
        message,
        duration_ms,
    }
}

/// A result value as text: numbers in decimal, strings as they are.
fn value_text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// Decide what an answer means, by the profile's answer rule. Non-2xx is never "stored" (401
/// is "signing refused"); a 2xx is believed only when its body says "stored" in the rule's
/// terms: the result field with an OK value, or (without a result field) an empty body or one
/// of the OK texts. Anything else is retried. `data` holds the parsed answer when accepted.
pub fn judge(rule: &AnswerRule, status: u16, text: &str, duration_ms: i64) -> Exchange {
    let parsed: Option<Value> = serde_json::from_str(text).ok();
    let field = |name: &str| {
        if name.is_empty() {
            None
        } else {
            parsed.as_ref().and_then(|v| v.get(name))
        }
    };
    let result = field(&rule.result_field).and_then(value_text);
    let msg = field(&rule.message_field).and_then(Value::as_str).map(|m| clip(m, 300));
    let mut exchange = Exchange {
        verdict: Verdict::Retry,
        http_status: Some(status),
        code: result.as_deref().and_then(|r| r.parse().ok()),
        message: String::new(),
        duration_ms,
        data: None,
    };
    let in_list = |list: &[String]| result.as_ref().is_some_and(|r| list.contains(r));
    let success = (200..300).contains(&status);
    let not_understood = || {
        if text.trim_start().starts_with('<') {
            format!("HTTP {status}, HTML instead of JSON: {}", clip(text, 200))
        } else if text.trim().is_empty() {
            format!("HTTP {status}, empty answer")
        } else if parsed.is_some() && !rule.result_field.is_empty() {
            format!("HTTP {status}, answer has no {}: {}", rule.result_field, clip(text, 200))
        } else if rule.result_field.is_empty() && success {
            format!("HTTP {status}, answer not understood (not an OK text): {}", clip(text, 200))
        } else {
            format!("HTTP {status}, answer is not JSON: {}", clip(text, 200))
        }
    };
    exchange.message = if status == 401 {
        exchange.verdict = Verdict::AuthRefused;
        format!("signature refused (HTTP 401): {}", msg.unwrap_or_default())
    } else if !success {
        match &result {
            Some(r) => format!("HTTP {status}, code {r}: {}", msg.unwrap_or_default()),
            None => not_understood(),
        }
    } else if rule.result_field.is_empty() {
        let body = text.trim();
        if body.is_empty() || rule.ok_texts.iter().any(|ok| ok.trim().eq_ignore_ascii_case(body)) {
            exchange.verdict = Verdict::Accepted;
            if body.is_empty() {
                format!("HTTP {status}, empty answer")
            } else {
                format!("HTTP {status}: {}", clip(body, 200))
            }
        } else {
            not_understood()
        }
    } else if in_list(&rule.ok_values) {
        exchange.verdict = Verdict::Accepted;
        exchange.data = parsed.clone().map(|v| vec![v]);
        msg.unwrap_or_else(|| "ok".into())
    } else if in_list(&rule.invalid_values) {
        exchange.verdict = Verdict::Invalid;
        format!("invalid record: {}", msg.unwrap_or_default())
    } else if in_list(&rule.conflict_values) {
        let conflicts = parsed
            .as_ref()
            .and_then(|v| v.get("conflicts"))
            .and_then(|c| serde_json::from_value(c.clone()).ok())
            .unwrap_or_default();
        exchange.verdict = Verdict::Conflict(conflicts);
        format!("version conflict: {}", msg.unwrap_or_default())
    } else {
        match &result {
            Some(r) => format!("HTTP {status}, code {r}: {}", msg.unwrap_or_default()),
            None => not_understood(),
        }
    };
    exchange
}

fn describe_transport_error(e: &ureq::Error) -> String {
    match e {
        ureq::Error::Timeout(t) => format!("timed out ({t:?})"),
        ureq::Error::BodyExceedsLimit(n) => format!("answer larger than {n} bytes"),
        other => other.to_string(),
    }
}

/// At most `max` characters, on one line, for a message that lands in logs and history.
fn clip(text: &str, max: usize) -> String {
    let one_line: String = text.chars().map(|c| if c.is_control() { ' ' } else { c }).take(max).collect();
    if text.chars().count() > max {
        format!("{one_line}…")
    } else {
        one_line
    }
}

/// 16 random bytes as 32 hex characters.
fn nonce() -> String {
    let mut bytes = [0u8; 16];
    if getrandom::fill(&mut bytes).is_err() {
        // No kernel randomness (never seen on Linux >= 3.17): fall back to time and pid.
        let t =
            chrono::Utc::now().timestamp_nanos_opt().unwrap_or(0) as u128 ^ u128::from(std::process::id());
        bytes = t.to_le_bytes();
    }
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
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
        for (status, body) in
            [(200, "<html>"), (200, "ok"), (200, ""), (200, r#"{"data":[]}"#), (502, records)]
        {
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
        let r = render_request(
            &profile,
            "POST",
            "/api/v1/flux/report",
            &[],
            render_push_body(&profile, &[]),
            &stamp,
        );
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
}
