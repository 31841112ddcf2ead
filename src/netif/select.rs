//! Which interface to collect: the operator's choice, else the physical NIC that holds the
//! management IP (`[identity] management_ip`), else the default-route interface resolved to
//! its physical NIC, else the only physical NIC that is up. Pure: it works on classified
//! interfaces, parsed routes and addresses, so every machine shape is a plain unit test.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use super::classify::{Classified, IfKind};
use super::{parse, InterfaceChoiceConfig, NetifError};

/// A default route: its interface and metric.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DefaultRoute {
    pub iface: String,
    pub metric: u32,
}

/// Default routes of both families, as read from /proc.
#[derive(Debug, Clone, Default)]
pub struct DefaultRoutes {
    pub ipv4: Vec<DefaultRoute>,
    pub ipv6: Vec<DefaultRoute>,
}

/// Which rule made the choice, in the order they are tried.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Rule {
    /// `interface` in the config or the console.
    Operator,
    /// The physical NIC holding `[identity] management_ip`.
    ManagementIp,
    /// The physical NIC behind the default route.
    DefaultRoute,
    /// No usable default route: the physical NIC that is up.
    UpNic,
}

impl Rule {
    pub fn as_str(self) -> &'static str {
        match self {
            Rule::Operator => "operator",
            Rule::ManagementIp => "management_ip",
            Rule::DefaultRoute => "default_route",
            Rule::UpNic => "up_nic",
        }
    }
}

/// The outcome: the interface, the rule that chose it, whether an operator should confirm,
/// why, and for the other interfaces a reason that replaces their classification reason.
#[derive(Debug, Clone)]
pub struct Selection {
    pub chosen: String,
    pub rule: Rule,
    pub ambiguous: bool,
    pub reason: String,
    pub notes: BTreeMap<String, String>,
}

pub fn select(
    ifaces: &BTreeMap<String, Classified>,
    routes: &DefaultRoutes,
    addresses: &BTreeMap<String, Vec<IpAddr>>,
    config: &InterfaceChoiceConfig,
) -> Result<Selection, NetifError> {
    if let Some(name) = &config.interface {
        return operator_choice(ifaces, name, config.allow_virtual);
    }
    let mut preamble = String::new();
    if let Some(ip) = config.management_ip {
        match management_choice(ifaces, addresses, ip) {
            Ok(selection) => return Ok(selection),
            Err(why) => preamble.push_str(&format!("{why}; ")),
        }
    }
    preamble.push_str(match (routes.ipv4.is_empty(), routes.ipv6.is_empty()) {
        (true, true) => "no default route; ",
        (true, false) => "no IPv4 default route; ",
        _ => "",
    });
    // IPv4 first; IPv6 when no IPv4 default route leads to a physical NIC.
    for (family, family_routes) in [("IPv4", &routes.ipv4), ("IPv6", &routes.ipv6)] {
        let ranked = rank_routes(family_routes, addresses);
        for (position, route) in ranked.iter().enumerate() {
            let resolved = resolve(ifaces, &route.iface);
            if resolved.leaves.is_empty() {
                preamble.push_str(&format!(
                    "default {family} route via {} leads to no physical NIC; ",
                    route.iface
                ));
                continue;
            }
            let why_this_route = explain_rank(&ranked, position, addresses);
            let path = Path {
                rule: Rule::DefaultRoute,
                head: format!("default {family} route via {} (metric {})", route.iface, route.metric),
                iface: route.iface.clone(),
                carries: "the default route",
                off_path: format!(
                    "physical, but not on the default route (default route is via {})",
                    route.iface
                ),
            };
            let mut selection = choose_from_path(ifaces, &path, &resolved, &preamble, &why_this_route);
            for other in ranked.iter().filter(|r| r.iface != route.iface) {
                if ifaces.get(&other.iface).is_some_and(|c| c.kind == IfKind::Physical) {
                    let note = format!(
                        "physical, has a default route too (metric {}), but the route via {} was preferred",
                        other.metric, route.iface
                    );
                    selection.notes.insert(other.iface.clone(), note);
                }
            }
            return Ok(selection);
        }
    }
    choose_up_nic(ifaces, &preamble)
}

/// The physical NIC under the interface that holds `ip`; Err says why there is none (the
/// address is on no interface, e.g. behind NAT, or only on a tunnel), for the next rule.
fn management_choice(
    ifaces: &BTreeMap<String, Classified>,
    addresses: &BTreeMap<String, Vec<IpAddr>>,
    ip: IpAddr,
) -> Result<Selection, String> {
    let holders: Vec<&String> =
        addresses.iter().filter(|(_, list)| list.contains(&ip)).map(|(name, _)| name).collect();
    let Some(holder) = holders.first() else {
        return Err(format!("management IP {ip} is on no interface of this host"));
    };
    let resolved = resolve(ifaces, holder);
    if resolved.leaves.is_empty() {
        return Err(format!("management IP {ip} is on {holder}, which leads to no physical NIC"));
    }
    let path = Path {
        rule: Rule::ManagementIp,
        head: format!("management IP {ip} is on {holder}"),
        iface: (*holder).clone(),
        carries: "the management IP",
        off_path: format!("physical, but does not hold the management IP {ip} (it is on {holder})"),
    };
    Ok(choose_from_path(ifaces, &path, &resolved, "", ""))
}

fn physical_nics(ifaces: &BTreeMap<String, Classified>) -> impl Iterator<Item = &Classified> {
    ifaces.values().filter(|c| c.kind == IfKind::Physical)
}

fn operator_choice(
    ifaces: &BTreeMap<String, Classified>,
    name: &str,
    allow_virtual: bool,
) -> Result<Selection, NetifError> {
    parse::validate_ifname(name).map_err(|why| NetifError::BadName { name: name.to_string(), why })?;
    let target = ifaces.get(name).ok_or_else(|| NetifError::NoSuchInterface(name.to_string()))?;
    let reason = if target.kind == IfKind::Physical {
        "configured by operator".to_string()
    } else if allow_virtual {
        format!("configured by operator (allow_virtual: {})", target.why)
    } else {
        return Err(NetifError::NotPhysical { name: name.to_string(), why: target.why.clone() });
    };
    let notes = physical_nics(ifaces)
        .filter(|c| c.facts.name != name)
        .map(|c| (c.facts.name.clone(), format!("physical, but the operator configured {name}")))
        .collect();
    Ok(Selection { chosen: name.to_string(), rule: Rule::Operator, ambiguous: false, reason, notes })
}

/// Routes ordered best first: interface with a public address, then lowest metric, then
/// name; one entry per interface.
fn rank_routes(routes: &[DefaultRoute], addresses: &BTreeMap<String, Vec<IpAddr>>) -> Vec<DefaultRoute> {
    let mut ranked: Vec<DefaultRoute> = routes.to_vec();
    ranked.sort_by(|a, b| {
        let key =
            |r: &DefaultRoute| (public_address(addresses, &r.iface).is_none(), r.metric, r.iface.clone());
        key(a).cmp(&key(b))
    });
    let mut seen = BTreeSet::new();
    ranked.retain(|r| seen.insert(r.iface.clone()));
    ranked
}

fn public_address(addresses: &BTreeMap<String, Vec<IpAddr>>, iface: &str) -> Option<IpAddr> {
    addresses.get(iface)?.iter().copied().find(parse::is_public)
}

/// Why the route at `position` beat the others ("" when it was the only one).
fn explain_rank(
    ranked: &[DefaultRoute],
    position: usize,
    addresses: &BTreeMap<String, Vec<IpAddr>>,
) -> String {
    let route = &ranked[position];
    let others: Vec<&DefaultRoute> = ranked.iter().filter(|r| r.iface != route.iface).collect();
    if others.is_empty() {
        return String::new();
    }
    let list =
        others.iter().map(|r| format!("{} (metric {})", r.iface, r.metric)).collect::<Vec<_>>().join(", ");
    let public = public_address(addresses, &route.iface);
    let beaten_by_address =
        others.iter().any(|r| r.metric <= route.metric && public_address(addresses, &r.iface).is_none());
    match public {
        Some(addr) if beaten_by_address => {
            format!("; preferred over {list} because {} has a public address ({addr})", route.iface)
        }
        _ => format!("; preferred over {list} (lower metric or first of equals)"),
    }
}

/// The physical NICs under an interface, found through its lower devices.
#[derive(Debug, Default)]
struct Resolved {
    /// Virtual interfaces crossed, route interface first.
    via: Vec<String>,
    leaves: Vec<String>,
    /// A bond's active slave among the leaves (active-backup mode).
    active_slave: Option<(String, String)>,
}

fn resolve(ifaces: &BTreeMap<String, Classified>, start: &str) -> Resolved {
    let mut resolved = Resolved::default();
    let mut visited = BTreeSet::new();
    visit(ifaces, start, &mut visited, &mut resolved);
    resolved.leaves.sort();
    resolved.leaves.dedup();
    resolved
}

fn visit(
    ifaces: &BTreeMap<String, Classified>,
    name: &str,
    visited: &mut BTreeSet<String>,
    out: &mut Resolved,
) {
    if !visited.insert(name.to_string()) {
        return;
    }
    let Some(iface) = ifaces.get(name) else {
        log::warn!("route or lower device {name:?} is not under sys/class/net");
        return;
    };
    if iface.kind == IfKind::Physical {
        out.leaves.push(name.to_string());
        return;
    }
    if let Some(master) = &iface.counted_on {
        return visit(ifaces, master, visited, out);
    }
    out.via.push(name.to_string());
    if let Some(active) = &iface.facts.bond_active_slave {
        out.active_slave.get_or_insert((name.to_string(), active.clone()));
    }
    for lower in lower_devices(ifaces, iface) {
        visit(ifaces, &lower, visited, out);
    }
}

/// Devices under a virtual interface: `lower_*` links, bridge ports, bond slaves, and for a
/// VLAN on an old kernel without `lower_*` links, /proc/net/vlan/config or `iflink`.
fn lower_devices(ifaces: &BTreeMap<String, Classified>, iface: &Classified) -> Vec<String> {
    let facts = &iface.facts;
    let mut lowers: BTreeSet<String> = facts.lowers.iter().cloned().collect();
    lowers.extend(facts.bridge_ports.iter().cloned());
    lowers.extend(facts.bond_slaves.iter().cloned());
    if iface.kind == IfKind::Vlan && lowers.is_empty() {
        if let Some(lower) = &facts.vlan_lower {
            lowers.insert(lower.clone());
        } else if let (Some(iflink), Some(ifindex)) = (facts.iflink, facts.ifindex) {
            if iflink != ifindex {
                if let Some(lower) = ifaces.values().find(|c| c.facts.ifindex == Some(iflink)) {
                    lowers.insert(lower.facts.name.clone());
                }
            }
        }
    }
    lowers.into_iter().collect()
}

/// An interface a rule picked (the default route's, the management IP's) and how to say so.
struct Path {
    rule: Rule,
    /// Start of the reason: "default IPv4 route via br0 (metric 0)".
    head: String,
    iface: String,
    /// What the interface carries, for the notes of those crossed: "the default route".
    carries: &'static str,
    /// The note of a physical NIC not under `iface` ("physical, but ...").
    off_path: String,
}

fn choose_from_path(
    ifaces: &BTreeMap<String, Classified>,
    path: &Path,
    resolved: &Resolved,
    preamble: &str,
    why_this_route: &str,
) -> Selection {
    let active = resolved.active_slave.as_ref().filter(|(_, slave)| resolved.leaves.contains(slave));
    let (chosen, how) = match active {
        Some((bond, slave)) => (slave.clone(), format!("{bond}'s active slave")),
        None => (resolved.leaves[0].clone(), "lowest name".to_string()),
    };
    let ambiguous = resolved.leaves.len() > 1;
    let mut reason = format!("{preamble}{}", path.head);
    if !resolved.via.is_empty() {
        let mut crossed = resolved.via.clone();
        crossed.push(resolved.leaves.join(" + "));
        reason.push_str(&format!(", resolved {}", crossed.join(" -> ")));
    }
    reason.push_str(why_this_route);
    let alternatives: Vec<&String> = resolved.leaves.iter().filter(|l| **l != chosen).collect();
    if ambiguous {
        let alternatives = alternatives.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ");
        reason.push_str(&format!(
            "; {} physical NICs carry it: chose {chosen} ({how}), alternatives: {alternatives}",
            resolved.leaves.len()
        ));
        // Only active-backup sends everything through one port; other modes spread it.
        for bond in resolved.via.iter().filter_map(|name| ifaces.get(name)) {
            if let Some(mode) = bond.facts.bond_mode.as_deref().filter(|m| *m != "active-backup") {
                reason.push_str(&format!(
                    "; {} (mode {mode}) spreads traffic over its slaves, so {chosen} alone sees only part of it",
                    bond.facts.name
                ));
            }
        }
    }

    let mut notes = BTreeMap::new();
    for name in &resolved.via {
        let Some(iface) = ifaces.get(name) else {
            continue;
        };
        let lowers = lower_devices(ifaces, iface).join(", ");
        let note = match (iface.kind, lowers.is_empty()) {
            (_, true) => format!("{}: carries {} but has no lower device", iface.why, path.carries),
            (IfKind::Bond, false) => format!("bond master: resolved to its slaves ({lowers})"),
            (IfKind::Bridge, false) => format!("{}: resolved to its ports ({lowers})", iface.why),
            (_, false) => format!("{}: resolved to its lower device ({lowers})", iface.why),
        };
        notes.insert(name.clone(), note);
    }
    let top = resolved.via.first().map(String::as_str).unwrap_or(path.iface.as_str());
    for other in physical_nics(ifaces).filter(|c| c.facts.name != chosen) {
        let name = &other.facts.name;
        let note = if resolved.leaves.contains(name) {
            format!("physical, alternative to {chosen} under {top} (ambiguous: confirm in the console)")
        } else {
            path.off_path.clone()
        };
        notes.insert(name.clone(), note);
    }
    Selection { chosen, rule: path.rule, ambiguous, reason, notes }
}

/// No usable default route: the physical NIC that is up, lowest ifindex when several.
fn choose_up_nic(ifaces: &BTreeMap<String, Classified>, preamble: &str) -> Result<Selection, NetifError> {
    let physical: Vec<&Classified> = physical_nics(ifaces).collect();
    let mut up: Vec<&Classified> = physical.iter().copied().filter(|c| c.facts.is_up()).collect();
    up.sort_by_key(|c| (c.facts.ifindex.unwrap_or(u32::MAX), c.facts.name.clone()));
    let Some(first) = up.first() else {
        let why = if physical.is_empty() {
            let seen = ifaces
                .values()
                .map(|c| format!("{} ({})", c.facts.name, c.why))
                .collect::<Vec<_>>()
                .join(", ");
            format!("{preamble}no physical NIC on this host; interfaces seen: {seen}")
        } else {
            let down = physical
                .iter()
                .map(|c| {
                    format!("{} ({})", c.facts.name, c.facts.operstate.as_deref().unwrap_or("state unknown"))
                })
                .collect::<Vec<_>>()
                .join(", ");
            format!("{preamble}no physical NIC is up: {down}")
        };
        return Err(NetifError::NothingToCollect(why));
    };
    let chosen = first.facts.name.clone();
    let ambiguous = up.len() > 1;
    let reason = if ambiguous {
        let others = up[1..].iter().map(|c| c.facts.name.as_str()).collect::<Vec<_>>().join(", ");
        format!(
            "{preamble}{} physical NICs are up: chose {chosen} (lowest ifindex), alternatives: {others}",
            up.len()
        )
    } else {
        format!("{preamble}{chosen} is the only physical NIC that is up")
    };
    let notes = physical
        .iter()
        .filter(|c| c.facts.name != chosen)
        .map(|c| {
            let note = if c.facts.is_up() {
                format!("physical and up, alternative to {chosen} (lower ifindex) (ambiguous: confirm in the console)")
            } else {
                format!("physical, but down (operstate {})", c.facts.operstate.as_deref().unwrap_or("unknown"))
            };
            (c.facts.name.clone(), note)
        })
        .collect();
    Ok(Selection { chosen, rule: Rule::UpNic, ambiguous, reason, notes })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::netif::classify::{classify_all, IfFacts};

    fn nic(name: &str, ifindex: u32, up: bool) -> IfFacts {
        IfFacts {
            name: name.into(),
            ifindex: Some(ifindex),
            arp_type: Some(1),
            has_device: true,
            operstate: Some(if up { "up" } else { "down" }.into()),
            mac: Some(format!("0c:c4:7a:00:00:{ifindex:02x}")),
            ..IfFacts::default()
        }
    }

    fn route(iface: &str, metric: u32) -> DefaultRoute {
        DefaultRoute { iface: iface.into(), metric }
    }

    fn pick(
        all: Vec<IfFacts>,
        routes: DefaultRoutes,
        addrs: &[(&str, &str)],
    ) -> Result<Selection, NetifError> {
        let ifaces = classify_all(all);
        let mut addresses: BTreeMap<String, Vec<IpAddr>> = BTreeMap::new();
        for (iface, addr) in addrs {
            addresses.entry(iface.to_string()).or_default().push(addr.parse().expect("literal"));
        }
        select(&ifaces, &routes, &addresses, &InterfaceChoiceConfig::default())
    }

    #[test]
    fn an_active_backup_bond_prefers_its_active_slave() {
        let bond = IfFacts {
            name: "bond0".into(),
            ifindex: Some(4),
            is_bond: true,
            under_virtual: true,
            bond_slaves: vec!["eth0".into(), "eth1".into()],
            bond_active_slave: Some("eth1".into()),
            mac: Some("0c:c4:7a:00:00:02".into()),
            ..IfFacts::default()
        };
        let routes = DefaultRoutes { ipv4: vec![route("bond0", 0)], ipv6: vec![] };
        let s = pick(vec![nic("eth0", 2, true), nic("eth1", 3, true), bond], routes, &[]).expect("chosen");
        assert_eq!(s.chosen, "eth1");
        assert!(s.ambiguous);
        assert!(s.reason.contains("bond0's active slave"), "{}", s.reason);
        assert!(s.reason.contains("alternatives: eth0"), "{}", s.reason);
    }

    #[test]
    fn a_route_through_a_tunnel_falls_back_to_the_nic_that_is_up() {
        let wg = IfFacts {
            name: "wg0".into(),
            ifindex: Some(5),
            devtype: Some("wireguard".into()),
            under_virtual: true,
            mac: None,
            ..IfFacts::default()
        };
        let routes = DefaultRoutes { ipv4: vec![route("wg0", 0)], ipv6: vec![] };
        let s = pick(vec![nic("eth0", 2, true), nic("eth1", 3, false), wg], routes, &[]).expect("chosen");
        assert_eq!(s.chosen, "eth0");
        assert!(!s.ambiguous);
        assert!(s.reason.starts_with("default IPv4 route via wg0 leads to no physical NIC"), "{}", s.reason);
    }

    #[test]
    fn an_ipv4_route_into_a_tunnel_yields_to_the_ipv6_route() {
        let tun = IfFacts {
            name: "tun0".into(),
            ifindex: Some(5),
            tun_flags: Some(0x1001),
            under_virtual: true,
            ..IfFacts::default()
        };
        let routes = DefaultRoutes { ipv4: vec![route("tun0", 0)], ipv6: vec![route("eth1", 1024)] };
        let all = vec![nic("eth0", 2, true), nic("eth1", 3, true), tun];
        let s = pick(all, routes, &[]).expect("chosen");
        assert_eq!(s.chosen, "eth1");
        assert!(!s.ambiguous);
        assert_eq!(
            s.reason,
            "default IPv4 route via tun0 leads to no physical NIC; default IPv6 route via eth1 (metric 1024)"
        );
    }

    #[test]
    fn the_public_route_wins_over_a_lower_metric() {
        let routes = DefaultRoutes { ipv4: vec![route("eth0", 100), route("eth1", 200)], ipv6: vec![] };
        let addrs = [("eth0", "10.1.2.3"), ("eth1", "198.51.100.7")];
        let s = pick(vec![nic("eth0", 2, true), nic("eth1", 3, true)], routes, &addrs).expect("chosen");
        assert_eq!(s.chosen, "eth1");
        assert!(s.reason.contains("public address (198.51.100.7)"), "{}", s.reason);
    }

    #[test]
    fn with_no_route_and_no_nic_up_there_is_nothing_to_collect() {
        let e = pick(vec![nic("eth0", 2, false)], DefaultRoutes::default(), &[]).expect_err("nothing");
        let text = e.to_string();
        assert!(text.contains("no default route") && text.contains("no physical NIC is up"), "{text}");
    }
}
