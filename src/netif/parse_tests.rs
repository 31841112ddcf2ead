//! Tests of the pure parsers in `parse.rs` (captured files and their edge cases).

use super::*;

const ROUTE: &str = "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n\
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
 |-- 10.0.0.0
    /32 link BROADCAST
    /8 link UNICAST
 |-- 10.1.2.3
    /32 host LOCAL tos=0
 |-- 203.0.113.10
    /32 host LOCAL
";
    // The Local table's leaves carry several routes and a "tos=N" as CentOS 7 (3.10) prints.
    let locals = parse_fib_trie_local(text).expect("valid");
    let expected = [[127, 0, 0, 1], [203, 0, 113, 10], [10, 1, 2, 3]].map(Ipv4Addr::from);
    assert_eq!(locals, expected);
}

#[test]
fn garbage_fib_trie_is_an_error() {
    assert!(parse_fib_trie_local("hello world").is_err());
    assert!(parse_fib_trie_local("Main:\n  |-- 300.1.1.1\n").is_err());
    assert!(parse_fib_trie_local("Main:\n  /32 host LOCAL\n").is_err());
    assert_eq!(parse_fib_trie_local(""), Ok(vec![]));
}

#[test]
fn tolerant_fib_trie_keeps_the_addresses_it_understands() {
    let text = "Main:\n  |-- 300.1.1.1\n     /32 host LOCAL\n  |-- 10.1.2.3\n     /32 host LOCAL\n";
    let parsed = parse_fib_trie_local_tolerant(text);
    assert_eq!(parsed.entries, vec![Ipv4Addr::new(10, 1, 2, 3)]);
    // One bad line: the route under the unreadable leaf goes with it.
    assert_eq!(parsed.bad_lines, vec![ParseError("line 2: \"300.1.1.1\" is not an IPv4 address".into())]);
    assert_eq!(parse_fib_trie_local_tolerant("hello world").bad_lines.len(), 1);
}

fn route(iface: &str, destination: [u8; 4], prefix_len: u32, flags: u32, metric: u32) -> Ipv4Route {
    Ipv4Route {
        iface: iface.into(),
        destination: destination.into(),
        gateway: Ipv4Addr::UNSPECIFIED,
        flags,
        metric,
        mask: Ipv4Addr::from(u32::MAX.checked_shl(32 - prefix_len).unwrap_or(0)),
    }
}

#[test]
fn an_address_belongs_to_the_longest_connected_subnet_never_the_default_route() {
    let up = RTF_UP;
    let routes = vec![
        route("eth0", [0, 0, 0, 0], 0, up | RTF_GATEWAY, 0),
        route("eth0", [192, 0, 2, 0], 24, up, 0),
        route("eth1", [192, 0, 2, 0], 30, up, 100),
        route("eth2", [192, 0, 2, 0], 30, up, 50),
        route("eth3", [198, 51, 100, 0], 24, up | RTF_GATEWAY, 0),
        route("*", [203, 0, 113, 0], 24, up | RTF_REJECT, 0),
        route("eth4", [10, 0, 0, 0], 8, 0, 0),
    ];
    let attributed =
        |ip: [u8; 4]| attribute_ipv4(ip.into(), &routes).map(|r| (r.iface.clone(), r.prefix_len()));
    assert_eq!(attributed([192, 0, 2, 2]), Some(("eth2".into(), 30)), "longest, then lowest metric");
    assert_eq!(attributed([192, 0, 2, 9]), Some(("eth0".into(), 24)));
    assert_eq!(attributed([198, 51, 100, 7]), None, "through a gateway");
    assert_eq!(attributed([203, 0, 113, 7]), None, "a reject route");
    assert_eq!(attributed([10, 1, 2, 3]), None, "a route that is not up");
    assert_eq!(attribute_ipv4(Ipv4Addr::new(192, 0, 2, 2), &[]), None);
}

#[test]
fn a_non_contiguous_netmask_is_not_a_subnet() {
    let mut odd = route("eth0", [192, 0, 2, 0], 24, RTF_UP, 0);
    odd.mask = Ipv4Addr::new(255, 0, 255, 0);
    assert!(!odd.is_connected_subnet());
    assert_eq!(attribute_ipv4(Ipv4Addr::new(192, 0, 2, 2), &[odd]), None);
}

#[test]
fn route_lines_with_junk_are_counted_not_fatal_when_tolerant() {
    let text = "Iface\tDestination\nbond0\tnothex\t0\t1\t0\t0\t0\t00FFFFFF\neth0\n\
                eth0\t000200C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n";
    let parsed = parse_ipv4_routes_tolerant(text);
    assert_eq!(parsed.entries.len(), 1);
    assert_eq!(parsed.entries[0].iface, "eth0");
    assert_eq!(parsed.bad_lines.len(), 2);
    assert!(parsed.bad_lines[0].0.starts_with("line 2: destination"), "{:?}", parsed.bad_lines);
    assert_eq!(parsed.bad_lines[1], ParseError("line 3: expected at least 8 fields, found 1".into()));
    assert_eq!(parse_ipv4_routes(text), Err(parsed.bad_lines[0].clone()));
}

#[test]
fn tolerant_if_inet6_counts_the_lines_it_cannot_read() {
    // Captured from this machine (Linux vm 6.18.44-fc-v595 x86_64, Debian 12), 2026-11-24.
    let text = "\
fd000000000000000000000000000002 04 40 00 82     eth0
fe8000000000000000fc00fffe000001 04 40 20 80     eth0
zz 04 40 00 82 eth0
short
00000000000000000000000000000001 01 80 10 80       lo
";
    let parsed = parse_if_inet6_tolerant(text);
    let seen: Vec<(String, String, u8)> =
        parsed.entries.iter().map(|e| (e.iface.clone(), e.address.to_string(), e.prefix_len)).collect();
    assert_eq!(
        seen,
        vec![
            ("eth0".into(), "fd00::2".into(), 64),
            ("eth0".into(), "fe80::fc:ff:fe00:1".into(), 64),
            ("lo".into(), "::1".into(), 128),
        ]
    );
    assert_eq!(parsed.bad_lines.len(), 2);
}

#[test]
fn uevent_gives_the_devtype() {
    assert_eq!(uevent_devtype("DEVTYPE=vlan\nINTERFACE=eth0.100\nIFINDEX=3\n"), Ok(Some("vlan".to_string())));
    assert_eq!(uevent_devtype("INTERFACE=eth0\nIFINDEX=2\n"), Ok(None));
    assert!(uevent_devtype("this is not a uevent").is_err());
}

#[test]
fn mac_is_normalised_to_lower_case_colon_form() {
    assert_eq!(normalise_mac("0C:C4:7A:1F:00:02\n"), Ok("0c:c4:7a:1f:00:02".to_string()));
    assert_eq!(normalise_mac("2:0:0:a:b:c"), Ok("02:00:00:0a:0b:0c".to_string()));
}

#[test]
fn hardware_addresses_of_other_link_types_are_normalised_too() {
    // Captured from this machine's eth0 (virtio_net), 2026-11-24.
    assert_eq!(normalise_hw_address("02:fc:00:00:00:01\n"), Ok("02:fc:00:00:00:01".to_string()));
    assert_eq!(normalise_hw_address("A0:36:9F:1C:2B:3E\n"), Ok("a0:36:9f:1c:2b:3e".to_string()));
    let infiniband = "80:00:02:08:FE:80:00:00:00:00:00:00:00:02:C9:03:00:0A:BC:DE";
    assert_eq!(normalise_hw_address(infiniband), Ok(infiniband.to_ascii_lowercase()));
    assert!(normalise_mac(infiniband).is_err(), "not an Ethernet MAC");
    for bad in ["\n", "00:00:00:00:00:00\n", "a0:36:9f:1c:2b\n", "a0-36-9f-1c-2b-3e\n", "00:00:00:00"] {
        assert!(normalise_hw_address(bad).is_err(), "{bad:?} should be refused");
    }
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
    for good in ["eth0", "enp3s0f0v0", "br-1a2b3c4d5e6f", "eth0.100", "bond0.100", "a"] {
        assert_eq!(validate_ifname(good), Ok(()), "{good}");
    }
    for bad in [
        "",
        ".",
        "..",
        "../etc",
        "../../etc",
        "a..b",
        "eth/0",
        "eth 0",
        "eth0\n",
        "0123456789abcdef",
        "averyveryverylongname",
        "eth0:1",
    ] {
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
fn unknown_speed_is_none_not_a_huge_number() {
    assert_eq!(parse_speed_mbps("1000\n"), Ok(Some(1000)));
    assert_eq!(parse_speed_mbps("25000"), Ok(Some(25_000)));
    assert_eq!(parse_speed_mbps("-1\n"), Ok(None));
    assert_eq!(parse_speed_mbps("0"), Ok(None));
    assert_eq!(parse_speed_mbps("65535\n"), Ok(None));
    assert_eq!(parse_speed_mbps("4294967295"), Ok(None));
    assert!(parse_speed_mbps("4294967296").is_err());
    assert!(parse_speed_mbps("").is_err());
    assert!(parse_speed_mbps("fast\n").is_err());
}

#[test]
fn boot_id_is_a_uuid_in_lower_case() {
    // Captured from this machine, 2026-11-24.
    assert_eq!(
        parse_boot_id("119ae7b2-caa6-4384-a6ad-2bc30d4c345d\n"),
        Ok("119ae7b2-caa6-4384-a6ad-2bc30d4c345d".to_string())
    );
    assert_eq!(
        parse_boot_id("119AE7B2-CAA6-4384-A6AD-2BC30D4C345D"),
        Ok("119ae7b2-caa6-4384-a6ad-2bc30d4c345d".to_string())
    );
    assert!(parse_boot_id("119ae7b2caa64384a6ad2bc30d4c345d").is_err());
    assert!(parse_boot_id("zzzzzzzz-caa6-4384-a6ad-2bc30d4c345d").is_err());
    assert!(parse_boot_id("------------------------------------").is_err());
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
