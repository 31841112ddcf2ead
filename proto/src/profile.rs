//! The customer profile as data: how records are encoded (`json` or `line`), how requests are
//! authenticated, what answer means "stored", and how the query API (if any) is read. Every
//! value has ONE check here, called by the agent's TOML loader, by the agent when it takes the
//! config service's values, and by the service's admin API, so none of them can store or apply
//! what another would refuse. `presets()` are the built-in profiles the console offers.

use serde::{Deserialize, Serialize};

use crate::customer::{HEADER_ACCESS_ID, MAX_RECORDS_PER_PUSH};

/// A refused value: which field (dotted path, e.g. `customer.line.separator`) and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        FieldError { field: field.into(), message: message.into() }
    }

    /// The same error under a parent (`line.separator` → `customer.line.separator`).
    pub fn within(mut self, parent: &str) -> Self {
        self.field = format!("{parent}.{}", self.field);
        self
    }
}

impl std::fmt::Display for FieldError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

impl std::error::Error for FieldError {}

pub type Checked = Result<(), FieldError>;

/// The 20 fields of a record, in the order of the specification (the line profile's default).
pub const RECORD_FIELDS: [&str; 20] = [
    "flux_dat",
    "flux_hour",
    "provider_id",
    "provider_uiid",
    "isp_id",
    "mac",
    "v0",
    "v1",
    "v2",
    "v3",
    "v4",
    "v5",
    "v6",
    "v7",
    "v8",
    "v9",
    "v10",
    "v11",
    "version",
    "device_type",
];

/// How records travel in a push request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Encoding {
    /// `{"records":[RECORD,...]}` (reference profile).
    #[default]
    Json,
    /// One record per line, values in `line.fields` order joined by `line.separator`.
    Line,
}

/// How a request proves who sends it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum Signature {
    /// `X-Timestamp`, `X-Nonce`, `X-Signature` of `customer-api.md` (reference profile).
    #[default]
    HmacSha256,
    /// Only the access-id header (and the static headers).
    None,
}

/// How the customer writes a MAC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum MacFormat {
    /// `aa:bb:cc:dd:ee:ff` (reference profile)
    #[default]
    LowerColon,
    UpperColon,
    LowerDash,
    UpperDash,
    LowerPlain,
    UpperPlain,
}

impl MacFormat {
    pub const ALL: [MacFormat; 6] = [
        MacFormat::LowerColon,
        MacFormat::UpperColon,
        MacFormat::LowerDash,
        MacFormat::UpperDash,
        MacFormat::LowerPlain,
        MacFormat::UpperPlain,
    ];

    pub fn name(self) -> &'static str {
        match self {
            MacFormat::LowerColon => "lower-colon",
            MacFormat::UpperColon => "upper-colon",
            MacFormat::LowerDash => "lower-dash",
            MacFormat::UpperDash => "upper-dash",
            MacFormat::LowerPlain => "lower-plain",
            MacFormat::UpperPlain => "upper-plain",
        }
    }

    /// The format of a name (`lower-colon`, ...); the error lists the names.
    pub fn parse(field: &str, name: &str) -> Result<MacFormat, FieldError> {
        MacFormat::ALL.into_iter().find(|f| f.name() == name).ok_or_else(|| {
            let names: Vec<&str> = MacFormat::ALL.iter().map(|f| f.name()).collect();
            FieldError::new(
                field,
                format!("{:?} is not a MAC format (one of {})", clip(name), names.join(", ")),
            )
        })
    }

    /// Render a canonical `aa:bb:cc:dd:ee:ff` MAC in this format.
    pub fn render(self, mac: &str) -> String {
        let (sep, upper) = match self {
            MacFormat::LowerColon => (":", false),
            MacFormat::UpperColon => (":", true),
            MacFormat::LowerDash => ("-", false),
            MacFormat::UpperDash => ("-", true),
            MacFormat::LowerPlain => ("", false),
            MacFormat::UpperPlain => ("", true),
        };
        let joined = mac.split(':').collect::<Vec<_>>().join(sep);
        if upper {
            joined.to_uppercase()
        } else {
            joined.to_lowercase()
        }
    }

    /// Canonical form of a MAC written in any of the formats (None if it is not a MAC).
    pub fn canonical(text: &str) -> Option<String> {
        let hex: String = text.chars().filter(|c| *c != ':' && *c != '-').collect();
        if hex.len() != 12 || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
            return None;
        }
        let lower = hex.to_lowercase();
        Some((0..6).map(|i| &lower[i * 2..i * 2 + 2]).collect::<Vec<_>>().join(":"))
    }
}

/// The line encoding (profile 2 of `customer-api.md`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LineFormat {
    /// Record fields in line order (names of [`RECORD_FIELDS`]).
    pub fields: Vec<String>,
    pub separator: String,
    /// Records (lines, joined by `\n`) per request.
    pub lines_per_request: u32,
    pub content_type: String,
}

impl Default for LineFormat {
    fn default() -> Self {
        LineFormat {
            fields: RECORD_FIELDS.iter().map(|f| f.to_string()).collect(),
            separator: ",".into(),
            lines_per_request: 1,
            content_type: "application/x-www-form-urlencoded".into(),
        }
    }
}

impl LineFormat {
    pub fn validate(&self) -> Checked {
        if self.fields.is_empty() || self.fields.len() > RECORD_FIELDS.len() {
            return Err(FieldError::new("fields", format!("1 to {} record fields", RECORD_FIELDS.len())));
        }
        for (i, name) in self.fields.iter().enumerate() {
            if !RECORD_FIELDS.contains(&name.as_str()) {
                return Err(FieldError::new(
                    format!("fields[{i}]"),
                    format!("{:?} is not a record field ({})", clip(name), RECORD_FIELDS.join(",")),
                ));
            }
            if self.fields[..i].contains(name) {
                return Err(FieldError::new(format!("fields[{i}]"), format!("{name:?} is listed twice")));
            }
        }
        let sep_ok = (1..=4).contains(&self.separator.chars().count())
            && self.separator.chars().all(|c| c == '\t' || (!c.is_control() && !c.is_alphanumeric()))
            && !self.separator.contains([':', '-', '_', '.', '%']);
        if !sep_ok {
            return Err(FieldError::new(
                "separator",
                "1 to 4 characters, not letters, digits, control characters (tab allowed) or one of : - _ . %",
            ));
        }
        if !(1..=MAX_RECORDS_PER_PUSH as u32).contains(&self.lines_per_request) {
            return Err(FieldError::new(
                "lines_per_request",
                format!("1 to {MAX_RECORDS_PER_PUSH}, got {}", self.lines_per_request),
            ));
        }
        header_value("content_type", &self.content_type, false)
    }
}

/// Who sends the request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthSettings {
    pub signature: Signature,
    /// Header that carries the access id.
    pub access_id_header: String,
    /// Sent with every request as they are, e.g. `[["need_response", "true"]]`.
    pub static_headers: Vec<(String, String)>,
    /// Header carrying a per-agent request number (persisted, increasing); empty = none.
    pub sequence_header: String,
}

impl Default for AuthSettings {
    fn default() -> Self {
        AuthSettings {
            signature: Signature::HmacSha256,
            access_id_header: HEADER_ACCESS_ID.into(),
            static_headers: Vec::new(),
            sequence_header: String::new(),
        }
    }
}

/// Headers the agent sets itself: a static header must not replace them.
const RESERVED_HEADERS: [&str; 9] = [
    "host",
    "content-length",
    "content-type",
    "transfer-encoding",
    "connection",
    "x-timestamp",
    "x-nonce",
    "x-signature",
    "authorization",
];

impl AuthSettings {
    pub fn validate(&self) -> Checked {
        header_name("access_id_header", &self.access_id_header)?;
        if !self.sequence_header.is_empty() {
            header_name("sequence_header", &self.sequence_header)?;
        }
        if self.static_headers.len() > 16 {
            return Err(FieldError::new("static_headers", "at most 16"));
        }
        let mut taken: Vec<String> = vec![self.access_id_header.to_ascii_lowercase()];
        if !self.sequence_header.is_empty() {
            taken.push(self.sequence_header.to_ascii_lowercase());
        }
        for (i, (name, value)) in self.static_headers.iter().enumerate() {
            header_name(&format!("static_headers[{i}].name"), name)?;
            header_value(&format!("static_headers[{i}].value"), value, true)?;
            let lower = name.to_ascii_lowercase();
            if RESERVED_HEADERS.contains(&lower.as_str()) || taken.contains(&lower) {
                return Err(FieldError::new(
                    format!("static_headers[{i}].name"),
                    format!("{name:?} is set by the agent itself or listed twice"),
                ));
            }
            taken.push(lower);
        }
        if taken[1..].contains(&taken[0]) {
            return Err(FieldError::new("sequence_header", "must differ from access_id_header"));
        }
        Ok(())
    }
}

/// What an answer means. Non-2xx is never "stored"; HTTP 401 is "signing refused".
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AnswerRule {
    /// JSON field of the answer that decides (e.g. `code`, `ret`); empty = none: then a 2xx
    /// answer is stored when its body is empty or one of `ok_texts`, and retried otherwise.
    pub result_field: String,
    /// Values of `result_field` meaning "stored" (numbers as their decimal text).
    pub ok_values: Vec<String>,
    /// Values meaning "this record is invalid": held for an operator, not retried.
    pub invalid_values: Vec<String>,
    /// Values meaning "version conflict"; the answer's `conflicts` list says where.
    pub conflict_values: Vec<String>,
    /// Plain-text bodies (trimmed, any case) meaning "stored", when there is no result field.
    pub ok_texts: Vec<String>,
    /// JSON field with the customer's message, kept with the attempt.
    pub message_field: String,
}

impl Default for AnswerRule {
    fn default() -> Self {
        AnswerRule {
            result_field: "code".into(),
            ok_values: vec!["0".into()],
            invalid_values: vec!["40001".into()],
            conflict_values: vec!["40901".into()],
            ok_texts: Vec::new(),
            message_field: "msg".into(),
        }
    }
}

impl AnswerRule {
    pub fn validate(&self) -> Checked {
        if !self.result_field.is_empty() {
            json_name("result_field", &self.result_field)?;
            if self.ok_values.is_empty() {
                return Err(FieldError::new("ok_values", "at least one value when result_field is set"));
            }
        }
        if !self.message_field.is_empty() {
            json_name("message_field", &self.message_field)?;
        }
        let mut seen: Vec<&str> = Vec::new();
        for (name, list) in [
            ("ok_values", &self.ok_values),
            ("invalid_values", &self.invalid_values),
            ("conflict_values", &self.conflict_values),
        ] {
            short_list(name, list)?;
            for (i, v) in list.iter().enumerate() {
                if seen.contains(&v.as_str()) {
                    return Err(FieldError::new(format!("{name}[{i}]"), format!("{v:?} is listed twice")));
                }
                seen.push(v);
            }
        }
        short_list("ok_texts", &self.ok_texts)?;
        if self.ok_texts.iter().any(|t| t.trim().is_empty()) {
            return Err(FieldError::new(
                "ok_texts",
                "an empty text (an empty body is always ok without result_field)",
            ));
        }
        Ok(())
    }
}

/// The query API: where, its parameter names, and where its answer keeps what.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct QueryMapping {
    pub mac_param: String,
    pub day_param: String,
    /// Field of the answer holding the list of records.
    pub records_field: String,
    pub mac_field: String,
    pub hour_field: String,
    pub version_field: String,
    /// Points are `<prefix>0` .. `<prefix>11`.
    pub point_prefix: String,
}

impl Default for QueryMapping {
    fn default() -> Self {
        QueryMapping {
            mac_param: "mac".into(),
            day_param: "flux_dat".into(),
            records_field: "data".into(),
            mac_field: "mac".into(),
            hour_field: "flux_hour".into(),
            version_field: "version".into(),
            point_prefix: "v".into(),
        }
    }
}

impl QueryMapping {
    pub fn validate(&self) -> Checked {
        for (name, value) in [
            ("mac_param", &self.mac_param),
            ("day_param", &self.day_param),
            ("records_field", &self.records_field),
            ("mac_field", &self.mac_field),
            ("hour_field", &self.hour_field),
            ("version_field", &self.version_field),
            ("point_prefix", &self.point_prefix),
        ] {
            json_name(name, value)?;
        }
        if self.mac_param == self.day_param {
            return Err(FieldError::new("day_param", "must differ from mac_param"));
        }
        Ok(())
    }

    pub fn point_field(&self, i: usize) -> String {
        format!("{}{i}", self.point_prefix)
    }
}

/// The values a profile check needs besides its own parts (shared by the agent's TOML form
/// and the wire form, which differ in secrets and local-only settings).
pub struct ProfileParts<'a> {
    pub base_url: &'a str,
    pub report_path: &'a str,
    pub query_path: &'a str,
    pub access_id: &'a str,
    pub day_format: &'a str,
    pub hour_format: &'a str,
    pub mac_format: &'a str,
    pub batch_size: u64,
    pub encoding: Encoding,
    pub line: &'a LineFormat,
    pub auth: &'a AuthSettings,
    pub answer: &'a AnswerRule,
    pub query: &'a QueryMapping,
}

impl ProfileParts<'_> {
    /// Every value of the profile; errors name the field under `customer.`.
    pub fn validate(&self) -> Checked {
        let within = |e: FieldError| e.within("customer");
        base_url("base_url", self.base_url).map_err(within)?;
        api_path("report_path", self.report_path).map_err(within)?;
        if !self.query_path.is_empty() {
            api_path("query_path", self.query_path).map_err(within)?;
        }
        header_value("access_id", self.access_id, true).map_err(within)?;
        day_format("day_format", self.day_format).map_err(within)?;
        hour_format("hour_format", self.hour_format).map_err(within)?;
        MacFormat::parse("mac_format", self.mac_format).map_err(within)?;
        batch_size("batch_size", self.batch_size).map_err(within)?;
        self.line.validate().map_err(|e| e.within("line")).map_err(within)?;
        self.auth.validate().map_err(|e| e.within("auth")).map_err(within)?;
        self.answer.validate().map_err(|e| e.within("answer")).map_err(within)?;
        self.query.validate().map_err(|e| e.within("query")).map_err(within)?;
        if self.encoding == Encoding::Line {
            for (name, format) in [("day_format", self.day_format), ("hour_format", self.hour_format)] {
                if format.contains(self.line.separator.as_str()) || format.contains('\n') {
                    return Err(FieldError::new(
                        format!("customer.{name}"),
                        "contains the line separator: a record could not be read back",
                    ));
                }
            }
        }
        Ok(())
    }
}

/// Our ids as records carry them. In the line encoding an id cannot contain the separator.
pub fn record_ids(
    encoding: Encoding,
    separator: &str,
    provider_id: &str,
    provider_uiid: &str,
    isp_id: i64,
    device_type: i64,
) -> Checked {
    for (name, value) in [("provider_id", provider_id), ("provider_uiid", provider_uiid)] {
        if value.chars().count() > 128 || value.chars().any(char::is_control) {
            return Err(FieldError::new(name, "at most 128 characters, no control characters"));
        }
        if encoding == Encoding::Line && value.contains(separator) {
            return Err(FieldError::new(name, format!("contains the line separator {separator:?}")));
        }
    }
    id_number("isp_id", isp_id)?;
    id_number("device_type", device_type)
}

/// A carrier or device type id: 0 to 2^31-1 (the customer's integer ids).
pub fn id_number(field: &str, value: i64) -> Checked {
    if (0..=i64::from(i32::MAX)).contains(&value) {
        Ok(())
    } else {
        Err(FieldError::new(field, format!("{value} is not an id (0 to {})", i32::MAX)))
    }
}

pub fn base_url(field: &str, url: &str) -> Checked {
    let ok = (url.starts_with("http://") || url.starts_with("https://"))
        && url.len() > "https://".len()
        && url.len() <= 2000
        && !url.ends_with('/')
        && !url.chars().any(|c| c.is_whitespace() || c.is_control());
    if ok {
        Ok(())
    } else {
        Err(FieldError::new(
            field,
            format!("{:?} must be http:// or https://, without a trailing slash", clip(url)),
        ))
    }
}

pub fn api_path(field: &str, path: &str) -> Checked {
    let ok = path.starts_with('/')
        && path.len() <= 500
        && !path.contains(['?', '#'])
        && !path.contains("..")
        && !path.chars().any(|c| c.is_whitespace() || c.is_control());
    if ok {
        Ok(())
    } else {
        Err(FieldError::new(
            field,
            format!("{:?} must start with / and have no query, '..' or spaces", clip(path)),
        ))
    }
}

/// A chrono format that renders a day and reads the same day back.
pub fn day_format(field: &str, format: &str) -> Checked {
    let day = sample_time().date();
    let text = render(field, format)?;
    match chrono::NaiveDate::parse_from_str(&text, format) {
        Ok(d) if d == day => Ok(()),
        _ => Err(FieldError::new(
            field,
            format!("{:?} does not name a day that can be read back", clip(format)),
        )),
    }
}

/// A chrono format that renders an hour and reads the same hour back.
pub fn hour_format(field: &str, format: &str) -> Checked {
    let text = render(field, format)?;
    // chrono needs a minute to build a time: add one to the text and the format alike.
    match chrono::NaiveDateTime::parse_from_str(&format!("{text}00"), &format!("{format}%M")) {
        Ok(t) if t == sample_time() => Ok(()),
        _ => Err(FieldError::new(
            field,
            format!("{:?} does not name an hour that can be read back", clip(format)),
        )),
    }
}

/// 2026-11-24 15:00, an hour whose every part differs from the others.
fn sample_time() -> chrono::NaiveDateTime {
    chrono::NaiveDate::from_ymd_opt(2026, 11, 24).and_then(|d| d.and_hms_opt(15, 0, 0)).unwrap_or_default()
}

fn render(field: &str, format: &str) -> Result<String, FieldError> {
    use chrono::format::{Item, StrftimeItems};
    use std::fmt::Write;
    let bad = || FieldError::new(field, format!("{:?} is not a valid chrono/strftime format", clip(format)));
    if format.is_empty()
        || format.len() > 64
        || format.chars().any(char::is_control)
        || StrftimeItems::new(format).any(|i| matches!(i, Item::Error))
    {
        return Err(bad());
    }
    let mut out = String::new();
    write!(out, "{}", sample_time().format(format)).map_err(|_| bad())?;
    Ok(out)
}

pub fn batch_size(field: &str, n: u64) -> Checked {
    if (1..=MAX_RECORDS_PER_PUSH as u64 * 10).contains(&n) {
        Ok(())
    } else {
        Err(FieldError::new(field, format!("must be between 1 and 1000, got {n}")))
    }
}

/// An HTTP header name (RFC 9110 token), at most 64 characters.
pub fn header_name(field: &str, name: &str) -> Checked {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(FieldError::new(field, format!("{:?} is not an HTTP header name", clip(name))))
    }
}

/// An HTTP header value: visible ASCII and spaces, at most 256 characters.
pub fn header_value(field: &str, value: &str, empty_ok: bool) -> Checked {
    let ok = (empty_ok || !value.trim().is_empty())
        && value.len() <= 256
        && value.bytes().all(|b| b == b' ' || b.is_ascii_graphic())
        && value.trim() == value;
    if ok {
        Ok(())
    } else {
        Err(FieldError::new(
            field,
            "printable ASCII only, at most 256 characters, no leading or trailing spaces",
        ))
    }
}

/// A secret (HMAC key or the like): at most 256 characters, no control characters.
pub fn secret(field: &str, value: &str) -> Checked {
    if value.chars().count() > 256 || value.chars().any(char::is_control) {
        return Err(FieldError::new(field, "at most 256 characters, no control characters"));
    }
    Ok(())
}

/// A JSON member name or query parameter: 1-64 printable characters.
fn json_name(field: &str, name: &str) -> Checked {
    if name.is_empty()
        || name.chars().count() > 64
        || name.chars().any(|c| c.is_control() || c.is_whitespace())
    {
        return Err(FieldError::new(field, "1 to 64 characters, no spaces or control characters"));
    }
    Ok(())
}

fn short_list(field: &str, list: &[String]) -> Checked {
    if list.len() > 16 {
        return Err(FieldError::new(field, "at most 16 values"));
    }
    for (i, v) in list.iter().enumerate() {
        if v.is_empty() || v.chars().count() > 64 || v.chars().any(char::is_control) {
            return Err(FieldError::new(
                format!("{field}[{i}]"),
                "1 to 64 characters, no control characters",
            ));
        }
    }
    Ok(())
}

fn clip(text: &str) -> String {
    text.chars().take(80).collect()
}

mod presets;
pub use presets::{presets, Preset};

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(p: &Preset) -> ProfileParts<'_> {
        ProfileParts {
            base_url: "https://traffic.example",
            report_path: &p.report_path,
            query_path: &p.query_path,
            access_id: "AK-1",
            day_format: &p.day_format,
            hour_format: &p.hour_format,
            mac_format: &p.mac_format,
            batch_size: u64::from(p.batch_size),
            encoding: p.encoding,
            line: &p.line,
            auth: &p.auth,
            answer: &p.answer,
            query: &p.query,
        }
    }

    #[test]
    fn the_presets_are_valid_and_the_reference_one_is_the_default() {
        let presets = presets();
        for p in &presets {
            parts(p).validate().unwrap_or_else(|e| panic!("{}: {e}", p.id));
        }
        assert_eq!(presets[0].line, LineFormat::default());
        assert_eq!(presets[0].auth, AuthSettings::default());
        assert_eq!(presets[0].answer, AnswerRule::default());
        assert_eq!(presets[1].line.fields.len(), 20);
        assert_eq!(presets[1].line.fields.join(","), RECORD_FIELDS.join(","));
    }

    #[test]
    fn time_formats_must_name_a_day_or_an_hour() {
        assert!(day_format("d", "%Y%m%d").is_ok());
        assert!(day_format("d", "%Y-%m-%d").is_ok());
        assert!(hour_format("h", "%Y%m%d%H").is_ok());
        assert!(hour_format("h", "%Y-%m-%d %H").is_ok());
        for bad in ["", "%Q%", "%Y", "%Y%m", "abc", "%Y%m%d\0"] {
            assert!(day_format("d", bad).is_err(), "day {bad:?}");
        }
        for bad in ["", "%Q%", "%Y%m%d", "%H", "%Y%m%d%I", "%"] {
            let e = hour_format("customer.hour_format", bad).expect_err(bad);
            assert_eq!(e.field, "customer.hour_format");
        }
    }

    #[test]
    fn headers_and_lines_are_checked() {
        let mut auth = AuthSettings {
            static_headers: vec![("need_response".into(), "true".into())],
            ..Default::default()
        };
        assert!(auth.validate().is_ok());
        auth.static_headers.push(("Content-Type".into(), "text/plain".into()));
        assert_eq!(auth.validate().map_err(|e| e.field), Err("static_headers[1].name".into()));
        auth.static_headers = vec![("x".into(), "a\r\nInjected: 1".into())];
        assert_eq!(auth.validate().map_err(|e| e.field), Err("static_headers[0].value".into()));
        auth.static_headers = vec![("bad header".into(), "1".into())];
        assert!(auth.validate().is_err());
        let mut line = LineFormat::default();
        assert!(line.validate().is_ok());
        for sep in ["", "a", ":", "\n", "12345"] {
            line.separator = sep.into();
            assert_eq!(line.validate().map_err(|e| e.field), Err("separator".into()), "{sep:?}");
        }
        line = LineFormat { fields: vec!["mac".into(), "mac".into()], ..LineFormat::default() };
        assert_eq!(line.validate().map_err(|e| e.field), Err("fields[1]".into()));
        line.fields = vec!["macc".into()];
        assert!(line.validate().is_err());
    }

    #[test]
    fn ids_and_mac_formats() {
        assert!(record_ids(Encoding::Line, ",", "P1", "U-1", 3, 1).is_ok());
        assert_eq!(
            record_ids(Encoding::Line, ",", "P,1", "U", 0, 0).map_err(|e| e.field),
            Err("provider_id".into())
        );
        assert!(record_ids(Encoding::Json, ",", "P,1", "U", 0, 0).is_ok());
        assert_eq!(
            record_ids(Encoding::Json, ",", "P", "U\0", 0, 0).map_err(|e| e.field),
            Err("provider_uiid".into())
        );
        assert_eq!(
            record_ids(Encoding::Json, ",", "P", "U", -1, 0).map_err(|e| e.field),
            Err("isp_id".into())
        );
        assert_eq!(MacFormat::parse("m", "upper-dash"), Ok(MacFormat::UpperDash));
        assert!(MacFormat::parse("m", "upper_dash").expect_err("bad").message.contains("lower-colon"));
        assert_eq!(MacFormat::UpperDash.render("aa:bb:cc:dd:ee:ff"), "AA-BB-CC-DD-EE-FF");
        assert_eq!(MacFormat::canonical("AABBCCDDEEFF").as_deref(), Some("aa:bb:cc:dd:ee:ff"));
    }
}
