//! Pure parsers for the kernel text files the interface choice reads. Each takes the file
//! contents as `&str` and never panics: bad input is a `ParseError` naming the line.

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
    let mut routes = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let fields: Vec<&str> = line.split_whitespace().collect();
        if fields.is_empty() || (index == 0 && fields[0] == "Iface") {
            continue;
        }
        let at = |why: String| ParseError(format!("line {}: {why}", index + 1));
        if fields.len() < 8 {
            return Err(at(format!("expected at least 8 fields, found {}", fields.len())));
        }
        routes.push(Ipv4Route {
            iface: fields[0].to_string(),
            destination: route_hex_to_ipv4(fields[1]).map_err(|e| at(format!("destination {e}")))?,
            gateway: route_hex_to_ipv4(fields[2]).map_err(|e| at(format!("gateway {e}")))?,
            flags: hex_u32(fields[3], "flags").map_err(|e| at(e.0))?,
            metric: fields[6].parse().map_err(|_| at(format!("metric {:?} is not a number", fields[6])))?,
            mask: route_hex_to_ipv4(fields[7]).map_err(|e| at(format!("mask {e}")))?,
        });
    }
    Ok(routes)
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
    let mut routes = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let fields: Vec<&str> = line.split_whitespace().collect();
        if fields.is_empty() {
            continue;
        }
        let at = |e: ParseError| ParseError(format!("line {}: {}", index + 1, e.0));
        if fields.len() != 10 {
            return Err(at(ParseError(format!("expected 10 fields, found {}", fields.len()))));
        }
        let prefix_len = hex_u32(fields[1], "prefix length").map_err(at)?;
        let prefix_len = u8::try_from(prefix_len)
            .ok()
            .filter(|len| *len <= 128)
            .ok_or_else(|| at(ParseError(format!("prefix length {prefix_len} is over 128"))))?;
        routes.push(Ipv6Route {
            destination: parse_ipv6_hex(fields[0]).map_err(at)?,
            prefix_len,
            next_hop: parse_ipv6_hex(fields[4]).map_err(at)?,
            metric: hex_u32(fields[5], "metric").map_err(at)?,
            flags: hex_u32(fields[8], "flags").map_err(at)?,
            iface: fields[9].to_string(),
        });
    }
    Ok(routes)
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
    let mut addresses = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let fields: Vec<&str> = line.split_whitespace().collect();
        if fields.is_empty() {
            continue;
        }
        let at = |e: ParseError| ParseError(format!("line {}: {}", index + 1, e.0));
        if fields.len() != 6 {
            return Err(at(ParseError(format!("expected 6 fields, found {}", fields.len()))));
        }
        let prefix_len = hex_u32(fields[2], "prefix length").map_err(at)?;
        addresses.push(Inet6Address {
            address: parse_ipv6_hex(fields[0]).map_err(at)?,
            ifindex: hex_u32(fields[1], "ifindex").map_err(at)?,
            prefix_len: u8::try_from(prefix_len)
                .ok()
                .filter(|len| *len <= 128)
                .ok_or_else(|| at(ParseError(format!("prefix length {prefix_len} is over 128"))))?,
            iface: fields[5].to_string(),
        });
    }
    Ok(addresses)
}

/// The host's own IPv4 addresses from /proc/net/fib_trie: every leaf followed by a
/// `/32 host LOCAL` line. The trie is printed once per table (Main, Local, ...), so the
/// result is de-duplicated, in first-seen order.
pub fn parse_fib_trie_local(text: &str) -> Result<Vec<Ipv4Addr>, ParseError> {
    let mut locals: Vec<Ipv4Addr> = Vec::new();
    let mut leaf: Option<Ipv4Addr> = None;
    let mut recognised = 0usize;
    for (index, line) in text.lines().enumerate() {
        let trimmed = line.trim();
        if trimmed.is_empty() {
            continue;
        }
        let at = |why: String| ParseError(format!("line {}: {why}", index + 1));
        if let Some(rest) = trimmed.strip_prefix("|--") {
            let ip = rest.trim();
            leaf = Some(ip.parse().map_err(|_| at(format!("{ip:?} is not an IPv4 address")))?);
            recognised += 1;
        } else if trimmed.starts_with("+--") || trimmed.ends_with(':') {
            // An inner node of the trie, or a table header ("Main:", "Local:", "Id 1000:").
            leaf = None;
            recognised += 1;
        } else if trimmed.starts_with('/') {
            let words: Vec<&str> = trimmed.split_whitespace().collect();
            let Some(ip) = leaf else {
                return Err(at(format!("{trimmed:?} follows no address")));
            };
            if words.first() == Some(&"/32") && words.last() == Some(&"LOCAL") && !locals.contains(&ip) {
                locals.push(ip);
            }
            recognised += 1;
        }
    }
    if recognised == 0 && !text.trim().is_empty() {
        return err("no fib_trie structure found");
    }
    Ok(locals)
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
    let octets: Vec<&str> = raw.split(':').collect();
    if octets.len() != 6 {
        return err(format!("{raw:?} is not a 6-byte MAC address"));
    }
    let mut bytes = [0u8; 6];
    for (byte, octet) in bytes.iter_mut().zip(&octets) {
        if octet.is_empty() || octet.len() > 2 || !octet.bytes().all(|b| b.is_ascii_hexdigit()) {
            return err(format!("{raw:?} is not a 6-byte MAC address"));
        }
        *byte = u8::from_str_radix(octet, 16)
            .map_err(|_| ParseError(format!("{raw:?} is not a 6-byte MAC address")))?;
    }
    if bytes == [0; 6] {
        return err("all-zero MAC address (the interface has no hardware address)");
    }
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect::<Vec<_>>().join(":"))
}

/// Kernel interface-name rules (IFNAMSIZ 16 including NUL) plus what keeps a name safe to
/// join under /sys/class/net.
pub fn validate_ifname(name: &str) -> Result<(), &'static str> {
    if name.is_empty() {
        return Err("empty name");
    }
    if name.len() > 15 {
        return Err("longer than 15 bytes");
    }
    if name == "." || name == ".." || name.contains("..") {
        return Err("contains \"..\" or is \".\"");
    }
    if name.contains('/') {
        return Err("contains '/'");
    }
    if name.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("contains whitespace or control characters");
    }
    if name.contains(':') {
        // "eth0:1" is an address label, not an interface; the kernel refuses ':' in names.
        return Err("contains ':' (an address alias, not an interface)");
    }
    Ok(())
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

/// `speed` in Mb/s to bits/s; -1, 0, empty, garbage and the old unsigned -1 mean unknown.
pub fn parse_speed_mbps(text: &str) -> Option<u64> {
    let mbps: i64 = text.trim().parse().ok()?;
    if mbps <= 0 || mbps >= i64::from(u32::MAX) {
        return None;
    }
    u64::try_from(mbps).ok()?.checked_mul(1_000_000)
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
mod tests {
    use super::*;

    const ROUTE: &str =
        "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n\
        eth0\t00000000\t010200C0\t0003\t0\t0\t100\t00000000\t0\t0\t0\n\
        eth0\t000200C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n";

    #[test]
    #[cfg(target_endian = "little")]
    fn route_hex_is_the_network_order_word_printed_on_a_little_endian_host() {
        assert_eq!(route_hex_to_ipv4("010200C0"), Ok(Ipv4Addr::new(192, 0, 2, 1)));
        assert_eq!(route_hex_to_ipv4("00FFFFFF"), Ok(Ipv4Addr::new(255, 255, 255, 0)));
        assert_eq!(route_hex_to_ipv4("0A7100CB"), Ok(Ipv4Addr::new(203, 0, 113, 10)));
    }

    #[test]
    #[cfg(target_endian = "little")]
    fn route_table_gives_default_and_connected_routes() {
        let routes = parse_ipv4_routes(ROUTE).expect("valid table");
        assert_eq!(routes.len(), 2);
        assert!(routes[0].is_default());
        assert_eq!(routes[0].gateway, Ipv4Addr::new(192, 0, 2, 1));
        assert_eq!(routes[0].metric, 100);
        assert!(!routes[1].is_default());
        assert_eq!(routes[1].prefix_len(), 24);
        assert!(routes[1].contains(Ipv4Addr::new(192, 0, 2, 77)));
        assert!(!routes[1].contains(Ipv4Addr::new(192, 0, 3, 77)));
    }

    #[test]
    fn a_default_route_that_is_not_up_is_not_default() {
        let routes = parse_ipv4_routes("eth0 00000000 010200C0 0002 0 0 0 00000000 0 0 0").expect("valid");
        assert!(!routes[0].is_default());
    }

    #[test]
    fn garbage_route_tables_are_errors_not_panics() {
        for garbage in [
            "eth0 zz 00000000 0001 0 0 0 00000000 0 0 0",
            "eth0 00000000",
            "eth0 00000000 00000000 0001 0 0 -1 00000000 0 0 0",
            "eth0 000000000 00000000 0001 0 0 0 00000000 0 0 0",
            "eth0 00000000 00000000 ÿÿ 0 0 0 00000000 0 0 0",
        ] {
            assert!(parse_ipv4_routes(garbage).is_err(), "{garbage:?} should be refused");
        }
        assert_eq!(parse_ipv4_routes(""), Ok(vec![]));
    }

    #[test]
    fn ipv6_default_route_skips_the_reject_route_on_lo() {
        let text = "\
00000000000000000000000000000000 00 00000000000000000000000000000000 00 20010db8000000000000000000000001 00000400 00000002 00000000 00000003     eth0
fe800000000000000000000000000000 40 00000000000000000000000000000000 00 00000000000000000000000000000000 00000100 00000002 00000000 00000001     eth0
00000000000000000000000000000000 00 00000000000000000000000000000000 00 00000000000000000000000000000000 ffffffff 00000001 00000000 00200200       lo
";
        let routes = parse_ipv6_routes(text).expect("valid");
        assert_eq!(routes.len(), 3);
        assert!(routes[0].is_default());
        assert_eq!(routes[0].metric, 1024);
        assert_eq!(routes[0].next_hop, "2001:db8::1".parse::<Ipv6Addr>().expect("literal"));
        assert!(!routes[1].is_default());
        assert!(!routes[2].is_default());
        assert_eq!(routes[1].prefix_len, 64);
    }

    #[test]
    fn garbage_ipv6_routes_are_errors() {
        assert!(parse_ipv6_routes("0000 00 eth0").is_err());
        assert!(parse_ipv6_routes(
            "0000000000000000000000000000000g 00 00000000000000000000000000000000 00 00000000000000000000000000000000 00000400 00000002 00000000 00000003 eth0"
        )
        .is_err());
        assert!(parse_ipv6_routes(
            "00000000000000000000000000000000 ff 00000000000000000000000000000000 00 00000000000000000000000000000000 00000400 00000002 00000000 00000003 eth0"
        )
        .is_err());
    }

    #[test]
    fn if_inet6_names_the_interface() {
        let text = "20010db8000000000000000000000010 02 40 00 80     eth0\n\
                    00000000000000000000000000000001 01 80 10 80       lo\n";
        let addresses = parse_if_inet6(text).expect("valid");
        assert_eq!(addresses[0].address, "2001:db8::10".parse::<Ipv6Addr>().expect("literal"));
        assert_eq!(addresses[0].ifindex, 2);
        assert_eq!(addresses[0].prefix_len, 64);
        assert_eq!(addresses[0].iface, "eth0");
        assert_eq!(addresses[1].iface, "lo");
        assert!(parse_if_inet6("2001 eth0").is_err());
    }

    #[test]
    fn fib_trie_yields_each_local_address_once() {
        let text = "\
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
     +-- 203.0.113.0/24 2 0 2
        |-- 203.0.113.0
           /24 link UNICAST
        |-- 203.0.113.10
           /32 host LOCAL
Local:
  +-- 0.0.0.0/0 3 0 5
     |-- 203.0.113.10
        /32 host LOCAL
";
        let locals = parse_fib_trie_local(text).expect("valid");
        assert_eq!(locals, vec![Ipv4Addr::new(127, 0, 0, 1), Ipv4Addr::new(203, 0, 113, 10)]);
    }

    #[test]
    fn garbage_fib_trie_is_an_error() {
        assert!(parse_fib_trie_local("hello world").is_err());
        assert!(parse_fib_trie_local("Main:\n  |-- 300.1.1.1\n").is_err());
        assert!(parse_fib_trie_local("Main:\n  /32 host LOCAL\n").is_err());
        assert_eq!(parse_fib_trie_local(""), Ok(vec![]));
    }

    #[test]
    fn uevent_gives_the_devtype() {
        assert_eq!(
            uevent_devtype("DEVTYPE=vlan\nINTERFACE=eth0.100\nIFINDEX=3\n"),
            Ok(Some("vlan".to_string()))
        );
        assert_eq!(uevent_devtype("INTERFACE=eth0\nIFINDEX=2\n"), Ok(None));
        assert!(uevent_devtype("this is not a uevent").is_err());
    }

    #[test]
    fn mac_is_normalised_to_lower_case_colon_form() {
        assert_eq!(normalise_mac("0C:C4:7A:1F:00:02\n"), Ok("0c:c4:7a:1f:00:02".to_string()));
        assert_eq!(normalise_mac("2:0:0:a:b:c"), Ok("02:00:00:0a:0b:0c".to_string()));
    }

    #[test]
    fn bad_macs_are_refused() {
        for bad in [
            "",
            "00:00:00:00:00:00",
            "0c:c4:7a:1f:00",
            "0c:c4:7a:1f:00:02:03",
            "0c:c4:7a:1f:00:zz",
            "0c:c4:7a:1f:00:123",
            "0c-c4-7a-1f-00-02",
            "0c:c4:7a:1f::02",
        ] {
            assert!(normalise_mac(bad).is_err(), "{bad:?} should be refused");
        }
    }

    #[test]
    fn interface_names() {
        for good in ["eth0", "enp3s0f0v0", "br-1a2b3c4d5e6f", "eth0.100", "a"] {
            assert_eq!(validate_ifname(good), Ok(()), "{good}");
        }
        for bad in ["", ".", "..", "../etc", "a..b", "eth/0", "eth 0", "eth0\n", "0123456789abcdef", "eth0:1"]
        {
            assert!(validate_ifname(bad).is_err(), "{bad:?} should be refused");
        }
        assert_eq!(validate_ifname("0123456789abcde"), Ok(()));
    }

    #[test]
    fn vlan_config() {
        let text = "VLAN Dev name\t | VLAN ID\nName-Type: VLAN_NAME_TYPE_RAW_PLUS_VID_NO_PAD\neth0.100       | 100  | eth0\n";
        assert_eq!(parse_vlan_config(text), Ok(vec![("eth0.100".to_string(), "eth0".to_string())]));
        assert!(parse_vlan_config("eth0.100 100 eth0").is_err());
    }

    #[test]
    fn speed_in_bits_per_second() {
        assert_eq!(parse_speed_mbps("1000\n"), Some(1_000_000_000));
        assert_eq!(parse_speed_mbps("25000"), Some(25_000_000_000));
        assert_eq!(parse_speed_mbps("-1\n"), None);
        assert_eq!(parse_speed_mbps(""), None);
        assert_eq!(parse_speed_mbps("4294967295"), None);
        assert_eq!(parse_speed_mbps("fast"), None);
    }

    #[test]
    fn public_addresses() {
        let public = |s: &str| is_public(&s.parse().expect("literal"));
        assert!(public("203.0.113.10"));
        assert!(public("198.51.100.7"));
        assert!(!public("10.0.0.5"));
        assert!(!public("172.16.3.4"));
        assert!(!public("192.168.1.1"));
        assert!(!public("100.64.0.1"));
        assert!(!public("100.127.255.254"));
        assert!(public("100.128.0.1"));
        assert!(!public("169.254.169.254"));
        assert!(!public("127.0.0.1"));
        assert!(public("2001:db8::10"));
        assert!(!public("fe80::1"));
        assert!(!public("fd00::2"));
        assert!(!public("::1"));
    }

    #[test]
    fn numbers_and_flags() {
        assert_eq!(parse_decimal_u64("123\n"), Ok(123));
        assert!(parse_decimal_u64("-1").is_err());
        assert!(parse_decimal_u64("").is_err());
        assert_eq!(parse_hex_flags("0x1002\n"), Ok(0x1002));
        assert!(parse_hex_flags("0xzz").is_err());
    }
}
