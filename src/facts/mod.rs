//! Hardware and OS facts of this machine: what `pushagent info` prints and what the agent
//! sends to the config service. The MAC of the collected interface is the report identity.
//!
//! Collection never fails as a whole: a fact that cannot be read is `None` (or an empty
//! list) and `Facts.unreadable` says what and why. Everything is read under a `HostRoot`
//! (`/` in production, a fixture tree in tests); each submodule parses one kind of file with
//! pure functions and reads it through `read::Reader`.

mod addresses;
mod cpu;
mod disks;
mod dmi;
mod identity;
mod memory;
mod nic;
mod os;
mod read;

use serde::{Deserialize, Serialize};

use crate::netif::HostRoot;

pub use addresses::{HostAddress, InterfaceAddresses};
pub use cpu::Cpu;
pub use disks::{Disk, FilesystemUsage};
pub use dmi::Dmi;
pub use nic::InterfaceFacts;
pub use os::Os;

/// Field names are part of the agent's protocol with the config service: keep them stable.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Facts {
    pub agent_version: String,
    /// Unix seconds.
    pub collected_at: i64,
    pub hostname: Option<String>,
    /// /etc/machine-id: stable for the life of the installed system.
    pub machine_id: Option<String>,
    /// New at every boot.
    pub boot_id: Option<String>,
    /// The collected interface, when one was given.
    pub interface: Option<InterfaceFacts>,
    /// Per interface, loopback left out; see `addresses` for how IPv4 is attributed.
    pub addresses: Vec<InterfaceAddresses>,
    pub cpu: Cpu,
    pub memory_total_bytes: Option<u64>,
    pub swap_total_bytes: Option<u64>,
    /// Block devices, loop/ram/zram/dm/nbd left out.
    pub disks: Vec<Disk>,
    /// Only when the root is the real "/".
    pub root_filesystem: Option<FilesystemUsage>,
    pub os: Os,
    pub dmi: Dmi,
    /// One line per fact that could not be read: "what: why (path)".
    pub unreadable: Vec<String>,
}

/// Collects the facts under `root`. `interface` is the collected interface (its MAC is the
/// report identity); `now_unix_secs` becomes `collected_at`.
pub fn collect(root: &HostRoot, interface: Option<&str>, now_unix_secs: i64) -> Facts {
    let mut reader = read::Reader::new(root);
    let identity = identity::read(&mut reader);
    let interface = interface.map(|name| nic::read(&mut reader, name));
    let addresses = addresses::read(&mut reader);
    let cpu = cpu::read(&mut reader);
    let memory = memory::read(&mut reader);
    let disks = disks::read(&mut reader);
    let root_filesystem = disks::root_filesystem(&mut reader);
    let os = os::read(&mut reader);
    let dmi = dmi::read(&mut reader);
    Facts {
        agent_version: env!("CARGO_PKG_VERSION").to_string(),
        collected_at: now_unix_secs,
        hostname: identity.hostname,
        machine_id: identity.machine_id,
        boot_id: identity.boot_id,
        interface,
        addresses,
        cpu,
        memory_total_bytes: memory.total_bytes,
        swap_total_bytes: memory.swap_total_bytes,
        disks,
        root_filesystem,
        os,
        dmi,
        unreadable: reader.into_unreadable(),
    }
}
