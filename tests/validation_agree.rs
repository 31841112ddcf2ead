//! Issue 11 §2: the service never stores a value the agent would refuse, and never refuses one
//! the agent takes. The same random values go to the agent's own config loader
//! (`AgentConfig::parse` of an agent.toml) and to the service's check of the global config
//! (`validate::global`, what `PUT /api/global-config` runs); their verdicts must agree.

#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

use std::path::Path;

use pushagent::config::AgentConfig;
use pushagent_config::global::GlobalDoc;

/// Pieces values are built from: real formats and names, their near misses, control
/// characters, separators, quotes and long runs.
const PIECES: &[&str] = &[
    "%Y",
    "%m",
    "%d",
    "%H",
    "%Q",
    "%",
    "%%",
    "-",
    ":",
    "_",
    " ",
    "lower",
    "upper",
    "colon",
    "dash",
    "plain",
    "P1001",
    "U-2",
    "\u{0}",
    "\u{7}",
    "\t",
    "\n",
    "\"",
    "\\",
    "é",
    "中",
    "0",
    "9",
    "abcdefghij",
];

fn random_text(rng: &mut fastrand::Rng) -> String {
    let n = rng.usize(0..6);
    let mut text: String = (0..n).map(|_| PIECES[rng.usize(..PIECES.len())]).collect();
    if rng.u8(..20) == 0 {
        text = text.repeat(rng.usize(20..80));
    }
    text
}

/// A value for one of the checked fields: sometimes a known good one, mostly random.
fn value_for(field: &str, rng: &mut fastrand::Rng) -> String {
    let good: &[&str] = match field {
        "mac_format" => {
            &["lower-colon", "upper-colon", "lower-dash", "upper-dash", "lower-plain", "upper-plain"]
        }
        "day_format" => &["%Y%m%d", "%Y-%m-%d", "%d/%m/%Y"],
        "hour_format" => &["%Y%m%d%H", "%Y-%m-%d %H", "%Y%m%d-%H"],
        _ => &["AK-1", "P1001", "provider"],
    };
    if rng.bool() {
        good[rng.usize(..good.len())].to_owned()
    } else {
        random_text(rng)
    }
}

fn agent_accepts(section: &str, key: &str, value: &toml::Value) -> bool {
    let text = format!("[{section}]\n{key} = {value}\n");
    AgentConfig::parse(&text, Path::new("agent.toml")).is_ok()
}

fn service_accepts(doc: &GlobalDoc) -> bool {
    pushagent_config::validate::global(doc).is_ok()
}

#[test]
fn agent_and_service_agree_on_random_values() {
    let mut rng = fastrand::Rng::with_seed(0x5eed_0011);
    let mut refused = 0;
    for round in 0..2_000 {
        let field =
            ["mac_format", "day_format", "hour_format", "access_id", "provider_id", "isp_id"][round % 6];
        let mut doc = GlobalDoc::default();
        let (section, agent_value) = match field {
            "isp_id" => {
                let n = match rng.u8(..4) {
                    0 => rng.i64(..),
                    1 => -rng.i64(1..1_000),
                    _ => rng.i64(0..1_000_000),
                };
                doc.isp_id = n;
                ("report", toml::Value::Integer(n))
            }
            "provider_id" => {
                let v = value_for(field, &mut rng);
                doc.provider_id = v.clone();
                ("report", toml::Value::String(v))
            }
            _ => {
                let v = value_for(field, &mut rng);
                match field {
                    "mac_format" => doc.customer.mac_format = v.clone(),
                    "day_format" => doc.customer.day_format = v.clone(),
                    "hour_format" => doc.customer.hour_format = v.clone(),
                    _ => doc.customer.access_id = v.clone(),
                }
                ("customer", toml::Value::String(v))
            }
        };
        let agent = agent_accepts(section, field, &agent_value);
        let service = service_accepts(&doc);
        assert_eq!(
            agent, service,
            "{field} = {agent_value}: agent accepts: {agent}, service accepts: {service}"
        );
        refused += usize::from(!agent);
    }
    // The values were not all good or all bad: the comparison saw both verdicts.
    assert!(refused > 200 && refused < 1_800, "{refused} of 2000 refused");
}
