//! A real config service on a loopback port 0 (in-process, own runtime thread), a blocking
//! HTTP client (ureq, as the agent uses), and a loopback webhook receiver for alert tests.

#![allow(dead_code)] // not every test uses every helper
#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use pushagent_config::store::Store;
use pushagent_config::{serve_with_clock, tokens, ManualClock, Secret, ServeError, Settings};
use pushagent_proto::agent::{
    Backlog, Facts, HeartbeatRequest, HistoryItem, InterfaceFacts, InterfaceReport, PushStatus,
    RegisterRequest, SkippedItem, REGISTER_PATH,
};
use serde_json::{json, Value};

pub const ENROLL: &str = "enroll-test-token-0123456789";
pub const ADMIN: &str = "admin";
pub const ADMIN_PASSWORD: &str = "admin-password-1";
pub const T0: i64 = 1_764_000_000;

pub struct Server {
    pub base: String,
    pub db_path: PathBuf,
    pub clock: Arc<ManualClock>,
    pub api_token: String,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<JoinHandle<Result<(), ServeError>>>,
}

pub fn settings(dir: &Path) -> Settings {
    Settings {
        db_path: dir.join("config.sqlite"),
        enrollment_token: Some(Secret::new(ENROLL)),
        // The jobs would race the tests' own check passes: make them effectively idle.
        check_interval_secs: 86_400,
        delivery_interval_secs: 86_400,
        ..Settings::default()
    }
}

impl Server {
    /// A server on a fresh store in `dir` with one admin user and one API token.
    pub fn start(dir: &Path) -> Server {
        Server::start_with(settings(dir))
    }

    pub fn start_with(settings: Settings) -> Server {
        let api_token = tokens::new_token("pa_api_").unwrap();
        {
            let store = Store::open(&settings.db_path).unwrap();
            if store.user_login(ADMIN).unwrap().is_none() {
                store.add_user(ADMIN, &tokens::hash_password(ADMIN_PASSWORD).unwrap(), T0).unwrap();
            }
            store
                .add_api_token(&format!("ci-{}", &api_token[8..16]), &tokens::token_hash(&api_token), T0)
                .unwrap();
        }
        let clock = Arc::new(ManualClock::new(T0));
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let db_path = settings.db_path.clone();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server_clock = Arc::clone(&clock);
        let thread = std::thread::spawn(move || {
            let runtime =
                tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).unwrap();
                serve_with_clock(settings, server_clock, listener, async move {
                    let _ = stopped.await;
                })
                .await
            })
        });
        Server { base, db_path, clock, api_token, stop: Some(stop), thread: Some(thread) }
    }

    pub fn stop(mut self) {
        self.shut_down().expect("server ended with an error");
    }

    fn shut_down(&mut self) -> Result<(), ServeError> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        match self.thread.take() {
            Some(thread) => thread.join().expect("server thread panicked"),
            None => Ok(()),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Row counts of every table, read straight from the store file.
    pub fn table_counts(&self) -> Vec<(String, i64)> {
        Store::open(&self.db_path).unwrap().table_counts().unwrap()
    }

    pub fn get(&self, path: &str, bearer: Option<&str>) -> (u16, Value) {
        let mut request = client().get(self.url(path));
        if let Some(token) = bearer {
            request = request.header("Authorization", format!("Bearer {token}"));
        }
        reply_json(request.call())
    }

    pub fn get_text(&self, path: &str, bearer: Option<&str>) -> (u16, String) {
        let mut request = client().get(self.url(path));
        if let Some(token) = bearer {
            request = request.header("Authorization", format!("Bearer {token}"));
        }
        let mut response = request.call().unwrap();
        (response.status().as_u16(), response.body_mut().read_to_string().unwrap())
    }

    pub fn send(&self, method: &str, path: &str, body: &Value, bearer: Option<&str>) -> (u16, Value) {
        self.send_raw(method, path, body.to_string().as_bytes(), "application/json", bearer)
    }

    pub fn send_raw(
        &self,
        method: &str,
        path: &str,
        body: &[u8],
        content_type: &str,
        bearer: Option<&str>,
    ) -> (u16, Value) {
        let agent = client();
        let url = self.url(path);
        let mut request = match method {
            "POST" => agent.post(&url),
            "PUT" => agent.put(&url),
            "PATCH" => agent.patch(&url),
            other => panic!("method {other}"),
        }
        .header("Content-Type", content_type);
        if let Some(token) = bearer {
            request = request.header("Authorization", format!("Bearer {token}"));
        }
        reply_json(request.send(body))
    }

    pub fn admin_get(&self, path: &str) -> (u16, Value) {
        self.get(path, Some(&self.api_token))
    }

    pub fn admin_send(&self, method: &str, path: &str, body: &Value) -> (u16, Value) {
        self.send(method, path, body, Some(&self.api_token))
    }

    /// Register a machine; returns (agent token, machine id).
    pub fn register(&self, machine_uid: &str, hostname: &str, mac: &str) -> (String, i64) {
        let (status, answer) =
            self.send("POST", REGISTER_PATH, &register_body(machine_uid, hostname, mac), None);
        assert_eq!(status, 200, "{answer}");
        (
            answer["agent_token"].as_str().unwrap().to_owned(),
            answer["machine_id"].as_str().unwrap().parse().unwrap(),
        )
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.shut_down();
    }
}

pub fn client() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(20)))
        .build()
        .into()
}

pub fn reply_json(result: Result<ureq::http::Response<ureq::Body>, ureq::Error>) -> (u16, Value) {
    let mut response = result.unwrap();
    let status = response.status().as_u16();
    let text = response.body_mut().with_config().limit(50 * 1024 * 1024).read_to_string().unwrap();
    let value = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or(Value::String(text))
    };
    (status, value)
}

pub fn register_body(machine_uid: &str, hostname: &str, mac: &str) -> Value {
    serde_json::to_value(RegisterRequest {
        enrollment_token: ENROLL.into(),
        machine_id: machine_uid.into(),
        hostname: hostname.into(),
        mac: mac.into(),
        agent_version: "0.1.0".into(),
        facts: Facts {
            hostname: Some(hostname.into()),
            machine_id: Some(machine_uid.into()),
            interface: Some(InterfaceFacts {
                name: "eth0".into(),
                mac: Some(mac.into()),
                speed_mbps: Some(1000),
            }),
        },
        identity: Default::default(),
    })
    .unwrap()
}

pub fn heartbeat(hostname: &str, mac: &str, agent_time: i64) -> HeartbeatRequest {
    HeartbeatRequest {
        agent_version: "0.1.0".into(),
        mac: mac.into(),
        hostname: hostname.into(),
        interfaces: vec![
            InterfaceReport { name: "eth0".into(), mac: Some(mac.into()), physical: true },
            InterfaceReport { name: "docker0".into(), mac: None, physical: false },
        ],
        chosen_interface: "eth0".into(),
        ambiguous: false,
        backlog: Backlog { outbox_hours: 1, history_items: 2, held_hours: 0 },
        last_push: None,
        agent_time,
        facts: None,
        report_timezone: Some("UTC+08:00".into()),
        identity: Default::default(),
        health: None,
    }
}

pub fn push_item(
    mac: &str,
    flux_hour: &str,
    attempt: u32,
    status: PushStatus,
    attempted_at: i64,
) -> HistoryItem {
    let raw_points = [100u64; 12];
    let pushed_points = [103u64; 12];
    HistoryItem {
        mac: mac.into(),
        flux_hour: flux_hour.into(),
        version: 1,
        attempt,
        raw_bytes: 1200,
        pushed_bytes: 1236,
        raw_points,
        pushed_points,
        offset_bp: 300,
        offset_fixed_bytes: 0,
        off_slots: 0,
        status,
        http_status: Some(if status == PushStatus::Success { 200 } else { 503 }),
        code: Some(if status == PushStatus::Success { 0 } else { 50001 }),
        message: (status == PushStatus::Failure).then(|| "HTTP 503".to_owned()),
        attempted_at,
    }
}

/// An hour not reported because the machine's push switch was off.
pub fn skipped_item(mac: &str, flux_hour: &str, raw_bytes: u64, decided_at: i64) -> SkippedItem {
    SkippedItem {
        mac: mac.into(),
        flux_hour: flux_hour.into(),
        reason: "switched_off".into(),
        switches: vec!["machine".into()],
        raw_bytes,
        decided_at,
    }
}

/// Poll `condition` until true (fails the test after 10 s).
pub fn wait_for(what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !condition() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// One request as the webhook receiver saw it.
#[derive(Debug, Clone)]
pub struct Received {
    pub path_and_query: String,
    pub body: Value,
}

/// A loopback HTTP receiver for alert deliveries; answers `status` with `{"errcode":0}`.
pub struct Receiver {
    pub base: String,
    pub received: Arc<Mutex<Vec<Received>>>,
    pub status: Arc<Mutex<u16>>,
    /// Set: the next request is recorded, then left unanswered until this is sent to.
    pub hold_next: Arc<Mutex<Option<tokio::sync::oneshot::Receiver<()>>>>,
    _thread: JoinHandle<()>,
}

impl Receiver {
    pub fn start() -> Receiver {
        let received = Arc::new(Mutex::new(Vec::new()));
        let status = Arc::new(Mutex::new(200u16));
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let hold_next = Arc::new(Mutex::new(None::<tokio::sync::oneshot::Receiver<()>>));
        let (r, s, h) = (Arc::clone(&received), Arc::clone(&status), Arc::clone(&hold_next));
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).unwrap();
                let app =
                    axum::Router::new().fallback(move |uri: axum::http::Uri, body: axum::body::Bytes| {
                        let (r, s, h) = (Arc::clone(&r), Arc::clone(&s), Arc::clone(&h));
                        async move {
                            let body = serde_json::from_slice(&body).unwrap_or(Value::Null);
                            let path_and_query =
                                uri.path_and_query().map(|p| p.to_string()).unwrap_or_default();
                            r.lock().unwrap().push(Received { path_and_query, body });
                            let hold = h.lock().unwrap().take();
                            if let Some(release) = hold {
                                let _ = release.await;
                            }
                            let code = axum::http::StatusCode::from_u16(*s.lock().unwrap()).unwrap();
                            (code, axum::Json(json!({ "errcode": 0, "code": 0 })))
                        }
                    });
                axum::serve(listener, app).await.unwrap();
            });
        });
        Receiver { base, received, status, hold_next, _thread: thread }
    }

    pub fn take(&self) -> Vec<Received> {
        std::mem::take(&mut *self.received.lock().unwrap())
    }
}
