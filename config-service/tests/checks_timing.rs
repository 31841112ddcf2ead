//! The checks and alert deliveries an operator can trust (issue 11 §3), on a hand-moved clock:
//! staggered silences make one storm summary, push failures are counted in push attempts in
//! the order the service received them, a slow receiver is not sent the same alert twice
//! soon, and a hung receiver delays only its own channel.

#![allow(clippy::unwrap_used)]

mod support;

use std::sync::{Arc, Mutex};

use pushagent_config::alerts::{deliver_due, http_agent};
use pushagent_config::checks::run_checks;
use pushagent_config::global::GlobalDoc;
use pushagent_config::store::Store;
use pushagent_config::{lock, Settings, SharedStore};
use pushagent_proto::agent::{HistoryBatch, PushStatus, RegisterRequest};
use serde_json::json;
use support::{heartbeat, push_item, register_body, Receiver, T0};

struct World {
    store: SharedStore,
    settings: Settings,
    _dir: tempfile::TempDir,
}

impl World {
    /// A store with the global switch on and one webhook channel per `(name, url)`.
    fn new(settings: impl FnOnce(Settings) -> Settings, channels: &[(&str, String)]) -> World {
        let dir = tempfile::tempdir().unwrap();
        let settings = settings(support::settings(dir.path()));
        let mut store = Store::open(&settings.db_path).unwrap();
        let mut doc = GlobalDoc { push_enabled: true, ..GlobalDoc::default() };
        doc.alerts.channels = serde_json::from_value(json!(channels
            .iter()
            .map(|(name, url)| json!({ "name": name, "kind": "webhook", "url": url }))
            .collect::<Vec<_>>()))
        .unwrap();
        store.update_global(&doc, "test", T0).unwrap();
        World { store: Arc::new(Mutex::new(store)), settings, _dir: dir }
    }

    fn machine(&self, n: usize, now: i64) -> i64 {
        let (uid, mac) = (format!("m{n}"), format!("aa:bb:cc:dd:{:02x}:{:02x}", n / 256, n % 256));
        let req: RegisterRequest =
            serde_json::from_value(register_body(&uid, &format!("host-{n}"), &mac)).unwrap();
        let mut store = lock(&self.store);
        let id = store.register_machine(&req, &mac, "{}", &format!("hash-{uid}"), now, now).unwrap().0;
        drop(store);
        self.heartbeat(id, n, now);
        id
    }

    fn heartbeat(&self, id: i64, n: usize, now: i64) {
        let mac = format!("aa:bb:cc:dd:{:02x}:{:02x}", n / 256, n % 256);
        lock(&self.store)
            .record_heartbeat(id, &heartbeat(&format!("host-{n}"), &mac, now), &mac, None, now, now)
            .unwrap()
            .unwrap();
    }

    fn alert_titles(&self) -> Vec<String> {
        let (_, alerts) = lock(&self.store).list_alerts(500, 0).unwrap();
        alerts.into_iter().rev().map(|a| format!("{}:{}", a.kind, a.title)).collect()
    }
}

#[test]
fn twenty_of_thirty_machines_going_silent_over_a_heartbeat_period_make_one_summary() {
    let w = World::new(|s| s, &[]);
    let period = 300; // heartbeat_interval_secs
                      // 30 machines heartbeating every period, each at its own offset within it.
    let ids: Vec<i64> = (0..30).map(|n| w.machine(n, T0 + n as i64 * 10)).collect();
    let mut next_beat: Vec<i64> = (0..30).map(|n| T0 + n as i64 * 10 + period).collect();
    // Twenty stop at once (each after its own last heartbeat); checks run every minute.
    let mut now = T0;
    while now <= T0 + 3600 {
        for n in 20..30 {
            while next_beat[n] <= now {
                w.heartbeat(ids[n], n, next_beat[n]);
                next_beat[n] += period;
            }
        }
        run_checks(&mut lock(&w.store), &w.settings, now).unwrap();
        now += 60;
    }
    let titles = w.alert_titles();
    assert_eq!(titles, ["storm:大面积离线告警"], "one summary, no message per machine");
}

#[test]
fn one_machine_going_silent_is_told_once_a_period_after_it_is_offline() {
    let w = World::new(|s| s, &[]);
    let ids: Vec<i64> = (0..10).map(|n| w.machine(n, T0)).collect();
    for now in (T0..=T0 + 3600).step_by(60) {
        for (n, id) in ids.iter().enumerate().skip(1) {
            w.heartbeat(*id, n, now);
        }
        run_checks(&mut lock(&w.store), &w.settings, now).unwrap();
        let offline = w.alert_titles().iter().filter(|t| t.contains("离线")).count();
        // Offline after 3 periods (900 s), told after one more period (the storm window).
        assert_eq!(offline, usize::from(now > T0 + 1200), "at {}", now - T0);
    }
}

#[test]
fn failures_are_counted_in_push_attempts_in_the_order_the_service_received_them() {
    let w = World::new(|s| s, &[]);
    let id = w.machine(1, T0);
    let mac = "aa:bb:cc:dd:00:01";
    let batch = |hours: &[&str], status, attempted_at| HistoryBatch {
        pushes: hours.iter().map(|h| push_item(mac, h, 1, status, attempted_at)).collect(),
        ..HistoryBatch::default()
    };
    let failures = |now| run_checks(&mut lock(&w.store), &w.settings, now).unwrap().opened.len();
    // One POST of a batch of three hours that failed: one attempt, not three.
    lock(&w.store)
        .insert_history(
            id,
            &batch(&["2026112410", "2026112411", "2026112412"], PushStatus::Failure, T0 + 10),
            T0 + 10,
        )
        .unwrap();
    assert_eq!(failures(T0 + 20), 0, "one failed attempt");
    // Two more failed attempts with the agent's clock ten years ahead: three in a row.
    let ahead = T0 + 10 * 365 * 86_400;
    for (k, at) in [(1, ahead), (2, ahead + 60)] {
        let mut b = batch(&["2026112410"], PushStatus::Failure, at);
        b.pushes[0].attempt = k + 1;
        lock(&w.store).insert_history(id, &b, T0 + 20 + k as i64).unwrap();
    }
    assert_eq!(failures(T0 + 30), 1, "three failed attempts in a row");
    // NTP fixes the clock; the next attempt succeeds. Received last, it is the newest.
    let mut ok = batch(&["2026112410"], PushStatus::Success, T0 + 40);
    ok.pushes[0].attempt = 4;
    lock(&w.store).insert_history(id, &ok, T0 + 40).unwrap();
    let report = run_checks(&mut lock(&w.store), &w.settings, T0 + 50).unwrap();
    assert_eq!(report.recovered.len(), 1, "{report:?}");
}

#[test]
fn a_receiver_answering_after_the_timeout_is_not_sent_the_same_alert_again_soon() {
    let receiver = Receiver::start();
    let w = World::new(
        |s| Settings { alert_timeout_secs: 1, ..s },
        &[("slow", format!("{}/slow", receiver.base))],
    );
    lock(&w.store).add_alert(None, "event", None, "t", "b", &["slow".to_owned()], T0).unwrap();
    // The receiver takes the request and answers only after the sender gave up.
    let (release, held) = tokio::sync::oneshot::channel();
    *receiver.hold_next.lock().unwrap() = Some(held);
    let first = deliver_due(&w.store, &w.settings, &http_agent(&w.settings), T0 * 1000).unwrap();
    assert_eq!(first.retrying.len(), 1, "{first:?}");
    let _ = release.send(());
    // Minutes later: not sent again yet (the first retry waits delivery_retry_secs[0]).
    let again = deliver_due(&w.store, &w.settings, &http_agent(&w.settings), (T0 + 240) * 1000).unwrap();
    assert_eq!(again, Default::default());
    assert_eq!(receiver.received.lock().unwrap().len(), 1);
    let later = deliver_due(&w.store, &w.settings, &http_agent(&w.settings), (T0 + 301) * 1000).unwrap();
    assert_eq!(later.sent.len(), 1, "{later:?}");
}

#[test]
fn a_hung_receiver_delays_only_its_own_deliveries_inside_serve() {
    let (hung, ok) = (Receiver::start(), Receiver::start());
    let dir = tempfile::tempdir().unwrap();
    let settings = Settings {
        check_interval_secs: 1,
        delivery_interval_secs: 1,
        alert_timeout_secs: 120,
        ..support::settings(dir.path())
    };
    let server = support::Server::start_with(settings);
    let (_, mut global) = server.admin_get("/api/global-config");
    global["push_enabled"] = json!(true);
    global["alerts"]["channels"] = json!([
        { "name": "hung", "kind": "webhook", "url": format!("{}/hung", hung.base) },
        { "name": "ok", "kind": "webhook", "url": format!("{}/ok", ok.base) },
    ]);
    assert_eq!(server.admin_send("PUT", "/api/global-config", &global).0, 200);
    // The hung receiver takes its first request and never answers (until released).
    let (release, held) = tokio::sync::oneshot::channel();
    *hung.hold_next.lock().unwrap() = Some(held);
    let failing_machine = |n: u8| {
        let mac = format!("aa:bb:cc:dd:ee:{n:02x}");
        let (token, _) = server.register(&format!("m-{n}"), &format!("web-{n}"), &mac);
        let pushes = (1..=3)
            .map(|k| push_item(&mac, "2026112410", k, PushStatus::Failure, T0 + i64::from(k)))
            .collect();
        let batch = HistoryBatch { pushes, ..HistoryBatch::default() };
        let (status, answer) =
            server.send("POST", pushagent_proto::agent::HISTORY_PATH, &json!(batch), Some(&token));
        assert_eq!(status, 200, "{answer}");
    };
    failing_machine(1);
    support::wait_for("the first alert at the hung receiver", || hung.received.lock().unwrap().len() == 1);
    support::wait_for("the first alert at the other receiver", || ok.received.lock().unwrap().len() == 1);
    // A new incident while the hung receiver still holds the first: the other channel gets it.
    failing_machine(2);
    support::wait_for("the second alert at the other receiver", || ok.received.lock().unwrap().len() == 2);
    assert_eq!(hung.received.lock().unwrap().len(), 1, "the hung channel waits on its own");
    let _ = release.send(());
    support::wait_for("the hung channel catches up", || hung.received.lock().unwrap().len() == 2);
}
