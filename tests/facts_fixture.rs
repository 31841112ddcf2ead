//! `facts::collect` on fixture trees that imitate real machines (see each case's README.md),
//! checked through the JSON the agent prints and sends; and once on this machine's real "/".

use std::path::PathBuf;

use pushagent::facts::collect;
use pushagent::netif::HostRoot;
use serde_json::{json, Value};

const NOW: i64 = 1_795_000_000;

fn fixture(case: &str) -> HostRoot {
    HostRoot::new(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/facts").join(case))
}

fn facts_json(root: &HostRoot, interface: Option<&str>) -> Value {
    serde_json::to_value(collect(root, interface, NOW)).expect("facts serialize")
}

#[test]
fn debian12_kvm_guest_reports_its_virtio_nic_and_disk() {
    let facts = facts_json(&fixture("debian12-kvm"), Some("ens3"));

    assert_eq!(facts["agent_version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(facts["collected_at"], NOW);
    assert_eq!(facts["hostname"], "web-01");
    assert_eq!(facts["machine_id"], "9f2c41d07ab84e6f8e0d2b5c7a1f3e64");
    assert_eq!(facts["boot_id"], "5b0d4c1e-2f7a-4e43-9d1c-7a3e0f6b2c11");
    // virtio_net has no speed or duplex: absent, not -1, and not an error.
    assert_eq!(
        facts["interface"],
        json!({
            "name": "ens3", "mac": "52:54:00:12:34:56", "speed_mbps": null, "duplex": null,
            "driver": "virtio_net", "mtu": 1500, "operstate": "up"
        })
    );
    assert_eq!(
        facts["addresses"],
        json!([{
            "interface": "ens3",
            "ipv4": [{"address": "203.0.113.25", "prefix_len": 24}],
            "ipv6": [
                {"address": "2001:db8:1::25", "prefix_len": 64},
                {"address": "fe80::5054:ff:fe12:3456", "prefix_len": 64}
            ]
        }])
    );
    assert_eq!(
        facts["cpu"],
        json!({"model_name": "Intel Xeon Processor (Skylake, IBRS)", "logical_cores": 4,
               "physical_cores": 4, "sockets": 1})
    );
    assert_eq!(facts["memory_total_bytes"], 8_136_248_u64 * 1024);
    assert_eq!(facts["swap_total_bytes"], 998_396_u64 * 1024);
    assert_eq!(
        facts["disks"],
        json!([
            {"name": "sr0", "size_bytes": 2_097_151_u64 * 512, "rotational": true,
             "model": "QEMU DVD-ROM"},
            {"name": "vda", "size_bytes": 42_949_672_960_u64, "rotational": true, "model": null}
        ])
    );
    // statvfs would describe this machine, not the fixture.
    assert_eq!(facts["root_filesystem"], Value::Null);
    assert_eq!(
        facts["os"],
        json!({
            "name": "Debian GNU/Linux", "version_id": "12",
            "pretty_name": "Debian GNU/Linux 12 (bookworm)", "id": "debian",
            "kernel_release": "6.1.0-18-amd64", "arch": std::env::consts::ARCH
        })
    );
    // QEMU leaves the serial blank and has no board: absent, not errors.
    assert_eq!(
        facts["dmi"],
        json!({
            "sys_vendor": "QEMU", "product_name": "Standard PC (i440FX + PIIX, 1996)",
            "product_serial": null, "product_uuid": "6b0e1f3c-8a2d-4c55-9e71-0d4f2a9b8c36",
            "board_serial": null
        })
    );
    assert_eq!(facts["unreadable"], json!([]));
}

#[test]
fn centos7_bond_port_reports_its_permanent_mac_not_the_bond_mac() {
    let facts = facts_json(&fixture("centos7-baremetal"), Some("eno2"));

    assert_eq!(facts["hostname"], "bj-idc3-r730-017");
    assert_eq!(
        facts["interface"],
        json!({
            "name": "eno2", "mac": "24:6e:96:0a:bc:de", "speed_mbps": 10000, "duplex": "full",
            "driver": "ixgbe", "mtu": 1500, "operstate": "up"
        })
    );
    assert_eq!(facts["unreadable"], json!([]));
}

#[test]
fn centos7_addresses_go_to_bond_and_docker_and_the_lo_vip_to_no_interface() {
    let facts = facts_json(&fixture("centos7-baremetal"), Some("eno2"));

    assert_eq!(
        facts["addresses"],
        json!([
            {
                "interface": "bond0",
                "ipv4": [{"address": "203.0.113.10", "prefix_len": 26}],
                "ipv6": [
                    {"address": "2001:db8:2::10", "prefix_len": 64},
                    {"address": "fe80::266e:96ff:fe0a:bcdc", "prefix_len": 64}
                ]
            },
            {
                "interface": "docker0",
                "ipv4": [{"address": "172.17.0.1", "prefix_len": 16}],
                "ipv6": []
            },
            {
                "interface": null,
                "ipv4": [{"address": "198.51.100.7", "prefix_len": null}],
                "ipv6": []
            }
        ])
    );
}

#[test]
fn centos7_hardware_os_and_dmi() {
    let facts = facts_json(&fixture("centos7-baremetal"), None);

    assert_eq!(facts["interface"], Value::Null);
    assert_eq!(
        facts["cpu"],
        json!({"model_name": "Intel(R) Xeon(R) CPU E5-2650 v4 @ 2.20GHz", "logical_cores": 8,
               "physical_cores": 4, "sockets": 2})
    );
    assert_eq!(facts["memory_total_bytes"], 131_661_540_u64 * 1024);
    assert_eq!(facts["swap_total_bytes"], 4_194_300_u64 * 1024);
    // dm-0 and loop0 are not disks.
    assert_eq!(
        facts["disks"],
        json!([
            {"name": "nvme0n1", "size_bytes": 3_907_029_168_u64 * 512, "rotational": false,
             "model": "INTEL SSDPE2KX020T8"},
            {"name": "sda", "size_bytes": 7_814_037_168_u64 * 512, "rotational": true,
             "model": "ST4000NM0035-1V4"},
            {"name": "sdb", "size_bytes": 937_703_088_u64 * 512, "rotational": false,
             "model": "INTEL SSDSC2KB48"}
        ])
    );
    assert_eq!(facts["os"]["name"], "CentOS Linux");
    assert_eq!(facts["os"]["version_id"], "7");
    assert_eq!(facts["os"]["pretty_name"], "CentOS Linux 7 (Core)");
    assert_eq!(facts["os"]["id"], "centos");
    assert_eq!(facts["os"]["kernel_release"], "3.10.0-1160.el7.x86_64");
    assert_eq!(
        facts["dmi"],
        json!({
            "sys_vendor": "Dell Inc.", "product_name": "PowerEdge R730",
            "product_serial": "8XKJ9M2", "product_uuid": "4c4c4544-0058-4b10-804a-b8c04f394d32",
            "board_serial": ".8XKJ9M2.CN7475164R0123."
        })
    );
    assert_eq!(facts["unreadable"], json!([]));
}

#[test]
fn an_interface_that_does_not_exist_is_named_and_reported_unreadable() {
    let facts = collect(&fixture("debian12-kvm"), Some("eth9"), NOW);

    let interface = facts.interface.expect("the asked interface is still reported");
    assert_eq!(interface.name, "eth9");
    assert_eq!(interface.mac, None);
    assert_eq!(facts.unreadable, vec!["interface eth9: does not exist (sys/class/net/eth9)".to_string()]);
}

#[test]
fn an_empty_root_gives_an_empty_report_and_says_why() {
    let empty = tempfile::tempdir().expect("tempdir");
    let facts = collect(&HostRoot::new(empty.path()), Some("eth0"), NOW);

    assert_eq!(facts.hostname, None);
    assert_eq!(facts.machine_id, None);
    assert!(facts.addresses.is_empty());
    assert!(facts.disks.is_empty());
    assert_eq!(facts.os.arch, std::env::consts::ARCH);
    let said = facts.unreadable.join("\n");
    for what in [
        "hostname: not found (proc/sys/kernel/hostname)",
        "machine_id: not found (etc/machine-id); not found (var/lib/dbus/machine-id)",
        "boot_id: not found",
        "interface eth0: does not exist",
        "addresses ipv4: not found (proc/net/fib_trie)",
        "addresses ipv6: not found (proc/net/if_inet6)",
        "cpu: not found (proc/cpuinfo)",
        "memory: not found (proc/meminfo)",
        "disks: not found (sys/block)",
        "os release: not found (etc/os-release)",
        "os kernel_release: not found",
        "dmi: not present (sys/class/dmi/id)",
    ] {
        assert!(said.contains(what), "missing {what:?} in:\n{said}");
    }
}

#[test]
fn this_machine_real_root_does_not_panic_and_knows_its_hostname_and_kernel() {
    // Any non-loopback NIC of this machine, to walk the real sysfs symlinks too.
    let nic = std::fs::read_dir("/sys/class/net")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| entry.file_name().into_string().ok())
        .filter(|name| name != "lo")
        .min();
    let facts = collect(&HostRoot::default(), nic.as_deref(), NOW);
    println!("{}", serde_json::to_string_pretty(&facts).expect("facts serialize"));

    assert!(facts.hostname.is_some(), "unreadable: {:?}", facts.unreadable);
    assert!(facts.os.kernel_release.is_some(), "unreadable: {:?}", facts.unreadable);
    assert_eq!(facts.interface.map(|i| i.name), nic);
    assert!(facts.memory_total_bytes.unwrap_or(0) > 0);
    assert!(facts.root_filesystem.is_some());
}

/// A writable copy of a fixture case, to spoil files in.
fn copy_of(case: &str) -> tempfile::TempDir {
    fn copy_tree(from: &std::path::Path, to: &std::path::Path) {
        std::fs::create_dir_all(to).expect("mkdir");
        for entry in std::fs::read_dir(from).expect("read fixture dir") {
            let entry = entry.expect("fixture entry");
            let (src, dst) = (entry.path(), to.join(entry.file_name()));
            let kind = entry.file_type().expect("file type");
            if kind.is_symlink() {
                let target = std::fs::read_link(&src).expect("read link");
                std::os::unix::fs::symlink(target, &dst).expect("symlink");
            } else if kind.is_dir() {
                copy_tree(&src, &dst);
            } else {
                std::fs::copy(&src, &dst).expect("copy");
            }
        }
    }
    let dir = tempfile::tempdir().expect("tempdir");
    copy_tree(&fixture(case).0, dir.path());
    dir
}

fn write(root: &tempfile::TempDir, rel: &str, bytes: &[u8]) {
    std::fs::write(root.path().join(rel), bytes).expect("write");
}

#[test]
fn binary_junk_in_os_release_falls_back_to_redhat_release_and_is_reported() {
    let root = copy_of("centos7-baremetal");
    write(&root, "etc/os-release", b"\x7fELF\x02\x01\x01\x00\x00\xff\xfe\n");
    let facts = collect(&HostRoot::new(root.path()), None, NOW);

    assert_eq!(facts.os.name.as_deref(), Some("CentOS Linux"));
    assert_eq!(facts.os.version_id.as_deref(), Some("7.9.2009"));
    assert_eq!(facts.os.id.as_deref(), Some("centos"));
    assert_eq!(facts.unreadable, vec!["os release: not UTF-8 text (etc/os-release)".to_string()]);
}

#[test]
fn centos6_without_os_release_reads_redhat_release_silently() {
    let root = copy_of("centos7-baremetal");
    std::fs::remove_file(root.path().join("etc/os-release")).expect("rm");
    write(&root, "etc/redhat-release", b"CentOS release 6.10 (Final)\n");
    let facts = collect(&HostRoot::new(root.path()), None, NOW);

    assert_eq!(facts.os.pretty_name.as_deref(), Some("CentOS release 6.10 (Final)"));
    assert_eq!(facts.os.version_id.as_deref(), Some("6.10"));
    assert_eq!(facts.unreadable, Vec::<String>::new());
}

#[test]
fn non_numeric_meminfo_is_absent_and_reported_while_swap_still_reads() {
    let root = copy_of("debian12-kvm");
    write(&root, "proc/meminfo", b"MemTotal:       lots kB\nSwapTotal:     998396 kB\n");
    let facts = collect(&HostRoot::new(root.path()), None, NOW);

    assert_eq!(facts.memory_total_bytes, None);
    assert_eq!(facts.swap_total_bytes, Some(998_396 * 1024));
    assert_eq!(
        facts.unreadable,
        vec![r#"memory_total_bytes: MemTotal "lots" is not a number (proc/meminfo)"#.to_string()]
    );
}

#[test]
fn machine_id_falls_back_to_the_dbus_copy() {
    let root = copy_of("debian12-kvm");
    write(&root, "etc/machine-id", b"uninitialized\n");
    std::fs::create_dir_all(root.path().join("var/lib/dbus")).expect("mkdir");
    write(&root, "var/lib/dbus/machine-id", b"0a1b2c3d4e5f60718293a4b5c6d7e8f9\n");
    let facts = collect(&HostRoot::new(root.path()), None, NOW);

    assert_eq!(facts.machine_id.as_deref(), Some("0a1b2c3d4e5f60718293a4b5c6d7e8f9"));
    assert_eq!(facts.unreadable, Vec::<String>::new());
}

/// Every file of the fixture filled with junk, many times over: collect never panics and its
/// answer still serializes.
#[test]
fn junk_in_every_file_never_panics() {
    fn files(dir: &std::path::Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).expect("read dir").flatten() {
            let kind = entry.file_type().expect("file type");
            if kind.is_dir() {
                files(&entry.path(), out);
            } else if kind.is_file() {
                out.push(entry.path());
            }
        }
    }
    // Junk that looks a little like the real thing: the kernel's separators and digits.
    const ALPHABET: &[u8] = b"0123456789abcdefABCDEF:/=-. \t\n\"'\\|+_LOCALhostkB\x00\x7f\xff";
    let mut seed: u64 = 0x5eed_f00d;
    let mut next = move || {
        // xorshift64: deterministic, so a failure reproduces.
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    for case in ["debian12-kvm", "centos7-baremetal"] {
        let root = copy_of(case);
        let mut paths = Vec::new();
        files(root.path(), &mut paths);
        for round in 0..40 {
            for path in &paths {
                let len = (next() % 300) as usize;
                let junk: Vec<u8> = (0..len)
                    .map(|_| ALPHABET[(next() % ALPHABET.len() as u64) as usize])
                    .filter(|b| round % 2 == 0 || b.is_ascii())
                    .collect();
                std::fs::write(path, junk).expect("write junk");
            }
            let interface = if case == "debian12-kvm" { "ens3" } else { "eno2" };
            let facts = collect(&HostRoot::new(root.path()), Some(interface), NOW);
            serde_json::to_string(&facts).expect("junk facts still serialize");
        }
    }
}
