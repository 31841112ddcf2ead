//! The real binary on a real kernel: `pushagent run` inside a network namespace made by this
//! test, on one end of a veth pair, while known traffic crosses the pair. The sum of the
//! points must equal the kernel's counter delta exactly — across kill -9 + restart and across
//! deleting and re-creating the veth. Needs root (CI is root); set PUSHAGENT_SKIP_NETNS=1 to
//! skip on a machine where you are not.

use std::fs::File;
use std::net::UdpSocket;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use pushagent::ring::Ring;

const AGENT_IF: &str = "pa0";
const PEER_IF: &str = "pb0";
const AGENT_ADDR: &str = "10.250.77.1";
const PEER_ADDR: &str = "10.250.77.2";

fn sh(args: &[&str]) -> String {
    let out = Command::new(args[0]).args(&args[1..]).output().unwrap_or_else(|e| panic!("{args:?}: {e}"));
    assert!(out.status.success(), "{args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines().find(|l| l.starts_with("Uid:")).map(|l| l.split_whitespace().nth(1) == Some("0"))
        })
        .unwrap_or(false)
}

/// Two namespaces of our own joined by a veth pair; removed on drop.
struct Net {
    agent_ns: String,
    peer_ns: String,
}

impl Net {
    fn new() -> Net {
        let id = std::process::id();
        let net = Net { agent_ns: format!("pa-test-{id}-a"), peer_ns: format!("pa-test-{id}-b") };
        for ns in [&net.agent_ns, &net.peer_ns] {
            sh(&["ip", "netns", "add", ns]);
            // No IPv6 autoconfiguration chatter: the link is quiet unless the test sends.
            for knob in ["all", "default"] {
                sh(&[
                    "ip",
                    "netns",
                    "exec",
                    ns,
                    "sh",
                    "-c",
                    &format!("echo 1 > /proc/sys/net/ipv6/conf/{knob}/disable_ipv6"),
                ]);
            }
        }
        net.create_veth();
        net
    }

    fn create_veth(&self) {
        sh(&[
            "ip",
            "-n",
            &self.agent_ns,
            "link",
            "add",
            AGENT_IF,
            "type",
            "veth",
            "peer",
            "name",
            PEER_IF,
            "netns",
            &self.peer_ns,
        ]);
        sh(&["ip", "-n", &self.agent_ns, "addr", "add", &format!("{AGENT_ADDR}/30"), "dev", AGENT_IF]);
        sh(&["ip", "-n", &self.peer_ns, "addr", "add", &format!("{PEER_ADDR}/30"), "dev", PEER_IF]);
        sh(&["ip", "-n", &self.agent_ns, "link", "set", AGENT_IF, "up"]);
        sh(&["ip", "-n", &self.peer_ns, "link", "set", PEER_IF, "up"]);
    }

    fn delete_veth(&self) {
        sh(&["ip", "-n", &self.agent_ns, "link", "del", AGENT_IF]);
    }

    /// The kernel's (rx, tx, ifindex) of the agent's end.
    fn kernel(&self) -> (u64, u64, u32) {
        let read = |f: &str| -> u64 {
            sh(&["ip", "netns", "exec", &self.agent_ns, "cat", &format!("/sys/class/net/{AGENT_IF}/{f}")])
                .trim()
                .parse()
                .expect("counter")
        };
        (read("statistics/rx_bytes"), read("statistics/tx_bytes"), read("ifindex") as u32)
    }

    /// Send `count` UDP datagrams of `size` bytes from the agent's namespace to the peer's,
    /// and make the peer answer each with a smaller one (so both directions move).
    fn traffic(&self, count: usize, size: usize) {
        let (agent_ns, peer_ns) = (self.agent_ns.clone(), self.peer_ns.clone());
        std::thread::spawn(move || {
            let peer = socket_in(&peer_ns, PEER_ADDR);
            let agent = socket_in(&agent_ns, AGENT_ADDR);
            let peer_addr = peer.local_addr().expect("addr");
            let agent_addr = agent.local_addr().expect("addr");
            peer.set_read_timeout(Some(Duration::from_secs(5))).expect("timeout");
            let payload = vec![0x5au8; size];
            let mut buf = vec![0u8; 65536];
            for _ in 0..count {
                agent.send_to(&payload, peer_addr).expect("send");
                let (n, _) = peer.recv_from(&mut buf).expect("datagram arrives");
                assert_eq!(n, size);
                peer.send_to(&payload[..size / 4], agent_addr).expect("answer");
            }
        })
        .join()
        .expect("traffic thread");
    }
}

/// A UDP socket created inside namespace `ns` (sockets stay in the namespace they were made in).
fn socket_in(ns: &str, addr: &str) -> UdpSocket {
    use nix::sched::{setns, CloneFlags};
    let own = File::open("/proc/thread-self/ns/net").expect("own netns");
    let target = File::open(format!("/run/netns/{ns}")).expect("test netns");
    setns(&target, CloneFlags::CLONE_NEWNET).expect("enter netns");
    let socket = UdpSocket::bind(format!("{addr}:0")).expect("bind");
    setns(&own, CloneFlags::CLONE_NEWNET).expect("leave netns");
    socket
}

impl Drop for Net {
    fn drop(&mut self) {
        for ns in [&self.agent_ns, &self.peer_ns] {
            let _ = Command::new("ip").args(["netns", "del", ns]).status();
        }
    }
}

struct Agent {
    child: Child,
    log: PathBuf,
}

impl Agent {
    fn start(net: &Net, config: &Path, log: &Path) -> Agent {
        let log_file = File::options().create(true).append(true).open(log).expect("log");
        let child = Command::new("ip")
            .args(["netns", "exec", &net.agent_ns, env!("CARGO_BIN_EXE_pushagent"), "--config"])
            .arg(config)
            .arg("run")
            .env("RUST_LOG", "debug")
            .stdout(Stdio::null())
            .stderr(log_file)
            .spawn()
            .expect("agent starts");
        Agent { child, log: log.to_owned() }
    }

    fn kill_9(&mut self) {
        let _ = self.child.kill(); // SIGKILL
        let _ = self.child.wait();
    }

    fn stop(&mut self) {
        use nix::sys::signal::{kill, Signal};
        use nix::unistd::Pid;
        // `ip netns exec` execs the agent, so the child pid is the agent's.
        kill(Pid::from_raw(self.child.id() as i32), Signal::SIGTERM).expect("SIGTERM");
        let status = self.child.wait().expect("agent exits");
        assert!(
            status.success(),
            "clean stop: {status}; log:\n{}",
            std::fs::read_to_string(&self.log).unwrap_or_default()
        );
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Wait until the agent's last committed reading is exactly the kernel's current counters.
fn wait_until_agent_saw(net: &Net, ring_path: &Path, log: &Path) -> (u64, u64) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (rx, tx, ifindex) = net.kernel();
        if let Ok(ring) = Ring::open_existing(ring_path) {
            if let Ok(Some((last, _))) = ring.last_reading() {
                let r = &last.reading.source;
                if r.ifindex == ifindex && r.counters.rx_bytes == rx && r.counters.tx_bytes == tx {
                    return (rx, tx);
                }
            }
        }
        assert!(
            Instant::now() < deadline,
            "agent did not catch up with the kernel ({rx}, {tx}); log:\n{}",
            std::fs::read_to_string(log).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn points_equal_the_kernel_counters_across_kill_9_and_veth_recreation() {
    if std::env::var_os("PUSHAGENT_SKIP_NETNS").is_some() {
        eprintln!("skipped: PUSHAGENT_SKIP_NETNS is set");
        return;
    }
    assert!(is_root(), "this test needs root (network namespaces); set PUSHAGENT_SKIP_NETNS=1 to skip it");
    let dir = tempfile::tempdir().expect("tempdir");
    let state = dir.path().join("state");
    let config = dir.path().join("agent.toml");
    let log = dir.path().join("agent.log");
    std::fs::write(
        &config,
        format!(
            "interface = \"{AGENT_IF}\"\nallow_virtual = true\nsample_interval_secs = 1\nstate_dir = \"{}\"\n",
            state.display()
        ),
    )
    .expect("config");
    let ring_path = state.join("state.sqlite");
    let net = Net::new();

    let (rx0, tx0, _) = net.kernel();
    let mut agent = Agent::start(&net, &config, &log);
    assert_eq!(wait_until_agent_saw(&net, &ring_path, &log), (rx0, tx0), "baseline is the quiet link");

    net.traffic(2000, 1200);
    wait_until_agent_saw(&net, &ring_path, &log);

    // kill -9, traffic while no agent runs, restart.
    agent.kill_9();
    net.traffic(1500, 900);
    let mut agent = Agent::start(&net, &config, &log);
    net.traffic(500, 1400);
    let (rx1, tx1) = wait_until_agent_saw(&net, &ring_path, &log);

    // Pull the cable: delete the veth (its counters die with it), re-create it.
    net.delete_veth();
    net.create_veth();
    net.traffic(1000, 1000);
    let (rx2, tx2) = wait_until_agent_saw(&net, &ring_path, &log);
    agent.stop();

    let (ring_rx, ring_tx) = Ring::open_existing(&ring_path).expect("ring").totals().expect("totals");
    let log_text = std::fs::read_to_string(&log).unwrap_or_default();
    assert_eq!(ring_tx, (tx1 - tx0) + tx2, "tx points = kernel delta; log:\n{log_text}");
    assert_eq!(ring_rx, (rx1 - rx0) + rx2, "rx points = kernel delta; log:\n{log_text}");
    assert!(tx1 - tx0 > 2000 * 1200, "traffic really crossed the link");
    assert!(log_text.contains("recreated"), "the re-creation was noticed");
}
