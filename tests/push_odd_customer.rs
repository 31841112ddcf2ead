//! The customer's odd answers never cause a storm, a silent loop or a false alarm (issue 10
//! §2): a scripted customer on loopback answers each request as the story needs, counts every
//! POST and GET, and the real pusher (outbox, client, verification) runs against it on a
//! simulated clock.

// Tests build configs field by field from the defaults: clearer than one big literal.
#![allow(clippy::field_reassign_with_default)]

mod common;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::harness::Harness;
use pushagent::clock::{Clock, SimClock};
use pushagent::config::AgentConfig;
use pushagent::push::outbox::{Outbox, PushAttempt, StateChange};
use pushagent::push::pusher::Pusher;
use pushagent::push::report::{self, BuildRules, ReportState};
use pushagent::slots::ReportTz;
use pushagent_proto::agent;
use serde_json::{json, Value};

/// 2026-11-24 08:00 in the report time zone (UTC+08:00).
const HOUR: i64 = 1_795_478_400_000;
const HOUR_MS: i64 = 3_600_000;
const MAC: &str = "aa:bb:cc:dd:ee:01";

/// What the scripted customer holds: (mac, flux_hour) -> record, as it would answer it.
type Store = BTreeMap<(String, String), Value>;

/// An answer: HTTP status and body.
type Answer = (u16, String);
/// The customer's answer to a push (its records).
type OnPush = Box<dyn FnMut(&mut Store, &[Value]) -> Answer + Send>;
/// The customer's answer to a query (MAC, day).
type OnQuery = Box<dyn FnMut(&mut Store, &str, &str) -> Answer + Send>;

/// How the customer answers.
struct Script {
    on_push: OnPush,
    on_query: OnQuery,
}

#[derive(Default)]
struct Seen {
    posts: usize,
    gets: usize,
}

struct ScriptedCustomer {
    base_url: String,
    seen: Arc<Mutex<Seen>>,
    store: Arc<Mutex<Store>>,
}

impl ScriptedCustomer {
    fn start(mut script: Script) -> ScriptedCustomer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let base_url = format!("http://{}", listener.local_addr().expect("addr"));
        let seen = Arc::new(Mutex::new(Seen::default()));
        let store = Arc::new(Mutex::new(Store::new()));
        let (seen2, store2) = (seen.clone(), store.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
                let Some((method, target, body)) = read_request(&mut stream) else { continue };
                let mut store = store2.lock().expect("store");
                let (status, answer) = if method == "POST" {
                    seen2.lock().expect("seen").posts += 1;
                    let parsed: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
                    let records = parsed["records"].as_array().cloned().unwrap_or_default();
                    (script.on_push)(&mut store, &records)
                } else {
                    seen2.lock().expect("seen").gets += 1;
                    let param = |name: &str| {
                        target
                            .split(['?', '&'])
                            .find_map(|kv| kv.strip_prefix(&format!("{name}=")))
                            .unwrap_or("")
                            .replace("%3A", ":")
                    };
                    (script.on_query)(&mut store, &param("mac"), &param("flux_dat"))
                };
                drop(store);
                let _ = write!(
                    stream,
                    "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{answer}",
                    answer.len()
                );
            }
        });
        ScriptedCustomer { base_url, seen, store }
    }

    fn posts(&self) -> usize {
        self.seen.lock().expect("seen").posts
    }

    fn gets(&self) -> usize {
        self.seen.lock().expect("seen").gets
    }

    fn hold(&self, mac: &str, flux_hour: &str, record: Value) {
        self.store.lock().expect("store").insert((mac.into(), flux_hour.into()), record);
    }
}

fn read_request(stream: &mut std::net::TcpStream) -> Option<(String, String, Vec<u8>)> {
    let mut reader = BufReader::new(stream.try_clone().ok()?);
    let mut first = String::new();
    reader.read_line(&mut first).ok()?;
    let mut parts = first.split_whitespace();
    let (method, target) = (parts.next()?.to_string(), parts.next()?.to_string());
    let mut length = 0usize;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).ok()? == 0 || line == "\r\n" {
            break;
        }
        if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
            length = v.trim().parse().unwrap_or(0);
        }
    }
    let mut body = vec![0u8; length];
    reader.read_exact(&mut body).ok()?;
    Some((method, target, body))
}

/// The customer stores every record of a push (highest version wins) and answers code 0.
fn store_all(store: &mut Store, records: &[Value]) -> (u16, String) {
    for r in records {
        let key =
            (r["mac"].as_str().unwrap_or("").to_string(), r["flux_hour"].as_str().unwrap_or("").to_string());
        let newer = store.get(&key).is_none_or(|old| old["version"].as_u64() <= r["version"].as_u64());
        if newer {
            store.insert(key, r.clone());
        }
    }
    (200, json!({"code": 0, "msg": "ok"}).to_string())
}

/// The customer's answer to a query: its records of that MAC and day.
fn answer_day(store: &mut Store, mac: &str, day: &str) -> (u16, String) {
    let data: Vec<Value> =
        store.iter().filter(|((m, h), _)| m == mac && h.starts_with(day)).map(|(_, r)| r.clone()).collect();
    (200, json!({"code": 0, "msg": "ok", "data": data}).to_string())
}

/// A record of `flux_hour` as the customer would hold it: v0 = `v0`, the rest 0.
fn record(flux_hour: &str, v0: u64, version: u64) -> Value {
    let mut r = json!({
        "flux_dat": &flux_hour[..8], "flux_hour": flux_hour, "provider_id": "P", "provider_uiid": "U",
        "isp_id": 0, "mac": MAC, "version": version, "device_type": 0
    });
    for i in 0..12 {
        r[format!("v{i}")] = json!(if i == 0 { v0 } else { 0 });
    }
    r
}

fn flux_hour(n: i64) -> String {
    ReportTz::default().flux_hour(HOUR + n * HOUR_MS)
}

/// A pusher's settings against `base_url` (short timeouts, verification for a day unless
/// `tune` says otherwise), the clock at `wall_ms`.
fn harness<'c>(base_url: &str, wall_ms: i64, tune: impl FnOnce(&mut AgentConfig) + 'c) -> Harness {
    Harness::at(wall_ms, 1)
        .customer_url(base_url)
        .config(|config| {
            config.customer.timeout_secs = 5;
            config.customer.connect_timeout_secs = 2;
            config.verify_days = 1;
        })
        .config(tune)
        .build()
}

/// Run the pusher every `every_ms` of simulated time for `total_ms`.
fn run_for(pusher: &mut Pusher<'_>, clock: &SimClock, every_ms: u64, total_ms: u64) {
    let mut elapsed = 0;
    while elapsed < total_ms {
        pusher.step().expect("step");
        clock.advance_ms(every_ms);
        elapsed += every_ms;
    }
}

/// 40901 answers the agent cannot read as naming the record: the list missing, not a list,
/// or naming the MAC and hour in another format.
#[test]
fn a_conflict_without_a_usable_list_is_resolved_by_querying_never_by_a_storm() {
    let odd_conflicts = [
        json!({"code": 40901, "msg": "version conflict"}),
        json!({"code": 40901, "msg": "version conflict", "conflicts": "see records"}),
        json!({"code": 40901, "msg": "version conflict",
               "conflicts": [{"mac": "AABBCCDDEE01", "flux_hour": "2026-11-24 08", "stored_version": "1"}]}),
    ];
    for answer in odd_conflicts {
        // The customer holds version 1 with other values and refuses ours until the version
        // is above its own.
        let conflict = answer.to_string();
        let customer = ScriptedCustomer::start(Script {
            on_push: Box::new(move |store, records| {
                let r = &records[0];
                let key = (MAC.to_string(), r["flux_hour"].as_str().unwrap_or("").to_string());
                let stored = store.get(&key).and_then(|s| s["version"].as_u64()).unwrap_or(0);
                if r["version"].as_u64().unwrap_or(0) <= stored {
                    return (200, conflict.clone());
                }
                store_all(store, records)
            }),
            on_query: Box::new(answer_day),
        });
        customer.hold(MAC, &flux_hour(0), record(&flux_hour(0), 777, 1));
        let harness = harness(&customer.base_url, HOUR + 2 * HOUR_MS, |_| {});
        let mut pusher = harness.pusher_with_pending_hours(MAC, HOUR, 1);

        pusher.step().expect("step");
        assert!(
            customer.posts() <= 2,
            "one conflict answer, then one resolved push, not a storm: {} POSTs for {answer}",
            customer.posts()
        );
        assert_eq!(customer.gets(), 1, "the hour was queried to resolve the conflict ({answer})");
        let r = pusher.outbox.get(MAC, &flux_hour(0)).expect("db").expect("report");
        assert_eq!((r.state, r.version), (ReportState::Sent, 2), "{answer}");
        let held = customer.store.lock().expect("store")[&(MAC.to_string(), flux_hour(0))].clone();
        assert_eq!(held["version"], 2);
        assert_eq!(held["v0"], 0, "our values are what the customer holds now");
    }
}

/// A customer that answers every push with a 40901 it does not explain, and whose copy shows
/// nothing conflicting: pushes are retried with backoff, one POST per attempt.
#[test]
fn an_unexplained_conflict_is_retried_with_backoff() {
    let customer = ScriptedCustomer::start(Script {
        on_push: Box::new(|_, _| (200, json!({"code": 40901, "msg": "conflict"}).to_string())),
        on_query: Box::new(answer_day),
    });
    let harness = harness(&customer.base_url, HOUR + 2 * HOUR_MS, |_| {});
    let clock = &harness.clock;
    let mut pusher = harness.pusher_with_pending_hours(MAC, HOUR, 1);
    pusher.step().expect("step");
    assert_eq!(customer.posts(), 1, "one POST in the step, not an immediate resend");
    // Ten minutes of steps every 5 s: the backoff (15 s, 30 s, 1 min, ...) spaces them.
    run_for(&mut pusher, clock, 5_000, 600_000);
    assert!(customer.posts() <= 8, "{} POSTs in 10 minutes", customer.posts());
    let r = pusher.outbox.get(MAC, &flux_hour(0)).expect("db").expect("report");
    assert_eq!((r.state, r.version), (ReportState::Pending, 1), "never a version climb on a guess");
    assert!(r.last_error.as_deref().unwrap_or("").contains("conflict"), "{:?}", r.last_error);
}

/// The query API fails (5xx, garbage) for every check: the hour is tried again with backoff
/// until the verification window ends, then it is `unverifiable`, recorded once, mirrored as
/// such, never as a mismatch.
#[test]
fn an_hour_that_cannot_be_verified_ends_unverifiable_never_a_mismatch() {
    let mut n = 0;
    let customer = ScriptedCustomer::start(Script {
        on_push: Box::new(store_all),
        on_query: Box::new(move |_, _, _| {
            n += 1;
            if n % 2 == 0 {
                (503, "<html>busy</html>".into())
            } else {
                (200, "{\"code\":0,\"data\":\"not a list\"}".into())
            }
        }),
    });
    let harness = harness(&customer.base_url, HOUR + 2 * HOUR_MS, |c| c.verify_days = 1);
    let clock = &harness.clock;
    let mut pusher = harness.pusher_with_pending_hours(MAC, HOUR, 1);
    // 30 hours of steps every 5 minutes: the window (1 day after the hour) ends inside.
    run_for(&mut pusher, clock, 300_000, 30 * HOUR_MS as u64);
    let r = pusher.outbox.get(MAC, &flux_hour(0)).expect("db").expect("report");
    assert_eq!(r.state, ReportState::Unverifiable, "{r:?}");
    assert_eq!(r.version, 1, "never corrected on a failed read");
    assert!(customer.gets() <= 16, "backoff, not every 15 minutes: {} queries", customer.gets());
    let checks = pusher.outbox.verifications_since(0).expect("verifications");
    assert_eq!(checks.len(), 1, "one result, at the end: {checks:?}");
    assert_eq!(checks[0].result, "unverifiable");
    let history = pusher.outbox.unmirrored_history(100).expect("history");
    let item = &history.batch.verifications[0];
    assert_eq!(item.state.as_deref(), Some(agent::VERIFY_UNVERIFIABLE));
    assert!(!item.matched && !item.corrected);
    assert_eq!((item.version, item.checked_version, item.customer_points), (1, None, None));
    // `pushagent outbox --state unverifiable` lists it.
    let listed = pusher.outbox.list(Some(ReportState::Unverifiable), 10).expect("list");
    assert_eq!(listed.len(), 1);
}

/// One timeout, then the customer answers: the hour is verified, and nothing was recorded for
/// the failed check (a single timeout never looks like a mismatch).
#[test]
fn a_single_failed_query_is_not_a_mismatch() {
    let mut n = 0;
    let customer = ScriptedCustomer::start(Script {
        on_push: Box::new(store_all),
        on_query: Box::new(move |store, mac, day| {
            n += 1;
            if n == 1 {
                std::thread::sleep(Duration::from_millis(2_500)); // past the agent's 2 s timeout
            }
            answer_day(store, mac, day)
        }),
    });
    let harness = harness(&customer.base_url, HOUR + 2 * HOUR_MS, |c| c.customer.timeout_secs = 2);
    let clock = &harness.clock;
    let mut pusher = harness.pusher_with_pending_hours(MAC, HOUR, 1);
    run_for(&mut pusher, clock, 300_000, 4 * HOUR_MS as u64);
    let checks = pusher.outbox.verifications_since(0).expect("verifications");
    assert_eq!(customer.gets(), 2, "the timed-out check was tried again");
    assert_eq!(checks.len(), 1, "{checks:?}");
    assert_eq!(checks[0].result, "match");
    assert_eq!((checks[0].version, checks[0].checked_version), (1, Some(1)));
    assert_eq!(checks[0].customer_points, Some([0; 12]));
    let item = &pusher.outbox.unmirrored_history(100).expect("history").batch.verifications[0];
    assert_eq!(item.state.as_deref(), Some(agent::VERIFY_MATCHED));
    assert_eq!(item.customer_points, Some([0; 12]), "the customer's points mirrored for a match too");
}

/// The customer answers code 0 to every push but keeps its own value: at most
/// `max_corrections_per_hour` corrections, then the hour is `correction_failed`, held for an
/// operator and mirrored. No endless version climb.
#[test]
fn corrections_that_do_not_stick_stop_and_hold_the_hour() {
    let customer = ScriptedCustomer::start(Script {
        on_push: Box::new(|store, records| {
            // "Stored": but the customer keeps its first copy's values, with the new version.
            for r in records {
                let key = (MAC.to_string(), r["flux_hour"].as_str().unwrap_or("").to_string());
                let mut kept = store.get(&key).cloned().unwrap_or_else(|| r.clone());
                kept["version"] = r["version"].clone();
                kept["v0"] = json!(999);
                store.insert(key, kept);
            }
            (200, json!({"code": 0}).to_string())
        }),
        on_query: Box::new(answer_day),
    });
    let harness = harness(&customer.base_url, HOUR + 2 * HOUR_MS, |c| c.verify_days = 7);
    let clock = &harness.clock;
    let mut pusher = harness.pusher_with_pending_hours(MAC, HOUR, 1);
    assert_eq!(pusher.config.max_corrections_per_hour, 3, "the default");
    run_for(&mut pusher, clock, 600_000, 5 * 24 * HOUR_MS as u64);
    let r = pusher.outbox.get(MAC, &flux_hour(0)).expect("db").expect("report");
    assert_eq!(r.state, ReportState::CorrectionFailed, "{r:?}");
    assert_eq!(r.version, 4, "version 1 and three corrections");
    assert_eq!(customer.posts(), 4);
    let results: Vec<String> =
        pusher.outbox.verifications_since(0).expect("verifications").into_iter().map(|v| v.result).collect();
    assert_eq!(results, ["corrected", "corrected", "corrected", "correction_failed"]);
    let history = pusher.outbox.unmirrored_history(100).expect("history");
    let failed = history.batch.verifications.last().expect("mirrored");
    assert_eq!(failed.state.as_deref(), Some(agent::VERIFY_CORRECTION_FAILED));
    assert_eq!((failed.version, failed.checked_version), (4, Some(4)));
    assert_eq!(failed.customer_points.map(|p| p[0]), Some(999));
    assert_eq!(history.batch.held.len(), 1, "held for an operator: {:?}", history.batch.held);
    assert!(history.batch.held[0].reason.contains("max_corrections_per_hour"), "{:?}", history.batch.held);
    assert_eq!(pusher.outbox.backlog().expect("backlog").held_hours, 1);
}

/// Records the customer holds for our MAC for an hour we skipped (push switch off) and for an
/// hour we have no report of are reported once, with the customer's points, never ignored.
#[test]
fn the_customer_holding_hours_we_did_not_send_is_reported() {
    let customer =
        ScriptedCustomer::start(Script { on_push: Box::new(store_all), on_query: Box::new(answer_day) });
    let harness = harness(&customer.base_url, HOUR + 3 * HOUR_MS, |c| c.verify_days = 3);
    let clock = &harness.clock;
    let mut pusher = harness.pusher_with_pending_hours(MAC, HOUR, 1);
    // Hour 1 built with the push switch off: skipped, never sent.
    let off = BuildRules::from_settings(
        pusher.config.customer.billed_direction,
        &pusher.config.report,
        false,
        None,
    );
    let skipped = report::build(MAC, HOUR + HOUR_MS, &[], &ReportTz::default(), &off);
    assert_eq!(skipped.state, ReportState::SkippedOff);
    pusher.outbox.commit_hour(&[skipped], HOUR + 2 * HOUR_MS, clock.wall_ms()).expect("commit");
    customer.hold(MAC, &flux_hour(1), record(&flux_hour(1), 5_000, 1));
    customer.hold(MAC, &flux_hour(5), record(&flux_hour(5), 7_000, 2));
    run_for(&mut pusher, clock, 600_000, 2 * 24 * HOUR_MS as u64);
    let extras: Vec<_> = pusher
        .outbox
        .verifications_since(0)
        .expect("verifications")
        .into_iter()
        .filter(|v| v.result == "customer_extra")
        .collect();
    assert_eq!(extras.len(), 2, "each reported once across the daily checks: {extras:?}");
    assert_eq!(extras[0].flux_hour, flux_hour(1));
    assert_eq!(extras[0].customer_points.map(|p| p[0]), Some(5_000));
    assert_eq!((extras[1].flux_hour.as_str(), extras[1].checked_version), (flux_hour(5).as_str(), Some(2)));
    let history = pusher.outbox.unmirrored_history(100).expect("history");
    let mirrored: Vec<_> = history
        .batch
        .verifications
        .iter()
        .filter(|v| v.state.as_deref() == Some(agent::VERIFY_CUSTOMER_EXTRA))
        .collect();
    assert_eq!(mirrored.len(), 2);
    assert!(mirrored.iter().all(|v| !v.matched && !v.corrected));
    // The skipped hour stays skipped: nothing was pushed for it.
    let r = pusher.outbox.get(MAC, &flux_hour(1)).expect("db").expect("report");
    assert_eq!(r.state, ReportState::SkippedOff);
    assert_eq!(customer.posts(), 1, "only hour 0 was ever pushed");
}

/// One malformed record in the day's answer spoils only its own hour; a record that cannot
/// even say which hour it is makes no hour "missing" on a guess.
#[test]
fn one_malformed_record_spoils_only_itself() {
    let customer = ScriptedCustomer::start(Script {
        on_push: Box::new(store_all),
        on_query: Box::new(|store, mac, day| {
            let mut data: Vec<Value> = store
                .iter()
                .filter(|((m, h), _)| m == mac && h.starts_with(day))
                .map(|(_, r)| r.clone())
                .collect();
            for r in data.iter_mut() {
                if r["flux_hour"] == flux_hour(0).as_str() {
                    r["v3"] = json!("12x");
                }
            }
            data.push(json!({"flux_hour": "??", "v0": 1}));
            (200, json!({"code": 0, "data": data}).to_string())
        }),
    });
    let harness = harness(&customer.base_url, HOUR + 3 * HOUR_MS, |_| {});
    let clock = &harness.clock;
    let mut pusher = harness.pusher_with_pending_hours(MAC, HOUR, 2);
    run_for(&mut pusher, clock, 300_000, 3 * HOUR_MS as u64);
    let good = pusher.outbox.get(MAC, &flux_hour(1)).expect("db").expect("report");
    assert_eq!(good.verify_result.as_deref(), Some("match"), "the other hour of the day is verified");
    let bad = pusher.outbox.get(MAC, &flux_hour(0)).expect("db").expect("report");
    assert_eq!((bad.state, bad.version), (ReportState::Sent, 1), "not corrected on an unreadable record");
    assert!(bad.verify_failures >= 1, "{bad:?}");
    assert!(bad.last_error.as_deref().unwrap_or("").contains("v3"), "{:?}", bad.last_error);
    let results: Vec<String> =
        pusher.outbox.verifications_since(0).expect("verifications").into_iter().map(|v| v.result).collect();
    assert!(results.iter().all(|r| r == "match"), "{results:?}");
    assert_eq!(customer.posts(), 1, "no re-push");
}

/// The customer holds the hour at version u32::MAX with other values: the version cannot be
/// raised, so the hour is held with a clear reason (never a wrap to 0, never a panic).
#[test]
fn a_version_at_its_maximum_holds_the_hour() {
    let customer = ScriptedCustomer::start(Script {
        on_push: Box::new(|store, records| {
            store_all(store, records);
            for r in records {
                let key = (MAC.to_string(), r["flux_hour"].as_str().unwrap_or("").to_string());
                store.insert(key, record(r["flux_hour"].as_str().unwrap_or(""), 1, u64::from(u32::MAX)));
            }
            (200, json!({"code": 0}).to_string())
        }),
        on_query: Box::new(answer_day),
    });
    let harness = harness(&customer.base_url, HOUR + 2 * HOUR_MS, |_| {});
    let clock = &harness.clock;
    let mut pusher = harness.pusher_with_pending_hours(MAC, HOUR, 1);
    run_for(&mut pusher, clock, 300_000, 3 * HOUR_MS as u64);
    let r = pusher.outbox.get(MAC, &flux_hour(0)).expect("db").expect("report");
    assert_eq!((r.state, r.version), (ReportState::Held, 1), "{r:?}");
    let reason = r.reason.unwrap_or_default();
    assert!(reason.contains("cannot be raised") && reason.contains("4294967295"), "{reason}");
    assert_eq!(customer.posts(), 1);
}

/// An attempt whose stored version is u32::MAX: the operator's re-push refuses clearly.
#[test]
fn the_operator_cannot_raise_a_version_at_its_maximum() {
    let harness = harness("http://127.0.0.1:9", HOUR + 2 * HOUR_MS, |_| {});
    let (clock, dir) = (&harness.clock, harness.state_dir());
    let mut pusher = harness.pusher_with_pending_hours(MAC, HOUR, 1);
    pusher
        .outbox
        .schedule_repush(&StateChange::Repush {
            mac: MAC.into(),
            flux_hour: flux_hour(0),
            version: u32::MAX,
            values: None,
            reason: "test".into(),
            now_ms: clock.wall_ms(),
            due_at_ms: clock.wall_ms(),
            kind: pushagent::push::outbox::RepushKind::Operator,
        })
        .expect("version");
    let config_path = dir.join("agent.toml");
    std::fs::write(
        &config_path,
        format!(
            "state_dir = \"{}\"\n[customer]\nbase_url = \"http://127.0.0.1:9\"\naccess_id = \"AK\"\nsecret = \"S\"\n\
             [report]\nprovider_id = \"P\"\nprovider_uiid = \"U\"\n",
            dir.display()
        ),
    )
    .expect("config");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_pushagent"))
        .args(["--config", config_path.to_str().expect("path"), "push", "--hour", &flux_hour(0)])
        .output()
        .expect("run");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("cannot be raised"), "{stderr}");
    let r = pusher.outbox.get(MAC, &flux_hour(0)).expect("db").expect("report");
    assert_eq!(r.version, u32::MAX);
}

/// `max_corrections_per_hour` is checked like every other key.
#[test]
fn max_corrections_per_hour_is_checked() {
    assert!(pushagent_proto::check::max_corrections_per_hour(3).is_ok());
    for bad in [0, 21] {
        let e = pushagent_proto::check::max_corrections_per_hour(bad).expect_err("refused");
        assert!(e.contains("max_corrections_per_hour"), "{e}");
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("agent.toml");
    std::fs::write(&path, "max_corrections_per_hour = 0\n").expect("write");
    let e = pushagent::config::AgentConfig::load(&path, true).expect_err("refused");
    assert!(e.to_string().contains("max_corrections_per_hour"), "{e}");
}

/// The agent's side of the config service, registered with the real service, with the given
/// push attempts of one hour in its outbox (under the fixture eth0's MAC, which the machine
/// reports, so the service takes its history).
fn sync_with_attempts<'a>(
    service: &common::service::ConfigService,
    dir: &tempfile::TempDir,
    clock: &'a SimClock,
    attempts: &[(u32, String)],
) -> pushagent::service::sync::ServiceSync<'a> {
    let mut local = AgentConfig::default();
    local.state_dir = dir.path().to_owned();
    local.service.url = Some(service.base_url.clone());
    local.service.enrollment_token = pushagent::config::Secret::new(common::service::ENROLL);
    let mac = "0c:c4:7a:10:00:01";
    let mut outbox = Outbox::open(&local.state_db_path()).expect("outbox");
    let rules = BuildRules::from_settings(local.customer.billed_direction, &local.report, true, None);
    let built = report::build(mac, HOUR, &[], &ReportTz::default(), &rules);
    outbox.commit_hour(&[built], HOUR + HOUR_MS, clock.wall_ms()).expect("commit");
    for (version, message) in attempts {
        let attempt = PushAttempt {
            mac: mac.into(),
            flux_hour: flux_hour(0),
            version: *version,
            at_ms: clock.wall_ms(),
            http_status: Some(503),
            code: None,
            outcome: "retry".into(),
            message: message.clone(),
            duration_ms: 5,
        };
        outbox.record_attempts(&[attempt], &[]).expect("attempt");
    }
    let shared = pushagent::config::SharedConfig::new(local.clone());
    let root = pushagent::netif::HostRoot::new(format!(
        "{}/tests/fixtures/sysfs/plain-eth0",
        env!("CARGO_MANIFEST_DIR")
    ));
    pushagent::service::sync::ServiceSync::new(clock, local, shared, outbox, root).expect("sync")
}

/// A history item the config service refuses as invalid (400: here an attempt of version 0)
/// is recorded and skipped; the items around it reach the service.
#[test]
fn a_history_item_the_service_refuses_never_blocks_the_others() {
    let service_dir = tempfile::tempdir().expect("tempdir");
    let service = common::service::ConfigService::start(service_dir.path());
    let dir = tempfile::tempdir().expect("tempdir");
    let clock = SimClock::new(HOUR + 2 * HOUR_MS, 1);
    let attempts = [(1, "busy".to_string()), (0, "bad".to_string()), (1, "busy again".to_string())];
    let mut sync = sync_with_attempts(&service, &dir, &clock, &attempts);
    sync.step().expect("a round with the service");
    let outbox = Outbox::open_existing(&dir.path().join("state.sqlite")).expect("outbox");
    assert_eq!(outbox.backlog().expect("backlog").history_items, 0, "nothing left blocking");
    let refused = outbox.mirror_refusals().expect("refusals");
    assert_eq!(refused.len(), 1, "{refused:?}");
    assert_eq!((refused[0].kind.as_str(), refused[0].status), ("push", 400));
    assert!(refused[0].message.contains("version"), "{refused:?}");
    let history = service.admin("GET", "/api/history?page_size=50", None);
    assert_eq!(
        history["items"].as_array().expect("items").len(),
        2,
        "the good attempts were stored: {history}"
    );
    // The next round sends nothing again.
    sync.step().expect("a round with the service");
    let history = service.admin("GET", "/api/history?page_size=50", None);
    assert_eq!(history["items"].as_array().expect("items").len(), 2);
}

/// A customer's 4000-character answer is clipped (on a character boundary) before it reaches
/// the service, in the history and in the heartbeat's last push: neither is refused.
#[test]
fn the_customers_long_texts_are_clipped_before_they_are_mirrored() {
    let service_dir = tempfile::tempdir().expect("tempdir");
    let service = common::service::ConfigService::start(service_dir.path());
    let dir = tempfile::tempdir().expect("tempdir");
    let clock = SimClock::new(HOUR + 2 * HOUR_MS, 1);
    let essay = "服务繁忙".repeat(1_000);
    let mut sync = sync_with_attempts(&service, &dir, &clock, &[(1, essay)]);
    sync.step().expect("the heartbeat and the history are taken");
    let history = service.admin("GET", "/api/history?page_size=50", None);
    let items = history["items"].as_array().expect("items");
    assert_eq!(items.len(), 1, "{history}");
    let message = items[0]["message"].as_str().unwrap_or("");
    assert_eq!(message.chars().count(), 500, "{message}");
    assert!(message.starts_with("服务繁忙"));
}
