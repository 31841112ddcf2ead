//! `pushagent points --day YYYYMMDD --stats`: the settlement figures of one report day from
//! this machine's own ring and outbox, computed by the same function as the config service
//! (`pushagent_proto::settlement`), so finance's figure can be checked on the machine itself.
//! Definitions: docs/settlement.md.

use pushagent_proto::agent::BilledDirection;
use pushagent_proto::settlement::{self, mbps, Figures, Series, SLOTS_PER_DAY};
use serde::Serialize;

use crate::config::customer::Billing;
use crate::config::AgentConfig;
use crate::push::outbox::{Outbox, OutboxReport};
use crate::ring::{Ring, SlotRow};
use crate::slots::{SLOTS_PER_HOUR, SLOT_MS};

/// The figures of a day, three ways.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DayStats {
    pub day: String,
    pub timezone: String,
    /// The billed direction the ring's bytes were read in.
    pub direction: String,
    /// What the ring measured (billed direction, no offset), every slot it holds.
    pub ring_raw: Figures,
    /// The hours the customer accepted (as the service settles them): raw and pushed points of
    /// the version in force; other hours count as missing.
    pub sent_raw: Figures,
    pub sent_pushed: Figures,
    pub sent_hours: u32,
    /// Hours of the day in the outbox not (yet) accepted: pending, held or skipped.
    pub unsent_hours: u32,
}

/// The day's series from the ring's slots and the outbox's reports (all MACs of the machine
/// summed per slot, as the service sums a machine's MACs).
pub fn day_stats(
    day: &str,
    timezone: String,
    day_start_ms: i64,
    slots: &[SlotRow],
    reports: &[OutboxReport],
    direction: BilledDirection,
) -> DayStats {
    let mut ring = Series::empty(1, 1);
    for s in slots {
        let Ok(i) = usize::try_from((s.slot_start_ms - day_start_ms).div_euclid(SLOT_MS)) else { continue };
        if i < SLOTS_PER_DAY {
            let bytes = direction.pick(s.counters.rx_bytes, s.counters.tx_bytes);
            ring.bytes[i] = ring.bytes[i].saturating_add(bytes);
            ring.present[i] = 1;
        }
    }
    let (mut raw, mut pushed) = (Series::empty(1, 1), Series::empty(1, 1));
    let (mut sent_hours, mut unsent_hours) = (0, 0);
    for r in reports {
        let Ok(hour) = usize::try_from((r.hour_start_ms - day_start_ms).div_euclid(3_600_000)) else {
            continue;
        };
        if hour >= 24 {
            continue;
        }
        if !r.state.was_sent() {
            unsent_hours += 1;
            continue;
        }
        sent_hours += 1;
        for k in 0..SLOTS_PER_HOUR {
            let i = hour * SLOTS_PER_HOUR + k;
            raw.bytes[i] = raw.bytes[i].saturating_add(r.raw[k]);
            pushed.bytes[i] = pushed.bytes[i].saturating_add(r.pushed[k]);
            raw.present[i] = 1;
            pushed.present[i] = 1;
        }
    }
    DayStats {
        day: day.to_owned(),
        timezone,
        direction: direction.name().to_owned(),
        ring_raw: settlement::settle(&ring),
        sent_raw: settlement::settle(&raw),
        sent_pushed: settlement::settle(&pushed),
        sent_hours,
        unsent_hours,
    }
}

pub fn print_day(config: &AgentConfig, day: &str, json: bool) -> Result<(), String> {
    if day.len() != 8 || !day.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("--day: {day:?} is not a day YYYYMMDD"));
    }
    let tz = config.report_timezone;
    let day_start = tz.hour_start_ms(&format!("{day}00")).map_err(|e| format!("--day: {e}"))?;
    let day_end = day_start + SLOTS_PER_DAY as i64 * SLOT_MS;
    let path = config.state_db_path();
    let ring = Ring::open_existing(&path).map_err(|e| e.to_string())?;
    let slots = ring.slots_between(day_start, day_end).map_err(|e| e.to_string())?;
    let outbox = Outbox::open_existing(&path).map_err(|e| e.to_string())?;
    let reports = outbox.between(day_start, day_end).map_err(|e| e.to_string())?;
    // The direction the day's hours were billed in, else the effective config's (`config` is
    // the effective config: the service may have set it).
    let direction = reports
        .iter()
        .find_map(|r| serde_json::from_value(serde_json::Value::String(r.direction.clone())).ok())
        .unwrap_or(config.customer.billed_direction);
    let stats = day_stats(day, tz.label(), day_start, &slots, &reports, direction);
    if json {
        println!("{}", serde_json::to_string_pretty(&stats).map_err(|e| e.to_string())?);
    } else {
        print!("{}", render(&stats));
    }
    Ok(())
}

fn render(s: &DayStats) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "day {} ({}): 288 five-minute points; Mbps = bytes x 8 / 300 s / 10^6; \
         95th = value at index round(N x 0.95) - 1, ascending, missing points = 0",
        s.day, s.timezone
    );
    let columns = [
        (format!("raw (ring, {})", s.direction), &s.ring_raw),
        ("raw (sent hours)".to_owned(), &s.sent_raw),
        ("pushed (sent hours)".to_owned(), &s.sent_pushed),
    ];
    let _ = write!(out, "{:<12}", "figure");
    for (name, _) in &columns {
        let _ = write!(out, " {name:>30}");
    }
    let _ = writeln!(out);
    let mut line = |label: &str, value: &dyn Fn(&Figures) -> String| {
        let _ = write!(out, "{label:<12}");
        for (_, f) in &columns {
            let _ = write!(out, " {:>30}", value(f));
        }
        let _ = writeln!(out);
    };
    let figure = |bytes: u64| format!("{:.6} Mbps {bytes:>14} B", mbps(bytes));
    line("95th (日95)", &|f| figure(f.p95_bytes));
    line("peak", &|f| figure(f.peak_bytes));
    line("total", &|f| format!("{} B", f.total_bytes));
    line("coverage", &|f| format!("{}/{}", f.present, f.expected));
    let _ = writeln!(
        out,
        "hours accepted by the customer: {}; in the outbox, not accepted: {}",
        s.sent_hours, s.unsent_hours
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::netif::IfCounters;
    use crate::push::report::ReportState;

    const DAY_START: i64 = 1_795_536_000_000;

    fn slot(i: i64, tx: u64, rx: u64) -> SlotRow {
        SlotRow {
            mac: "52:54:00:12:34:56".into(),
            slot_start_ms: DAY_START + i * SLOT_MS,
            ifname: "eth0".into(),
            counters: IfCounters { tx_bytes: tx, rx_bytes: rx, ..IfCounters::default() },
            covered_ms: SLOT_MS,
            samples: 5,
            flags: 0,
            closed: true,
            push_switch: 0,
            link_bits_per_sec: 0,
        }
    }

    fn report(hour: i64, raw: u64, state: ReportState) -> OutboxReport {
        OutboxReport {
            mac: "52:54:00:12:34:56".into(),
            flux_hour: format!("20261125{hour:02}"),
            hour_start_ms: DAY_START + hour * 3_600_000,
            raw: [raw; 12],
            pushed: [raw * 2; 12],
            offset_bp: 10_000,
            offset_source: "global".into(),
            offset_fixed_bytes: 0,
            direction: "tx".into(),
            slot_flags: 0,
            missing_slots: 0,
            version: 1,
            state,
            reason: None,
            solo: false,
            attempts: 1,
            next_attempt_at_ms: 0,
            last_error: None,
            updated_at_ms: 0,
            sent_at_ms: None,
            verify_next_at_ms: None,
            verify_until_ms: None,
            verify_result: None,
            corrections: 0,
            verify_failures: 0,
        }
    }

    #[test]
    fn the_day_is_read_in_the_billed_direction_and_only_accepted_hours_are_settled() {
        // Slots before and after the day are not in it; tx is billed.
        let slots: Vec<SlotRow> =
            (-3..291).map(|i| slot(i, (i.rem_euclid(288) as u64 + 1) * 10, 7)).collect();
        // 23 hours sent with 100 B a point, hour 5 still pending.
        let reports: Vec<OutboxReport> = (0..24)
            .map(|h| report(h, 100, if h == 5 { ReportState::Pending } else { ReportState::Sent }))
            .collect();
        let s = day_stats("20261125", "UTC+08:00".into(), DAY_START, &slots, &reports, BilledDirection::Tx);
        // Ring: 10, 20, ..., 2880 → index 273 → 2740.
        assert_eq!((s.ring_raw.p95_bytes, s.ring_raw.peak_bytes, s.ring_raw.present), (2740, 2880, 288));
        assert_eq!(s.ring_raw.total_bytes, 10 * 288 * 289 / 2);
        // Sent: 276 points of 100 and 12 missing.
        assert_eq!((s.sent_raw.p95_bytes, s.sent_raw.present, s.sent_raw.total_bytes), (100, 276, 27_600));
        assert_eq!((s.sent_pushed.p95_bytes, s.sent_pushed.total_bytes), (200, 55_200));
        assert_eq!((s.sent_hours, s.unsent_hours), (23, 1));
        let rx = day_stats("20261125", "UTC+08:00".into(), DAY_START, &slots, &[], BilledDirection::Rx);
        assert_eq!((rx.ring_raw.p95_bytes, rx.direction.as_str()), (7, "rx"));
        let text = render(&s);
        assert!(text.contains("0.000073 Mbps") && text.contains("276/288"), "{text}");
    }
}
