//! Store tests that cross areas: every history filter against a plain query, migrations.

#![allow(clippy::unwrap_used)]
use super::*;

#[test]
fn history_totals_from_the_kept_counts_equal_counting_the_rows() {
    use pushagent_proto::agent::{Facts, HistoryItem, PushStatus};
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(&dir.path().join("s.sqlite")).unwrap();
    let req = RegisterRequest {
        enrollment_token: "x".into(),
        machine_id: "m1".into(),
        hostname: "h1".into(),
        mac: "aa:bb:cc:dd:ee:01".into(),
        agent_version: "0.1.0".into(),
        facts: Facts::default(),
        identity: Default::default(),
    };
    let id = store.register_machine(&req, "aa:bb:cc:dd:ee:01", "{}", "hash", 0, 0).unwrap().0;
    let item = |hour: u32, attempt: u32, ok: bool| HistoryItem {
        mac: "aa:bb:cc:dd:ee:01".into(),
        flux_hour: format!("20261124{hour:02}"),
        version: 1,
        attempt,
        raw_bytes: 1,
        pushed_bytes: 1,
        raw_points: [0; 12],
        pushed_points: [0; 12],
        offset_bp: 0,
        offset_fixed_bytes: 0,
        off_slots: 0,
        status: if ok { PushStatus::Success } else { PushStatus::Failure },
        http_status: None,
        code: None,
        message: None,
        attempted_at: i64::from(hour),
    };
    let pushes: Vec<HistoryItem> = (0..10).flat_map(|h| [item(h, 1, false), item(h, 2, true)]).collect();
    let batch = HistoryBatch { pushes: pushes.clone(), ..Default::default() };
    store.insert_history(id, &batch, 0).unwrap();
    store.insert_history(id, &batch, 0).unwrap(); // duplicates change no count
    let total = |status: Option<&str>| {
        let f = HistoryFilter { status: status.map(str::to_owned), limit: 5, ..Default::default() };
        store.list_history(&f).unwrap().0
    };
    assert_eq!((total(None), total(Some("success")), total(Some("failure"))), (20, 10, 10));
    let f = HistoryFilter { from_hour: Some("2026112405".into()), limit: 5, ..Default::default() };
    assert_eq!(store.list_history(&f).unwrap().0, 10, "filtered totals are counted");
}

/// Every filter combination, for every attempt and for the latest attempt of each hour,
/// pages exactly like a plain query over the rows (totals from the kept counts included).
#[test]
fn history_pages_equal_a_plain_query_for_every_filter() {
    use pushagent_proto::agent::{Facts, HistoryItem, PushStatus};
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(&dir.path().join("s.sqlite")).unwrap();
    let macs = ["aa:bb:cc:dd:ee:01", "aa:bb:cc:dd:ee:02", "aa:bb:cc:dd:ee:03"];
    let mut ids = Vec::new();
    for (n, mac) in macs.iter().enumerate() {
        let req = RegisterRequest {
            enrollment_token: "x".into(),
            machine_id: format!("m{n}"),
            hostname: format!("h{n}"),
            mac: (*mac).into(),
            agent_version: "0.1.0".into(),
            facts: Facts::default(),
            identity: Default::default(),
        };
        ids.push(store.register_machine(&req, mac, "{}", &format!("hash{n}"), 0, 0).unwrap().0);
    }
    store.conn.execute("UPDATE machine_config SET node = 'n1' WHERE machine_id = ?1", [ids[1]]).unwrap();
    // Per machine and hour a varying number of attempts and versions, inserted out of
    // order and twice (duplicates), so "latest" is not simply the last row inserted.
    let mut items = Vec::new();
    for (m, mac) in macs.iter().enumerate() {
        for hour in 0..12u32 {
            let attempts = 1 + (hour + m as u32) % 3;
            for version in 1..=(1 + hour % 2) {
                for attempt in 1..=attempts {
                    let ok = attempt == attempts && !(hour + m as u32).is_multiple_of(5);
                    items.push((
                        ids[m],
                        HistoryItem {
                            mac: (*mac).into(),
                            flux_hour: format!("20261124{hour:02}"),
                            version,
                            attempt,
                            raw_bytes: u64::from(hour * 100 + attempt),
                            pushed_bytes: u64::from(hour * 100 + attempt + version),
                            raw_points: [0; 12],
                            pushed_points: [0; 12],
                            offset_bp: 0,
                            offset_fixed_bytes: 0,
                            off_slots: 0,
                            status: if ok { PushStatus::Success } else { PushStatus::Failure },
                            http_status: None,
                            code: None,
                            message: None,
                            attempted_at: i64::from(hour * 7 % 12) * 100 + i64::from(attempt * 10 + version),
                        },
                    ));
                }
            }
        }
    }
    items.reverse();
    for round in 0..2 {
        for (machine, item) in items.iter().skip(round) {
            let batch = HistoryBatch { pushes: vec![item.clone()], ..Default::default() };
            store.insert_history(*machine, &batch, 0).unwrap();
        }
    }
    let plain = |f: &HistoryFilter| -> (u64, Vec<i64>) {
        let mut sql = "SELECT h.id FROM push_history h JOIN machine_config c ON c.machine_id = h.machine_id
                       JOIN machines m ON m.id = h.machine_id WHERE 1"
            .to_owned();
        if let Some(id) = f.machine_id {
            sql += &format!(" AND h.machine_id = {id}");
        }
        if let Some(mac) = &f.mac {
            sql += &format!(" AND h.mac = '{mac}'");
        }
        if let Some(node) = &f.node {
            sql += &format!(" AND c.node = '{node}'");
        }
        if let Some(host) = &f.host {
            sql += &format!(" AND m.hostname LIKE '%{host}%'");
        }
        if let Some(status) = &f.status {
            sql += &format!(" AND h.status = '{status}'");
        }
        if let Some(hour) = &f.from_hour {
            sql += &format!(" AND h.flux_hour >= '{hour}'");
        }
        if let Some(hour) = &f.to_hour {
            sql += &format!(" AND h.flux_hour <= '{hour}'");
        }
        if f.latest_only {
            sql += " AND h.id = (SELECT l.id FROM push_history l WHERE l.mac = h.mac AND l.flux_hour = h.flux_hour
                                 ORDER BY l.version DESC, l.attempt DESC LIMIT 1)";
        }
        let column = match f.sort {
            HistorySort::AttemptedAt => "attempted_at",
            HistorySort::FluxHour => "flux_hour",
            HistorySort::PushedBytes => "pushed_bytes",
        };
        let dir = if f.descending { "DESC" } else { "ASC" };
        sql += &format!(" ORDER BY h.{column} {dir}, h.id {dir}");
        let all: Vec<i64> = store
            .conn
            .prepare(&sql)
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        let page = all.iter().skip(f.offset as usize).take(f.limit as usize).copied().collect();
        (all.len() as u64, page)
    };
    let mut checked = 0;
    for latest_only in [false, true] {
        for per_machine in 0..5 {
            for status in [None, Some("success"), Some("failure")] {
                for (from, to) in
                    [(None, None), (Some("2026112403"), None), (Some("2026112402"), Some("2026112408"))]
                {
                    for sort in [HistorySort::AttemptedAt, HistorySort::FluxHour, HistorySort::PushedBytes] {
                        for (descending, offset) in [(true, 0), (false, 3)] {
                            let f = HistoryFilter {
                                machine_id: (per_machine == 1).then_some(ids[2]),
                                mac: (per_machine == 2).then(|| macs[0].to_owned()),
                                node: (per_machine == 3).then(|| "n1".to_owned()),
                                host: (per_machine == 4).then(|| "h2".to_owned()),
                                status: status.map(str::to_owned),
                                from_hour: from.map(str::to_owned),
                                to_hour: to.map(str::to_owned),
                                latest_only,
                                descending,
                                sort,
                                limit: 7,
                                offset,
                            };
                            let (total, rows) = store.list_history(&f).unwrap();
                            let got = (total, rows.iter().map(|r| r.id).collect::<Vec<_>>());
                            assert_eq!(got, plain(&f), "{f:?}");
                            checked += usize::from(total > 0);
                        }
                    }
                }
            }
        }
    }
    assert!(checked > 300, "most combinations have rows: {checked}");
}

#[test]
fn migrations_set_the_schema_version_and_reopen_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.sqlite");
    let store = Store::open(&path).unwrap();
    assert_eq!(store.schema_version().unwrap(), MIGRATIONS.len() as u32);
    assert_eq!(store.global().unwrap().0, 1);
    drop(store);
    let store = Store::open(&path).unwrap();
    assert_eq!(store.global().unwrap().0, 1, "the default global config is seeded once");
    let mode: String = store.conn.pragma_query_value(None, "journal_mode", |r| r.get(0)).unwrap();
    assert_eq!(mode, "wal");
}

/// A store of schema 2 (session 1's service) with data, opened by this service: the kept
/// counts and latest rows are built from the rows that exist, duplicate open incidents
/// closed, IP addresses taken from the stored facts.
#[test]
fn an_older_store_with_data_is_migrated_with_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.sqlite");
    {
        let conn = Connection::open(&path).unwrap();
        for (version, sql) in MIGRATIONS.iter().filter(|m| m.0 <= 2) {
            conn.execute_batch(sql).unwrap();
            conn.pragma_update(None, "user_version", version).unwrap();
        }
        let facts =
            r#"{"addresses":[{"interface":"eth0","ipv4":[{"address":"203.0.113.9","prefix_len":24}]}]}"#;
        conn.execute(
            "INSERT INTO machines (id, machine_uid, hostname, mac, agent_version, facts, first_seen_at, last_seen_at)
             VALUES (1, 'u1', 'web-01', 'aa:bb:cc:dd:ee:01', '0.1.0', ?1, 0, 0)",
            [facts],
        )
        .unwrap();
        conn.execute(
            "INSERT INTO machine_config (machine_id, version, push_enabled, acceptance, node, updated_at)
             VALUES (1, 1, 1, 'accepted', '北京-1', 0)",
            [],
        )
        .unwrap();
        // Hour 10: v1 failed, v1 retry ok, v2 ok; hour 11: one failure.
        for (hour, version, attempt, status) in [
            ("10", 1, 1, "failure"),
            ("10", 1, 2, "success"),
            ("10", 2, 1, "success"),
            ("11", 1, 1, "failure"),
        ] {
            conn.execute(
                "INSERT INTO push_history (machine_id, mac, flux_hour, version, attempt, raw_bytes, pushed_bytes,
                     raw_points, pushed_points, offset_bp, status, attempted_at, received_at)
                 VALUES (1, 'aa:bb:cc:dd:ee:01', ?1, ?2, ?3, 1, 1, '[]', '[]', 0, ?4, ?5, 0)",
                params![format!("20261124{hour}"), version, attempt, status, version * 10 + attempt],
            )
            .unwrap();
        }
        for opened in [1, 2] {
            conn.execute(
                "INSERT INTO incidents (kind, machine_id, opened_at, last_notified_at, summary)
                 VALUES ('offline', 1, ?1, ?1, 'x')",
                [opened],
            )
            .unwrap();
        }
    }
    let store = Store::open(&path).unwrap();
    assert_eq!(store.schema_version().unwrap(), MIGRATIONS.len() as u32);
    let total = |latest_only: bool, status: Option<&str>| {
        let f =
            HistoryFilter { latest_only, status: status.map(str::to_owned), limit: 10, ..Default::default() };
        store.list_history(&f).unwrap()
    };
    assert_eq!((total(false, None).0, total(false, Some("failure")).0), (4, 2));
    let (n, latest) = total(true, None);
    let latest: Vec<(String, i64, i64)> =
        latest.into_iter().map(|r| (r.flux_hour, r.version, r.attempt)).collect();
    assert_eq!(n, 2);
    assert!(latest.contains(&("2026112410".into(), 2, 1)) && latest.contains(&("2026112411".into(), 1, 1)));
    assert_eq!(total(true, Some("success")).0, 1);
    assert_eq!(store.open_incidents().unwrap().len(), 1, "the duplicate open incident is closed");
    let f = MachineFilter { search: Some("203.0.113.9".into()), limit: 10, ..Default::default() };
    assert_eq!(store.list_machines(&f).unwrap().0, 1, "IPs from the stored facts");
    // Nodes typed before agents reported one stay the operator's; the host name follows.
    let m = store.machine(1).unwrap();
    assert_eq!((m.os_hostname.as_deref(), m.node_set_by.as_deref()), (Some("web-01"), Some("operator")));
    let mut store = store;
    let req = RegisterRequest {
        enrollment_token: "x".into(),
        machine_id: "u1".into(),
        hostname: "web-01".into(),
        mac: "aa:bb:cc:dd:ee:01".into(),
        agent_version: "0.1.0".into(),
        facts: pushagent_proto::agent::Facts::default(),
        identity: Identity {
            host_name: Some("北京-电信-01".into()),
            node: Some("华北/北京".into()),
            ..Identity::default()
        },
    };
    // Registering again once it has been silent (a live one would be a clone, issue 11).
    let later = 4_000_000_000;
    assert_eq!(
        store.register_machine(&req, "aa:bb:cc:dd:ee:01", "{}", "h", later, later - 900).unwrap().0,
        1
    );
    let m = store.machine(1).unwrap();
    assert_eq!((m.hostname.as_str(), m.config.node.as_deref()), ("北京-电信-01", Some("北京-1")));
}

#[test]
fn a_newer_schema_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.sqlite");
    drop(Store::open(&path).unwrap());
    Connection::open(&path).unwrap().pragma_update(None, "user_version", 99).unwrap();
    assert!(matches!(Store::open(&path), Err(StoreError::TooNew { found: 99, .. })));
}
