//! The host's IP addresses per interface, loopback left out.
//!
//! IPv6 comes straight from /proc/net/if_inet6. /proc has no per-interface IPv4 list, so the
//! local addresses are the "/32 host LOCAL" leaves of /proc/net/fib_trie, each attributed to
//! the interface of the longest directly connected subnet in /proc/net/route that holds it.
//! An address no connected subnet holds (a VIP on lo, a /32 on a point-to-point link) is
//! listed with `interface: null`.
//!
//! The files are parsed, and the addresses attributed, by `netif::parse`, the same code the
//! interface choice uses; its tolerant parsers keep what they understood.

use std::collections::BTreeMap;
use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use super::read::Reader;
use crate::netif::parse;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InterfaceAddresses {
    /// None when the route table does not say which interface holds the address.
    pub interface: Option<String>,
    pub ipv4: Vec<HostAddress>,
    pub ipv6: Vec<HostAddress>,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct HostAddress {
    pub address: IpAddr,
    /// Length of the subnet prefix; None when unknown.
    pub prefix_len: Option<u8>,
}

pub(super) fn read(reader: &mut Reader) -> Vec<InterfaceAddresses> {
    let mut by_interface: BTreeMap<Option<String>, (Vec<HostAddress>, Vec<HostAddress>)> = BTreeMap::new();

    // Leaves that are not addresses are skipped; the others still count.
    let local = reader.parsed("addresses ipv4", "proc/net/fib_trie", |text| {
        Ok(parse::parse_fib_trie_local_tolerant(text).entries)
    });
    if let Some(local) = local {
        // A route table with a line not understood says nothing sure about any address.
        let routes = reader.parsed("addresses ipv4 interfaces", "proc/net/route", |text| {
            let routes = parse::parse_ipv4_routes_tolerant(text);
            match routes.bad_lines.len() {
                0 => Ok(routes.entries),
                n => Err(format!("{n} lines not understood")),
            }
        });
        for address in local.into_iter().filter(|a| !a.is_loopback()) {
            let route = routes.as_deref().and_then(|routes| parse::attribute_ipv4(address, routes));
            let interface = route.map(|route| route.iface.clone());
            if interface.as_deref() == Some("lo") {
                continue;
            }
            let prefix_len = route.and_then(|route| u8::try_from(route.prefix_len()).ok());
            let host = HostAddress { address: address.into(), prefix_len };
            by_interface.entry(interface).or_default().0.push(host);
        }
    }

    let inet6 = reader.parsed("addresses ipv6", "proc/net/if_inet6", |text| {
        let inet6 = parse::parse_if_inet6_tolerant(text);
        match (inet6.entries.is_empty(), inet6.bad_lines.len()) {
            (false, _) | (true, 0) => Ok(inet6.entries),
            (true, n) => Err(format!("{n} lines not understood")),
        }
    });
    for entry in inet6.unwrap_or_default() {
        if entry.iface == "lo" || entry.address.is_loopback() {
            continue;
        }
        let host = HostAddress { address: entry.address.into(), prefix_len: Some(entry.prefix_len) };
        by_interface.entry(Some(entry.iface)).or_default().1.push(host);
    }

    let mut grouped: Vec<InterfaceAddresses> = by_interface
        .into_iter()
        .map(|(interface, (mut ipv4, mut ipv6))| {
            ipv4.sort();
            ipv6.sort();
            InterfaceAddresses { interface, ipv4, ipv6 }
        })
        .collect();
    // Named interfaces first, the unattributed addresses last.
    grouped.sort_by_key(|group| group.interface.is_none());
    grouped
}
