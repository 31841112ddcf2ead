//! The customer's API over blocking HTTP (ureq): signed requests, and every possible answer —
//! good, bad, garbage, slow or none — turned into an [`Exchange`] that says what to do next.

use std::time::{Duration, Instant};

use serde_json::Value;

use pushagent_proto::customer::{code, HEADER_ACCESS_ID, HEADER_NONCE, HEADER_SIGNATURE, HEADER_TIMESTAMP};
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
}

impl Verdict {
    pub fn outcome(&self) -> &'static str {
        match self {
            Verdict::Accepted => "accepted",
            Verdict::Invalid => "invalid",
            Verdict::Conflict(_) => "conflict",
            Verdict::AuthRefused => "auth_refused",
            Verdict::Retry => "retry",
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
        Ok(CustomerClient { agent: config.into(), profile: profile.clone() })
    }

    /// POST the records to the report API.
    pub fn push(&self, records: &[Value]) -> Exchange {
        let body = serde_json::json!({ "records": records }).to_string().into_bytes();
        self.exchange("POST", &self.profile.report_path.clone(), &[], body)
    }

    /// GET what the customer holds for one MAC and day (`mac` and `day` already in the
    /// profile's formats).
    pub fn query(&self, mac: &str, day: &str) -> Exchange {
        self.exchange("GET", &self.profile.query_path.clone(), &[("mac", mac), ("flux_dat", day)], Vec::new())
    }

    fn exchange(&self, method: &str, path: &str, query: &[(&str, &str)], body: Vec<u8>) -> Exchange {
        let started = Instant::now();
        let canonical = signing::canonical_query(query);
        let timestamp = chrono::Utc::now().timestamp(); // request time, always the real clock
        let nonce = nonce();
        let signature = signing::sign(
            self.profile.secret.expose().as_bytes(),
            &signing::string_to_sign(method, path, &canonical, timestamp, &nonce, &body),
        );
        let url = if canonical.is_empty() {
            format!("{}{path}", self.profile.base_url)
        } else {
            format!("{}{path}?{canonical}", self.profile.base_url)
        };
        let ts = timestamp.to_string();
        let result = if method == "GET" {
            self.agent
                .get(&url)
                .header(HEADER_ACCESS_ID, &self.profile.access_id)
                .header(HEADER_TIMESTAMP, &ts)
                .header(HEADER_NONCE, &nonce)
                .header(HEADER_SIGNATURE, &signature)
                .call()
        } else {
            self.agent
                .post(&url)
                .header("Content-Type", "application/json")
                .header(HEADER_ACCESS_ID, &self.profile.access_id)
                .header(HEADER_TIMESTAMP, &ts)
                .header(HEADER_NONCE, &nonce)
                .header(HEADER_SIGNATURE, &signature)
                .send(&body[..])
        };
        let elapsed = |s: Instant| s.elapsed().as_millis() as i64;
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
            Ok(text) => judge(status, &text, duration_ms),
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

/// Decide what an answer means. Only a JSON answer with a known `code` is believed.
pub fn judge(status: u16, text: &str, duration_ms: i64) -> Exchange {
    let parsed: Option<Value> = serde_json::from_str(text).ok();
    let answer_code = parsed.as_ref().and_then(|v| v.get("code")).and_then(Value::as_i64);
    let msg = parsed.as_ref().and_then(|v| v.get("msg")).and_then(Value::as_str).map(|m| clip(m, 300));
    let mut exchange = Exchange {
        verdict: Verdict::Retry,
        http_status: Some(status),
        code: answer_code,
        message: String::new(),
        duration_ms,
        data: None,
    };
    exchange.message = match (status, answer_code) {
        (401, _) => {
            exchange.verdict = Verdict::AuthRefused;
            format!("signature refused (HTTP 401): {}", msg.unwrap_or_default())
        }
        (200, Some(code::OK)) => {
            exchange.verdict = Verdict::Accepted;
            exchange.data = parsed.as_ref().and_then(|v| v.get("data")).and_then(Value::as_array).cloned();
            msg.unwrap_or_else(|| "ok".into())
        }
        (200, Some(code::INVALID_RECORD)) => {
            exchange.verdict = Verdict::Invalid;
            format!("invalid record: {}", msg.unwrap_or_default())
        }
        (200, Some(code::VERSION_CONFLICT)) => {
            let conflicts = parsed
                .as_ref()
                .and_then(|v| v.get("conflicts"))
                .and_then(|c| serde_json::from_value(c.clone()).ok())
                .unwrap_or_default();
            exchange.verdict = Verdict::Conflict(conflicts);
            format!("version conflict: {}", msg.unwrap_or_default())
        }
        (_, Some(c)) => format!("HTTP {status}, code {c}: {}", msg.unwrap_or_default()),
        (_, None) if parsed.is_some() => format!("HTTP {status}, answer has no code: {}", clip(text, 200)),
        (_, None) if text.trim_start().starts_with('<') => {
            format!("HTTP {status}, HTML instead of JSON: {}", clip(text, 200))
        }
        (_, None) if text.is_empty() => format!("HTTP {status}, empty answer"),
        (_, None) => format!("HTTP {status}, answer is not JSON: {}", clip(text, 200)),
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

    #[test]
    fn answers_are_judged_strictly() {
        assert_eq!(judge(200, r#"{"code":0,"msg":"ok"}"#, 1).verdict, Verdict::Accepted);
        assert_eq!(judge(200, r#"{"code":40001,"msg":"records[0].v3"}"#, 1).verdict, Verdict::Invalid);
        let c = judge(
            200,
            r#"{"code":40901,"msg":"x","conflicts":[{"mac":"a","flux_hour":"h","stored_version":2}]}"#,
            1,
        );
        assert!(matches!(c.verdict, Verdict::Conflict(ref v) if v.len() == 1 && v[0].stored_version == 2));
        assert_eq!(judge(401, r#"{"code":40101,"msg":"bad sig"}"#, 1).verdict, Verdict::AuthRefused);
        for (status, body) in [
            (200, "not json"),
            (502, "<html><body>Bad Gateway</body></html>"),
            (200, r#"{"msg":"no code"}"#),
            (200, ""),
            (503, r#"{"code":50001}"#),
            (429, r#"{"code":42901}"#),
            (200, r#"{"code":12345}"#),
        ] {
            let e = judge(status, body, 1);
            assert_eq!(e.verdict, Verdict::Retry, "{status} {body}");
            assert!(!e.message.is_empty());
        }
        let html = judge(502, "<html>", 1);
        assert!(html.message.contains("HTML"), "{}", html.message);
    }

    #[test]
    fn nonces_are_long_random_hex() {
        let (a, b) = (nonce(), nonce());
        assert_eq!(a.len(), 32);
        assert!(a.chars().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a, b);
    }
}
