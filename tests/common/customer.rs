//! The reference customer, started in-process on a port of its own for one test.

use std::path::PathBuf;
use std::time::Duration;

use pushagent_customer::faults::Faults;
use pushagent_customer::{serve, Credential, Settings};
use serde_json::Value;

use super::server::ServerThread;

pub const ACCESS_ID: &str = "AK-test";
pub const LINE_ACCESS_ID: &str = "AK-line";
pub const SECRET: &str = "SK-test-secret";

/// Which profile of customer-api.md the customer (and the agent configured for it) speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Speaks {
    Json,
    /// The line preset, as the console's "逐行 CSV (原厂商格式)" sets it, tightened as an
    /// operator would once the customer documents its answers (`{"ret":0}`) and its query.
    Line,
}

pub struct Customer {
    pub base_url: String,
    pub db_path: PathBuf,
    pub speaks: Speaks,
    _server: ServerThread,
    _dir: tempfile::TempDir,
    http: ureq::Agent,
}

impl Customer {
    pub fn start(faults: Faults, seed: u64) -> Customer {
        Customer::start_speaking(Speaks::Json, faults, seed)
    }

    pub fn start_speaking(speaks: Speaks, faults: Faults, seed: u64) -> Customer {
        let dir = tempfile::tempdir().expect("tempdir");
        let db_path = dir.path().join("customer.sqlite");
        let mut settings = Settings::new(&db_path);
        settings.faults = faults;
        settings.seed = Some(seed);
        if speaks == Speaks::Line {
            settings.credentials = vec![Credential::line(LINE_ACCESS_ID, SECRET, false)];
            settings.line_answers = pushagent_customer::line::LineAnswers::Json;
        }
        let server =
            ServerThread::spawn("127.0.0.1:0".parse().expect("addr"), move |listener, stop| async move {
                serve(settings, listener, stop).await.expect("customer serves");
            });
        let http: ureq::Agent = ureq::Agent::config_builder()
            .timeout_global(Some(Duration::from_secs(10)))
            .http_status_as_error(false)
            .build()
            .into();
        Customer {
            base_url: format!("http://{}", server.addr),
            db_path,
            speaks,
            _server: server,
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

    /// API requests the customer received with this HTTP method ("POST": pushes, whatever
    /// became of them; "GET": queries).
    pub fn requests_by_method(&self, method: &str) -> u64 {
        self.admin("GET", "dump", None)["requests"]["by_method"][method].as_u64().unwrap_or(0)
    }

    /// The X-Seq of every accepted line push, in the order they came.
    pub fn line_seqs(&self) -> Vec<u64> {
        let dump = self.admin("GET", "dump", None);
        dump["line_seqs"].as_array().map(|a| a.iter().filter_map(Value::as_u64).collect()).unwrap_or_default()
    }

    pub fn alter(&self, mac: &str, flux_hour: &str, field: &str, value: u64) {
        self.admin(
            "POST",
            "alter",
            Some(serde_json::json!({"mac": mac, "flux_hour": flux_hour, "field": field, "value": value})),
        );
    }
}

impl Customer {
    /// An agent config that pushes to this customer, state in `state_dir`.
    pub fn agent_config(&self, state_dir: &std::path::Path) -> pushagent::config::AgentConfig {
        let mut config =
            pushagent::config::AgentConfig { state_dir: state_dir.to_owned(), ..Default::default() };
        config.customer.base_url = self.base_url.clone();
        config.customer.access_id = ACCESS_ID.into();
        config.customer.secret = pushagent::config::Secret::new(SECRET);
        config.customer.timeout_secs = 5;
        config.report.provider_id = "P".into();
        config.report.provider_uiid = "U".into();
        if self.speaks == Speaks::Line {
            let preset = pushagent_proto::profile::presets()
                .into_iter()
                .find(|p| p.encoding == pushagent_proto::profile::Encoding::Line)
                .expect("a line preset");
            config.customer.access_id = LINE_ACCESS_ID.into();
            config.customer.encoding = preset.encoding;
            config.customer.line = preset.line;
            config.customer.auth = preset.auth;
            // The reference customer's answers and query in this profile: `{"ret":N,...}`, the
            // records under `list`.
            config.customer.answer = pushagent_proto::profile::AnswerRule {
                result_field: "ret".into(),
                ok_values: vec!["0".into()],
                invalid_values: vec!["40001".into()],
                conflict_values: vec!["40901".into()],
                ok_texts: vec![],
                message_field: "msg".into(),
            };
            config.customer.query_path = pushagent_proto::customer::QUERY_PATH.into();
            config.customer.query.records_field = "list".into();
        }
        config
    }
}
