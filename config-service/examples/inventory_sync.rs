//! Benchmark of one inventory sync pass: 10,000 Spug hosts in 500 groups (10 % of them with a
//! private key in the answer, 2 % in two groups), 10,000 registered machines of which 9,500
//! have a host's management IP. The Spug stand-in (tests/spug_standin) runs in a child process,
//! so the figures are the sync's own: wall time of the pass and its peak RSS above the RSS
//! before it (Linux: /proc/self/clear_refs resets the peak). A benchmark, not a test:
//!
//!     cargo run --release -p pushagent-config --example inventory_sync -- [HOSTS] [GROUPS]

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../tests/spug_standin/mod.rs"]
mod spug_standin;

use std::io::{BufRead, BufReader, Read};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use pushagent_config::inventory::job::Syncer;
use pushagent_config::inventory::{InventoryKind, InventorySettings, NodeFrom};
use pushagent_config::store::Store;
use pushagent_config::{Secret, SystemClock};
use pushagent_proto::agent::{Facts, RegisterRequest};

fn status_kib(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with(field)).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("standin") {
        let hosts = args[1].parse().unwrap();
        let groups = args[2].parse().unwrap();
        let standin = spug_standin::Standin::start(spug_standin::fleet(hosts, groups));
        println!("{}", standin.url);
        // Serve until the parent closes our stdin.
        let _ = std::io::stdin().read_to_end(&mut Vec::new());
        return;
    }
    let hosts: usize = args.first().and_then(|a| a.parse().ok()).unwrap_or(10_000);
    let groups: usize = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(500);

    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["standin", &hosts.to_string(), &groups.to_string()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut url = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut url).unwrap();
    let url = url.trim().to_owned();

    let dir = std::env::temp_dir().join(format!("pushagent-inventory-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut store = Store::open(&dir.join("config.sqlite")).unwrap();
    let started = Instant::now();
    for h in 0..hosts as i64 {
        // The fleet's management IPs (10.x.y.z); the last 5 % of machines have none of Spug's.
        let ip = if (h as usize) < hosts * 95 / 100 {
            format!("10.{}.{}.{}", h / 65536, (h / 256) % 256, h % 256)
        } else {
            format!("192.0.2.{}", h % 250)
        };
        let uid = format!("m-{h:05}");
        let mac = format!("02:00:00:{:02x}:{:02x}:{:02x}", (h >> 16) & 0xff, (h >> 8) & 0xff, h & 0xff);
        let req = RegisterRequest {
            enrollment_token: String::new(),
            machine_id: uid.clone(),
            hostname: uid.clone(),
            mac: mac.clone(),
            agent_version: "0.1.0".into(),
            facts: Facts::default(),
            identity: Default::default(),
        };
        let facts =
            serde_json::json!({"addresses": [{"name": "eth0", "ipv4": [{"address": ip, "prefix": 24}]}]});
        store.register_machine(&req, &mac, &facts.to_string(), &format!("h-{uid}"), 0, 0).unwrap();
    }
    println!("setup: {hosts} machines registered in {:.1} s", started.elapsed().as_secs_f64());
    let store = Arc::new(Mutex::new(store));
    let settings = InventorySettings {
        kind: InventoryKind::Spug,
        url,
        username: "pushagent".into(),
        password: Some(Secret::new("spug-password-1")),
        password_file: None,
        login_type: "default".into(),
        interval_secs: 600,
        node_from: NodeFrom::Leaf,
        timeout_secs: 60,
    };
    let mut syncer = Syncer::new(&settings);
    for label in ["first pass (every machine named and given a node)", "second pass (nothing changed)"] {
        let rss_before = status_kib("VmRSS:");
        std::fs::write("/proc/self/clear_refs", "5").expect("reset the peak RSS (Linux >= 4.0)");
        let started = Instant::now();
        let applied = syncer.pass(&store, &SystemClock, false).unwrap();
        let secs = started.elapsed().as_secs_f64();
        let peak = status_kib("VmHWM:");
        println!(
            "{label}: {hosts} hosts / {groups} groups: {:.2} s, {} paired, {} changed; RSS before {:.1} MiB, peak {:.1} MiB, extra {:.1} MiB",
            secs,
            applied.matched,
            applied.changed,
            rss_before as f64 / 1024.0,
            peak as f64 / 1024.0,
            peak.saturating_sub(rss_before) as f64 / 1024.0
        );
    }
    drop(child.stdin.take());
    let _ = child.wait();
    let _ = std::fs::remove_dir_all(&dir);
}
