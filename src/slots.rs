//! Five-minute slots: naming them in the report time zone and splitting a counter delta over
//! the slots an interval covers, in proportion to time, in integers, losing nothing.

use chrono::{DateTime, FixedOffset, NaiveDateTime, TimeZone};

pub const SLOT_SECS: i64 = 300;
pub const SLOT_MS: i64 = SLOT_SECS * 1000;
pub const SLOTS_PER_HOUR: usize = 12;

/// Start (unix ms) of the slot holding instant `t_ms`. Every real time-zone offset is a
/// multiple of 5 minutes, so slots align with the wall clock in any report time zone.
pub fn slot_start_ms(t_ms: i64) -> i64 {
    t_ms.div_euclid(SLOT_MS) * SLOT_MS
}

/// The report time zone: a fixed offset such as `UTC+08:00` (the customer names hours in it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReportTz(pub FixedOffset);

impl Default for ReportTz {
    fn default() -> Self {
        ReportTz(FixedOffset::east_opt(8 * 3600).unwrap_or_else(|| FixedOffset::east_opt(0).expect("UTC")))
    }
}

impl ReportTz {
    /// Accepts `UTC`, `UTC+08:00`, `+08:00`, `UTC-05:30`, `+0800`. DST zones are refused on
    /// purpose: their repeated or missing hours have no unambiguous `flux_hour`.
    pub fn parse(text: &str) -> Result<ReportTz, String> {
        let t = text.trim();
        let offset_part = t.strip_prefix("UTC").or_else(|| t.strip_prefix("GMT")).unwrap_or(t);
        if offset_part.is_empty() {
            return FixedOffset::east_opt(0).map(ReportTz).ok_or_else(|| "bad offset".into());
        }
        let parsed: Result<FixedOffset, _> = offset_part.parse();
        match parsed {
            Ok(off) if off.local_minus_utc() % 300 == 0 => Ok(ReportTz(off)),
            Ok(_) => Err(format!("time zone {text:?} is not a whole number of 5 minutes from UTC")),
            Err(_) => {
                Err(format!("invalid report time zone {text:?}: expected a fixed offset like \"UTC+08:00\""))
            }
        }
    }

    pub fn local(&self, t_ms: i64) -> DateTime<FixedOffset> {
        self.0
            .timestamp_millis_opt(t_ms)
            .single()
            .unwrap_or_else(|| self.0.timestamp_millis_opt(0).single().expect("epoch is representable"))
    }

    /// `YYYYMMDDHH` of the hour holding `t_ms`.
    pub fn flux_hour(&self, t_ms: i64) -> String {
        self.local(t_ms).format("%Y%m%d%H").to_string()
    }

    /// Start (unix ms) of the report hour named `YYYYMMDDHH`.
    pub fn hour_start_ms(&self, flux_hour: &str) -> Result<i64, String> {
        let bad = || format!("invalid hour {flux_hour:?}: expected YYYYMMDDHH");
        if flux_hour.len() != 10 || !flux_hour.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad());
        }
        let naive =
            NaiveDateTime::parse_from_str(&format!("{flux_hour}0000"), "%Y%m%d%H%M%S").map_err(|_| bad())?;
        self.0.from_local_datetime(&naive).single().map(|dt| dt.timestamp_millis()).ok_or_else(bad)
    }

    /// Start (unix ms) of the hour holding `t_ms`.
    pub fn hour_start_of(&self, t_ms: i64) -> i64 {
        let offset_ms = i64::from(self.0.local_minus_utc()) * 1000;
        (t_ms + offset_ms).div_euclid(3_600_000) * 3_600_000 - offset_ms
    }

    /// `HH:MM` of an instant, for logs.
    pub fn hhmm(&self, t_ms: i64) -> String {
        self.local(t_ms).format("%Y-%m-%d %H:%M").to_string()
    }

    pub fn label(&self) -> String {
        format!("UTC{}", self.0)
    }
}

/// One slot's share of an interval: how many milliseconds of the interval fall in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SlotShare {
    pub slot_start_ms: i64,
    pub covered_ms: i64,
}

/// The slots that the interval `[start_ms, end_ms)` covers, with the time in each. A zero-length
/// interval yields the one slot holding `start_ms` with zero time.
pub fn cover(start_ms: i64, end_ms: i64) -> Vec<SlotShare> {
    if end_ms <= start_ms {
        return vec![SlotShare { slot_start_ms: slot_start_ms(start_ms), covered_ms: 0 }];
    }
    let mut shares = Vec::new();
    let mut at = start_ms;
    while at < end_ms {
        let slot = slot_start_ms(at);
        let slot_end = slot + SLOT_MS;
        let until = slot_end.min(end_ms);
        shares.push(SlotShare { slot_start_ms: slot, covered_ms: until - at });
        at = until;
    }
    shares
}

/// Split `total` over weights in proportion, in integers: each part is the floor of its exact
/// share, then the leftover units go one each to the largest fractional remainders (earliest
/// first on ties). The parts always sum to `total` exactly. All-zero weights give all to the
/// first part.
pub fn apportion(total: u64, weights: &[i64]) -> Vec<u64> {
    if weights.is_empty() {
        return Vec::new();
    }
    let weight_sum: u128 = weights.iter().map(|w| (*w).max(0) as u128).sum();
    if weight_sum == 0 {
        let mut parts = vec![0; weights.len()];
        parts[0] = total;
        return parts;
    }
    let mut parts = Vec::with_capacity(weights.len());
    let mut remainders = Vec::with_capacity(weights.len());
    let mut given: u64 = 0;
    for (i, w) in weights.iter().enumerate() {
        // u64 × i64 fits in u128 with room to spare: no overflow even at 100 Gbit/s for years.
        let exact = u128::from(total) * ((*w).max(0) as u128);
        let part = (exact / weight_sum) as u64;
        parts.push(part);
        remainders.push((exact % weight_sum, i));
        given += part;
    }
    let mut leftover = total - given;
    remainders.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    for (_, i) in remainders {
        if leftover == 0 {
            break;
        }
        parts[i] += 1;
        leftover -= 1;
    }
    parts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn apportion_sums_exactly_and_is_proportional() {
        let parts = apportion(1000, &[1, 1, 1]);
        assert_eq!(parts, vec![334, 333, 333]);
        assert_eq!(apportion(7, &[0, 0]), vec![7, 0]);
        assert_eq!(apportion(0, &[5, 5]), vec![0, 0]);
        let parts = apportion(u64::MAX, &[86_400_000, 1, 299_999]);
        assert_eq!(parts.iter().map(|p| u128::from(*p)).sum::<u128>(), u128::from(u64::MAX));
    }

    #[test]
    fn cover_splits_at_slot_boundaries() {
        let s = cover(290_000, 610_000);
        assert_eq!(
            s,
            vec![
                SlotShare { slot_start_ms: 0, covered_ms: 10_000 },
                SlotShare { slot_start_ms: 300_000, covered_ms: 300_000 },
                SlotShare { slot_start_ms: 600_000, covered_ms: 10_000 },
            ]
        );
        assert_eq!(cover(600_000, 600_000), vec![SlotShare { slot_start_ms: 600_000, covered_ms: 0 }]);
    }

    #[test]
    fn report_tz_names_hours() {
        let tz = ReportTz::parse("UTC+08:00").expect("valid");
        // 2026-11-24 00:00:00 UTC = 08:00 in UTC+8
        let t = 1_795_478_400_000;
        assert_eq!(tz.flux_hour(t), "2026112408");
        assert_eq!(tz.hour_start_ms("2026112408"), Ok(t));
        assert_eq!(tz.hour_start_of(t + 59 * 60_000), t);
        assert!(ReportTz::parse("Asia/Shanghai").is_err());
        assert!(ReportTz::parse("+05:31").is_err());
        assert_eq!(ReportTz::parse("UTC").map(|t| t.0.local_minus_utc()), Ok(0));
        assert_eq!(ReportTz::parse("+05:30").map(|t| t.0.local_minus_utc()), Ok(19800));
        assert!(tz.hour_start_ms("2026113299").is_err());
        assert!(tz.hour_start_ms("20261124").is_err());
    }
}
