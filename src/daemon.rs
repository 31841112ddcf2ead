//! `pushagent run`: one process, self-scheduling, no cron. For now it runs the sampler; the
//! push pipeline and config-service sync join it as their own threads in later issues.

use std::fs::File;
use std::path::Path;

use nix::fcntl::{Flock, FlockArg};

use crate::clock::SystemClock;
use crate::config::AgentConfig;
use crate::netif::{HostRoot, InterfaceChoiceConfig};
use crate::ring::Ring;
use crate::sampler::Sampler;
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
        ..TallyConfig::default()
    }
}

pub fn run(config: &AgentConfig, root: HostRoot) -> Result<(), DaemonError> {
    let shutdown = Shutdown::new();
    shutdown.on_signals().map_err(DaemonError::Signals)?;
    std::fs::create_dir_all(&config.state_dir)
        .map_err(|source| DaemonError::StateDir { path: config.state_dir.display().to_string(), source })?;
    let _lock = lock_state_dir(&config.state_dir)?;
    let (ring, notice) = Ring::open(&config.state_db_path())?;
    if let Some(notice) = notice {
        log::error!("{notice}; counting continues in a fresh ring");
    }
    log::info!(
        "pushagent {} starting: ring {}, report time zone {}, sample every {} s",
        env!("CARGO_PKG_VERSION"),
        config.state_db_path().display(),
        config.report_timezone.label(),
        config.sample_interval_secs
    );
    let source = SysfsSource::new(
        root,
        InterfaceChoiceConfig { interface: config.interface.clone(), allow_virtual: config.allow_virtual },
    );
    let clock = SystemClock;
    let mut sampler = Sampler::new(
        &clock,
        Box::new(source),
        ring,
        tally_config(config),
        config.report_timezone,
        config.retention_days,
        shutdown,
    )?;
    sampler.run()?;
    Ok(())
}
