//! Alert channels and deliveries. Each alert is stored with one delivery per channel; a
//! delivery is tried, and on failure retried with backoff until `delivery_max_attempts`.
//!
//! Formats: generic JSON webhook; DingTalk robot (sign = base64(HMAC-SHA256(key = secret,
//! msg = `ms_timestamp + "\n" + secret`)), url-encoded into the URL as `&timestamp=..&sign=..`);
//! WeCom group robot (markdown); Feishu bot (sign = base64(HMAC-SHA256(key = `secs_timestamp +
//! "\n" + secret`, msg = empty)), in the body as `timestamp`/`sign`).
//!
//! The HTTP client is ureq (blocking), run on tokio's blocking pool: it is already the agent's
//! client (same TLS stack, no new dependency tree) and deliveries are few.

use std::time::Duration;

use base64::Engine;
use hmac::{Hmac, KeyInit, Mac};
use percent_encoding::{utf8_percent_encode, NON_ALPHANUMERIC};
use sha2::Sha256;

use crate::global::{AlertChannel, ChannelKind};
use crate::store::{DueDelivery, StoreError};
use crate::{lock, Settings, SharedStore};

/// A request ready to send to one channel.
#[derive(Debug, Clone, PartialEq)]
pub struct Outgoing {
    pub url: String,
    pub body: serde_json::Value,
}

fn hmac_sha256_base64(key: &[u8], message: &[u8]) -> String {
    // HMAC takes keys of any length: this cannot fail.
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(key).unwrap_or_else(|_| unreachable!());
    mac.update(message);
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

/// DingTalk: key = secret, message = `timestamp_ms + "\n" + secret`; base64 (not yet url-encoded).
pub fn dingtalk_sign(secret: &str, timestamp_ms: i64) -> String {
    hmac_sha256_base64(secret.as_bytes(), format!("{timestamp_ms}\n{secret}").as_bytes())
}

/// Feishu: key = `timestamp_secs + "\n" + secret`, message = empty; base64.
pub fn feishu_sign(secret: &str, timestamp_secs: i64) -> String {
    hmac_sha256_base64(format!("{timestamp_secs}\n{secret}").as_bytes(), b"")
}

/// The request for `channel` carrying `delivery`'s alert, signed at `now_ms`.
pub fn render(channel: &AlertChannel, delivery: &DueDelivery, now_ms: i64) -> Outgoing {
    let text = format!("{}\n\n{}", delivery.title, delivery.body);
    match channel.kind {
        ChannelKind::Webhook => Outgoing {
            url: channel.url.clone(),
            body: serde_json::json!({
                "kind": delivery.alert_kind,
                "title": delivery.title,
                "text": delivery.body,
                "machine_id": delivery.machine_id,
                "incident_id": delivery.incident_id,
                "created_at": delivery.created_at,
            }),
        },
        ChannelKind::Dingtalk => {
            let mut url = channel.url.clone();
            if let Some(secret) = &channel.secret {
                let sign = utf8_percent_encode(&dingtalk_sign(secret, now_ms), NON_ALPHANUMERIC).to_string();
                let separator = if url.contains('?') { '&' } else { '?' };
                url = format!("{url}{separator}timestamp={now_ms}&sign={sign}");
            }
            Outgoing {
                url,
                body: serde_json::json!({
                    "msgtype": "markdown",
                    "markdown": { "title": delivery.title, "text": format!("### {}\n\n{}", delivery.title, delivery.body) },
                }),
            }
        }
        ChannelKind::Wecom => Outgoing {
            url: channel.url.clone(),
            body: serde_json::json!({
                "msgtype": "markdown",
                "markdown": { "content": format!("**{}**\n{}", delivery.title, delivery.body) },
            }),
        },
        ChannelKind::Feishu => {
            let mut body = serde_json::json!({ "msg_type": "text", "content": { "text": text } });
            if let Some(secret) = &channel.secret {
                let secs = now_ms.div_euclid(1000);
                body["timestamp"] = secs.to_string().into();
                body["sign"] = feishu_sign(secret, secs).into();
            }
            Outgoing { url: channel.url.clone(), body }
        }
    }
}

/// POST it; a robot answering 200 with a non-zero `errcode`/`code` has refused it.
pub fn send(agent: &ureq::Agent, outgoing: &Outgoing) -> Result<(), String> {
    let mut response = agent
        .post(&outgoing.url)
        .header("Content-Type", "application/json")
        .send(outgoing.body.to_string().as_bytes())
        .map_err(|e| format!("no answer: {e}"))?;
    let status = response.status().as_u16();
    let text = response.body_mut().with_config().limit(64 * 1024).read_to_string().unwrap_or_default();
    if !(200..300).contains(&status) {
        return Err(format!("HTTP {status}: {}", text.chars().take(200).collect::<String>()));
    }
    if let Ok(answer) = serde_json::from_str::<serde_json::Value>(&text) {
        for key in ["errcode", "code", "StatusCode"] {
            if let Some(code) = answer.get(key).and_then(serde_json::Value::as_i64) {
                if code != 0 {
                    return Err(format!("refused: {}", text.chars().take(200).collect::<String>()));
                }
            }
        }
    }
    Ok(())
}

pub fn http_agent(settings: &Settings) -> ureq::Agent {
    ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_secs(settings.alert_timeout_secs)))
        .http_status_as_error(false)
        .max_redirects(0)
        .user_agent(format!("pushagent-config/{}", env!("CARGO_PKG_VERSION")))
        .build()
        .into()
}

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct DeliveryReport {
    pub sent: Vec<String>,
    pub retrying: Vec<String>,
    pub failed: Vec<String>,
}

/// Try every delivery that is due. The store is not locked while a request is in flight.
pub fn deliver_due(
    store: &SharedStore,
    settings: &Settings,
    agent: &ureq::Agent,
    now_ms: i64,
) -> Result<DeliveryReport, StoreError> {
    let now = now_ms.div_euclid(1000);
    let (due, channels) = {
        let store = lock(store);
        (store.due_deliveries(now, 200)?, store.global()?.1.alerts.channels)
    };
    let mut report = DeliveryReport::default();
    // Long enough for one send (its timeout) and the write after it.
    let lease_until = now + i64::try_from(settings.alert_timeout_secs).unwrap_or(3600) + 60;
    for delivery in due {
        // Another sender (a `runcheck` beside `serve`, or serve's other job) may have taken it.
        if !lock(store).claim_delivery(delivery.id, now, lease_until)? {
            continue;
        }
        let outcome = match channels.iter().find(|c| c.name == delivery.channel) {
            Some(channel) => send(agent, &render(channel, &delivery, now_ms)),
            None => Err(format!("channel {:?} is no longer configured", delivery.channel)),
        };
        let attempts = delivery.attempts + 1;
        let label = format!("alert {:?} → {}", delivery.title, delivery.channel);
        let retry_at = match &outcome {
            Ok(()) => {
                report.sent.push(label);
                None
            }
            Err(e) if attempts < i64::from(settings.delivery_max_attempts) => {
                report.retrying.push(format!("{label}: {e}"));
                Some(now + (60i64 << attempts.min(6)).min(3600))
            }
            Err(e) => {
                log::warn!("{label} failed for good after {attempts} attempts: {e}");
                report.failed.push(format!("{label}: {e}"));
                None
            }
        };
        lock(store).delivery_attempted(delivery.id, outcome, now, retry_at)?;
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dingtalk_and_feishu_use_different_algorithms() {
        // Same secret and instant, different key/message layout: the signatures differ.
        assert_ne!(dingtalk_sign("SEC", 1_700_000_000_000), feishu_sign("SEC", 1_700_000_000));
        assert_eq!(dingtalk_sign("SEC", 1), dingtalk_sign("SEC", 1));
    }
}
