//! The reference customer, started in-process on a port of its own for one test.

use std::path::PathBuf;
use std::thread::JoinHandle;
use std::time::Duration;

use pushagent_customer::faults::Faults;
use pushagent_customer::{serve, Settings};
use serde_json::Value;

pub const ACCESS_ID: &str = "AK-test";
pub const SECRET: &str = "SK-test-secret";

pub struct Customer {
    pub base_url: String,
    pub db_path: PathBuf,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
    _dir: tempfile::TempDir,
    http: ureq::Agent,
}

impl Customer {
    pub fn start(faults: Faults, seed: u64) -> Customer {
        let dir = tempfile::tempdir().expect("tempdir");
        let db_path = dir.path().join("customer.sqlite");
        let mut settings = Settings::new(&db_path);
        settings.faults = faults;
        settings.seed = Some(seed);
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let (addr_tx, addr_rx) = std::sync::mpsc::channel();
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .expect("runtime");
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
                addr_tx.send(listener.local_addr().expect("addr")).expect("send addr");
                serve(settings, listener, async {
                    let _ = stop_rx.await;
                })
                .await
                .expect("customer serves");
            });
        });
        let addr = addr_rx.recv_timeout(Duration::from_secs(30)).expect("customer listening");
        let http: ureq::Agent = ureq::Agent::config_builder()
            .timeout_global(Some(Duration::from_secs(10)))
            .http_status_as_error(false)
            .build()
            .into();
        Customer {
            base_url: format!("http://{addr}"),
            db_path,
            stop: Some(stop_tx),
            thread: Some(thread),
            _dir: dir,
            http,
        }
    }

    fn admin(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let url = format!("{}/_admin/{path}", self.base_url);
        let mut response = match (method, body) {
            ("GET", _) => self.http.get(&url).call(),
            ("PUT", Some(b)) => {
                self.http.put(&url).header("Content-Type", "application/json").send(b.to_string())
            }
            (_, b) => self
                .http
                .post(&url)
                .header("Content-Type", "application/json")
                .send(b.unwrap_or(Value::Null).to_string()),
        }
        .unwrap_or_else(|e| panic!("admin {method} {path}: {e}"));
        let status = response.status().as_u16();
        let text = response.body_mut().read_to_string().expect("admin body");
        assert!(status < 300, "admin {method} {path}: HTTP {status}: {text}");
        serde_json::from_str(&text).unwrap_or(Value::Null)
    }

    pub fn set_faults(&self, update: Value) {
        self.admin("PUT", "faults", Some(update));
    }

    /// Every stored record, ordered by mac and flux_hour.
    pub fn records(&self) -> Vec<Value> {
        self.admin("GET", "dump", None)["records"].as_array().cloned().unwrap_or_default()
    }

    pub fn alter(&self, mac: &str, flux_hour: &str, field: &str, value: u64) {
        self.admin(
            "POST",
            "alter",
            Some(serde_json::json!({"mac": mac, "flux_hour": flux_hour, "field": field, "value": value})),
        );
    }
}

impl Drop for Customer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
