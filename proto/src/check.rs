//! The ONE check of the machine and global config values that are not the customer profile's
//! (interface names, node names, offsets, ids), used by the agent and the config service.

use crate::agent::{GlobalConfig, MachineConfig};
use crate::profile::{self, Checked, FieldError};

/// A Linux interface name as the kernel allows it, safe to join into a /sys path.
pub fn interface_name(name: &str) -> Result<(), &'static str> {
    if name.is_empty() {
        return Err("empty name");
    }
    if name.len() > 15 {
        return Err("longer than 15 bytes");
    }
    if name == "." || name == ".." || name.contains("..") {
        return Err("contains \"..\" or is \".\"");
    }
    if name.contains('/') {
        return Err("contains '/'");
    }
    if name.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("contains whitespace or control characters");
    }
    if name.contains(':') {
        // "eth0:1" is an address label, not an interface; the kernel refuses ':' in names.
        return Err("contains ':' (an address alias, not an interface)");
    }
    Ok(())
}

/// Most corrections (version raises because the customer's copy differed or conflicted) the
/// agent makes for one hour before it holds the hour as `correction_failed` for an operator.
pub const MAX_CORRECTIONS_RANGE: std::ops::RangeInclusive<u32> = 1..=20;
pub const MAX_CORRECTIONS_DEFAULT: u32 = 3;

/// `max_corrections_per_hour`: 1..=20 (0 would never correct, more is a storm at the customer).
pub fn max_corrections_per_hour(n: u32) -> Result<(), String> {
    if MAX_CORRECTIONS_RANGE.contains(&n) {
        Ok(())
    } else {
        Err(format!(
            "max_corrections_per_hour must be between {} and {}, got {n}",
            MAX_CORRECTIONS_RANGE.start(),
            MAX_CORRECTIONS_RANGE.end()
        ))
    }
}

/// A node/group name: the rule of the agent's `[identity] node` (`identity::check_node`).
pub fn node_name(field: &str, node: &str) -> Checked {
    crate::identity::check_node(field, node).map_err(|message| {
        let why = message.strip_prefix(&format!("{field}: ")).unwrap_or(&message).to_string();
        FieldError::new(field, why)
    })
}

/// How often agents heartbeat (the config service's `heartbeat_interval_secs`, which it sends
/// in every register and heartbeat answer and agents follow): 5 s to 1 h.
pub const HEARTBEAT_INTERVAL_SECS: std::ops::RangeInclusive<u64> = 5..=3600;

/// The heartbeat period, as the service stores it and the agent takes it.
pub fn heartbeat_interval_secs(field: &str, secs: u64) -> Checked {
    if HEARTBEAT_INTERVAL_SECS.contains(&secs) {
        Ok(())
    } else {
        Err(FieldError::new(
            field,
            format!(
                "must be between {} and {} seconds, got {secs}",
                HEARTBEAT_INTERVAL_SECS.start(),
                HEARTBEAT_INTERVAL_SECS.end()
            ),
        ))
    }
}

/// An offset in basis points (`offset::check_bp`).
pub fn offset_bp(field: &str, bp: i32) -> Checked {
    crate::offset::check_bp(field, bp)
}

impl MachineConfig {
    /// Every value, as the agent checks it.
    pub fn validate(&self) -> Checked {
        if let Some(name) = &self.interface {
            interface_name(name).map_err(|why| {
                FieldError::new("interface", format!("{:?} is not an interface name: {why}", clip(name)))
            })?;
        }
        let (node, machine) = self.offset_levels();
        machine.validate()?;
        node.validate().map_err(|e| FieldError::new(format!("node_{}", e.field), e.message))?;
        if let Some(node) = &self.node {
            node_name("node", node)?;
        }
        if let Some(id) = self.isp_id {
            profile::id_number("isp_id", id)?;
        }
        if let Some(id) = self.device_type {
            profile::id_number("device_type", id)?;
        }
        Ok(())
    }
}

impl GlobalConfig {
    /// Every value, as the agent checks it (with the machine's id overrides, when known).
    pub fn validate(&self) -> Checked {
        self.customer.validate()?;
        profile::record_ids(
            self.customer.encoding,
            &self.customer.line.separator,
            &self.provider_id,
            &self.provider_uiid,
            self.isp_id,
            self.device_type,
        )?;
        self.offset_level().validate()
    }
}

fn clip(text: &str) -> String {
    text.chars().take(80).collect()
}
