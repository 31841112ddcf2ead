//! `[identity]`: who the provider's ops platform says this machine is. deploy.sh writes it from
//! Spug's `SPUG_HOST_*` variables; the agent sends it to the config service (host name and node
//! there) and collects the physical NIC that holds `management_ip`. Checked by the same
//! functions the service uses (`pushagent_proto::identity`).

use std::net::IpAddr;

use pushagent_proto::identity::{self as rules, Identity};
use serde::{Deserialize, Deserializer};

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct IdentitySettings {
    /// The machine's id in the ops platform (Spug `SPUG_HOST_ID`).
    #[serde(deserialize_with = "ops_host_id")]
    pub ops_host_id: Option<String>,
    /// The platform's host name (Spug `SPUG_HOST_NAME`): the service's 主机名称.
    #[serde(deserialize_with = "host_name")]
    pub host_name: Option<String>,
    /// The address the platform reaches this machine by: the NIC holding it is collected.
    #[serde(deserialize_with = "management_ip")]
    pub management_ip: Option<IpAddr>,
    /// The node (节点名称), the platform's host group.
    #[serde(deserialize_with = "node")]
    pub node: Option<String>,
}

impl IdentitySettings {
    /// As sent to the config service.
    pub fn to_wire(&self) -> Identity {
        Identity {
            ops_host_id: self.ops_host_id.clone(),
            host_name: self.host_name.clone(),
            management_ip: self.management_ip.map(|ip| ip.to_string()),
            node: self.node.clone(),
        }
    }
}

fn checked<'de, D: Deserializer<'de>>(
    d: D,
    check: fn(&str, &str) -> Result<(), String>,
    key: &str,
) -> Result<Option<String>, D::Error> {
    let text = String::deserialize(d)?;
    check(key, &text).map_err(serde::de::Error::custom)?;
    Ok(Some(text))
}

fn ops_host_id<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    checked(d, rules::check_ops_host_id, "ops_host_id")
}

fn host_name<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    checked(d, rules::check_host_name, "host_name")
}

fn node<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    checked(d, rules::check_node, "node")
}

fn management_ip<'de, D: Deserializer<'de>>(d: D) -> Result<Option<IpAddr>, D::Error> {
    let text = String::deserialize(d)?;
    rules::check_management_ip("management_ip", &text).map(Some).map_err(serde::de::Error::custom)
}
