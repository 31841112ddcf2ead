//! Time, passed in: wall time names slots, boot time measures durations. Tests use
//! [`SimClock`] to drive hours of simulated time in milliseconds.

use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use crate::shutdown::Shutdown;

pub trait Clock: Send + Sync {
    /// Wall clock, unix milliseconds. May step (NTP, operator).
    fn wall_ms(&self) -> i64;
    /// CLOCK_BOOTTIME in milliseconds: never steps, keeps counting across suspend and across
    /// agent restarts within one boot, so it measures the time between two readings.
    fn boot_ms(&self) -> u64;
    /// Sleep `ms` milliseconds or until shutdown is requested. Returns true on shutdown.
    fn sleep_ms(&self, ms: u64, shutdown: &Shutdown) -> bool;
}

/// The real clocks of the host.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
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
}

impl SimClock {
    pub fn new(wall_ms: i64, boot_ms: u64) -> Self {
        SimClock { inner: Arc::new((Mutex::new(SimTime { wall_ms, boot_ms }), Condvar::new())) }
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

    /// A reboot: boot time starts again near zero.
    pub fn reboot(&self, boot_ms_after: u64) {
        self.with(|t| t.boot_ms = boot_ms_after);
    }
}

impl Clock for SimClock {
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

/// DEMO ONLY: the host's clocks running `scale` times faster from the moment the agent
/// started (60 = one report hour per real minute). Points measured this way are not real.
#[derive(Debug, Clone, Copy)]
pub struct ScaledClock {
    scale: i64,
    start_wall_ms: i64,
    start_boot_ms: u64,
}

impl ScaledClock {
    pub fn new(scale: u32) -> Self {
        let real = SystemClock;
        ScaledClock {
            scale: i64::from(scale.max(1)),
            start_wall_ms: real.wall_ms(),
            start_boot_ms: real.boot_ms(),
        }
    }
}

impl Clock for ScaledClock {
    fn wall_ms(&self) -> i64 {
        let elapsed = SystemClock.boot_ms().saturating_sub(self.start_boot_ms) as i64;
        self.start_wall_ms + elapsed * self.scale
    }
    fn boot_ms(&self) -> u64 {
        SystemClock.boot_ms() * self.scale as u64
    }
    fn sleep_ms(&self, ms: u64, shutdown: &Shutdown) -> bool {
        shutdown.wait_timeout(Duration::from_millis((ms / self.scale as u64).max(1)))
    }
}
