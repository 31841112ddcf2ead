//! The effective config: the local file, overlaid with what the config service says. Pure.
//!
//! Rules: the service's global config supplies the customer profile, our ids, the global
//! offset, the billed direction and the global switch; the machine config supplies this
//! machine's switch, offset (replacing the global one), interface and isp/device overrides.
//! Pushing happens only when the local switch, the global switch and the machine switch are
//! all on. Timeouts, proxy, state and sampling settings stay local. Every value from the
//! service is checked exactly like the same value in the file; one bad value rejects the
//! whole update (the previous effective config stays).

use serde::{Deserialize, Serialize};

use pushagent_proto::agent::{self, GlobalConfig, MachineConfig};
use pushagent_proto::profile::FieldError;

use crate::config::{AgentConfig, MacFormat, Offset, Secret};

/// What the service last sent, cached on disk so a restart with the service down still runs
/// with it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceConfig {
    pub machine: MachineConfig,
    pub global: GlobalConfig,
}

fn offset(bp: i32) -> Offset {
    Offset { basis_points: i64::from(bp) }
}

/// A service config the agent refuses: which key (as the service names it) and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{key}: {why}")]
pub struct Refused {
    pub key: String,
    pub why: String,
}

/// A refusal of the shared checks (`proto::check`, `proto::profile`), which name the field.
fn refused(e: FieldError) -> Refused {
    Refused { key: e.field, why: e.message }
}

pub fn effective(local: &AgentConfig, service: &ServiceConfig) -> Result<AgentConfig, Refused> {
    let g = &service.global;
    let m = &service.machine;
    let c = &g.customer;
    // The same checks the service ran before storing these values (proto::check, ::profile).
    g.validate().map_err(refused)?;
    m.validate().map_err(|e| refused(e.within("machine")))?;
    let mac_format = MacFormat::parse("customer.mac_format", &c.mac_format).map_err(refused)?;
    let mut out = local.clone();
    out.customer.base_url = c.base_url.clone();
    out.customer.report_path = c.report_path.clone();
    out.customer.query_path = c.query_path.clone();
    out.customer.access_id = c.access_id.clone();
    if !c.secret.is_empty() {
        out.customer.secret = Secret::new(c.secret.clone());
    }
    out.customer.day_format = c.day_format.clone();
    out.customer.hour_format = c.hour_format.clone();
    out.customer.mac_format = mac_format;
    out.customer.batch_size = c.batch_size as usize;
    out.customer.encoding = c.encoding;
    out.customer.line = c.line.clone();
    out.customer.auth = c.auth.clone();
    out.customer.answer = c.answer.clone();
    out.customer.query = c.query.clone();
    out.customer.billed_direction = g.billed_direction;
    out.report.provider_id = g.provider_id.clone();
    out.report.provider_uiid = g.provider_uiid.clone();
    out.report.isp_id = m.isp_id.unwrap_or(g.isp_id);
    out.report.device_type = m.device_type.unwrap_or(g.device_type);
    out.report.offset_percent = offset(g.offset_bp);
    out.report.machine_offset_percent = m.offset_bp.map(offset);
    out.report.offset_fixed_bytes = g.offset_fixed_bytes;
    out.report.machine_offset_fixed_bytes = m.offset_fixed_bytes;
    out.report.node_offsets = m.offset_levels().0;
    out.push_enabled = local.push_enabled && g.push_enabled && m.push_enabled;
    out.push_off_switches = [
        (m.push_enabled, agent::SWITCH_MACHINE),
        (g.push_enabled, agent::SWITCH_GLOBAL),
        (local.push_enabled, agent::SWITCH_LOCAL),
    ]
    .into_iter()
    .filter_map(|(on, name)| (!on).then_some(name))
    .collect();
    if m.interface.is_some() {
        out.interface = m.interface.clone();
    }
    // The effective profile with the machine's id overrides, as the TOML loader checks it.
    out.customer.validate(&out.report).map_err(refused)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn service() -> ServiceConfig {
        ServiceConfig {
            machine: MachineConfig {
                version: 3,
                push_enabled: true,
                acceptance: agent::Acceptance::Accepted,
                interface: None,
                offset_bp: None,
                offset_fixed_bytes: None,
                node_offset_bp: None,
                node_offset_fixed_bytes: None,
                node: Some("bj-1".into()),
                isp_id: Some(9),
                device_type: None,
            },
            global: GlobalConfig {
                version: 7,
                push_enabled: true,
                customer: agent::CustomerProfile {
                    base_url: "https://traffic.example".into(),
                    report_path: "/api/v1/flux/report".into(),
                    query_path: "/api/v1/flux/query".into(),
                    access_id: "AK-1".into(),
                    secret: "SK-1".into(),
                    day_format: "%Y%m%d".into(),
                    hour_format: "%Y%m%d%H".into(),
                    mac_format: "upper-dash".into(),
                    batch_size: 50,
                    encoding: Default::default(),
                    line: Default::default(),
                    auth: Default::default(),
                    answer: Default::default(),
                    query: Default::default(),
                },
                provider_id: "P".into(),
                provider_uiid: "U".into(),
                isp_id: 1,
                device_type: 2,
                offset_bp: 350,
                offset_fixed_bytes: 0,
                billed_direction: agent::BilledDirection::Max,
            },
        }
    }

    #[test]
    fn the_service_supplies_profile_ids_offsets_and_switches() {
        let local = AgentConfig::default();
        let e = effective(&local, &service()).expect("valid");
        assert_eq!(e.customer.access_id, "AK-1");
        assert_eq!(e.customer.secret.expose(), "SK-1");
        assert_eq!(e.customer.mac_format, MacFormat::UpperDash);
        assert_eq!(e.customer.billed_direction, agent::BilledDirection::Max);
        assert_eq!(e.report.isp_id, 9, "machine override");
        assert_eq!(e.report.device_type, 2, "global value");
        assert_eq!(e.report.offset_percent.percent_text(), "3.50");
        assert!(e.push_enabled);
        assert_eq!(e.customer.timeout_secs, local.customer.timeout_secs, "timeouts stay local");
    }

    #[test]
    fn machine_offset_replaces_and_any_switch_off_stops_pushing() {
        let mut s = service();
        s.machine.offset_bp = Some(-250);
        s.machine.push_enabled = false;
        let e = effective(&AgentConfig::default(), &s).expect("valid");
        assert_eq!(e.report.machine_offset_percent.map(|o| o.percent_text()), Some("-2.50".into()));
        assert!(!e.push_enabled);
        assert_eq!(e.off_switches(), vec!["machine"]);
        let mut s = service();
        s.global.push_enabled = false;
        let e = effective(&AgentConfig::default(), &s).expect("valid");
        assert!(!e.push_enabled);
        assert_eq!(e.off_switches(), vec!["global"]);
        s.machine.push_enabled = false;
        assert_eq!(
            effective(&AgentConfig::default(), &s).expect("valid").off_switches(),
            vec!["machine", "global"]
        );
        let local = AgentConfig { push_enabled: false, ..AgentConfig::default() };
        let e = effective(&local, &service()).expect("valid");
        assert!(!e.push_enabled);
        assert_eq!(e.off_switches(), vec!["local"]);
        assert!(effective(&AgentConfig::default(), &service()).expect("valid").off_switches().is_empty());
    }

    #[test]
    fn node_and_machine_offsets_reach_the_report_settings() {
        let mut s = service();
        s.global.offset_fixed_bytes = 5_000_000;
        s.machine.node_offset_bp = Some(-200);
        s.machine.offset_fixed_bytes = Some(-1_000_000);
        let e = effective(&AgentConfig::default(), &s).expect("valid");
        let r = crate::push::report::BuildRules::from_settings(
            e.customer.billed_direction,
            &e.report,
            true,
            None,
        );
        assert_eq!(
            (r.offset.basis_points, r.offset_source, r.offset_fixed_bytes),
            (-200, "node", -1_000_000)
        );
        s.machine.node_offset_fixed_bytes = Some(pushagent_proto::offset::FIXED_BYTES_MAX + 1);
        let refused = effective(&AgentConfig::default(), &s).expect_err("out of range");
        assert_eq!(refused.key, "machine.node_offset_fixed_bytes");
    }

    #[test]
    fn bad_values_from_the_service_are_refused_whole() {
        for bad in [
            |s: &mut ServiceConfig| s.global.customer.base_url = "ftp://x".into(),
            |s: &mut ServiceConfig| s.global.customer.mac_format = "shouting".into(),
            |s: &mut ServiceConfig| s.global.offset_bp = -10_000,
            |s: &mut ServiceConfig| s.machine.offset_bp = Some(100_001),
            |s: &mut ServiceConfig| s.machine.interface = Some("../etc".into()),
            |s: &mut ServiceConfig| s.global.customer.batch_size = 0,
            |s: &mut ServiceConfig| s.global.customer.hour_format = "%Y%m%d".into(),
            |s: &mut ServiceConfig| s.global.customer.day_format = "%Q%".into(),
            |s: &mut ServiceConfig| s.global.provider_id = "P\0".into(),
            |s: &mut ServiceConfig| s.global.isp_id = -1,
            |s: &mut ServiceConfig| s.machine.device_type = Some(-5),
            |s: &mut ServiceConfig| s.machine.interface = Some("eth0:1".into()),
            |s: &mut ServiceConfig| s.global.customer.auth.static_headers = vec![("a b".into(), "1".into())],
        ] {
            let mut s = service();
            bad(&mut s);
            assert!(effective(&AgentConfig::default(), &s).is_err(), "{s:?}");
        }
        let mut s = service();
        s.machine.offset_bp = Some(100_001);
        let refused = effective(&AgentConfig::default(), &s).expect_err("refused");
        assert_eq!(refused.key, "machine.offset_bp", "the refusal names the key");
    }
}
