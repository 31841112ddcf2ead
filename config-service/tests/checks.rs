//! The checks with a hand-moved clock, and alert deliveries to a loopback receiver whose
//! payloads and signatures (DingTalk, Feishu) are checked against values computed here.

#![allow(clippy::unwrap_used)]

mod support;

use std::sync::{Arc, Mutex};

use base64::Engine;
use hmac::{Hmac, KeyInit, Mac};
use pushagent_config::alerts::{deliver_due, http_agent};
use pushagent_config::checks::run_checks;
use pushagent_config::global::GlobalDoc;
use pushagent_config::store::Store;
use pushagent_config::{lock, Settings, SharedStore};
use pushagent_proto::agent::{HeldItem, HistoryBatch, PushStatus, RegisterRequest, VerificationItem};
use serde_json::json;
use sha2::Sha256;
use support::{heartbeat, push_item, register_body, Receiver, T0};

struct World {
    store: SharedStore,
    settings: Settings,
    receiver: Receiver,
    _dir: tempfile::TempDir,
}

impl World {
    /// A store with the global switch on and the four channel kinds pointing at the receiver.
    fn new() -> World {
        let dir = tempfile::tempdir().unwrap();
        let settings = support::settings(dir.path());
        let receiver = Receiver::start();
        let store = Store::open(&settings.db_path).unwrap();
        let mut doc = GlobalDoc { push_enabled: true, ..GlobalDoc::default() };
        let base = &receiver.base;
        doc.alerts.channels = serde_json::from_value(json!([
            { "name": "hook", "kind": "webhook", "url": format!("{base}/hook") },
            { "name": "ding", "kind": "dingtalk", "url": format!("{base}/robot/send?access_token=abc"), "secret": "SEC-ding" },
            { "name": "wecom", "kind": "wecom", "url": format!("{base}/cgi-bin/webhook/send?key=k1") },
            { "name": "feishu", "kind": "feishu", "url": format!("{base}/open-apis/bot/v2/hook/h1"), "secret": "SEC-feishu" },
        ]))
        .unwrap();
        let mut store = store;
        store.update_global(&doc, "test", T0).unwrap();
        World { store: Arc::new(Mutex::new(store)), settings, receiver, _dir: dir }
    }

    fn machine(&self, uid: &str, mac: &str, now: i64) -> i64 {
        let req: RegisterRequest =
            serde_json::from_value(register_body(uid, &format!("host-{uid}"), mac)).unwrap();
        let mut store = lock(&self.store);
        let id = store.register_machine(&req, mac, "{}", &format!("hash-{uid}"), now, now).unwrap().0;
        store
            .record_heartbeat(id, &heartbeat(&format!("host-{uid}"), mac, now), mac, None, now, now)
            .unwrap()
            .unwrap();
        id
    }

    /// Machine "m1" (MAC) whose last three pushes failed, at T0..T0+2.
    fn failing_machine(&self) -> i64 {
        let id = self.machine("m1", MAC, T0);
        self.history(id, pushes(MAC, &THREE_FAILURES), T0 + 2);
        id
    }

    fn heartbeat(&self, id: i64, uid: &str, mac: &str, now: i64) {
        lock(&self.store)
            .record_heartbeat(id, &heartbeat(&format!("host-{uid}"), mac, now), mac, None, now, now)
            .unwrap()
            .unwrap();
    }

    fn history(&self, id: i64, batch: HistoryBatch, now: i64) {
        lock(&self.store).insert_history(id, &batch, now).unwrap();
    }

    fn check(&self, now: i64) -> pushagent_config::checks::CheckReport {
        run_checks(&mut lock(&self.store), &self.settings, now).unwrap()
    }

    fn deliver(&self, now: i64) -> pushagent_config::alerts::DeliveryReport {
        deliver_due(&self.store, &self.settings, &http_agent(&self.settings), now * 1000).unwrap()
    }

    fn alert_kinds(&self) -> Vec<String> {
        let (_, alerts) = lock(&self.store).list_alerts(500, 0).unwrap();
        alerts.into_iter().rev().map(|a| format!("{}:{}", a.kind, a.title)).collect()
    }
}

fn pushes(mac: &str, statuses: &[(u32, PushStatus, i64)]) -> HistoryBatch {
    HistoryBatch {
        pushes: statuses
            .iter()
            .map(|&(attempt, status, at)| push_item(mac, "2025112416", attempt, status, at))
            .collect(),
        ..HistoryBatch::default()
    }
}

fn hmac_b64(key: &[u8], message: &[u8]) -> String {
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(key).unwrap();
    mac.update(message);
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

const MAC: &str = "aa:bb:cc:dd:ee:01";
const THREE_FAILURES: [(u32, PushStatus, i64); 3] =
    [(1, PushStatus::Failure, T0), (2, PushStatus::Failure, T0 + 1), (3, PushStatus::Failure, T0 + 2)];

#[test]
fn skipped_hours_are_not_failures() {
    let w = World::new();
    let id = w.machine("m1", MAC, T0);
    // Two failed attempts, then hours skipped while the switch was off (switched on again
    // since): the streak is two failures, not five.
    w.history(
        id,
        pushes(MAC, &[(1, PushStatus::Failure, T0 + 10), (2, PushStatus::Failure, T0 + 20)]),
        T0 + 20,
    );
    let skipped = ["2025112417", "2025112418", "2025112419", "2025112420"]
        .iter()
        .enumerate()
        .map(|(i, h)| support::skipped_item(MAC, h, 0, T0 + 30 + i as i64))
        .collect();
    w.history(id, HistoryBatch { skipped, ..HistoryBatch::default() }, T0 + 40);
    let report = w.check(T0 + 60);
    assert!(report.opened.is_empty(), "{report:?}");
    assert!(w.alert_kinds().is_empty());
    // The third real failure is the incident.
    w.history(id, pushes(MAC, &[(3, PushStatus::Failure, T0 + 70)]), T0 + 70);
    let report = w.check(T0 + 80);
    assert_eq!(report.opened.len(), 1, "{report:?}");
}

#[test]
fn three_failed_pushes_raise_one_alert_on_every_channel_and_recovery_one_notice() {
    let w = World::new();
    let id = w.machine("m1", MAC, T0);
    w.history(
        id,
        pushes(MAC, &[(1, PushStatus::Failure, T0 + 10), (2, PushStatus::Failure, T0 + 20)]),
        T0 + 20,
    );
    assert!(w.check(T0 + 30).opened.is_empty(), "two failures are not yet an incident");
    w.history(id, pushes(MAC, &[(3, PushStatus::Failure, T0 + 40)]), T0 + 40);
    let report = w.check(T0 + 60);
    assert_eq!(report.opened.len(), 1, "{report:?}");
    assert!(report.opened[0].contains("最近 3 次向客户推送全部失败"), "{report:?}");

    let now = T0 + 61;
    let delivered = w.deliver(now);
    assert_eq!(delivered.sent.len(), 4, "{delivered:?}");
    let received = w.receiver.take();
    assert_eq!(received.len(), 4);
    let by_path = |prefix: &str| received.iter().find(|r| r.path_and_query.starts_with(prefix)).unwrap();

    let hook = by_path("/hook");
    assert_eq!(hook.body["kind"], "opened");
    assert_eq!(hook.body["title"], "推送失败告警");
    assert_eq!(hook.body["machine_id"], id);

    // DingTalk: ms timestamp and the url-encoded base64 HMAC of "timestamp\nsecret" keyed by the secret.
    let ding = by_path("/robot/send");
    let query: Vec<(String, String)> = ding
        .path_and_query
        .split_once('?')
        .unwrap()
        .1
        .split('&')
        .map(|kv| kv.split_once('=').unwrap())
        .map(|(k, v)| {
            (k.to_owned(), percent_encoding::percent_decode_str(v).decode_utf8().unwrap().into_owned())
        })
        .collect();
    let get = |k: &str| query.iter().find(|(key, _)| key == k).unwrap().1.clone();
    assert_eq!(get("access_token"), "abc");
    assert_eq!(get("timestamp"), (now * 1000).to_string());
    assert_eq!(get("sign"), hmac_b64(b"SEC-ding", format!("{}\nSEC-ding", now * 1000).as_bytes()));
    assert!(
        ding.path_and_query.contains("&sign=") && !ding.path_and_query.contains('+'),
        "sign is url-encoded"
    );
    assert_eq!(ding.body["msgtype"], "markdown");
    assert!(ding.body["markdown"]["text"].as_str().unwrap().contains("推送失败告警"));

    let wecom = by_path("/cgi-bin/webhook/send");
    assert_eq!(wecom.body["msgtype"], "markdown");
    assert!(wecom.body["markdown"]["content"].as_str().unwrap().contains("host-m1"));

    // Feishu: seconds, key = "timestamp\nsecret", message empty; in the body.
    let feishu = by_path("/open-apis/bot/v2/hook/h1");
    assert_eq!(feishu.body["timestamp"], now.to_string());
    assert_eq!(feishu.body["sign"], hmac_b64(format!("{now}\nSEC-feishu").as_bytes(), b""));
    assert_eq!(feishu.body["msg_type"], "text");
    assert_ne!(feishu.body["sign"].as_str().unwrap(), get("sign"), "not DingTalk's algorithm");

    // Still failing: no second alert.
    w.history(id, pushes(MAC, &[(4, PushStatus::Failure, T0 + 100)]), T0 + 100);
    assert_eq!(
        w.check(T0 + 120),
        pushagent_config::checks::CheckReport { checked_machines: 1, ..Default::default() }
    );
    assert!(w.deliver(T0 + 121).sent.is_empty());

    // Pushed at last: one recovery notice.
    w.history(id, pushes(MAC, &[(5, PushStatus::Success, T0 + 130)]), T0 + 130);
    let report = w.check(T0 + 180);
    assert_eq!(report.recovered.len(), 1, "{report:?}");
    assert!(w.check(T0 + 240).recovered.is_empty());
    assert_eq!(w.deliver(T0 + 241).sent.len(), 4);
    assert_eq!(w.alert_kinds(), ["opened:推送失败告警", "recovered:【已恢复】推送失败告警"]);
}

#[test]
fn a_machine_silent_for_three_periods_is_offline_until_it_heartbeats() {
    let w = World::new();
    let id = w.machine("m1", MAC, T0);
    let other = w.machine("m2", "aa:bb:cc:dd:ee:02", T0);
    let period = i64::try_from(w.settings.heartbeat_interval_secs).unwrap();
    // m2 keeps heartbeating; m1 goes silent.
    w.heartbeat(other, "m2", "aa:bb:cc:dd:ee:02", T0 + 3 * period);
    assert!(w.check(T0 + 3 * period).opened.is_empty(), "exactly three periods is not yet offline");
    // Offline now, told one period later: others going silent meanwhile make one storm.
    assert!(w.check(T0 + 3 * period + 1).opened.is_empty());
    w.heartbeat(other, "m2", "aa:bb:cc:dd:ee:02", T0 + 4 * period);
    let report = w.check(T0 + 4 * period + 1);
    assert_eq!(report.opened.len(), 1, "{report:?}");
    assert!(report.opened[0].contains("没有心跳"));
    assert!(report.storm.is_none(), "one machine is not a storm");
    w.heartbeat(id, "m1", MAC, T0 + 5 * period);
    w.heartbeat(other, "m2", "aa:bb:cc:dd:ee:02", T0 + 5 * period);
    assert_eq!(w.check(T0 + 5 * period).recovered.len(), 1);
    assert_eq!(w.alert_kinds(), ["opened:Agent 离线告警", "recovered:【已恢复】Agent 离线告警"]);
}

#[test]
fn many_machines_going_silent_at_once_send_one_storm_summary() {
    let w = World::new();
    let ids: Vec<i64> =
        (0..10).map(|i| w.machine(&format!("m{i}"), &format!("aa:bb:cc:dd:ee:{i:02x}"), T0)).collect();
    // Offline after three periods, summarised one period later (the storm window).
    let later = T0 + 4 * 300 + 1;
    for (i, &id) in ids.iter().enumerate().skip(4) {
        w.heartbeat(id, &format!("m{i}"), &format!("aa:bb:cc:dd:ee:{i:02x}"), later);
    }
    let report = w.check(later);
    assert!(report.storm.as_deref().unwrap().contains("4/10"), "{report:?}");
    assert!(report.opened.is_empty(), "no per-machine alerts inside a storm: {report:?}");
    assert_eq!(w.alert_kinds(), ["storm:大面积离线告警"]);
    assert!(w.check(later + 60).storm.is_none(), "one summary per storm");
    for (i, &id) in ids.iter().enumerate() {
        w.heartbeat(id, &format!("m{i}"), &format!("aa:bb:cc:dd:ee:{i:02x}"), later + 120);
    }
    let report = w.check(later + 120);
    assert_eq!(report.recovered.len(), 1, "{report:?}");
    assert_eq!(w.alert_kinds(), ["storm:大面积离线告警", "recovered:【已恢复】大面积离线告警"]);
}

#[test]
fn an_open_incident_is_recalled_after_renotify_hours() {
    let w = World::new();
    let id = w.failing_machine();
    assert_eq!(w.check(T0 + 10).opened.len(), 1);
    // Keep the machine alive so only the failure incident is open.
    let hour = 3600;
    for h in 1..=24 {
        w.heartbeat(id, "m1", MAC, T0 + h * hour);
        let report = w.check(T0 + h * hour + 10);
        assert_eq!(report.reminders.len(), usize::from(h == 24), "hour {h}: {report:?}");
    }
    assert_eq!(w.alert_kinds(), ["opened:推送失败告警", "reminder:【提醒】推送失败告警"]);
}

#[test]
fn nothing_is_checked_while_a_push_switch_is_off() {
    let w = World::new();
    let id = w.failing_machine();
    let patch = serde_json::from_value(json!({ "push_enabled": false })).unwrap();
    lock(&w.store).update_machine_configs(&[id], &patch, "ops", T0).unwrap();
    let report = w.check(T0 + 10_000);
    assert_eq!((report.checked_machines, report.opened.len()), (0, 0));
    let on = serde_json::from_value(json!({ "push_enabled": true })).unwrap();
    lock(&w.store).update_machine_configs(&[id], &on, "ops", T0).unwrap();
    let (_, mut doc) = lock(&w.store).global().unwrap();
    doc.push_enabled = false;
    lock(&w.store).update_global(&doc, "ops", T0).unwrap();
    let report = w.check(T0 + 10_000);
    assert_eq!(report.opened.len(), 0);
    assert!(report.skipped.is_some());
    assert!(w.alert_kinds().is_empty());
}

#[test]
fn held_hours_mac_changes_ambiguous_interfaces_and_uncorrected_mismatches_are_alerted() {
    let w = World::new();
    let id = w.machine("m1", MAC, T0);
    w.history(
        id,
        HistoryBatch {
            held: vec![HeldItem {
                mac: MAC.into(),
                flux_hour: "2025112416".into(),
                reason: "v3 above link speed".into(),
                held_at: T0,
            }],
            verifications: vec![VerificationItem {
                mac: MAC.into(),
                flux_hour: "2025112415".into(),
                version: 2,
                matched: false,
                corrected: false,
                verified_at: T0,
                message: Some("v4 differs".into()),
                ..Default::default()
            }],
            ..HistoryBatch::default()
        },
        T0,
    );
    let mut hb = heartbeat("host-m1", "aa:bb:cc:dd:ee:09", T0 + 5);
    hb.ambiguous = true;
    lock(&w.store).record_heartbeat(id, &hb, "aa:bb:cc:dd:ee:09", None, T0 + 5, T0 + 5).unwrap().unwrap();
    let report = w.check(T0 + 10);
    assert_eq!(report.opened.len(), 3, "{report:?}");
    assert_eq!(report.events.len(), 1, "{report:?}");
    assert!(report.events[0].contains("aa:bb:cc:dd:ee:01") && report.events[0].contains("aa:bb:cc:dd:ee:09"));
    let kinds = w.alert_kinds();
    for title in ["数据暂扣告警", "采集接口待确认", "核对不一致告警", "MAC 变更通知"]
    {
        assert!(kinds.iter().any(|k| k.ends_with(title)), "{title} in {kinds:?}");
    }
    // The operator sets the interface, the hour is pushed, the mismatch is corrected: all recover.
    let patch = serde_json::from_value(json!({ "interface": "eth1" })).unwrap();
    lock(&w.store).update_machine_configs(&[id], &patch, "ops", T0 + 20).unwrap();
    w.history(
        id,
        HistoryBatch {
            pushes: vec![push_item(MAC, "2025112416", 1, PushStatus::Success, T0 + 30)],
            verifications: vec![VerificationItem {
                mac: MAC.into(),
                flux_hour: "2025112415".into(),
                version: 3,
                matched: true,
                corrected: false,
                verified_at: T0 + 40,
                message: None,
                ..Default::default()
            }],
            ..HistoryBatch::default()
        },
        T0 + 40,
    );
    w.heartbeat(id, "m1", "aa:bb:cc:dd:ee:09", T0 + 50);
    let report = w.check(T0 + 60);
    assert_eq!(report.recovered.len(), 3, "{report:?}");
    assert!(report.events.is_empty(), "a MAC change is told once");
}

/// Issue 10 §2: a verification that could not read the customer's copy is not a mismatch (no
/// mismatch alert, its own alert); the customer holding an hour we did not send is alerted;
/// a correction that did not stick (correction_failed) is a mismatch.
#[test]
fn unverifiable_hours_are_not_mismatches_and_extra_hours_at_the_customer_are_alerted() {
    let w = World::new();
    let id = w.machine("m1", MAC, T0);
    let verification = |hour: &str, version: u32, state: &str, at: i64| VerificationItem {
        mac: MAC.into(),
        flux_hour: hour.into(),
        version,
        matched: state == "matched",
        verified_at: at,
        state: Some(state.into()),
        ..Default::default()
    };
    w.history(
        id,
        HistoryBatch {
            verifications: vec![
                // Matched, then a later read that could not be done: still matched.
                verification("2025112413", 1, "matched", T0),
                verification("2025112413", 1, "unverifiable", T0 + 1),
                // Never read until the window closed.
                verification("2025112414", 1, "unverifiable", T0),
                // The customer holds an hour we never sent.
                VerificationItem {
                    checked_version: Some(2),
                    customer_points: Some([5; 12]),
                    ..verification("2025112416", 0, "customer_extra", T0)
                },
            ],
            ..HistoryBatch::default()
        },
        T0,
    );
    w.check(T0 + 10);
    let kinds = w.alert_kinds();
    assert!(!kinds.iter().any(|k| k.ends_with("核对不一致告警")), "no mismatch: {kinds:?}");
    let (_, alerts) = lock(&w.store).list_alerts(10, 0).unwrap();
    let text = |title: &str| {
        alerts
            .iter()
            .find(|a| a.title.ends_with(title))
            .map(|a| a.body.clone())
            .unwrap_or_else(|| panic!("{title}: {kinds:?}"))
    };
    assert!(
        text("客户数据无法核对").contains("2025112414") && !text("客户数据无法核对").contains("2025112413")
    );
    assert!(text("客户持有我方未推送的数据").contains("2025112416"));
    // A correction that did not stick is a mismatch.
    w.history(
        id,
        HistoryBatch {
            verifications: vec![verification("2025112415", 4, "correction_failed", T0 + 20)],
            ..HistoryBatch::default()
        },
        T0 + 20,
    );
    w.check(T0 + 30);
    assert!(w.alert_kinds().iter().any(|k| k.ends_with("核对不一致告警")));
}

#[test]
fn a_failed_delivery_is_stored_and_retried() {
    let w = World::new();
    w.failing_machine();
    w.check(T0 + 10);
    *w.receiver.status.lock().unwrap() = 500;
    let report = w.deliver(T0 + 11);
    assert_eq!((report.sent.len(), report.retrying.len()), (0, 4), "{report:?}");
    assert!(w.deliver(T0 + 12).retrying.is_empty(), "not due again before the backoff");
    *w.receiver.status.lock().unwrap() = 200;
    w.receiver.take();
    let report = w.deliver(T0 + 11 + 3600);
    assert_eq!(report.sent.len(), 4, "{report:?}");
    let (_, alerts) = lock(&w.store).list_alerts(10, 0).unwrap();
    assert!(
        alerts[0].deliveries.iter().all(|d| d.status == "sent" && d.attempts == 2),
        "{:?}",
        alerts[0].deliveries
    );
}

#[test]
fn a_second_sender_beside_the_first_never_delivers_an_alert_twice() {
    // `runcheck` (its own store connection) delivering while serve's job is mid-send, one
    // channel at a time.
    let mut w = World::new();
    w.settings.delivery_concurrency = 1;
    w.failing_machine();
    w.check(T0 + 10);
    let (release, held) = tokio::sync::oneshot::channel();
    *w.receiver.hold_next.lock().unwrap() = Some(held);
    let first = {
        let (store, settings) = (Arc::clone(&w.store), w.settings.clone());
        std::thread::spawn(move || {
            deliver_due(&store, &settings, &http_agent(&settings), (T0 + 11) * 1000).unwrap()
        })
    };
    support::wait_for("the first sender's first request", || w.receiver.received.lock().unwrap().len() == 1);
    let other: SharedStore = Arc::new(Mutex::new(Store::open(&w.settings.db_path).unwrap()));
    let second = deliver_due(&other, &w.settings, &http_agent(&w.settings), (T0 + 11) * 1000).unwrap();
    assert_eq!(second.sent.len(), 3, "the second sender takes only the deliveries not taken: {second:?}");
    release.send(()).unwrap();
    let first = first.join().unwrap();
    assert_eq!(first.sent.len(), 1, "{first:?}");
    let paths: Vec<String> = w.receiver.take().into_iter().map(|r| r.path_and_query).collect();
    let mut unique = paths.clone();
    unique.sort();
    unique.dedup();
    assert_eq!((paths.len(), unique.len()), (4, 4), "each channel exactly once: {paths:?}");
    assert!(w.deliver(T0 + 4000).sent.is_empty(), "nothing left to send");
}

#[test]
fn a_check_pass_beside_another_opens_no_second_incident() {
    let w = World::new();
    let id = w.failing_machine();
    // A second process's pass, then serve's: one incident, one alert.
    let mut other = Store::open(&w.settings.db_path).unwrap();
    assert_eq!(run_checks(&mut other, &w.settings, T0 + 10).unwrap().opened.len(), 1);
    assert!(w.check(T0 + 11).opened.is_empty());
    assert_eq!(w.alert_kinds().len(), 1);
    // The store itself refuses a second open incident of the same kind and machine.
    let again = lock(&w.store).open_incident("push_failures", Some(id), "again", false, T0 + 12);
    assert!(again.is_err(), "{again:?}");
    // A pass that fails keeps nothing of what it wrote.
    let opened_before = lock(&w.store).open_incidents().unwrap().len();
    let result = lock(&w.store).write_exclusively(|s| {
        s.open_incident("offline", Some(id), "written, then rolled back", false, T0 + 13)?;
        Err::<(), _>(pushagent_config::store::StoreError::Corrupt("test".into()))
    });
    assert!(result.is_err());
    assert_eq!(lock(&w.store).open_incidents().unwrap().len(), opened_before);
}

#[test]
fn serve_runs_the_checks_job_and_delivers_its_alerts() {
    let dir = tempfile::tempdir().unwrap();
    let receiver = Receiver::start();
    let settings =
        Settings { check_interval_secs: 1, delivery_interval_secs: 1, ..support::settings(dir.path()) };
    let server = support::Server::start_with(settings);
    let (_, mut global) = server.admin_get("/api/global-config");
    global["push_enabled"] = json!(true);
    global["alerts"]["channels"] =
        json!([{ "name": "hook", "kind": "webhook", "url": format!("{}/hook", receiver.base) }]);
    assert_eq!(server.admin_send("PUT", "/api/global-config", &global).0, 200);
    let (token, machine_id) = server.register("m1", "web-01", MAC);
    let (status, _) = server.send(
        "POST",
        pushagent_proto::agent::HISTORY_PATH,
        &json!(pushes(MAC, &THREE_FAILURES)),
        Some(&token),
    );
    assert_eq!(status, 200);
    support::wait_for("the failure alert at the webhook", || {
        receiver
            .received
            .lock()
            .unwrap()
            .iter()
            .any(|r| r.body["kind"] == "opened" && r.body["machine_id"] == machine_id)
    });
    let (_, alerts) = server.admin_get("/api/alerts");
    assert_eq!(alerts["total"], 1, "{alerts}");
    support::wait_for("the delivery marked sent", || {
        let (_, alerts) = server.admin_get("/api/alerts");
        alerts["items"][0]["deliveries"][0]["status"] == "sent"
    });
    let (_, text) = server.get_text("/metrics", None);
    assert!(text.contains("pushagent_alerts_total 1"), "{text}");
}

#[test]
fn a_test_alert_reaches_every_channel_and_reports_each_answer() {
    let dir = tempfile::tempdir().unwrap();
    let receiver = Receiver::start();
    let server = support::Server::start(dir.path());
    let (status, body) = server.admin_send("POST", "/api/alerts/test", &json!({}));
    assert_eq!(status, 400, "no channel yet: {body}");
    assert!(body["message"].as_str().unwrap_or("").contains("no alert channel"), "{body}");
    let (_, mut global) = server.admin_get("/api/global-config");
    global["alerts"]["channels"] = json!([
        { "name": "hook", "kind": "webhook", "url": format!("{}/hook", receiver.base) },
        { "name": "ding", "kind": "dingtalk", "url": format!("{}/robot/send?access_token=x", receiver.base), "secret": "SEC-ding" },
        { "name": "dead", "kind": "webhook", "url": "http://127.0.0.1:9/nothing-listens-here" }
    ]);
    assert_eq!(server.admin_send("PUT", "/api/global-config", &global).0, 200);
    let (status, body) = server.admin_send("POST", "/api/alerts/test", &json!({}));
    assert_eq!(status, 200, "{body}");
    let results = body["results"].as_array().unwrap();
    let ok_of = |name: &str| results.iter().find(|r| r["channel"] == name).map(|r| r["ok"].clone());
    assert_eq!(
        (ok_of("hook"), ok_of("ding"), ok_of("dead")),
        (Some(json!(true)), Some(json!(true)), Some(json!(false)))
    );
    let got = receiver.take();
    assert_eq!(got.len(), 2);
    let hook = got.iter().find(|r| r.path_and_query.starts_with("/hook")).unwrap();
    assert_eq!(hook.body["kind"], "test");
    assert!(hook.body["title"].as_str().unwrap().contains("测试告警"));
    let ding = got.iter().find(|r| r.path_and_query.starts_with("/robot/send")).unwrap();
    assert!(
        ding.path_and_query.contains("&timestamp=") && ding.path_and_query.contains("&sign="),
        "{}",
        ding.path_and_query
    );
    let (_, alerts) = server.admin_get("/api/alerts");
    assert_eq!(alerts["total"], 0, "a test message is not an alert");
}

#[test]
fn retention_deletes_only_what_is_older_than_its_settings() {
    use pushagent_config::retention::{hour_name, run};
    use pushagent_config::store::{HistoryFilter, Pruned};
    const DAY: i64 = 86_400;
    let mut w = World::new();
    w.settings.history_retention_days = 30;
    w.settings.alert_retention_days = 7;
    let now = T0 + 60 * DAY;
    let id = w.machine("m1", MAC, now - 50 * DAY);
    // Two attempts in each of three hours: 40 and 31 days old (deleted), 1 day old (kept).
    let mut batch = HistoryBatch::default();
    for age in [40, 31, 1] {
        let at = now - age * DAY;
        let hour = hour_name(at);
        batch.pushes.push(push_item(MAC, &hour, 1, PushStatus::Failure, at));
        batch.pushes.push(push_item(MAC, &hour, 2, PushStatus::Success, at + 60));
        batch.verifications.push(VerificationItem {
            mac: MAC.into(),
            flux_hour: hour.clone(),
            version: 1,
            matched: true,
            corrected: false,
            verified_at: at + 3600,
            message: None,
            ..Default::default()
        });
        batch.held.push(HeldItem {
            mac: MAC.into(),
            flux_hour: hour,
            reason: "impossible".into(),
            held_at: at,
        });
        batch.skipped.push(support::skipped_item(MAC, &hour_name(at + 3600), 1000, at + 3600));
    }
    w.history(id, batch, now);
    // Alerts: a resolved incident 20 days old (deleted with its alerts), an incident 20 days
    // old still open (kept), a recent event (kept).
    let channels = vec!["hook".to_owned()];
    {
        let mut s = lock(&w.store);
        let old = s.open_incident("offline", Some(id), "old", false, now - 20 * DAY).unwrap();
        s.add_alert(Some(old), "opened", Some(id), "t", "b", &channels, now - 20 * DAY).unwrap();
        s.resolve_incident(old, now - 19 * DAY).unwrap();
        s.add_alert(Some(old), "recovered", Some(id), "t", "b", &channels, now - 19 * DAY).unwrap();
        let open = s.open_incident("push_failures", Some(id), "open", false, now - 20 * DAY).unwrap();
        s.add_alert(Some(open), "opened", Some(id), "t", "b", &channels, now - 20 * DAY).unwrap();
        s.add_alert(None, "event", Some(id), "t", "b", &channels, now - DAY).unwrap();
    }
    let pruned = run(&mut lock(&w.store), &w.settings, now).unwrap();
    assert_eq!(
        pruned,
        Pruned {
            history_hours: 2,
            history_rows: 4,
            verifications: 2,
            held_hours: 2,
            skipped_hours: 2,
            alerts: 2,
            incidents: 1,
            sessions: 0
        }
    );
    let store = lock(&w.store);
    let page = |latest_only: bool| {
        let f = HistoryFilter { latest_only, limit: 50, ..HistoryFilter::default() };
        store.list_history(&f).unwrap()
    };
    let (total, rows) = page(false);
    assert_eq!((total, rows.len()), (2, 2), "the kept counts follow the deletion");
    assert!(rows.iter().all(|r| r.flux_hour == hour_name(now - DAY)));
    let (total, rows) = page(true);
    assert_eq!((total, rows.len(), rows[0].attempt), (1, 1, 2));
    let (_, alerts) = store.list_alerts(50, 0).unwrap();
    let kinds: Vec<&str> = alerts.iter().map(|a| a.kind.as_str()).collect();
    assert_eq!(kinds, ["event", "opened"], "the open incident's alert stays");
    let (total, skipped) = store.skipped_hours(id, 50, 0).unwrap();
    assert_eq!((total, skipped[0].flux_hour.as_str()), (1, hour_name(now - DAY + 3600).as_str()));
    drop(store);
    assert_eq!(
        run(&mut lock(&w.store), &w.settings, now).unwrap(),
        Pruned::default(),
        "a second pass finds nothing"
    );
    // 0 keeps everything.
    w.settings.history_retention_days = 0;
    w.settings.alert_retention_days = 0;
    assert_eq!(run(&mut lock(&w.store), &w.settings, now + 1000 * DAY).unwrap(), Pruned::default());
}
