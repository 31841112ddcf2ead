//! Reading /sys and /proc under a `HostRoot`. Only reading lives here; the meaning of what
//! is read is in `parse.rs`, `classify.rs` and `select.rs`.

use std::collections::BTreeMap;
use std::fs;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};

use super::classify::IfFacts;
use super::{parse, HostRoot, NetifError};

pub const CLASS_NET: &str = "sys/class/net";

pub fn if_dir(root: &HostRoot, name: &str) -> PathBuf {
    root.join(CLASS_NET).join(name)
}

pub fn io_error(path: &Path, source: std::io::Error) -> NetifError {
    NetifError::Io { path: path.to_path_buf(), source }
}

pub fn parse_error(path: &Path, why: impl Into<String>) -> NetifError {
    NetifError::Parse { path: path.to_path_buf(), why: why.into() }
}

pub fn read(path: &Path) -> Result<String, NetifError> {
    fs::read_to_string(path).map_err(|e| io_error(path, e))
}

/// The file's text, or None when it does not exist (older kernels, containers).
pub fn read_optional(path: &Path) -> Result<Option<String>, NetifError> {
    match fs::read_to_string(path) {
        Ok(text) => Ok(Some(text)),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io_error(path, e)),
    }
}

/// A sysfs attribute that is only a hint: any failure (missing, EINVAL on a down link,
/// bad bytes) reads as None.
fn read_hint(path: &Path) -> Option<String> {
    fs::read_to_string(path).ok().map(|text| text.trim().to_string())
}

fn read_hint_u32(path: &Path) -> Option<u32> {
    read_hint(path)?.parse().ok()
}

/// Last component of a symlink's target ("../../bus/pci/drivers/ixgbe" -> "ixgbe"), without
/// following it, so a fixture need not contain the target.
pub fn link_basename(path: &Path) -> Option<String> {
    let target = fs::read_link(path).ok()?;
    target.file_name().map(|name| name.to_string_lossy().into_owned())
}

fn exists(path: &Path) -> bool {
    fs::symlink_metadata(path).is_ok()
}

/// Entry names of a directory, sorted; empty when it cannot be listed.
fn dir_names(path: &Path) -> Vec<String> {
    let Ok(entries) = fs::read_dir(path) else {
        return Vec::new();
    };
    let mut names: Vec<String> = entries
        .filter_map(Result::ok)
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// Interface names under sys/class/net, sorted.
pub fn list_interfaces(root: &HostRoot) -> Result<Vec<String>, NetifError> {
    let dir = root.join(CLASS_NET);
    let entries = fs::read_dir(&dir).map_err(|e| io_error(&dir, e))?;
    let mut names = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| io_error(&dir, e))?;
        match entry.file_name().into_string() {
            Ok(name) => names.push(name),
            Err(raw) => log::warn!("skipping interface with a non-UTF-8 name {raw:?} in {}", dir.display()),
        }
    }
    names.sort();
    Ok(names)
}

/// Whether `path`, after resolving symlinks, lies under `<root>/sys/devices/virtual`.
fn resolves_under_virtual(root: &HostRoot, path: &Path) -> Result<bool, String> {
    let real = fs::canonicalize(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let virtual_dir = root.join("sys/devices/virtual");
    // Canonicalise the prefix too, so a root reached through a symlink still compares equal.
    let virtual_dir = fs::canonicalize(&virtual_dir).unwrap_or(virtual_dir);
    Ok(real.starts_with(&virtual_dir))
}

/// (VLAN interface -> lower interface) from /proc/net/vlan/config; empty without 8021q.
pub fn read_vlan_lowers(root: &HostRoot) -> BTreeMap<String, String> {
    let path = root.join("proc/net/vlan/config");
    match read_optional(&path) {
        Ok(Some(text)) => match parse::parse_vlan_config(&text) {
            Ok(pairs) => pairs.into_iter().collect(),
            Err(e) => {
                log::warn!("ignoring {}: {e}", path.display());
                BTreeMap::new()
            }
        },
        Ok(None) => BTreeMap::new(),
        Err(e) => {
            log::warn!("ignoring {e}");
            BTreeMap::new()
        }
    }
}

/// Everything classification needs about one interface. Never fails: a fact that cannot be
/// read is left unknown, and classification says so.
pub fn gather(root: &HostRoot, name: &str, vlan_lowers: &BTreeMap<String, String>) -> IfFacts {
    let dir = if_dir(root, name);
    let (unresolvable, under_virtual) = match resolves_under_virtual(root, &dir) {
        Ok(under) => (None, under),
        Err(why) => (Some(why), false),
    };
    let device = dir.join("device");
    let has_device = exists(&device);
    let device_under_virtual = has_device && resolves_under_virtual(root, &device).unwrap_or(false);
    let physfn_link = device.join("physfn");
    let physfn = if exists(&physfn_link) {
        Some(link_basename(&physfn_link).unwrap_or_else(|| "(unknown)".into()))
    } else {
        None
    };
    let pf_ifname = physfn.as_ref().and_then(|_| dir_names(&physfn_link.join("net")).into_iter().next());
    let devtype = read_hint(&dir.join("uevent")).and_then(|text| match parse::uevent_devtype(&text) {
        Ok(devtype) => devtype,
        Err(e) => {
            log::warn!("{}: {e}", dir.join("uevent").display());
            None
        }
    });
    let tun_flags = read_hint(&dir.join("tun_flags")).map(|text| parse::parse_hex_flags(&text).unwrap_or(0));
    let links = dir_names(&dir);
    let with_prefix = |prefix: &str| -> Vec<String> {
        links.iter().filter_map(|n| n.strip_prefix(prefix)).map(str::to_string).collect()
    };
    IfFacts {
        name: name.to_string(),
        ifindex: read_hint_u32(&dir.join("ifindex")),
        iflink: read_hint_u32(&dir.join("iflink")),
        arp_type: read_hint_u32(&dir.join("type")),
        operstate: read_hint(&dir.join("operstate")),
        carrier: read_hint(&dir.join("carrier")).map(|c| c == "1"),
        devtype,
        unresolvable,
        under_virtual,
        has_device,
        device_under_virtual,
        physfn,
        pf_ifname,
        driver: link_basename(&device.join("driver")),
        is_bridge: dir.join("bridge").is_dir(),
        is_bond: dir.join("bonding").is_dir(),
        bond_slaves: read_hint(&dir.join("bonding/slaves"))
            .map(|s| s.split_whitespace().map(str::to_string).collect())
            .unwrap_or_default(),
        bond_active_slave: read_hint(&dir.join("bonding/active_slave")).filter(|s| !s.is_empty()),
        bond_mode: read_hint(&dir.join("bonding/mode"))
            .and_then(|m| m.split_whitespace().next().map(str::to_string)),
        bridge_ports: dir_names(&dir.join("brif")),
        tun_flags,
        in_proc_vlan: exists(&root.join("proc/net/vlan").join(name)),
        vlan_lower: vlan_lowers.get(name).cloned(),
        master: link_basename(&dir.join("master")),
        uppers: with_prefix("upper_"),
        lowers: with_prefix("lower_"),
        mac: super::read_mac(root, name).map_err(|e| log::debug!("{name}: no usable MAC: {e}")).ok(),
    }
}
