//! The customer profile: everything a real customer may do differently from the reference
//! API (paths, formats, id field names, batch size, billed direction), plus our ids.

use std::fmt;
use std::path::PathBuf;

use serde::{Deserialize, Deserializer};

use pushagent_proto::customer::{MAX_RECORDS_PER_PUSH, QUERY_PATH, REPORT_PATH};
use pushagent_proto::profile::{
    self, AnswerRule, AuthSettings, Encoding, FieldError, LineFormat, ProfileParts, QueryMapping,
};

/// A secret that never shows in logs, `Debug` output or error messages.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl Secret {
    /// The secret from `<key>_file` (its first line, trimmed) when that is set; refuses
    /// both `<key>` and `<key>_file` being set. None: no file, keep the inline value.
    pub fn from_file(
        key: &str,
        inline: &Secret,
        file: Option<&std::path::Path>,
    ) -> Result<Option<Secret>, String> {
        let Some(path) = file else { return Ok(None) };
        if !inline.is_empty() {
            return Err(format!("{key} and {key}_file are both set: keep one"));
        }
        let text =
            std::fs::read_to_string(path).map_err(|e| format!("{key}_file {}: {e}", path.display()))?;
        Ok(Some(Secret::new(text.lines().next().unwrap_or("").trim())))
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.0.is_empty() { "Secret(<unset>)" } else { "Secret(<redacted>)" })
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(Secret)
    }
}

/// Which counter is billed (the wire type, shared with the config service).
pub use pushagent_proto::agent::BilledDirection;

/// What the billed direction means for a slot's bytes.
pub trait Billing {
    fn name(self) -> &'static str;
    /// Billed bytes of a slot. `sum` saturates rather than wrap (it cannot reach u64::MAX).
    fn pick(self, rx_bytes: u64, tx_bytes: u64) -> u64;
}

impl Billing for BilledDirection {
    fn name(self) -> &'static str {
        match self {
            BilledDirection::Tx => "tx",
            BilledDirection::Rx => "rx",
            BilledDirection::Max => "max",
            BilledDirection::Sum => "sum",
        }
    }

    fn pick(self, rx_bytes: u64, tx_bytes: u64) -> u64 {
        match self {
            BilledDirection::Tx => tx_bytes,
            BilledDirection::Rx => rx_bytes,
            BilledDirection::Max => rx_bytes.max(tx_bytes),
            BilledDirection::Sum => rx_bytes.saturating_add(tx_bytes),
        }
    }
}

/// How the customer writes a MAC (the wire type: one list of names for agent and service).
pub use pushagent_proto::profile::MacFormat;

/// Names of the id fields in a record, where a customer calls them differently.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FieldNames {
    pub provider_id: String,
    pub provider_uiid: String,
    pub isp_id: String,
    pub device_type: String,
}

impl Default for FieldNames {
    fn default() -> Self {
        FieldNames {
            provider_id: "provider_id".into(),
            provider_uiid: "provider_uiid".into(),
            isp_id: "isp_id".into(),
            device_type: "device_type".into(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CustomerProfile {
    /// e.g. "https://traffic.customer.example" (no trailing path).
    #[serde(deserialize_with = "base_url")]
    pub base_url: String,
    #[serde(deserialize_with = "api_path")]
    pub report_path: String,
    /// Empty: the customer has no query API (verification is `unavailable`).
    #[serde(deserialize_with = "query_path")]
    pub query_path: String,
    pub access_id: String,
    pub secret: Secret,
    /// Read the secret from this file instead (first line, trimmed).
    pub secret_file: Option<PathBuf>,
    /// chrono format of `flux_dat`.
    #[serde(deserialize_with = "day_format")]
    pub day_format: String,
    /// chrono format of `flux_hour`.
    #[serde(deserialize_with = "hour_format")]
    pub hour_format: String,
    pub mac_format: MacFormat,
    #[serde(deserialize_with = "batch_size")]
    pub batch_size: usize,
    pub billed_direction: BilledDirection,
    #[serde(deserialize_with = "timeout")]
    pub connect_timeout_secs: u64,
    #[serde(deserialize_with = "timeout")]
    pub timeout_secs: u64,
    /// HTTP(S) proxy, e.g. "http://proxy.internal:3128".
    pub proxy: Option<String>,
    pub fields: FieldNames,
    /// `json` (reference profile) or `line` (one CSV line per record).
    pub encoding: Encoding,
    #[serde(deserialize_with = "line_format")]
    pub line: LineFormat,
    #[serde(deserialize_with = "auth_settings")]
    pub auth: AuthSettings,
    #[serde(deserialize_with = "answer_rule")]
    pub answer: AnswerRule,
    #[serde(deserialize_with = "query_mapping")]
    pub query: QueryMapping,
}

impl Default for CustomerProfile {
    fn default() -> Self {
        CustomerProfile {
            base_url: "http://127.0.0.1:8780".into(),
            report_path: REPORT_PATH.into(),
            query_path: QUERY_PATH.into(),
            access_id: String::new(),
            secret: Secret::default(),
            secret_file: None,
            day_format: "%Y%m%d".into(),
            hour_format: "%Y%m%d%H".into(),
            mac_format: MacFormat::LowerColon,
            batch_size: MAX_RECORDS_PER_PUSH,
            billed_direction: BilledDirection::Tx,
            connect_timeout_secs: 10,
            timeout_secs: 30,
            proxy: None,
            fields: FieldNames::default(),
            encoding: Encoding::Json,
            line: LineFormat::default(),
            auth: AuthSettings::default(),
            answer: AnswerRule::default(),
            query: QueryMapping::default(),
        }
    }
}

impl CustomerProfile {
    /// Resolve `secret_file` into `secret`. Errors name the key.
    pub fn resolve_secret(&mut self) -> Result<(), String> {
        if let Some(secret) = Secret::from_file("customer.secret", &self.secret, self.secret_file.as_deref())?
        {
            if secret.is_empty() {
                return Err(format!("customer.secret_file {} is empty", self.secret_file_display()));
            }
            self.secret = secret;
        }
        Ok(())
    }

    /// The profile's values as the shared check takes them.
    pub fn parts(&self) -> ProfileParts<'_> {
        ProfileParts {
            base_url: &self.base_url,
            report_path: &self.report_path,
            query_path: &self.query_path,
            access_id: &self.access_id,
            day_format: &self.day_format,
            hour_format: &self.hour_format,
            mac_format: self.mac_format.name(),
            batch_size: self.batch_size as u64,
            encoding: self.encoding,
            line: &self.line,
            auth: &self.auth,
            answer: &self.answer,
            query: &self.query,
        }
    }

    /// The whole profile with our ids, as the config service checks it (`proto::profile`).
    pub fn validate(&self, ids: &ReportSettings) -> Result<(), FieldError> {
        self.parts().validate()?;
        profile::secret("customer.secret", self.secret.expose())?;
        profile::record_ids(
            self.encoding,
            &self.line.separator,
            &ids.provider_id,
            &ids.provider_uiid,
            ids.isp_id,
            ids.device_type,
        )
        .map_err(|e| e.within("report"))
    }

    /// Records sent in one request.
    pub fn records_per_request(&self) -> usize {
        match self.encoding {
            Encoding::Json => self.batch_size,
            Encoding::Line => self.line.lines_per_request as usize,
        }
    }

    /// Whether the customer has a query API (else verification is `unavailable`).
    pub fn has_query(&self) -> bool {
        !self.query_path.is_empty()
    }

    fn secret_file_display(&self) -> String {
        self.secret_file.as_deref().map(|p| p.display().to_string()).unwrap_or_default()
    }
}

/// Our ids and the offsets: what the config service will provide later (issue 4).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ReportSettings {
    pub provider_id: String,
    pub provider_uiid: String,
    pub isp_id: i64,
    pub device_type: i64,
    /// Global data offset in percent (总体数据偏移量), e.g. 3.5.
    #[serde(deserialize_with = "offset")]
    pub offset_percent: Offset,
    /// This machine's own offset (局部调整); replaces the global one when set.
    #[serde(deserialize_with = "optional_offset")]
    pub machine_offset_percent: Option<Offset>,
    /// Global fixed bytes per 5-minute point (+/-), after the percentage; 0 = none.
    #[serde(deserialize_with = "fixed_bytes")]
    pub offset_fixed_bytes: i64,
    /// This machine's own fixed bytes per point; replaces the global one when set.
    #[serde(deserialize_with = "optional_fixed_bytes")]
    pub machine_offset_fixed_bytes: Option<i64>,
    /// The machine's node's offsets (from the config service only).
    #[serde(skip)]
    pub node_offsets: pushagent_proto::offset::LevelOffsets,
}

impl Default for ReportSettings {
    fn default() -> Self {
        ReportSettings {
            provider_id: String::new(),
            provider_uiid: String::new(),
            isp_id: 0,
            device_type: 0,
            offset_percent: Offset::ZERO,
            machine_offset_percent: None,
            offset_fixed_bytes: 0,
            machine_offset_fixed_bytes: None,
            node_offsets: Default::default(),
        }
    }
}

/// An offset in hundredths of a percent (basis points), so money math stays in integers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Offset {
    pub basis_points: i64,
}

impl Offset {
    pub const ZERO: Offset = Offset { basis_points: 0 };

    /// From a percentage with at most two decimals, above -100 and at most +1000.
    pub fn from_percent(percent: f64) -> Result<Offset, String> {
        if !percent.is_finite() || percent <= -100.0 || percent > 1000.0 {
            return Err(format!("offset {percent}% must be above -100 and at most 1000"));
        }
        let bp = (percent * 100.0).round();
        if ((bp / 100.0) - percent).abs() > 1e-9 {
            return Err(format!("offset {percent}% has more than two decimals"));
        }
        Ok(Offset { basis_points: bp as i64 })
    }

    /// pushed = round(raw × (1 + offset/100)), half away from zero (`proto::offset::apply`).
    pub fn apply(self, raw: u64) -> u64 {
        pushagent_proto::offset::apply(raw, self.bp(), 0)
    }

    /// As the wire's `offset_bp` (offsets are range-checked where they are read).
    pub fn bp(self) -> i32 {
        self.basis_points.clamp(-10_000, i64::from(i32::MAX)) as i32
    }

    pub fn percent_text(self) -> String {
        let sign = if self.basis_points < 0 { "-" } else { "" };
        let abs = self.basis_points.abs();
        format!("{sign}{}.{:02}", abs / 100, abs % 100)
    }
}

/// The checks of the profile's values: the shared ones of `proto::profile`, as strings.
pub mod check {
    use pushagent_proto::profile;

    pub fn base_url(url: &str) -> Result<(), String> {
        profile::base_url("base_url", url).map_err(|e| e.to_string())
    }

    pub fn api_path(path: &str) -> Result<(), String> {
        profile::api_path("path", path).map_err(|e| e.to_string())
    }
}

fn checked<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
    check: impl Fn(&T) -> Result<(), String>,
) -> Result<T, D::Error> {
    let value = T::deserialize(d)?;
    check(&value).map_err(serde::de::Error::custom)?;
    Ok(value)
}

fn base_url<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    checked(d, |v: &String| check::base_url(v))
}

fn api_path<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    checked(d, |v: &String| check::api_path(v))
}

fn query_path<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    checked(d, |v: &String| if v.is_empty() { Ok(()) } else { check::api_path(v) })
}

fn day_format<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    checked(d, |v: &String| profile::day_format("day_format", v).map_err(|e| e.to_string()))
}

fn hour_format<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    checked(d, |v: &String| profile::hour_format("hour_format", v).map_err(|e| e.to_string()))
}

fn batch_size<'de, D: Deserializer<'de>>(d: D) -> Result<usize, D::Error> {
    checked(d, |v: &usize| profile::batch_size("batch_size", *v as u64).map_err(|e| e.to_string()))
}

fn line_format<'de, D: Deserializer<'de>>(d: D) -> Result<LineFormat, D::Error> {
    checked(d, |v: &LineFormat| v.validate().map_err(|e| e.to_string()))
}

fn auth_settings<'de, D: Deserializer<'de>>(d: D) -> Result<AuthSettings, D::Error> {
    checked(d, |v: &AuthSettings| v.validate().map_err(|e| e.to_string()))
}

fn answer_rule<'de, D: Deserializer<'de>>(d: D) -> Result<AnswerRule, D::Error> {
    checked(d, |v: &AnswerRule| v.validate().map_err(|e| e.to_string()))
}

fn query_mapping<'de, D: Deserializer<'de>>(d: D) -> Result<QueryMapping, D::Error> {
    checked(d, |v: &QueryMapping| v.validate().map_err(|e| e.to_string()))
}

fn timeout<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    let n = u64::deserialize(d)?;
    if !(1..=600).contains(&n) {
        return Err(serde::de::Error::custom(format!("timeouts must be between 1 and 600 seconds, got {n}")));
    }
    Ok(n)
}

fn offset<'de, D: Deserializer<'de>>(d: D) -> Result<Offset, D::Error> {
    Offset::from_percent(f64::deserialize(d)?).map_err(serde::de::Error::custom)
}

fn fixed_bytes<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
    checked(d, |v: &i64| {
        pushagent_proto::offset::check_fixed_bytes("offset_fixed_bytes", *v).map_err(|e| e.to_string())
    })
}

fn optional_fixed_bytes<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    fixed_bytes(d).map(Some)
}

fn optional_offset<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Offset>, D::Error> {
    offset(d).map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_round_half_away_from_zero_in_integers() {
        let five = Offset::from_percent(5.0).expect("valid");
        assert_eq!(five.apply(1_000), 1_050);
        let half = Offset::from_percent(0.5).expect("valid");
        assert_eq!(half.apply(100), 101); // 100.5 -> 101
        let minus = Offset::from_percent(-2.5).expect("valid");
        assert_eq!(minus.apply(10), 10); // 9.75 -> 10
        assert_eq!(minus.apply(20), 20); // 19.5 -> 20 (half away from zero)
        assert_eq!(Offset::ZERO.apply(u64::MAX), u64::MAX);
        assert!(Offset::from_percent(-100.0).is_err());
        assert!(Offset::from_percent(1.234).is_err());
        assert_eq!(Offset::from_percent(-3.25).map(|o| o.percent_text()), Ok("-3.25".to_string()));
    }

    #[test]
    fn mac_formats() {
        assert_eq!(MacFormat::UpperDash.render("aa:bb:cc:dd:ee:ff"), "AA-BB-CC-DD-EE-FF");
        assert_eq!(MacFormat::LowerPlain.render("aa:bb:cc:dd:ee:ff"), "aabbccddeeff");
        assert_eq!(MacFormat::canonical("AA-BB-CC-DD-EE-FF").as_deref(), Some("aa:bb:cc:dd:ee:ff"));
        assert_eq!(MacFormat::canonical("nope"), None);
    }

    #[test]
    fn the_default_profile_is_the_reference_preset() {
        let p = CustomerProfile::default();
        let reference = &profile::presets()[0];
        assert_eq!(p.encoding, reference.encoding);
        assert_eq!(
            (&p.line, &p.auth, &p.answer, &p.query),
            (&reference.line, &reference.auth, &reference.answer, &reference.query)
        );
        assert_eq!(
            (p.report_path.as_str(), p.query_path.as_str()),
            (reference.report_path.as_str(), reference.query_path.as_str())
        );
        assert_eq!(p.records_per_request(), 100);
    }

    #[test]
    fn secret_never_shows_in_debug() {
        let s = Secret::new("SK-very-secret");
        assert!(!format!("{s:?}").contains("SK-very"));
        let p = CustomerProfile { secret: s, ..Default::default() };
        assert!(!format!("{p:?}").contains("SK-very"));
    }
}
