//! Retention: push history, verifications and held hours older than
//! `history_retention_days`, alerts and resolved incidents older than `alert_retention_days`
//! are deleted, by serve's hourly `retention` job and by `pushagent-config prune`. The audit
//! log and MAC history are never deleted (money depends on them).

use crate::store::{Pruned, Store, StoreError};
use crate::Settings;

/// Report hours deleted per pass at most (a first pass on a large store spreads over passes).
pub const MAX_HOURS_PER_PASS: u32 = 24 * 7;

/// One pass at `now` (unix seconds).
pub fn run(store: &mut Store, settings: &Settings, now: i64) -> Result<Pruned, StoreError> {
    // Saturating: an absurd number of days keeps everything instead of overflowing.
    let cutoff = |days: u64| {
        (days > 0).then(|| now.saturating_sub(i64::try_from(days).unwrap_or(i64::MAX).saturating_mul(86_400)))
    };
    // Report hours are named in the report time zone; the cutoff hour is named in UTC. Off by
    // at most the zone's offset, hours on a cutoff of months.
    let history = cutoff(settings.history_retention_days).map(|before| (hour_name(before), before));
    store.prune(
        history.as_ref().map(|(hour, before)| (hour.as_str(), *before)),
        cutoff(settings.alert_retention_days),
        MAX_HOURS_PER_PASS,
        now,
    )
}

/// `YYYYMMDDHH` of a unix time, UTC.
pub fn hour_name(unix_secs: i64) -> String {
    chrono::DateTime::from_timestamp(unix_secs, 0)
        .map_or_else(|| "0000000000".to_owned(), |t| t.format("%Y%m%d%H").to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hour_names_sort_like_the_report_hours() {
        assert_eq!(hour_name(1_764_000_000), "2025112416");
        assert!(hour_name(1_764_000_000 - 3600) < hour_name(1_764_000_000));
    }
}
