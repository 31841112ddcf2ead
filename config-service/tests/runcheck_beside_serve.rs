//! `runcheck` (another process, its own connection) looping beside the real `serve` binary
//! while agents heartbeat and send history: no request fails (issue 11 §3: "database is
//! locked" answered 500 before read-then-write transactions took the write lock first).

#![allow(clippy::unwrap_used)]

mod support;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};

use pushagent_proto::agent::{HistoryBatch, PushStatus, HEARTBEAT_PATH, HISTORY_PATH, REGISTER_PATH};
use serde_json::json;
use support::{client, heartbeat, push_item, register_body, reply_json};

const BIN: &str = env!("CARGO_BIN_EXE_pushagent-config");
const MACHINES: usize = 8;
const ROUNDS: usize = 40;

fn command(dir: &std::path::Path) -> Command {
    let mut command = Command::new(BIN);
    command.env("PUSHAGENT_DB_PATH", dir.join("svc.sqlite")).env("RUST_LOG", "error");
    command
}

struct Running(std::process::Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn runcheck_looping_beside_serve_causes_no_error() {
    let dir = tempfile::tempdir().unwrap();
    let enroll =
        String::from_utf8(command(dir.path()).args(["enroll-token", "create"]).output().unwrap().stdout)
            .unwrap()
            .trim()
            .to_owned();
    let api = String::from_utf8(command(dir.path()).args(["token", "create", "ci"]).output().unwrap().stdout)
        .unwrap()
        .trim()
        .to_owned();
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
    let send = |path: &str, body: &serde_json::Value, token: &str| {
        reply_json(
            client()
                .post(format!("{base}{path}"))
                .header("Content-Type", "application/json")
                .header("Authorization", format!("Bearer {token}"))
                .send(body.to_string().as_bytes()),
        )
    };
    // The checks run (global switch on), so every pass opens or closes incidents: it writes.
    let (_, mut global) = reply_json(
        client()
            .get(format!("{base}/api/global-config"))
            .header("Authorization", format!("Bearer {api}"))
            .call(),
    );
    global["push_enabled"] = json!(true);
    let (status, answer) = reply_json(
        client()
            .put(format!("{base}/api/global-config"))
            .header("Content-Type", "application/json")
            .header("Authorization", format!("Bearer {api}"))
            .send(global.to_string().as_bytes()),
    );
    assert_eq!(status, 200, "{answer}");
    let agents: Vec<(String, String)> = (0..MACHINES)
        .map(|n| {
            let mac = format!("aa:bb:cc:dd:ee:{n:02x}");
            let mut body = register_body(&format!("m-{n}"), &format!("web-{n}"), &mac);
            body["enrollment_token"] = json!(enroll);
            let (status, answer) = send(REGISTER_PATH, &body, "");
            assert_eq!(status, 200, "{answer}");
            (answer["agent_token"].as_str().unwrap().to_owned(), mac)
        })
        .collect();

    let writers_done = AtomicBool::new(false);
    let (errors, requests, passes) = std::thread::scope(|scope| {
        let checker = scope.spawn(|| {
            let mut passes = 0;
            // Bounded: until the agents are done, at most 400 passes.
            while !writers_done.load(Ordering::SeqCst) && passes < 400 {
                let out = command(dir.path()).arg("runcheck").output().unwrap();
                assert!(out.status.success(), "runcheck failed: {}", String::from_utf8_lossy(&out.stderr));
                passes += 1;
            }
            passes
        });
        let writers: Vec<_> = agents
            .iter()
            .map(|(token, mac)| {
                let send = &send;
                scope.spawn(move || {
                    let mut errors = Vec::new();
                    for round in 0..ROUNDS {
                        let (status, answer) = send(HEARTBEAT_PATH, &json!(heartbeat("web", mac, 0)), token);
                        if status != 200 {
                            errors.push(format!("heartbeat {status}: {answer}"));
                        }
                        // Three failed attempts, then a success: incidents open and close.
                        let status_now =
                            if round % 4 == 3 { PushStatus::Success } else { PushStatus::Failure };
                        let batch = HistoryBatch {
                            pushes: vec![push_item(
                                mac,
                                "2026112410",
                                round as u32 + 1,
                                status_now,
                                round as i64,
                            )],
                            ..HistoryBatch::default()
                        };
                        let (status, answer) = send(HISTORY_PATH, &json!(batch), token);
                        if status != 200 {
                            errors.push(format!("history {status}: {answer}"));
                        }
                    }
                    errors
                })
            })
            .collect();
        let errors: Vec<String> = writers.into_iter().flat_map(|w| w.join().unwrap()).collect();
        writers_done.store(true, Ordering::SeqCst);
        (errors, MACHINES * ROUNDS * 2, checker.join().unwrap())
    });
    assert!(passes >= 3, "runcheck really ran beside serve ({passes} passes)");
    assert!(
        errors.is_empty(),
        "{} of {requests} requests failed: {:?}",
        errors.len(),
        &errors[..errors.len().min(5)]
    );
}
