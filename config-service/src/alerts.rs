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

/// What a channel's URL shows outside the service: robot credentials carried in the URL
/// (DingTalk `access_token`, WeCom `key`, any query value, the Feishu hook token) replaced by
/// `****`. Write-only like the signing secret: the admin API and the audit log see only this.
pub fn masked_url(url: &str) -> String {
    const MASK: &str = "****";
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    // Feishu: https://open.feishu.cn/open-apis/bot/v2/hook/<token>
    let base = match base.split_once("/hook/") {
        Some((head, _)) => format!("{head}/hook/{MASK}"),
        None => base.to_owned(),
    };
    match query {
        None => base,
        Some(query) => {
            let masked: Vec<String> = query
                .split('&')
                .map(|pair| match pair.split_once('=') {
                    Some((name, _)) => format!("{name}={MASK}"),
                    None => pair.to_owned(),
                })
                .collect();
            format!("{base}?{}", masked.join("&"))
        }
    }
}

/// A short fingerprint of a channel URL: the audit log tells that a URL changed without it.
pub fn url_fingerprint(url: &str) -> String {
    use sha2::Digest;
    Sha256::digest(url.as_bytes()).iter().take(4).map(|b| format!("{b:02x}")).collect()
}

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

impl DeliveryReport {
    fn merge(&mut self, other: DeliveryReport) {
        self.sent.extend(other.sent);
        self.retrying.extend(other.retrying);
        self.failed.extend(other.failed);
    }
}

/// Try every delivery that is due: each channel's in order on a worker of its own, at most
/// `delivery_concurrency` channels at once, so a hung receiver holds up only its own channel.
/// The store is not locked while a request is in flight.
pub fn deliver_due(
    store: &SharedStore,
    settings: &Settings,
    agent: &ureq::Agent,
    now_ms: i64,
) -> Result<DeliveryReport, StoreError> {
    let channels = lock(store).due_channels(now_ms.div_euclid(1000))?;
    let queue = std::sync::Mutex::new(channels.into_iter());
    let results = std::sync::Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for _ in 0..settings.delivery_concurrency.max(1) {
            scope.spawn(|| loop {
                let next = queue.lock().unwrap_or_else(std::sync::PoisonError::into_inner).next();
                let Some(channel) = next else { break };
                let result = deliver_channel(store, settings, agent, &channel, now_ms);
                results.lock().unwrap_or_else(std::sync::PoisonError::into_inner).push(result);
            });
        }
    });
    let mut report = DeliveryReport::default();
    for result in results.into_inner().unwrap_or_else(std::sync::PoisonError::into_inner) {
        report.merge(result?);
    }
    Ok(report)
}

/// The wait before the retry that follows attempt number `attempts` (1-based).
fn retry_wait_secs(settings: &Settings, attempts: i64) -> i64 {
    let schedule = &settings.delivery_retry_secs;
    let index =
        usize::try_from(attempts.saturating_sub(1)).unwrap_or(0).min(schedule.len().saturating_sub(1));
    schedule.get(index).map_or(3600, |secs| i64::try_from(*secs).unwrap_or(i64::MAX))
}

/// Send the deliveries of `channel` due at `now_ms`, oldest first.
pub fn deliver_channel(
    store: &SharedStore,
    settings: &Settings,
    agent: &ureq::Agent,
    channel: &str,
    now_ms: i64,
) -> Result<DeliveryReport, StoreError> {
    let now = now_ms.div_euclid(1000);
    let (due, channels) = {
        let store = lock(store);
        (store.due_deliveries_of(Some(channel), now, 200)?, store.global()?.1.alerts.channels)
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
            // A receiver that answers after the timeout may have shown it: the first retry
            // waits long (delivery_retry_secs), never a minute.
            Err(e) if attempts < i64::from(settings.delivery_max_attempts) => {
                report.retrying.push(format!("{label}: {e}"));
                Some(now.saturating_add(retry_wait_secs(settings, attempts)))
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

/// serve's alert delivery: a worker (a blocking task) per channel with deliveries due, at most
/// `delivery_concurrency` at once. A channel whose worker is still busy (a hung receiver) is
/// left to it; the checks and the other channels go on.
#[derive(Default)]
pub struct Dispatcher {
    busy: std::sync::Mutex<std::collections::HashSet<String>>,
}

impl Dispatcher {
    /// Start workers for the channels with deliveries due; returns at once. Call from the
    /// service's runtime (a job).
    pub fn dispatch(self: &std::sync::Arc<Self>, app: &std::sync::Arc<crate::http::App>) {
        let channels = match lock(&app.store).due_channels(app.now()) {
            Ok(channels) => channels,
            Err(e) => {
                log::error!("alert delivery failed (retried next period): {e}");
                return;
            }
        };
        for channel in channels {
            {
                let mut busy = self.busy.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                if busy.len() >= app.settings.delivery_concurrency.max(1) || busy.contains(&channel) {
                    continue;
                }
                busy.insert(channel.clone());
            }
            let (dispatcher, app) = (std::sync::Arc::clone(self), std::sync::Arc::clone(app));
            tokio::task::spawn_blocking(move || {
                let agent = http_agent(&app.settings);
                let now_ms = app.now().saturating_mul(1000);
                match deliver_channel(&app.store, &app.settings, &agent, &channel, now_ms) {
                    Ok(r) if !r.failed.is_empty() => {
                        log::warn!("alert deliveries failed for good: {:?}", r.failed)
                    }
                    Ok(_) => {}
                    Err(e) => log::error!("alert delivery to {channel} failed (retried next period): {e}"),
                }
                dispatcher.busy.lock().unwrap_or_else(std::sync::PoisonError::into_inner).remove(&channel);
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn robot_credentials_in_urls_are_masked() {
        assert_eq!(
            masked_url("https://oapi.dingtalk.com/robot/send?access_token=abc123"),
            "https://oapi.dingtalk.com/robot/send?access_token=****"
        );
        assert_eq!(
            masked_url("https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=k-1&debug"),
            "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=****&debug"
        );
        assert_eq!(
            masked_url("https://open.feishu.cn/open-apis/bot/v2/hook/0f1e-token"),
            "https://open.feishu.cn/open-apis/bot/v2/hook/****"
        );
        assert_eq!(masked_url("http://127.0.0.1:9000/alerts"), "http://127.0.0.1:9000/alerts");
        assert_ne!(url_fingerprint("https://x/?key=a"), url_fingerprint("https://x/?key=b"));
    }

    #[test]
    fn dingtalk_and_feishu_use_different_algorithms() {
        // Same secret and instant, different key/message layout: the signatures differ.
        assert_ne!(dingtalk_sign("SEC", 1_700_000_000_000), feishu_sign("SEC", 1_700_000_000));
        assert_eq!(dingtalk_sign("SEC", 1), dingtalk_sign("SEC", 1));
    }
}
