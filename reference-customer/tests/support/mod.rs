//! A real reference customer on a loopback port 0, and a real blocking HTTP client (ureq, as
//! the agent uses) that signs its requests with `pushagent_proto::signing`.

#![allow(dead_code)] // not every test uses every helper
#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

use std::path::{Path, PathBuf};
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use pushagent_customer::{serve, ServeError, Settings};
use pushagent_proto::customer::{Answer, FluxRecord, PushRequest, QUERY_PATH, REPORT_PATH};
use pushagent_proto::signing;
use serde_json::Value;

pub const ACCESS_ID: &str = "AK-test";
pub const SECRET: &str = "SK-test-secret";

type Response = ureq::http::Response<ureq::Body>;

/// A running server; stopped (and waited for) on `stop` or drop.
pub struct Server {
    pub base: String,
    pub db_path: PathBuf,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<JoinHandle<Result<(), ServeError>>>,
}

impl Server {
    pub fn start(settings: Settings) -> Server {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let db_path = settings.db_path.clone();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).unwrap();
                serve(settings, listener, async move {
                    let _ = stopped.await;
                })
                .await
            })
        });
        Server { base, db_path, stop: Some(stop), thread: Some(thread) }
    }

    /// Default settings on a fresh db file in `dir`.
    pub fn start_in(dir: &Path) -> Server {
        Server::start(Settings::new(dir.join("customer.sqlite")))
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

    // ---- admin API ----

    pub fn admin_get(&self, path: &str) -> (u16, Value) {
        reply_json(agent(None).get(self.url(path)).call())
    }

    pub fn admin_send(&self, method: &str, path: &str, body: Value) -> (u16, Value) {
        let body = body.to_string();
        let agent = agent(None);
        let request = match method {
            "PUT" => agent.put(self.url(path)),
            "POST" => agent.post(self.url(path)),
            other => panic!("no admin {other}"),
        };
        reply_json(request.header("Content-Type", "application/json").send(body.as_str()))
    }

    pub fn set_faults(&self, faults: Value) {
        let (status, answer) = self.admin_send("PUT", "/_admin/faults", faults);
        assert_eq!(status, 200, "{answer}");
    }

    pub fn dump(&self) -> Value {
        let (status, dump) = self.admin_get("/_admin/dump");
        assert_eq!(status, 200, "{dump}");
        dump
    }

    /// The stored records, as the dump shows them.
    pub fn stored(&self) -> Vec<FluxRecord> {
        serde_json::from_value(self.dump()["records"].clone()).unwrap()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let result = self.shut_down();
        if !std::thread::panicking() {
            result.expect("server ended with an error");
        }
    }
}

fn reply_json(reply: Result<Response, ureq::Error>) -> (u16, Value) {
    let reply = Reply::from(reply.expect("admin request failed"));
    let json = serde_json::from_str(&reply.body).unwrap_or_else(|e| panic!("{e}: {}", reply.body));
    (reply.status, json)
}

/// A blocking client that never turns an HTTP status into an error.
pub fn agent(timeout: Option<Duration>) -> ureq::Agent {
    ureq::Agent::config_builder().http_status_as_error(false).timeout_global(timeout).build().into()
}

/// Status and body of an answer.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub body: String,
}

impl From<Response> for Reply {
    fn from(mut response: Response) -> Reply {
        let status = response.status().as_u16();
        let body = response.body_mut().read_to_string().unwrap();
        Reply { status, body }
    }
}

impl Reply {
    pub fn answer(&self) -> Answer {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not an answer ({e}): {}", self.body))
    }

    /// HTTP 200 and `code`.
    pub fn expect_code(&self, code: i64) -> Answer {
        assert_eq!(self.status, 200, "{}", self.body);
        let answer = self.answer();
        assert_eq!(answer.code, code, "{}", self.body);
        answer
    }

    /// HTTP 401 and code 40101, with `why` in the message.
    pub fn expect_refused(&self, why: &str) {
        assert_eq!(self.status, 401, "{}", self.body);
        let answer = self.answer();
        assert_eq!(answer.code, 40101, "{}", self.body);
        assert!(answer.msg.contains(why), "{:?} does not say {why:?}", answer.msg);
    }
}

pub fn unix_now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs() as i64
}

pub fn fresh_nonce() -> String {
    format!("{:016x}{:016x}", fastrand::u64(..), fastrand::u64(..))
}

/// How a request is signed; `Signer::default()` is a correct one.
#[derive(Debug, Clone)]
pub struct Signer {
    pub access_id: String,
    pub secret: String,
    /// None = now.
    pub timestamp: Option<i64>,
    /// None = a fresh random one.
    pub nonce: Option<String>,
}

impl Default for Signer {
    fn default() -> Signer {
        Signer { access_id: ACCESS_ID.into(), secret: SECRET.into(), timestamp: None, nonce: None }
    }
}

impl Signer {
    /// The four signing headers for this request.
    pub fn headers(
        &self,
        method: &str,
        path: &str,
        query: &[(&str, &str)],
        body: &[u8],
    ) -> Vec<(String, String)> {
        let timestamp = self.timestamp.unwrap_or_else(unix_now);
        let nonce = self.nonce.clone().unwrap_or_else(fresh_nonce);
        let to_sign =
            signing::string_to_sign(method, path, &signing::canonical_query(query), timestamp, &nonce, body);
        vec![
            ("X-Access-Id".into(), self.access_id.clone()),
            ("X-Timestamp".into(), timestamp.to_string()),
            ("X-Nonce".into(), nonce),
            ("X-Signature".into(), signing::sign(self.secret.as_bytes(), &to_sign)),
        ]
    }
}

/// POST a raw body to the report path, signed.
pub fn push_raw_with(
    agent: &ureq::Agent,
    server: &Server,
    body: &[u8],
    signer: &Signer,
) -> Result<Reply, ureq::Error> {
    let mut request = agent.post(server.url(REPORT_PATH)).header("Content-Type", "application/json");
    for (name, value) in signer.headers("POST", REPORT_PATH, &[], body) {
        request = request.header(name, value);
    }
    request.send(body).map(Reply::from)
}

pub fn push_raw(server: &Server, body: &[u8]) -> Reply {
    push_raw_with(&agent(None), server, body, &Signer::default()).unwrap()
}

pub fn push(server: &Server, records: &[FluxRecord]) -> Reply {
    let body = serde_json::to_vec(&PushRequest { records: records.to_vec() }).unwrap();
    push_raw(server, &body)
}

/// GET the query path with these parameters, signed.
pub fn query_with(
    agent: &ureq::Agent,
    server: &Server,
    params: &[(&str, &str)],
    signer: &Signer,
) -> Result<Reply, ureq::Error> {
    let query: Vec<String> = params
        .iter()
        .map(|(k, v)| format!("{}={}", signing::encode_component(k), signing::encode_component(v)))
        .collect();
    let url = format!("{}?{}", server.url(QUERY_PATH), query.join("&"));
    let mut request = agent.get(url);
    for (name, value) in signer.headers("GET", QUERY_PATH, params, b"") {
        request = request.header(name, value);
    }
    request.call().map(Reply::from)
}

/// What the customer holds for `mac` on `flux_dat`, through the signed query API.
pub fn query(server: &Server, mac: &str, flux_dat: &str) -> Vec<FluxRecord> {
    let reply = query_with(&agent(None), server, &[("mac", mac), ("flux_dat", flux_dat)], &Signer::default())
        .unwrap();
    reply.expect_code(0).data.expect("query answers carry data")
}

/// A valid record: v0..v11 = base, base+1, ...
pub fn record(mac: &str, flux_hour: &str, version: u32, base: u64) -> FluxRecord {
    let mut record = FluxRecord {
        flux_dat: flux_hour[..8].to_owned(),
        flux_hour: flux_hour.to_owned(),
        provider_id: "PROV-1".to_owned(),
        provider_uiid: "7d0c6a3e-0000-4000-8000-000000000001".to_owned(),
        isp_id: 1,
        mac: mac.to_owned(),
        v0: 0,
        v1: 0,
        v2: 0,
        v3: 0,
        v4: 0,
        v5: 0,
        v6: 0,
        v7: 0,
        v8: 0,
        v9: 0,
        v10: 0,
        v11: 0,
        version,
        device_type: 1,
    };
    record.set_points(std::array::from_fn(|slot| base + slot as u64));
    record
}

/// One connection spoken by hand, for what a library client hides: `Expect: 100-continue`, and
/// whether the server keeps a connection it did not say it would close.
pub struct RawConnection {
    stream: std::net::TcpStream,
    host: String,
    /// Bytes read past the last answer.
    unread: Vec<u8>,
}

/// A whole answer read off a `RawConnection`.
#[derive(Debug)]
pub struct RawAnswer {
    pub status: u16,
    /// Names in lower case.
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl RawAnswer {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }

    /// The server said it closes the connection after this answer.
    pub fn closes(&self) -> bool {
        self.header("connection").is_some_and(|v| v.eq_ignore_ascii_case("close"))
    }
}

impl RawConnection {
    pub fn open(server: &Server) -> RawConnection {
        let host = server.base.trim_start_matches("http://").to_owned();
        let stream = std::net::TcpStream::connect(&host).unwrap();
        stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        stream.set_nodelay(true).unwrap();
        RawConnection { stream, host, unread: Vec::new() }
    }

    /// Send a request head (`headers` as given, then Host and Content-Length).
    pub fn send_head(&mut self, method: &str, path: &str, headers: &[(String, String)], content_length: u64) {
        use std::io::Write;
        let mut head = format!("{method} {path} HTTP/1.1\r\nHost: {}\r\n", self.host);
        for (name, value) in headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        head.push_str(&format!("Content-Length: {content_length}\r\n\r\n"));
        self.stream.write_all(head.as_bytes()).unwrap();
    }

    /// POST as curl does past 1 KiB: the head with `Expect: 100-continue`, the body once the
    /// server says `100 Continue` (or, as RFC 9110 allows, once it answered early), then the
    /// final answer. An error means the server closed the connection.
    pub fn post_expecting_continue(
        &mut self,
        path: &str,
        headers: &[(String, String)],
        body: &[u8],
    ) -> std::io::Result<RawAnswer> {
        use std::io::Write;
        let mut headers = headers.to_vec();
        headers.push(("Expect".into(), "100-continue".into()));
        self.send_head("POST", path, &headers, body.len() as u64);
        let first = self.read_answer()?;
        self.stream.write_all(body)?;
        if first.status == 100 {
            self.read_answer()
        } else {
            Ok(first)
        }
    }

    /// The next answer on the connection, interim ones (100) included.
    pub fn read_answer(&mut self) -> std::io::Result<RawAnswer> {
        let head_end = loop {
            if let Some(at) = self.unread.windows(4).position(|w| w == b"\r\n\r\n") {
                break at;
            }
            self.fill()?;
        };
        let head = String::from_utf8(self.unread[..head_end].to_vec()).unwrap();
        self.unread.drain(..head_end + 4);
        let mut lines = head.split("\r\n");
        let status_line = lines.next().unwrap();
        let status = status_line.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or_else(|| {
            panic!("not a status line: {status_line:?}");
        });
        let headers: Vec<(String, String)> = lines
            .filter_map(|line| line.split_once(':'))
            .map(|(name, value)| (name.trim().to_ascii_lowercase(), value.trim().to_owned()))
            .collect();
        let length: usize = headers
            .iter()
            .find(|(name, _)| name == "content-length")
            .map_or(0, |(_, value)| value.parse().unwrap());
        while self.unread.len() < length {
            self.fill()?;
        }
        let body = String::from_utf8_lossy(&self.unread[..length]).into_owned();
        self.unread.drain(..length);
        Ok(RawAnswer { status, headers, body })
    }

    fn fill(&mut self) -> std::io::Result<()> {
        use std::io::Read;
        let mut buffer = [0u8; 4096];
        match self.stream.read(&mut buffer)? {
            0 => Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "the server closed the connection",
            )),
            n => {
                self.unread.extend_from_slice(&buffer[..n]);
                Ok(())
            }
        }
    }
}
