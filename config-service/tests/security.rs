//! The config service under attack, as stories against a real server on a loopback port:
//! forged evidence (another machine's MAC, squatted MACs, takeovers by re-registration,
//! disagreeing duplicates), and what the checks tell the operators about each.

#![allow(clippy::unwrap_used)]

mod support;

use pushagent_config::checks::run_checks;
use pushagent_config::store::Store;
use pushagent_config::Clock;
use pushagent_proto::agent::{HistoryBatch, PushStatus, CONFIG_PATH, HEARTBEAT_PATH, HISTORY_PATH};
use serde_json::json;
use support::{heartbeat, push_item, Server, T0};

const MAC_A: &str = "aa:bb:cc:dd:ee:0a";
const MAC_B: &str = "aa:bb:cc:dd:ee:0b";

fn one_push(mac: &str, flux_hour: &str, attempt: u32) -> HistoryBatch {
    HistoryBatch {
        pushes: vec![push_item(mac, flux_hour, attempt, PushStatus::Success, T0)],
        ..HistoryBatch::default()
    }
}

/// The events of one check pass (run as `runcheck` would, on the store file).
fn check_events(server: &Server) -> Vec<String> {
    let mut store = Store::open(&server.db_path).unwrap();
    let settings = support::settings(server.db_path.parent().unwrap());
    run_checks(&mut store, &settings, Clock::now(&*server.clock)).unwrap().events
}

#[test]
fn a_machine_cannot_heartbeat_under_another_live_machines_mac_and_the_refusal_is_alerted() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    let (token_a, id_a) = server.register("m-a", "web-a", MAC_A);
    let (token_b, id_b) = server.register("m-b", "web-b", MAC_B);
    assert_eq!(
        server.send("POST", HEARTBEAT_PATH, &json!(heartbeat("web-b", MAC_B, T0)), Some(&token_b)).0,
        200
    );

    // A heartbeats with B's MAC: refused, and A keeps its own.
    let (status, answer) =
        server.send("POST", HEARTBEAT_PATH, &json!(heartbeat("web-a", MAC_B, T0)), Some(&token_a));
    assert_eq!(status, 409, "{answer}");
    assert!(answer["message"].as_str().unwrap().contains("belongs to another machine (web-b)"), "{answer}");
    assert_eq!(server.admin_get(&format!("/api/machines/{id_a}")).1["mac"], MAC_A);
    assert_eq!(server.admin_get(&format!("/api/machines/{id_b}")).1["mac"], MAC_B);

    // Nor can it post history under it.
    let (status, answer) =
        server.send("POST", HISTORY_PATH, &json!(one_push(MAC_B, "2026112410", 1)), Some(&token_a));
    assert_eq!(status, 400, "{answer}");

    // B's real row is stored as B sent it, not shadowed.
    let (status, answer) =
        server.send("POST", HISTORY_PATH, &json!(one_push(MAC_B, "2026112410", 1)), Some(&token_b));
    assert_eq!((status, answer["inserted"].as_u64()), (200, Some(1)), "{answer}");
    let (_, page) = server.admin_get(&format!("/api/history?mac={MAC_B}"));
    assert_eq!(page["total"], 1, "{page}");
    assert_eq!(page["items"][0]["machine_id"], id_b);

    // The operators hear of it once, with both refusals (heartbeat and history) counted.
    let events = check_events(&server);
    assert_eq!(events.len(), 1, "{events:?}");
    assert!(
        events[0].contains(MAC_B) && events[0].contains("web-a") && events[0].contains("2 次"),
        "{events:?}"
    );
    assert!(check_events(&server).is_empty(), "told once");
}

#[test]
fn a_mac_nobody_reported_cannot_be_squatted_through_history() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    let (token_a, _) = server.register("m-a", "web-a", MAC_A);
    let before = server.table_counts();
    let (status, answer) = server.send(
        "POST",
        HISTORY_PATH,
        &json!(one_push("aa:bb:cc:dd:ee:99", "2026112410", 1)),
        Some(&token_a),
    );
    assert_eq!(status, 400, "{answer}");
    assert!(answer["message"].as_str().unwrap().contains("never reported by this machine"), "{answer}");
    assert_eq!(server.table_counts(), before, "nothing stored");
}

#[test]
fn a_mac_moves_to_another_machine_only_when_its_holder_is_offline_or_released() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    let (token_a, id_a) = server.register("m-a", "web-a", MAC_A);
    let (token_b, id_b) = server.register("m-b", "web-b", MAC_B);
    // The NIC of A is moved into B while A is still alive: refused.
    let hb_b = |mac: &str| {
        server.send("POST", HEARTBEAT_PATH, &json!(heartbeat("web-b", mac, T0)), Some(&token_b)).0
    };
    assert_eq!(hb_b(MAC_A), 409);
    // An operator releases it: B gets it, audited.
    let (status, answer) = server.admin_send("POST", "/api/mac-claims/release", &json!({ "mac": MAC_A }));
    assert_eq!(status, 200, "{answer}");
    assert_eq!(hb_b(MAC_A), 200);
    assert_eq!(server.admin_get(&format!("/api/machines/{id_b}")).1["mac"], MAC_A);
    let (_, audit) = server.admin_get("/api/audit");
    assert!(audit.to_string().contains("mac_claim"), "{audit}");
    // A, still running, cannot take it back while B is alive.
    let (status, _) =
        server.send("POST", HEARTBEAT_PATH, &json!(heartbeat("web-a", MAC_A, T0)), Some(&token_a));
    assert_eq!(status, 409);
    // B goes silent for more than three periods: the MAC can move (to A), audited.
    server.clock.advance(3 * 300 + 1);
    let (status, _) =
        server.send("POST", HEARTBEAT_PATH, &json!(heartbeat("web-a", MAC_A, T0)), Some(&token_a));
    assert_eq!(status, 200);
    assert_eq!(server.admin_get(&format!("/api/machines/{id_a}")).1["mac"], MAC_A);
    // B's hours under the MAC it held are still B's to send.
    let (status, answer) =
        server.send("POST", HISTORY_PATH, &json!(one_push(MAC_A, "2026112411", 1)), Some(&token_b));
    assert_eq!(status, 200, "{answer}");
}

#[test]
fn re_registering_a_live_machine_with_the_enrollment_token_is_a_clone_not_a_takeover() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    let uid = "0123456789abcdef0123456789abcdef";
    let (token, id) = server.register(uid, "web-01", MAC_A);
    assert_eq!(
        server.send("POST", HEARTBEAT_PATH, &json!(heartbeat("web-01", MAC_A, T0)), Some(&token)).0,
        200
    );
    // Someone with the enrollment token registers the same machine-id and MAC.
    let (intruder, intruder_id) = server.register(uid, "web-01", MAC_A);
    assert_ne!(intruder_id, id, "not the live machine's record");
    assert_eq!(server.get(CONFIG_PATH, Some(&token)).0, 200, "the live machine keeps its token");
    let (_, clone) = server.admin_get(&format!("/api/machines/{intruder_id}"));
    assert_eq!(clone["duplicate_of"], id);
    // The MAC stays with the live machine: the clone's heartbeats and history are refused.
    let (status, _) =
        server.send("POST", HEARTBEAT_PATH, &json!(heartbeat("web-01", MAC_A, T0)), Some(&intruder));
    assert_eq!(status, 409);
    let (status, _) =
        server.send("POST", HISTORY_PATH, &json!(one_push(MAC_A, "2026112410", 1)), Some(&intruder));
    assert_eq!(status, 400);
}

#[test]
fn a_duplicate_with_different_values_is_kept_as_a_conflict_and_alerted() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    let (token, _) = server.register("m-a", "web-a", MAC_A);
    let batch = one_push(MAC_A, "2026112410", 1);
    assert_eq!(server.send("POST", HISTORY_PATH, &json!(batch), Some(&token)).0, 200);
    // The same batch again (a lost answer): a plain duplicate, nothing to tell.
    let (status, answer) = server.send("POST", HISTORY_PATH, &json!(batch), Some(&token));
    assert_eq!((status, answer["duplicates"].as_u64()), (200, Some(1)), "{answer}");
    assert!(check_events(&server).is_empty());
    // The same identity with other bytes: the stored row stays, the new one is a conflict.
    let mut other = batch.clone();
    other.pushes[0].pushed_points[0] += 1;
    other.pushes[0].pushed_bytes += 1;
    let (status, answer) = server.send("POST", HISTORY_PATH, &json!(other), Some(&token));
    assert_eq!((status, answer["duplicates"].as_u64()), (200, Some(1)), "{answer}");
    let (_, page) = server.admin_get(&format!("/api/history?mac={MAC_A}"));
    assert_eq!((page["total"].as_u64(), page["items"][0]["pushed_bytes"].as_u64()), (Some(1), Some(1236)));
    let events = check_events(&server);
    assert_eq!(events.len(), 1, "{events:?}");
    assert!(events[0].contains("1237") && events[0].contains("2026112410"), "{events:?}");
}

#[test]
fn history_takes_only_the_documented_object_not_an_array() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    let (token, _) = server.register("m-a", "web-a", MAC_A);
    let batch = one_push(MAC_A, "2026112410", 1);
    // The same fields by position, as serde would read a struct from an array.
    let array = json!([batch.pushes, [], [], []]);
    let before = server.table_counts();
    let (status, answer) = server.send("POST", HISTORY_PATH, &array, Some(&token));
    assert_eq!(status, 400, "{answer}");
    assert_eq!(server.table_counts(), before, "nothing stored");
}

#[test]
fn the_enrollment_token_is_rotated_and_revoked_from_the_console_and_audited() {
    let dir = tempfile::tempdir().unwrap();
    // No fixed token in the settings: only stored ones.
    let server = Server::start_with(pushagent_config::Settings {
        enrollment_token: None,
        ..support::settings(dir.path())
    });
    let register = |token: &str| {
        let mut body = support::register_body("m-new", "web-new", MAC_A);
        body["enrollment_token"] = json!(token);
        server.send("POST", pushagent_proto::agent::REGISTER_PATH, &body, None).0
    };
    let (status, first) = server.admin_send("POST", "/api/enrollment-tokens", &json!({}));
    assert_eq!(status, 200, "{first}");
    let first_token = first["token"].as_str().unwrap().to_owned();
    assert_eq!(register(&first_token), 200);
    // Rotation: a new token, the old one revoked at once.
    let (status, second) =
        server.admin_send("POST", "/api/enrollment-tokens", &json!({ "revoke_others": true }));
    assert_eq!(status, 200, "{second}");
    assert_eq!(second["revoked"], json!([first["id"]]));
    assert_eq!(register(&first_token), 401, "the old token no longer registers");
    let second_token = second["token"].as_str().unwrap().to_owned();
    assert_eq!(register(&second_token), 200);
    // Revoked by hand.
    let (status, _) =
        server.admin_send("POST", &format!("/api/enrollment-tokens/{}/revoke", second["id"]), &json!({}));
    assert_eq!(status, 200);
    assert_eq!(register(&second_token), 401);
    // The list never shows a token; the audit log has every step, by whom.
    let (_, list) = server.admin_get("/api/enrollment-tokens");
    assert_eq!(list["items"].as_array().unwrap().len(), 2, "{list}");
    assert!(!list.to_string().contains(&first_token) && !list.to_string().contains(&second_token));
    let (_, audit) = server.admin_get("/api/audit?page_size=50");
    let text = audit.to_string();
    assert_eq!(text.matches("enrollment_token").count(), 4, "2 created, 2 revoked: {audit}");
    assert!(!text.contains(&first_token) && !text.contains(&second_token));
}

// ---- §4: login and the console ----

/// POST /api/login as a browser would; (status, error code).
fn login(server: &Server, username: &str, password: &str) -> (u16, String) {
    let (status, answer) =
        server.send("POST", "/api/login", &json!({ "username": username, "password": password }), None);
    (status, answer["error"].as_str().unwrap_or("ok").to_owned())
}

/// `wrong` wrong passwords and `right` right ones for `user`, all at once.
fn login_flood(server: &Server, user: &str, wrong: usize, right: usize) -> (Vec<u16>, Vec<u16>) {
    let barrier = std::sync::Barrier::new(wrong + right);
    std::thread::scope(|scope| {
        let attempts: Vec<_> = (0..wrong + right)
            .map(|i| {
                let barrier = &barrier;
                scope.spawn(move || {
                    let password = if i < wrong { "not-the-password" } else { support::ADMIN_PASSWORD };
                    barrier.wait();
                    login(server, user, password).0
                })
            })
            .collect();
        let statuses: Vec<u16> = attempts.into_iter().map(|a| a.join().unwrap()).collect();
        (statuses[..wrong].to_vec(), statuses[wrong..].to_vec())
    })
}

#[test]
fn sixty_parallel_wrong_passwords_are_not_all_checked_and_a_right_one_cannot_slip_in() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    let max = pushagent_config::login::LOGIN_MAX_FAILURES as usize;
    let (wrong, _) = login_flood(&server, support::ADMIN, 60, 0);
    // 429: locked, or (under a slow machine) no hashing slot within login_wait_secs.
    let checked = wrong.iter().filter(|s| **s == 401).count();
    assert!((1..=max).contains(&checked), "at most {max} passwords checked: {wrong:?}");
    assert!(wrong.iter().all(|s| *s == 401 || *s == 429), "{wrong:?}");
    assert_eq!(login(&server, support::ADMIN, support::ADMIN_PASSWORD), (429, "locked".to_owned()), "locked");

    // Another user: 39 wrong and the right one at once. At most `max` are checked in all; the
    // right one gets in only inside that budget, never past the lock.
    {
        let store = Store::open(&server.db_path).unwrap();
        let hash = pushagent_config::tokens::hash_password(support::ADMIN_PASSWORD).unwrap();
        store.add_user("ops-2", &hash, T0).unwrap();
    }
    let (wrong, right) = login_flood(&server, "ops-2", 39, 1);
    let checked = wrong.iter().filter(|s| **s == 401).count() + usize::from(right[0] == 200);
    assert!(checked <= max, "{checked} checked: {wrong:?} {right:?}");
    assert!(right[0] == 200 || right[0] == 429, "{right:?}");
    assert_eq!(login(&server, "ops-2", support::ADMIN_PASSWORD).0, 429, "locked now");
}

#[test]
fn known_and_unknown_user_names_answer_alike() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    let answers = |user: &str| (0..7).map(|_| login(&server, user, "guess")).collect::<Vec<_>>();
    let known = answers(support::ADMIN);
    assert_eq!(known, answers("no-such-user"));
    assert_eq!(known.iter().filter(|a| a.0 == 429).count(), 2, "{known:?}");
}

#[test]
fn every_answer_carries_the_security_headers_and_the_frame_rule_is_a_setting() {
    let dir = tempfile::tempdir().unwrap();
    let settings = pushagent_config::Settings {
        frame_ancestors: "'self' https://ops.example.com".into(),
        ..support::settings(dir.path())
    };
    let server = Server::start_with(settings);
    for (method, path) in
        [("GET", "/"), ("GET", "/api/me"), ("POST", HEARTBEAT_PATH), ("GET", "/api/nothing")]
    {
        let request = support::client();
        let response = match method {
            "GET" => request.get(server.url(path)).call(),
            _ => request.post(server.url(path)).header("Content-Type", "application/json").send("{}"),
        }
        .unwrap();
        let header = |name: &str| response.headers().get(name).map(|v| v.to_str().unwrap().to_owned());
        let csp = header("content-security-policy").unwrap_or_default();
        assert!(csp.contains("frame-ancestors 'self' https://ops.example.com"), "{path}: {csp}");
        assert!(csp.contains("script-src 'self'") && csp.contains("object-src 'none'"), "{path}: {csp}");
        assert_eq!(header("x-content-type-options").as_deref(), Some("nosniff"), "{path}");
        assert_eq!(header("referrer-policy").as_deref(), Some("same-origin"), "{path}");
        assert_eq!(header("strict-transport-security"), None, "plain HTTP: no HSTS ({path})");
    }
}

#[test]
fn state_changing_requests_need_json_and_their_own_origin() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    let response = support::client()
        .post(server.url("/api/login"))
        .header("Content-Type", "application/json")
        .send(json!({ "username": support::ADMIN, "password": support::ADMIN_PASSWORD }).to_string())
        .unwrap();
    let cookie =
        response.headers().get("set-cookie").unwrap().to_str().unwrap().split(';').next().unwrap().to_owned();
    let own_origin = server.base.clone();
    let post = |path: &str, content_type: Option<&str>, origin: Option<&str>| {
        let mut request = support::client().post(server.url(path)).header("Cookie", &cookie);
        if let Some(t) = content_type {
            request = request.header("Content-Type", t);
        }
        if let Some(o) = origin {
            request = request.header("Origin", o);
        }
        support::reply_json(request.send("")).0
    };
    // What a cross-site form could send: refused before the handler.
    assert_eq!(post("/api/alerts/test", Some("application/x-www-form-urlencoded"), None), 415);
    assert_eq!(post("/api/alerts/test", Some("text/plain"), None), 415);
    assert_eq!(post("/api/alerts/test", None, None), 415);
    assert_eq!(post("/api/logout", Some("text/plain"), None), 415);
    // JSON from another site's page (a browser says where it comes from).
    assert_eq!(post("/api/alerts/test", Some("application/json"), Some("https://evil.example")), 403);
    assert_eq!(post("/api/alerts/test", Some("application/json"), Some("null")), 403);
    // From the console itself: the handler answers (no channel configured).
    assert_eq!(post("/api/alerts/test", Some("application/json"), Some(&own_origin)), 400);
    assert_eq!(post("/api/alerts/test", Some("application/json"), None), 400);
    assert_eq!(post("/api/logout", Some("application/json"), Some(&own_origin)), 204);
}

#[test]
fn robot_credentials_in_channel_urls_are_write_only() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    let (_, mut global) = server.admin_get("/api/global-config");
    let urls = [
        ("ding", "dingtalk", "https://oapi.dingtalk.com/robot/send?access_token=DING-SECRET-TOKEN-1"),
        ("wecom", "wecom", "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=WECOM-SECRET-KEY-2"),
        ("feishu", "feishu", "https://open.feishu.cn/open-apis/bot/v2/hook/FEISHU-SECRET-HOOK-3"),
    ];
    global["alerts"]["channels"] = json!(urls
        .iter()
        .map(|(name, kind, url)| json!({ "name": name, "kind": kind, "url": url }))
        .collect::<Vec<_>>());
    let (status, shown) = server.admin_send("PUT", "/api/global-config", &global);
    assert_eq!(status, 200, "{shown}");
    let secret_free = |value: &serde_json::Value| {
        let text = value.to_string();
        !text.contains("DING-SECRET") && !text.contains("WECOM-SECRET") && !text.contains("FEISHU-SECRET")
    };
    assert!(secret_free(&shown), "{shown}");
    let (_, shown) = server.admin_get("/api/global-config");
    assert!(secret_free(&shown), "{shown}");
    assert_eq!(
        shown["alerts"]["channels"][0]["url"],
        "https://oapi.dingtalk.com/robot/send?access_token=****"
    );
    // The console sends the masked document back with another change: the URLs are kept.
    let mut edited = shown.clone();
    edited["alerts"]["renotify_hours"] = json!(12);
    let (status, _) = server.admin_send("PUT", "/api/global-config", &edited);
    assert_eq!(status, 200);
    let (_, doc) = Store::open(&server.db_path).unwrap().global().unwrap();
    let stored: Vec<&str> = doc.alerts.channels.iter().map(|c| c.url.as_str()).collect();
    assert_eq!(stored, urls.iter().map(|u| u.2).collect::<Vec<_>>());
    // A new token is a change the audit log records, without the token.
    edited["alerts"]["channels"][1]["url"] =
        json!("https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=WECOM-SECRET-KEY-4");
    assert_eq!(server.admin_send("PUT", "/api/global-config", &edited).0, 200);
    let (_, audit) = server.admin_get("/api/audit?page_size=100");
    assert!(secret_free(&audit), "{audit}");
    assert!(audit.to_string().contains("url_fingerprint"), "{audit}");
}
