//! Interface choice on every machine shape in tests/fixtures/sysfs/<case>/ (each case's
//! README says what it imitates), the operator override, and bad /sys and /proc contents.

use std::fs;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use pushagent::netif::{
    detect, interface_addresses, read_boot_id, read_counters, read_ifindex, read_mac,
    read_speed_bits_per_sec, Candidate, Detection, HostRoot, IfCounters, InterfaceChoiceConfig, NetifError,
};

fn fixture_path(case: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/sysfs").join(case)
}

fn fixture(case: &str) -> HostRoot {
    HostRoot::new(fixture_path(case))
}

fn detect_default(case: &str) -> Detection {
    detect(&fixture(case), &InterfaceChoiceConfig::default())
        .unwrap_or_else(|e| panic!("{case}: detection failed: {e}"))
}

fn candidate<'a>(detection: &'a Detection, name: &str) -> &'a Candidate {
    detection
        .candidates
        .iter()
        .find(|c| c.name == name)
        .unwrap_or_else(|| panic!("no candidate {name} in {:#?}", detection.candidates))
}

/// A rejected candidate of this kind whose reason says `why`.
fn assert_rejected(detection: &Detection, name: &str, kind: &str, why: &str) {
    let c = candidate(detection, name);
    assert!(!c.chosen, "{name} should be rejected");
    assert_eq!(c.kind, kind, "{name}: {}", c.reason);
    assert!(c.reason.contains(why), "{name}: reason {:?} should contain {why:?}", c.reason);
}

fn override_config(name: &str, allow_virtual: bool) -> InterfaceChoiceConfig {
    InterfaceChoiceConfig {
        interface: Some(name.to_string()),
        allow_virtual,
        ..InterfaceChoiceConfig::default()
    }
}

#[test]
fn plain_server_collects_eth0_with_the_default_route() {
    let d = detect_default("plain-eth0");
    assert_eq!(d.chosen.name, "eth0");
    assert_eq!(d.chosen.mac, "0c:c4:7a:10:00:01");
    assert_eq!(d.chosen.ifindex, 2);
    assert_eq!(d.chosen.speed_bits_per_sec, Some(1_000_000_000));
    assert_eq!(d.chosen.driver.as_deref(), Some("igb"));
    assert!(!d.chosen.ambiguous);
    assert_eq!(d.chosen.reason, "default IPv4 route via eth0 (metric 0)");
    assert!(candidate(&d, "eth0").chosen);
    assert_rejected(&d, "eth1", "physical", "not on the default route (default route is via eth0)");
    assert_rejected(&d, "lo", "loopback", "loopback");
    assert_eq!(d.candidates.iter().filter(|c| c.chosen).count(), 1);
    assert_eq!(d.candidates.len(), 3, "every interface is listed");
}

#[test]
fn bond_under_a_bridge_resolves_to_a_port_and_is_flagged_ambiguous() {
    let d = detect_default("bond-bridge");
    assert_eq!(d.chosen.name, "eth0", "lowest name of the two bond ports");
    // The slave's own MAC from bonding_slave/perm_hwaddr (here equal to the bond's).
    assert_eq!(d.chosen.mac, "0c:c4:7a:20:00:01");
    assert!(d.chosen.ambiguous);
    assert!(d.chosen.reason.contains("br0 -> bond0 -> eth0 + eth1"), "{}", d.chosen.reason);
    assert!(d.chosen.reason.contains("alternatives: eth1"), "{}", d.chosen.reason);
    assert!(d.chosen.reason.contains("bond0 (mode 802.3ad) spreads traffic"), "{}", d.chosen.reason);
    assert_rejected(&d, "br0", "bridge", "resolved to its ports (bond0)");
    assert_rejected(&d, "bond0", "bond", "bond master: resolved to its slaves (eth0, eth1)");
    assert_rejected(&d, "eth1", "physical", "alternative to eth0 under br0");
    // eth1's `address` is the bond's MAC; its own permanent one is reported.
    assert_eq!(candidate(&d, "eth1").mac.as_deref(), Some("0c:c4:7a:20:00:02"));
}

#[test]
fn bond_choice_is_the_same_on_every_run() {
    let first = detect_default("bond-bridge");
    for _ in 0..5 {
        assert_eq!(detect_default("bond-bridge").chosen, first.chosen);
    }
}

#[test]
fn docker_bridge_and_veths_are_never_collected() {
    let d = detect_default("docker-veth");
    assert_eq!(d.chosen.name, "eth0");
    assert_eq!(d.chosen.mac, "54:b2:03:30:00:01");
    assert!(!d.chosen.ambiguous);
    assert_rejected(&d, "docker0", "bridge", "docker bridge");
    assert_rejected(&d, "veth1a2b3c4", "veth", "virtual device (veth)");
    assert_rejected(&d, "veth5d6e7f8", "veth", "virtual device (veth)");
}

#[test]
fn virtio_nic_in_a_vm_counts_as_physical() {
    let d = detect_default("vm-virtio");
    assert_eq!(d.chosen.name, "ens3");
    assert_eq!(d.chosen.mac, "52:54:00:40:00:01");
    assert_eq!(d.chosen.driver.as_deref(), Some("virtio_net"));
    assert_eq!(d.chosen.speed_bits_per_sec, None, "virtio reports speed -1");
    assert!(!d.chosen.ambiguous);
    assert_eq!(candidate(&d, "ens3").kind, "physical");
}

#[test]
fn sriov_pf_is_collected_and_its_vf_rejected() {
    let d = detect_default("sriov-vf");
    assert_eq!(d.chosen.name, "enp3s0f0");
    assert_eq!(d.chosen.mac, "3c:fd:fe:50:00:01");
    assert_eq!(d.chosen.speed_bits_per_sec, Some(10_000_000_000));
    assert!(!d.chosen.ambiguous);
    assert_rejected(&d, "enp3s0f0v0", "sriov-vf", "SR-IOV VF of PF 0000:03:00.0");
}

#[test]
fn cloud_vf_enslaved_to_the_synthetic_nic_is_rejected() {
    let d = detect_default("cloud-synthetic-vf");
    assert_eq!(d.chosen.name, "eth0");
    assert_eq!(d.chosen.mac, "00:0d:3a:6f:8d:41");
    assert_eq!(d.chosen.driver.as_deref(), Some("hv_netvsc"));
    assert!(!d.chosen.ambiguous);
    assert_rejected(&d, "enP1s1", "sriov-vf", "VF enslaved to eth0 (same MAC), traffic counted on eth0");
}

#[test]
fn without_a_default_route_the_only_nic_that_is_up_is_collected() {
    let d = detect_default("no-default-route");
    assert_eq!(d.chosen.name, "eth0");
    assert_eq!(d.chosen.mac, "00:10:18:70:00:01");
    assert!(!d.chosen.ambiguous);
    assert!(d.chosen.reason.contains("no default route"), "{}", d.chosen.reason);
    assert!(d.chosen.reason.contains("only physical NIC that is up"), "{}", d.chosen.reason);
    assert_rejected(&d, "eth1", "physical", "down");
}

#[test]
fn ipv6_only_host_follows_the_ipv6_default_route() {
    let d = detect_default("ipv6-only");
    assert_eq!(d.chosen.name, "eth0");
    assert_eq!(d.chosen.mac, "b4:96:91:60:00:01");
    assert!(!d.chosen.ambiguous);
    assert!(d.chosen.reason.contains("default IPv6 route via eth0"), "{}", d.chosen.reason);
    assert_rejected(&d, "eth1", "physical", "not on the default route");
}

#[test]
fn of_two_default_routes_the_public_one_wins_over_a_lower_metric() {
    let d = detect_default("two-nics-public-second");
    assert_eq!(d.chosen.name, "eth1");
    assert_eq!(d.chosen.mac, "98:03:9b:80:00:02");
    assert!(!d.chosen.ambiguous);
    assert!(d.chosen.reason.contains("public address (198.51.100.10)"), "{}", d.chosen.reason);
    assert_rejected(
        &d,
        "eth0",
        "physical",
        "has a default route too (metric 100), but the route via eth1 was preferred",
    );
}

#[test]
fn vlan_carrying_the_default_route_resolves_to_its_nic() {
    let d = detect_default("vlan");
    assert_eq!(d.chosen.name, "eth0");
    assert_eq!(d.chosen.mac, "3c:fd:fe:90:00:01");
    assert!(!d.chosen.ambiguous);
    assert!(d.chosen.reason.contains("eth0.100 -> eth0"), "{}", d.chosen.reason);
    assert_rejected(&d, "eth0.100", "vlan", "VLAN on eth0");
}

#[test]
fn this_build_host_capture_collects_its_virtio_eth0() {
    let d = detect_default("this-build-host");
    assert_eq!(d.chosen.name, "eth0");
    assert_eq!(d.chosen.driver.as_deref(), Some("virtio_net"));
    assert!(!d.chosen.ambiguous);
    assert_rejected(&d, "ifb0", "ifb", "virtual device (ifb)");
    assert_rejected(&d, "lo", "loopback", "loopback");
}

#[test]
fn render_puts_the_choice_and_why_first_then_every_interface() {
    let text = detect_default("bond-bridge").render();
    let first_lines: Vec<&str> = text.lines().take(2).collect();
    assert_eq!(first_lines, ["AMBIGUOUS: confirm in the console", "Collecting: eth0"]);
    assert!(text.contains("why:"), "{text}");
    for name in ["lo", "eth0", "eth1", "bond0", "br0"] {
        assert!(text.lines().any(|l| l.split_whitespace().any(|w| w == name)), "{name} missing:\n{text}");
    }
    assert!(text.contains("rejected: bond master: resolved to its slaves"), "{text}");

    let plain = detect_default("plain-eth0").render();
    assert!(!plain.contains("AMBIGUOUS"), "{plain}");
    assert!(plain.starts_with("Collecting: eth0\n"), "{plain}");
}

// ---- operator override ----

#[test]
fn operator_may_choose_another_physical_nic() {
    let d = detect(&fixture("plain-eth0"), &override_config("eth1", false)).expect("valid override");
    assert_eq!(d.chosen.name, "eth1");
    assert_eq!(d.chosen.mac, "0c:c4:7a:10:00:02");
    assert_eq!(d.chosen.speed_bits_per_sec, None, "eth1 is down: speed -1");
    assert!(d.chosen.reason.contains("configured by operator"));
    assert!(!d.chosen.ambiguous);
    assert_rejected(&d, "eth0", "physical", "the operator configured eth1");
}

#[test]
fn operator_names_that_could_escape_sys_are_refused() {
    let root = fixture("plain-eth0");
    for bad in ["", "../etc", "..", ".", "eth0/..", "eth 0", "0123456789abcdef"] {
        match detect(&root, &override_config(bad, false)) {
            Err(NetifError::BadName { name, .. }) => assert_eq!(name, bad),
            other => panic!("{bad:?}: expected BadName, got {other:?}"),
        }
    }
    // 15 bytes is the longest valid name; this one simply does not exist.
    assert!(matches!(
        detect(&root, &override_config("0123456789abcde", false)),
        Err(NetifError::NoSuchInterface(_))
    ));
}

#[test]
fn operator_choice_must_exist() {
    match detect(&fixture("plain-eth0"), &override_config("eth7", false)) {
        Err(NetifError::NoSuchInterface(name)) => assert_eq!(name, "eth7"),
        other => panic!("expected NoSuchInterface, got {other:?}"),
    }
}

#[test]
fn operator_choice_of_a_virtual_interface_needs_allow_virtual() {
    let root = fixture("docker-veth");
    match detect(&root, &override_config("docker0", false)) {
        Err(e @ NetifError::NotPhysical { .. }) => {
            let text = e.to_string();
            assert!(text.contains("docker bridge") && text.contains("allow_virtual"), "{text}");
        }
        other => panic!("expected NotPhysical, got {other:?}"),
    }
    let d = detect(&root, &override_config("docker0", true)).expect("allowed");
    assert_eq!(d.chosen.name, "docker0");
    assert_eq!(d.chosen.mac, "02:42:7c:1e:3a:01");
    assert!(d.chosen.reason.contains("configured by operator"), "{}", d.chosen.reason);

    let vf = detect(&fixture("cloud-synthetic-vf"), &override_config("enP1s1", false));
    assert!(matches!(vf, Err(NetifError::NotPhysical { .. })), "{vf:?}");
}

// ---- readers ----

#[test]
fn counters_ifindex_speed_and_boot_id_are_read_from_the_tree() {
    let root = fixture("plain-eth0");
    assert_eq!(
        read_counters(&root, "eth0").expect("counters"),
        IfCounters {
            rx_bytes: 2 * 918_273_645,
            tx_bytes: 2 * 1_827_364_509,
            rx_packets: 2 * 912_345,
            tx_packets: 2 * 1_234_567,
            rx_errors: 0,
            tx_errors: 0,
            rx_dropped: 6,
            tx_dropped: 0,
        }
    );
    assert_eq!(read_ifindex(&root, "eth1").expect("ifindex"), 3);
    assert_eq!(read_speed_bits_per_sec(&root, "eth0"), Some(1_000_000_000));
    assert_eq!(read_speed_bits_per_sec(&root, "lo"), None, "no speed file");
    assert_eq!(read_speed_bits_per_sec(&root, "nope0"), None);
    assert_eq!(read_boot_id(&root).expect("boot id"), "3f1f7c2e-6a7b-4d0e-9c51-2b8e4f6a1d01");
    assert!(matches!(read_counters(&root, "../../etc"), Err(NetifError::BadName { .. })));
    assert!(matches!(read_counters(&root, "eth9"), Err(NetifError::NoSuchInterface(_))));
}

#[test]
fn a_bond_slave_reports_its_permanent_mac_not_the_bonds() {
    let root = fixture("bond-bridge");
    assert_eq!(read_mac(&root, "eth1").expect("mac"), "0c:c4:7a:20:00:02");
    assert_eq!(read_mac(&root, "bond0").expect("mac"), "0c:c4:7a:20:00:01");
}

#[test]
fn addresses_are_mapped_to_their_interfaces() {
    let addrs = interface_addresses(&fixture("bond-bridge")).expect("addresses");
    let br0: Vec<IpAddr> = vec!["203.0.113.20".parse().expect("ip"), "2001:db8:20::20".parse().expect("ip")];
    assert_eq!(addrs.get("br0"), Some(&br0));
    assert!(addrs.get("lo").is_some_and(|l| l.contains(&"127.0.0.1".parse().expect("ip"))));

    let addrs = interface_addresses(&fixture("two-nics-public-second")).expect("addresses");
    assert_eq!(addrs["eth0"], vec!["10.0.0.5".parse::<IpAddr>().expect("ip")]);
    assert_eq!(addrs["eth1"], vec!["198.51.100.10".parse::<IpAddr>().expect("ip")]);
}

// ---- bad contents: clear errors, never a panic ----

/// A writable copy of a fixture (symlinks kept as symlinks).
fn copy_fixture(case: &str) -> tempfile::TempDir {
    fn copy(from: &Path, to: &Path) {
        let meta = fs::symlink_metadata(from).expect("fixture entry");
        if meta.file_type().is_symlink() {
            std::os::unix::fs::symlink(fs::read_link(from).expect("link"), to).expect("symlink");
        } else if meta.is_dir() {
            fs::create_dir_all(to).expect("dir");
            for entry in fs::read_dir(from).expect("read dir") {
                let entry = entry.expect("entry");
                copy(&entry.path(), &to.join(entry.file_name()));
            }
        } else {
            fs::copy(from, to).expect("copy");
        }
    }
    let dir = tempfile::tempdir().expect("tempdir");
    copy(&fixture_path(case), &dir.path().join("root"));
    dir
}

#[test]
fn a_garbled_route_table_is_a_parse_error() {
    let dir = copy_fixture("plain-eth0");
    let root = HostRoot::new(dir.path().join("root"));
    fs::write(root.join("proc/net/route"), "Iface\tDestination\neth0\tnot-hex\tzz\n").expect("write");
    match detect(&root, &InterfaceChoiceConfig::default()) {
        Err(e @ NetifError::Parse { .. }) => {
            assert!(e.to_string().contains("proc/net/route"), "{e}")
        }
        other => panic!("expected Parse, got {other:?}"),
    }
}

#[test]
fn an_all_zero_mac_on_the_chosen_nic_is_a_clear_error() {
    let dir = copy_fixture("plain-eth0");
    let root = HostRoot::new(dir.path().join("root"));
    fs::write(root.join("sys/class/net/eth0/address"), "00:00:00:00:00:00\n").expect("write");
    match detect(&root, &InterfaceChoiceConfig::default()) {
        Err(e @ NetifError::Parse { .. }) => {
            let text = e.to_string();
            assert!(text.contains("MAC of eth0") && text.contains("all-zero"), "{text}");
        }
        other => panic!("expected Parse, got {other:?}"),
    }
}

#[test]
fn garbage_in_sysfs_files_does_not_panic() {
    let dir = copy_fixture("bond-bridge");
    let root = HostRoot::new(dir.path().join("root"));
    for (file, junk) in [
        ("sys/class/net/br0/uevent", "\u{0}\u{1}garbage"),
        ("sys/class/net/bond0/bonding/slaves", "\n\n"),
        ("sys/class/net/eth1/ifindex", "-3"),
        ("sys/class/net/eth1/type", "ethernet"),
        ("sys/class/net/eth0/speed", "fast"),
        ("sys/class/net/eth0/statistics/tx_bytes", "lots"),
        ("proc/net/fib_trie", "no trie here"),
    ] {
        fs::write(root.join(file), junk).expect("write");
    }
    // Whatever the outcome, it is a value or an error, and the chosen NIC is still a port.
    let d = detect(&root, &InterfaceChoiceConfig::default()).expect("still decidable");
    assert_eq!(d.chosen.name, "eth0");
    assert_eq!(d.chosen.speed_bits_per_sec, None);
    match read_counters(&root, "eth0") {
        Err(e @ NetifError::Parse { .. }) => assert!(e.to_string().contains("tx_bytes"), "{e}"),
        other => panic!("expected Parse, got {other:?}"),
    }
}

#[test]
fn no_physical_nic_up_and_no_route_is_nothing_to_collect() {
    let dir = copy_fixture("no-default-route");
    let root = HostRoot::new(dir.path().join("root"));
    fs::write(root.join("sys/class/net/eth0/operstate"), "down\n").expect("write");
    fs::remove_file(root.join("sys/class/net/eth0/carrier")).expect("rm");
    match detect(&root, &InterfaceChoiceConfig::default()) {
        Err(e @ NetifError::NothingToCollect(_)) => {
            let text = e.to_string();
            assert!(text.contains("no default route") && text.contains("eth0 (down)"), "{text}");
        }
        other => panic!("expected NothingToCollect, got {other:?}"),
    }
}

#[test]
fn a_missing_sys_class_net_is_an_io_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let result = detect(&HostRoot::new(dir.path()), &InterfaceChoiceConfig::default());
    assert!(matches!(result, Err(NetifError::Io { .. })), "{result:?}");
}

/// `cargo test --test netif_fixtures -- --ignored --nocapture real_host`: what this machine picks.
#[test]
#[ignore = "reads the real /sys and /proc of the machine running the tests"]
fn real_host_detection() {
    let root = HostRoot::default();
    let d = detect(&root, &InterfaceChoiceConfig::default()).expect("this host has a NIC to collect");
    println!("{}", d.render());
    println!("counters: {:?}", read_counters(&root, &d.chosen.name));
    println!("boot_id: {:?}", read_boot_id(&root));
    println!("addresses: {:?}", interface_addresses(&root));
}

/// `cargo test --test netif_fixtures -- --ignored --nocapture print_every_fixture`: review aid.
#[test]
#[ignore = "prints what `pushagent detect` would show for every fixture"]
fn print_every_fixture() {
    let mut cases: Vec<String> = fs::read_dir(fixture_path(""))
        .expect("fixtures")
        .filter_map(Result::ok)
        .filter(|e| e.path().is_dir())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    cases.sort();
    for case in cases {
        println!("===== {case}");
        match detect(&fixture(&case), &InterfaceChoiceConfig::default()) {
            Ok(d) => println!("{}", d.render()),
            Err(e) => println!("error: {e}\n"),
        }
    }
}

fn management_config(ip: &str) -> InterfaceChoiceConfig {
    InterfaceChoiceConfig {
        management_ip: Some(ip.parse().expect("ip literal")),
        ..InterfaceChoiceConfig::default()
    }
}

#[test]
fn the_management_ip_on_a_vlan_over_a_bond_beats_the_default_route() {
    let d = detect_default("mgmt-vlan-on-bond");
    assert_eq!((d.chosen.name.as_str(), d.chosen.rule.as_str()), ("eth2", "default_route"));

    let d = detect(&fixture("mgmt-vlan-on-bond"), &management_config("203.0.113.20")).expect("detected");
    assert_eq!(d.chosen.name, "eth1", "bond0's active slave");
    assert_eq!(d.chosen.rule.as_str(), "management_ip");
    assert_eq!(d.chosen.mac, "0c:c4:7a:30:00:02", "the port's own permanent MAC");
    assert!(d.chosen.ambiguous, "two ports under the bond");
    assert!(
        d.chosen.reason.starts_with(
            "management IP 203.0.113.20 is on bond0.200, resolved bond0.200 -> bond0 -> eth0 + eth1"
        ),
        "{}",
        d.chosen.reason
    );
    assert!(d.chosen.reason.contains("chose eth1 (bond0's active slave)"), "{}", d.chosen.reason);
    assert_rejected(
        &d,
        "eth2",
        "physical",
        "does not hold the management IP 203.0.113.20 (it is on bond0.200)",
    );
    assert_rejected(&d, "eth0", "physical", "alternative to eth1 under bond0.200");
    let text = d.render();
    assert!(text.contains("  rule:    management_ip\n"), "{text}");
}

#[test]
fn the_management_ip_rule_resolves_bridges_and_vlans_like_the_route_rule() {
    let d = detect(&fixture("bond-bridge"), &management_config("203.0.113.20")).expect("detected");
    assert_eq!((d.chosen.name.as_str(), d.chosen.rule.as_str()), ("eth0", "management_ip"));
    assert!(d.chosen.reason.contains("br0 -> bond0 -> eth0 + eth1"), "{}", d.chosen.reason);
    let d = detect(&fixture("vlan"), &management_config("203.0.113.70")).expect("detected");
    assert_eq!((d.chosen.name.as_str(), d.chosen.rule.as_str()), ("eth0", "management_ip"));
    assert!(d.chosen.reason.contains("eth0.100 -> eth0"), "{}", d.chosen.reason);
    // An address on docker0 (no physical NIC under it) is no management NIC: the route decides.
    let d = detect(&fixture("docker-veth"), &management_config("172.17.0.1")).expect("detected");
    assert_eq!((d.chosen.name.as_str(), d.chosen.rule.as_str()), ("eth0", "default_route"));
    assert!(
        d.chosen
            .reason
            .starts_with("management IP 172.17.0.1 is on docker0, which leads to no physical NIC; "),
        "{}",
        d.chosen.reason
    );
}

#[test]
fn a_management_ip_the_host_does_not_hold_falls_back_to_the_default_route() {
    let d = detect(&fixture("two-nics-public-second"), &management_config("192.0.2.99")).expect("detected");
    assert_eq!((d.chosen.name.as_str(), d.chosen.rule.as_str()), ("eth1", "default_route"));
    assert!(
        d.chosen.reason.starts_with(
            "management IP 192.0.2.99 is on no interface of this host; default IPv4 route via eth1"
        ),
        "{}",
        d.chosen.reason
    );
    // The same host reached on its private management network: that NIC, not the public one.
    let d = detect(&fixture("two-nics-public-second"), &management_config("10.0.0.5")).expect("detected");
    assert_eq!((d.chosen.name.as_str(), d.chosen.rule.as_str()), ("eth0", "management_ip"));
    assert!(!d.chosen.ambiguous);
    assert_eq!(d.chosen.reason, "management IP 10.0.0.5 is on eth0");
    // The operator's interface still wins over both.
    let mut config = management_config("10.0.0.5");
    config.interface = Some("eth1".into());
    let d = detect(&fixture("two-nics-public-second"), &config).expect("detected");
    assert_eq!((d.chosen.name.as_str(), d.chosen.rule.as_str()), ("eth1", "operator"));
}
