//! The inventory sync against a stand-in of Spug (tests/spug_standin, written from Spug's
//! source) on loopback: pairing, names and nodes, audit, re-login, and every refusal the
//! platform can give, none of which stops the job.

#![allow(clippy::unwrap_used)]

mod spug_standin;

use std::path::Path;
use std::sync::{Arc, Mutex};

use pushagent_config::inventory::job::{PassError, Syncer, INCIDENT_KIND};
use pushagent_config::inventory::{InventoryKind, InventorySettings, NodeFrom, SyncError};
use pushagent_config::store::{InventoryFilter, Store};
use pushagent_config::{ManualClock, SharedStore};
use pushagent_proto::agent::{Facts, RegisterRequest};
use pushagent_proto::identity::Identity;
use serde_json::json;
use spug_standin::{Spug, Standin, StandinGroup, StandinHost, PKEY_MARKER};

const T0: i64 = 1_764_000_000;

fn settings(url: &str, password_file: &Path, node_from: NodeFrom) -> InventorySettings {
    InventorySettings {
        kind: InventoryKind::Spug,
        url: url.into(),
        username: "pushagent".into(),
        password: None,
        password_file: Some(password_file.to_owned()),
        login_type: "default".into(),
        interval_secs: 600,
        node_from,
        timeout_secs: 5,
    }
}

fn register(store: &mut Store, uid: &str, hostname: &str, mac: &str, ips: &[&str]) -> i64 {
    register_as(store, uid, hostname, mac, ips, Identity::default())
}

/// A machine whose agent reports `identity` (written by the deploy template from Spug).
fn register_as(
    store: &mut Store,
    uid: &str,
    hostname: &str,
    mac: &str,
    ips: &[&str],
    identity: Identity,
) -> i64 {
    let req = RegisterRequest {
        identity,
        enrollment_token: String::new(),
        machine_id: uid.into(),
        hostname: hostname.into(),
        mac: mac.into(),
        agent_version: "0.1.0".into(),
        facts: Facts::default(),
    };
    let addresses: Vec<_> = ips.iter().map(|ip| json!({"address": ip, "prefix": 24})).collect();
    let facts = json!({"addresses": [{"name": "eth0", "ipv4": addresses}]}).to_string();
    store.register_machine(&req, mac, &facts, &format!("hash-{uid}"), T0, T0).unwrap().0
}

fn host(id: i64, name: &str, hostname: &str, group_ids: &[i64], private: &[&str]) -> StandinHost {
    StandinHost {
        id,
        name: name.into(),
        hostname: hostname.into(),
        group_ids: group_ids.to_vec(),
        private_ips: private.iter().map(|s| (*s).to_owned()).collect(),
        public_ips: vec![],
        has_pkey: true,
        has_extend: true,
    }
}

/// Regions 华北 (1) > 北京-联通 (3), 北京-电信 (2); 华东 (4) > 上海-电信 (5).
fn platform() -> Spug {
    let mut spug = Spug::default();
    spug.add_user("pushagent", "spug-password-1");
    for (id, name, parent_id) in
        [(1, "华北", 0), (3, "北京-联通", 1), (2, "北京-电信", 1), (4, "华东", 0), (5, "上海-电信", 4)]
    {
        spug.groups.push(StandinGroup { id, name: name.into(), parent_id, sort_id: id });
    }
    spug.hosts = vec![
        host(11, "bj-cu-01", "203.0.113.11", &[3], &[]),
        host(12, "bj-ct-02", "bj-ct-02.example.net", &[3, 2], &["10.1.0.12"]),
        host(13, "sh-ct-03", "203.0.113.13", &[5], &[]),
        host(14, "no-agent-yet", "203.0.113.14", &[5], &[]),
    ];
    spug
}

struct Fixture {
    _dir: tempfile::TempDir,
    db_path: std::path::PathBuf,
    password_file: std::path::PathBuf,
    store: SharedStore,
    clock: ManualClock,
    standin: Standin,
    machines: [i64; 4],
}

fn fixture(spug: Spug) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let db_path = dir.path().join("config.sqlite");
    let mut store = Store::open(&db_path).unwrap();
    let machines = [
        register(&mut store, "m-a", "localhost", "02:00:00:00:00:0a", &["203.0.113.11"]),
        register(&mut store, "m-b", "centos", "02:00:00:00:00:0b", &["10.1.0.12", "192.168.9.1"]),
        register(&mut store, "m-c", "sh03", "02:00:00:00:00:0c", &["203.0.113.13"]),
        register(&mut store, "m-d", "stray", "02:00:00:00:00:0d", &["198.51.100.77"]),
    ];
    let password_file = dir.path().join("spug-password");
    std::fs::write(&password_file, "spug-password-1\n").unwrap();
    Fixture {
        db_path,
        password_file,
        store: Arc::new(Mutex::new(store)),
        clock: ManualClock::new(T0 + 60),
        standin: Standin::start(spug),
        machines,
        _dir: dir,
    }
}

fn node(store: &SharedStore, id: i64) -> Option<String> {
    pushagent_config::lock(store).machine(id).unwrap().config.node
}

#[test]
fn a_pass_pairs_hosts_sets_names_and_nodes_audited_and_keeps_no_key() {
    let f = fixture(platform());
    let mut syncer = Syncer::new(&settings(&f.standin.url, &f.password_file, NodeFrom::Leaf));
    let applied = syncer.pass(&f.store, &f.clock, false).unwrap();
    assert_eq!((applied.hosts, applied.matched, applied.changed), (4, 3, 3));
    let [a, b, c, d] = f.machines;
    assert_eq!(node(&f.store, a).as_deref(), Some("北京-联通"), "by management IP");
    // In groups 3 and 2: the lowest-id leaf (2) by the documented rule, and flagged.
    assert_eq!(
        node(&f.store, b).as_deref(),
        Some("北京-电信"),
        "by a private IP (its hostname is a DNS name)"
    );
    assert_eq!(node(&f.store, c).as_deref(), Some("上海-电信"));
    assert_eq!(node(&f.store, d), None);

    let store = pushagent_config::lock(&f.store);
    let (_, rows) =
        store.list_inventory_hosts(&InventoryFilter { limit: 100, ..Default::default() }).unwrap();
    let by_name = |n: &str| rows.iter().find(|r| r.name == n).unwrap().clone();
    assert_eq!(by_name("bj-cu-01").matched_by.as_deref(), Some("management_ip"));
    assert_eq!(by_name("bj-ct-02").matched_by.as_deref(), Some("ip"));
    assert!(by_name("bj-ct-02").note.unwrap().contains("in 2 groups"));
    assert_eq!(by_name("no-agent-yet").machine_id, None);
    let (total, unmatched) = store.unmatched_machines(50, 0).unwrap();
    assert_eq!((total, unmatched[0].id), (1, d));

    let (_, audit) = store.list_audit(100, 0).unwrap();
    let audit: Vec<_> = audit.into_iter().filter(|r| r.at > T0).collect();
    assert!(!audit.is_empty() && audit.iter().all(|r| r.actor == "inventory:spug"), "{audit:?}");
    assert!(audit.iter().any(|r| r.field == "host_name"
        && r.entity_id == a.to_string()
        && r.new_value.as_deref() == Some("\"bj-cu-01\"")));
    assert!(audit.iter().any(|r| r.field == "node" && r.entity_id == b.to_string()));
    drop(store);

    // A second pass with nothing new changes nothing.
    let again = syncer.pass(&f.store, &f.clock, false).unwrap();
    assert_eq!((again.matched, again.changed), (3, 0));
    assert_eq!(f.standin.spug().logins, 1, "the token is kept between passes");

    // The private keys went through the parser only: not in the store file or its WAL.
    drop(f.store);
    for suffix in ["", "-wal"] {
        let path = format!("{}{suffix}", f.db_path.display());
        if let Ok(bytes) = std::fs::read(&path) {
            assert!(!String::from_utf8_lossy(&bytes).contains(PKEY_MARKER), "{path} holds a pkey");
            assert!(
                !String::from_utf8_lossy(&bytes).contains("spug-password-1"),
                "{path} holds the password"
            );
        }
    }
}

#[test]
fn node_from_path_uses_the_group_path_and_a_renamed_host_is_followed() {
    let f = fixture(platform());
    let mut syncer = Syncer::new(&settings(&f.standin.url, &f.password_file, NodeFrom::Path));
    syncer.pass(&f.store, &f.clock, false).unwrap();
    assert_eq!(node(&f.store, f.machines[0]).as_deref(), Some("华北/北京-联通"));
    f.standin.spug().hosts[0].name = "bj-cu-01-renamed".into();
    f.standin.spug().hosts[0].group_ids = vec![5];
    let applied = syncer.pass(&f.store, &f.clock, false).unwrap();
    assert_eq!(applied.changed, 1);
    assert_eq!(node(&f.store, f.machines[0]).as_deref(), Some("华东/上海-电信"));
    let (_, audit) = pushagent_config::lock(&f.store).list_audit(10, 0).unwrap();
    assert!(audit
        .iter()
        .any(|r| r.field == "host_name" && r.new_value.as_deref() == Some("\"bj-cu-01-renamed\"")));
}

#[test]
fn an_expired_token_means_one_new_login() {
    let f = fixture(platform());
    let mut syncer = Syncer::new(&settings(&f.standin.url, &f.password_file, NodeFrom::Leaf));
    syncer.pass(&f.store, &f.clock, false).unwrap();
    f.standin.spug().expire_tokens();
    syncer.pass(&f.store, &f.clock, false).unwrap();
    assert_eq!(f.standin.spug().logins, 2);
}

fn open_incidents(store: &SharedStore) -> usize {
    pushagent_config::lock(store).open_incidents().unwrap().iter().filter(|i| i.kind == INCIDENT_KIND).count()
}

fn last_error_code(store: &SharedStore) -> Option<String> {
    let runs = pushagent_config::lock(store).inventory_runs().unwrap();
    runs[0].0.error_code.clone()
}

#[test]
fn a_wrong_password_is_tried_once_until_the_file_changes_and_is_alerted_once() {
    let f = fixture(platform());
    std::fs::write(&f.password_file, "not-the-password\n").unwrap();
    let mut syncer = Syncer::new(&settings(&f.standin.url, &f.password_file, NodeFrom::Leaf));
    for _ in 0..3 {
        let e = syncer.pass(&f.store, &f.clock, false).unwrap_err();
        assert!(matches!(e, PassError::Sync(SyncError::WrongPassword(_))), "{e}");
    }
    assert_eq!(f.standin.spug().logins, 1, "3 failed logins would disable the account");
    assert_eq!(last_error_code(&f.store).as_deref(), Some("wrong_password"));
    assert_eq!(open_incidents(&f.store), 1);
    let (alerts, _) = pushagent_config::lock(&f.store).list_alerts(10, 0).unwrap();
    assert_eq!(alerts, 1, "one alert for the incident");

    std::fs::write(&f.password_file, "spug-password-1\n").unwrap();
    syncer.pass(&f.store, &f.clock, false).unwrap();
    assert_eq!(open_incidents(&f.store), 0, "resolved");
    let (alerts, rows) = pushagent_config::lock(&f.store).list_alerts(10, 0).unwrap();
    assert_eq!(alerts, 2);
    assert!(rows.iter().any(|r| r.kind == "recovered"));
}

#[test]
fn a_disabled_account_is_named() {
    let mut spug = platform();
    spug.users.get_mut("pushagent").unwrap().is_active = false;
    let f = fixture(spug);
    let e = Syncer::new(&settings(&f.standin.url, &f.password_file, NodeFrom::Leaf))
        .pass(&f.store, &f.clock, false)
        .unwrap_err();
    assert!(matches!(e, PassError::Sync(SyncError::AccountDisabled(_))), "{e}");
    assert!(e.to_string().contains("disabled"));
}

#[test]
fn the_fourth_wrong_login_of_the_day_disables_the_account_as_spug_does() {
    let f = fixture(platform());
    std::fs::write(&f.password_file, "wrong\n").unwrap();
    let mut codes = Vec::new();
    for _ in 0..4 {
        // `inventory sync` by hand logs in even after a refusal.
        let mut syncer = Syncer::new(&settings(&f.standin.url, &f.password_file, NodeFrom::Leaf));
        codes.push(match syncer.pass(&f.store, &f.clock, true).unwrap_err() {
            PassError::Sync(e) => e.code(),
            other => panic!("{other}"),
        });
    }
    assert_eq!(codes, ["wrong_password", "wrong_password", "wrong_password", "account_disabled"]);
}

#[test]
fn a_token_bound_to_another_ip_is_explained() {
    let mut spug = platform();
    spug.login_ip_override = Some("192.0.2.200".into());
    let f = fixture(spug);
    let e = Syncer::new(&settings(&f.standin.url, &f.password_file, NodeFrom::Leaf))
        .pass(&f.store, &f.clock, false)
        .unwrap_err();
    assert!(matches!(e, PassError::Sync(SyncError::TokenRefused)), "{e}");
    assert!(e.to_string().contains("IP"), "{e}");
    assert_eq!(f.standin.spug().logins, 1, "one login, no loop");
}

#[test]
fn an_error_with_http_200_fails_the_pass_and_keeps_the_last_inventory() {
    let f = fixture(platform());
    let mut syncer = Syncer::new(&settings(&f.standin.url, &f.password_file, NodeFrom::Leaf));
    syncer.pass(&f.store, &f.clock, false).unwrap();
    f.standin.spug().host_error = Some("权限拒绝".into());
    let e = syncer.pass(&f.store, &f.clock, false).unwrap_err();
    assert!(e.to_string().contains("权限拒绝"), "{e}");
    assert_eq!(last_error_code(&f.store).as_deref(), Some("error_answer"));
    assert_eq!(node(&f.store, f.machines[0]).as_deref(), Some("北京-联通"), "kept");
    let total = pushagent_config::lock(&f.store).list_inventory_hosts(&InventoryFilter::default()).unwrap().0;
    assert_eq!(total, 4, "the last good pull stays");
}

#[test]
fn an_unreachable_platform_is_a_failed_pass_not_a_crash() {
    let f = fixture(platform());
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let e = Syncer::new(&settings(&url, &f.password_file, NodeFrom::Leaf))
        .pass(&f.store, &f.clock, false)
        .unwrap_err();
    assert!(matches!(e, PassError::Sync(SyncError::Unreachable { .. })), "{e}");
    assert_eq!(open_incidents(&f.store), 1);
}

#[test]
fn an_operator_links_an_unmatched_host_and_the_link_holds() {
    let f = fixture(platform());
    let mut syncer = Syncer::new(&settings(&f.standin.url, &f.password_file, NodeFrom::Leaf));
    syncer.pass(&f.store, &f.clock, false).unwrap();
    let d = f.machines[3];
    {
        let mut store = pushagent_config::lock(&f.store);
        store.link_inventory_host("spug", "14", Some(d), "alice", T0).unwrap();
        pushagent_config::inventory::job::rematch(&mut store, "spug", T0).unwrap();
        assert!(store.link_inventory_host("spug", "999", Some(d), "alice", T0).is_err());
    }
    assert_eq!(node(&f.store, d).as_deref(), Some("上海-电信"));
    syncer.pass(&f.store, &f.clock, false).unwrap();
    let store = pushagent_config::lock(&f.store);
    let (_, rows) = store
        .list_inventory_hosts(&InventoryFilter {
            search: Some("no-agent".into()),
            limit: 10,
            ..Default::default()
        })
        .unwrap();
    assert_eq!((rows[0].machine_id, rows[0].matched_by.as_deref()), (Some(d), Some("manual")));
    assert_eq!(store.unmatched_machines(10, 0).unwrap().0, 0);
}

#[test]
fn the_platform_host_id_an_agent_reports_pairs_first_and_an_operators_choice_stays() {
    let f = fixture(platform());
    // A fifth machine deployed by the Spug template: it reports host id 14 and no address Spug has.
    let e = {
        let mut store = pushagent_config::lock(&f.store);
        let identity = Identity {
            ops_host_id: Some("14".into()),
            host_name: Some("old-name".into()),
            ..Identity::default()
        };
        register_as(&mut store, "m-e", "e", "02:00:00:00:00:0e", &["192.168.50.5"], identity)
    };
    // An operator set machine A's node by hand: the inventory leaves it.
    pushagent_config::lock(&f.store)
        .update_machine_configs(
            &[f.machines[0]],
            &serde_json::from_value(json!({"node": "手工节点"})).unwrap(),
            "alice",
            T0,
        )
        .unwrap();
    let mut syncer = Syncer::new(&settings(&f.standin.url, &f.password_file, NodeFrom::Leaf));
    syncer.pass(&f.store, &f.clock, false).unwrap();
    let store = pushagent_config::lock(&f.store);
    let (_, rows) = store
        .list_inventory_hosts(&InventoryFilter {
            search: Some("no-agent".into()),
            limit: 10,
            ..Default::default()
        })
        .unwrap();
    assert_eq!((rows[0].machine_id, rows[0].matched_by.as_deref()), (Some(e), Some("ops_host_id")));
    let machine = store.machine(e).unwrap();
    assert_eq!(machine.hostname, "no-agent-yet", "the platform's name wins over the agent's report");
    assert_eq!(machine.config.node.as_deref(), Some("上海-电信"));
    assert_eq!(
        store.machine(f.machines[0]).unwrap().config.node.as_deref(),
        Some("手工节点"),
        "an operator's node stays"
    );
    assert_eq!(
        store.machine(f.machines[0]).unwrap().hostname,
        "bj-cu-01",
        "its name still follows the platform"
    );
}

#[test]
fn a_host_that_leaves_the_platform_gives_the_machine_its_agents_name_back() {
    let f = fixture(platform());
    let mut syncer = Syncer::new(&settings(&f.standin.url, &f.password_file, NodeFrom::Leaf));
    syncer.pass(&f.store, &f.clock, false).unwrap();
    assert_eq!(pushagent_config::lock(&f.store).machine(f.machines[2]).unwrap().hostname, "sh-ct-03");
    f.standin.spug().hosts.retain(|h| h.id != 13);
    let applied = syncer.pass(&f.store, &f.clock, false).unwrap();
    assert_eq!(applied.changed, 1);
    let store = pushagent_config::lock(&f.store);
    assert_eq!(store.machine(f.machines[2]).unwrap().hostname, "sh03");
    assert_eq!(store.unmatched_machines(10, 0).unwrap().0, 2);
}
