//! Building the report of one (MAC, hour) from the ring's slots, and rendering it as the
//! customer's record. Pure: no I/O.

use serde_json::{Map, Value};

use pushagent_proto::offset::LevelOffsets;

use crate::config::{BilledDirection, Billing, CustomerProfile, Offset, ReportSettings};
use crate::ring::SlotRow;
use crate::slots::{ReportTz, SLOTS_PER_HOUR, SLOT_MS, SLOT_SECS};

pub type Points = [u64; SLOTS_PER_HOUR];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReportState {
    Pending,
    Sent,
    Held,
    SkippedOff,
    /// Sent, but the customer's copy could not be read until the verification window ended.
    Unverifiable,
    /// Sent, but the customer kept other values after `max_corrections_per_hour`
    /// corrections: held for an operator.
    CorrectionFailed,
}

impl ReportState {
    pub const ALL: [ReportState; 6] = [
        ReportState::Pending,
        ReportState::Sent,
        ReportState::Held,
        ReportState::SkippedOff,
        ReportState::Unverifiable,
        ReportState::CorrectionFailed,
    ];

    /// The report reached the customer (its copy is what verification compares).
    pub fn was_sent(self) -> bool {
        matches!(self, ReportState::Sent | ReportState::Unverifiable | ReportState::CorrectionFailed)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ReportState::Pending => "pending",
            ReportState::Sent => "sent",
            ReportState::Held => "held",
            ReportState::SkippedOff => "skipped_off",
            ReportState::Unverifiable => "unverifiable",
            ReportState::CorrectionFailed => "correction_failed",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        ReportState::ALL.into_iter().find(|s| s.as_str() == text)
    }
}

/// What building an hour needs besides its slots.
#[derive(Debug, Clone, Copy)]
pub struct BuildRules {
    pub direction: BilledDirection,
    /// The percentage offset in force.
    pub offset: Offset,
    /// The level the percentage comes from: "global", "node" or "machine".
    pub offset_source: &'static str,
    /// Fixed bytes per point after the percentage (`proto::offset`), from any level.
    pub offset_fixed_bytes: i64,
    pub push_enabled: bool,
    /// Link capacity in bits/s (sysfs or config); None = cannot judge.
    pub link_bits_per_sec: Option<u64>,
}

impl BuildRules {
    pub fn from_settings(
        direction: BilledDirection,
        report: &ReportSettings,
        push_enabled: bool,
        link_bits_per_sec: Option<u64>,
    ) -> Self {
        let global = LevelOffsets {
            offset_bp: Some(report.offset_percent.bp()),
            offset_fixed_bytes: Some(report.offset_fixed_bytes),
        };
        let machine = LevelOffsets {
            offset_bp: report.machine_offset_percent.map(Offset::bp),
            offset_fixed_bytes: report.machine_offset_fixed_bytes,
        };
        let e = pushagent_proto::offset::resolve(global, report.node_offsets, machine);
        BuildRules {
            direction,
            offset: Offset { basis_points: i64::from(e.offset_bp) },
            offset_source: e.offset_bp_level.as_str(),
            offset_fixed_bytes: e.offset_fixed_bytes,
            push_enabled,
            link_bits_per_sec,
        }
    }
}

/// A report as built, before it is committed to the outbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuiltReport {
    pub mac: String,
    pub flux_hour: String,
    pub hour_start_ms: i64,
    pub raw: Points,
    pub pushed: Points,
    pub offset: Offset,
    pub offset_source: &'static str,
    /// Fixed bytes per point applied after the percentage (kept with the report).
    pub offset_fixed_bytes: i64,
    pub direction: BilledDirection,
    pub slot_flags: u32,
    pub missing_slots: u32,
    pub state: ReportState,
    pub reason: Option<String>,
    /// For `SkippedOff`: the switches that were off, comma-separated (set by the pusher, which
    /// knows them; empty = not known).
    pub off_switches: String,
    /// Slots pushed as 0 because the push switch was off while they were measured (bit i = v_i).
    pub off_slots: u16,
}

/// Build the report of `mac` for the hour starting at `hour_start_ms` from that hour's slots
/// (slots of other MACs are ignored). Missing slots count as 0 and are counted.
pub fn build(
    mac: &str,
    hour_start_ms: i64,
    slots: &[SlotRow],
    tz: &ReportTz,
    rules: &BuildRules,
) -> BuiltReport {
    let mut raw = [0u64; SLOTS_PER_HOUR];
    let mut present = [false; SLOTS_PER_HOUR];
    let mut off = [false; SLOTS_PER_HOUR];
    let mut slot_flags = 0;
    let mut impossible = Vec::new();
    // The fastest the link was during the hour (the sampler records the speed with each slot),
    // or at build time: a link that slowed down since does not make past points impossible.
    let in_hour = |s: &&SlotRow| {
        s.mac == mac && (0..SLOTS_PER_HOUR as i64 * SLOT_MS).contains(&(s.slot_start_ms - hour_start_ms))
    };
    let link_bits_per_sec = slots
        .iter()
        .filter(in_hour)
        .map(|s| s.link_bits_per_sec)
        .filter(|bits| *bits > 0)
        .chain(rules.link_bits_per_sec)
        .max();
    let capacity = link_bits_per_sec.map(|bits| u128::from(bits) * SLOT_SECS as u128 / 8);
    for slot in slots.iter().filter(|s| s.mac == mac) {
        let offset_ms = slot.slot_start_ms - hour_start_ms;
        if !(0..SLOTS_PER_HOUR as i64 * SLOT_MS).contains(&offset_ms) {
            continue;
        }
        let i = (offset_ms / SLOT_MS) as usize;
        raw[i] = rules.direction.pick(slot.counters.rx_bytes, slot.counters.tx_bytes);
        present[i] = true;
        // The switch while the slot was measured; not known (older slots): the switch now.
        // A slot the switch was off for any part of is not reported.
        off[i] = if slot.push_switch == 0 {
            !rules.push_enabled
        } else {
            slot.push_switch & crate::tally::switch::OFF != 0
        };
        slot_flags |= slot.flags;
        let busiest = u128::from(slot.counters.rx_bytes.max(slot.counters.tx_bytes));
        if let Some(cap) = capacity {
            if busiest > cap {
                impossible.push(format!("v{i} = {busiest} bytes"));
            }
        }
    }
    let any_present = present.iter().any(|p| *p);
    let all_off = if any_present {
        (0..SLOTS_PER_HOUR).filter(|i| present[*i]).all(|i| off[i])
    } else {
        !rules.push_enabled
    };
    let mut pushed =
        raw.map(|v| pushagent_proto::offset::apply(v, rules.offset.bp(), rules.offset_fixed_bytes));
    let mut off_slots = 0u16;
    if !all_off {
        for i in (0..SLOTS_PER_HOUR).filter(|i| present[*i] && off[*i]) {
            pushed[i] = 0;
            off_slots |= 1 << i;
        }
    }
    let (state, reason) = if !impossible.is_empty() {
        let bits = link_bits_per_sec.unwrap_or(0);
        (
            ReportState::Held,
            Some(format!(
                "impossible_point: {} above the link's {} bytes per 5 minutes ({} bit/s)",
                impossible.join(", "),
                capacity.unwrap_or(0),
                bits
            )),
        )
    } else if all_off {
        (ReportState::SkippedOff, Some("push switch off while the hour was measured".into()))
    } else {
        (ReportState::Pending, None)
    };
    BuiltReport {
        mac: mac.to_string(),
        flux_hour: tz.flux_hour(hour_start_ms),
        hour_start_ms,
        raw,
        pushed,
        offset: rules.offset,
        offset_source: rules.offset_source,
        offset_fixed_bytes: rules.offset_fixed_bytes,
        direction: rules.direction,
        slot_flags,
        missing_slots: present.iter().filter(|p| !**p).count() as u32,
        state,
        reason,
        off_switches: String::new(),
        off_slots,
    }
}

/// The customer's record for one report, in the profile's names and formats.
pub fn render_record(
    profile: &CustomerProfile,
    ids: &ReportSettings,
    tz: &ReportTz,
    mac: &str,
    hour_start_ms: i64,
    pushed: &Points,
    version: u32,
) -> Value {
    let local = tz.local(hour_start_ms);
    let mut record = Map::new();
    record.insert("flux_dat".into(), Value::from(local.format(&profile.day_format).to_string()));
    record.insert("flux_hour".into(), Value::from(local.format(&profile.hour_format).to_string()));
    record.insert(profile.fields.provider_id.clone(), Value::from(ids.provider_id.clone()));
    record.insert(profile.fields.provider_uiid.clone(), Value::from(ids.provider_uiid.clone()));
    record.insert(profile.fields.isp_id.clone(), Value::from(ids.isp_id));
    record.insert("mac".into(), Value::from(profile.mac_format.render(mac)));
    for (i, v) in pushed.iter().enumerate() {
        record.insert(format!("v{i}"), Value::from(*v));
    }
    record.insert("version".into(), Value::from(version));
    record.insert(profile.fields.device_type.clone(), Value::from(ids.device_type));
    Value::Object(record)
}

/// `flux_dat` of an hour in the profile's format (the query API's day parameter).
pub fn flux_dat(profile: &CustomerProfile, tz: &ReportTz, hour_start_ms: i64) -> String {
    tz.local(hour_start_ms).format(&profile.day_format).to_string()
}

/// A `flux_hour` in the profile's format, as canonical `YYYYMMDDHH`.
pub fn canonical_flux_hour(profile: &CustomerProfile, text: &str) -> Result<String, String> {
    // chrono needs a minute to build a time: add one to the text and the format alike.
    chrono::NaiveDateTime::parse_from_str(&format!("{text}00"), &format!("{}%M", profile.hour_format))
        .map(|t| t.format("%Y%m%d%H").to_string())
        .map_err(|e| format!("record flux_hour {text:?}: {e}"))
}

/// A record as the customer holds it, read back through the profile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TheirRecord {
    pub mac: String,
    pub hour_start_ms: i64,
    pub points: Points,
    pub version: u32,
}

/// Which (canonical MAC, hour start) a customer record is about, even when its other fields
/// are unreadable (so a malformed record spoils only its own hour).
pub fn their_record_key(
    profile: &CustomerProfile,
    tz: &ReportTz,
    value: &Value,
) -> Result<(String, i64), String> {
    let names = &profile.query;
    let obj = value.as_object().ok_or("record is not a JSON object")?;
    let text = |k: &str| obj.get(k).and_then(Value::as_str).ok_or_else(|| format!("record lacks string {k}"));
    let mac =
        crate::config::MacFormat::canonical(text(&names.mac_field)?).ok_or("record mac is not a MAC")?;
    let hour_start_ms = tz.hour_start_ms(&canonical_flux_hour(profile, text(&names.hour_field)?)?)?;
    Ok((mac, hour_start_ms))
}

/// Read a customer record (from the query API) back into canonical form, by the profile's
/// query field mapping.
pub fn parse_their_record(
    profile: &CustomerProfile,
    tz: &ReportTz,
    value: &Value,
) -> Result<TheirRecord, String> {
    let names = &profile.query;
    let (mac, hour_start_ms) = their_record_key(profile, tz, value)?;
    let obj = value.as_object().ok_or("record is not a JSON object")?;
    let mut points = [0u64; SLOTS_PER_HOUR];
    for (i, p) in points.iter_mut().enumerate() {
        let field = names.point_field(i);
        *p = obj
            .get(&field)
            .and_then(Value::as_u64)
            .ok_or_else(|| format!("record {field} is not a byte count"))?;
    }
    let version = obj
        .get(&names.version_field)
        .and_then(Value::as_u64)
        .and_then(|v| u32::try_from(v).ok())
        .ok_or("record version is not a number")?;
    Ok(TheirRecord { mac, hour_start_ms, points, version })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::netif::IfCounters;

    const HOUR: i64 = 1_795_478_400_000; // 2026-11-24 08:00 UTC+8

    fn slot(i: i64, tx: u64, rx: u64) -> SlotRow {
        SlotRow {
            mac: "aa:bb:cc:dd:ee:ff".into(),
            slot_start_ms: HOUR + i * SLOT_MS,
            ifname: "eth0".into(),
            counters: IfCounters { tx_bytes: tx, rx_bytes: rx, ..Default::default() },
            covered_ms: SLOT_MS,
            samples: 30,
            flags: 0,
            closed: true,
            push_switch: 0,
            link_bits_per_sec: 0,
        }
    }

    fn rules(direction: BilledDirection, percent: f64) -> BuildRules {
        BuildRules {
            direction,
            offset: Offset::from_percent(percent).expect("offset"),
            offset_source: "global",
            offset_fixed_bytes: 0,
            push_enabled: true,
            link_bits_per_sec: Some(1_000_000_000),
        }
    }

    #[test]
    fn builds_the_twelve_points_with_the_offset() {
        let slots: Vec<SlotRow> = (0..12).map(|i| slot(i, 1000 + i as u64, 7)).collect();
        let tz = ReportTz::default();
        let r = build("aa:bb:cc:dd:ee:ff", HOUR, &slots, &tz, &rules(BilledDirection::Tx, 10.0));
        assert_eq!(r.flux_hour, "2026112408");
        assert_eq!(r.raw[3], 1003);
        assert_eq!(r.pushed[3], 1103); // 1103.3 -> 1103
        assert_eq!(r.missing_slots, 0);
        assert_eq!(r.state, ReportState::Pending);
        let sum = build("aa:bb:cc:dd:ee:ff", HOUR, &slots, &tz, &rules(BilledDirection::Sum, 0.0));
        assert_eq!(sum.raw[0], 1007);
    }

    #[test]
    fn the_fixed_amount_follows_the_percentage_never_below_zero_and_silent_slots_stay_silent() {
        const MB: u64 = 1_000_000;
        let slots = vec![slot(0, 10 * MB, 0), slot(1, 3 * MB, 0), slot(2, 0, 0), slot(3, 1_001, 0)];
        let mut r = rules(BilledDirection::Tx, 10.0);
        r.offset_fixed_bytes = -5_000_000;
        let b = build("aa:bb:cc:dd:ee:ff", HOUR, &slots, &ReportTz::default(), &r);
        assert_eq!(b.pushed[0], 6 * MB, "10 MB + 10 % = 11 MB, - 5 MB");
        assert_eq!(b.pushed[1], 0, "3.3 MB - 5 MB is clamped at 0");
        assert_eq!(b.pushed[2], 0, "raw 0 stays 0");
        assert_eq!(b.pushed[3], 0);
        assert_eq!(b.pushed[4], 0, "a missing slot is 0 and stays 0");
        r.offset_fixed_bytes = 2_000_000;
        let b = build("aa:bb:cc:dd:ee:ff", HOUR, &slots, &ReportTz::default(), &r);
        assert_eq!(b.pushed[3], 1_101 + 2 * MB, "1001 + 10 % = 1101.1 -> 1101, + 2 MB");
        assert_eq!(b.pushed[2], 0, "no traffic is invented for a silent slot");
        assert_eq!(b.raw[0], 10 * MB, "raw is kept as measured");
    }

    #[test]
    fn each_kind_of_offset_comes_from_the_most_specific_level_that_sets_it() {
        let mut report = ReportSettings {
            offset_percent: Offset::from_percent(3.0).expect("offset"),
            offset_fixed_bytes: 1_000_000,
            ..Default::default()
        };
        let r = BuildRules::from_settings(BilledDirection::Tx, &report, true, None);
        assert_eq!(
            (r.offset.basis_points, r.offset_source, r.offset_fixed_bytes),
            (300, "global", 1_000_000)
        );
        report.node_offsets.offset_bp = Some(-150);
        let r = BuildRules::from_settings(BilledDirection::Tx, &report, true, None);
        assert_eq!((r.offset.basis_points, r.offset_source, r.offset_fixed_bytes), (-150, "node", 1_000_000));
        report.machine_offset_fixed_bytes = Some(-2_000_000);
        report.node_offsets.offset_fixed_bytes = Some(7);
        let r = BuildRules::from_settings(BilledDirection::Tx, &report, true, None);
        assert_eq!(
            (r.offset.basis_points, r.offset_source, r.offset_fixed_bytes),
            (-150, "node", -2_000_000)
        );
        report.machine_offset_percent = Some(Offset::ZERO);
        let r = BuildRules::from_settings(BilledDirection::Tx, &report, true, None);
        assert_eq!((r.offset.basis_points, r.offset_source), (0, "machine"), "0 % set at the machine wins");
    }

    #[test]
    fn missing_slots_are_zero_and_counted() {
        let slots = vec![slot(0, 5, 5), slot(11, 6, 6)];
        let r =
            build("aa:bb:cc:dd:ee:ff", HOUR, &slots, &ReportTz::default(), &rules(BilledDirection::Tx, 0.0));
        assert_eq!(r.missing_slots, 10);
        assert_eq!(r.raw[11], 6);
    }

    #[test]
    fn an_impossible_point_holds_the_hour() {
        // 1 Gbit/s carries at most 37.5 GB in 300 s.
        let slots = vec![slot(4, 37_500_000_001, 0)];
        let r =
            build("aa:bb:cc:dd:ee:ff", HOUR, &slots, &ReportTz::default(), &rules(BilledDirection::Rx, 0.0));
        assert_eq!(r.state, ReportState::Held);
        assert!(r.reason.as_deref().unwrap_or("").starts_with("impossible_point: v4"), "{:?}", r.reason);
    }

    #[test]
    fn the_fastest_link_of_the_hour_judges_its_points() {
        // 5 Gbit/s for 300 s = 187.5 GB: possible on the 10 Gbit/s the link had during the
        // hour, although it runs at 100 Mbit/s when the hour is built.
        let mut slots = vec![slot(3, 187_500_000_000, 0), slot(4, 1_000, 0)];
        slots[0].link_bits_per_sec = 10_000_000_000;
        slots[1].link_bits_per_sec = 100_000_000;
        let mut at_build = rules(BilledDirection::Tx, 0.0);
        at_build.link_bits_per_sec = Some(100_000_000);
        let r = build("aa:bb:cc:dd:ee:ff", HOUR, &slots, &ReportTz::default(), &at_build);
        assert_eq!(r.state, ReportState::Pending, "{:?}", r.reason);
        // Above what even the fastest link of the hour carries: held, and the reason says which speed.
        slots[0].counters.tx_bytes = 375_000_000_001;
        let r = build("aa:bb:cc:dd:ee:ff", HOUR, &slots, &ReportTz::default(), &at_build);
        assert_eq!(r.state, ReportState::Held);
        assert!(r.reason.as_deref().unwrap_or("").contains("(10000000000 bit/s)"), "{:?}", r.reason);
    }

    #[test]
    fn push_switch_off_skips() {
        let mut rr = rules(BilledDirection::Tx, 0.0);
        rr.push_enabled = false;
        let r = build("aa:bb:cc:dd:ee:ff", HOUR, &[], &ReportTz::default(), &rr);
        assert_eq!(r.state, ReportState::SkippedOff);
    }

    #[test]
    fn record_round_trips_through_the_profile() {
        let mut profile = CustomerProfile {
            mac_format: crate::config::MacFormat::UpperDash,
            hour_format: "%Y-%m-%d %H".into(),
            ..Default::default()
        };
        profile.fields.isp_id = "carrier".into();
        let ids = ReportSettings { provider_id: "P".into(), isp_id: 7, ..Default::default() };
        let tz = ReportTz::default();
        let points = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12];
        let rec = render_record(&profile, &ids, &tz, "aa:bb:cc:dd:ee:ff", HOUR, &points, 3);
        assert_eq!(rec["mac"], "AA-BB-CC-DD-EE-FF");
        assert_eq!(rec["flux_hour"], "2026-11-24 08");
        assert_eq!(rec["carrier"], 7);
        let back = parse_their_record(&profile, &tz, &rec).expect("parses");
        assert_eq!(
            back,
            TheirRecord { mac: "aa:bb:cc:dd:ee:ff".into(), hour_start_ms: HOUR, points, version: 3 }
        );
        // A query API that names its fields differently is read through the mapping.
        profile.query.hour_field = "hour".into();
        profile.query.point_prefix = "p".into();
        let mut theirs = serde_json::Map::new();
        for (key, value) in rec.as_object().expect("object") {
            let key = match key.as_str() {
                "flux_hour" => "hour".to_string(),
                k if k.starts_with('v') && k[1..].parse::<u32>().is_ok() => format!("p{}", &k[1..]),
                k => k.to_string(),
            };
            theirs.insert(key, value.clone());
        }
        let back = parse_their_record(&profile, &tz, &Value::Object(theirs)).expect("mapped");
        assert_eq!(back.points, points);
    }
}
