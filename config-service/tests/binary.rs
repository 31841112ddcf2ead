//! The real `pushagent-config` binary: create an enrollment token and a user, serve on port 0,
//! register an agent, pull its config, run `runcheck` and `prune`, stop with SIGTERM.

#![allow(clippy::unwrap_used)]

mod support;

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};

use pushagent_proto::agent::{CONFIG_PATH, REGISTER_PATH};
use serde_json::json;
use support::{client, register_body, reply_json};

const BIN: &str = env!("CARGO_BIN_EXE_pushagent-config");

fn command(dir: &std::path::Path) -> Command {
    let mut command = Command::new(BIN);
    command.env("PUSHAGENT_DB_PATH", dir.join("svc.sqlite")).env("RUST_LOG", "warn");
    command
}

#[test]
fn the_binary_serves_agents_and_runs_checks() {
    let dir = tempfile::tempdir().unwrap();
    let out = command(dir.path()).args(["enroll-token", "create"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let enroll = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    assert!(enroll.starts_with("pa_enroll_"));

    let mut add = command(dir.path())
        .args(["user", "add", "ops"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    add.stdin.take().unwrap().write_all(b"a-long-password\n").unwrap();
    assert!(add.wait_with_output().unwrap().status.success());
    let mut short = command(dir.path())
        .args(["user", "passwd", "ops"])
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    short.stdin.take().unwrap().write_all(b"short\n").unwrap();
    let short = short.wait_with_output().unwrap();
    assert!(!short.status.success());
    assert!(String::from_utf8_lossy(&short.stderr).contains("at least 8"));

    let mut server = Running(
        command(dir.path())
            .args(["serve", "--listen", "127.0.0.1:0"])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let mut line = String::new();
    BufReader::new(server.0.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let base = line.trim().strip_prefix("listening on ").unwrap().to_owned();

    let mut body = register_body("m-1", "web-01", "aa:bb:cc:dd:ee:01");
    body["enrollment_token"] = json!(enroll);
    let (status, answer) = reply_json(
        client()
            .post(format!("{base}{REGISTER_PATH}"))
            .header("Content-Type", "application/json")
            .send(body.to_string().as_bytes()),
    );
    assert_eq!(status, 200, "{answer}");
    let token = answer["agent_token"].as_str().unwrap();
    let (status, config) = reply_json(
        client()
            .get(format!("{base}{CONFIG_PATH}"))
            .header("Authorization", format!("Bearer {token}"))
            .call(),
    );
    assert_eq!((status, config["push_enabled"].as_bool()), (200, Some(true)), "{config}");

    let out = command(dir.path()).args(["token", "create", "ci"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let api_token = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    let (status, me) = reply_json(
        client().get(format!("{base}/api/me")).header("Authorization", format!("Bearer {api_token}")).call(),
    );
    assert_eq!((status, me["username"].as_str()), (200, Some("token:ci")), "{me}");
    let again = command(dir.path()).args(["token", "create", "ci"]).output().unwrap();
    assert!(!again.status.success(), "token names are unique");

    let out = command(dir.path()).arg("runcheck").output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let printed = String::from_utf8(out.stdout).unwrap();
    assert!(printed.contains("skipped: the global push switch is off"), "{printed}");

    // Retention by hand, beside the running service: nothing is old enough yet.
    let out = command(dir.path()).arg("prune").output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let printed = String::from_utf8(out.stdout).unwrap();
    assert!(printed.starts_with("deleted 0 history rows (0 report hours), 0 verifications"), "{printed}");
    let out = command(dir.path()).arg("prune").env("PUSHAGENT_HISTORY_RETENTION_DAYS", "3").output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr)
        .contains("history_retention_days: 0 (keep forever) or at least 30"));

    nix_kill(server.0.id());
    assert!(server.0.wait().unwrap().success(), "SIGTERM ends the service cleanly");
}

/// The server process, killed if the test fails before stopping it.
struct Running(std::process::Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// SIGTERM by pid (the child we started).
fn nix_kill(pid: u32) {
    let status = Command::new("kill").args(["-TERM", &pid.to_string()]).status().unwrap();
    assert!(status.success());
}
