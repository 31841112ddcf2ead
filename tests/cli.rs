//! The command line as an operator meets it: version, detect on a fixture host, facts,
//! the points of an hour, and config mistakes reported with key and line.

use std::process::{Command, Output};

fn pushagent(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_pushagent")).args(args).output().expect("pushagent runs")
}

fn text(out: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

fn fixture(case: &str) -> String {
    format!("{}/tests/fixtures/sysfs/{case}", env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn version() {
    let out = pushagent(&["--version"]);
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        format!("pushagent {}", env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn detect_explains_the_choice_and_every_rejection() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("agent.toml");
    std::fs::write(&config, "").expect("config");
    let out =
        pushagent(&["--root", &fixture("bond-bridge"), "--config", config.to_str().expect("utf8"), "detect"]);
    let t = text(&out);
    assert!(out.status.success(), "{t}");
    assert!(t.contains("Collecting: eth0") && t.contains("AMBIGUOUS"), "{t}");
    assert!(t.contains("bridge") && t.contains("bond"), "{t}");
}

#[test]
fn info_prints_facts_as_json() {
    let out = pushagent(&["--root", &fixture("plain-eth0"), "info"]);
    let t = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", text(&out));
    let facts: serde_json::Value = serde_json::from_str(&t).expect("JSON");
    assert_eq!(facts["interface"]["name"], "eth0");
}

#[test]
fn config_mistakes_name_the_key_and_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("agent.toml");
    std::fs::write(&config, "sample_interval_secs = 10\n\n[customer]\nbatch_size = 0\n").expect("config");
    let out = pushagent(&["--config", config.to_str().expect("utf8"), "detect"]);
    let t = text(&out);
    assert_eq!(out.status.code(), Some(2), "{t}");
    assert!(t.contains("line 4") && t.contains("batch_size"), "{t}");
    let out = pushagent(&["--config", "/nonexistent/agent.toml", "detect"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out).contains("/nonexistent/agent.toml"));
}

#[test]
fn points_of_an_hour_from_a_running_agent() {
    let dir = tempfile::tempdir().expect("tempdir");
    let state = dir.path().join("state");
    let config = dir.path().join("agent.toml");
    std::fs::write(&config, format!("state_dir = \"{}\"\n", state.display())).expect("config");
    let config = config.to_str().expect("utf8");
    let out = pushagent(&["--config", config, "points"]);
    assert!(!out.status.success());
    assert!(text(&out).contains("has not run"), "{}", text(&out));

    // A short run on a fixture host: the baseline slot exists afterwards.
    let mut agent = Command::new(env!("CARGO_BIN_EXE_pushagent"))
        .args(["--root", &fixture("plain-eth0"), "--config", config, "run"])
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("agent");
    let db = state.join("state.sqlite");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let read_at = loop {
        let last =
            pushagent::ring::Ring::open_existing(&db).ok().and_then(|r| r.last_reading().ok().flatten());
        if let Some((last, _)) = last {
            break last.reading.wall_ms;
        }
        assert!(std::time::Instant::now() < deadline, "agent wrote no reading");
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    let _ = agent.kill();
    let _ = agent.wait();
    // The hour of the agent's reading (not of "now": the hour may have turned since).
    let hour = pushagent::slots::ReportTz::default().flux_hour(read_at);
    let out = pushagent(&["--config", config, "points", "--hour", &hour]);
    let t = text(&out);
    assert!(out.status.success(), "{t}");
    assert!(t.contains(&format!("hour {hour}")) && t.contains("v11") && t.contains("sum"), "{t}");
    let out = pushagent(&["--config", config, "points", "--hour", "2026133199"]);
    assert!(text(&out).contains("invalid hour"), "{}", text(&out));
}
