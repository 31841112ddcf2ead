//! The collected interface as sysfs describes it: MAC (the report identity), speed, duplex,
//! driver, MTU and state. Read here through `Reader`, so each file that cannot be read is
//! named in `unreadable`, and parsed by the same `netif::parse` functions the interface
//! choice uses (name check, MAC, speed).

use serde::{Deserialize, Serialize};

use super::read::Reader;
use crate::netif::parse::{self, ParseError};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InterfaceFacts {
    pub name: String,
    /// Permanent MAC (a bond port's `bonding_slave/perm_hwaddr`) else `address`; lower-case
    /// colon form.
    pub mac: Option<String>,
    /// None when the kernel reports no speed (-1: virtual NIC, link down).
    pub speed_mbps: Option<u32>,
    /// "full" or "half"; None when unknown.
    pub duplex: Option<String>,
    /// Kernel driver name, e.g. "ixgbe", "virtio_net".
    pub driver: Option<String>,
    pub mtu: Option<u32>,
    /// RFC 2863 state as the kernel prints it: "up", "down", "unknown", ...
    pub operstate: Option<String>,
}

pub(super) fn read(reader: &mut Reader, name: &str) -> InterfaceFacts {
    let mut facts = InterfaceFacts {
        name: name.to_string(),
        mac: None,
        speed_mbps: None,
        duplex: None,
        driver: None,
        mtu: None,
        operstate: None,
    };
    let what = |attr: &str| format!("interface {name} {attr}");
    if let Err(why) = parse::validate_ifname(name) {
        reader.note(&format!("interface {name:?}"), format_args!("not an interface name ({why})"));
        return facts;
    }
    let dir = format!("sys/class/net/{name}");
    if !reader.exists(&dir) {
        reader.note(&format!("interface {name}"), format_args!("does not exist ({dir})"));
        return facts;
    }
    let perm_hwaddr = format!("{dir}/bonding_slave/perm_hwaddr");
    facts.mac = match reader.parsed_if_present(&what("perm_hwaddr"), &perm_hwaddr, parse_mac) {
        Some(mac) => Some(mac),
        None => reader.parsed(&what("mac"), &format!("{dir}/address"), parse_mac),
    };
    facts.speed_mbps = reader.parsed(&what("speed"), &format!("{dir}/speed"), parse_speed_mbps).flatten();
    facts.duplex = reader.parsed(&what("duplex"), &format!("{dir}/duplex"), parse_duplex).flatten();
    facts.driver = match reader.link_basename(&format!("{dir}/device/driver")) {
        Ok(driver) => Some(driver),
        Err(err) if err.is_not_found() && !reader.exists(&format!("{dir}/device")) => {
            reader.note(&what("driver"), format_args!("no device (virtual interface?) ({dir})"));
            None
        }
        Err(err) => {
            reader.note(&what("driver"), err);
            None
        }
    };
    facts.mtu = reader.parsed(&what("mtu"), &format!("{dir}/mtu"), parse_u32);
    facts.operstate = reader.parsed(&what("operstate"), &format!("{dir}/operstate"), parse_word);
    facts
}

/// Any link type's hardware address (6 octets for Ethernet, 20 for InfiniBand).
fn parse_mac(text: &str) -> Result<String, String> {
    parse::normalise_hw_address(text).map_err(|ParseError(why)| why)
}

fn parse_speed_mbps(text: &str) -> Result<Option<u32>, String> {
    parse::parse_speed_mbps(text).map_err(|ParseError(why)| why)
}

pub fn parse_duplex(text: &str) -> Result<Option<String>, String> {
    match text.trim() {
        "full" => Ok(Some("full".into())),
        "half" => Ok(Some("half".into())),
        "unknown" => Ok(None),
        other => Err(format!("{other:?} is not a duplex")),
    }
}

fn parse_u32(text: &str) -> Result<u32, String> {
    let value = text.trim();
    value.parse().map_err(|_| format!("{value:?} is not a number"))
}

/// One lower-case word, as operstate is.
fn parse_word(text: &str) -> Result<String, String> {
    let word = text.trim();
    if word.is_empty() || !word.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
        return Err(format!("{word:?} is not a state"));
    }
    Ok(word.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duplex_unknown_is_none() {
        assert_eq!(parse_duplex("full\n"), Ok(Some("full".to_string())));
        assert_eq!(parse_duplex("unknown\n"), Ok(None));
        assert!(parse_duplex("\u{0}\u{1}").is_err());
    }
}
