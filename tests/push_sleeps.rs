//! The push thread sleeps until something is due: with push enabled and a customer configured
//! but nothing due, and with push disabled, it does not wake every few seconds (today's poll
//! was 5 s: 12 wake-ups a minute for nothing). A nudge (SIGUSR1, sent by the CLI after it
//! queued work) wakes it at once.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn fixture(name: &str) -> String {
    format!("{}/tests/fixtures/sysfs/{name}", env!("CARGO_MANIFEST_DIR"))
}

struct Agent {
    child: Child,
    _dir: tempfile::TempDir,
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A real agent on a fixture host, a customer configured (on a port nobody listens on:
/// nothing is due, so nothing is sent), push on or off. Returned once its first reading is in.
fn start_agent(push_enabled: bool) -> Agent {
    let dir = tempfile::tempdir().expect("tempdir");
    let state = dir.path().join("state");
    let config = dir.path().join("agent.toml");
    std::fs::write(
        &config,
        format!(
            "state_dir = \"{}\"\npush_enabled = {push_enabled}\ntrust_unsynced_clock = true\n\
             [report]\nprovider_id = \"p\"\nprovider_uiid = \"u\"\n\
             [customer]\nbase_url = \"http://127.0.0.1:9\"\naccess_id = \"AK\"\nsecret = \"SK\"\n",
            state.display()
        ),
    )
    .expect("config");
    let child = Command::new(env!("CARGO_BIN_EXE_pushagent"))
        .args(["--root", &fixture("plain-eth0"), "--config", config.to_str().expect("utf8"), "run"])
        .stderr(Stdio::null())
        .spawn()
        .expect("agent");
    let agent = Agent { child, _dir: dir };
    let db = state.join("state.sqlite");
    let deadline = Instant::now() + Duration::from_secs(30);
    while pushagent::ring::Ring::open_existing(&db)
        .ok()
        .and_then(|r| r.last_reading().ok().flatten())
        .is_none()
    {
        assert!(Instant::now() < deadline, "the agent wrote no reading");
        std::thread::sleep(Duration::from_millis(50));
    }
    agent
}

/// Times the agent's push thread went to sleep so far (voluntary context switches).
fn push_thread_sleeps(pid: u32) -> u64 {
    for task in std::fs::read_dir(format!("/proc/{pid}/task")).expect("tasks").flatten() {
        let comm = std::fs::read_to_string(task.path().join("comm")).unwrap_or_default();
        if comm.trim() == "push" {
            let status = std::fs::read_to_string(task.path().join("status")).expect("status");
            return status
                .lines()
                .find_map(|l| l.strip_prefix("voluntary_ctxt_switches:"))
                .and_then(|v| v.trim().parse().ok())
                .expect("voluntary_ctxt_switches");
        }
    }
    panic!("agent {pid} has no push thread");
}

#[test]
fn the_push_thread_sleeps_until_something_is_due_and_wakes_when_nudged() {
    let agents = [start_agent(true), start_agent(false)];
    let pids: Vec<u32> = agents.iter().map(|a| a.child.id()).collect();
    // Let each push thread finish its first step (its first sleep).
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut base: Vec<u64> = pids.iter().map(|p| push_thread_sleeps(*p)).collect();
    while base.contains(&0) {
        assert!(Instant::now() < deadline, "the push threads never slept");
        std::thread::sleep(Duration::from_millis(50));
        base = pids.iter().map(|p| push_thread_sleeps(*p)).collect();
    }
    // 12 s (today's poll woke it at least twice in that time): at most one wake-up, an hour
    // boundary's nudge from the sampler if one falls inside the window.
    let window = Instant::now() + Duration::from_secs(12);
    while Instant::now() < window {
        for (pid, b) in pids.iter().zip(&base) {
            let now = push_thread_sleeps(*pid);
            assert!(now <= b + 1, "push thread of {pid} woke {} times in 12 s with nothing due", now - b);
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    // SIGUSR1 (what `pushagent push`/`verify` send to the running agent) wakes it at once.
    for pid in &pids {
        let before = push_thread_sleeps(*pid);
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(*pid as i32), nix::sys::signal::Signal::SIGUSR1)
            .expect("signal");
        let deadline = Instant::now() + Duration::from_secs(10);
        while push_thread_sleeps(*pid) == before {
            assert!(Instant::now() < deadline, "SIGUSR1 did not wake the push thread of {pid}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}
