//! The effective config, shared between the daemon's threads: the service thread replaces it
//! when the config service sends new switches, offsets or credentials; the sampler and the
//! pusher pick the new one up at their next step.

use std::sync::{Arc, Mutex};

use super::AgentConfig;

#[derive(Debug, Clone)]
pub struct SharedConfig {
    inner: Arc<Mutex<(u64, AgentConfig)>>,
}

impl SharedConfig {
    pub fn new(config: AgentConfig) -> Self {
        SharedConfig { inner: Arc::new(Mutex::new((0, config))) }
    }

    /// The current config and its generation (bumped by every replacement).
    pub fn get(&self) -> (u64, AgentConfig) {
        self.inner.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    pub fn generation(&self) -> u64 {
        self.inner.lock().unwrap_or_else(|p| p.into_inner()).0
    }

    /// Replace the config; returns the new generation.
    pub fn replace(&self, config: AgentConfig) -> u64 {
        let mut guard = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        guard.0 += 1;
        guard.1 = config;
        guard.0
    }
}
