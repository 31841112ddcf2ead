//! The collected interface as sysfs describes it: MAC (the report identity), speed, duplex,
//! driver, MTU and state. Read here rather than through `netif` so facts stay usable (and
//! testable) on their own; the values follow the same sysfs rules.

use serde::{Deserialize, Serialize};

use super::read::Reader;

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
    if let Err(why) = check_interface_name(name) {
        reader.note(&format!("interface {name:?}"), why);
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

/// A name that is one path component under sys/class/net (the kernel allows 15 bytes).
pub fn check_interface_name(name: &str) -> Result<(), String> {
    let bad = name.is_empty()
        || name.len() > 15
        || name == "."
        || name == ".."
        || name.chars().any(|c| c == '/' || c.is_whitespace() || c.is_control());
    if bad {
        return Err("not an interface name".into());
    }
    Ok(())
}

/// Hex octets separated by colons (6 for Ethernet, 20 for InfiniBand), in lower case.
pub fn parse_mac(text: &str) -> Result<String, String> {
    let mac = text.trim().to_ascii_lowercase();
    let octets_ok =
        mac.split(':').all(|octet| octet.len() == 2 && octet.chars().all(|c| c.is_ascii_hexdigit()));
    if mac.split(':').count() < 6 || !octets_ok {
        return Err(format!("{mac:?} is not a MAC address"));
    }
    if mac.chars().all(|c| c == '0' || c == ':') {
        return Err("all-zero address".into());
    }
    Ok(mac)
}

/// Mb/s; the kernel prints -1 (SPEED_UNKNOWN) when it has none. Older drivers printed the
/// unsigned forms 65535 and 4294967295 for the same thing.
pub fn parse_speed_mbps(text: &str) -> Result<Option<u32>, String> {
    let value = text.trim();
    let speed: i64 = value.parse().map_err(|_| format!("{value:?} is not a number"))?;
    match speed {
        i64::MIN..=0 | 65535 | 4294967295 => Ok(None),
        _ => u32::try_from(speed).map(Some).map_err(|_| format!("{speed} is out of range")),
    }
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
    fn mac_is_lower_case_colon_form_and_never_all_zero() {
        // Captured from this machine's eth0 (virtio_net), 2026-11-24.
        assert_eq!(parse_mac("02:fc:00:00:00:01\n"), Ok("02:fc:00:00:00:01".to_string()));
        assert_eq!(parse_mac("A0:36:9F:1C:2B:3E\n"), Ok("a0:36:9f:1c:2b:3e".to_string()));
        assert!(parse_mac("00:00:00:00:00:00\n").is_err());
        assert!(parse_mac("\n").is_err());
        assert!(parse_mac("a0:36:9f:1c:2b\n").is_err());
        assert!(parse_mac("a0-36-9f-1c-2b-3e\n").is_err());
    }

    #[test]
    fn unknown_speed_is_none_not_a_huge_number() {
        assert_eq!(parse_speed_mbps("10000\n"), Ok(Some(10000)));
        assert_eq!(parse_speed_mbps("-1\n"), Ok(None));
        assert_eq!(parse_speed_mbps("65535\n"), Ok(None));
        assert_eq!(parse_speed_mbps("4294967295\n"), Ok(None));
        assert!(parse_speed_mbps("fast\n").is_err());
    }

    #[test]
    fn duplex_unknown_is_none() {
        assert_eq!(parse_duplex("full\n"), Ok(Some("full".to_string())));
        assert_eq!(parse_duplex("unknown\n"), Ok(None));
        assert!(parse_duplex("\u{0}\u{1}").is_err());
    }

    #[test]
    fn interface_names_cannot_leave_sys_class_net() {
        assert!(check_interface_name("eno1").is_ok());
        assert!(check_interface_name("bond0.100").is_ok());
        assert!(check_interface_name("..").is_err());
        assert!(check_interface_name("../../etc").is_err());
        assert!(check_interface_name("").is_err());
        assert!(check_interface_name("averyveryverylongname").is_err());
    }
}
