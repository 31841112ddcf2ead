//! The host's IP addresses per interface, loopback left out.
//!
//! IPv6 comes straight from /proc/net/if_inet6. /proc has no per-interface IPv4 list, so the
//! local addresses are the "/32 host LOCAL" leaves of /proc/net/fib_trie, each attributed to
//! the interface of the longest directly connected subnet in /proc/net/route that holds it.
//! An address no connected subnet holds (a VIP on lo, a /32 on a point-to-point link) is
//! listed with `interface: null`.
//!
//! TODO(unify): `netif::interface_addresses` parses the same files for interface choice;
//! the two parsers should become one.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use serde::{Deserialize, Serialize};

use super::read::Reader;

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

/// One IPv6 address line of /proc/net/if_inet6.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inet6Entry {
    pub interface: String,
    pub address: Ipv6Addr,
    pub prefix_len: u8,
}

/// One line of /proc/net/route.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ipv4Route {
    pub interface: String,
    pub destination: Ipv4Addr,
    pub prefix_len: u8,
    /// Reached through a gateway (RTF_GATEWAY), so not a subnet the host is on.
    pub via_gateway: bool,
    pub metric: u32,
}

const RTF_UP: u32 = 0x1;
const RTF_GATEWAY: u32 = 0x2;

pub(super) fn read(reader: &mut Reader) -> Vec<InterfaceAddresses> {
    let mut by_interface: BTreeMap<Option<String>, (Vec<HostAddress>, Vec<HostAddress>)> = BTreeMap::new();

    let local =
        reader.parsed("addresses ipv4", "proc/net/fib_trie", |text| Ok(parse_fib_trie_local_ipv4(text)));
    if let Some(local) = local {
        let routes = reader.parsed("addresses ipv4 interfaces", "proc/net/route", |text| {
            let (routes, bad_lines) = parse_route(text);
            match bad_lines {
                0 => Ok(routes),
                n => Err(format!("{n} lines not understood")),
            }
        });
        for address in local.into_iter().filter(|a| !a.is_loopback()) {
            let (interface, prefix_len) = match attribute_ipv4(address, routes.as_deref()) {
                Some((interface, prefix_len)) => (Some(interface), Some(prefix_len)),
                None => (None, None),
            };
            if interface.as_deref() == Some("lo") {
                continue;
            }
            let host = HostAddress { address: address.into(), prefix_len };
            by_interface.entry(interface).or_default().0.push(host);
        }
    }

    let inet6 = reader.parsed("addresses ipv6", "proc/net/if_inet6", |text| {
        let (entries, bad_lines) = parse_if_inet6(text);
        match (entries.is_empty(), bad_lines) {
            (false, _) | (true, 0) => Ok(entries),
            (true, n) => Err(format!("{n} lines not understood")),
        }
    });
    for entry in inet6.unwrap_or_default() {
        if entry.interface == "lo" || entry.address.is_loopback() {
            continue;
        }
        let host = HostAddress { address: entry.address.into(), prefix_len: Some(entry.prefix_len) };
        by_interface.entry(Some(entry.interface)).or_default().1.push(host);
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

/// The `/32 host LOCAL` leaves: the IPv4 addresses configured on this host, sorted, once each
/// (the same leaf shows in the Main and the Local table).
pub fn parse_fib_trie_local_ipv4(text: &str) -> Vec<Ipv4Addr> {
    let mut leaf: Option<Ipv4Addr> = None;
    let mut local = Vec::new();
    for line in text.lines() {
        let mut tokens = line.split_whitespace();
        match tokens.next() {
            // "|-- 192.0.2.2": a leaf; its routes follow on the next lines.
            Some("|--") => leaf = tokens.next().and_then(|ip| ip.parse().ok()),
            // "/32 host LOCAL" (maybe followed by "tos=N").
            Some("/32") => {
                if let (Some(ip), Some("host"), Some("LOCAL")) = (leaf, tokens.next(), tokens.next()) {
                    local.push(ip);
                }
            }
            Some(token) if token.starts_with('/') => {}
            _ => leaf = None,
        }
    }
    local.sort();
    local.dedup();
    local
}

/// The routes of /proc/net/route and how many lines were not understood (the header is
/// skipped). Addresses are the kernel's raw `__be32` printed as a host-order number.
pub fn parse_route(text: &str) -> (Vec<Ipv4Route>, usize) {
    let mut routes = Vec::new();
    let mut bad_lines = 0;
    for line in text.lines().skip(1).filter(|line| !line.trim().is_empty()) {
        match parse_route_line(line) {
            Some(route) => routes.push(route),
            None => bad_lines += 1,
        }
    }
    (routes, bad_lines)
}

fn parse_route_line(line: &str) -> Option<Ipv4Route> {
    let fields: Vec<&str> = line.split_whitespace().collect();
    let [interface, destination, _gateway, flags, _refcnt, _use, metric, mask, ..] = fields[..] else {
        return None;
    };
    let hex = |field: &str| u32::from_str_radix(field, 16).ok();
    let flags = hex(flags)?;
    let mask = raw_be32(hex(mask)?);
    let prefix_len = u32::from(mask).count_ones();
    // A netmask is contiguous ones.
    if u32::from(mask).checked_shl(prefix_len).unwrap_or(0) != 0 {
        return None;
    }
    if flags & RTF_UP == 0 {
        return None;
    }
    Some(Ipv4Route {
        interface: interface.to_string(),
        destination: raw_be32(hex(destination)?),
        prefix_len: u8::try_from(prefix_len).ok()?,
        via_gateway: flags & RTF_GATEWAY != 0,
        metric: metric.parse().ok()?,
    })
}

/// /proc/net/route prints a network-order address as a native-endian number: its in-memory
/// bytes are the address.
fn raw_be32(printed: u32) -> Ipv4Addr {
    Ipv4Addr::from(printed.to_ne_bytes())
}

/// The interface and prefix of the longest connected subnet holding `address` (lowest metric
/// on a tie); routes through a gateway, the default route among them, say nothing about it.
pub fn attribute_ipv4(address: Ipv4Addr, routes: Option<&[Ipv4Route]>) -> Option<(String, u8)> {
    routes?
        .iter()
        .filter(|route| !route.via_gateway && route.prefix_len > 0)
        .filter(|route| {
            let mask = u32::MAX.checked_shl(32 - u32::from(route.prefix_len)).unwrap_or(0);
            u32::from(address) & mask == u32::from(route.destination) & mask
        })
        .min_by_key(|route| (std::cmp::Reverse(route.prefix_len), route.metric))
        .map(|route| (route.interface.clone(), route.prefix_len))
}

/// The lines of /proc/net/if_inet6 ("address ifindex prefix_len scope flags name", numbers
/// in hex) and how many were not understood.
pub fn parse_if_inet6(text: &str) -> (Vec<Inet6Entry>, usize) {
    let mut entries = Vec::new();
    let mut bad_lines = 0;
    for line in text.lines().filter(|line| !line.trim().is_empty()) {
        match parse_inet6_line(line) {
            Some(entry) => entries.push(entry),
            None => bad_lines += 1,
        }
    }
    (entries, bad_lines)
}

fn parse_inet6_line(line: &str) -> Option<Inet6Entry> {
    let fields: Vec<&str> = line.split_whitespace().collect();
    let [address, _ifindex, prefix_len, _scope, _flags, interface] = fields[..] else {
        return None;
    };
    if address.len() != 32 {
        return None;
    }
    let address = u128::from_str_radix(address, 16).ok()?;
    let prefix_len = u8::from_str_radix(prefix_len, 16).ok().filter(|len| *len <= 128)?;
    Some(Inet6Entry { interface: interface.to_string(), address: address.into(), prefix_len })
}

#[cfg(test)]
mod tests {
    use super::*;

    // Captured from this machine (Linux vm 6.18.44-fc-v595 x86_64, Debian 12), 2026-11-24.
    const FIB_TRIE_6_18: &str = "\
Main:
  +-- 0.0.0.0/0 3 0 5
     |-- 0.0.0.0
        /0 universe UNICAST
     +-- 127.0.0.0/8 2 0 2
        +-- 127.0.0.0/31 1 0 0
           |-- 127.0.0.0
              /8 host LOCAL
           |-- 127.0.0.1
              /32 host LOCAL
        |-- 127.255.255.255
           /32 link BROADCAST
     +-- 192.0.2.0/24 2 0 2
        +-- 192.0.2.0/30 2 0 2
           |-- 192.0.2.0
              /24 link UNICAST
           |-- 192.0.2.2
              /32 host LOCAL
        |-- 192.0.2.255
           /32 link BROADCAST
Local:
  +-- 0.0.0.0/0 3 0 5
     |-- 0.0.0.0
        /0 universe UNICAST
     +-- 127.0.0.0/8 2 0 2
        +-- 127.0.0.0/31 1 0 0
           |-- 127.0.0.0
              /8 host LOCAL
           |-- 127.0.0.1
              /32 host LOCAL
        |-- 127.255.255.255
           /32 link BROADCAST
     +-- 192.0.2.0/24 2 0 2
        +-- 192.0.2.0/30 2 0 2
           |-- 192.0.2.0
              /24 link UNICAST
           |-- 192.0.2.2
              /32 host LOCAL
        |-- 192.0.2.255
           /32 link BROADCAST
";

    // Same machine and date.
    const ROUTE_6_18: &str = "\
Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT                                                       
eth0\t00000000\t010200C0\t0003\t0\t0\t0\t00000000\t0\t0\t0                                                                               
eth0\t000200C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0                                                                               
";

    // Same machine and date.
    const IF_INET6_6_18: &str = "\
fd000000000000000000000000000002 04 40 00 82     eth0
fe8000000000000000fc00fffe000001 04 40 20 80     eth0
00000000000000000000000000000001 01 80 10 80       lo
";

    fn v4(text: &str) -> Ipv4Addr {
        text.parse().expect("test address")
    }

    #[test]
    fn fib_trie_local_leaves_are_the_host_addresses_once_each() {
        assert_eq!(parse_fib_trie_local_ipv4(FIB_TRIE_6_18), vec![v4("127.0.0.1"), v4("192.0.2.2")]);
    }

    #[test]
    fn fib_trie_of_a_3_10_kernel_with_two_routes_on_one_leaf() {
        // CentOS 7 (3.10) style: the Local table lists BROADCAST and LOCAL under one leaf.
        let text = "\
Local:
  +-- 10.0.0.0/8 2 0 2
     |-- 10.0.0.0
        /32 link BROADCAST
        /8 link UNICAST
     |-- 10.1.2.3
        /32 host LOCAL tos=0
";
        assert_eq!(parse_fib_trie_local_ipv4(text), vec![v4("10.1.2.3")]);
    }

    #[test]
    fn route_table_gives_connected_subnets_and_default_route() {
        let (routes, bad_lines) = parse_route(ROUTE_6_18);
        assert_eq!(bad_lines, 0);
        assert_eq!(
            routes,
            vec![
                Ipv4Route {
                    interface: "eth0".into(),
                    destination: v4("0.0.0.0"),
                    prefix_len: 0,
                    via_gateway: true,
                    metric: 0
                },
                Ipv4Route {
                    interface: "eth0".into(),
                    destination: v4("192.0.2.0"),
                    prefix_len: 24,
                    via_gateway: false,
                    metric: 0
                },
            ]
        );
    }

    #[test]
    fn an_address_belongs_to_the_longest_connected_subnet_never_the_default_route() {
        let (mut routes, _) = parse_route(ROUTE_6_18);
        routes.push(Ipv4Route {
            interface: "eth1".into(),
            destination: v4("192.0.2.0"),
            prefix_len: 30,
            via_gateway: false,
            metric: 100,
        });
        assert_eq!(attribute_ipv4(v4("192.0.2.2"), Some(&routes)), Some(("eth1".into(), 30)));
        assert_eq!(attribute_ipv4(v4("192.0.2.9"), Some(&routes)), Some(("eth0".into(), 24)));
        assert_eq!(attribute_ipv4(v4("198.51.100.7"), Some(&routes)), None);
        assert_eq!(attribute_ipv4(v4("192.0.2.2"), None), None);
    }

    #[test]
    fn route_lines_with_junk_are_counted_not_fatal() {
        let text = "Iface\tDestination\nbond0\tnothex\t0\t1\t0\t0\t0\t00FFFFFF\neth0\n";
        assert_eq!(parse_route(text), (vec![], 2));
        // A non-contiguous netmask is not a subnet.
        let text = "Iface\neth0\t000200C0\t00000000\t0001\t0\t0\t0\t00FF00FF\t0\t0\t0\n";
        assert_eq!(parse_route(text), (vec![], 1));
    }

    #[test]
    fn if_inet6_gives_addresses_with_prefix_per_interface() {
        let (entries, bad_lines) = parse_if_inet6(IF_INET6_6_18);
        assert_eq!(bad_lines, 0);
        let seen: Vec<(String, String, u8)> =
            entries.iter().map(|e| (e.interface.clone(), e.address.to_string(), e.prefix_len)).collect();
        assert_eq!(
            seen,
            vec![
                ("eth0".into(), "fd00::2".into(), 64),
                ("eth0".into(), "fe80::fc:ff:fe00:1".into(), 64),
                ("lo".into(), "::1".into(), 128),
            ]
        );
        assert_eq!(parse_if_inet6("zz 04 40 00 82 eth0\nshort\n").1, 2);
    }
}
