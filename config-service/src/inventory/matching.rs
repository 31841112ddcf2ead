//! Pairs inventory hosts with registered machines. Pure: the job feeds it what the store holds.
//!
//! Rules, strongest first: an operator's link; the platform's host id the agent reported
//! (`ops_host_id`, written by the deploy template); the host's management IP among the
//! machine's addresses; any other IP of the host among them; the MAC (CSV rows). A rule that
//! finds several machines matches none (the host is listed as ambiguous). Two hosts claiming one
//! machine: the stronger rule wins; on a tie neither gets it and both are listed.

use std::collections::{HashMap, HashSet};

use serde::Serialize;

use super::InventoryHost;

/// What the matching needs to know of a machine.
#[derive(Debug, Clone, Default)]
pub struct MachineKeys {
    pub id: i64,
    pub ops_host_id: Option<String>,
    pub management_ip: Option<String>,
    pub ips: Vec<String>,
    pub mac: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MatchedBy {
    Manual,
    OpsHostId,
    ManagementIp,
    Ip,
    Mac,
}

impl MatchedBy {
    pub fn as_str(self) -> &'static str {
        match self {
            MatchedBy::Manual => "manual",
            MatchedBy::OpsHostId => "ops_host_id",
            MatchedBy::ManagementIp => "management_ip",
            MatchedBy::Ip => "ip",
            MatchedBy::Mac => "mac",
        }
    }
}

/// The outcome for one host (same order as the hosts given).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostMatch {
    Matched { machine_id: i64, by: MatchedBy },
    Unmatched { reason: String },
}

/// `links`: host key → machine id, set by an operator.
pub fn match_hosts(
    hosts: &[InventoryHost],
    machines: &[MachineKeys],
    links: &HashMap<String, i64>,
) -> Vec<HostMatch> {
    let known: HashSet<i64> = machines.iter().map(|m| m.id).collect();
    let mut by_ops: HashMap<&str, Vec<i64>> = HashMap::new();
    let mut by_ip: HashMap<&str, Vec<i64>> = HashMap::new();
    let mut by_mac: HashMap<&str, Vec<i64>> = HashMap::new();
    for m in machines {
        if let Some(ops) = &m.ops_host_id {
            by_ops.entry(ops.as_str()).or_default().push(m.id);
        }
        let mut ips: Vec<&str> = m.ips.iter().map(String::as_str).chain(m.management_ip.as_deref()).collect();
        ips.sort_unstable();
        ips.dedup();
        for ip in ips {
            by_ip.entry(ip).or_default().push(m.id);
        }
        by_mac.entry(m.mac.as_str()).or_default().push(m.id);
    }
    // A machine linked by hand to one host is not matched automatically to another.
    let linked: HashSet<i64> = links.values().copied().collect();

    // First pass: each host's best candidate on its own.
    let mut found: Vec<Result<(i64, MatchedBy), String>> = hosts
        .iter()
        .map(|host| {
            if let Some(&id) = links.get(&host.key) {
                return if known.contains(&id) {
                    Ok((id, MatchedBy::Manual))
                } else {
                    Err(format!("linked by hand to machine {id}, which no longer exists"))
                };
            }
            let one = |ids: Option<&Vec<i64>>,
                       by: MatchedBy,
                       what: &str|
             -> Option<Result<(i64, MatchedBy), String>> {
                let ids: Vec<i64> = ids?.iter().copied().filter(|id| !linked.contains(id)).collect();
                match ids.as_slice() {
                    [] => None,
                    [id] => Some(Ok((*id, by))),
                    many => Some(Err(format!("{what} is shared by machines {many:?}: link it by hand"))),
                }
            };
            if let Some(r) = host.ops_host_id.as_deref().and_then(|ops| {
                one(by_ops.get(ops), MatchedBy::OpsHostId, &format!("platform host id {ops}"))
            }) {
                return r;
            }
            if let Some(r) = host
                .management_ip
                .as_deref()
                .and_then(|ip| one(by_ip.get(ip), MatchedBy::ManagementIp, &format!("management IP {ip}")))
            {
                return r;
            }
            let mut via_ips: Vec<i64> =
                host.other_ips.iter().filter_map(|ip| by_ip.get(ip.as_str())).flatten().copied().collect();
            via_ips.sort_unstable();
            via_ips.dedup();
            if let Some(r) =
                one(Some(&via_ips), MatchedBy::Ip, &format!("the addresses {:?}", host.other_ips))
            {
                return r;
            }
            if let Some(r) = host
                .mac
                .as_deref()
                .and_then(|mac| one(by_mac.get(mac), MatchedBy::Mac, &format!("MAC {mac}")))
            {
                return r;
            }
            Err("no machine reports its platform host id or any of its addresses".into())
        })
        .collect();

    // Second pass: one machine, one host (strongest rule; ties: nobody).
    let mut claims: HashMap<i64, Vec<(usize, MatchedBy)>> = HashMap::new();
    for (i, f) in found.iter().enumerate() {
        if let Ok((id, by)) = f {
            claims.entry(*id).or_default().push((i, *by));
        }
    }
    for (id, mut claimants) in claims {
        if claimants.len() < 2 {
            continue;
        }
        claimants.sort_by_key(|(i, by)| (*by, *i));
        let best = claimants[0].1;
        let tied = claimants.iter().filter(|(_, by)| *by == best).count() > 1;
        let names: Vec<&str> = claimants.iter().map(|(i, _)| hosts[*i].name.as_str()).collect();
        for (n, (i, _)) in claimants.iter().enumerate() {
            if n > 0 || tied {
                found[*i] = Err(format!(
                    "machine {id} is claimed by several hosts ({}): link it by hand",
                    names.join(", ")
                ));
            }
        }
    }
    found
        .into_iter()
        .map(|f| match f {
            Ok((machine_id, by)) => HostMatch::Matched { machine_id, by },
            Err(reason) => HostMatch::Unmatched { reason },
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn host(key: &str, mgmt: Option<&str>, others: &[&str]) -> InventoryHost {
        InventoryHost {
            key: key.into(),
            ops_host_id: Some(key.into()),
            name: format!("host-{key}"),
            management_ip: mgmt.map(Into::into),
            other_ips: others.iter().map(|s| (*s).to_owned()).collect(),
            mac: None,
            node: None,
            note: None,
        }
    }

    fn machine(id: i64, ops: Option<&str>, ips: &[&str]) -> MachineKeys {
        MachineKeys {
            id,
            ops_host_id: ops.map(Into::into),
            management_ip: None,
            ips: ips.iter().map(|s| (*s).to_owned()).collect(),
            mac: format!("02:00:00:00:00:{id:02x}"),
        }
    }

    #[test]
    fn rules_apply_strongest_first() {
        let hosts = [
            host("1", Some("10.0.0.1"), &[]),
            host("2", Some("203.0.113.9"), &["10.0.0.2"]),
            host("3", None, &["10.9.9.9"]),
        ];
        // Machine 10 reports host id 1 but holds host 2's management IP too; 11 holds 10.0.0.2.
        let machines = [machine(10, Some("1"), &["203.0.113.9"]), machine(11, None, &["10.0.0.2"])];
        let got = match_hosts(&hosts, &machines, &HashMap::new());
        assert_eq!(got[0], HostMatch::Matched { machine_id: 10, by: MatchedBy::OpsHostId });
        // Host 2 finds machine 10 by management IP, but host 1 holds it by the stronger rule.
        assert!(matches!(&got[1], HostMatch::Unmatched { reason } if reason.contains("claimed by several")));
        assert!(matches!(got[2], HostMatch::Unmatched { .. }));
    }

    #[test]
    fn a_shared_address_matches_nobody_and_a_manual_link_wins() {
        let hosts = [host("1", Some("10.0.0.1"), &[])];
        let machines = [machine(10, None, &["10.0.0.1"]), machine(11, None, &["10.0.0.1"])];
        let got = match_hosts(&hosts, &machines, &HashMap::new());
        assert!(matches!(&got[0], HostMatch::Unmatched { reason } if reason.contains("shared")));
        let links = HashMap::from([("1".to_owned(), 11)]);
        assert_eq!(
            match_hosts(&hosts, &machines, &links)[0],
            HostMatch::Matched { machine_id: 11, by: MatchedBy::Manual }
        );
    }

    #[test]
    fn other_addresses_and_macs_match_when_nothing_stronger_does() {
        let mut by_mac = host("m", None, &[]);
        by_mac.ops_host_id = None;
        by_mac.mac = Some("02:00:00:00:00:0c".into());
        let hosts = [host("1", Some("198.51.100.1"), &["10.0.0.7", "10.0.0.8"]), by_mac];
        let machines = [machine(11, None, &["10.0.0.8"]), machine(12, None, &[])];
        let got = match_hosts(&hosts, &machines, &HashMap::new());
        assert_eq!(got[0], HostMatch::Matched { machine_id: 11, by: MatchedBy::Ip });
        assert_eq!(got[1], HostMatch::Matched { machine_id: 12, by: MatchedBy::Mac });
    }
}
