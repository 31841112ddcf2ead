//! The global config as the service keeps it (one JSON document per version): what agents get
//! (`pushagent_proto::agent::GlobalConfig`) plus the alert channels and check thresholds.

use pushagent_proto::agent::{BilledDirection, CustomerProfile, GlobalConfig};
use serde::{Deserialize, Serialize};

#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GlobalDoc {
    pub push_enabled: bool,
    pub customer: CustomerProfile,
    pub provider_id: String,
    pub provider_uiid: String,
    pub isp_id: i64,
    pub device_type: i64,
    pub offset_bp: i32,
    /// Global fixed bytes per 5-minute point (+/-), after the percentage (`proto::offset`).
    #[serde(default)]
    pub offset_fixed_bytes: i64,
    pub billed_direction: BilledDirection,
    #[serde(default)]
    pub alerts: AlertSettings,
}

impl std::fmt::Debug for GlobalDoc {
    // The customer secret and channel secrets never reach a log line.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GlobalDoc")
            .field("push_enabled", &self.push_enabled)
            .field("base_url", &self.customer.base_url)
            .field("access_id", &self.customer.access_id)
            .field("secret", &"<redacted>")
            .field("offset_bp", &self.offset_bp)
            .field("channels", &self.alerts.channels.len())
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AlertSettings {
    pub channels: Vec<AlertChannel>,
    /// This many consecutive failed push attempts open a failure incident.
    pub failure_threshold: u32,
    /// Silent for this many heartbeat periods = offline.
    pub offline_periods: u32,
    /// An incident still open after this many hours is notified again; 0 = never.
    pub renotify_hours: u32,
    /// More than this percentage of machines going offline in one check = one storm summary.
    pub storm_percent: u32,
    /// "zh" (default) or "en".
    pub language: String,
    /// A condition an agent reports (clock not synchronised, config refused, interface
    /// missing, settings missing, sampling stuck) is alerted once it has held this long.
    pub health_after_minutes: u32,
    /// Hours waiting to be sent behind a push switch that is off (health
    /// `push_held_by_switch`) are alerted once the agent has held them this many hours; 0 =
    /// never (the console shows them always). A switch off is deliberate; hours waiting are money.
    pub push_held_after_hours: u32,
}

impl Default for AlertSettings {
    fn default() -> Self {
        AlertSettings {
            channels: Vec::new(),
            failure_threshold: 3,
            offline_periods: 3,
            renotify_hours: 24,
            storm_percent: 30,
            language: "zh".into(),
            health_after_minutes: 15,
            push_held_after_hours: 24,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ChannelKind {
    Webhook,
    Dingtalk,
    Wecom,
    Feishu,
}

#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertChannel {
    pub name: String,
    pub kind: ChannelKind,
    pub url: String,
    /// Signing secret (DingTalk, Feishu); write-only in the admin API.
    #[serde(default)]
    pub secret: Option<String>,
}

impl std::fmt::Debug for AlertChannel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AlertChannel")
            .field("name", &self.name)
            .field("kind", &self.kind)
            .field("url", &"<redacted>")
            .field("secret", &self.secret.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

impl Default for GlobalDoc {
    fn default() -> Self {
        GlobalDoc {
            // Off until an operator fills in the customer profile.
            push_enabled: false,
            customer: CustomerProfile {
                base_url: "http://127.0.0.1:8780".into(),
                report_path: pushagent_proto::customer::REPORT_PATH.into(),
                query_path: pushagent_proto::customer::QUERY_PATH.into(),
                access_id: String::new(),
                secret: String::new(),
                day_format: "%Y%m%d".into(),
                hour_format: "%Y%m%d%H".into(),
                mac_format: "lower-colon".into(),
                batch_size: pushagent_proto::customer::MAX_RECORDS_PER_PUSH as u32,
                encoding: Default::default(),
                line: Default::default(),
                auth: Default::default(),
                answer: Default::default(),
                query: Default::default(),
            },
            provider_id: String::new(),
            provider_uiid: String::new(),
            isp_id: 0,
            device_type: 0,
            offset_bp: 0,
            offset_fixed_bytes: 0,
            billed_direction: BilledDirection::Tx,
            alerts: AlertSettings::default(),
        }
    }
}

impl GlobalDoc {
    /// The global level of the offsets (always set).
    pub fn offset_level(&self) -> pushagent_proto::offset::LevelOffsets {
        pushagent_proto::offset::LevelOffsets {
            offset_bp: Some(self.offset_bp),
            offset_fixed_bytes: Some(self.offset_fixed_bytes),
        }
    }

    pub fn to_wire(&self, version: i64) -> GlobalConfig {
        GlobalConfig {
            version,
            push_enabled: self.push_enabled,
            customer: self.customer.clone(),
            provider_id: self.provider_id.clone(),
            provider_uiid: self.provider_uiid.clone(),
            isp_id: self.isp_id,
            device_type: self.device_type,
            offset_bp: self.offset_bp,
            offset_fixed_bytes: self.offset_fixed_bytes,
            billed_direction: self.billed_direction,
        }
    }

    /// The document as the admin API shows it: secrets replaced by whether they are set.
    pub fn redacted(&self, version: i64) -> serde_json::Value {
        let mut value = serde_json::to_value(self).unwrap_or_default();
        value["version"] = version.into();
        if let Some(customer) = value.get_mut("customer").and_then(|c| c.as_object_mut()) {
            customer.remove("secret");
            customer.insert("secret_set".into(), (!self.customer.secret.is_empty()).into());
        }
        if let Some(channels) = value.pointer_mut("/alerts/channels").and_then(|c| c.as_array_mut()) {
            for (channel, doc) in channels.iter_mut().zip(&self.alerts.channels) {
                if let Some(obj) = channel.as_object_mut() {
                    obj.remove("secret");
                    obj.insert("secret_set".into(), doc.secret.is_some().into());
                    obj.insert("url".into(), crate::alerts::masked_url(&doc.url).into());
                    obj.insert("url_fingerprint".into(), crate::alerts::url_fingerprint(&doc.url).into());
                }
            }
        }
        value
    }

    /// Apply an admin update: the whole document, where a missing `customer.secret` keeps the
    /// old one and a channel without `secret` keeps the secret of the old channel of that name.
    pub fn from_update(mut update: serde_json::Value, old: &GlobalDoc) -> Result<GlobalDoc, String> {
        let obj = update.as_object_mut().ok_or("the global config must be a JSON object")?;
        obj.remove("version");
        if let Some(customer) = obj.get_mut("customer").and_then(|c| c.as_object_mut()) {
            customer.remove("secret_set");
            if !customer.contains_key("secret") {
                customer.insert("secret".into(), old.customer.secret.clone().into());
            }
        }
        if let Some(channels) =
            obj.get_mut("alerts").and_then(|a| a.get_mut("channels")).and_then(|c| c.as_array_mut())
        {
            for channel in channels.iter_mut().filter_map(|c| c.as_object_mut()) {
                channel.remove("secret_set");
                channel.remove("url_fingerprint");
                // The masked URL sent back unchanged keeps the stored one (credentials in it).
                let name = channel.get("name").and_then(|n| n.as_str()).unwrap_or_default();
                let url = channel.get("url").and_then(|u| u.as_str()).unwrap_or_default();
                if let Some(previous) = old
                    .alerts
                    .channels
                    .iter()
                    .find(|c| c.name == name && crate::alerts::masked_url(&c.url) == url)
                {
                    channel.insert("url".into(), previous.url.clone().into());
                }
                if !channel.contains_key("secret") {
                    let name = channel.get("name").and_then(|n| n.as_str()).unwrap_or_default();
                    if let Some(previous) = old.alerts.channels.iter().find(|c| c.name == name) {
                        channel.insert(
                            "secret".into(),
                            serde_json::to_value(&previous.secret).unwrap_or_default(),
                        );
                    }
                }
            }
        }
        serde_json::from_value(update).map_err(|e| format!("invalid global config: {e}"))
    }
}
