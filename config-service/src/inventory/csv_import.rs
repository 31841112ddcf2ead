//! The generic import for providers without Spug: a CSV file with a header row naming its
//! columns, in any order:
//!
//! ```text
//! host_name,ip,mac,ops_host_id,node
//! bj-cu-01,203.0.113.10,,,北京-联通
//! sh-ct-07,,aa:bb:cc:dd:ee:07,,上海-电信
//! ```
//!
//! `host_name` is required; `node` is optional (empty: not set); each row needs at least one
//! of `ip` (the management IP), `mac` (the collected interface's) or `ops_host_id` (the
//! platform's host id). Errors name the row (as a spreadsheet numbers it) and the column; one bad
//! row refuses the whole file.

use std::collections::HashSet;
use std::net::IpAddr;

use super::InventoryHost;
use crate::validate;

pub const COLUMNS: [&str; 5] = ["host_name", "ip", "mac", "ops_host_id", "node"];

pub fn parse(text: &str) -> Result<Vec<InventoryHost>, String> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text); // Excel's BOM
    let mut reader =
        csv::ReaderBuilder::new().trim(csv::Trim::All).flexible(false).from_reader(text.as_bytes());
    let header = reader.headers().map_err(|e| format!("row 1: {e}"))?.clone();
    let mut index = [None; 5];
    for (i, name) in header.iter().enumerate() {
        let name = name.to_ascii_lowercase();
        match COLUMNS.iter().position(|c| *c == name) {
            Some(c) if index[c].is_some() => return Err(format!("row 1: column {name} appears twice")),
            Some(c) => index[c] = Some(i),
            None => {
                return Err(format!("row 1: unknown column {name:?} (columns: {})", COLUMNS.join(", ")));
            }
        }
    }
    if index[0].is_none() {
        return Err("row 1: the header has no host_name column".into());
    }
    if index[1..4].iter().all(Option::is_none) {
        return Err("row 1: the header needs an ip, mac or ops_host_id column".into());
    }
    let mut hosts = Vec::new();
    let mut keys = HashSet::new();
    for (n, record) in reader.records().enumerate() {
        let row = n + 2;
        let record = record.map_err(|e| format!("row {row}: {e}"))?;
        let cell = |c: usize| index[c].and_then(|i| record.get(i)).filter(|v| !v.is_empty());
        let at = |column: &str| format!("row {row}, {column}");
        let name = cell(0).ok_or_else(|| format!("{}: required", at("host_name")))?;
        validate::display_host_name(&at("host_name"), name)?;
        let ip = cell(1)
            .map(|ip| {
                ip.parse::<IpAddr>()
                    .map(|ip| ip.to_string())
                    .map_err(|_| format!("{}: {ip:?} is not an IP address", at("ip")))
            })
            .transpose()?;
        let mac = cell(2).map(|mac| validate::mac(&at("mac"), mac)).transpose()?;
        let ops = cell(3)
            .map(|ops| {
                validate::text(&at("ops_host_id"), ops, 64)?;
                Ok::<_, String>(ops.to_owned())
            })
            .transpose()?;
        let node =
            cell(4).map(|node| validate::node(&at("node"), node).map(|()| node.to_owned())).transpose()?;
        let key = ops
            .clone()
            .or_else(|| ip.clone())
            .or_else(|| mac.clone())
            .ok_or_else(|| format!("row {row}: give at least one of ip, mac or ops_host_id"))?;
        if !keys.insert(key.clone()) {
            return Err(format!("row {row}: {key} appears on an earlier row too"));
        }
        hosts.push(InventoryHost {
            key,
            ops_host_id: ops,
            name: name.to_owned(),
            management_ip: ip,
            other_ips: Vec::new(),
            mac,
            node,
            note: None,
        });
    }
    Ok(hosts)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_file_with_columns_in_any_order_is_read() {
        let hosts = parse(
            "\u{feff}node,Host_Name,ip,mac\n北京-联通,bj-cu-01,203.0.113.10,\n,sh-07,,AA-BB-CC-DD-EE-07\n",
        )
        .unwrap();
        assert_eq!(hosts.len(), 2);
        assert_eq!(hosts[0].key, "203.0.113.10");
        assert_eq!(hosts[0].node.as_deref(), Some("北京-联通"));
        assert_eq!(hosts[1].mac.as_deref(), Some("aa:bb:cc:dd:ee:07"));
        assert_eq!(hosts[1].node, None);
    }

    #[test]
    fn errors_name_the_row_and_column() {
        for (text, expected) in [
            ("host_name,ip\nh1,300.1.1.1\n", "row 2, ip"),
            ("host_name,ip,node\nh1,10.0.0.1,ok\nh2,10.0.0.2,\"a\u{7}\"\n", "row 3, node"),
            ("host_name,ip\n,10.0.0.1\n", "row 2, host_name: required"),
            ("host_name,mac\nh1,\n", "row 2: give at least one"),
            ("host_name,ip\nh1,10.0.0.1\nh2,10.0.0.1\n", "row 3: 10.0.0.1 appears"),
            ("host_name,colour\n", "unknown column \"colour\""),
            ("host_name,ip\nh1,10.0.0.1,extra\n", "row 2"),
        ] {
            let error = parse(text).unwrap_err();
            assert!(error.contains(expected), "{text:?}: {error}");
        }
    }
}
