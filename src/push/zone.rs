//! The report time zone in force. The customer files every hour by its name (`flux_hour`, in
//! the report time zone), so once hours are reported in one zone a change of
//! `report_timezone` is taken only where it can neither rename nor lose an hour:
//!
//! - the outbox holds no hour that may still go to the customer or be checked against it
//!   (pending, held, or sent with a verification still scheduled): those carry names of the
//!   old zone;
//! - the new zone has the same hour boundaries (a whole number of hours away): otherwise the
//!   first hour of the new zone would overlap the last one reported;
//! - the new zone is east of the old one: its names come after every name already used. West
//!   of it, the names of the next hours were already used for earlier hours (from UTC+08:00 to
//!   UTC, 8 of them), and the customer would file two hours under one name.
//!
//! Otherwise the change is refused: the agent keeps naming, building and verifying hours in the
//! zone in force (every byte in exactly one hour, under the name it had), says why in its
//! heartbeat (`config_refused`, key `report_timezone`) and in its log, and decides again at its
//! next start. Where it is taken, the build cursor (an instant) is already on a boundary of
//! the new zone: the next hour is simply named in it.

use chrono::{FixedOffset, NaiveDateTime};

use super::outbox::{Outbox, OutboxError};
use crate::config::AgentConfig;
use crate::health::Health;
use crate::slots::ReportTz;

/// The zone an hour was named in: its canonical name (`YYYYMMDDHH`) read as local time,
/// minus its start. None when the name is not canonical.
pub fn zone_of_hour(flux_hour: &str, hour_start_ms: i64) -> Option<ReportTz> {
    let naive = NaiveDateTime::parse_from_str(&format!("{flux_hour}0000"), "%Y%m%d%H%M%S").ok()?;
    let offset_ms = naive.and_utc().timestamp_millis() - hour_start_ms;
    FixedOffset::east_opt(i32::try_from(offset_ms / 1000).ok()?).map(ReportTz)
}

/// The zone the outbox's hours are named in (its newest hour's), if it holds any.
pub fn zone_of_outbox(outbox: &Outbox) -> Result<Option<ReportTz>, OutboxError> {
    Ok(outbox.newest_hour()?.and_then(|(name, start)| zone_of_hour(&name, start)))
}

/// Why a change from `in_use` to `configured` cannot be taken now (None: it can).
pub fn change_refused(
    in_use: ReportTz,
    configured: ReportTz,
    outbox: &Outbox,
) -> Result<Option<String>, OutboxError> {
    let (old, new) = (in_use.0.local_minus_utc(), configured.0.local_minus_utc());
    let why = if (new - old) % 3600 != 0 {
        Some(format!(
            "{} moves the hour boundaries of {} by {} min: the next hour would overlap one already reported",
            configured.label(),
            in_use.label(),
            ((new - old) % 3600).abs() / 60
        ))
    } else if new < old {
        Some(format!(
            "the next {} hour names of {} were already used in {} (the customer files hours by name)",
            (old - new) / 3600,
            configured.label(),
            in_use.label()
        ))
    } else {
        let (unsent, verifying) = outbox.unsettled_hours()?;
        (unsent + verifying > 0).then(|| {
            format!(
                "{unsent} hour(s) pending or held and {verifying} still verified are named in {}",
                in_use.label()
            )
        })
    };
    Ok(why.map(|why| format!("change from {} to {} refused: {why}", in_use.label(), configured.label())))
}

/// Put the zone in force into `config` (the configured one, or the outbox's when a change is
/// refused) and report a refusal to `health`. Called once at the start, before any thread runs.
pub fn settle_zone(
    config: &mut AgentConfig,
    outbox: &Outbox,
    health: &Health,
    now_secs: i64,
) -> Result<(), OutboxError> {
    let configured = config.report_timezone;
    let refused = match zone_of_outbox(outbox)? {
        Some(in_use) if in_use != configured => {
            change_refused(in_use, configured, outbox)?.map(|why| (in_use, why))
        }
        _ => None,
    };
    match refused {
        Some((in_use, why)) => {
            log::error!("report_timezone: {why}; hours stay named in {}", in_use.label());
            config.report_timezone = in_use;
            health.zone_refused(Some(&why), now_secs);
        }
        None => health.zone_refused(None, now_secs),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_hours_zone_is_read_from_its_name() {
        // 2026-11-24 00:00 UTC is hour 08 in UTC+08:00, 05 (from 00:30 UTC) in UTC+05:30.
        let t0 = 1_795_478_400_000;
        assert_eq!(zone_of_hour("2026112408", t0), Some(ReportTz::default()));
        assert_eq!(zone_of_hour("2026112400", t0), ReportTz::parse("UTC").ok());
        assert_eq!(zone_of_hour("2026112406", t0 + 1_800_000), ReportTz::parse("UTC+05:30").ok());
        assert_eq!(zone_of_hour("2026-11-24", t0), None);
    }
}
