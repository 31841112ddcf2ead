//! Settlement through the real HTTP API: figures per machine and per node from the pushed
//! history (latest successful version of each hour wins), raw vs pushed with an offset, a node
//! as the per-slot sum of its machines, report days cut in the service's time zone whatever
//! zone an agent names its hours in, what is known of the customer's copy, and the exports.
//! Every expected figure is computed by hand in the comments.

#![allow(clippy::unwrap_used)]

mod support;

use pushagent_proto::agent::{
    HistoryItem, PushStatus, VerificationItem, HEARTBEAT_PATH, HISTORY_PATH, VERIFY_CUSTOMER_EXTRA,
    VERIFY_MATCHED, VERIFY_MISMATCH_CORRECTED,
};
use serde_json::{json, Value};
use support::{heartbeat, Server, T0};

const MAC_A: &str = "aa:bb:cc:00:01:01";
const MAC_B: &str = "aa:bb:cc:00:01:02";
const MAC_C: &str = "aa:bb:cc:00:01:03";
const MAC_D: &str = "aa:bb:cc:00:01:04";
/// The day everything is pushed for: 2025-11-24 (T0 is 2025-11-25 00:00 at UTC+08:00).
const DAY: &str = "20251124";

fn item(
    mac: &str,
    hour: usize,
    version: u32,
    attempt: u32,
    raw: [u64; 12],
    pushed: [u64; 12],
    ok: bool,
) -> HistoryItem {
    HistoryItem {
        mac: mac.into(),
        flux_hour: format!("{DAY}{hour:02}"),
        version,
        attempt,
        raw_bytes: raw.iter().sum(),
        pushed_bytes: pushed.iter().sum(),
        raw_points: raw,
        pushed_points: pushed,
        offset_bp: 500,
        offset_fixed_bytes: 0,
        off_slots: 0,
        status: if ok { PushStatus::Success } else { PushStatus::Failure },
        http_status: Some(if ok { 200 } else { 503 }),
        code: None,
        message: None,
        attempted_at: T0 + hour as i64,
    }
}

fn verification(mac: &str, flux_hour: String, version: u32, matched: bool, at: i64) -> VerificationItem {
    VerificationItem {
        mac: mac.into(),
        flux_hour,
        version,
        matched,
        corrected: false,
        verified_at: at,
        message: None,
        ..Default::default()
    }
}

/// The 12 points of `hour` of a day whose slot i is `f(i)`.
fn hour_of(hour: usize, f: impl Fn(usize) -> u64) -> [u64; 12] {
    std::array::from_fn(|k| f(hour * 12 + k))
}

fn post(server: &Server, token: &str, batch: Value) {
    let (status, answer) = server.send("POST", HISTORY_PATH, &batch, Some(token));
    assert_eq!(status, 200, "{answer}");
}

fn machine(
    server: &Server,
    uid: &str,
    host: &str,
    mac: &str,
    zone: &str,
    node: Option<&str>,
) -> (String, i64) {
    let (token, id) = server.register(uid, host, mac);
    let mut beat = heartbeat(host, mac, T0);
    beat.report_timezone = Some(zone.into());
    assert_eq!(server.send("POST", HEARTBEAT_PATH, &json!(beat), Some(&token)).0, 200);
    if let Some(node) = node {
        let (status, answer) =
            server.admin_send("PATCH", &format!("/api/machines/{id}/config"), &json!({ "node": node }));
        assert_eq!(status, 200, "{answer}");
    }
    (token, id)
}

struct Fleet {
    server: Server,
    ids: [i64; 4],
    _dir: tempfile::TempDir,
}

/// A: no node, slot i of the day = (i+1) × 1000 bytes raw, pushed +5 %; hour 10 first pushed
/// as version 1 with huge points, then version 2 (the right ones), then a stale version-1
/// retry and a failed version 3, both huge: only version 2 may count. Every hour verified.
/// B and C: node "bj", 100 bytes a slot, B bursting 10 000 in the day's first 15 slots, C in
/// the last 15; B has one hour the customer holds differently; C re-pushed hour 5 after its
/// verification. D: names its hours in UTC; pushed UTC hours 15 and 16 of the 24th, which are
/// 23:00 of the 24th and 00:00 of the 25th at UTC+08:00.
fn fleet() -> Fleet {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    let (ta, a) = machine(&server, "m-a", "web-a", MAC_A, "UTC+08:00", None);
    let (tb, b) = machine(&server, "m-b", "web-b", MAC_B, "UTC+08:00", Some("bj"));
    let (tc, c) = machine(&server, "m-c", "web-c", MAC_C, "UTC+08:00", Some("bj"));
    let (td, d) = machine(&server, "m-d", "web-d", MAC_D, "UTC", None);
    let raw_a = |i: usize| (i as u64 + 1) * 1000;
    let pushed_a = |i: usize| (i as u64 + 1) * 1050;
    let huge = [1_000_000_000u64; 12];
    let mut pushes = Vec::new();
    let mut verifications = Vec::new();
    for h in 0..24 {
        if h == 10 {
            pushes.push(item(MAC_A, h, 1, 1, huge, huge, true));
        }
        let version = if h == 10 { 2 } else { 1 };
        pushes.push(item(MAC_A, h, version, 1, hour_of(h, raw_a), hour_of(h, pushed_a), true));
        verifications.push(verification(MAC_A, format!("{DAY}{h:02}"), version, true, T0 + 100 + h as i64));
    }
    pushes.push(item(MAC_A, 10, 1, 2, huge, huge, true));
    pushes.push(item(MAC_A, 10, 3, 1, huge, huge, false));
    post(&server, &ta, json!({ "pushes": pushes, "verifications": verifications }));

    let burst = |range: std::ops::Range<usize>| move |i: usize| if range.contains(&i) { 10_000 } else { 100 };
    for (token, mac, f) in [(&tb, MAC_B, burst(0..15)), (&tc, MAC_C, burst(273..288))] {
        let pushes: Vec<_> =
            (0..24).map(|h| item(mac, h, 1, 1, hour_of(h, &f), hour_of(h, &f), true)).collect();
        let verifications: Vec<_> = (0..24)
            .map(|h| verification(mac, format!("{DAY}{h:02}"), 1, !(mac == MAC_B && h == 7), T0 + 200))
            .collect();
        post(&server, token, json!({ "pushes": pushes, "verifications": verifications }));
    }
    // C's hour 5 again as version 2 (same points) after it was verified: not verified since.
    post(&server, &tc, json!({ "pushes": [item(MAC_C, 5, 2, 1, [100; 12], [100; 12], true)] }));

    let d_hour = |hour: &str, bytes: u64| HistoryItem {
        flux_hour: format!("{DAY}{hour}"),
        ..item(MAC_D, 0, 1, 1, [bytes; 12], [bytes; 12], true)
    };
    post(&server, &td, json!({ "pushes": [d_hour("15", 7000), d_hour("16", 5000)] }));
    // "Now" is 2025-12-01 00:30 at UTC+08:00: November is over.
    server.clock.set(T0 + 6 * 86_400 + 1800);
    Fleet { server, ids: [a, b, c, d], _dir: dir }
}

fn get(server: &Server, path: &str) -> Value {
    let (status, body) = server.admin_get(path);
    assert_eq!(status, 200, "{path}: {body}");
    body
}

fn row<'a>(report: &'a Value, key: &str, value: Value) -> &'a Value {
    report["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r[key] == value)
        .unwrap_or_else(|| panic!("{key}={value}: {report}"))
}

#[test]
fn machine_figures_take_the_latest_successful_version_and_show_raw_and_pushed() {
    let fleet = fleet();
    let report = get(&fleet.server, &format!("/api/settlement?from={DAY}&to={DAY}"));
    assert_eq!(report["days"], json!([DAY]));
    let a = row(&report, "machine_id", json!(fleet.ids[0]));
    assert_eq!(a["hostname"], "web-a");
    // Raw slots 1000, 2000, ..., 288 000: index 273 of 288 → 274 000; peak 288 000;
    // total 1000 × 288 × 289 / 2.
    assert_eq!(a["raw"]["p95_bytes"], 274_000);
    assert_eq!(a["raw"]["max_day_p95_bytes"], 274_000);
    assert_eq!(a["raw"]["mean_day_p95_bytes"], 274_000);
    assert_eq!(a["raw"]["peak_bytes"], 288_000);
    assert_eq!(a["raw"]["total_bytes"], 41_616_000u64);
    assert_eq!((a["raw"]["present"].as_u64(), a["raw"]["expected"].as_u64()), (Some(288), Some(288)));
    // Pushed = raw + 5 %: 287 700, 302 400, 43 696 800; 287 700 B × 8 / 300 s = 7 672 bit/s = 0.007672 Mbps.
    assert_eq!(a["pushed"]["p95_bytes"], 287_700);
    assert_eq!(a["pushed"]["peak_bytes"], 302_400);
    assert_eq!(a["pushed"]["total_bytes"], 43_696_800u64);
    assert!((a["pushed"]["p95_mbps"].as_f64().unwrap() - 0.007672).abs() < 1e-12);
    // Every hour verified equal to the version in force: the customer's figures are the pushed.
    assert_eq!(a["customer"]["status"], "confirmed");
    assert_eq!(
        a["customer"]["hours"],
        json!({ "confirmed": 24, "mismatched": 0, "mismatched_without_values": 0, "unverified": 0, "extra": 0 })
    );
    assert_eq!(a["customer"]["figures"]["p95_bytes"], 287_700);
    assert_eq!(a["difference"]["p95_bytes"], 0);
    assert_eq!(a["difference"]["total_bytes"], 0);
}

#[test]
fn a_node_is_the_sum_of_its_machines_per_slot_then_the_percentile() {
    let fleet = fleet();
    let machines = get(&fleet.server, &format!("/api/settlement?from={DAY}&to={DAY}&node=bj"));
    assert_eq!(machines["rows"].as_array().unwrap().len(), 2, "{machines}");
    // Each machine: 15 slots of 10 000 reach index 273 → 10 000.
    for id in [fleet.ids[1], fleet.ids[2]] {
        assert_eq!(row(&machines, "machine_id", json!(id))["raw"]["p95_bytes"], 10_000);
    }
    let nodes = get(&fleet.server, &format!("/api/settlement?from={DAY}&to={DAY}&group_by=node"));
    let bj = row(&nodes, "node", json!("bj"));
    // The node's slots: 30 of 10 100 and 258 of 200 → index 273 is 10 100, not 10 000 + 10 000.
    assert_eq!(bj["machines"], 2);
    assert_eq!(bj["raw"]["p95_bytes"], 10_100);
    assert_eq!(bj["raw"]["peak_bytes"], 10_100);
    assert_eq!(bj["raw"]["total_bytes"], 2 * (15 * 10_000 + 273 * 100));
    assert_eq!((bj["raw"]["present"].as_u64(), bj["raw"]["expected"].as_u64()), (Some(576), Some(576)));
    // B's hour 7 differs at the customer, said by an agent that does not send the customer's
    // points: the node's customer figures are unknown, not guessed.
    assert_eq!(bj["customer"]["status"], "mismatched");
    assert_eq!(
        bj["customer"]["hours"],
        json!({ "confirmed": 46, "mismatched": 1, "mismatched_without_values": 1, "unverified": 1, "extra": 0 })
    );
    assert!(bj["customer"]["figures"].is_null() && bj["difference"].is_null());
    let c = row(&machines, "machine_id", json!(fleet.ids[2]));
    assert_eq!(c["customer"]["status"], "unverified", "re-pushed after its verification");
    // The node without a name holds A and D.
    assert_eq!(row(&nodes, "node", json!(""))["machines"], 2);
    // The node's series: its row with days, and the summed slots.
    let series = get(&fleet.server, &format!("/api/settlement/series?from={DAY}&to={DAY}&node=bj"));
    assert_eq!(series["row"]["raw"]["days"][0]["p95_bytes"], 10_100);
    assert_eq!(series["raw_bytes"][0], 10_100);
    assert_eq!(series["raw_bytes"][100], 200);
    assert_eq!(series["present"][0], 2);
    assert_eq!(series["raw_bytes"].as_array().unwrap().len(), 288);
}

#[test]
fn report_days_are_cut_in_the_services_zone_whatever_zone_the_agent_names_hours_in() {
    let fleet = fleet();
    let d = fleet.ids[3];
    // UTC hour 15 of the 24th is 23:00-24:00 of the 24th at UTC+08:00: the day's last 12 slots.
    let series = get(&fleet.server, &format!("/api/settlement/series?from={DAY}&to={DAY}&machine_id={d}"));
    let raw = series["raw_bytes"].as_array().unwrap();
    assert!(raw[..276].iter().all(|v| v == 0) && raw[276..].iter().all(|v| v == 7000), "{raw:?}");
    assert_eq!(series["row"]["raw"]["total_bytes"], 84_000);
    assert_eq!(series["row"]["raw"]["present"], 12);
    // UTC hour 16 is the first hour of the 25th.
    let next =
        get(&fleet.server, &format!("/api/settlement/series?from=20251125&to=20251125&machine_id={d}"));
    assert_eq!(next["row"]["raw"]["total_bytes"], 60_000);
    assert_eq!(next["raw_bytes"][0], 5000);
    assert_eq!(next["raw_bytes"][12], 0);
    // Both days in one range: 2 × 288 slots, 24 present, 月95 of 576 values (552 zeros) = 0.
    let both = get(&fleet.server, &format!("/api/settlement?from={DAY}&to=20251125&machine_id={d}"));
    let figures = &both["rows"][0]["raw"];
    assert_eq!((figures["present"].as_u64(), figures["expected"].as_u64()), (Some(24), Some(576)));
    assert_eq!(figures["p95_bytes"], 0);
    assert_eq!(figures["peak_bytes"], 7000);
}

#[test]
fn the_month_defaults_to_the_current_one_and_is_clipped_to_today() {
    let fleet = fleet();
    // Now is 2025-12-01: the default range is December, clipped to its first day.
    let report = get(&fleet.server, "/api/settlement");
    assert_eq!((report["from"].as_str(), report["to"].as_str()), (Some("20251201"), Some("20251201")));
    assert_eq!(report["rows"], json!([]));
    let november = get(&fleet.server, "/api/settlement?from=20251101&to=20251130");
    assert_eq!(november["days"].as_array().unwrap().len(), 30);
    let a = row(&november, "machine_id", json!(fleet.ids[0]));
    // 月均日95 over 30 days with one day of 274 000: 9 133.33 → 9 133; 月95 of 8 640 slots with
    // 288 non-zero: index 8 207 is a zero.
    assert_eq!(a["raw"]["mean_day_p95_bytes"], 9_133);
    assert_eq!(a["raw"]["max_day_p95_bytes"], 274_000);
    assert_eq!(a["raw"]["p95_bytes"], 0);
    assert_eq!((a["raw"]["present"].as_u64(), a["raw"]["expected"].as_u64()), (Some(288), Some(8640)));
}

#[test]
fn bad_parameters_are_refused_naming_the_field() {
    let fleet = fleet();
    for (query, field) in [
        ("from=2025-11-01", "from"),
        ("from=20251301", "from"),
        ("from=20251110&to=20251101", "to"),
        ("from=20240101&to=20251101", "to"),
        ("group_by=rack", "group_by"),
        ("machine_id=x", "machine_id"),
    ] {
        let (status, body) = fleet.server.admin_get(&format!("/api/settlement?{query}"));
        assert_eq!(status, 400, "{query}: {body}");
        assert!(body["message"].as_str().unwrap().contains(field), "{query}: {body}");
    }
    let (status, body) = fleet.server.admin_get("/api/settlement/series?from=20251124");
    assert_eq!(status, 400, "{body}");
    let (status, _) = fleet.server.admin_get("/api/settlement?machine_id=999");
    assert_eq!(status, 404);
    let (status, _) = fleet.server.get("/api/settlement", None);
    assert_eq!(status, 401);
}

#[test]
fn the_table_exports_as_csv_and_xlsx_with_the_same_figures() {
    let fleet = fleet();
    let (status, text) = fleet.server.get_text(
        &format!("/api/settlement.csv?from={DAY}&to={DAY}&group_by=node"),
        Some(&fleet.server.api_token),
    );
    assert_eq!(status, 200);
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let header: Vec<String> = reader.headers().unwrap().iter().map(str::to_owned).collect();
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    let col =
        |name: &str| header.iter().position(|h| h == name).unwrap_or_else(|| panic!("{name}: {header:?}"));
    let bj = rows.iter().find(|r| &r[col("node")] == "bj").unwrap();
    assert_eq!(&bj[col("raw_month95_bytes")], "10100");
    // 10 100 B × 8 / 300 s = 269.333… bit/s = 0.000269 Mbps (6 decimals).
    assert_eq!(&bj[col("raw_month95_mbps")], "0.000269");
    assert_eq!(&bj[col("customer_status")], "mismatched");
    assert_eq!(&bj[col("customer_month95_bytes")], "", "unknown, not guessed");
    let unnamed = rows.iter().find(|r| r[col("node")].is_empty()).unwrap();
    assert_eq!(&unnamed[col("machines")], "2");

    let response = support::client()
        .get(fleet.server.url(&format!("/api/settlement.xlsx?from={DAY}&to={DAY}")))
        .header("Authorization", format!("Bearer {}", fleet.server.api_token))
        .call()
        .unwrap();
    assert_eq!(response.status(), 200);
    let content_type = response.headers().get("content-type").unwrap().to_str().unwrap().to_owned();
    assert!(content_type.contains("spreadsheetml"), "{content_type}");
    let bytes = response.into_body().read_to_vec().unwrap();
    assert_eq!(&bytes[..2], b"PK", "an XLSX is a zip");
}

/// E (a new agent, which sends the customer's points with each verification): 100 B in every
/// slot of hours 0-22, pushed as raw; the customer holds hours 3 and 4 at 10 000 B a slot
/// (the agent's corrections did not stick), and holds hour 23, which E never sent, at 100 B.
#[test]
fn the_customers_own_figures_come_from_the_points_the_agents_read_back() {
    const MAC_E: &str = "aa:bb:cc:00:01:05";
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    let (te, e) = machine(&server, "m-e", "web-e", MAC_E, "UTC+08:00", Some("sh"));
    let pushes: Vec<_> = (0..23).map(|h| item(MAC_E, h, 1, 1, [100; 12], [100; 12], true)).collect();
    let mut verifications: Vec<_> = (0..23)
        .map(|h| {
            let theirs = if h == 3 || h == 4 { [10_000; 12] } else { [100; 12] };
            let state = if theirs == [100; 12] { VERIFY_MATCHED } else { VERIFY_MISMATCH_CORRECTED };
            VerificationItem {
                state: Some(state.into()),
                checked_version: Some(1),
                customer_points: Some(theirs),
                ..verification(MAC_E, format!("{DAY}{h:02}"), 1, theirs == [100; 12], T0 + 300)
            }
        })
        .collect();
    verifications.push(VerificationItem {
        state: Some(VERIFY_CUSTOMER_EXTRA.into()),
        checked_version: Some(1),
        customer_points: Some([100; 12]),
        ..verification(MAC_E, format!("{DAY}23"), 0, false, T0 + 300)
    });
    post(&server, &te, json!({ "pushes": pushes, "verifications": verifications }));
    server.clock.set(T0 + 6 * 86_400 + 1800);

    let report = get(&server, &format!("/api/settlement?from={DAY}&to={DAY}&machine_id={e}"));
    let r = row(&report, "machine_id", json!(e));
    // Pushed: 276 slots of 100 and 12 missing (0): index 273 ascending is 100; 27 600 B.
    assert_eq!(r["pushed"]["p95_bytes"], 100);
    assert_eq!(r["pushed"]["total_bytes"], 27_600);
    // The customer's copy: 264 slots of 100 and 24 of 10 000: index 273 is 10 000;
    // 264 × 100 + 24 × 10 000 = 266 400 B; every slot present (hour 23 is theirs).
    assert_eq!(r["customer"]["status"], "mismatched");
    assert_eq!(
        r["customer"]["hours"],
        json!({ "confirmed": 21, "mismatched": 2, "mismatched_without_values": 0, "unverified": 0, "extra": 1 })
    );
    assert_eq!(r["customer"]["figures"]["p95_bytes"], 10_000);
    assert_eq!(r["customer"]["figures"]["peak_bytes"], 10_000);
    assert_eq!(r["customer"]["figures"]["total_bytes"], 266_400);
    assert_eq!(r["customer"]["figures"]["present"], 288);
    assert_eq!(r["difference"]["p95_bytes"], 9_900);
    assert_eq!(r["difference"]["total_bytes"], 238_800);
    // The node (E alone) says the same; the series carries the customer's slots.
    let nodes = get(&server, &format!("/api/settlement?from={DAY}&to={DAY}&group_by=node"));
    assert_eq!(row(&nodes, "node", json!("sh"))["customer"]["figures"]["p95_bytes"], 10_000);
    let series = get(&server, &format!("/api/settlement/series?from={DAY}&to={DAY}&machine_id={e}"));
    let theirs: Vec<u64> = serde_json::from_value(series["customer_bytes"].clone()).unwrap();
    assert_eq!(theirs[36..60], [10_000; 24]);
    assert_eq!(theirs[276..], [100; 12]);
    assert_eq!(series["pushed_bytes"][276], 0);
    assert_eq!(series["row"]["customer"]["figures"]["days"][0]["p95_bytes"], 10_000);
}
