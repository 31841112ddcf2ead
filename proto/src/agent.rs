//! The agent ↔ config service protocol: paths, request and answer bodies. Serde types and
//! constants only. All bodies are JSON. Every path but `REGISTER_PATH` wants
//! `Authorization: Bearer <agent token>`; an error is any non-2xx answer with an [`ErrorBody`].
//!
//! Units: bytes are `u64`, times are unix seconds (`*_at`), offsets are basis points
//! (hundredths of a percent, `offset_bp`: 350 = +3.5 %, valid range -10000 < bp ≤ 100000),
//! MACs are lower-case colon form `aa:bb:cc:dd:ee:ff`, hours are `flux_hour` `YYYYMMDDHH` in the
//! report time zone.

use serde::{Deserialize, Serialize};

pub use crate::identity::Identity;
use crate::offset;
use crate::profile::{
    self, AnswerRule, AuthSettings, Encoding, FieldError, LineFormat, ProfileParts, QueryMapping,
};

/// First contact: enrollment token → per-agent token ([`RegisterRequest`] → [`RegisterResponse`]).
pub const REGISTER_PATH: &str = "/agent/register";
/// [`HeartbeatRequest`] → [`HeartbeatResponse`].
pub const HEARTBEAT_PATH: &str = "/agent/heartbeat";
/// GET → [`MachineConfig`] (fixed path: other tooling calls it).
pub const CONFIG_PATH: &str = "/agent/config/";
/// GET → [`GlobalConfig`] (fixed path).
pub const GLOBAL_CONFIG_PATH: &str = "/agent/get_global_config/";
/// [`HistoryBatch`] → [`HistoryResponse`] (fixed path).
pub const HISTORY_PATH: &str = "/agent/history/";

/// At most this many items in one [`HistoryBatch`]; the body limit is `MAX_BODY_BYTES`.
pub const MAX_HISTORY_BATCH: usize = 500;
/// Request bodies above this are refused with 413.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;
/// Offsets in basis points must be above this ...
pub const OFFSET_BP_EXCLUSIVE_MIN: i32 = -10_000;
/// ... and at most this.
pub const OFFSET_BP_MAX: i32 = 100_000;

/// Every error answer: a stable machine-readable `error` code and a human `message`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// e.g. "bad_request", "unauthorized", "payload_too_large", "not_found".
    pub error: String,
    pub message: String,
}

/// The facts the service reads. The agent sends its whole `pushagent info` object; fields not
/// named here are kept by the service as sent (it stores the raw object) but not interpreted.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Facts {
    pub hostname: Option<String>,
    pub machine_id: Option<String>,
    pub interface: Option<InterfaceFacts>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct InterfaceFacts {
    pub name: String,
    pub mac: Option<String>,
    pub speed_mbps: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegisterRequest {
    /// The enrollment token of the deploy step (`pushagent-config enroll-token create`).
    pub enrollment_token: String,
    /// /etc/machine-id: a machine registering again gets a new token (the old one stops working).
    pub machine_id: String,
    pub hostname: String,
    pub mac: String,
    pub agent_version: String,
    /// `pushagent info` as JSON (see [`Facts`]).
    pub facts: Facts,
    /// The ops platform's names for this machine (`[identity]`); absent from agents older than
    /// this field and when none is configured.
    #[serde(default, skip_serializing_if = "Identity::is_empty")]
    pub identity: Identity,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegisterResponse {
    /// Shown once; the service keeps only its SHA-256.
    pub agent_token: String,
    /// Service's id of this machine.
    pub machine_id: String,
    /// Seconds between heartbeats the service expects (offline = 3 missed periods by default).
    pub heartbeat_interval_secs: u64,
}

/// One interface as the agent classified it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InterfaceReport {
    pub name: String,
    pub mac: Option<String>,
    /// Physical NIC (a candidate for collection), as opposed to bond/bridge/virtual.
    pub physical: bool,
}

/// The outcome of the agent's last push to the customer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LastPush {
    pub flux_hour: String,
    pub status: PushStatus,
    pub attempted_at: i64,
    pub message: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PushStatus {
    Success,
    Failure,
}

impl PushStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            PushStatus::Success => "success",
            PushStatus::Failure => "failure",
        }
    }
}

/// How much the agent still holds locally.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Backlog {
    /// Closed hours not yet accepted by the customer.
    pub outbox_hours: u64,
    /// History items not yet mirrored to the service.
    pub history_items: u64,
    /// Hours held for an operator (impossible point, rejected record).
    pub held_hours: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HeartbeatRequest {
    pub agent_version: String,
    /// MAC of the collected interface: the report identity.
    pub mac: String,
    pub hostname: String,
    pub interfaces: Vec<InterfaceReport>,
    /// Name of the collected interface.
    pub chosen_interface: String,
    /// The automatic choice was not certain: an operator should confirm it.
    pub ambiguous: bool,
    pub backlog: Backlog,
    pub last_push: Option<LastPush>,
    /// The agent's wall clock (unix secs), to spot clock skew.
    pub agent_time: i64,
    /// `pushagent info` as JSON; optional on every heartbeat (send when changed).
    pub facts: Option<Facts>,
    /// The agent's report time zone (`UTC+08:00`): the service cuts its hourly figures in its
    /// own setting and flags a machine whose hours are named in another zone. Absent from
    /// agents older than this field.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub report_timezone: Option<String>,
    /// As in [`RegisterRequest::identity`], on every heartbeat (the platform may rename).
    #[serde(default, skip_serializing_if = "Identity::is_empty")]
    pub identity: Identity,
    /// Conditions that keep the agent from counting, building or sending (all absent = fine).
    /// Absent from agents older than this field.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health: Option<AgentHealth>,
}

/// Longest text of a health condition (`why`, names): longer ones are clipped by the agent
/// and refused by the service.
pub const MAX_HEALTH_TEXT: usize = 500;
/// Longest name in a health condition (a switch, a MAC, an hour, a kind).
pub const MAX_HEALTH_NAME: usize = 100;

/// What is wrong on an agent right now. Every member is a condition that holds while present;
/// `since` is when the agent first saw it (its wall clock, unix secs: the service re-bases it
/// on its own clock with `agent_time`). Unknown members from newer agents are ignored.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct AgentHealth {
    /// The kernel says the clock is not synchronised: no hour is built until it is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub clock_unsynchronised_since: Option<i64>,
    /// The last clock step the agent saw (an event, kept until a later one replaces it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_clock_step: Option<ClockStep>,
    /// The sampler cannot commit its readings (disk full, read-only file system, ...).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sampler_cannot_commit: Option<HealthCondition>,
    /// The slot timeline cannot advance.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timeline_stuck_since: Option<i64>,
    /// A config from the service (or the file) the agent refused: it keeps the last good one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub config_refused: Option<ConfigRefused>,
    /// The pinned interface does not exist: nothing is counted until it is fixed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub interface_missing: Option<InterfaceMissing>,
    /// Settings without which reports are held, not sent (`report.provider_id`, ...).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub settings_missing: Option<SettingsMissing>,
    /// A push switch is off while hours built while it was on (or corrections) wait to be
    /// sent: nothing goes to the customer until it is on. Deliberate, but money waiting.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub push_held_by_switch: Option<PushHeldBySwitch>,
    /// History items the config service refused as invalid (the agent recorded and skipped
    /// them): the service lacks that evidence. Held while the agent keeps the refused rows
    /// (until an operator clears them with `pushagent outbox --forget-refused`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub history_refused: Option<HistoryRefused>,
}

impl AgentHealth {
    /// No condition holds (a past clock step is an event, not a condition).
    pub fn is_fine(&self) -> bool {
        self.clock_unsynchronised_since.is_none()
            && self.sampler_cannot_commit.is_none()
            && self.timeline_stuck_since.is_none()
            && self.config_refused.is_none()
            && self.interface_missing.is_none()
            && self.settings_missing.is_none()
            && self.push_held_by_switch.is_none()
            && self.history_refused.is_none()
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClockStep {
    /// Size of the step: positive = the clock jumped forward.
    pub step_ms: i64,
    /// When it was seen (unix secs, the clock after the step).
    pub at: i64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HealthCondition {
    pub since: i64,
    pub why: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfigRefused {
    /// The key the agent refused (`offset_bp`, `customer.base_url`, ...).
    pub key: String,
    pub why: String,
    pub since: i64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct InterfaceMissing {
    /// The interface name the config pins.
    pub name: String,
    pub since: i64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SettingsMissing {
    /// e.g. `report.provider_id`, `customer.secret`.
    pub which: Vec<String>,
    pub since: i64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PushHeldBySwitch {
    /// When the agent first saw hours waiting behind the switch.
    pub since: i64,
    /// The switches that are off ([`SWITCH_MACHINE`], [`SWITCH_GLOBAL`], [`SWITCH_LOCAL`]).
    pub switches: Vec<String>,
    /// Reports waiting to be sent (pending hours, corrections among them).
    pub hours_waiting: u64,
    /// Of those, corrections (version 2 and up) of hours the customer holds otherwise.
    #[serde(default)]
    pub corrections_waiting: u64,
    /// The oldest waiting hour (`flux_hour`).
    pub oldest_hour: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryRefused {
    /// Refused items the agent holds.
    pub count: u64,
    /// When the oldest of them was refused (unix secs).
    pub since: i64,
    /// The latest one.
    pub latest: RefusedHistoryItem,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefusedHistoryItem {
    /// `push`, `verification`, `held` or `skipped`.
    pub kind: String,
    pub mac: String,
    pub flux_hour: String,
    /// The service's HTTP status (400, 422).
    pub status: u16,
    /// The service's message, clipped to [`MAX_HEALTH_TEXT`] characters.
    pub message: String,
    /// When it was refused (unix secs).
    pub at: i64,
}

/// Pull `CONFIG_PATH` / `GLOBAL_CONFIG_PATH` when a version differs from the cached one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HeartbeatResponse {
    pub machine_config_version: i64,
    pub global_config_version: i64,
    pub server_time: i64,
    pub heartbeat_interval_secs: u64,
}

/// Acceptance state of a machine (验收中 while under acceptance).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Acceptance {
    #[default]
    Accepted,
    UnderAcceptance,
}

/// `GET CONFIG_PATH`: this machine's config. `None` = use the global value / automatic choice.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MachineConfig {
    pub version: i64,
    pub push_enabled: bool,
    pub acceptance: Acceptance,
    /// Interface chosen by an operator; None = the agent's automatic choice.
    pub interface: Option<String>,
    /// Replaces the node's and the global percentage offset when set.
    pub offset_bp: Option<i32>,
    /// Fixed bytes per 5-minute point (+/-), after the percentage; replaces the node's and the
    /// global one when set (`proto::offset`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offset_fixed_bytes: Option<i64>,
    /// The offsets of the machine's node, when set there (filled in by the service).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_offset_bp: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_offset_fixed_bytes: Option<i64>,
    pub node: Option<String>,
    pub isp_id: Option<i64>,
    pub device_type: Option<i64>,
}

/// Which counter is billed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum BilledDirection {
    #[default]
    Tx,
    Rx,
    Max,
    Sum,
}

/// How to reach the customer (field names as the agent's `[customer]` config). The parts
/// after `batch_size` default to the reference profile, so an older service's config reads.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CustomerProfile {
    pub base_url: String,
    pub report_path: String,
    /// Empty: the customer has no query API (verification is `unavailable`).
    pub query_path: String,
    pub access_id: String,
    /// Sent only to authenticated agents; the admin API never returns it.
    pub secret: String,
    pub day_format: String,
    pub hour_format: String,
    /// e.g. "lower-colon" (see [`crate::profile::MacFormat`]).
    pub mac_format: String,
    /// Records per request in the `json` encoding (`line.lines_per_request` in `line`).
    pub batch_size: u32,
    #[serde(default)]
    pub encoding: Encoding,
    #[serde(default)]
    pub line: LineFormat,
    #[serde(default)]
    pub auth: AuthSettings,
    #[serde(default)]
    pub answer: AnswerRule,
    #[serde(default)]
    pub query: QueryMapping,
}

impl MachineConfig {
    /// The machine's and its node's offset levels.
    pub fn offset_levels(&self) -> (offset::LevelOffsets, offset::LevelOffsets) {
        (
            offset::LevelOffsets {
                offset_bp: self.node_offset_bp,
                offset_fixed_bytes: self.node_offset_fixed_bytes,
            },
            offset::LevelOffsets { offset_bp: self.offset_bp, offset_fixed_bytes: self.offset_fixed_bytes },
        )
    }
}

impl GlobalConfig {
    /// The global offset level (always set).
    pub fn offset_level(&self) -> offset::LevelOffsets {
        offset::LevelOffsets {
            offset_bp: Some(self.offset_bp),
            offset_fixed_bytes: Some(self.offset_fixed_bytes),
        }
    }
}

impl CustomerProfile {
    /// Every value, checked as the agent checks it; the error names the field.
    pub fn validate(&self) -> Result<(), FieldError> {
        ProfileParts {
            base_url: &self.base_url,
            report_path: &self.report_path,
            query_path: &self.query_path,
            access_id: &self.access_id,
            day_format: &self.day_format,
            hour_format: &self.hour_format,
            mac_format: &self.mac_format,
            batch_size: u64::from(self.batch_size),
            encoding: self.encoding,
            line: &self.line,
            auth: &self.auth,
            answer: &self.answer,
            query: &self.query,
        }
        .validate()?;
        profile::secret("customer.secret", &self.secret)
    }
}

/// `GET GLOBAL_CONFIG_PATH`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GlobalConfig {
    pub version: i64,
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
}

/// One push attempt of one hour and its result. Identity: (mac, flux_hour, version, attempt);
/// sending it again changes nothing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryItem {
    pub mac: String,
    pub flux_hour: String,
    /// Record version pushed (1, then +1 per correction).
    pub version: u32,
    /// 1-based attempt number of this version.
    pub attempt: u32,
    /// Totals of the 12 points before and after the offset.
    pub raw_bytes: u64,
    pub pushed_bytes: u64,
    pub raw_points: [u64; 12],
    pub pushed_points: [u64; 12],
    pub offset_bp: i32,
    /// Fixed bytes per point the report was built with, after the percentage
    /// (`proto::offset`); 0 from an agent older than the field (it had none).
    #[serde(default)]
    pub offset_fixed_bytes: i64,
    /// Points pushed as 0 because the push switch was off while they were measured (bit i =
    /// v_i; raw points keep what was measured); 0 from an agent older than the field.
    #[serde(default)]
    pub off_slots: u16,
    pub status: PushStatus,
    /// HTTP status of the customer's answer; None when no answer came.
    pub http_status: Option<u16>,
    /// The customer's `code`, when it answered JSON.
    pub code: Option<i64>,
    pub message: Option<String>,
    pub attempted_at: i64,
}

/// The agent re-queried the customer for an hour it pushed.
///
/// Compatibility: `state`, `checked_version` and `customer_points` are new; an old agent sends
/// none of them (read as `None`), an old service ignores them and keeps reading `matched` and
/// `corrected`, whose meaning is unchanged.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct VerificationItem {
    pub mac: String,
    pub flux_hour: String,
    /// Version the agent pushed last.
    pub version: u32,
    pub matched: bool,
    /// A mismatch the agent corrected by re-pushing with version + 1.
    pub corrected: bool,
    pub verified_at: i64,
    pub message: Option<String>,
    /// The outcome, one of the `VERIFY_*` constants; `None` from an agent older than it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    /// The version of the customer's copy the agent compared (None: nothing was read).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checked_version: Option<u32>,
    /// The customer's 12 points as the agent read them (None: nothing was read), for every
    /// verified hour, matched ones too: the customer's own settlement figures come from them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customer_points: Option<[u64; 12]>,
}

/// `VerificationItem::state`: the customer holds exactly what the agent pushed last.
pub const VERIFY_MATCHED: &str = "matched";
/// The customer's copy differed (or was missing): re-pushed as a new version.
pub const VERIFY_MISMATCH_CORRECTED: &str = "mismatch_corrected";
/// The customer's copy could not be read (query failed, record unreadable) until the end of
/// the verification window: never a mismatch.
pub const VERIFY_UNVERIFIABLE: &str = "unverifiable";
/// The customer's copy still differed after the most corrections allowed
/// (`max_corrections_per_hour`): the hour is held for an operator.
pub const VERIFY_CORRECTION_FAILED: &str = "correction_failed";
/// The customer holds a record for one of our MACs for an hour the agent never sent (or
/// skipped): "the customer holds hours we did not send".
pub const VERIFY_CUSTOMER_EXTRA: &str = "customer_extra";
/// Every value of `VerificationItem::state`.
pub const VERIFY_STATES: [&str; 5] = [
    VERIFY_MATCHED,
    VERIFY_MISMATCH_CORRECTED,
    VERIFY_UNVERIFIABLE,
    VERIFY_CORRECTION_FAILED,
    VERIFY_CUSTOMER_EXTRA,
];

/// A held hour: not pushed, waiting for an operator.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HeldItem {
    pub mac: String,
    pub flux_hour: String,
    pub reason: String,
    pub held_at: i64,
}

/// `SkippedItem::reason`: the hour was built while a push switch was off.
pub const SKIPPED_SWITCHED_OFF: &str = "switched_off";

/// Which switch was off (`SkippedItem::switches`).
pub const SWITCH_MACHINE: &str = "machine";
pub const SWITCH_GLOBAL: &str = "global";
/// The agent's own config file (`push_enabled = false`).
pub const SWITCH_LOCAL: &str = "local";

/// An hour the agent deliberately did not report because a push switch was off when it was
/// built (it never will: switching back on does not back-fill). Identity: (mac, flux_hour).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SkippedItem {
    pub mac: String,
    pub flux_hour: String,
    /// [`SKIPPED_SWITCHED_OFF`].
    pub reason: String,
    /// The switches that were off ([`SWITCH_MACHINE`], [`SWITCH_GLOBAL`], [`SWITCH_LOCAL`]);
    /// empty when the agent does not know (hours built by an agent older than this field).
    #[serde(default)]
    pub switches: Vec<String>,
    /// The billed bytes the agent measured in that hour (sum of the 12 raw points), no offset.
    pub raw_bytes: u64,
    /// When the agent built the hour and decided not to report it (unix secs).
    pub decided_at: i64,
}

/// `POST HISTORY_PATH`: at most `MAX_HISTORY_BATCH` items in all (every list counts).
///
/// Compatibility: every list defaults to empty, so an old agent (no `skipped`) is read by a new
/// service. A service older than `skipped` ignores the member (no `deny_unknown_fields`) and
/// answers without `skipped_stored`: the agent then keeps its skipped items queued (see
/// [`HistoryResponse::skipped_stored`]).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct HistoryBatch {
    pub pushes: Vec<HistoryItem>,
    pub verifications: Vec<VerificationItem>,
    pub held: Vec<HeldItem>,
    pub skipped: Vec<SkippedItem>,
}

impl HistoryBatch {
    /// Items of every kind.
    pub fn len(&self) -> usize {
        self.pushes.len() + self.verifications.len() + self.held.len() + self.skipped.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryResponse {
    /// Items stored by this call (all kinds).
    pub inserted: u64,
    /// Items the service already had (same identity): not stored again.
    pub duplicates: u64,
    /// How many of the batch's `skipped` items the service now holds (stored by this call or
    /// before). `None`: a service older than skipped hours, which ignored them; the agent then
    /// does not mark them mirrored and sends them again later.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub skipped_stored: Option<u64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_reads_both_ways() {
        // An old agent's registration and heartbeat: no `identity`.
        let old_register = r#"{"enrollment_token": "t", "machine_id": "m", "hostname": "h",
            "mac": "aa:bb:cc:dd:ee:01", "agent_version": "0.1.0", "facts": {}}"#;
        let req: RegisterRequest = serde_json::from_str(old_register).expect("old registration");
        assert!(req.identity.is_empty());
        let old_heartbeat = r#"{"agent_version": "0.1.0", "mac": "aa:bb:cc:dd:ee:01", "hostname": "h",
            "interfaces": [], "chosen_interface": "eth0", "ambiguous": false, "backlog": {},
            "last_push": null, "agent_time": 1, "facts": null}"#;
        let hb: HeartbeatRequest = serde_json::from_str(old_heartbeat).expect("old heartbeat");
        assert!(hb.identity.is_empty());
        // A new agent without an ops platform sends exactly what an old one did.
        assert!(!serde_json::to_string(&hb).expect("json").contains("identity"));
        // A new agent with one: an old service reads the body (it ignores unknown members),
        // as this stand-in for the old type shows.
        #[derive(Deserialize)]
        struct OldHeartbeat {
            hostname: String,
        }
        let hb = HeartbeatRequest {
            identity: Identity {
                ops_host_id: Some("42".into()),
                host_name: Some("北京-电信-01".into()),
                management_ip: Some("203.0.113.10".into()),
                node: Some("华北/北京".into()),
            },
            ..hb
        };
        let text = serde_json::to_string(&hb).expect("json");
        let old: OldHeartbeat = serde_json::from_str(&text).expect("old service reads it");
        assert_eq!(old.hostname, "h");
        let back: HeartbeatRequest = serde_json::from_str(&text).expect("new service reads it");
        assert_eq!(back.identity, hb.identity);
    }

    #[test]
    fn new_health_conditions_read_both_ways() {
        // An old agent's health: neither condition.
        let old: AgentHealth =
            serde_json::from_str(r#"{"clock_unsynchronised_since": 5}"#).expect("old health");
        assert_eq!((old.push_held_by_switch, old.history_refused), (None, None));
        // A new agent's: an old service (this stand-in for its type: `default`, no
        // `deny_unknown_fields`) reads the rest of the body.
        #[derive(Default, Deserialize)]
        #[serde(default)]
        struct OldHealth {
            clock_unsynchronised_since: Option<i64>,
        }
        let new = AgentHealth {
            clock_unsynchronised_since: Some(5),
            push_held_by_switch: Some(PushHeldBySwitch {
                since: 1,
                switches: vec![SWITCH_MACHINE.into()],
                hours_waiting: 2,
                corrections_waiting: 0,
                oldest_hour: "2026120608".into(),
            }),
            history_refused: Some(HistoryRefused {
                count: 1,
                since: 2,
                latest: RefusedHistoryItem::default(),
            }),
            ..AgentHealth::default()
        };
        assert!(!new.is_fine());
        let text = serde_json::to_string(&new).expect("json");
        let old: OldHealth = serde_json::from_str(&text).expect("old service reads it");
        assert_eq!(old.clock_unsynchronised_since, Some(5));
        assert_eq!(serde_json::from_str::<AgentHealth>(&text).expect("new service reads it"), new);
        // Absent when fine: an old service gets exactly what it knew.
        assert_eq!(serde_json::to_string(&AgentHealth::default()).expect("json"), "{}");
    }

    #[test]
    fn verifications_read_both_ways() {
        // An old agent's verification: no state, no checked version, no customer points.
        let old = r#"{"mac": "aa:bb:cc:dd:ee:01", "flux_hour": "2026112410", "version": 1,
            "matched": true, "corrected": false, "verified_at": 5, "message": null}"#;
        let item: VerificationItem = serde_json::from_str(old).expect("old item");
        assert_eq!((item.state, item.checked_version, item.customer_points), (None, None, None));
        // A new agent's: an old service (this stand-in for the old type) still reads it.
        #[derive(Deserialize)]
        struct OldVerification {
            matched: bool,
            corrected: bool,
        }
        let new = VerificationItem {
            state: Some(VERIFY_UNVERIFIABLE.into()),
            checked_version: Some(3),
            customer_points: Some([7; 12]),
            ..item
        };
        let text = serde_json::to_string(&new).expect("json");
        let old: OldVerification = serde_json::from_str(&text).expect("old service reads it");
        assert!(old.matched && !old.corrected);
        let back: VerificationItem = serde_json::from_str(&text).expect("new service reads it");
        assert_eq!(back, new);
        assert!(VERIFY_STATES.contains(&VERIFY_CUSTOMER_EXTRA));
    }

    #[test]
    fn history_without_skipped_hours_reads_both_ways() {
        // An old agent's batch: no `skipped`.
        let old: HistoryBatch = serde_json::from_str(r#"{"pushes": [], "held": []}"#).expect("old batch");
        assert!(old.skipped.is_empty());
        // An old service's answer: no `skipped_stored`, so the agent knows it ignored them.
        let answer: HistoryResponse =
            serde_json::from_str(r#"{"inserted": 2, "duplicates": 0}"#).expect("old answer");
        assert_eq!(answer.skipped_stored, None);
        // A skipped item from an agent that does not know the switches.
        let item: SkippedItem = serde_json::from_str(
            r#"{"mac": "aa:bb:cc:dd:ee:01", "flux_hour": "2026112410", "reason": "switched_off",
                "raw_bytes": 5, "decided_at": 1}"#,
        )
        .expect("item");
        assert!(item.switches.is_empty());
        let batch = HistoryBatch { skipped: vec![item.clone(), item], ..HistoryBatch::default() };
        assert_eq!(batch.len(), 2);
        let text =
            serde_json::to_string(&HistoryResponse { inserted: 1, duplicates: 0, skipped_stored: None })
                .expect("json");
        assert_eq!(text, r#"{"inserted":1,"duplicates":0}"#);
    }
}
