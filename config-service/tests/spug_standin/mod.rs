//! A stand-in of the two Spug 3.x endpoints the inventory sync calls, written from Spug's source
//! (openspug/spug, spug_api: `apps/account/views.py::login` + `handle_user_info`,
//! `libs/middleware.py::AuthenticationMiddleware`, `apps/host/views.py::HostView.get`,
//! `apps/host/models.py::Host.to_view` + `HostExtend.to_view`, `apps/host/group.py::GroupView.get`,
//! `libs/utils.py::json_response`), on a loopback port:
//!
//! - every answer `{"data": ..., "error": ""}`; refusals HTTP 200 with `error` set and `data` "";
//! - login: wrong password counts per user name for 24 h; at the 3rd failure before, the account
//!   is disabled (`账户已被系统禁用`); a disabled account is refused with that message too;
//!   success returns a 32-hex `access_token` (reused while valid), valid 8 h, bound to the IP of
//!   the login (`last_ip`);
//! - other paths: `X-Token` must be 32 characters, known, unexpired, the user active and the
//!   request from `last_ip` (bind_ip), else HTTP 401 `验证失败，请重新登录`; each good request
//!   slides the token's expiry;
//! - hosts carry `pkey` (a private key) and every other field of `to_view`.
//!
//! Fault controls: revoke tokens (expiry), record a foreign login IP (the IP binding seen from
//! another address), an `error` on the host list (a role without the permission), no extend row.

#![allow(dead_code)]
#![allow(clippy::unwrap_used)]

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};

pub const PKEY_MARKER: &str = "STANDIN-PRIVATE-KEY-MATERIAL";
const TOKEN_TTL: i64 = 8 * 3600;

#[derive(Clone)]
pub struct StandinHost {
    pub id: i64,
    pub name: String,
    /// The address Spug connects to: an IP or a DNS name.
    pub hostname: String,
    pub group_ids: Vec<i64>,
    pub private_ips: Vec<String>,
    pub public_ips: Vec<String>,
    pub has_pkey: bool,
    /// Hosts added by hand before "sync extend" have no HostExtend row.
    pub has_extend: bool,
}

#[derive(Clone)]
pub struct StandinGroup {
    pub id: i64,
    pub name: String,
    pub parent_id: i64,
    pub sort_id: i64,
}

pub struct User {
    pub password: String,
    pub is_active: bool,
    access_token: Option<String>,
    token_expired: i64,
    last_ip: String,
}

#[derive(Default)]
pub struct Spug {
    pub users: HashMap<String, User>,
    pub failed_logins: HashMap<String, u32>,
    pub hosts: Vec<StandinHost>,
    pub groups: Vec<StandinGroup>,
    pub logins: u32,
    pub host_requests: u32,
    /// Logins are recorded as coming from this address (a proxy between us and Spug).
    pub login_ip_override: Option<String>,
    /// `error` set with HTTP 200 on GET /api/host/.
    pub host_error: Option<String>,
    pub now: i64,
}

pub type Shared = Arc<Mutex<Spug>>;

impl Spug {
    pub fn add_user(&mut self, name: &str, password: &str) {
        self.users.insert(
            name.into(),
            User {
                password: password.into(),
                is_active: true,
                access_token: None,
                token_expired: 0,
                last_ip: String::new(),
            },
        );
    }

    /// Every token stops working (as after 8 h idle, or a logout elsewhere).
    pub fn expire_tokens(&mut self) {
        for user in self.users.values_mut() {
            user.token_expired = self.now - 1;
        }
    }
}

pub struct Standin {
    pub url: String,
    pub state: Shared,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Standin {
    pub fn start(spug: Spug) -> Standin {
        let state = Arc::new(Mutex::new(spug));
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let app = Router::new()
            .route("/api/account/login/", post(login))
            .route("/api/host/", get(hosts))
            .route("/api/host/group/", get(groups))
            .with_state(Arc::clone(&state));
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).unwrap();
                axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>())
                    .with_graceful_shutdown(async move {
                        let _ = stopped.await;
                    })
                    .await
                    .unwrap();
            });
        });
        Standin { url, state, stop: Some(stop), thread: Some(thread) }
    }

    pub fn spug(&self) -> std::sync::MutexGuard<'_, Spug> {
        self.state.lock().unwrap()
    }
}

impl Drop for Standin {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn json_response(data: Value, error: &str) -> Response {
    let data = if error.is_empty() { data } else { json!("") };
    Json(json!({"data": data, "error": error})).into_response()
}

async fn login(
    State(state): State<Shared>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Json(form): Json<Value>,
) -> Response {
    let mut spug = state.lock().unwrap();
    spug.logins += 1;
    let (Some(username), Some(password)) = (form["username"].as_str(), form["password"].as_str()) else {
        return json_response(json!(""), "请输入用户名");
    };
    let now = spug.now;
    let ip = spug.login_ip_override.clone().unwrap_or_else(|| peer.ip().to_string());
    let ok = match spug.users.get(username) {
        Some(user) if !user.is_active => return json_response(json!(""), "账户已被系统禁用"),
        Some(user) => user.password == password,
        None => false,
    };
    if ok {
        spug.failed_logins.remove(username);
        let user = spug.users.get_mut(username).unwrap();
        let valid = user.access_token.as_ref().is_some_and(|t| t.len() == 32) && user.token_expired >= now;
        if !valid {
            user.access_token = Some(format!("{:032x}", rand_u128(now, username)));
        }
        user.token_expired = now + TOKEN_TTL;
        user.last_ip = ip;
        return json_response(
            json!({"id": 1, "access_token": user.access_token, "nickname": username, "is_supper": true,
                   "has_real_ip": false, "permissions": []}),
            "",
        );
    }
    let failures = spug.failed_logins.get(username).copied().unwrap_or(0);
    if failures >= 3 {
        if let Some(user) = spug.users.get_mut(username) {
            user.is_active = false;
        }
        return json_response(json!(""), "账户已被系统禁用");
    }
    spug.failed_logins.insert(username.to_owned(), failures + 1);
    json_response(json!(""), "用户名或密码错误，连续多次错误账户将会被禁用")
}

fn rand_u128(now: i64, salt: &str) -> u128 {
    let mut x = (now as u128) ^ 0x9e37_79b9_7f4a_7c15_f39c_c060_5ced_c834;
    for b in salt.bytes() {
        x = x.wrapping_mul(0x100_0000_01b3).wrapping_add(u128::from(b));
    }
    x | 1 << 124
}

/// `AuthenticationMiddleware.process_request`.
fn authenticate(spug: &mut Spug, headers: &HeaderMap, peer: SocketAddr) -> Result<(), Box<Response>> {
    let token = headers.get("x-token").and_then(|v| v.to_str().ok()).unwrap_or_default();
    let now = spug.now;
    if token.len() == 32 {
        if let Some(user) = spug.users.values_mut().find(|u| u.access_token.as_deref() == Some(token)) {
            if user.token_expired >= now && user.is_active && user.last_ip == peer.ip().to_string() {
                user.token_expired = now + TOKEN_TTL;
                return Ok(());
            }
        }
    }
    let mut response = json_response(json!(""), "验证失败，请重新登录");
    *response.status_mut() = StatusCode::UNAUTHORIZED;
    Err(Box::new(response))
}

async fn hosts(
    State(state): State<Shared>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
) -> Response {
    let mut spug = state.lock().unwrap();
    if let Err(refused) = authenticate(&mut spug, &headers, peer) {
        return *refused;
    }
    spug.host_requests += 1;
    if let Some(error) = &spug.host_error {
        return json_response(json!(""), error);
    }
    // Host.ordering = ('-id',)
    let mut hosts: Vec<&StandinHost> = spug.hosts.iter().collect();
    hosts.sort_by_key(|h| -h.id);
    let list: Vec<Value> = hosts.iter().map(|h| host_view(h)).collect();
    json_response(Value::Array(list), "")
}

/// `Host.to_view()`: every model field, the extend's fields when it has one, `group_ids`.
fn host_view(h: &StandinHost) -> Value {
    let mut view = json!({
        "id": h.id, "name": h.name, "hostname": h.hostname, "port": 22, "username": "root",
        "pkey": if h.has_pkey {
            json!(format!("-----BEGIN RSA PRIVATE KEY-----\n{PKEY_MARKER}-{}\n{}\n-----END RSA PRIVATE KEY-----", h.id, "A".repeat(1600)))
        } else { Value::Null },
        "desc": "", "is_verified": true, "created_at": "2026-01-05 10:00:00", "created_by_id": 1,
    });
    if h.has_extend {
        let extend = json!({
            "host_id": h.id, "instance_id": format!("i-{}", h.id), "zone_id": "cn-bj", "cpu": 8, "memory": 16.0,
            "disk": [100], "os_name": "CentOS 7.9", "os_type": "centos",
            "private_ip_address": h.private_ips, "public_ip_address": h.public_ips,
            "instance_charge_type": "Other", "internet_charge_type": "Other", "created_time": null,
            "expired_time": null, "updated_at": "2026-01-05 10:00:00",
            "instance_charge_type_alias": "其他", "internet_charge_type_alisa": "其他",
        });
        view.as_object_mut().unwrap().extend(extend.as_object().unwrap().clone());
    }
    view["group_ids"] = json!(h.group_ids);
    view
}

async fn groups(
    State(state): State<Shared>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
) -> Response {
    let mut spug = state.lock().unwrap();
    if let Err(refused) = authenticate(&mut spug, &headers, peer) {
        return *refused;
    }
    // GroupView.get: top-level groups, children filled level by level, ordered by -sort_id.
    let mut groups = spug.groups.clone();
    groups.sort_by_key(|g| -g.sort_id);
    fn children(groups: &[StandinGroup], parent: i64) -> Vec<Value> {
        groups
            .iter()
            .filter(|g| g.parent_id == parent)
            .map(|g| json!({"key": g.id, "value": g.id, "title": g.name, "children": children(groups, g.id)}))
            .collect()
    }
    let tree = children(&groups, 0);
    let mut leaves = serde_json::Map::new();
    fn merge(out: &mut serde_json::Map<String, Value>, prefix: &str, items: &[Value]) {
        for item in items {
            let name = if prefix.is_empty() {
                item["title"].as_str().unwrap().to_owned()
            } else {
                format!("{prefix}/{}", item["title"].as_str().unwrap())
            };
            let kids = item["children"].as_array().unwrap();
            if kids.is_empty() {
                out.insert(item["key"].to_string(), json!(name));
            } else {
                merge(out, &name, kids);
            }
        }
    }
    merge(&mut leaves, "", &tree);
    json_response(json!({"treeData": tree, "groups": leaves}), "")
}

/// A fleet of `hosts` hosts in `groups` leaf groups under 10 regions (for the benchmark).
pub fn fleet(hosts: usize, groups: usize) -> Spug {
    let mut spug = Spug::default();
    spug.add_user("pushagent", "spug-password-1");
    for r in 0..10 {
        spug.groups.push(StandinGroup { id: 1 + r, name: format!("区域{r}"), parent_id: 0, sort_id: r });
    }
    for g in 0..groups as i64 {
        spug.groups.push(StandinGroup {
            id: 100 + g,
            name: format!("节点-{g}"),
            parent_id: 1 + g % 10,
            sort_id: g,
        });
    }
    for h in 0..hosts as i64 {
        let g = 100 + h % groups as i64;
        spug.hosts.push(StandinHost {
            id: h + 1,
            name: format!("host-{h:05}"),
            hostname: format!("10.{}.{}.{}", h / 65536, (h / 256) % 256, h % 256),
            group_ids: if h % 50 == 0 { vec![g, 100 + (h + 1) % groups as i64] } else { vec![g] },
            private_ips: vec![format!("172.16.{}.{}", (h / 256) % 256, h % 256)],
            public_ips: vec![],
            has_pkey: h % 10 == 0,
            has_extend: h % 7 != 0,
        });
    }
    spug
}
