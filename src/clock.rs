//! Time, passed in: wall time names slots, boot time measures durations. Tests use
//! [`SimClock`] to drive hours of simulated time in milliseconds.

use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use crate::shutdown::Shutdown;

/// What the kernel says about the wall clock (`adjtimex`: `STA_UNSYNC` / `TIME_ERROR`).
/// chrony, ntpd and systemd-timesyncd all keep it; `date -s` sets it unsynchronised.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClockSync {
    Synced,
    Unsynced,
}

pub trait Clock: Send + Sync {
    /// Whether the wall clock is synchronised (NTP). Readings are taken either way; hours are
    /// built for pushing only from a synchronised clock (or one the operator trusts).
    fn sync(&self) -> ClockSync {
        ClockSync::Synced
    }
    /// Wall clock, unix milliseconds. May step (NTP, operator).
    fn wall_ms(&self) -> i64;
    /// CLOCK_BOOTTIME in milliseconds: never steps, keeps counting across suspend and across
    /// agent restarts within one boot, so it measures the time between two readings.
    fn boot_ms(&self) -> u64;
    /// Sleep `ms` milliseconds or until shutdown is requested. Returns true on shutdown.
    fn sleep_ms(&self, ms: u64, shutdown: &Shutdown) -> bool;
    /// Sleep like [`Clock::sleep_ms`], or until a nudge after `nudges_seen` (the push thread,
    /// which sleeps until its next due time). Returns true on shutdown.
    fn sleep_or_nudge_ms(&self, ms: u64, shutdown: &Shutdown, nudges_seen: u64) -> bool {
        let _ = nudges_seen;
        self.sleep_ms(ms, shutdown)
    }
}

/// The real clocks of the host.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

/// The kernel's synchronisation state: read-only `adjtimex` (modes = 0), allowed unprivileged.
/// One of the agent's two unsafe calls (the other: `statedb::release_freed_memory`): nix
/// has no wrapper for `adjtimex` and no crate does only this; the call reads into a zeroed plain struct and changes nothing.
#[allow(unsafe_code)]
pub fn kernel_clock_sync() -> ClockSync {
    // SAFETY: `timex` is plain old data; all-zero is a valid value and `modes = 0` only reads.
    let mut tx: libc::timex = unsafe { std::mem::zeroed() };
    // SAFETY: `tx` is a valid, exclusively borrowed `timex` for the duration of the call.
    let state = unsafe { libc::adjtimex(&mut tx) };
    if state == -1 || state == libc::TIME_ERROR || tx.status & libc::STA_UNSYNC != 0 {
        ClockSync::Unsynced
    } else {
        ClockSync::Synced
    }
}

impl Clock for SystemClock {
    fn sync(&self) -> ClockSync {
        kernel_clock_sync()
    }

    fn wall_ms(&self) -> i64 {
        chrono::Utc::now().timestamp_millis()
    }

    fn boot_ms(&self) -> u64 {
        use nix::time::{clock_gettime, ClockId};
        match clock_gettime(ClockId::CLOCK_BOOTTIME) {
            Ok(ts) => (ts.tv_sec() as u64) * 1000 + (ts.tv_nsec() as u64) / 1_000_000,
            // CLOCK_BOOTTIME exists since Linux 2.6.39 (CentOS 7 has 3.10); this cannot fail there.
            Err(_) => 0,
        }
    }

    fn sleep_ms(&self, ms: u64, shutdown: &Shutdown) -> bool {
        shutdown.wait_timeout(Duration::from_millis(ms))
    }

    fn sleep_or_nudge_ms(&self, ms: u64, shutdown: &Shutdown, nudges_seen: u64) -> bool {
        shutdown.wait_timeout_or_nudge(Duration::from_millis(ms), nudges_seen)
    }
}

/// A simulated clock: sleeping advances time instantly. Steps of the wall clock are injected
/// with [`SimClock::step_wall_ms`].
#[derive(Debug, Clone)]
pub struct SimClock {
    inner: Arc<(Mutex<SimTime>, Condvar)>,
}

#[derive(Debug, Clone, Copy)]
struct SimTime {
    wall_ms: i64,
    boot_ms: u64,
    synced: bool,
}

impl SimClock {
    pub fn new(wall_ms: i64, boot_ms: u64) -> Self {
        SimClock { inner: Arc::new((Mutex::new(SimTime { wall_ms, boot_ms, synced: true }), Condvar::new())) }
    }

    fn with<T>(&self, f: impl FnOnce(&mut SimTime) -> T) -> T {
        let mut guard = match self.inner.0.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        };
        f(&mut guard)
    }

    /// Let `ms` pass on both clocks.
    pub fn advance_ms(&self, ms: u64) {
        self.with(|t| {
            t.wall_ms += ms as i64;
            t.boot_ms += ms;
        });
    }

    /// Step only the wall clock (an NTP step or an operator running `date -s`).
    pub fn step_wall_ms(&self, delta_ms: i64) {
        self.with(|t| t.wall_ms += delta_ms);
    }

    /// What the kernel will say about synchronisation (NTP lost, `date -s`, NTP synced).
    pub fn set_synced(&self, synced: bool) {
        self.with(|t| t.synced = synced);
    }

    /// A reboot: boot time starts again near zero.
    pub fn reboot(&self, boot_ms_after: u64) {
        self.with(|t| t.boot_ms = boot_ms_after);
    }
}

impl Clock for SimClock {
    fn sync(&self) -> ClockSync {
        if self.with(|t| t.synced) {
            ClockSync::Synced
        } else {
            ClockSync::Unsynced
        }
    }
    fn wall_ms(&self) -> i64 {
        self.with(|t| t.wall_ms)
    }
    fn boot_ms(&self) -> u64 {
        self.with(|t| t.boot_ms)
    }
    fn sleep_ms(&self, ms: u64, shutdown: &Shutdown) -> bool {
        self.advance_ms(ms);
        shutdown.is_requested()
    }
}

/// Where a demo clock started: real wall time `real_ms` was demo time `demo_ms`. Persisted in
/// the state database so the demo clock runs on across restarts instead of jumping back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DemoOrigin {
    pub scale: u32,
    pub real_ms: i64,
    pub demo_ms: i64,
}

impl DemoOrigin {
    /// The origin for a run starting at real time `now_real_ms`: the persisted one when the
    /// scale is unchanged; re-based at the demo time it reached when the scale changed.
    pub fn resume(previous: Option<DemoOrigin>, scale: u32, now_real_ms: i64) -> DemoOrigin {
        let scale = scale.max(1);
        match previous {
            Some(p) if p.scale == scale => p,
            Some(p) => DemoOrigin { scale, real_ms: now_real_ms, demo_ms: p.demo_at(now_real_ms) },
            None => DemoOrigin { scale, real_ms: now_real_ms, demo_ms: now_real_ms },
        }
    }

    fn demo_at(&self, real_ms: i64) -> i64 {
        self.demo_ms.saturating_add((real_ms - self.real_ms).saturating_mul(i64::from(self.scale)))
    }
}

/// DEMO ONLY: the host's clocks running `scale` times faster from the origin (60 = one report
/// hour per real minute). Points measured this way are not real.
#[derive(Debug, Clone, Copy)]
pub struct ScaledClock {
    origin: DemoOrigin,
}

impl ScaledClock {
    /// A demo clock starting now (no persisted origin: the CLI's view).
    pub fn new(scale: u32) -> Self {
        ScaledClock::continuing(DemoOrigin::resume(None, scale, SystemClock.wall_ms()))
    }

    /// A demo clock continuing from a persisted origin.
    pub fn continuing(origin: DemoOrigin) -> Self {
        ScaledClock { origin }
    }

    pub fn origin(&self) -> DemoOrigin {
        self.origin
    }
}

impl Clock for ScaledClock {
    fn sync(&self) -> ClockSync {
        SystemClock.sync()
    }
    fn wall_ms(&self) -> i64 {
        self.origin.demo_at(SystemClock.wall_ms())
    }
    fn boot_ms(&self) -> u64 {
        SystemClock.boot_ms() * u64::from(self.origin.scale)
    }
    fn sleep_ms(&self, ms: u64, shutdown: &Shutdown) -> bool {
        shutdown.wait_timeout(Duration::from_millis((ms / u64::from(self.origin.scale)).max(1)))
    }

    fn sleep_or_nudge_ms(&self, ms: u64, shutdown: &Shutdown, nudges_seen: u64) -> bool {
        let real_ms = (ms / u64::from(self.origin.scale)).max(1);
        shutdown.wait_timeout_or_nudge(Duration::from_millis(real_ms), nudges_seen)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_demo_clock_continues_across_restarts() {
        let first = DemoOrigin::resume(None, 60, 1_000_000);
        assert_eq!(first, DemoOrigin { scale: 60, real_ms: 1_000_000, demo_ms: 1_000_000 });
        // Restarted 10 real seconds later: the demo time is 600 s on, not back at real time.
        let again = DemoOrigin::resume(Some(first), 60, 1_010_000);
        assert_eq!(again.demo_at(1_010_000), 1_600_000);
        // The scale changed: the new clock starts where the old one had got to.
        let faster = DemoOrigin::resume(Some(first), 120, 1_010_000);
        assert_eq!(faster.demo_at(1_010_000), 1_600_000);
        assert_eq!(faster.demo_at(1_011_000), 1_720_000);
    }
}
