//! A shutdown request that sleeping threads wake up for.

use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Default)]
pub struct Shutdown {
    inner: Arc<(Mutex<bool>, Condvar)>,
}

impl Shutdown {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn request(&self) {
        let (lock, cvar) = &*self.inner;
        let mut requested = lock.lock().unwrap_or_else(|p| p.into_inner());
        *requested = true;
        cvar.notify_all();
    }

    pub fn is_requested(&self) -> bool {
        *self.inner.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Wait up to `timeout`; true if shutdown was requested.
    pub fn wait_timeout(&self, timeout: Duration) -> bool {
        let (lock, cvar) = &*self.inner;
        let deadline = Instant::now() + timeout;
        let mut requested = lock.lock().unwrap_or_else(|p| p.into_inner());
        while !*requested {
            let now = Instant::now();
            if now >= deadline {
                break;
            }
            requested = match cvar.wait_timeout(requested, deadline - now) {
                Ok((g, _)) => g,
                Err(p) => p.into_inner().0,
            };
        }
        *requested
    }

    /// Turn SIGTERM / SIGINT / SIGHUP into a shutdown request. The signals are blocked in
    /// the calling thread (call this before spawning others, so they inherit the mask) and
    /// waited for in a dedicated thread: no unsafe signal handler needed.
    pub fn on_signals(&self) -> std::io::Result<()> {
        use nix::sys::signal::{SigSet, Signal};
        let mut set = SigSet::empty();
        set.add(Signal::SIGTERM);
        set.add(Signal::SIGINT);
        set.add(Signal::SIGHUP);
        set.thread_block().map_err(std::io::Error::from)?;
        let me = self.clone();
        std::thread::Builder::new().name("signals".into()).spawn(move || {
            if let Ok(sig) = set.wait() {
                log::info!("received {sig:?}: shutting down");
            }
            me.request();
        })?;
        Ok(())
    }
}
