//! `pushagent points [--hour H]`: the 12 five-minute points of an hour as the ring holds them,
//! read with the config the daemon runs with (the report time zone in force names the hour,
//! the effective billed direction picks the billed bytes), beside what the outbox pushed for
//! that hour (the version in force), so an operator sees what the customer holds.

use crate::config::{AgentConfig, BilledDirection, Billing};
use crate::push::outbox::{Outbox, OutboxReport};
use crate::ring::{Ring, SlotRow};
use crate::slots::{ReportTz, SLOTS_PER_HOUR, SLOT_MS};
use crate::tally::flag;

/// `config` is the effective config (`super::effective`).
pub fn print_hour(config: &AgentConfig, hour: Option<&str>, json: bool) -> Result<(), String> {
    let tz = config.report_timezone;
    let path = config.state_db_path();
    let ring = Ring::open_existing(&path).map_err(|e| e.to_string())?;
    let hour_start = match hour {
        Some(h) => tz.hour_start_ms(h)?,
        None => match ring.newest_closed_slot_ms().map_err(|e| e.to_string())? {
            Some(t) => tz.hour_start_of(t),
            None => return Err("the ring has no closed 5-minute slot yet".into()),
        },
    };
    let hour_end = hour_start + SLOTS_PER_HOUR as i64 * SLOT_MS;
    let slots = ring.slots_between(hour_start, hour_end).map_err(|e| e.to_string())?;
    // By instant, not by name: the reports of exactly these 12 slots.
    let reports = Outbox::open_existing(&path)
        .and_then(|o| o.between(hour_start, hour_end))
        .map_err(|e| e.to_string())?;
    let direction = config.customer.billed_direction;
    let flux_hour = tz.flux_hour(hour_start);
    if json {
        let out = serde_json::json!({
            "flux_hour": flux_hour,
            "timezone": tz.label(),
            "billed_direction": direction.name(),
            "slots": slots,
            "reports": reports,
        });
        println!("{}", serde_json::to_string_pretty(&out).map_err(|e| e.to_string())?);
    } else {
        print!("{}", render_hour(&tz, direction, &flux_hour, hour_start, &slots, &reports));
    }
    Ok(())
}

fn render_hour(
    tz: &ReportTz,
    direction: BilledDirection,
    flux_hour: &str,
    hour_start: i64,
    slots: &[SlotRow],
    reports: &[OutboxReport],
) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    let mut macs: Vec<&str> =
        slots.iter().map(|s| s.mac.as_str()).chain(reports.iter().map(|r| r.mac.as_str())).collect();
    macs.sort_unstable();
    macs.dedup();
    if macs.is_empty() {
        let _ = writeln!(out, "hour {flux_hour} ({}): no points in the ring", tz.label());
    }
    let billed_header = format!("billed_{}", direction.name());
    for mac in macs {
        let report = reports.iter().find(|r| r.mac == mac);
        let _ = writeln!(
            out,
            "hour {flux_hour} ({}) mac {mac}, billed direction {}",
            tz.label(),
            direction.name()
        );
        match report {
            Some(r) => {
                let _ = writeln!(
                    out,
                    "outbox: version {} {}, built on {}, offset {} % ({}) {} B a point",
                    r.version,
                    r.state.as_str(),
                    r.direction,
                    crate::config::Offset { basis_points: r.offset_bp }.percent_text(),
                    r.offset_source,
                    r.offset_fixed_bytes
                );
            }
            None => {
                let _ = writeln!(out, "outbox: no report for this hour");
            }
        }
        let _ = writeln!(
            out,
            "{:<4} {:<6} {:>16} {:>16} {:>16} {:>16} {:>7} {:<7} flags",
            "v", "start", "tx_bytes", "rx_bytes", billed_header, "pushed_bytes", "samples", "state"
        );
        let (mut tx_sum, mut rx_sum, mut billed_sum) = (0u64, 0u64, 0u64);
        let mut differs = Vec::new();
        for i in 0..SLOTS_PER_HOUR {
            let start = hour_start + i as i64 * SLOT_MS;
            let hhmm = tz.local(start).format("%H:%M").to_string();
            let pushed = report.map(|r| r.pushed[i].to_string()).unwrap_or_else(|| "-".into());
            match slots.iter().find(|s| s.mac == mac && s.slot_start_ms == start) {
                Some(s) => {
                    let billed = direction.pick(s.counters.rx_bytes, s.counters.tx_bytes);
                    tx_sum += s.counters.tx_bytes;
                    rx_sum += s.counters.rx_bytes;
                    billed_sum += billed;
                    if report.is_some_and(|r| r.raw[i] != billed) {
                        differs.push(format!("v{i}"));
                    }
                    let _ = writeln!(
                        out,
                        "v{:<3} {:<6} {:>16} {:>16} {:>16} {:>16} {:>7} {:<7} {}",
                        i,
                        hhmm,
                        s.counters.tx_bytes,
                        s.counters.rx_bytes,
                        billed,
                        pushed,
                        s.samples,
                        if s.closed { "closed" } else { "open" },
                        flag::describe(s.flags)
                    );
                }
                None => {
                    let _ = writeln!(
                        out,
                        "v{i:<3} {hhmm:<6} {:>16} {:>16} {:>16} {pushed:>16} {:>7} {:<7} -",
                        "-", "-", "-", "-", "none"
                    );
                }
            }
        }
        let pushed_sum =
            report.map(|r| r.pushed.iter().sum::<u64>().to_string()).unwrap_or_else(|| "-".into());
        let _ = writeln!(out, "sum              {tx_sum:>16} {rx_sum:>16} {billed_sum:>16} {pushed_sum:>16}");
        if !differs.is_empty() {
            let _ = writeln!(
                out,
                "the ring's billed bytes differ from the raw bytes the outbox pushed at {}",
                differs.join(", ")
            );
        }
    }
    out
}
