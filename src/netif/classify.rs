//! Physical NIC or not, and what kind of interface, from facts already read out of sysfs.
//! Pure: the reading is in `sysfs.rs`, so every rule here is testable without a tree.

use std::collections::BTreeMap;

/// What sysfs says about one interface. Every field is optional because a kernel, a
/// container or a damaged /sys may lack any file; a missing fact never panics.
#[derive(Debug, Clone, Default)]
pub struct IfFacts {
    pub name: String,
    pub ifindex: Option<u32>,
    pub iflink: Option<u32>,
    /// `type`: ARPHRD_* (1 Ethernet, 772 loopback).
    pub arp_type: Option<u32>,
    pub operstate: Option<String>,
    pub carrier: Option<bool>,
    /// DEVTYPE from `uevent` ("bridge", "bond", "vlan", "wireguard", ...).
    pub devtype: Option<String>,
    /// The class link could not be resolved: why.
    pub unresolvable: Option<String>,
    /// The resolved interface directory is under /sys/devices/virtual.
    pub under_virtual: bool,
    /// `device` link present.
    pub has_device: bool,
    /// `device` resolves under /sys/devices/virtual.
    pub device_under_virtual: bool,
    /// PCI address of the PF when `device/physfn` exists (an SR-IOV VF).
    pub physfn: Option<String>,
    /// Interface name of that PF, when the host shows it.
    pub pf_ifname: Option<String>,
    pub driver: Option<String>,
    pub is_bridge: bool,
    pub is_bond: bool,
    pub bond_slaves: Vec<String>,
    pub bond_active_slave: Option<String>,
    /// First word of `bonding/mode` ("802.3ad", "active-backup", "balance-rr", ...).
    pub bond_mode: Option<String>,
    pub bridge_ports: Vec<String>,
    pub tun_flags: Option<u32>,
    /// Listed in /proc/net/vlan/.
    pub in_proc_vlan: bool,
    /// Lower device named by /proc/net/vlan/config.
    pub vlan_lower: Option<String>,
    /// Basename of the `master` link.
    pub master: Option<String>,
    pub uppers: Vec<String>,
    pub lowers: Vec<String>,
    /// Normalised MAC; None when missing or unusable (all zeros, garbage).
    pub mac: Option<String>,
}

impl IfFacts {
    pub fn is_up(&self) -> bool {
        self.operstate.as_deref() == Some("up") || self.carrier == Some(true)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IfKind {
    Physical,
    Loopback,
    Bridge,
    Bond,
    Vlan,
    Veth,
    Tun,
    Tap,
    Wireguard,
    Ifb,
    /// An SR-IOV VF: seen through `device/physfn`, or enslaved to a synthetic NIC.
    SriovVf,
    /// Any other software device (macvlan, dummy, team, docker's own, ...).
    Virtual,
    /// sysfs could not tell.
    Unknown,
}

impl IfKind {
    /// The `Candidate.kind` string.
    pub fn as_str(self) -> &'static str {
        match self {
            IfKind::Physical => "physical",
            IfKind::Loopback => "loopback",
            IfKind::Bridge => "bridge",
            IfKind::Bond => "bond",
            IfKind::Vlan => "vlan",
            IfKind::Veth => "veth",
            IfKind::Tun => "tun",
            IfKind::Tap => "tap",
            IfKind::Wireguard => "wireguard",
            IfKind::Ifb => "ifb",
            IfKind::SriovVf => "sriov-vf",
            IfKind::Virtual => "virtual",
            IfKind::Unknown => "unknown",
        }
    }
}

/// An interface with its verdict.
#[derive(Debug, Clone)]
pub struct Classified {
    pub facts: IfFacts,
    pub kind: IfKind,
    /// For a physical NIC a description, otherwise why it is never collected.
    pub why: String,
    /// For a VF enslaved to a synthetic NIC: that NIC, which carries its traffic.
    pub counted_on: Option<String>,
}

const IFF_TAP: u32 = 0x0002;

/// Kind and why, from this interface's own facts only.
fn classify_own(facts: &IfFacts) -> (IfKind, String) {
    let name = facts.name.as_str();
    let devtype = facts.devtype.as_deref();
    if name == "lo" || facts.arp_type == Some(772) {
        return (IfKind::Loopback, "loopback".into());
    }
    if let Some(why) = &facts.unresolvable {
        return (IfKind::Unknown, format!("cannot inspect its sysfs entry: {why}"));
    }
    if facts.is_bridge || devtype == Some("bridge") {
        let why = if name.starts_with("docker") || name.starts_with("br-") {
            "docker bridge"
        } else if name.starts_with("virbr") {
            "libvirt bridge"
        } else {
            "bridge"
        };
        return (IfKind::Bridge, why.into());
    }
    if facts.is_bond || devtype == Some("bond") {
        return (IfKind::Bond, "bond master".into());
    }
    if devtype == Some("vlan") || facts.in_proc_vlan {
        let why = match &facts.vlan_lower {
            Some(lower) => format!("VLAN on {lower}"),
            None => "VLAN".into(),
        };
        return (IfKind::Vlan, why);
    }
    if devtype == Some("wireguard") {
        return (IfKind::Wireguard, "WireGuard tunnel".into());
    }
    if let Some(flags) = facts.tun_flags {
        return if flags & IFF_TAP != 0 {
            (IfKind::Tap, "virtual device (tap)".into())
        } else {
            (IfKind::Tun, "virtual device (tun)".into())
        };
    }
    if name.starts_with("veth") {
        return (IfKind::Veth, "virtual device (veth)".into());
    }
    if name.starts_with("ifb") && (facts.under_virtual || !facts.has_device) {
        return (IfKind::Ifb, "virtual device (ifb)".into());
    }
    if name.starts_with("docker") {
        return (IfKind::Virtual, "docker virtual interface".into());
    }
    if name.starts_with("virbr") {
        return (IfKind::Virtual, "libvirt virtual interface".into());
    }
    if let Some(pf) = &facts.physfn {
        let why = match &facts.pf_ifname {
            Some(pf_name) => format!("SR-IOV VF of PF {pf} ({pf_name})"),
            None => format!("SR-IOV VF of PF {pf}"),
        };
        return (IfKind::SriovVf, why);
    }
    if facts.under_virtual {
        let why = match devtype {
            Some(devtype) => format!("virtual device ({devtype})"),
            None => "virtual device (under /sys/devices/virtual)".into(),
        };
        return (IfKind::Virtual, why);
    }
    if !facts.has_device {
        return (IfKind::Virtual, "virtual device (no backing hardware device)".into());
    }
    if facts.device_under_virtual {
        return (IfKind::Virtual, "virtual device (its device is under /sys/devices/virtual)".into());
    }
    let why = match &facts.driver {
        Some(driver) => format!("physical NIC (driver {driver})"),
        None => "physical NIC".into(),
    };
    (IfKind::Physical, why)
}

/// Classify every interface. Needs them all at once: a cloud VF (Azure accelerated
/// networking) looks physical on its own and is only known by being the lower device of
/// another physical NIC that has the same MAC.
pub fn classify_all(all: Vec<IfFacts>) -> BTreeMap<String, Classified> {
    let mut out: BTreeMap<String, Classified> = all
        .into_iter()
        .map(|facts| {
            let (kind, why) = classify_own(&facts);
            (facts.name.clone(), Classified { facts, kind, why, counted_on: None })
        })
        .collect();

    let enslaved: Vec<(String, String)> = out
        .values()
        .filter(|c| c.kind == IfKind::Physical)
        .filter_map(|vf| synthetic_master(vf, &out).map(|m| (vf.facts.name.clone(), m)))
        .collect();
    for (vf_name, master) in enslaved {
        if let Some(vf) = out.get_mut(&vf_name) {
            vf.kind = IfKind::SriovVf;
            vf.why = format!("VF enslaved to {master} (same MAC), traffic counted on {master}");
            vf.counted_on = Some(master);
        }
    }
    out
}

/// The physical NIC that has `vf` as its lower/slave and the same MAC, if any.
fn synthetic_master(vf: &Classified, all: &BTreeMap<String, Classified>) -> Option<String> {
    let vf_mac = vf.facts.mac.as_ref()?;
    let name = &vf.facts.name;
    all.values()
        .filter(|other| &other.facts.name != name && other.kind == IfKind::Physical)
        .filter(|other| other.facts.mac.as_ref() == Some(vf_mac))
        .find(|other| {
            let other_name = &other.facts.name;
            vf.facts.master.as_ref() == Some(other_name)
                || vf.facts.uppers.contains(other_name)
                || other.facts.lowers.contains(name)
        })
        .map(|other| other.facts.name.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nic(name: &str, mac: &str) -> IfFacts {
        IfFacts {
            name: name.into(),
            ifindex: Some(2),
            arp_type: Some(1),
            has_device: true,
            driver: Some("ixgbe".into()),
            mac: Some(mac.into()),
            ..IfFacts::default()
        }
    }

    fn virt(name: &str) -> IfFacts {
        IfFacts { under_virtual: true, has_device: false, driver: None, ..nic(name, "02:00:00:00:00:09") }
    }

    fn kinds(all: Vec<IfFacts>) -> BTreeMap<String, (IfKind, String)> {
        classify_all(all).into_iter().map(|(n, c)| (n, (c.kind, c.why))).collect()
    }

    #[test]
    fn a_nic_with_a_pci_device_is_physical() {
        let k = kinds(vec![nic("eth0", "0c:c4:7a:00:00:01")]);
        assert_eq!(k["eth0"], (IfKind::Physical, "physical NIC (driver ixgbe)".into()));
    }

    #[test]
    fn software_devices_are_never_physical() {
        let k = kinds(vec![
            IfFacts { arp_type: Some(772), ..virt("lo") },
            IfFacts { is_bridge: true, ..virt("docker0") },
            IfFacts { is_bridge: true, ..virt("virbr0") },
            IfFacts { is_bond: true, ..virt("bond0") },
            IfFacts { devtype: Some("vlan".into()), ..virt("eth0.100") },
            IfFacts { devtype: Some("wireguard".into()), ..virt("wg0") },
            IfFacts { tun_flags: Some(0x1001), ..virt("tun0") },
            IfFacts { tun_flags: Some(0x1002), ..virt("tap0") },
            virt("veth1a2b3c"),
            virt("ifb0"),
            virt("dummy0"),
            IfFacts { has_device: false, under_virtual: false, ..nic("odd0", "02:00:00:00:00:01") },
        ]);
        assert_eq!(k["lo"].0, IfKind::Loopback);
        assert_eq!(k["docker0"], (IfKind::Bridge, "docker bridge".into()));
        assert_eq!(k["virbr0"], (IfKind::Bridge, "libvirt bridge".into()));
        assert_eq!(k["bond0"], (IfKind::Bond, "bond master".into()));
        assert_eq!(k["eth0.100"].0, IfKind::Vlan);
        assert_eq!(k["wg0"].0, IfKind::Wireguard);
        assert_eq!(k["tun0"].0, IfKind::Tun);
        assert_eq!(k["tap0"].0, IfKind::Tap);
        assert_eq!(k["veth1a2b3c"], (IfKind::Veth, "virtual device (veth)".into()));
        assert_eq!(k["ifb0"].0, IfKind::Ifb);
        assert_eq!(k["dummy0"].0, IfKind::Virtual);
        assert_eq!(k["odd0"].0, IfKind::Virtual);
    }

    #[test]
    fn a_vf_with_physfn_names_its_pf() {
        let vf = IfFacts {
            physfn: Some("0000:03:00.0".into()),
            pf_ifname: Some("enp3s0f0".into()),
            ..nic("enp3s0f0v0", "02:11:22:33:44:55")
        };
        let k = kinds(vec![vf]);
        assert_eq!(k["enp3s0f0v0"], (IfKind::SriovVf, "SR-IOV VF of PF 0000:03:00.0 (enp3s0f0)".into()));
    }

    #[test]
    fn a_vf_enslaved_to_a_synthetic_nic_with_the_same_mac_is_rejected() {
        let synthetic = IfFacts { lowers: vec!["enP1s1".into()], ..nic("eth0", "00:0d:3a:00:00:01") };
        let vf = IfFacts { master: Some("eth0".into()), ..nic("enP1s1", "00:0d:3a:00:00:01") };
        let all = classify_all(vec![synthetic, vf]);
        assert_eq!(all["eth0"].kind, IfKind::Physical);
        assert_eq!(all["enP1s1"].kind, IfKind::SriovVf);
        assert_eq!(all["enP1s1"].why, "VF enslaved to eth0 (same MAC), traffic counted on eth0");
        assert_eq!(all["enP1s1"].counted_on.as_deref(), Some("eth0"));
    }

    #[test]
    fn a_bond_slave_is_not_mistaken_for_an_enslaved_vf() {
        let bond = IfFacts { is_bond: true, lowers: vec!["eth0".into()], ..virt("bond0") };
        let bond = IfFacts { mac: Some("0c:c4:7a:00:00:01".into()), ..bond };
        let slave = IfFacts { master: Some("bond0".into()), ..nic("eth0", "0c:c4:7a:00:00:01") };
        let all = classify_all(vec![bond, slave]);
        assert_eq!(all["eth0"].kind, IfKind::Physical);
    }
}
