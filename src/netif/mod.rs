//! The network interfaces of the host: which one we collect, its identity (MAC, ifindex,
//! speed) and its kernel counters. Everything is read under a root path (`/` in production,
//! a fixture tree in tests) so every machine shape can be tested without that machine.
//!
//! PLACEHOLDER API: the bodies are filled in by the interface-selection work (issue 2 item 2).

use std::path::{Path, PathBuf};

/// Where /proc and /sys are read from: `/` in production, a fixture tree in tests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostRoot(pub PathBuf);

impl HostRoot {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        HostRoot(root.into())
    }
    /// `rel` is a path like "sys/class/net" (no leading slash).
    pub fn join(&self, rel: &str) -> PathBuf {
        self.0.join(rel.trim_start_matches('/'))
    }
}

impl Default for HostRoot {
    fn default() -> Self {
        HostRoot(PathBuf::from("/"))
    }
}

#[derive(Debug, thiserror::Error)]
pub enum NetifError {
    #[error("invalid interface name {name:?}: {why}")]
    BadName { name: String, why: &'static str },
    #[error("interface {0:?} does not exist")]
    NoSuchInterface(String),
    #[error(
        "interface {name:?} is not a physical NIC ({why}); set allow_virtual = true to collect it anyway"
    )]
    NotPhysical { name: String, why: String },
    #[error("no interface to collect: {0}")]
    NothingToCollect(String),
    #[error("cannot read {path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("cannot parse {path}: {why}")]
    Parse { path: PathBuf, why: String },
}

/// What the operator asked for in the config.
#[derive(Debug, Clone, Default)]
pub struct InterfaceChoiceConfig {
    pub interface: Option<String>,
    pub allow_virtual: bool,
}

/// One interface found on the host and what we think of it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Candidate {
    pub name: String,
    /// "physical", "bridge", "bond", "vlan", "veth", "tun", "loopback", "sriov-vf", ...
    pub kind: String,
    pub mac: Option<String>,
    pub chosen: bool,
    /// Why it was chosen, or why it was rejected.
    pub reason: String,
}

/// The interface we collect, and why.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Chosen {
    pub name: String,
    pub ifindex: u32,
    /// Permanent MAC, lower-case colon form.
    pub mac: String,
    /// Link speed from sysfs, bits per second; None when the NIC reports none.
    pub speed_bits_per_sec: Option<u64>,
    pub driver: Option<String>,
    /// Several physical NICs were equally good (e.g. two bond ports): an operator should confirm.
    pub ambiguous: bool,
    pub reason: String,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct Detection {
    pub chosen: Chosen,
    pub candidates: Vec<Candidate>,
}

/// Kernel counters of one interface, read at one instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub struct IfCounters {
    pub rx_bytes: u64,
    pub tx_bytes: u64,
    pub rx_packets: u64,
    pub tx_packets: u64,
    pub rx_errors: u64,
    pub tx_errors: u64,
    pub rx_dropped: u64,
    pub tx_dropped: u64,
}

/// Choose the interface to collect (see issue 2, "Interface selection").
pub fn detect(_root: &HostRoot, _config: &InterfaceChoiceConfig) -> Result<Detection, NetifError> {
    unimplemented!("netif::detect")
}

/// ifindex of an interface (changes when the interface is re-created).
pub fn read_ifindex(_root: &HostRoot, _name: &str) -> Result<u32, NetifError> {
    unimplemented!("netif::read_ifindex")
}

/// The 8 counters of /sys/class/net/NAME/statistics.
pub fn read_counters(_root: &HostRoot, _name: &str) -> Result<IfCounters, NetifError> {
    unimplemented!("netif::read_counters")
}

/// Permanent MAC where the kernel has it, else the current address; lower-case colon form.
pub fn read_mac(_root: &HostRoot, _name: &str) -> Result<String, NetifError> {
    unimplemented!("netif::read_mac")
}

/// Link speed in bits/s, None when unknown (virtual NICs report -1 or nothing).
pub fn read_speed_bits_per_sec(_root: &HostRoot, _name: &str) -> Option<u64> {
    unimplemented!("netif::read_speed_bits_per_sec")
}

/// /proc/sys/kernel/random/boot_id, trimmed.
pub fn read_boot_id(_root: &HostRoot) -> Result<String, NetifError> {
    unimplemented!("netif::read_boot_id")
}

#[allow(dead_code)]
fn _path_is_used(_p: &Path) {}

/// A real interface name: 1..=15 bytes, no '/', no whitespace, not "." or "..".
pub fn validate_name(_name: &str) -> Result<(), NetifError> {
    unimplemented!("netif::validate_name")
}

impl Detection {
    pub fn render(&self) -> String {
        unimplemented!("Detection::render")
    }
}
