//! History page queries against a store holding ROWS push-history rows (default 10 million:
//! 1000 machines x 10,000 attempts), through the real admin API on loopback. A benchmark,
//! not a test:
//!
//!     cargo run --release -p pushagent-config --example history_pages -- [ROWS] [FILLED_DB]
//!
//! FILLED_DB: a store this benchmark filled before (copied aside), to skip the fill.

use std::time::{Duration, Instant};

use pushagent_config::store::Store;
use pushagent_config::{serve, tokens, Settings};

fn main() {
    let rows: u64 = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(10_000_000);
    let machines: u64 = 1000;
    let dir = std::env::temp_dir().join(format!("pushagent-history-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let db_path = dir.join("config.sqlite");
    let token = tokens::new_token("pa_api_").expect("token");
    let started = Instant::now();
    let filled = std::env::args().nth(2);
    if let Some(filled) = &filled {
        std::fs::copy(filled, &db_path).expect("copy the filled store");
        let _ = std::fs::remove_file(dir.join("config.sqlite-wal"));
    }
    // Creates the store, or migrates the copied one to this version.
    Store::open(&db_path)
        .expect("store")
        .add_api_token(&format!("bench-{}", std::process::id()), &tokens::token_hash(&token), 0)
        .expect("api token");
    match &filled {
        Some(filled) => println!("copied and migrated {filled} in {:.0} s", started.elapsed().as_secs_f64()),
        None => {
            fill(&db_path, machines, rows);
            println!(
                "filled {rows} history rows for {machines} machines in {:.0} s",
                started.elapsed().as_secs_f64()
            );
        }
    }
    // Ten nodes of 100 machines, for the node filter.
    rusqlite::Connection::open(&db_path)
        .expect("open")
        .execute("UPDATE machine_config SET node = 'node-' || (machine_id % 10)", [])
        .expect("nodes");

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
        .timeout_global(Some(Duration::from_secs(60)))
        .http_status_as_error(false)
        .build()
        .into();
    println!(
        "| history page query ({rows} rows, page_size 20, 30 requests) | p50 ms | p95 ms | total rows |"
    );
    println!("|---|---|---|---|");
    for (name, query) in [
        ("first page, newest first", "page=1&page_size=20".to_string()),
        ("page 500", "page=500&page_size=20".to_string()),
        ("one MAC", "mac=0c:c4:7a:00:01:f4&page=1&page_size=20".to_string()),
        ("failures only", "status=failure&page=1&page_size=20".to_string()),
        ("one node (100 machines)", "node=node-3&page=1&page_size=20".to_string()),
        ("one day's hours", "from_hour=2026010100&to_hour=2026010123&page=1&page_size=20".to_string()),
        (
            "failures in one day",
            "status=failure&from_hour=2026010100&to_hour=2026010123&page=1&page_size=20".to_string(),
        ),
        ("latest attempt per hour", "latest=true&page=1&page_size=20".to_string()),
        ("latest, one MAC", "latest=true&mac=0c:c4:7a:00:01:f4&page=1&page_size=20".to_string()),
        (
            "latest, failures in one day",
            "latest=true&status=failure&from_hour=2026010100&to_hour=2026010123&page=1&page_size=20"
                .to_string(),
        ),
    ] {
        let mut times = Vec::new();
        let mut total = String::new();
        for _ in 0..30 {
            let begin = Instant::now();
            let mut r = http
                .get(format!("http://{addr}/api/history?{query}"))
                .header("Authorization", &format!("Bearer {token}"))
                .call()
                .expect("history");
            let status = r.status().as_u16();
            let text = r.body_mut().with_config().limit(10 << 20).read_to_string().expect("body");
            times.push(begin.elapsed().as_secs_f64() * 1000.0);
            assert_eq!(status, 200, "{text}");
            total = serde_json::from_str::<serde_json::Value>(&text).expect("json")["total"].to_string();
        }
        times.sort_by(|a, b| a.total_cmp(b));
        println!("| {name} | {:.1} | {:.1} | {total} |", times[14], times[28]);
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// Machines and history rows straight into the store's tables (the API would take hours).
fn fill(db_path: &std::path::Path, machines: u64, rows: u64) {
    let mut conn = rusqlite::Connection::open(db_path).expect("open");
    conn.pragma_update(None, "synchronous", "OFF").expect("pragma");
    let tx = conn.transaction().expect("tx");
    for m in 0..machines {
        tx.execute(
            "INSERT INTO machines (machine_uid, hostname, mac, agent_version, first_seen_at, last_seen_at)
             VALUES (?1, ?2, ?3, '0.1.0', 0, 0)",
            rusqlite::params![format!("bench{m:06}"), format!("node-{m}"), mac(m)],
        )
        .expect("machine");
        tx.execute(
            "INSERT INTO machine_config (machine_id, version, push_enabled, acceptance, updated_at)
             VALUES (?1, 1, 1, 'accepted', 0)",
            [(m + 1) as i64],
        )
        .expect("machine config");
    }
    tx.commit().expect("commit");
    let points = serde_json::to_string(&[1000u64; 12]).expect("json");
    let mut done = 0;
    while done < rows {
        let tx = conn.transaction().expect("tx");
        {
            let mut stmt = tx
                .prepare(
                    "INSERT INTO push_history (machine_id, mac, flux_hour, version, attempt, raw_bytes, pushed_bytes,
                        raw_points, pushed_points, offset_bp, status, http_status, code, message, attempted_at, received_at)
                     VALUES (?1, ?2, ?3, 1, ?4, 12000, 12000, ?5, ?5, 0, ?6, 200, 0, 'ok', ?7, ?7)",
                )
                .expect("prepare");
            for i in done..(done + 200_000).min(rows) {
                let m = i % machines;
                let n = i / machines; // the machine's n-th attempt
                let hour = n / 2; // two attempts per hour: a failure, then the success
                let day = hour / 24;
                let flux_hour = format!("2026{:02}{:02}{:02}", 1 + (day / 28) % 12, 1 + day % 28, hour % 24);
                let status = if n.is_multiple_of(2) { "failure" } else { "success" };
                stmt.execute(rusqlite::params![
                    (m + 1) as i64,
                    mac(m),
                    flux_hour,
                    (n % 2 + 1) as i64,
                    points,
                    status,
                    (1_767_225_600 + hour * 3600 + m) as i64
                ])
                .expect("row");
            }
        }
        tx.commit().expect("commit");
        done = (done + 200_000).min(rows);
    }
}

fn mac(m: u64) -> String {
    format!("0c:c4:7a:{:02x}:{:02x}:{:02x}", (m >> 16) & 0xff, (m >> 8) & 0xff, m & 0xff)
}
