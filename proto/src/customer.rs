//! The customer's traffic API, reference profile (`shared/customer-api.md`).

use serde::{Deserialize, Serialize};

pub const REPORT_PATH: &str = "/api/v1/flux/report";
pub const QUERY_PATH: &str = "/api/v1/flux/query";
pub const MAX_RECORDS_PER_PUSH: usize = 100;

/// Answer codes (`code` in every JSON answer).
pub mod code {
    pub const OK: i64 = 0;
    pub const INVALID_RECORD: i64 = 40001;
    pub const VERSION_CONFLICT: i64 = 40901;
    pub const SIGNATURE_REFUSED: i64 = 40101;
    pub const TOO_MANY_REQUESTS: i64 = 42901;
    pub const SERVER_ERROR: i64 = 50001;
}

pub const HEADER_ACCESS_ID: &str = "X-Access-Id";
pub const HEADER_TIMESTAMP: &str = "X-Timestamp";
pub const HEADER_NONCE: &str = "X-Nonce";
pub const HEADER_SIGNATURE: &str = "X-Signature";

/// One hour of one MAC: 12 five-minute byte counts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FluxRecord {
    pub flux_dat: String,
    pub flux_hour: String,
    pub provider_id: String,
    pub provider_uiid: String,
    pub isp_id: i64,
    pub mac: String,
    pub v0: u64,
    pub v1: u64,
    pub v2: u64,
    pub v3: u64,
    pub v4: u64,
    pub v5: u64,
    pub v6: u64,
    pub v7: u64,
    pub v8: u64,
    pub v9: u64,
    pub v10: u64,
    pub v11: u64,
    pub version: u32,
    pub device_type: i64,
}

impl FluxRecord {
    pub fn points(&self) -> [u64; 12] {
        [
            self.v0, self.v1, self.v2, self.v3, self.v4, self.v5, self.v6, self.v7, self.v8, self.v9,
            self.v10, self.v11,
        ]
    }

    pub fn set_points(&mut self, p: [u64; 12]) {
        [
            self.v0, self.v1, self.v2, self.v3, self.v4, self.v5, self.v6, self.v7, self.v8, self.v9,
            self.v10, self.v11,
        ] = p;
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PushRequest {
    pub records: Vec<FluxRecord>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Conflict {
    pub mac: String,
    pub flux_hour: String,
    pub stored_version: u32,
}

/// Every answer: `code` and `msg`, plus `conflicts` (40901) or `data` (query).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Answer {
    pub code: i64,
    #[serde(default)]
    pub msg: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conflicts: Vec<Conflict>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<Vec<FluxRecord>>,
}
