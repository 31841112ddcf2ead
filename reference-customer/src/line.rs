//! The line profile (customer-api.md "Profile 2"), as the customer of the original
//! specification takes it: one comma-separated line per record in the spec's field order, the
//! access id in an `access_id` header, `need_response: true`, a request sequence number in
//! `X-Seq`. Records are checked by the same rules as the JSON profile's (`validate::record`).

use pushagent_proto::customer::{Conflict, FluxRecord, MAX_RECORDS_PER_PUSH};
use serde::Serialize;
use serde_json::{Map, Number, Value};

use crate::validate::{self, Invalid};

pub const HEADER_ACCESS_ID: &str = "access_id";
pub const HEADER_NEED_RESPONSE: &str = "need_response";
pub const HEADER_SEQUENCE: &str = "X-Seq";
pub const SEPARATOR: char = ',';

/// The 20 values of a line, in order (customer-api.md profile 2; the agent's default too).
pub const FIELDS: [&str; 20] = pushagent_proto::profile::RECORD_FIELDS;

/// The fields whose values are text; every other one is an integer.
const TEXT_FIELDS: [&str; 4] = ["flux_dat", "flux_hour", "provider_id", "provider_uiid"];

/// Answer codes in the `ret` field of the line profile's answers (this server's choice: the
/// original customer's answer is not documented).
pub mod ret {
    pub const OK: i64 = 0;
    pub const INVALID_RECORD: i64 = 40001;
    pub const SIGNATURE_REFUSED: i64 = 40101;
    pub const VERSION_CONFLICT: i64 = 40901;
    pub const SERVER_ERROR: i64 = 50001;
}

/// How this server answers line pushes. The original customer's answer is not documented: the
/// first agent looked at the HTTP status only.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LineAnswers {
    /// `ok`, or `fail: why` (with the same statuses as JSON): what the line preset's answer rule
    /// (no result field, ok texts) takes.
    #[default]
    Text,
    /// `{"ret": N, "msg": ...}`: for a profile whose answer rule has `result_field = "ret"`.
    Json,
}

/// The text answers of [`LineAnswers::Text`].
pub const TEXT_OK: &str = "ok";
pub const TEXT_FAIL: &str = "fail";

/// An answer of the line profile: `{"ret": N, "msg": "..."}`, plus `conflicts` or, for a
/// query, `list` (the records under the spec's field names).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LineAnswer {
    pub ret: i64,
    pub msg: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub conflicts: Vec<Conflict>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub list: Option<Vec<FluxRecord>>,
}

impl LineAnswer {
    pub fn ok(list: Option<Vec<FluxRecord>>) -> LineAnswer {
        LineAnswer { ret: ret::OK, msg: "ok".to_owned(), conflicts: vec![], list }
    }
}

/// Parse and check a push body: one record per line (`\n` or `\r\n`; a final newline is
/// allowed), at most MAX_RECORDS_PER_PUSH lines.
pub fn push_body(body: &[u8], separator: char) -> Result<Vec<FluxRecord>, Invalid> {
    let text = std::str::from_utf8(body).map_err(|e| Invalid(format!("body is not UTF-8 text: {e}")))?;
    let text = text.strip_suffix('\n').unwrap_or(text);
    if text.trim().is_empty() {
        return Err(Invalid("body: no record line".to_owned()));
    }
    let lines: Vec<&str> = text.split('\n').map(|line| line.strip_suffix('\r').unwrap_or(line)).collect();
    if lines.len() > MAX_RECORDS_PER_PUSH {
        return Err(Invalid(format!(
            "body: at most {MAX_RECORDS_PER_PUSH} lines per request, got {}",
            lines.len()
        )));
    }
    lines.iter().enumerate().map(|(index, line)| record(index + 1, line, separator)).collect()
}

/// One line (numbered from 1 in messages) into a checked record.
fn record(number: usize, line: &str, separator: char) -> Result<FluxRecord, Invalid> {
    let values: Vec<&str> = line.split(separator).collect();
    if values.len() != FIELDS.len() {
        return Err(Invalid(format!(
            "line {number}: {} values, expected {} ({})",
            values.len(),
            FIELDS.len(),
            FIELDS.join(&separator.to_string())
        )));
    }
    let mut fields = Map::new();
    for (name, text) in FIELDS.iter().zip(values) {
        fields.insert((*name).to_owned(), value(name, text));
    }
    validate::record(&format!("line {number}: "), &fields)
}

/// A value as the JSON record checks expect it: integers as numbers when they are integers,
/// everything else as text, so that the check names what is wrong ("must be an integer >= 0").
fn value(name: &str, text: &str) -> Value {
    if TEXT_FIELDS.contains(&name) {
        return Value::String(text.to_owned());
    }
    if let Ok(unsigned) = text.parse::<u64>() {
        return Value::Number(Number::from(unsigned));
    }
    match text.parse::<i64>() {
        Ok(signed) => Value::Number(Number::from(signed)),
        Err(_) => Value::String(text.to_owned()),
    }
}

/// The record as the line the customer expects (used by tests and tools to speak the profile).
pub fn render(record: &FluxRecord, separator: char) -> String {
    let json = serde_json::to_value(record).unwrap_or(Value::Null);
    FIELDS
        .iter()
        .map(|name| match &json[name] {
            Value::String(text) => text.clone(),
            other => other.to_string(),
        })
        .collect::<Vec<_>>()
        .join(&separator.to_string())
}

/// The `X-Seq` header: a positive integer.
pub fn sequence(header: Option<&str>) -> Result<u64, Invalid> {
    let text = header.ok_or_else(|| Invalid(format!("{HEADER_SEQUENCE} header: missing")))?;
    match text.trim().parse::<u64>() {
        Ok(seq) if seq >= 1 => Ok(seq),
        _ => Err(Invalid(format!("{HEADER_SEQUENCE} header: must be a positive integer, got {text:?}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LINE: &str = "20261124,2026112415,P1001,U-20001,3,aa:bb:cc:dd:ee:ff,\
                        1200,1201,1202,1203,1204,1205,1206,1207,1208,1209,1210,1211,1,1";

    #[test]
    fn the_spec_example_line_parses_and_renders_back_to_the_same_bytes() {
        let records = push_body(LINE.as_bytes(), ',').expect("valid");
        assert_eq!(records.len(), 1);
        let r = &records[0];
        assert_eq!(
            (r.flux_hour.as_str(), r.isp_id, r.v0, r.v11, r.version),
            ("2026112415", 3, 1200, 1211, 1)
        );
        assert_eq!(render(r, ','), LINE);
    }

    #[test]
    fn several_lines_crlf_and_a_final_newline_are_taken() {
        let other = LINE.replace("2026112415", "2026112416");
        let body = format!("{LINE}\r\n{other}\n");
        let records = push_body(body.as_bytes(), ',').expect("valid");
        assert_eq!(
            records.iter().map(|r| r.flux_hour.as_str()).collect::<Vec<_>>(),
            ["2026112415", "2026112416"]
        );
    }

    #[test]
    fn each_bad_line_is_named_with_its_number_and_field() {
        let cases = [
            (LINE.replace(",1200,", ",-5,"), "line 2: v0: must be an integer >= 0"),
            (LINE.replace(",1200,", ",1.5,"), "line 2: v0: must be an integer >= 0"),
            (LINE.replace(",3,", ",x,"), "line 2: isp_id: must be an integer"),
            (LINE.replace("aa:bb", "AA:BB"), "line 2: mac: must be a lower-case MAC"),
            (LINE.replace(",1,1", ",0,1"), "line 2: version: must be an integer between 1"),
            (LINE.replace("P1001,", ""), "line 2: 19 values, expected 20 (flux_dat,flux_hour,"),
            (format!("{LINE},9"), "line 2: 21 values, expected 20"),
            (LINE.replace(',', ";"), "line 2: 1 values, expected 20"),
        ];
        for (bad, why) in cases {
            let body = format!("{LINE}\n{bad}");
            let err = push_body(body.as_bytes(), ',').expect_err(why);
            assert!(err.0.starts_with(why), "{:?} does not start with {why:?}", err.0);
        }
        assert_eq!(push_body(b"", ',').expect_err("empty").0, "body: no record line");
        assert!(push_body(b"\xff\xfe", ',').expect_err("binary").0.contains("UTF-8"));
        let many = vec![LINE; 101].join("\n");
        assert!(push_body(many.as_bytes(), ',').expect_err("101").0.contains("at most 100 lines"));
    }

    #[test]
    fn another_separator_is_a_setting() {
        let records = push_body(LINE.replace(',', "|").as_bytes(), '|').expect("valid");
        assert_eq!(render(&records[0], '|'), LINE.replace(',', "|"));
    }

    #[test]
    fn the_sequence_header_must_be_a_positive_integer() {
        assert_eq!(sequence(Some("1")), Ok(1));
        assert_eq!(sequence(Some(" 42 ")), Ok(42));
        for bad in [None, Some(""), Some("0"), Some("-1"), Some("x")] {
            assert!(sequence(bad).expect_err("bad").0.starts_with("X-Seq header:"), "{bad:?}");
        }
    }
}
