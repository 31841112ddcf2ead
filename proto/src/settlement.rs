//! The settlement figures finance signs off on, computed by ONE function used by the config
//! service (API, exports, console) and the agent's `pushagent points --day D --stats` alike.
//! Definitions and a worked example: `docs/settlement.md`.
//!
//! - Bandwidth of a point = bytes × 8 / 300 s. Figures are kept as the exact bytes of the
//!   point they select (integers), and shown in Mbps through [`mbps`].
//! - A day (report time zone) has [`SLOTS_PER_DAY`] slots; a missing slot counts as 0 and is
//!   counted as missing (coverage).
//! - 95th percentile ([`p95`]): sort ascending, take index `round(N × 0.95) − 1` (0-based; the
//!   LibreNMS index; for N = 288 the 15th highest value: the top 14 are dropped).
//! - 日95 per day, 月95 over every slot of the range, 月均日95 the mean of the days' 日95,
//!   peak the maximum point, total the sum.
//! - A node: the per-slot SUM over its machines ([`add_series`]), then the same statistics
//!   (never the sum of the machines' 95s).

use serde::{Deserialize, Serialize};

/// Seconds of one point.
pub const SLOT_SECS: u64 = 300;
/// Points of one day.
pub const SLOTS_PER_DAY: usize = 288;

/// 0-based index, in ascending order, of the 95th percentile of `n` values:
/// `round(n × 0.95) − 1`, half rounded up (in integers: exact for every `n`). `None` for no value.
pub fn p95_index(n: usize) -> Option<usize> {
    if n == 0 {
        return None;
    }
    // round(n × 95 / 100) with halves up, never below 1 since n ≥ 1 gives ≥ 145 / 100.
    Some((n.saturating_mul(95).saturating_add(50)) / 100 - 1)
}

/// The 95th percentile of `values` (missing points included as 0 by the caller); 0 for none.
pub fn p95(values: &[u64]) -> u64 {
    let Some(index) = p95_index(values.len()) else {
        return 0;
    };
    let mut scratch = values.to_vec();
    let (_, value, _) = scratch.select_nth_unstable(index);
    *value
}

/// Bit/s of a 5-minute point of `bytes`, in Mbps (10^6 bit/s): bytes × 8 / 300 / 10^6.
pub fn mbps(bytes: u64) -> f64 {
    bytes as f64 * 8.0 / SLOT_SECS as f64 / 1_000_000.0
}

/// The figures of one day.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DayFigures {
    /// 日95: the bytes of the 95th-percentile point of the day's 288.
    pub p95_bytes: u64,
    pub peak_bytes: u64,
    pub total_bytes: u64,
    /// Points present (summed over the members of a node).
    pub present: u64,
    /// Points expected: 288 × members.
    pub expected: u64,
}

/// The figures of a whole range of days.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Figures {
    /// One per day of the range, in order.
    pub days: Vec<DayFigures>,
    /// 月95: the 95th percentile over every slot of the range.
    pub p95_bytes: u64,
    /// 月均日95: the mean of the days' 日95, rounded to the nearest byte (halves up).
    pub mean_day_p95_bytes: u64,
    /// The highest 日95 of the range.
    pub max_day_p95_bytes: u64,
    pub peak_bytes: u64,
    pub total_bytes: u64,
    pub present: u64,
    pub expected: u64,
}

/// A series of whole days: `bytes[i]` the (summed) bytes of slot `i` (0 where missing),
/// `present[i]` how many member series had a point there; `members` how many series were summed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Series {
    pub bytes: Vec<u64>,
    pub present: Vec<u32>,
    pub members: u32,
}

impl Series {
    /// `days` whole days of missing points, of `members` series.
    pub fn empty(days: usize, members: u32) -> Series {
        Series { bytes: vec![0; days * SLOTS_PER_DAY], present: vec![0; days * SLOTS_PER_DAY], members }
    }

    pub fn days(&self) -> usize {
        self.bytes.len() / SLOTS_PER_DAY
    }
}

/// Add `other` slot by slot into `sum` (a node = the sum of its machines); both cover the same
/// days. Bytes saturate rather than wrap (a sum past 2^64 bytes in 5 minutes is not traffic).
pub fn add_series(sum: &mut Series, other: &Series) {
    for (acc, b) in sum.bytes.iter_mut().zip(&other.bytes) {
        *acc = acc.saturating_add(*b);
    }
    for (acc, p) in sum.present.iter_mut().zip(&other.present) {
        *acc = acc.saturating_add(*p);
    }
    sum.members = sum.members.saturating_add(other.members);
}

/// Every figure of `series` (whole days; a trailing partial day is ignored).
pub fn settle(series: &Series) -> Figures {
    let days = series.days();
    let whole = days * SLOTS_PER_DAY;
    let bytes = &series.bytes[..whole];
    let present = &series.present[..whole.min(series.present.len())];
    let per_day_expected = SLOTS_PER_DAY as u64 * u64::from(series.members);
    let day_figures: Vec<DayFigures> = (0..days)
        .map(|d| {
            let range = d * SLOTS_PER_DAY..(d + 1) * SLOTS_PER_DAY;
            let day = &bytes[range.clone()];
            DayFigures {
                p95_bytes: p95(day),
                peak_bytes: day.iter().copied().max().unwrap_or(0),
                total_bytes: sum(day),
                present: present.get(range).map_or(0, |p| p.iter().map(|&n| u64::from(n)).sum()),
                expected: per_day_expected,
            }
        })
        .collect();
    let day_p95_sum: u128 = day_figures.iter().map(|d| u128::from(d.p95_bytes)).sum();
    let mean_day_p95_bytes = if days == 0 {
        0
    } else {
        let n = days as u128;
        u64::try_from((day_p95_sum * 2 + n) / (2 * n)).unwrap_or(u64::MAX)
    };
    Figures {
        p95_bytes: p95(bytes),
        mean_day_p95_bytes,
        max_day_p95_bytes: day_figures.iter().map(|d| d.p95_bytes).max().unwrap_or(0),
        peak_bytes: bytes.iter().copied().max().unwrap_or(0),
        total_bytes: sum(bytes),
        present: day_figures.iter().map(|d| d.present).sum(),
        expected: per_day_expected * days as u64,
        days: day_figures,
    }
}

fn sum(values: &[u64]) -> u64 {
    u64::try_from(values.iter().map(|&v| u128::from(v)).sum::<u128>()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one_day(values: &[u64]) -> Series {
        let mut s = Series::empty(1, 1);
        for (i, v) in values.iter().enumerate() {
            s.bytes[i] = *v;
            s.present[i] = 1;
        }
        s
    }

    #[test]
    fn the_index_is_librenms_round_n_times_095_minus_one() {
        // N = 288: round(273.6) - 1 = 273, the 15th highest (top 14 dropped).
        assert_eq!(p95_index(288), Some(273));
        assert_eq!(288 - 273, 15);
        // A 31-day month: round(8481.6) - 1.
        assert_eq!(p95_index(8928), Some(8481));
        assert_eq!(p95_index(0), None);
        // N < 20: up to N = 10 round(N × 0.95) is N itself (9.5 rounds up to 10), so the
        // figure is the maximum; from N = 11 the highest value is dropped.
        assert_eq!(p95_index(1), Some(0));
        assert_eq!(p95_index(2), Some(1));
        assert_eq!(p95_index(9), Some(8));
        assert_eq!(p95_index(10), Some(9));
        assert_eq!(p95_index(11), Some(9));
        assert_eq!(p95_index(19), Some(17));
        assert_eq!(p95_index(20), Some(18));
    }

    #[test]
    fn p95_of_small_and_equal_sets() {
        assert_eq!(p95(&[]), 0);
        assert_eq!(p95(&[7]), 7);
        assert_eq!(p95(&[5; 288]), 5, "all equal");
        // 11 values 1..=11: index 9 → 10 (the top one dropped).
        let v: Vec<u64> = (1..=11).rev().collect();
        assert_eq!(p95(&v), 10);
        // 19 values 1..=19: index 17 → 18.
        let v: Vec<u64> = (1..=19).collect();
        assert_eq!(p95(&v), 18);
    }

    #[test]
    fn a_day_drops_its_14_highest_points() {
        // 1..=288 in scrambled order: the 95th is 274 (15th highest).
        let values: Vec<u64> = (0..288u64).map(|i| (i * 97) % 288 + 1).collect();
        let f = settle(&one_day(&values));
        assert_eq!(f.days[0].p95_bytes, 274);
        assert_eq!(f.p95_bytes, 274);
        assert_eq!(f.peak_bytes, 288);
        assert_eq!(f.total_bytes, 288 * 289 / 2);
        assert_eq!((f.present, f.expected), (288, 288));
    }

    #[test]
    fn missing_slots_count_as_zero_and_are_reported() {
        // 200 points of 1000 bytes, 88 slots without a point: 88 zeros, index 273 is 1000;
        // with 275 missing only 13 points exist, fewer than the 15 that reach the 95th.
        let mut s = Series::empty(1, 1);
        for i in 0..200 {
            s.bytes[i] = 1000;
            s.present[i] = 1;
        }
        let f = settle(&s);
        assert_eq!((f.days[0].p95_bytes, f.present, f.expected), (1000, 200, 288));
        let mut s = Series::empty(1, 1);
        for i in 0..13 {
            s.bytes[i] = 1000;
            s.present[i] = 1;
        }
        let f = settle(&s);
        assert_eq!((f.p95_bytes, f.peak_bytes, f.present), (0, 1000, 13));
    }

    #[test]
    fn a_day_of_a_clock_step_still_has_288_slots() {
        // The clock stepped forward 40 minutes: 8 slots got no point, the slot after the step
        // holds the traffic spread over it (the agent's gap apportioning); the day keeps 288
        // slots and its index 273.
        let mut values = vec![1_000u64; 288];
        values[100..108].fill(0);
        values[108] = 9_000;
        let mut s = one_day(&values);
        s.present[100..108].fill(0);
        let f = settle(&s);
        assert_eq!(f.days[0].p95_bytes, 1_000, "one big slot is in the dropped top 14");
        assert_eq!(f.peak_bytes, 9_000);
        assert_eq!(f.present, 280);
    }

    #[test]
    fn a_node_is_the_sum_per_slot_then_the_percentile() {
        // Machine A bursts in the first 15 slots, B in the last 15: each one's 95 is its burst,
        // their sum's 95 is one burst plus one base level, not the sum of their 95s.
        let mut a = vec![100u64; 288];
        a[..15].fill(10_000);
        let mut b = vec![100u64; 288];
        b[273..].fill(10_000);
        let (fa, fb) = (settle(&one_day(&a)), settle(&one_day(&b)));
        assert_eq!((fa.p95_bytes, fb.p95_bytes), (10_000, 10_000));
        let mut node = Series::empty(1, 0);
        add_series(&mut node, &one_day(&a));
        add_series(&mut node, &one_day(&b));
        let fnode = settle(&node);
        // 30 slots of 10_100 and 258 of 200: index 273 of 288 is 10_100.
        assert_eq!(fnode.p95_bytes, 10_100);
        assert_ne!(fnode.p95_bytes, fa.p95_bytes + fb.p95_bytes, "sum of the 95s would be 20_000");
        assert_eq!((fnode.present, fnode.expected), (576, 576));
        // With 14-slot bursts each machine's 95 drops the burst, the node's does not.
        let mut a = vec![100u64; 288];
        a[..14].fill(10_000);
        let mut b = vec![100u64; 288];
        b[274..].fill(10_000);
        let mut node = Series::empty(1, 0);
        add_series(&mut node, &one_day(&a));
        add_series(&mut node, &one_day(&b));
        assert_eq!(settle(&one_day(&a)).p95_bytes + settle(&one_day(&b)).p95_bytes, 200);
        assert_eq!(settle(&node).p95_bytes, 10_100);
    }

    #[test]
    fn month_figures_mean_of_daily_95s_and_month_95() {
        // Day 1 flat 100, day 2 flat 301: 月均日95 = 200.5 → 201 (halves up); 月95 over 576
        // slots: index round(547.2) - 1 = 546 → 301.
        let mut s = Series::empty(2, 1);
        s.bytes[..288].fill(100);
        s.bytes[288..].fill(301);
        s.present.fill(1);
        let f = settle(&s);
        assert_eq!(f.days.iter().map(|d| d.p95_bytes).collect::<Vec<_>>(), vec![100, 301]);
        assert_eq!(f.mean_day_p95_bytes, 201);
        assert_eq!(f.max_day_p95_bytes, 301);
        assert_eq!(f.p95_bytes, 301);
        assert_eq!(f.total_bytes, 288 * 401);
    }

    #[test]
    fn mbps_is_bytes_times_8_over_300() {
        assert_eq!(mbps(37_500_000), 1.0);
        assert_eq!(mbps(0), 0.0);
    }
}
