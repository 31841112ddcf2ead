//! The Spug client: login, hosts, groups. Shapes as Spug 3.x's source sends them
//! (`spug_api/apps/account/views.py`, `apps/host/views.py`, `apps/host/group.py`,
//! `libs/utils.py::json_response`, `libs/middleware.py`):
//!
//! - every answer is `{"data": ..., "error": ""}`; a refusal is HTTP 200 with `error` set (and
//!   `data` = `""`), or HTTP 401 `{"data": "", "error": "验证失败，请重新登录"}` for a missing,
//!   expired or IP-bound token;
//! - `POST /api/account/login/` `{username, password, type}` → `data.access_token` (32 hex),
//!   then header `X-Token`; `data.required_mfa` when the account needs a second factor;
//! - `GET /api/host/` → `[{id, name, hostname, port, username, pkey, desc, ..., group_ids,
//!   private_ip_address, public_ip_address, ...}]` (`pkey` is a private key: it is skipped by
//!   the parser as the body streams through, never held, stored or logged);
//! - `GET /api/host/group/` → `{treeData: [{key, value, title, children}], groups: {"<id>":
//!   "Parent/Child"}}` where `groups` lists leaves only, so paths are built from `treeData`.

use std::collections::HashMap;
use std::fmt;
use std::io::BufReader;
use std::marker::PhantomData;
use std::net::IpAddr;
use std::time::Duration;

use serde::de::{DeserializeOwned, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer};

use super::{InventoryHost, InventorySettings, NodeFrom, SyncError};
use crate::settings::Secret;

/// Bodies above this are refused (10,000 hosts each with a key are ~30 MB; parsed streaming).
const MAX_ANSWER_BYTES: u64 = 256 * 1024 * 1024;
pub const LOGIN_PATH: &str = "/api/account/login/";
pub const HOSTS_PATH: &str = "/api/host/";
pub const GROUPS_PATH: &str = "/api/host/group/";

/// `data` of an answer: the value, or `""` when `error` is set.
enum Data<T> {
    Value(T),
    Empty,
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Data<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct DataVisitor<T>(PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for DataVisitor<T> {
            type Value = Data<T>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("the answer's data (a list, an object, or \"\")")
            }
            fn visit_str<E: serde::de::Error>(self, _: &str) -> Result<Data<T>, E> {
                Ok(Data::Empty)
            }
            fn visit_unit<E: serde::de::Error>(self) -> Result<Data<T>, E> {
                Ok(Data::Empty)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Data<T>, A::Error> {
                T::deserialize(serde::de::value::SeqAccessDeserializer::new(seq)).map(Data::Value)
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Data<T>, A::Error> {
                T::deserialize(serde::de::value::MapAccessDeserializer::new(map)).map(Data::Value)
            }
        }
        deserializer.deserialize_any(DataVisitor(PhantomData))
    }
}

#[derive(Deserialize)]
struct Answer<T> {
    #[serde(default = "empty")]
    data: Data<T>,
    #[serde(default)]
    error: String,
}

fn empty<T>() -> Data<T> {
    Data::Empty
}

#[derive(Deserialize)]
struct LoginData {
    #[serde(default)]
    access_token: Option<String>,
    #[serde(default)]
    required_mfa: bool,
}

/// The fields of a Spug host this service reads; everything else (`pkey` first) is skipped.
#[derive(Debug, Deserialize)]
pub struct SpugHost {
    pub id: i64,
    pub name: String,
    pub hostname: String,
    #[serde(default)]
    pub group_ids: Vec<i64>,
    #[serde(default)]
    pub private_ip_address: Option<Vec<String>>,
    #[serde(default)]
    pub public_ip_address: Option<Vec<String>>,
}

#[derive(Debug, Deserialize)]
pub struct GroupNode {
    pub key: i64,
    pub title: String,
    #[serde(default)]
    pub children: Vec<GroupNode>,
}

#[derive(Debug, Deserialize)]
pub struct GroupsData {
    #[serde(rename = "treeData")]
    pub tree_data: Vec<GroupNode>,
}

/// A group's name, its path in the tree and whether it is a leaf.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    pub name: String,
    pub path: String,
    pub leaf: bool,
}

/// Every group of the tree by id, with its path (`Parent/Child`, as Spug's `groups` spells
/// leaves, but for inner groups too: a host may sit in one).
pub fn group_paths(tree: &[GroupNode]) -> HashMap<i64, Group> {
    fn walk(nodes: &[GroupNode], prefix: &str, out: &mut HashMap<i64, Group>) {
        for node in nodes {
            let path =
                if prefix.is_empty() { node.title.clone() } else { format!("{prefix}/{}", node.title) };
            out.insert(
                node.key,
                Group { name: node.title.clone(), path: path.clone(), leaf: node.children.is_empty() },
            );
            walk(&node.children, &path, out);
        }
    }
    let mut out = HashMap::new();
    walk(tree, "", &mut out);
    out
}

/// The node of a host from its groups. A host in several groups gets, by rule, the leaf group
/// with the lowest id (the oldest leaf: where it was first placed), else the inner group with the
/// lowest id; the note lists the others so an operator sees the choice.
pub fn node_of(
    group_ids: &[i64],
    groups: &HashMap<i64, Group>,
    from: NodeFrom,
) -> (Option<String>, Option<String>) {
    let mut known: Vec<(i64, &Group)> =
        group_ids.iter().filter_map(|id| groups.get(id).map(|g| (*id, g))).collect();
    known.sort_by_key(|(id, g)| (!g.leaf, *id));
    known.dedup_by_key(|(id, _)| *id);
    let Some((_, chosen)) = known.first() else {
        let note = (!group_ids.is_empty()).then(|| format!("groups {group_ids:?} are not in the group tree"));
        return (None, note);
    };
    let name = match from {
        NodeFrom::Leaf => chosen.name.clone(),
        NodeFrom::Path => chosen.path.clone(),
    };
    let mut notes = Vec::new();
    if known.len() > 1 {
        let others: Vec<&str> = known[1..].iter().map(|(_, g)| g.path.as_str()).collect();
        notes.push(format!(
            "in {} groups: {} (used, lowest-id leaf), {}",
            known.len(),
            chosen.path,
            others.join(", ")
        ));
    }
    if let Err(e) = crate::validate::node("node", &name) {
        notes.push(format!("group {:?} cannot be a node ({e})", chosen.path));
        return (None, Some(notes.join("; ")));
    }
    (Some(name), (!notes.is_empty()).then(|| notes.join("; ")))
}

/// Spug's hosts and groups → inventory hosts.
pub fn to_inventory(
    hosts: Vec<SpugHost>,
    groups: &HashMap<i64, Group>,
    from: NodeFrom,
) -> Vec<InventoryHost> {
    hosts
        .into_iter()
        .map(|h| {
            let (node, mut note) = node_of(&h.group_ids, groups, from);
            if let Err(e) = crate::validate::display_host_name("name", h.name.trim()) {
                note = Some(
                    [note.as_deref(), Some(&format!("its name cannot be a host name ({e})"))]
                        .into_iter()
                        .flatten()
                        .collect::<Vec<_>>()
                        .join("; "),
                );
            }
            let management_ip = h.hostname.trim().parse::<IpAddr>().ok().map(|ip| ip.to_string());
            let mut other_ips: Vec<String> = h
                .private_ip_address
                .into_iter()
                .chain(h.public_ip_address)
                .flatten()
                .filter_map(|ip| ip.trim().parse::<IpAddr>().ok().map(|ip| ip.to_string()))
                .filter(|ip| Some(ip) != management_ip.as_ref())
                .collect();
            other_ips.sort();
            other_ips.dedup();
            InventoryHost {
                key: h.id.to_string(),
                ops_host_id: Some(h.id.to_string()),
                name: h.name.trim().to_owned(),
                management_ip,
                other_ips,
                mac: None,
                node,
                note,
            }
        })
        .collect()
}

/// A logged-in session with one Spug; keeps its token between passes (Spug's tokens slide for
/// 8 h) so a pass does not log in each time.
pub struct SpugClient {
    http: ureq::Agent,
    api_base: String,
    username: String,
    login_type: String,
    token: Option<String>,
}

impl SpugClient {
    pub fn new(settings: &InventorySettings) -> SpugClient {
        let http = ureq::Agent::config_builder()
            .timeout_global(Some(Duration::from_secs(settings.timeout_secs)))
            .http_status_as_error(false)
            .max_redirects(0)
            .user_agent(format!("pushagent-config/{}", env!("CARGO_PKG_VERSION")))
            .build()
            .into();
        SpugClient {
            http,
            api_base: settings.url.trim_end_matches('/').to_owned(),
            username: settings.username.clone(),
            login_type: settings.login_type.clone(),
            token: None,
        }
    }

    fn unreachable(&self, e: impl fmt::Display) -> SyncError {
        SyncError::Unreachable { url: self.api_base.clone(), message: e.to_string() }
    }

    /// Log in; keeps the token.
    pub fn login(&mut self, password: &Secret) -> Result<(), SyncError> {
        let body = serde_json::json!({
            "username": self.username, "password": password.expose(), "type": self.login_type,
        });
        let mut response = self
            .http
            .post(format!("{}{LOGIN_PATH}", self.api_base))
            .header("Content-Type", "application/json")
            .send(body.to_string().as_bytes())
            .map_err(|e| self.unreachable(e))?;
        let status = response.status().as_u16();
        let answer: Answer<LoginData> = parse(&mut response, LOGIN_PATH, status)?;
        if !answer.error.is_empty() {
            return Err(match answer.error.as_str() {
                e if e.contains("用户名或密码错误") => SyncError::WrongPassword(e.to_owned()),
                e if e.contains("禁用") => SyncError::AccountDisabled(e.to_owned()),
                e => SyncError::LoginRefused(e.to_owned()),
            });
        }
        match answer.data {
            Data::Value(LoginData { access_token: Some(token), .. }) if !token.is_empty() => {
                self.token = Some(token);
                Ok(())
            }
            Data::Value(LoginData { required_mfa: true, .. }) => Err(SyncError::LoginRefused(
                "the account needs a second factor (MFA): give the service an account without MFA".into(),
            )),
            _ => Err(SyncError::BadAnswer {
                path: LOGIN_PATH.into(),
                message: "no access_token in data".into(),
            }),
        }
    }

    /// GET `path` with the token; on 401 logs in again once (the token expired or was
    /// revoked); a 401 right after a fresh login is the IP binding.
    fn get<T: DeserializeOwned>(&mut self, path: &str, password: &Secret) -> Result<T, SyncError> {
        let mut fresh = false;
        if self.token.is_none() {
            self.login(password)?;
            fresh = true;
        }
        loop {
            let token = self.token.clone().unwrap_or_default();
            let mut response = self
                .http
                .get(format!("{}{path}", self.api_base))
                .header("X-Token", &token)
                .call()
                .map_err(|e| self.unreachable(e))?;
            let status = response.status().as_u16();
            if status == 401 {
                self.token = None;
                if fresh {
                    return Err(SyncError::TokenRefused);
                }
                log::info!("inventory: the platform's token expired; logging in again");
                self.login(password)?;
                fresh = true;
                continue;
            }
            let answer: Answer<T> = parse(&mut response, path, status)?;
            if !answer.error.is_empty() {
                return Err(SyncError::Answer { path: path.into(), message: answer.error });
            }
            return match answer.data {
                Data::Value(value) => Ok(value),
                Data::Empty => {
                    Err(SyncError::BadAnswer { path: path.into(), message: "data is empty".into() })
                }
            };
        }
    }

    /// One pull: groups, then hosts, as inventory hosts.
    pub fn fetch(&mut self, password: &Secret, from: NodeFrom) -> Result<Vec<InventoryHost>, SyncError> {
        let groups: GroupsData = self.get(GROUPS_PATH, password)?;
        let paths = group_paths(&groups.tree_data);
        let hosts: Vec<SpugHost> = self.get(HOSTS_PATH, password)?;
        Ok(to_inventory(hosts, &paths, from))
    }
}

/// Parse an answer as it streams (a key in a host is skipped, never buffered whole).
fn parse<T: DeserializeOwned>(
    response: &mut ureq::http::Response<ureq::Body>,
    path: &str,
    status: u16,
) -> Result<Answer<T>, SyncError> {
    let reader = BufReader::with_capacity(
        64 * 1024,
        response.body_mut().with_config().limit(MAX_ANSWER_BYTES).reader(),
    );
    serde_json::from_reader(reader).map_err(|e| SyncError::BadAnswer {
        path: path.into(),
        message: if (200..300).contains(&status) {
            format!("not Spug's JSON answer: {e}")
        } else {
            format!("HTTP {status}, not Spug's JSON answer: {e}")
        },
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn tree() -> HashMap<i64, Group> {
        // As Spug's GroupView builds it: children of 1 are 2 and 3; 4 is a top-level leaf.
        let data: GroupsData = serde_json::from_str(
            r#"{"treeData": [
                {"key": 1, "value": 1, "title": "华东", "children": [
                    {"key": 3, "value": 3, "title": "华东-联通", "children": []},
                    {"key": 2, "value": 2, "title": "华东-电信", "children": []}]},
                {"key": 4, "value": 4, "title": "Default", "children": []}],
              "groups": {"3": "华东/华东-联通", "2": "华东/华东-电信", "4": "Default"}}"#,
        )
        .unwrap();
        group_paths(&data.tree_data)
    }

    #[test]
    fn paths_come_from_the_tree_for_inner_groups_too() {
        let groups = tree();
        assert_eq!(groups[&3].path, "华东/华东-联通");
        assert_eq!(groups[&1], Group { name: "华东".into(), path: "华东".into(), leaf: false });
    }

    #[test]
    fn a_host_in_several_groups_gets_the_lowest_id_leaf_and_a_note() {
        let groups = tree();
        assert_eq!(node_of(&[3], &groups, NodeFrom::Leaf), (Some("华东-联通".into()), None));
        assert_eq!(node_of(&[3], &groups, NodeFrom::Path), (Some("华东/华东-联通".into()), None));
        let (node, note) = node_of(&[4, 1, 3, 2], &groups, NodeFrom::Leaf);
        assert_eq!(node.as_deref(), Some("华东-电信"), "leaf 2 before leaves 3, 4 and the inner group 1");
        assert!(note.unwrap().contains("in 4 groups"));
        assert_eq!(node_of(&[1], &groups, NodeFrom::Leaf).0.as_deref(), Some("华东"), "an inner group alone");
        let (node, note) = node_of(&[99], &groups, NodeFrom::Leaf);
        assert_eq!(node, None);
        assert!(note.unwrap().contains("not in the group tree"));
    }

    #[test]
    fn error_answers_have_an_empty_string_as_data() {
        let a: Answer<Vec<SpugHost>> = serde_json::from_str(r#"{"data": "", "error": "权限拒绝"}"#).unwrap();
        assert!(matches!(a.data, Data::Empty));
        assert_eq!(a.error, "权限拒绝");
    }
}
