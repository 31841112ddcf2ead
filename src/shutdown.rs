//! A shutdown request that sleeping threads wake up for, and the push thread's wake-ups: the
//! push thread sleeps until its next due time, and whoever makes something due earlier (a new
//! config, the sampler's hour boundary, the CLI's SIGUSR1) nudges it.

use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Default)]
pub struct Shutdown {
    inner: Arc<(Mutex<State>, Condvar)>,
}

#[derive(Debug, Default)]
struct State {
    requested: bool,
    /// Bumped by every nudge: a sleeper that saw an older count wakes at once.
    nudges: u64,
}

impl Shutdown {
    pub fn new() -> Self {
        Self::default()
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.inner.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn request(&self) {
        self.state().requested = true;
        self.inner.1.notify_all();
    }

    pub fn is_requested(&self) -> bool {
        self.state().requested
    }

    /// Something may be due earlier than the push thread planned: wake it.
    pub fn nudge(&self) {
        self.state().nudges += 1;
        self.inner.1.notify_all();
    }

    /// The nudges so far: take this before deciding how long to sleep, so a nudge that comes
    /// in between is not lost.
    pub fn nudges(&self) -> u64 {
        self.state().nudges
    }

    /// Wait up to `timeout`; true if shutdown was requested.
    pub fn wait_timeout(&self, timeout: Duration) -> bool {
        self.wait(timeout, None)
    }

    /// Wait up to `timeout` or until a nudge after `seen` (see [`Shutdown::nudges`]); true if
    /// shutdown was requested.
    pub fn wait_timeout_or_nudge(&self, timeout: Duration, seen: u64) -> bool {
        self.wait(timeout, Some(seen))
    }

    fn wait(&self, timeout: Duration, nudges_seen: Option<u64>) -> bool {
        let cvar = &self.inner.1;
        let deadline = Instant::now() + timeout;
        let mut state = self.state();
        while !state.requested && nudges_seen.is_none_or(|seen| state.nudges == seen) {
            let now = Instant::now();
            if now >= deadline {
                break;
            }
            state = match cvar.wait_timeout(state, deadline - now) {
                Ok((g, _)) => g,
                Err(p) => p.into_inner().0,
            };
        }
        state.requested
    }

    /// Turn SIGTERM / SIGINT / SIGHUP into a shutdown request, and SIGUSR1 (sent by the CLI
    /// after it queued work) into a nudge. The signals are blocked in the calling thread (call
    /// this before spawning others, so they inherit the mask) and waited for in a dedicated
    /// thread: no unsafe signal handler needed.
    pub fn on_signals(&self) -> std::io::Result<()> {
        use nix::sys::signal::{SigSet, Signal};
        let mut set = SigSet::empty();
        set.add(Signal::SIGTERM);
        set.add(Signal::SIGINT);
        set.add(Signal::SIGHUP);
        set.add(Signal::SIGUSR1);
        set.thread_block().map_err(std::io::Error::from)?;
        let me = self.clone();
        std::thread::Builder::new().name("signals".into()).spawn(move || loop {
            match set.wait() {
                Ok(Signal::SIGUSR1) => {
                    log::debug!("received SIGUSR1: waking the push thread");
                    me.nudge();
                }
                Ok(sig) => {
                    log::info!("received {sig:?}: shutting down");
                    me.request();
                    return;
                }
                Err(_) => {
                    me.request();
                    return;
                }
            }
        })?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_nudge_wakes_a_sleeper_and_is_not_lost_before_it_sleeps() {
        let s = Shutdown::new();
        let seen = s.nudges();
        s.nudge(); // between reading the count and sleeping
        let started = Instant::now();
        assert!(!s.wait_timeout_or_nudge(Duration::from_secs(30), seen));
        assert!(started.elapsed() < Duration::from_secs(10));

        let seen = s.nudges();
        let waker = s.clone();
        let t = std::thread::spawn(move || {
            assert!(!waker.wait_timeout_or_nudge(Duration::from_secs(30), seen));
        });
        s.nudge();
        t.join().expect("woken by the nudge, not the 30 s timeout");
        // A plain wait (the sampler's) ignores nudges; shutdown ends it.
        let seen = s.nudges();
        s.request();
        assert!(s.wait_timeout_or_nudge(Duration::from_secs(30), seen));
    }
}
