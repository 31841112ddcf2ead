//! The built-in customer profiles the console offers: data, every field editable after.

use serde::{Deserialize, Serialize};

use super::{AnswerRule, AuthSettings, Encoding, LineFormat, MacFormat, QueryMapping, Signature};
use crate::customer::{MAX_RECORDS_PER_PUSH, QUERY_PATH, REPORT_PATH};

/// A built-in profile the console offers (every field stays editable).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Preset {
    /// Stable id: `reference-json`, `line-csv`.
    pub id: String,
    pub name_zh: String,
    pub name_en: String,
    pub report_path: String,
    pub query_path: String,
    pub day_format: String,
    pub hour_format: String,
    pub mac_format: String,
    pub batch_size: u32,
    pub encoding: Encoding,
    pub line: LineFormat,
    pub auth: AuthSettings,
    pub answer: AnswerRule,
    pub query: QueryMapping,
}

/// "参考接口 (JSON)" and "逐行 CSV (原厂商格式)".
pub fn presets() -> Vec<Preset> {
    let reference = Preset {
        id: "reference-json".into(),
        name_zh: "参考接口 (JSON)".into(),
        name_en: "Reference API (JSON)".into(),
        report_path: REPORT_PATH.into(),
        query_path: QUERY_PATH.into(),
        day_format: "%Y%m%d".into(),
        hour_format: "%Y%m%d%H".into(),
        mac_format: MacFormat::LowerColon.name().into(),
        batch_size: MAX_RECORDS_PER_PUSH as u32,
        encoding: Encoding::Json,
        line: LineFormat::default(),
        auth: AuthSettings::default(),
        answer: AnswerRule::default(),
        query: QueryMapping::default(),
    };
    let line = Preset {
        id: "line-csv".into(),
        name_zh: "逐行 CSV (原厂商格式)".into(),
        name_en: "One CSV line per record (original vendor format)".into(),
        // The original customer's query API is not documented: none until it is configured.
        query_path: String::new(),
        batch_size: 1,
        encoding: Encoding::Line,
        auth: AuthSettings {
            signature: Signature::None,
            access_id_header: "access_id".into(),
            static_headers: vec![("need_response".into(), "true".into())],
            sequence_header: "X-Seq".into(),
        },
        answer: AnswerRule {
            result_field: String::new(),
            ok_values: Vec::new(),
            invalid_values: Vec::new(),
            conflict_values: Vec::new(),
            ok_texts: vec!["ok".into(), "success".into()],
            message_field: "msg".into(),
        },
        ..reference.clone()
    };
    vec![reference, line]
}
