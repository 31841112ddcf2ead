//! Who the provider's ops platform says a machine is: the agent's `[identity]` config (written
//! by deploy.sh from Spug's `SPUG_HOST_*` variables), sent in registration and heartbeats. The
//! checks here are the only ones: the agent checks its config with them, the service the
//! requests, the console's API the operator's input.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

/// Longest host name (the platform's 主机名称) and node (its host group, or a group path).
pub const MAX_NAME_CHARS: usize = 128;
/// Longest ops platform host id (Spug's are integers).
pub const MAX_OPS_HOST_ID_CHARS: usize = 64;

/// Every field is optional: an agent without an ops platform sends none (and an agent older
/// than this type sends no `identity` at all, which reads as all `None`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Identity {
    /// The machine's id in the ops platform (Spug `SPUG_HOST_ID`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ops_host_id: Option<String>,
    /// The host name the platform shows (Spug `SPUG_HOST_NAME`): the service's 主机名称.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host_name: Option<String>,
    /// The address the platform reaches the machine by (Spug `SPUG_HOST_HOSTNAME`, resolved):
    /// the agent collects the physical NIC that holds it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub management_ip: Option<String>,
    /// The node (节点名称): the platform's host group.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
}

impl Identity {
    pub fn is_empty(&self) -> bool {
        self == &Identity::default()
    }

    /// Checks every field that is set; the error names the field as `{prefix}.{field}`.
    pub fn check(&self, prefix: &str) -> Result<(), String> {
        if let Some(id) = &self.ops_host_id {
            check_ops_host_id(&format!("{prefix}.ops_host_id"), id)?;
        }
        if let Some(name) = &self.host_name {
            check_host_name(&format!("{prefix}.host_name"), name)?;
        }
        if let Some(ip) = &self.management_ip {
            check_management_ip(&format!("{prefix}.management_ip"), ip)?;
        }
        if let Some(node) = &self.node {
            check_node(&format!("{prefix}.node"), node)?;
        }
        Ok(())
    }
}

/// 1-64 of letters, digits, `-`, `_`, `.`, `:`.
pub fn check_ops_host_id(field: &str, id: &str) -> Result<(), String> {
    let ok = !id.is_empty()
        && id.chars().count() <= MAX_OPS_HOST_ID_CHARS
        && id.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':'));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{field}: {:?} is not an ops host id (1-{MAX_OPS_HOST_ID_CHARS} of letters, digits, '-', '_', '.', ':')",
            shorten(id)
        ))
    }
}

/// A display name (any script, spaces inside): 1-128 characters, no control characters, not
/// blank, no leading or trailing space.
pub fn check_host_name(field: &str, name: &str) -> Result<(), String> {
    printable_name(field, name, "a host name")
}

/// A node (group) name, or a group path like `华北/北京`: the same rule as a host name.
pub fn check_node(field: &str, node: &str) -> Result<(), String> {
    printable_name(field, node, "a node name")
}

/// An IPv4 or IPv6 address literal (no port, no prefix length, no DNS name).
pub fn check_management_ip(field: &str, text: &str) -> Result<IpAddr, String> {
    text.parse::<IpAddr>().map_err(|_| {
        format!("{field}: {:?} is not an IP address like 203.0.113.10 or 2001:db8::10", shorten(text))
    })
}

fn printable_name(field: &str, text: &str, what: &str) -> Result<(), String> {
    let ok = !text.trim().is_empty()
        && text.trim() == text
        && text.chars().count() <= MAX_NAME_CHARS
        && !text.chars().any(char::is_control);
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{field}: {:?} is not {what} (1-{MAX_NAME_CHARS} printable characters, no leading or trailing space)",
            shorten(text)
        ))
    }
}

fn shorten(text: &str) -> String {
    text.chars().take(80).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spug_values_pass_and_bad_ones_name_their_field() {
        let spug = Identity {
            ops_host_id: Some("42".into()),
            host_name: Some("北京-电信-web 01".into()),
            management_ip: Some("203.0.113.10".into()),
            node: Some("华北/北京".into()),
        };
        spug.check("identity").expect("spug values");
        let e = Identity { management_ip: Some("web01.example.com".into()), ..Identity::default() }
            .check("identity")
            .expect_err("a DNS name is not an address");
        assert!(e.starts_with("identity.management_ip:"), "{e}");
        let e = Identity { host_name: Some("a\nb".into()), ..Identity::default() }
            .check("identity")
            .expect_err("newline");
        assert!(e.starts_with("identity.host_name:"), "{e}");
        assert!(check_ops_host_id("f", "1;rm").is_err());
        assert!(check_node("f", " padded").is_err());
        assert!(check_node("f", &"x".repeat(MAX_NAME_CHARS + 1)).is_err());
        assert!(check_management_ip("f", "2001:db8::10").is_ok());
    }

    #[test]
    fn an_empty_identity_is_not_sent() {
        let text = serde_json::to_string(&Identity::default()).expect("json");
        assert_eq!(text, "{}");
        let back: Identity = serde_json::from_str("{}").expect("read");
        assert!(back.is_empty());
    }
}
