//! Who this host is: host name, machine-id (stable across reboots) and boot id (new each boot).

use super::read::Reader;
use crate::netif::parse;

pub(super) struct Identity {
    pub hostname: Option<String>,
    pub machine_id: Option<String>,
    pub boot_id: Option<String>,
}

/// Where systemd keeps the machine-id, then where dbus kept it before systemd (CentOS 6).
const MACHINE_ID_PATHS: [&str; 2] = ["etc/machine-id", "var/lib/dbus/machine-id"];

pub(super) fn read(reader: &mut Reader) -> Identity {
    Identity {
        hostname: reader.parsed("hostname", "proc/sys/kernel/hostname", parse_hostname),
        machine_id: read_machine_id(reader),
        boot_id: reader.parsed("boot_id", "proc/sys/kernel/random/boot_id", |text| {
            parse::parse_boot_id(text).map_err(|parse::ParseError(why)| why)
        }),
    }
}

fn read_machine_id(reader: &mut Reader) -> Option<String> {
    let mut failures = Vec::new();
    for rel in MACHINE_ID_PATHS {
        match reader.try_text(rel) {
            Ok(text) => match parse_machine_id(&text) {
                Ok(id) => return Some(id),
                Err(why) => failures.push(format!("{why} ({rel})")),
            },
            Err(err) => failures.push(err.to_string()),
        }
    }
    reader.note("machine_id", failures.join("; "));
    None
}

/// /proc/sys/kernel/hostname: one line, no blanks or control characters.
pub fn parse_hostname(text: &str) -> Result<String, String> {
    let name = text.trim();
    if name.is_empty() {
        return Err("empty".into());
    }
    if name.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("not a host name".into());
    }
    Ok(name.to_string())
}

/// 32 hex digits (machine-id(5)); "uninitialized" while the first boot has not finished.
pub fn parse_machine_id(text: &str) -> Result<String, String> {
    let id = text.trim();
    if id == "uninitialized" {
        return Err("uninitialized (first boot not finished)".into());
    }
    if id.len() != 32 || !id.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err("not 32 hex digits".into());
    }
    if id.chars().all(|c| c == '0') {
        return Err("all zeros".into());
    }
    Ok(id.to_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_name_is_one_trimmed_word() {
        assert_eq!(parse_hostname("vm\n"), Ok("vm".to_string()));
        assert!(parse_hostname("\n").is_err());
        assert!(parse_hostname("two words\n").is_err());
    }

    #[test]
    fn machine_id_is_32_hex_digits_in_lower_case() {
        // Captured from this machine (Linux vm 6.18.44 x86_64, Debian 12), 2026-11-24.
        assert_eq!(
            parse_machine_id("3d1219c7c4c5404aaa1f6d2a48adfda4\n"),
            Ok("3d1219c7c4c5404aaa1f6d2a48adfda4".to_string())
        );
        assert_eq!(
            parse_machine_id("3D1219C7C4C5404AAA1F6D2A48ADFDA4"),
            Ok("3d1219c7c4c5404aaa1f6d2a48adfda4".to_string())
        );
        assert!(parse_machine_id("uninitialized\n").is_err());
        assert!(parse_machine_id("").is_err());
        assert!(parse_machine_id("00000000000000000000000000000000").is_err());
        assert!(parse_machine_id("3d1219c7-c4c5-404a-aa1f-6d2a48adfda4").is_err());
    }
}
