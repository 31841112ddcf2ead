//! The config service, started in-process on a loopback port for one test; it can be stopped
//! and started again on the same port and store (the service "goes down").

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use pushagent_config::store::Store;
use pushagent_config::{serve, tokens, Secret, Settings};
use serde_json::{json, Value};

use super::customer::{ACCESS_ID, SECRET};
use super::server::ServerThread;

const JSON: &str = "application/json";
pub const ENROLL: &str = "enroll-test-token-0123456789";

pub struct ConfigService {
    pub base_url: String,
    pub api_token: String,
    addr: SocketAddr,
    db_path: PathBuf,
    running: Option<ServerThread>,
    http: ureq::Agent,
    heartbeat_interval_secs: u64,
}

impl ConfigService {
    pub fn start(dir: &Path) -> ConfigService {
        ConfigService::start_with_heartbeat(dir, Settings::default().heartbeat_interval_secs)
    }

    /// A service that asks its agents to heartbeat every `heartbeat_interval_secs`.
    pub fn start_with_heartbeat(dir: &Path, heartbeat_interval_secs: u64) -> ConfigService {
        let db_path = dir.join("config.sqlite");
        let api_token = tokens::new_token("pa_api_").expect("token");
        let store = Store::open(&db_path).expect("store");
        store.add_api_token("agent-tests", &tokens::token_hash(&api_token), 0).expect("api token");
        drop(store);
        let http: ureq::Agent = ureq::Agent::config_builder()
            .timeout_global(Some(Duration::from_secs(10)))
            .http_status_as_error(false)
            .build()
            .into();
        let mut service = ConfigService {
            base_url: String::new(),
            api_token,
            addr: "127.0.0.1:0".parse().expect("addr"),
            db_path,
            running: None,
            http,
            heartbeat_interval_secs,
        };
        service.up();
        service.base_url = format!("http://{}", service.addr);
        service
    }

    /// Start serving (again) on the same address and store.
    pub fn up(&mut self) {
        let settings = Settings {
            db_path: self.db_path.clone(),
            enrollment_token: Some(Secret::new(ENROLL)),
            heartbeat_interval_secs: self.heartbeat_interval_secs,
            ..Settings::default()
        };
        let server = ServerThread::spawn(self.addr, move |listener, stop| async move {
            serve(settings, listener, stop).await.expect("config service serves");
        });
        self.addr = server.addr;
        self.running = Some(server);
    }

    /// Stop serving: connections are refused until `up`.
    pub fn down(&mut self) {
        if let Some(mut server) = self.running.take() {
            server.stop();
        }
    }

    /// Change the stored global config behind the admin API's checks: what an older (or
    /// buggy) service could hand out to agents.
    pub fn store_global_unchecked(&self, change: impl FnOnce(&mut pushagent_config::global::GlobalDoc)) {
        let mut store = Store::open(&self.db_path).expect("store");
        let (_, mut doc) = store.global().expect("global");
        change(&mut doc);
        store.update_global(&doc, "test", 0).expect("stored");
    }

    /// Save the console's 推送配置 as an operator does: push on, to the customer at `base_url`
    /// (the reference customer's paths, credentials and formats; ids P and U), and the fields
    /// of `more` (e.g. `offset_bp`) on top.
    pub fn push_to(&self, base_url: &str, more: Value) {
        let mut global = self.admin("GET", "/api/global-config", None);
        global["push_enabled"] = json!(true);
        global["customer"] = json!({
            "base_url": base_url, "report_path": "/api/v1/flux/report",
            "query_path": "/api/v1/flux/query", "access_id": ACCESS_ID, "secret": SECRET,
            "day_format": "%Y%m%d", "hour_format": "%Y%m%d%H", "mac_format": "lower-colon", "batch_size": 100
        });
        global["provider_id"] = json!("P");
        global["provider_uiid"] = json!("U");
        if let (Some(global), Value::Object(more)) = (global.as_object_mut(), more) {
            global.extend(more);
        }
        self.admin("PUT", "/api/global-config", Some(global));
    }

    pub fn admin(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let url = format!("{}{path}", self.base_url);
        let auth = format!("Bearer {}", self.api_token);
        let mut response = match (method, body) {
            ("GET", _) => self.http.get(&url).header("Authorization", &auth).call(),
            ("PUT", Some(b)) => self
                .http
                .put(&url)
                .header("Authorization", &auth)
                .header("Content-Type", JSON)
                .send(b.to_string()),
            ("PATCH", Some(b)) => self
                .http
                .patch(&url)
                .header("Authorization", &auth)
                .header("Content-Type", JSON)
                .send(b.to_string()),
            (_, b) => self
                .http
                .post(&url)
                .header("Authorization", &auth)
                .header("Content-Type", JSON)
                .send(b.unwrap_or(Value::Null).to_string()),
        }
        .unwrap_or_else(|e| panic!("{method} {path}: {e}"));
        let status = response.status().as_u16();
        let text = response.body_mut().read_to_string().expect("body");
        assert!(status < 300, "{method} {path}: HTTP {status}: {text}");
        serde_json::from_str(&text).unwrap_or(Value::Null)
    }
}

impl Drop for ConfigService {
    fn drop(&mut self) {
        self.down();
    }
}
