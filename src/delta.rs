//! From two counter readings to the bytes that passed between them: resets (reboot, interface
//! re-created, counter went backwards) count from zero; only a plausible 32-bit wrap of a
//! counter known to be 32-bit adds 2^32 − old + new. A reset is never mistaken for a wrap
//! (vnStat's "+4 GiB" bug).

use crate::netif::IfCounters;

const TWO_POW_32: u64 = 1 << 32;

/// How the current reading relates to the previous one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Continuity {
    /// Same boot, same interface incarnation: counters continue.
    Continuous,
    /// The host rebooted (boot id changed): counters restarted at zero at boot.
    Reboot,
    /// Same name, new ifindex: the interface was re-created and its counters started at zero.
    Recreated,
    /// Another interface is collected now: its current counters are only a baseline.
    Switched,
}

/// What happened to one counter between two readings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    Forward,
    /// A real 32-bit wrap.
    Wrap,
    /// The counter restarted (went backwards and could not have wrapped).
    Reset,
}

/// How wide the kernel's counters are. Sysfs counters are 64-bit on 64-bit kernels: there a
/// counter that goes backwards was reset, it cannot have wrapped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize)]
pub enum CounterBits {
    /// 64-bit unless the kernel is 32-bit (a 64-bit agent binary implies a 64-bit kernel).
    #[default]
    #[serde(rename = "auto")]
    Auto,
    #[serde(rename = "32")]
    Bits32,
    #[serde(rename = "64")]
    Bits64,
}

impl CounterBits {
    /// Whether a counter can wrap at 2^32 on this host.
    pub fn may_wrap_at_32(self) -> bool {
        match self {
            CounterBits::Bits32 => true,
            CounterBits::Bits64 => false,
            CounterBits::Auto => cfg!(target_pointer_width = "32"),
        }
    }
}

/// Limits that decide whether a backwards counter wrapped or was reset.
#[derive(Debug, Clone, Copy)]
pub struct WrapLimits {
    /// The counter is known to be 32-bit (32-bit kernel or an explicit setting).
    pub counter_is_32_bit: bool,
    /// Most units per second the link can carry (bytes or packets); None = unknown.
    pub max_per_sec: Option<u64>,
    /// Rate seen over the previous interval, units per second.
    pub previous_per_sec: u64,
}

/// Below this a wrap's implied rate is never compared with the previous rate (1 MB/s).
const RATE_FLOOR_PER_SEC: u64 = 1_000_000;

/// Delta of one counter over `elapsed_ms` when the readings are continuous.
/// A backwards step is a 32-bit wrap only if ALL hold: the counter is known to be 32-bit,
/// the old value fits in 32 bits, the link
/// could carry the implied amount in the time, and the implied rate is no more than 4× the
/// previous rate (or 1 MB/s). Otherwise it is a reset, and the new value counts from zero.
pub fn counter_step(old: u64, new: u64, elapsed_ms: u64, limits: WrapLimits) -> (u64, Step) {
    if new >= old {
        return (new - old, Step::Forward);
    }
    if limits.counter_is_32_bit && old < TWO_POW_32 {
        let wrapped = TWO_POW_32 - old + new;
        let secs_x1000 = u128::from(elapsed_ms.max(1));
        let implied_per_sec = u128::from(wrapped) * 1000 / secs_x1000;
        let link_ok = match limits.max_per_sec {
            Some(max) => implied_per_sec <= u128::from(max),
            None => false, // no link speed known: cannot prove a wrap, so it is a reset
        };
        let rate_ok = implied_per_sec <= u128::from(limits.previous_per_sec.max(RATE_FLOOR_PER_SEC)) * 4;
        if link_ok && rate_ok {
            return (wrapped, Step::Wrap);
        }
    }
    (new, Step::Reset)
}

/// Deltas of all counters between two readings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CounterDelta {
    pub counters: IfCounters,
    pub wrapped: bool,
    pub reset: bool,
}

/// Link limits for the byte and packet counters, from the link speed in bits/s.
#[derive(Debug, Clone, Copy, Default)]
pub struct LinkRates {
    pub counter_is_32_bit: bool,
    pub link_bits_per_sec: Option<u64>,
    pub rx_bytes_per_sec: u64,
    pub tx_bytes_per_sec: u64,
}

pub fn counters_delta(
    previous: &IfCounters,
    current: &IfCounters,
    continuity: Continuity,
    elapsed_ms: u64,
    rates: LinkRates,
) -> CounterDelta {
    match continuity {
        Continuity::Reboot | Continuity::Recreated => {
            return CounterDelta { counters: *current, wrapped: false, reset: true }
        }
        Continuity::Switched => {
            return CounterDelta { counters: IfCounters::default(), wrapped: false, reset: false }
        }
        Continuity::Continuous => {}
    }
    let max_bytes = rates.link_bits_per_sec.map(|b| b / 8);
    // The smallest Ethernet frame is 64 bytes (84 on the wire): a safe packet-rate ceiling.
    let max_packets = max_bytes.map(|b| b / 64);
    let mut wrapped = false;
    let mut reset = false;
    let mut step = |old: u64, new: u64, max: Option<u64>, previous_per_sec: u64| {
        let limits =
            WrapLimits { counter_is_32_bit: rates.counter_is_32_bit, max_per_sec: max, previous_per_sec };
        let (d, s) = counter_step(old, new, elapsed_ms, limits);
        wrapped |= s == Step::Wrap;
        reset |= s == Step::Reset;
        d
    };
    let p = previous;
    let c = current;
    let counters = IfCounters {
        rx_bytes: step(p.rx_bytes, c.rx_bytes, max_bytes, rates.rx_bytes_per_sec),
        tx_bytes: step(p.tx_bytes, c.tx_bytes, max_bytes, rates.tx_bytes_per_sec),
        rx_packets: step(p.rx_packets, c.rx_packets, max_packets, u64::MAX / 8),
        tx_packets: step(p.tx_packets, c.tx_packets, max_packets, u64::MAX / 8),
        rx_errors: step(p.rx_errors, c.rx_errors, max_packets, u64::MAX / 8),
        tx_errors: step(p.tx_errors, c.tx_errors, max_packets, u64::MAX / 8),
        rx_dropped: step(p.rx_dropped, c.rx_dropped, max_packets, u64::MAX / 8),
        tx_dropped: step(p.tx_dropped, c.tx_dropped, max_packets, u64::MAX / 8),
    };
    CounterDelta { counters, wrapped, reset }
}

/// Units per second over an interval (0 for an empty interval).
pub fn per_sec(units: u64, elapsed_ms: u64) -> u64 {
    if elapsed_ms == 0 {
        return 0;
    }
    (u128::from(units) * 1000 / u128::from(elapsed_ms)).min(u128::from(u64::MAX)) as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    const GBIT: Option<u64> = Some(1_000_000_000 / 8);

    #[test]
    fn busy_32bit_counter_wraps_exactly() {
        // 100 MB/s steady, 10 s interval: 1e9 bytes; counter was 2^32 - 400e6.
        let old = TWO_POW_32 - 400_000_000;
        let new = 600_000_000;
        let (d, s) = counter_step(
            old,
            new,
            10_000,
            WrapLimits { counter_is_32_bit: true, max_per_sec: GBIT, previous_per_sec: 100_000_000 },
        );
        assert_eq!((d, s), (1_000_000_000, Step::Wrap));
    }

    #[test]
    fn reset_from_3_9_gib_to_1_kib_is_not_a_wrap() {
        let old = 3_900 * 1024 * 1024 * 1024 / 1000; // 3.9 GiB
        let (d, s) = counter_step(
            old,
            1024,
            10_000,
            WrapLimits { counter_is_32_bit: true, max_per_sec: GBIT, previous_per_sec: 50_000 },
        );
        assert_eq!((d, s), (1024, Step::Reset));
    }

    #[test]
    fn above_32_bits_never_wraps() {
        let (d, s) = counter_step(
            TWO_POW_32 + 5,
            3,
            10_000,
            WrapLimits { counter_is_32_bit: true, max_per_sec: GBIT, previous_per_sec: u64::MAX / 8 },
        );
        assert_eq!((d, s), (3, Step::Reset));
    }

    #[test]
    fn unknown_link_speed_cannot_prove_a_wrap() {
        let (d, s) = counter_step(
            TWO_POW_32 - 10,
            10,
            10_000,
            WrapLimits { counter_is_32_bit: true, max_per_sec: None, previous_per_sec: 0 },
        );
        assert_eq!((d, s), (10, Step::Reset));
    }

    #[test]
    fn a_64_bit_counter_that_goes_backwards_was_reset() {
        // 4,200,000,000 -> 1,000 right after 10 MB/s: a 32-bit wrap would be plausible by rate,
        // but a 64-bit counter cannot wrap there.
        let limits = WrapLimits { counter_is_32_bit: false, max_per_sec: GBIT, previous_per_sec: 10_000_000 };
        assert_eq!(counter_step(4_200_000_000, 1_000, 10_000, limits), (1_000, Step::Reset));
        let limits = WrapLimits { counter_is_32_bit: true, ..limits };
        assert_eq!(counter_step(TWO_POW_32 - 4_000, 1_001, 10_000, limits), (5_001, Step::Wrap));
    }

    #[test]
    fn reboot_counts_from_zero() {
        let prev = IfCounters { tx_bytes: 5_000, ..Default::default() };
        let cur = IfCounters { tx_bytes: 70, ..Default::default() };
        let d = counters_delta(&prev, &cur, Continuity::Reboot, 0, LinkRates::default());
        assert_eq!(d.counters.tx_bytes, 70);
        assert!(d.reset);
    }
}
