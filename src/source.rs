//! Where readings come from: the collected interface's counters in sysfs (production) or a
//! scripted trace (tests). The sampler only sees [`CounterSource`].

use crate::config::SharedConfig;
use crate::netif::{self, HostRoot, IfCounters, InterfaceChoiceConfig, NetifError};

/// One reading of the collected interface, without the clocks.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SourceReading {
    pub boot_id: String,
    pub ifname: String,
    pub ifindex: u32,
    pub mac: String,
    pub counters: IfCounters,
    pub link_bits_per_sec: Option<u64>,
}

pub trait CounterSource: Send {
    fn read(&mut self) -> Result<SourceReading, NetifError>;
}

/// Reads the chosen interface under a host root; re-detects when a detected (not configured)
/// interface disappears, at most once a minute.
pub struct SysfsSource {
    root: HostRoot,
    choice: InterfaceChoiceConfig,
    ifname: Option<String>,
    failures: u32,
    boot_id: Option<String>,
    /// The effective config, when the config service can change the interface.
    shared: Option<(SharedConfig, u64)>,
}

impl SysfsSource {
    pub fn new(root: HostRoot, choice: InterfaceChoiceConfig) -> Self {
        SysfsSource { root, choice, ifname: None, failures: 0, boot_id: None, shared: None }
    }

    /// Follow the interface of the effective config (changed by the config service).
    pub fn following(mut self, shared: SharedConfig) -> Self {
        self.shared = Some((shared, u64::MAX));
        self
    }

    /// An operator chose another interface in the console: collect it from the next reading.
    fn follow_config(&mut self) {
        let Some((shared, seen)) = &mut self.shared else { return };
        let generation = shared.generation();
        if generation == *seen {
            return;
        }
        *seen = generation;
        let (_, config) = shared.get();
        let wanted = config.interface_choice();
        if wanted.interface != self.choice.interface || wanted.allow_virtual != self.choice.allow_virtual {
            log::info!(
                "interface choice changed by the config service: {:?} -> {:?}",
                self.choice.interface,
                wanted.interface
            );
            self.choice = wanted;
            self.ifname = None;
        }
    }

    fn current_ifname(&mut self) -> Result<String, NetifError> {
        if let Some(name) = &self.ifname {
            return Ok(name.clone());
        }
        let detection = netif::detect(&self.root, &self.choice)?;
        let chosen = detection.chosen;
        log::info!(
            "collecting {} ({}){}: {}",
            chosen.name,
            chosen.mac,
            if chosen.ambiguous { " [AMBIGUOUS: confirm in the console]" } else { "" },
            chosen.reason
        );
        self.ifname = Some(chosen.name.clone());
        Ok(chosen.name)
    }

    /// The boot id cannot change while this process lives: read it once.
    fn boot_id(&mut self) -> Result<String, NetifError> {
        if self.boot_id.is_none() {
            self.boot_id = Some(netif::read_boot_id(&self.root)?);
        }
        Ok(self.boot_id.clone().unwrap_or_default())
    }

    fn read_named(&mut self, name: &str) -> Result<SourceReading, NetifError> {
        let boot_id = self.boot_id()?;
        // The ifindex before and after the counters: equal means one incarnation was read.
        for _ in 0..3 {
            let ifindex = netif::read_ifindex(&self.root, name)?;
            let counters = netif::read_counters(&self.root, name)?;
            let mac = netif::read_mac(&self.root, name)?;
            if netif::read_ifindex(&self.root, name)? == ifindex {
                return Ok(SourceReading {
                    boot_id,
                    ifname: name.to_string(),
                    ifindex,
                    mac,
                    counters,
                    link_bits_per_sec: netif::read_speed_bits_per_sec(&self.root, name),
                });
            }
        }
        Err(NetifError::NoSuchInterface(format!("{name} (re-created while being read)")))
    }
}

/// Readings failing this many times in a row make a detected interface be detected again.
const REDETECT_AFTER_FAILURES: u32 = 6;

impl CounterSource for SysfsSource {
    fn read(&mut self) -> Result<SourceReading, NetifError> {
        self.follow_config();
        let name = self.current_ifname()?;
        match self.read_named(&name) {
            Ok(r) => {
                self.failures = 0;
                Ok(r)
            }
            Err(e) => {
                self.failures += 1;
                if self.choice.interface.is_none() && self.failures >= REDETECT_AFTER_FAILURES {
                    self.failures = 0;
                    self.ifname = None;
                }
                Err(e)
            }
        }
    }
}
