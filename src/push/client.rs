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
#[path = "client_tests.rs"]
mod tests;
