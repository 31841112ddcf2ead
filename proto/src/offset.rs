//! Offsets (源数据处理): the ONE piece of money math, used by the agent to push and by the
//! service to show what applies. Two kinds, each set (or not) at three levels:
//!
//! - a percentage in basis points (350 = +3.5 %): pushed = round(raw × (1 + bp/10000)), half
//!   away from zero, exact in integers;
//! - a fixed amount of bytes per 5-minute point (entered in MB = 10^6 bytes, + or −), applied
//!   after the percentage; a point never goes below 0, and a point whose raw value is 0 stays 0
//!   (no traffic is invented for a silent slot).
//!
//! Levels: machine > node > global; for each kind the most specific level that is set wins.

use serde::{Deserialize, Serialize};

use crate::agent::{OFFSET_BP_EXCLUSIVE_MIN, OFFSET_BP_MAX};
use crate::profile::{Checked, FieldError};

/// The fixed amount is at most this many bytes per point either way (4 TB: more than a
/// 100 Gbit/s link carries in 5 minutes).
pub const FIXED_BYTES_MAX: i64 = 4_000_000_000_000;
/// Bytes in the console's MB.
pub const BYTES_PER_MB: i64 = 1_000_000;

/// Where an offset comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    #[default]
    Global,
    Node,
    Machine,
}

impl Level {
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Global => "global",
            Level::Node => "node",
            Level::Machine => "machine",
        }
    }
}

/// What one level sets; `None` = not set here (the next level up applies).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct LevelOffsets {
    pub offset_bp: Option<i32>,
    pub offset_fixed_bytes: Option<i64>,
}

/// The offsets in force for one machine and the level each comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Effective {
    pub offset_bp: i32,
    pub offset_bp_level: Level,
    pub offset_fixed_bytes: i64,
    pub offset_fixed_level: Level,
}

impl Effective {
    /// A point as pushed.
    pub fn apply(&self, raw: u64) -> u64 {
        apply(raw, self.offset_bp, self.offset_fixed_bytes)
    }
}

/// Machine > node > global, per kind. The global level always has a value (0 when unset).
pub fn resolve(global: LevelOffsets, node: LevelOffsets, machine: LevelOffsets) -> Effective {
    fn pick<T: Copy + Default>(levels: [(Option<T>, Level); 3]) -> (T, Level) {
        levels.into_iter().find_map(|(v, l)| v.map(|v| (v, l))).unwrap_or((T::default(), Level::Global))
    }
    let (offset_bp, offset_bp_level) = pick([
        (machine.offset_bp, Level::Machine),
        (node.offset_bp, Level::Node),
        (global.offset_bp, Level::Global),
    ]);
    let (offset_fixed_bytes, offset_fixed_level) = pick([
        (machine.offset_fixed_bytes, Level::Machine),
        (node.offset_fixed_bytes, Level::Node),
        (global.offset_fixed_bytes, Level::Global),
    ]);
    Effective { offset_bp, offset_bp_level, offset_fixed_bytes, offset_fixed_level }
}

/// pushed = max(0, round(raw × (1 + bp/10000)) + fixed), and 0 when raw is 0. Saturates at
/// u64::MAX (unreachable for real points). Offsets outside the checked ranges still give a
/// defined result (a percentage at or below -100 % gives 0).
pub fn apply(raw: u64, offset_bp: i32, offset_fixed_bytes: i64) -> u64 {
    if raw == 0 {
        return 0;
    }
    let factor = (10_000 + i128::from(offset_bp)).max(0);
    // Half away from zero; the product is never negative, so "+ half, floor" is exact.
    let scaled = (i128::from(raw) * factor + 5_000) / 10_000;
    let pushed = scaled + i128::from(offset_fixed_bytes);
    pushed.clamp(0, i128::from(u64::MAX)) as u64
}

/// A percentage offset in basis points: above -100 % and at most +1000 %.
pub fn check_bp(field: &str, bp: i32) -> Checked {
    if bp > OFFSET_BP_EXCLUSIVE_MIN && bp <= OFFSET_BP_MAX {
        Ok(())
    } else {
        Err(FieldError::new(
            field,
            format!(
                "offset {bp} basis points ({}%) is out of range: it must be above -100% and at most 1000%",
                f64::from(bp) / 100.0
            ),
        ))
    }
}

/// A fixed amount per point: at most [`FIXED_BYTES_MAX`] bytes either way.
pub fn check_fixed_bytes(field: &str, bytes: i64) -> Checked {
    if (-FIXED_BYTES_MAX..=FIXED_BYTES_MAX).contains(&bytes) {
        Ok(())
    } else {
        Err(FieldError::new(
            field,
            format!("{bytes} bytes per point is out of range: at most {FIXED_BYTES_MAX} bytes (4,000,000 MB) either way"),
        ))
    }
}

impl LevelOffsets {
    /// Both kinds, with the field names under `prefix` (`""`, `node.`...).
    pub fn validate(&self) -> Checked {
        if let Some(bp) = self.offset_bp {
            check_bp("offset_bp", bp)?;
        }
        if let Some(bytes) = self.offset_fixed_bytes {
            check_fixed_bytes("offset_fixed_bytes", bytes)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MB: i64 = BYTES_PER_MB;

    fn set(bp: Option<i32>, fixed: Option<i64>) -> LevelOffsets {
        LevelOffsets { offset_bp: bp, offset_fixed_bytes: fixed }
    }

    #[test]
    fn percent_rounds_half_away_from_zero_then_the_fixed_amount_is_added() {
        assert_eq!(apply(1_000, 500, 0), 1_050);
        assert_eq!(apply(100, 50, 0), 101, "100.5 -> 101");
        assert_eq!(apply(10, -250, 0), 10, "9.75 -> 10");
        assert_eq!(apply(20, -250, 0), 20, "19.5 -> 20");
        assert_eq!(apply(3, 1_667, 0), 4, "3.5001 -> 4");
        assert_eq!(apply(u64::MAX, 0, 0), u64::MAX);
        assert_eq!(apply(u64::MAX, 100_000, 0), u64::MAX, "saturates");
        // After the percentage: 1000 MB + 10 % = 1100 MB, + 5 MB.
        assert_eq!(apply(1_000_000_000, 1_000, 5 * MB), 1_105_000_000);
        // The order matters: (1000 + 10 %) - 100 = 1000, not (1000 - 100) + 10 % = 990.
        assert_eq!(apply(1_000, 1_000, -100), 1_000);
    }

    #[test]
    fn a_point_never_goes_below_zero_and_a_silent_point_stays_silent() {
        assert_eq!(apply(3 * MB as u64, 0, -5 * MB), 0, "clamped at 0");
        assert_eq!(apply(5 * MB as u64, 0, -5 * MB), 0);
        assert_eq!(apply(5 * MB as u64 + 1, 0, -5 * MB), 1);
        assert_eq!(apply(0, 0, 5 * MB), 0, "raw 0 stays 0");
        assert_eq!(apply(0, 100_000, FIXED_BYTES_MAX), 0);
        assert_eq!(apply(1, 0, 5 * MB), 5 * MB as u64 + 1);
        assert_eq!(apply(1, -9_999, 0), 0, "0.0001 rounds to 0");
        assert_eq!(apply(u64::MAX, 0, FIXED_BYTES_MAX), u64::MAX, "saturates");
    }

    #[test]
    fn the_most_specific_level_that_is_set_wins_per_kind() {
        let global = set(Some(300), Some(MB));
        let e = resolve(global, LevelOffsets::default(), LevelOffsets::default());
        assert_eq!(
            (e.offset_bp, e.offset_bp_level, e.offset_fixed_bytes, e.offset_fixed_level),
            (300, Level::Global, MB, Level::Global)
        );
        let e = resolve(global, set(Some(-200), None), LevelOffsets::default());
        assert_eq!((e.offset_bp, e.offset_bp_level), (-200, Level::Node));
        assert_eq!((e.offset_fixed_bytes, e.offset_fixed_level), (MB, Level::Global), "per kind");
        let e = resolve(global, set(Some(-200), Some(-2 * MB)), set(None, Some(0)));
        assert_eq!((e.offset_bp, e.offset_bp_level), (-200, Level::Node));
        assert_eq!(
            (e.offset_fixed_bytes, e.offset_fixed_level),
            (0, Level::Machine),
            "0 set at the machine is set"
        );
        let e = resolve(global, set(Some(-200), None), set(Some(0), None));
        assert_eq!((e.offset_bp, e.offset_bp_level), (0, Level::Machine));
        assert_eq!(e.apply(1_000), 1_000 + MB as u64);
        let e = resolve(LevelOffsets::default(), LevelOffsets::default(), LevelOffsets::default());
        assert_eq!(e, Effective::default());
        assert_eq!(e.apply(12_345), 12_345);
    }

    #[test]
    fn ranges() {
        assert!(check_bp("o", -9_999).is_ok() && check_bp("o", 100_000).is_ok());
        assert!(check_bp("o", -10_000).is_err() && check_bp("o", 100_001).is_err());
        assert!(check_fixed_bytes("f", -FIXED_BYTES_MAX).is_ok());
        assert_eq!(check_fixed_bytes("f", FIXED_BYTES_MAX + 1).map_err(|e| e.field), Err("f".into()));
        assert_eq!(
            set(None, Some(i64::MIN)).validate().map_err(|e| e.field),
            Err("offset_fixed_bytes".into())
        );
    }
}
