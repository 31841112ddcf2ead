//! Pure parsers for the kernel text files the interface choice and `facts` read: one parser
//! per file format. Each takes the file contents as `&str` and never panics: bad input is a
//! `ParseError` naming the line. The line-by-line formats also have a `_tolerant` form that
//! keeps what it understood and lists the lines it did not (`Tolerant`), for callers that
//! must never fail as a whole.

use std::cmp::Reverse;
use std::collections::BTreeSet;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Why some kernel text could not be parsed; the caller adds the path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError(pub String);

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

fn err<T>(why: impl Into<String>) -> Result<T, ParseError> {
    Err(ParseError(why.into()))
}

fn at_line(index: usize, why: impl fmt::Display) -> ParseError {
    ParseError(format!("line {}: {why}", index + 1))
}

/// What a tolerant parse understood, and why each line it did not understand was not
/// ("line N: ..."). `strict` makes the first such line the error of the whole text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tolerant<T> {
    pub entries: Vec<T>,
    pub bad_lines: Vec<ParseError>,
}

impl<T> Tolerant<T> {
    fn new() -> Self {
        Tolerant { entries: Vec::new(), bad_lines: Vec::new() }
    }

    /// All or nothing: the entries when every line was understood, else the first bad line.
    pub fn strict(self) -> Result<Vec<T>, ParseError> {
        match self.bad_lines.into_iter().next() {
            Some(first) => Err(first),
            None => Ok(self.entries),
        }
    }
}

/// Parses each non-blank line's whitespace-separated fields with `parse_line`; a first line
/// whose first field is `header` is skipped.
fn tolerant_lines<T>(
    text: &str,
    header: Option<&str>,
    parse_line: impl Fn(&[&str]) -> Result<T, ParseError>,
) -> Tolerant<T> {
    let mut parsed = Tolerant::new();
    for (index, line) in text.lines().enumerate() {
        let fields: Vec<&str> = line.split_whitespace().collect();
        if fields.is_empty() || (index == 0 && fields.first() == header.as_ref()) {
            continue;
        }
        match parse_line(&fields) {
            Ok(entry) => parsed.entries.push(entry),
            Err(why) => parsed.bad_lines.push(at_line(index, why)),
        }
    }
    parsed
}

/// Route is usable (`RTF_UP`), same value for IPv4 and IPv6.
pub const RTF_UP: u32 = 0x0001;
/// Route goes through a gateway (`RTF_GATEWAY`).
pub const RTF_GATEWAY: u32 = 0x0002;
/// Reject / unreachable route (`RTF_REJECT`).
pub const RTF_REJECT: u32 = 0x0200;

/// One line of /proc/net/route.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ipv4Route {
    pub iface: String,
    pub destination: Ipv4Addr,
    pub gateway: Ipv4Addr,
    pub flags: u32,
    pub metric: u32,
    pub mask: Ipv4Addr,
}

impl Ipv4Route {
    pub fn is_default(&self) -> bool {
        self.destination.is_unspecified() && self.mask.is_unspecified() && self.flags & RTF_UP != 0
    }

    /// Whether `addr` falls in this route's Destination/Mask.
    pub fn contains(&self, addr: Ipv4Addr) -> bool {
        let mask = u32::from(self.mask);
        u32::from(addr) & mask == u32::from(self.destination) & mask
    }

    pub fn prefix_len(&self) -> u32 {
        u32::from(self.mask).count_ones()
    }

    /// A subnet the host is directly on: up, not through a gateway, not a reject route, not
    /// the default route, and a real (contiguous) netmask.
    pub fn is_connected_subnet(&self) -> bool {
        let mask = u32::from(self.mask);
        self.flags & RTF_UP != 0
            && self.flags & (RTF_GATEWAY | RTF_REJECT) == 0
            && mask != 0
            && mask.leading_ones() == mask.count_ones()
    }
}

/// The route that says which interface holds the local address `address`: the longest
/// directly connected subnet holding it, the lowest metric (then the first listed) on a tie.
/// None when no connected subnet holds it (a VIP on lo, a /32 on a point-to-point link):
/// routes through a gateway, the default route among them, say nothing about it.
pub fn attribute_ipv4(address: Ipv4Addr, routes: &[Ipv4Route]) -> Option<&Ipv4Route> {
    routes
        .iter()
        .filter(|route| route.is_connected_subnet() && route.contains(address))
        .min_by_key(|route| (Reverse(route.prefix_len()), route.metric))
}

/// The kernel prints each address of /proc/net/route as `%08X` of the network-order u32
/// read as a host integer, so the bytes come back with the host's own byte order
/// ("010200C0" is 192.0.2.1 on x86).
pub fn route_hex_to_ipv4(hex: &str) -> Result<Ipv4Addr, ParseError> {
    if hex.len() != 8 {
        return err(format!("{hex:?} is not an 8-digit hex address"));
    }
    let value = u32::from_str_radix(hex, 16)
        .map_err(|_| ParseError(format!("{hex:?} is not an 8-digit hex address")))?;
    Ok(Ipv4Addr::from(value.to_ne_bytes()))
}

fn hex_u32(field: &str, what: &str) -> Result<u32, ParseError> {
    u32::from_str_radix(field, 16).map_err(|_| ParseError(format!("{what} {field:?} is not hex")))
}

/// /proc/net/route: a header line, then
/// `Iface Destination Gateway Flags RefCnt Use Metric Mask MTU Window IRTT`.
pub fn parse_ipv4_routes(text: &str) -> Result<Vec<Ipv4Route>, ParseError> {
    parse_ipv4_routes_tolerant(text).strict()
}

/// `parse_ipv4_routes`, keeping the lines it understands and listing the others.
pub fn parse_ipv4_routes_tolerant(text: &str) -> Tolerant<Ipv4Route> {
    tolerant_lines(text, Some("Iface"), |fields| {
        let [iface, destination, gateway, flags, _refcnt, _use, metric, mask, ..] = fields[..] else {
            return err(format!("expected at least 8 fields, found {}", fields.len()));
        };
        let prefixed = |what: &str, e: ParseError| ParseError(format!("{what} {e}"));
        Ok(Ipv4Route {
            iface: iface.to_string(),
            destination: route_hex_to_ipv4(destination).map_err(|e| prefixed("destination", e))?,
            gateway: route_hex_to_ipv4(gateway).map_err(|e| prefixed("gateway", e))?,
            flags: hex_u32(flags, "flags")?,
            metric: metric.parse().map_err(|_| ParseError(format!("metric {metric:?} is not a number")))?,
            mask: route_hex_to_ipv4(mask).map_err(|e| prefixed("mask", e))?,
        })
    })
}

/// An IPv6 address written as 32 hex digits without colons (ipv6_route, if_inet6).
pub fn parse_ipv6_hex(hex: &str) -> Result<Ipv6Addr, ParseError> {
    if hex.len() != 32 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return err(format!("{hex:?} is not a 32-digit hex IPv6 address"));
    }
    let value = u128::from_str_radix(hex, 16)
        .map_err(|_| ParseError(format!("{hex:?} is not a 32-digit hex IPv6 address")))?;
    Ok(Ipv6Addr::from(value))
}

/// One line of /proc/net/ipv6_route.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ipv6Route {
    pub destination: Ipv6Addr,
    pub prefix_len: u8,
    pub next_hop: Ipv6Addr,
    pub metric: u32,
    pub flags: u32,
    pub iface: String,
}

impl Ipv6Route {
    /// A usable ::/0 route on a real interface (the kernel keeps a reject ::/0 on `lo`).
    pub fn is_default(&self) -> bool {
        self.destination.is_unspecified()
            && self.prefix_len == 0
            && self.flags & RTF_UP != 0
            && self.flags & RTF_REJECT == 0
            && self.iface != "lo"
    }
}

/// /proc/net/ipv6_route: `dest plen src src_plen next_hop metric refcnt use flags iface`,
/// every number in hex, no header.
pub fn parse_ipv6_routes(text: &str) -> Result<Vec<Ipv6Route>, ParseError> {
    tolerant_lines(text, None, |fields| {
        let [destination, prefix_len, _src, _src_plen, next_hop, metric, _refcnt, _use, flags, iface] =
            fields[..]
        else {
            return err(format!("expected 10 fields, found {}", fields.len()));
        };
        Ok(Ipv6Route {
            destination: parse_ipv6_hex(destination)?,
            prefix_len: ipv6_prefix_len(prefix_len)?,
            next_hop: parse_ipv6_hex(next_hop)?,
            metric: hex_u32(metric, "metric")?,
            flags: hex_u32(flags, "flags")?,
            iface: iface.to_string(),
        })
    })
    .strict()
}

/// An IPv6 prefix length in hex, at most 128.
fn ipv6_prefix_len(field: &str) -> Result<u8, ParseError> {
    let prefix_len = hex_u32(field, "prefix length")?;
    u8::try_from(prefix_len)
        .ok()
        .filter(|len| *len <= 128)
        .ok_or_else(|| ParseError(format!("prefix length {prefix_len} is over 128")))
}

/// One line of /proc/net/if_inet6.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inet6Address {
    pub address: Ipv6Addr,
    pub ifindex: u32,
    pub prefix_len: u8,
    pub iface: String,
}

/// /proc/net/if_inet6: `address ifindex prefix_len scope flags iface`, numbers in hex.
pub fn parse_if_inet6(text: &str) -> Result<Vec<Inet6Address>, ParseError> {
    parse_if_inet6_tolerant(text).strict()
}

/// `parse_if_inet6`, keeping the lines it understands and listing the others.
pub fn parse_if_inet6_tolerant(text: &str) -> Tolerant<Inet6Address> {
    tolerant_lines(text, None, |fields| {
        let [address, ifindex, prefix_len, _scope, _flags, iface] = fields[..] else {
            return err(format!("expected 6 fields, found {}", fields.len()));
        };
        Ok(Inet6Address {
            address: parse_ipv6_hex(address)?,
            ifindex: hex_u32(ifindex, "ifindex")?,
            prefix_len: ipv6_prefix_len(prefix_len)?,
            iface: iface.to_string(),
        })
    })
}

/// The host's own IPv4 addresses from /proc/net/fib_trie: every leaf followed by a
/// `/32 host LOCAL` line (maybe with a `tos=N` after it). The trie is printed once per
/// table (Main, Local, ...), so the result is de-duplicated, in first-seen order.
pub fn parse_fib_trie_local(text: &str) -> Result<Vec<Ipv4Addr>, ParseError> {
    parse_fib_trie_local_tolerant(text).strict()
}

/// `parse_fib_trie_local`, keeping the addresses it understands and listing the lines it
/// does not; the route lines under a leaf that is not an address are skipped with it.
pub fn parse_fib_trie_local_tolerant(text: &str) -> Tolerant<Ipv4Addr> {
    let mut parsed = Tolerant::new();
    let mut seen = BTreeSet::new();
    // None: no leaf above this line; Some(None): a leaf that is not an address.
    let mut leaf: Option<Option<Ipv4Addr>> = None;
    let mut recognised = 0usize;
    for (index, line) in text.lines().enumerate() {
        let trimmed = line.trim();
        if let Some(rest) = trimmed.strip_prefix("|--") {
            let ip = rest.trim();
            let address = ip.parse().ok();
            if address.is_none() {
                parsed.bad_lines.push(at_line(index, format!("{ip:?} is not an IPv4 address")));
            }
            leaf = Some(address);
            recognised += 1;
        } else if trimmed.starts_with("+--") || trimmed.ends_with(':') {
            // An inner node of the trie, or a table header ("Main:", "Local:", "Id 1000:").
            leaf = None;
            recognised += 1;
        } else if trimmed.starts_with('/') {
            recognised += 1;
            let Some(address) = leaf else {
                parsed.bad_lines.push(at_line(index, format!("{trimmed:?} follows no address")));
                continue;
            };
            let words: Vec<&str> = trimmed.split_whitespace().collect();
            if let (Some(ip), ["/32", _scope, "LOCAL", ..]) = (address, &words[..]) {
                if seen.insert(ip) {
                    parsed.entries.push(ip);
                }
            }
        }
    }
    if recognised == 0 && !text.trim().is_empty() {
        parsed.bad_lines.push(ParseError("no fib_trie structure found".into()));
    }
    parsed
}

/// `KEY=VALUE` lines of a sysfs `uevent` file.
pub fn parse_uevent(text: &str) -> Result<Vec<(String, String)>, ParseError> {
    let mut pairs = Vec::new();
    for (index, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let Some((key, value)) = line.split_once('=') else {
            return err(format!("line {}: {line:?} is not KEY=VALUE", index + 1));
        };
        if key.is_empty() {
            return err(format!("line {}: empty key", index + 1));
        }
        pairs.push((key.to_string(), value.to_string()));
    }
    Ok(pairs)
}

/// DEVTYPE of a uevent ("bridge", "bond", "vlan", "wireguard", ...), if any.
pub fn uevent_devtype(text: &str) -> Result<Option<String>, ParseError> {
    Ok(parse_uevent(text)?.into_iter().find(|(key, _)| key == "DEVTYPE").map(|(_, value)| value))
}

/// An Ethernet MAC in lower-case colon form ("0c:c4:7a:1f:00:02"). Accepts upper case and
/// one-digit octets; rejects other lengths and the all-zero address (a NIC with no MAC).
pub fn normalise_mac(raw: &str) -> Result<String, ParseError> {
    let raw = raw.trim();
    match hw_octets(raw) {
        Some(octets) if octets.len() == 6 => colon_form(&octets),
        _ => err(format!("{raw:?} is not a 6-byte MAC address")),
    }
}

/// A sysfs `address`/`perm_hwaddr` of any link type with 6 or more octets (6 for Ethernet,
/// 20 for InfiniBand) in lower-case colon form, by the rules of `normalise_mac`.
pub fn normalise_hw_address(raw: &str) -> Result<String, ParseError> {
    let raw = raw.trim();
    match hw_octets(raw) {
        Some(octets) if octets.len() >= 6 => colon_form(&octets),
        _ => err(format!("{raw:?} is not a MAC address")),
    }
}

/// Colon-separated hex octets of one or two digits.
fn hw_octets(raw: &str) -> Option<Vec<u8>> {
    raw.split(':')
        .map(|octet| {
            if octet.is_empty() || octet.len() > 2 || !octet.bytes().all(|b| b.is_ascii_hexdigit()) {
                return None;
            }
            u8::from_str_radix(octet, 16).ok()
        })
        .collect()
}

fn colon_form(octets: &[u8]) -> Result<String, ParseError> {
    if octets.iter().all(|b| *b == 0) {
        return err("all-zero MAC address (the interface has no hardware address)");
    }
    Ok(octets.iter().map(|b| format!("{b:02x}")).collect::<Vec<_>>().join(":"))
}

/// Kernel interface-name rules (IFNAMSIZ 16 including NUL) plus what keeps a name safe to
/// join under /sys/class/net.
pub fn validate_ifname(name: &str) -> Result<(), &'static str> {
    // One rule for the agent and the config service, which must never store a name we refuse.
    pushagent_proto::check::interface_name(name)
}

/// /proc/net/vlan/config: `VLAN Dev name | VLAN ID` header lines, then
/// `eth0.100 | 100 | eth0`. Returns (vlan interface, lower interface) pairs.
pub fn parse_vlan_config(text: &str) -> Result<Vec<(String, String)>, ParseError> {
    let mut pairs = Vec::new();
    for (index, line) in text.lines().enumerate() {
        if line.trim().is_empty() || line.starts_with("VLAN Dev name") || line.starts_with("Name-Type") {
            continue;
        }
        let fields: Vec<&str> = line.split('|').map(str::trim).collect();
        match fields.as_slice() {
            [vlan, _id, lower] if !vlan.is_empty() && !lower.is_empty() => {
                pairs.push((vlan.to_string(), lower.to_string()))
            }
            _ => return err(format!("line {}: {line:?} is not \"dev | id | lower\"", index + 1)),
        }
    }
    Ok(pairs)
}

/// sysfs number files ("1500\n"); whitespace trimmed.
pub fn parse_decimal_u64(text: &str) -> Result<u64, ParseError> {
    let trimmed = text.trim();
    trimmed.parse().map_err(|_| ParseError(format!("{trimmed:?} is not a non-negative integer")))
}

/// sysfs `speed` in Mb/s; Ok(None) when the kernel has none: -1 (SPEED_UNKNOWN), 0, or the
/// unsigned forms 65535 and 4294967295 older drivers printed for it.
pub fn parse_speed_mbps(text: &str) -> Result<Option<u32>, ParseError> {
    let value = text.trim();
    let speed: i64 = value.parse().map_err(|_| ParseError(format!("{value:?} is not a number")))?;
    match speed {
        i64::MIN..=0 | 65535 | 4294967295 => Ok(None),
        _ => u32::try_from(speed).map(Some).map_err(|_| ParseError(format!("{speed} is out of range"))),
    }
}

/// /proc/sys/kernel/random/boot_id: a UUID in 8-4-4-4-12 form, in lower case.
pub fn parse_boot_id(text: &str) -> Result<String, ParseError> {
    let id = text.trim();
    let groups: Vec<&str> = id.split('-').collect();
    let lens: Vec<usize> = groups.iter().map(|g| g.len()).collect();
    let hex = groups.iter().all(|g| g.chars().all(|c| c.is_ascii_hexdigit()));
    if lens != [8, 4, 4, 4, 12] || !hex {
        return err(format!("{id:?} is not a UUID"));
    }
    Ok(id.to_ascii_lowercase())
}

/// `tun_flags` ("0x1002"): hex with a 0x prefix.
pub fn parse_hex_flags(text: &str) -> Result<u32, ParseError> {
    let trimmed = text.trim();
    let digits = trimmed.strip_prefix("0x").unwrap_or(trimmed);
    u32::from_str_radix(digits, 16).map_err(|_| ParseError(format!("{trimmed:?} is not hex flags")))
}

/// An address that identifies the host on the internet: not private, shared (CGNAT),
/// link-local, loopback, unspecified or multicast.
pub fn is_public(addr: &IpAddr) -> bool {
    match addr {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            let cgnat = a == 100 && (64..128).contains(&b);
            !(v4.is_private()
                || cgnat
                || v4.is_link_local()
                || v4.is_loopback()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_multicast())
        }
        IpAddr::V6(v6) => {
            let first = v6.segments()[0];
            let link_local = first & 0xffc0 == 0xfe80;
            let unique_local = first & 0xfe00 == 0xfc00;
            !(link_local || unique_local || v6.is_loopback() || v6.is_unspecified() || v6.is_multicast())
        }
    }
}

#[cfg(test)]
#[path = "parse_tests.rs"]
mod tests;
