//! Settlement figures for a month of 5-minute points of MACHINES machines in 10 nodes (default
//! 1000: 30 days x 288 x 1000 = 8.64 M points), through the real admin API on loopback. The
//! history goes in through the store's real insert path (the settlement rows are kept by it),
//! one batch per machine-day (24 pushes + 24 verifications). A benchmark, not a test:
//!
//!     cargo run --release -p pushagent-config --example settlement -- [MACHINES] [FILLED_DB]
//!
//! FILLED_DB: a store this benchmark filled before, to skip the fill (KEEP=1 keeps the store it
//! fills and prints where). Besides the wall time of each request it reports the CPU time the
//! process spent per request (the server runs in it), which a busy machine does not inflate.

use std::time::{Duration, Instant};

use pushagent_config::store::Store;
use pushagent_config::{serve, tokens, Settings};
use pushagent_proto::agent::{HistoryBatch, HistoryItem, PushStatus, VerificationItem, VERIFY_MATCHED};

/// September 2026: 30 days, in the past (the report range is clipped to today).
const MONTH: &str = "202609";
const DAYS: u64 = 30;

fn main() {
    let machines: u64 = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(1000);
    let dir = std::env::temp_dir().join(format!("pushagent-settlement-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let db_path = dir.join("config.sqlite");
    let token = tokens::new_token("pa_api_").expect("token");
    let filled = std::env::args().nth(2);
    let started = Instant::now();
    let db_path = match &filled {
        Some(filled) => std::path::PathBuf::from(filled),
        None => db_path,
    };
    let mut store = Store::open(&db_path).expect("store");
    store
        .add_api_token(&format!("bench-{}", std::process::id()), &tokens::token_hash(&token), 0)
        .expect("api token");
    if filled.is_none() {
        fill(&mut store, &db_path, machines);
        let secs = started.elapsed().as_secs_f64();
        let items = machines * DAYS * 48;
        println!(
            "filled {machines} machines x {DAYS} days through Store::insert_history: {items} items in {secs:.0} s \
             ({:.0} items/s, settlement rows kept on the way)",
            items as f64 / secs
        );
    }
    let (settlement_bytes, settlement_rows) = store.settlement_size().expect("size");
    let file_bytes = std::fs::metadata(&db_path).map(|m| m.len()).unwrap_or(0);
    println!(
        "settlement_days: {settlement_rows} rows, {:.1} MiB = {:.1} KiB per machine-month (whole store file {:.0} MiB)",
        settlement_bytes as f64 / 1048576.0,
        settlement_bytes as f64 / 1024.0 / machines as f64 * 30.0 / DAYS as f64,
        file_bytes as f64 / 1048576.0
    );
    drop(store);

    let (addr_tx, addr_rx) = std::sync::mpsc::channel();
    let settings = Settings { db_path: db_path.clone(), ..Settings::default() };
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
        runtime.block_on(async move {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
            addr_tx.send(listener.local_addr().expect("addr")).expect("send");
            serve(settings, listener, std::future::pending()).await.expect("serve");
        });
    });
    let addr = addr_rx.recv_timeout(Duration::from_secs(30)).expect("server up");
    let http: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_secs(120)))
        .http_status_as_error(false)
        .build()
        .into();
    let range = format!("from={MONTH}01&to={MONTH}30");
    println!(
        "| settlement request ({machines} machines, {DAYS} days) | p50 ms | p95 ms | CPU ms per request | answer |"
    );
    println!("|---|---|---|---|---|");
    for (name, path, runs) in [
        ("node table (10 nodes)", format!("/api/settlement?{range}&group_by=node"), 20),
        ("machine table", format!("/api/settlement?{range}&group_by=machine"), 20),
        (
            "one machine's month series (8640 slots)",
            format!("/api/settlement/series?{range}&machine_id=7"),
            20,
        ),
        ("one node's month series", format!("/api/settlement/series?{range}&node=node-3"), 20),
        ("machine table as XLSX", format!("/api/settlement.xlsx?{range}&group_by=machine"), 5),
    ] {
        let mut times = Vec::new();
        let mut size = 0;
        let cpu_before = cpu_ms();
        for _ in 0..runs {
            let begin = Instant::now();
            let mut r = http
                .get(format!("http://{addr}{path}"))
                .header("Authorization", &format!("Bearer {token}"))
                .call()
                .expect("settlement");
            let status = r.status().as_u16();
            let body = r.body_mut().with_config().limit(100 << 20).read_to_vec().expect("body");
            times.push(begin.elapsed().as_secs_f64() * 1000.0);
            assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
            size = body.len();
        }
        let cpu_per_request = (cpu_ms() - cpu_before) / runs as f64;
        times.sort_by(|a, b| a.total_cmp(b));
        let p95 = times[((times.len() * 95).div_ceil(100)).saturating_sub(1)];
        println!(
            "| {name} | {:.0} | {:.0} | {:.0} | {:.0} KiB |",
            times[times.len() / 2],
            p95,
            cpu_per_request,
            size as f64 / 1024.0
        );
    }
    if std::env::var_os("KEEP").is_some() && filled.is_none() {
        println!("kept the filled store: {}", db_path.display());
    } else if filled.is_none() {
        let _ = std::fs::remove_dir_all(&dir);
    } else {
        let _ = std::fs::remove_dir(&dir);
    }
}

/// User + system CPU time of this process so far, in ms (/proc/self/stat, clock ticks of 10 ms).
fn cpu_ms() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name (which may hold spaces) start after the last ')'.
    let fields: Vec<&str> = stat.rsplit_once(')').map_or("", |(_, rest)| rest).split_whitespace().collect();
    let ticks = |i: usize| fields.get(i).and_then(|f| f.parse::<f64>().ok()).unwrap_or(0.0);
    // utime and stime are fields 14 and 15 of the line: 12 and 13 after the command name.
    (ticks(11) + ticks(12)) * 10.0
}

/// A deterministic traffic shape: a daily curve (low at 05:00, high at 21:00) per machine size,
/// with noise from a hash.
fn point(machine: u64, slot_of_day: u64, day: u64) -> u64 {
    let phase = (slot_of_day as f64 / 288.0 - 0.875) * std::f64::consts::TAU;
    let level = 0.55 + 0.45 * phase.cos();
    let mut h = machine.wrapping_mul(0x9E37_79B9_7F4A_7C15)
        ^ (day * 288 + slot_of_day).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    h ^= h >> 31;
    let noise = 0.9 + (h % 2000) as f64 / 10_000.0;
    // 100 Mbit/s to 1 Gbit/s machines: bytes in 300 s.
    let peak_bytes = (100 + machine % 10 * 100) as f64 * 1e6 / 8.0 * 300.0;
    (peak_bytes * level * noise) as u64
}

fn fill(store: &mut Store, db_path: &std::path::Path, machines: u64) {
    let conn = rusqlite::Connection::open(db_path).expect("open");
    for m in 0..machines {
        conn.execute(
            "INSERT INTO machines (machine_uid, hostname, mac, agent_version, first_seen_at, last_seen_at, report_timezone)
             VALUES (?1, ?2, ?3, '0.1.0', 0, 0, 'UTC+08:00')",
            rusqlite::params![format!("bench{m:06}"), format!("host-{m:04}"), mac(m)],
        )
        .expect("machine");
        conn.execute(
            "INSERT INTO machine_config (machine_id, version, push_enabled, acceptance, node, updated_at)
             VALUES (?1, 1, 1, 'accepted', ?2, 0)",
            rusqlite::params![(m + 1) as i64, format!("node-{}", m % 10)],
        )
        .expect("machine config");
    }
    drop(conn);
    for day in 0..DAYS {
        for m in 0..machines {
            let mut batch = HistoryBatch::default();
            for hour in 0..24 {
                let raw: [u64; 12] = std::array::from_fn(|k| point(m, hour * 12 + k as u64, day));
                // A +3 % offset, as round(raw x 1.03).
                let pushed = raw.map(|b| (b * 103 + 50) / 100);
                let flux_hour = format!("{MONTH}{:02}{hour:02}", day + 1);
                batch.pushes.push(HistoryItem {
                    mac: mac(m),
                    flux_hour: flux_hour.clone(),
                    version: 1,
                    attempt: 1,
                    raw_bytes: raw.iter().sum(),
                    pushed_bytes: pushed.iter().sum(),
                    raw_points: raw,
                    pushed_points: pushed,
                    offset_bp: 300,
                    offset_fixed_bytes: 0,
                    off_slots: 0,
                    status: PushStatus::Success,
                    http_status: Some(200),
                    code: Some(0),
                    message: None,
                    attempted_at: 1_788_000_000 + (day * 24 + hour) as i64 * 3600,
                });
                batch.verifications.push(VerificationItem {
                    mac: mac(m),
                    flux_hour,
                    version: 1,
                    matched: true,
                    corrected: false,
                    verified_at: 1_788_000_000 + (day * 24 + hour + 2) as i64 * 3600,
                    message: None,
                    state: Some(VERIFY_MATCHED.into()),
                    checked_version: Some(1),
                    // The customer holds what was pushed, but for one hour in 500 of one machine
                    // in 10 (a customer's copy that differs, as a real run may find).
                    customer_points: Some(if m % 10 == 3 && (day * 24 + hour) % 500 == 7 {
                        pushed.map(|p| p / 2)
                    } else {
                        pushed
                    }),
                });
            }
            store.insert_history((m + 1) as i64, &batch, 0).expect("insert");
        }
    }
}

fn mac(m: u64) -> String {
    format!("0c:c4:7a:{:02x}:{:02x}:{:02x}", (m >> 16) & 0xff, (m >> 8) & 0xff, m & 0xff)
}
