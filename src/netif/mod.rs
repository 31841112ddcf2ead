//! The network interfaces of the host: which one we collect, its identity (MAC, ifindex,
//! speed) and its kernel counters. Everything is read under a root path (`/` in production,
//! a fixture tree in tests) so every machine shape can be tested without that machine.
//!
//! Parsing (`parse`), classification (`classify`) and the choice (`select`) are pure; only
//! `sysfs` and the readers below touch the filesystem.

mod classify;
pub mod parse;
mod render;
mod select;
mod sysfs;

pub use select::Rule;

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::PathBuf;

use sysfs::{if_dir, parse_error, read, read_optional};

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
    /// `[identity] management_ip`: the physical NIC holding it is chosen first.
    pub management_ip: Option<IpAddr>,
}

/// One interface found on the host and what we think of it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Candidate {
    pub name: String,
    pub ifindex: Option<u32>,
    /// "physical", "loopback", "bridge", "bond", "vlan", "veth", "tun", "tap", "wireguard",
    /// "ifb", "sriov-vf", "virtual" (other software devices) or "unknown" (unreadable sysfs).
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
    /// Which rule chose it: operator, management_ip, default_route or up_nic.
    pub rule: Rule,
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
pub fn detect(root: &HostRoot, config: &InterfaceChoiceConfig) -> Result<Detection, NetifError> {
    let vlan_lowers = sysfs::read_vlan_lowers(root);
    let facts =
        sysfs::list_interfaces(root)?.iter().map(|name| sysfs::gather(root, name, &vlan_lowers)).collect();
    let ifaces = classify::classify_all(facts);
    let routes = read_default_routes(root)?;
    // Addresses only break ties between several default routes: without them, still choose.
    let addresses = interface_addresses(root).unwrap_or_else(|e| {
        log::warn!("interface addresses unavailable, public-address preference skipped: {e}");
        BTreeMap::new()
    });
    let selection = select::select(&ifaces, &routes, &addresses, config)?;

    let name = selection.chosen.clone();
    let mac = read_mac(root, &name).map_err(|e| match e {
        NetifError::Parse { path, why } => NetifError::Parse {
            path,
            why: format!("the MAC of {name}, the interface to collect, is unusable: {why}"),
        },
        other => other,
    })?;
    let chosen = Chosen {
        ifindex: read_ifindex(root, &name)?,
        mac,
        speed_bits_per_sec: read_speed_bits_per_sec(root, &name),
        driver: ifaces.get(&name).and_then(|c| c.facts.driver.clone()),
        ambiguous: selection.ambiguous,
        rule: selection.rule,
        reason: selection.reason.clone(),
        name,
    };
    let mut candidates: Vec<Candidate> = ifaces
        .values()
        .map(|iface| {
            let name = &iface.facts.name;
            let is_chosen = *name == chosen.name;
            let reason = if is_chosen {
                chosen.reason.clone()
            } else {
                selection.notes.get(name).cloned().unwrap_or_else(|| iface.why.clone())
            };
            Candidate {
                name: name.clone(),
                ifindex: iface.facts.ifindex,
                kind: iface.kind.as_str().to_string(),
                mac: iface.facts.mac.clone(),
                chosen: is_chosen,
                reason,
            }
        })
        .collect();
    candidates.sort_by_key(|c| (c.ifindex.unwrap_or(u32::MAX), c.name.clone()));
    Ok(Detection { chosen, candidates })
}

/// Default routes of both families; a missing table (no IPv6 in this kernel) has none.
fn read_default_routes(root: &HostRoot) -> Result<select::DefaultRoutes, NetifError> {
    let mut routes = select::DefaultRoutes::default();
    let path = root.join("proc/net/route");
    if let Some(text) = read_optional(&path)? {
        routes.ipv4 = parse::parse_ipv4_routes(&text)
            .map_err(|e| parse_error(&path, e.0))?
            .into_iter()
            .filter(parse::Ipv4Route::is_default)
            .map(|r| select::DefaultRoute { iface: r.iface, metric: r.metric })
            .collect();
    }
    let path = root.join("proc/net/ipv6_route");
    if let Some(text) = read_optional(&path)? {
        routes.ipv6 = parse::parse_ipv6_routes(&text)
            .map_err(|e| parse_error(&path, e.0))?
            .into_iter()
            .filter(parse::Ipv6Route::is_default)
            .map(|r| select::DefaultRoute { iface: r.iface, metric: r.metric })
            .collect();
    }
    Ok(routes)
}

/// The addresses of each interface. IPv4: the host's LOCAL /32 entries of
/// /proc/net/fib_trie, each given to the interface of the longest directly connected
/// /proc/net/route subnet that holds it (`parse::attribute_ipv4`; an address with no such
/// subnet, e.g. a /32 point-to-point address, is left out). IPv6: /proc/net/if_inet6, which
/// names the interface.
pub fn interface_addresses(root: &HostRoot) -> Result<BTreeMap<String, Vec<IpAddr>>, NetifError> {
    let mut addresses: BTreeMap<String, Vec<IpAddr>> = BTreeMap::new();
    let mut add = |iface: &str, addr: IpAddr| {
        let list = addresses.entry(iface.to_string()).or_default();
        if !list.contains(&addr) {
            list.push(addr);
        }
    };

    let route_path = root.join("proc/net/route");
    let trie_path = root.join("proc/net/fib_trie");
    if let (Some(route_text), Some(trie_text)) = (read_optional(&route_path)?, read_optional(&trie_path)?) {
        let routes = parse::parse_ipv4_routes(&route_text).map_err(|e| parse_error(&route_path, e.0))?;
        let locals = parse::parse_fib_trie_local(&trie_text).map_err(|e| parse_error(&trie_path, e.0))?;
        for local in locals {
            if local.is_loopback() {
                add("lo", IpAddr::V4(local));
                continue;
            }
            match parse::attribute_ipv4(local, &routes) {
                Some(route) => add(&route.iface, IpAddr::V4(local)),
                None => log::debug!("local address {local} is in no connected subnet of /proc/net/route"),
            }
        }
    }

    let inet6_path = root.join("proc/net/if_inet6");
    if let Some(text) = read_optional(&inet6_path)? {
        for entry in parse::parse_if_inet6(&text).map_err(|e| parse_error(&inet6_path, e.0))? {
            add(&entry.iface, IpAddr::V6(entry.address));
        }
    }
    Ok(addresses)
}

/// A real interface name: 1..=15 bytes, no '/', ':', whitespace, not "." or "..".
pub fn validate_name(name: &str) -> Result<(), NetifError> {
    parse::validate_ifname(name).map_err(|why| NetifError::BadName { name: name.to_string(), why })
}

/// Refuse names that could escape sys/class/net before joining them into a path.
fn checked_if_dir(root: &HostRoot, name: &str) -> Result<PathBuf, NetifError> {
    validate_name(name)?;
    let dir = if_dir(root, name);
    if std::fs::symlink_metadata(&dir).is_err() {
        return Err(NetifError::NoSuchInterface(name.to_string()));
    }
    Ok(dir)
}

fn read_u64_file(path: &std::path::Path) -> Result<u64, NetifError> {
    parse::parse_decimal_u64(&read(path)?).map_err(|e| parse_error(path, e.0))
}

/// ifindex of an interface (changes when the interface is re-created).
pub fn read_ifindex(root: &HostRoot, name: &str) -> Result<u32, NetifError> {
    let path = checked_if_dir(root, name)?.join("ifindex");
    let value = read_u64_file(&path)?;
    u32::try_from(value).map_err(|_| parse_error(&path, format!("ifindex {value} does not fit in 32 bits")))
}

/// The 8 counters of /sys/class/net/NAME/statistics.
pub fn read_counters(root: &HostRoot, name: &str) -> Result<IfCounters, NetifError> {
    let stats = checked_if_dir(root, name)?.join("statistics");
    let counter = |file: &str| read_u64_file(&stats.join(file));
    Ok(IfCounters {
        rx_bytes: counter("rx_bytes")?,
        tx_bytes: counter("tx_bytes")?,
        rx_packets: counter("rx_packets")?,
        tx_packets: counter("tx_packets")?,
        rx_errors: counter("rx_errors")?,
        tx_errors: counter("tx_errors")?,
        rx_dropped: counter("rx_dropped")?,
        tx_dropped: counter("tx_dropped")?,
    })
}

/// Permanent MAC where the kernel has it, else the current address; lower-case colon form.
/// A bond slave's `address` is the bond's MAC, so its own is `bonding_slave/perm_hwaddr`.
pub fn read_mac(root: &HostRoot, name: &str) -> Result<String, NetifError> {
    let dir = checked_if_dir(root, name)?;
    let perm_path = dir.join("bonding_slave/perm_hwaddr");
    if let Ok(Some(text)) = read_optional(&perm_path) {
        match parse::normalise_mac(&text) {
            Ok(mac) => return Ok(mac),
            Err(e) => log::warn!("ignoring {}: {e}; using address", perm_path.display()),
        }
    }
    let path = dir.join("address");
    parse::normalise_mac(&read(&path)?).map_err(|e| parse_error(&path, e.0))
}

/// Link speed in bits/s, None when unknown (virtual NICs report -1 or nothing).
pub fn read_speed_bits_per_sec(root: &HostRoot, name: &str) -> Option<u64> {
    let path = checked_if_dir(root, name).ok()?.join("speed");
    // A down or virtual link answers EINVAL: unknown, like a missing file or garbage.
    let text = std::fs::read_to_string(path).ok()?;
    let mbps = parse::parse_speed_mbps(&text).ok()??;
    Some(u64::from(mbps) * 1_000_000)
}

/// /proc/sys/kernel/random/boot_id, trimmed, in lower case.
pub fn read_boot_id(root: &HostRoot) -> Result<String, NetifError> {
    let path = root.join("proc/sys/kernel/random/boot_id");
    parse::parse_boot_id(&read(&path)?).map_err(|e| parse_error(&path, e.0))
}
