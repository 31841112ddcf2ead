//! Checks of every value that comes from outside, each returning a message that names the field
//! and says what is wrong. Handlers call these before the store sees anything.

use pushagent_proto::agent::{
    HeartbeatRequest, HistoryBatch, MachineConfig, RegisterRequest, MAX_HISTORY_BATCH,
};

use crate::global::{ChannelKind, GlobalDoc};

pub type Invalid = String;

/// A MAC in any case with `:` or `-`; returns the canonical lower-case colon form.
pub fn mac(field: &str, text: &str) -> Result<String, Invalid> {
    let parts: Vec<&str> = text.split([':', '-']).collect();
    let ok =
        parts.len() == 6 && parts.iter().all(|p| p.len() == 2 && p.chars().all(|c| c.is_ascii_hexdigit()));
    if !ok {
        return Err(format!("{field}: {:?} is not a MAC address like aa:bb:cc:dd:ee:ff", shorten(text)));
    }
    let canonical = parts.join(":").to_ascii_lowercase();
    if canonical == "00:00:00:00:00:00" || canonical == "ff:ff:ff:ff:ff:ff" {
        return Err(format!("{field}: {canonical} is not a usable interface MAC"));
    }
    Ok(canonical)
}

/// A Linux interface name, by the agent's own rule (`proto::check::interface_name`).
pub fn interface(field: &str, name: &str) -> Result<(), Invalid> {
    pushagent_proto::check::interface_name(name)
        .map_err(|why| format!("{field}: {:?} is not an interface name: {why}", shorten(name)))
}

/// A host name (RFC 1123): dot-separated labels of letters, digits and '-'.
pub fn hostname(field: &str, name: &str) -> Result<(), Invalid> {
    let ok = !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        });
    if ok {
        Ok(())
    } else {
        Err(format!("{field}: {:?} is not a host name (letters, digits, '-' and '.')", shorten(name)))
    }
}

/// /etc/machine-id or the like: 1..=64 of letters, digits, '-', '_'.
pub fn machine_uid(field: &str, id: &str) -> Result<(), Invalid> {
    token_like(field, id, 64, "a machine id (1-64 of letters, digits, '-', '_')")
}

pub fn agent_version(field: &str, version: &str) -> Result<(), Invalid> {
    let ok = !version.is_empty()
        && version.len() <= 64
        && version.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '+' | '_'));
    if ok {
        Ok(())
    } else {
        Err(format!("{field}: {:?} is not a version like 0.1.0", shorten(version)))
    }
}

/// A node/group name: the rule the agent's `[identity] node` follows too.
pub fn node(field: &str, node: &str) -> Result<(), Invalid> {
    pushagent_proto::identity::check_node(field, node)
}

/// A host name as shown (主机名称, any script): the rule of the agent's `[identity] host_name`.
pub fn display_host_name(field: &str, name: &str) -> Result<(), Invalid> {
    pushagent_proto::identity::check_host_name(field, name)
}

/// An offset in basis points (`proto::check::offset_bp`).
pub fn offset_bp(field: &str, bp: i32) -> Result<(), Invalid> {
    pushagent_proto::check::offset_bp(field, bp).map_err(|e| e.to_string())
}

/// A machine's config values as the agent checks them (`MachineConfig::validate`).
pub fn machine_config(config: &MachineConfig) -> Result<(), Invalid> {
    config.validate().map_err(|e| e.to_string())
}

/// `YYYYMMDDHH`, a real calendar hour.
pub fn flux_hour(field: &str, hour: &str) -> Result<(), Invalid> {
    let ok = hour.len() == 10
        && hour.chars().all(|c| c.is_ascii_digit())
        && chrono::NaiveDateTime::parse_from_str(&format!("{hour}0000"), "%Y%m%d%H%M%S").is_ok();
    if ok {
        Ok(())
    } else {
        Err(format!("{field}: {:?} is not an hour YYYYMMDDHH", shorten(hour)))
    }
}

/// Free text from an agent (error messages): at most `max` characters, no NUL.
pub fn text(field: &str, text: &str, max: usize) -> Result<(), Invalid> {
    if text.chars().count() > max || text.contains('\0') {
        Err(format!("{field}: at most {max} characters, no NUL"))
    } else {
        Ok(())
    }
}

/// A reason or switch code from an agent (`switched_off`, `machine`): 1-32 of a-z, 0-9, '_'.
/// Codes this service does not know are kept as sent (a newer agent may send new ones).
fn code(field: &str, text: &str) -> Result<(), Invalid> {
    let ok = !text.is_empty()
        && text.len() <= 32
        && text.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if ok {
        Ok(())
    } else {
        Err(format!("{field}: {:?} is not a code (1-32 of a-z, 0-9, '_')", shorten(text)))
    }
}

fn token_like(field: &str, text: &str, max: usize, what: &str) -> Result<(), Invalid> {
    let ok = !text.is_empty()
        && text.len() <= max
        && text.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if ok {
        Ok(())
    } else {
        Err(format!("{field}: {:?} is not {what}", shorten(text)))
    }
}

/// SQLite integers are signed 64-bit.
fn bytes(field: &str, value: u64) -> Result<(), Invalid> {
    if i64::try_from(value).is_ok() {
        Ok(())
    } else {
        Err(format!("{field}: {value} is larger than 2^63-1 bytes"))
    }
}

fn shorten(text: &str) -> String {
    text.chars().take(80).collect()
}

pub fn register(req: &RegisterRequest) -> Result<String, Invalid> {
    machine_uid("machine_id", &req.machine_id)?;
    hostname("hostname", &req.hostname)?;
    agent_version("agent_version", &req.agent_version)?;
    if let Some(iface) = &req.facts.interface {
        interface("facts.interface.name", &iface.name)?;
    }
    req.identity.check("identity")?;
    mac("mac", &req.mac)
}

pub fn heartbeat(req: &HeartbeatRequest) -> Result<String, Invalid> {
    agent_version("agent_version", &req.agent_version)?;
    hostname("hostname", &req.hostname)?;
    interface("chosen_interface", &req.chosen_interface)?;
    if req.interfaces.len() > 256 {
        return Err("interfaces: at most 256".into());
    }
    for (i, iface) in req.interfaces.iter().enumerate() {
        interface(&format!("interfaces[{i}].name"), &iface.name)?;
        if let Some(m) = &iface.mac {
            mac(&format!("interfaces[{i}].mac"), m)?;
        }
    }
    if let Some(last) = &req.last_push {
        flux_hour("last_push.flux_hour", &last.flux_hour)?;
        if let Some(m) = &last.message {
            text("last_push.message", m, 2000)?;
        }
    }
    if let Some(iface) = req.facts.as_ref().and_then(|f| f.interface.as_ref()) {
        interface("facts.interface.name", &iface.name)?;
    }
    if let Some(tz) = &req.report_timezone {
        crate::settings::parse_report_timezone(tz)?;
    }
    req.identity.check("identity")?;
    if let Some(health) = &req.health {
        crate::health::validate(health)?;
    }
    mac("mac", &req.mac)
}

/// Checks the batch and returns it with canonical MACs.
pub fn history(mut batch: HistoryBatch) -> Result<HistoryBatch, Invalid> {
    let count = batch.len();
    if count > MAX_HISTORY_BATCH {
        return Err(format!("a batch holds at most {MAX_HISTORY_BATCH} items, this one {count}"));
    }
    for (i, item) in batch.pushes.iter_mut().enumerate() {
        let at = |f: &str| format!("pushes[{i}].{f}");
        item.mac = mac(&at("mac"), &item.mac)?;
        flux_hour(&at("flux_hour"), &item.flux_hour)?;
        if item.version == 0 || item.attempt == 0 {
            return Err(format!("pushes[{i}]: version and attempt start at 1"));
        }
        offset_bp(&at("offset_bp"), item.offset_bp)?;
        pushagent_proto::offset::check_fixed_bytes(&at("offset_fixed_bytes"), item.offset_fixed_bytes)
            .map_err(|e| e.to_string())?;
        for (name, total, points) in
            [("raw", item.raw_bytes, &item.raw_points), ("pushed", item.pushed_bytes, &item.pushed_points)]
        {
            bytes(&at(&format!("{name}_bytes")), total)?;
            let sum = points.iter().try_fold(0u64, |acc, p| acc.checked_add(*p));
            if sum != Some(total) {
                return Err(format!("pushes[{i}].{name}_bytes {total} is not the sum of {name}_points"));
            }
        }
        if let Some(m) = &item.message {
            text(&at("message"), m, 2000)?;
        }
    }
    for (i, item) in batch.verifications.iter_mut().enumerate() {
        item.mac = mac(&format!("verifications[{i}].mac"), &item.mac)?;
        flux_hour(&format!("verifications[{i}].flux_hour"), &item.flux_hour)?;
        if let Some(m) = &item.message {
            text(&format!("verifications[{i}].message"), m, 2000)?;
        }
        // Outcomes this service does not know are kept as sent (a newer agent may add some).
        if let Some(state) = &item.state {
            code(&format!("verifications[{i}].state"), state)?;
        }
        for (j, point) in item.customer_points.iter().flatten().enumerate() {
            bytes(&format!("verifications[{i}].customer_points[{j}]"), *point)?;
        }
    }
    for (i, item) in batch.held.iter_mut().enumerate() {
        item.mac = mac(&format!("held[{i}].mac"), &item.mac)?;
        flux_hour(&format!("held[{i}].flux_hour"), &item.flux_hour)?;
        text(&format!("held[{i}].reason"), &item.reason, 2000)?;
    }
    for (i, item) in batch.skipped.iter_mut().enumerate() {
        let at = |f: &str| format!("skipped[{i}].{f}");
        item.mac = mac(&at("mac"), &item.mac)?;
        flux_hour(&at("flux_hour"), &item.flux_hour)?;
        code(&at("reason"), &item.reason)?;
        if item.switches.len() > 8 {
            return Err(format!("skipped[{i}].switches: at most 8"));
        }
        for (j, switch) in item.switches.iter().enumerate() {
            code(&format!("skipped[{i}].switches[{j}]"), switch)?;
        }
        bytes(&at("raw_bytes"), item.raw_bytes)?;
        if item.decided_at < 0 {
            return Err(format!("skipped[{i}].decided_at: {} is before 1970", item.decided_at));
        }
    }
    Ok(batch)
}

pub fn global(doc: &GlobalDoc) -> Result<(), Invalid> {
    // Everything the agents get, checked by the agent's own functions (proto): the service
    // never stores what an agent would refuse.
    doc.to_wire(0).validate().map_err(|e| e.to_string())?;
    let alerts = &doc.alerts;
    if alerts.failure_threshold == 0 || alerts.offline_periods == 0 {
        return Err("alerts.failure_threshold and alerts.offline_periods are at least 1".into());
    }
    if alerts.storm_percent > 100 {
        return Err("alerts.storm_percent: 0 to 100".into());
    }
    if alerts.push_held_after_hours > 24 * 366 {
        return Err("alerts.push_held_after_hours: 0 (never) to 8784 (a year)".into());
    }
    if !matches!(alerts.language.as_str(), "zh" | "en") {
        return Err("alerts.language: \"zh\" or \"en\"".into());
    }
    let mut names = std::collections::BTreeSet::new();
    for (i, channel) in alerts.channels.iter().enumerate() {
        node(&format!("alerts.channels[{i}].name"), &channel.name)?;
        if !names.insert(&channel.name) {
            return Err(format!("alerts.channels[{i}].name: {:?} is used twice", channel.name));
        }
        if !(channel.url.starts_with("http://") || channel.url.starts_with("https://")) {
            return Err(format!("alerts.channels[{i}].url: not an http(s) URL"));
        }
        if matches!(channel.kind, ChannelKind::Dingtalk | ChannelKind::Feishu)
            && channel.secret.as_deref().is_some_and(str::is_empty)
        {
            return Err(format!("alerts.channels[{i}].secret: empty; leave it out for unsigned robots"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn macs_are_canonical_or_refused() {
        assert_eq!(mac("m", "AA-BB-CC-DD-EE-0F").as_deref(), Ok("aa:bb:cc:dd:ee:0f"));
        for bad in ["", "aa:bb:cc:dd:ee", "aa:bb:cc:dd:ee:gg", "00:00:00:00:00:00", "aabbccddeeff0"] {
            assert!(mac("m", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn interface_names_cannot_walk_paths() {
        assert!(interface("i", "eth0").is_ok());
        assert!(interface("i", "enp3s0f1").is_ok());
        for bad in ["", "../etc", "a/b", "..", ".", "eth0 ", "averyveryverylongname", "eth0:1", "e\0"] {
            assert!(interface("i", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn offsets_are_above_minus_100_and_at_most_1000_percent() {
        assert!(offset_bp("o", -9_999).is_ok());
        assert!(offset_bp("o", 100_000).is_ok());
        assert!(offset_bp("o", -10_000).is_err());
        assert!(offset_bp("o", 100_001).is_err());
    }

    #[test]
    fn sql_looking_host_names_are_refused() {
        assert!(hostname("h", "web-01.example.com").is_ok());
        assert!(hostname("h", "x'; DROP TABLE machines; --").is_err());
    }
}
