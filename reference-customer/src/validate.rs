//! Checks of what a client sends, with messages that say which record and which field is wrong
//! ("records[3].v5: must be an integer >= 0"). Works on raw JSON so that a wrong type is named,
//! not hidden behind a generic deserialization error.

use chrono::NaiveDate;
use pushagent_proto::customer::{FluxRecord, MAX_RECORDS_PER_PUSH};
use serde_json::{Map, Value};

/// Why a request is refused with code 40001.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Invalid(pub String);

fn invalid(msg: impl Into<String>) -> Invalid {
    Invalid(msg.into())
}

/// The largest point SQLite can hold (its integers are signed 64-bit).
const MAX_POINT: u64 = i64::MAX as u64;

/// Parse and check a push body `{"records":[...]}`.
pub fn push_body(body: &[u8]) -> Result<Vec<FluxRecord>, Invalid> {
    let value: Value =
        serde_json::from_slice(body).map_err(|e| invalid(format!("body is not valid JSON: {e}")))?;
    let Value::Object(object) = value else {
        return Err(invalid("body must be a JSON object {\"records\": [...]}"));
    };
    let records = match object.get("records") {
        Some(Value::Array(records)) => records,
        Some(_) => return Err(invalid("records: must be an array")),
        None => return Err(invalid("records: missing")),
    };
    if records.len() > MAX_RECORDS_PER_PUSH {
        return Err(invalid(format!(
            "records: at most {MAX_RECORDS_PER_PUSH} records per push, got {}",
            records.len()
        )));
    }
    records
        .iter()
        .enumerate()
        .map(|(index, value)| {
            let Value::Object(fields) = value else {
                return Err(invalid(format!("records[{index}]: must be an object")));
            };
            record(&format!("records[{index}]."), fields)
        })
        .collect()
}

/// Check one record given as named values; `prefix` starts every message ("records[3].", or
/// "line 2: " for the line profile), so the client learns which record and which field.
pub fn record(prefix: &str, fields: &Map<String, Value>) -> Result<FluxRecord, Invalid> {
    let fields = Fields { prefix, fields };
    // Fields are checked in the spec's order, so the first wrong one is the one named.
    let flux_dat = fields.string("flux_dat")?;
    let flux_hour = fields.string("flux_hour")?;
    let provider_id = fields.string("provider_id")?;
    let provider_uiid = fields.string("provider_uiid")?;
    let isp_id = fields.integer("isp_id")?;
    let mac = fields.string("mac")?;
    let mut points = [0u64; 12];
    for (slot, point) in points.iter_mut().enumerate() {
        *point = fields.point(&format!("v{slot}"))?;
    }
    let version = fields.version()?;
    let device_type = fields.integer("device_type")?;
    let [v0, v1, v2, v3, v4, v5, v6, v7, v8, v9, v10, v11] = points;
    let record = FluxRecord {
        flux_dat,
        flux_hour,
        provider_id,
        provider_uiid,
        isp_id,
        mac,
        v0,
        v1,
        v2,
        v3,
        v4,
        v5,
        v6,
        v7,
        v8,
        v9,
        v10,
        v11,
        version,
        device_type,
    };
    if !is_mac(&record.mac) {
        return Err(fields.error("mac", "must be a lower-case MAC like aa:bb:cc:dd:ee:ff"));
    }
    if !is_hour(&record.flux_hour) {
        return Err(fields.error("flux_hour", "must be a real hour YYYYMMDDHH"));
    }
    if record.flux_dat != record.flux_hour[..8] {
        return Err(fields.error("flux_dat", "must be the first 8 characters of flux_hour"));
    }
    for (name, id) in [("provider_id", &record.provider_id), ("provider_uiid", &record.provider_uiid)] {
        if id.trim().is_empty() {
            return Err(fields.error(name, "must not be empty"));
        }
    }
    Ok(record)
}

struct Fields<'a> {
    prefix: &'a str,
    fields: &'a Map<String, Value>,
}

impl Fields<'_> {
    fn error(&self, name: &str, why: &str) -> Invalid {
        invalid(format!("{}{name}: {why}", self.prefix))
    }

    fn get(&self, name: &str) -> Result<&Value, Invalid> {
        self.fields.get(name).ok_or_else(|| self.error(name, "missing"))
    }

    fn string(&self, name: &str) -> Result<String, Invalid> {
        match self.get(name)? {
            Value::String(text) => Ok(text.clone()),
            _ => Err(self.error(name, "must be a string")),
        }
    }

    fn integer(&self, name: &str) -> Result<i64, Invalid> {
        self.get(name)?.as_i64().ok_or_else(|| self.error(name, "must be an integer"))
    }

    fn point(&self, name: &str) -> Result<u64, Invalid> {
        match self.get(name)?.as_u64() {
            Some(bytes) if bytes <= MAX_POINT => Ok(bytes),
            Some(_) => Err(self.error(name, &format!("must be an integer <= {MAX_POINT}"))),
            None => Err(self.error(name, "must be an integer >= 0")),
        }
    }

    fn version(&self) -> Result<u32, Invalid> {
        match self.get("version")?.as_u64().map(u32::try_from) {
            Some(Ok(version)) if version >= 1 => Ok(version),
            _ => Err(self.error("version", &format!("must be an integer between 1 and {}", u32::MAX))),
        }
    }
}

/// `aa:bb:cc:dd:ee:ff`, lower-case hex.
pub fn is_mac(text: &str) -> bool {
    let groups: Vec<&str> = text.split(':').collect();
    groups.len() == 6
        && groups
            .iter()
            .all(|g| g.len() == 2 && g.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)))
}

/// `YYYYMMDD`, a real calendar day.
pub fn is_day(text: &str) -> bool {
    text.len() == 8
        && text.bytes().all(|b| b.is_ascii_digit())
        && NaiveDate::parse_from_str(text, "%Y%m%d").is_ok()
}

/// `YYYYMMDDHH`, a real day and an hour 00..23.
pub fn is_hour(text: &str) -> bool {
    text.len() == 10
        && text.bytes().all(|b| b.is_ascii_digit())
        && is_day(&text[..8])
        && text[8..].parse::<u8>().is_ok_and(|hour| hour < 24)
}

/// The query's parameters: `mac` and `flux_dat`, both required and well-formed.
pub fn query_params(params: &[(String, String)]) -> Result<(String, String), Invalid> {
    let param = |name: &str| {
        let mut values = params.iter().filter(|(k, _)| k == name).map(|(_, v)| v);
        match (values.next(), values.next()) {
            (Some(value), None) => Ok(value.clone()),
            (None, _) => Err(invalid(format!("{name}: missing query parameter"))),
            (Some(_), Some(_)) => Err(invalid(format!("{name}: given more than once"))),
        }
    };
    let mac = param("mac")?;
    let flux_dat = param("flux_dat")?;
    if !is_mac(&mac) {
        return Err(invalid("mac: must be a lower-case MAC like aa:bb:cc:dd:ee:ff"));
    }
    if !is_day(&flux_dat) {
        return Err(invalid("flux_dat: must be a real day YYYYMMDD"));
    }
    Ok((mac, flux_dat))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn good() -> Value {
        json!({
            "flux_dat": "20261124", "flux_hour": "2026112413", "provider_id": "P", "provider_uiid": "U",
            "isp_id": 3, "mac": "aa:bb:cc:dd:ee:ff",
            "v0": 0, "v1": 1, "v2": 2, "v3": 3, "v4": 4, "v5": 5, "v6": 6, "v7": 7, "v8": 8, "v9": 9,
            "v10": 10, "v11": 11, "version": 1, "device_type": 1
        })
    }

    fn check(record: Value) -> Result<Vec<FluxRecord>, Invalid> {
        push_body(json!({ "records": [good(), record] }).to_string().as_bytes())
    }

    fn with(field: &str, value: Value) -> Value {
        let mut record = good();
        record[field] = value;
        record
    }

    #[test]
    fn a_good_record_parses() {
        let records = check(good()).expect("valid");
        assert_eq!(records[1].v11, 11);
        assert_eq!(records[1].mac, "aa:bb:cc:dd:ee:ff");
    }

    #[test]
    fn each_rule_names_the_record_and_field() {
        let cases = [
            (with("v5", json!(-1)), "records[1].v5: must be an integer >= 0"),
            (with("v5", json!(1.5)), "records[1].v5: must be an integer >= 0"),
            (with("v5", json!("7")), "records[1].v5: must be an integer >= 0"),
            (with("v5", json!(u64::MAX)), "records[1].v5: must be an integer <= 9223372036854775807"),
            (with("version", json!(0)), "records[1].version: must be an integer between 1 and 4294967295"),
            (with("mac", json!("AA:BB:CC:DD:EE:FF")), "records[1].mac: must be a lower-case MAC"),
            (with("mac", json!("aa-bb-cc-dd-ee-ff")), "records[1].mac: must be a lower-case MAC"),
            (with("flux_hour", json!("2026113112")), "records[1].flux_hour: must be a real hour"),
            (with("flux_hour", json!("2026112424")), "records[1].flux_hour: must be a real hour"),
            (with("flux_dat", json!("20261125")), "records[1].flux_dat: must be the first 8"),
            (with("provider_id", json!("")), "records[1].provider_id: must not be empty"),
            (with("isp_id", json!("3")), "records[1].isp_id: must be an integer"),
            (with("mac", Value::Null), "records[1].mac: must be a string"),
        ];
        for (record, expected) in cases {
            let err = check(record).expect_err(expected);
            assert!(err.0.starts_with(expected), "{} does not start with {expected}", err.0);
        }
        let mut missing = good();
        missing.as_object_mut().expect("object").remove("device_type");
        assert_eq!(check(missing).expect_err("missing").0, "records[1].device_type: missing");
    }

    #[test]
    fn wrong_shapes_are_refused() {
        assert!(push_body(b"not json").is_err());
        assert!(push_body(b"[]").is_err());
        assert!(push_body(br#"{"records": {}}"#).is_err());
        assert!(push_body(br#"{"records": [1]}"#).is_err());
        let many = json!({ "records": vec![good(); 101] }).to_string();
        assert!(push_body(many.as_bytes()).expect_err("101").0.contains("at most 100"));
        assert_eq!(push_body(br#"{"records":[]}"#), Ok(vec![]));
    }

    #[test]
    fn query_params_are_checked() {
        let params = |pairs: &[(&str, &str)]| -> Vec<(String, String)> {
            pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
        };
        assert!(query_params(&params(&[("mac", "aa:bb:cc:dd:ee:ff"), ("flux_dat", "20261124")])).is_ok());
        assert!(query_params(&params(&[("mac", "aa:bb:cc:dd:ee:ff")])).is_err());
        assert!(query_params(&params(&[("mac", "aa:bb:cc:dd:ee:ff"), ("flux_dat", "20260230")])).is_err());
        assert!(query_params(&params(&[("mac", "AA:bb:cc:dd:ee:ff"), ("flux_dat", "20261124")])).is_err());
    }
}
