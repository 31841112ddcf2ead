//! `pushagent run`: one process, self-scheduling, no cron. For now it runs the sampler; the
//! push pipeline and config-service sync join it as their own threads in later issues.

use std::fs::File;
use std::path::Path;

use nix::fcntl::{Flock, FlockArg};

use crate::clock::{Clock, DemoOrigin, ScaledClock, SystemClock};
use crate::config::{AgentConfig, SharedConfig};
use crate::health::Health;
use crate::netif::HostRoot;
use crate::push::client::CustomerClient;
use crate::push::outbox::Outbox;
use crate::push::pusher::{Pusher, StepReport};
use crate::ring::Ring;
use crate::sampler::Sampler;
use crate::service::sync::ServiceSync;
use crate::shutdown::Shutdown;
use crate::source::SysfsSource;
use crate::tally::TallyConfig;

#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    #[error("cannot create state directory {path}: {source}")]
    StateDir { path: String, source: std::io::Error },
    #[error("another pushagent is already running with state directory {0} (lock held)")]
    AlreadyRunning(String),
    #[error("cannot lock {path}: {source}")]
    Lock { path: String, source: std::io::Error },
    #[error(transparent)]
    Ring(#[from] crate::ring::RingError),
    #[error(transparent)]
    StateDb(#[from] crate::statedb::StateDbError),
    #[error("cannot install signal handling: {0}")]
    Signals(std::io::Error),
    #[error("push pipeline: {0}")]
    Push(String),
}

/// Hold an exclusive lock on `state_dir/agent.lock` for the life of the process: two agents
/// on one ring would count every byte twice.
fn lock_state_dir(state_dir: &Path) -> Result<Flock<File>, DaemonError> {
    let path = state_dir.join("agent.lock");
    let file = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|source| DaemonError::Lock { path: path.display().to_string(), source })?;
    Flock::lock(file, FlockArg::LockExclusiveNonblock).map_err(|(_, errno)| {
        if errno == nix::errno::Errno::EWOULDBLOCK {
            DaemonError::AlreadyRunning(state_dir.display().to_string())
        } else {
            DaemonError::Lock { path: path.display().to_string(), source: errno.into() }
        }
    })
}

pub fn tally_config(config: &AgentConfig) -> TallyConfig {
    TallyConfig {
        sample_interval_ms: config.sample_interval_secs as i64 * 1000,
        fallback_link_bits_per_sec: config.max_link_bits_per_sec,
        counter_bits: config.counter_bits,
        trust_unsynced_clock: config.trust_unsynced_clock,
        max_forward_step_ms: config.clock_step_bound_secs as i64 * 1000,
        max_backward_hold_ms: config.max_backward_hold_secs as i64 * 1000,
        ..TallyConfig::default()
    }
}

/// True when an agent holds the state directory's lock (the CLI then leaves sending to it).
pub fn agent_is_running(state_dir: &Path) -> bool {
    match lock_state_dir(state_dir) {
        Ok(_lock) => false, // dropped at once: we only looked
        Err(DaemonError::AlreadyRunning(_)) => true,
        Err(_) => false,
    }
}

/// Wake the running agent's push thread (it sleeps until its next due time): SIGUSR1 to the
/// process holding the state directory's lock, found in `/proc/locks` by the lock file's
/// inode (no pid file that could name another process). Returns the pid signalled.
pub fn wake_running_agent(state_dir: &Path) -> Result<i32, String> {
    use std::os::unix::fs::MetadataExt;
    let lock = state_dir.join("agent.lock");
    let inode = std::fs::metadata(&lock).map_err(|e| format!("{}: {e}", lock.display()))?.ino();
    let locks = std::fs::read_to_string("/proc/locks").map_err(|e| format!("/proc/locks: {e}"))?;
    let pid = flock_holder(&locks, inode).ok_or_else(|| format!("no process holds {}", lock.display()))?;
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGUSR1)
        .map_err(|e| format!("cannot signal pushagent (pid {pid}): {e}"))?;
    Ok(pid)
}

/// The pid holding a write `flock` on the file with this inode, from `/proc/locks`
/// (`1: FLOCK  ADVISORY  WRITE 4242 fd:01:393219 0 EOF`; waiters are `1: -> FLOCK ...`).
fn flock_holder(proc_locks: &str, inode: u64) -> Option<i32> {
    proc_locks.lines().find_map(|line| {
        let fields: Vec<&str> = line.split_whitespace().collect();
        match fields.as_slice() {
            [_, "FLOCK", _, "WRITE", pid, device_inode, ..]
                if device_inode.rsplit(':').next() == Some(&inode.to_string()) =>
            {
                pid.parse().ok()
            }
            _ => None,
        }
    })
}

pub fn run(config: &AgentConfig, root: HostRoot) -> Result<(), DaemonError> {
    let shutdown = Shutdown::new();
    shutdown.on_signals().map_err(DaemonError::Signals)?;
    std::fs::create_dir_all(&config.state_dir)
        .map_err(|source| DaemonError::StateDir { path: config.state_dir.display().to_string(), source })?;
    let _lock = lock_state_dir(&config.state_dir)?;
    let (mut ring, notice) = Ring::open(&config.state_db_path())?;
    if let Some(notice) = notice {
        log::error!("{notice}; counting continues in a fresh database");
    }
    log::info!(
        "pushagent {} starting: state {}, report time zone {}, sample every {} s",
        env!("CARGO_PKG_VERSION"),
        config.state_db_path().display(),
        config.report_timezone.label(),
        config.sample_interval_secs
    );
    let clock: Box<dyn Clock> = if config.demo_time_scale > 1 {
        log::warn!(
            "DEMO TIME SCALE x{}: the agent's clock runs fast; these points are NOT real traffic per 5 minutes",
            config.demo_time_scale
        );
        // The demo clock continues where the last run left it: a restart is no backward step.
        let origin = DemoOrigin::resume(ring.demo_origin()?, config.demo_time_scale, SystemClock.wall_ms());
        ring.save_demo_origin(&origin)?;
        Box::new(ScaledClock::continuing(origin))
    } else {
        Box::new(SystemClock)
    };
    let clock: &dyn Clock = clock.as_ref();
    // What is wrong right now, as every thread sees it; the heartbeat carries it.
    let health = Health::new();
    // The report time zone in force: a change that would rename or lose an hour is refused.
    let mut config = config.clone();
    let outbox =
        Outbox::open_existing(&config.state_db_path()).map_err(|e| DaemonError::Push(e.to_string()))?;
    crate::push::zone::settle_zone(&mut config, &outbox, &health, clock.wall_ms() / 1000)
        .map_err(|e| DaemonError::Push(e.to_string()))?;
    drop(outbox);
    // The start-up's migrations and checks of a big file freed megabytes: give them back.
    crate::statedb::release_freed_memory();
    let config = &config;
    let shared = SharedConfig::new(config.clone());
    // The service link first: a cached service config applies before anything starts.
    let sync = match &config.service.url {
        Some(_) => {
            let outbox = Outbox::open_existing(&config.state_db_path())
                .map_err(|e| DaemonError::Push(e.to_string()))?;
            let mut sync = ServiceSync::new(clock, config.clone(), shared.clone(), outbox, root.clone())
                .map_err(|e| DaemonError::Push(e.to_string()))?;
            sync.health = health.clone();
            Some(sync)
        }
        None => None,
    };
    let (_, effective) = shared.get();
    let mut pusher = build_pusher(&effective, clock)?;
    pusher.health = health.clone();
    let source = SysfsSource::new(root, effective.interface_choice()).following(shared.clone());
    let mut sampler = Sampler::new(
        clock,
        Box::new(source),
        ring,
        tally_config(config),
        config.report_timezone,
        config.retention_days,
        shutdown.clone(),
    )?
    .following_push_switch(shared.clone());
    sampler.health = health.clone();
    // The sampler runs on this thread and waits on nothing but the clock; the push side has
    // its own thread and its own database connection.
    std::thread::scope(|scope| {
        let push_shutdown = shutdown.clone();
        let push_shared = shared.clone();
        let push_thread = std::thread::Builder::new()
            .name("push".into())
            .spawn_scoped(scope, move || push_loop(pusher, clock, &push_shared, &push_shutdown))
            .map_err(|e| DaemonError::Push(format!("cannot start the push thread: {e}")))?;
        let service_thread = match sync {
            Some(sync) => {
                let service_shutdown = shutdown.clone();
                Some(
                    std::thread::Builder::new()
                        .name("service".into())
                        .spawn_scoped(scope, move || service_loop(sync, clock, &service_shutdown))
                        .map_err(|e| DaemonError::Push(format!("cannot start the service thread: {e}")))?,
                )
            }
            None => None,
        };
        let sampled = sampler.run();
        shutdown.request();
        let _ = push_thread.join();
        if let Some(t) = service_thread {
            let _ = t.join();
        }
        sampled.map_err(DaemonError::from)
    })
}

pub fn build_pusher<'a>(config: &AgentConfig, clock: &'a dyn Clock) -> Result<Pusher<'a>, DaemonError> {
    let path = config.state_db_path();
    // The state database was checked and migrated when it was first opened.
    let ring = Ring::open_existing(&path)?;
    let outbox = Outbox::open_existing(&path).map_err(|e| DaemonError::Push(e.to_string()))?;
    let client = CustomerClient::for_agent(&config.customer, &path).map_err(DaemonError::Push)?;
    Ok(Pusher { clock, config: config.clone(), ring, outbox, client, health: Health::new() })
}

/// Longest sleep of the push thread (real time) when nothing nudges it: the bound on how late
/// it notices what nobody tells it (a wall clock stepped forward, an older CLI that does not
/// signal). Nudged, it wakes at once (see `push::schedule`).
const PUSH_SLEEP_CAP_MS: i64 = 300_000;
/// After a step that did nothing although something is overdue (the customer or the database
/// failing in a way no backoff recorded): try again this much later, never spin.
const PUSH_RETRY_MS: i64 = 5_000;

fn push_loop(mut pusher: Pusher<'_>, clock: &dyn Clock, shared: &SharedConfig, shutdown: &Shutdown) {
    let mut seen = shared.generation();
    let missing = pusher.missing_settings();
    if !missing.is_empty() && pusher.config.service.url.is_some() {
        log::info!(
            "waiting for the config service to provide {}; reports wait in the outbox",
            missing.join(", ")
        );
    }
    // History past its retention goes at start, once the clock is trusted (the first run
    // after an upgrade removes years in short transactions), then after each hour built.
    let mut prune = true;
    loop {
        if shutdown.is_requested() {
            return;
        }
        // Taken before the step: a nudge during it (the sampler's boundary reading) is kept.
        let nudges = shutdown.nudges();
        if shared.generation() != seen {
            let (generation, config) = shared.get();
            seen = generation;
            if let Err(e) = pusher.reconfigure(config) {
                log::error!("cannot apply the new customer profile (keeping the old one): {e}");
            }
        }
        let progressed = match pusher.step() {
            Ok(done) => {
                prune |= done.built > 0;
                done != StepReport::default()
            }
            Err(e) => {
                log::error!("push step failed (will retry): {e}");
                false
            }
        };
        if prune {
            match pusher.prune_history() {
                Ok(Some(_)) => prune = false,
                // The clock is not trusted yet: the sampler nudges this thread when it is.
                Ok(None) => {}
                Err(e) => {
                    prune = false;
                    log::error!("pruning the outbox history failed (will retry after the next hour): {e}");
                }
            }
        }
        let scale = i64::from(pusher.config.demo_time_scale.max(1));
        let now = clock.wall_ms();
        let wait = match pusher.next_due_ms() {
            Ok(Some(next)) if next > now => (next - now).min(PUSH_SLEEP_CAP_MS * scale),
            Ok(Some(_)) if progressed => continue, // more of the same is due: go on
            Ok(Some(_)) | Err(_) => PUSH_RETRY_MS * scale,
            Ok(None) => PUSH_SLEEP_CAP_MS * scale,
        };
        log::debug!("push thread sleeps {wait} ms");
        if clock.sleep_or_nudge_ms(wait as u64, shutdown, nudges) {
            return;
        }
    }
}

/// Heartbeat, config pull and history mirror every heartbeat period of the service
/// (`config_interval_secs` until it has said it). Failures are logged (the first of a run,
/// then every tenth) and retried: the service is not on the data path.
pub fn service_loop(mut sync: ServiceSync<'_>, clock: &dyn Clock, shutdown: &Shutdown) {
    let mut failures: u64 = 0;
    loop {
        let generation = sync.shared.generation();
        let stepped = sync.step();
        if sync.shared.generation() != generation {
            shutdown.nudge(); // a new config (switch, credentials) may make something due now
        }
        match stepped {
            Ok(report) => {
                if failures > 0 {
                    log::info!("config service reachable again after {failures} failed rounds");
                }
                failures = 0;
                if report.history_items_sent > 0 {
                    log::info!(
                        "mirrored {} history item(s) to the config service",
                        report.history_items_sent
                    );
                }
            }
            Err(e) => {
                failures += 1;
                if failures % 10 == 1 {
                    log::warn!("config service round failed (#{failures}, will retry): {e}");
                }
            }
        }
        if clock.sleep_ms(sync.period_ms(), shutdown) {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lock_holder_is_found_by_inode_and_waiters_are_not() {
        let locks = "1: POSIX  ADVISORY  WRITE 17 fd:01:393219 0 EOF\n\
                     2: FLOCK  ADVISORY  WRITE 4242 fd:01:393219 0 EOF\n\
                     2: -> FLOCK  ADVISORY  WRITE 5151 fd:01:393219 0 EOF\n\
                     3: FLOCK  ADVISORY  WRITE 99 fd:01:7 0 EOF\n";
        assert_eq!(flock_holder(locks, 393219), Some(4242));
        assert_eq!(flock_holder(locks, 7), Some(99));
        assert_eq!(flock_holder(locks, 8), None);
    }

    #[test]
    fn the_running_agent_is_found_through_its_lock() {
        let dir = tempfile::tempdir().expect("tempdir");
        let _lock = lock_state_dir(dir.path()).expect("lock");
        use std::os::unix::fs::MetadataExt;
        let inode = std::fs::metadata(dir.path().join("agent.lock")).expect("lock file").ino();
        let locks = std::fs::read_to_string("/proc/locks").expect("/proc/locks");
        assert_eq!(flock_holder(&locks, inode), Some(std::process::id() as i32));
    }
}
