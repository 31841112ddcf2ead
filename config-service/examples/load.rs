//! Load benchmark of the agent API: N simulated agents on loopback send heartbeats and
//! history batches to a real in-process config service, side by side with a trivial handler
//! on the same framework in the same run (the ratio says what our work costs). Then the same
//! heartbeats with `pushagent-config runcheck` (another process, on the same store) looping
//! beside them (errors expected: 0), and a flood of 200 concurrent logins with the process's
//! RSS sampled before, during and after. Bounded in count and time. A benchmark, not a test:
//!
//!     cargo build --release -p pushagent-config
//!     cargo run --release -p pushagent-config --example load -- [AGENTS] [SECONDS] [THREADS]
//!
//! (`runcheck` is the `pushagent-config` binary next to this example's directory, or
//! `$PUSHAGENT_CONFIG_BIN`.)

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use pushagent_config::{serve, Secret, Settings};
use pushagent_proto::agent::{
    Backlog, Facts, HeartbeatRequest, HistoryBatch, HistoryItem, PushStatus, RegisterRequest,
    RegisterResponse, HEARTBEAT_PATH, HISTORY_PATH, REGISTER_PATH,
};

const ENROLL: &str = "bench-enroll-token-0123456789";
const ADMIN_PASSWORD: &str = "bench-admin-password";

fn main() {
    let args: Vec<u64> = std::env::args().skip(1).filter_map(|a| a.parse().ok()).collect();
    let agents = *args.first().unwrap_or(&1000) as usize;
    let seconds = *args.get(1).unwrap_or(&10);
    let threads = *args.get(2).unwrap_or(&32) as usize;
    let dir = std::env::temp_dir().join(format!("pushagent-load-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");

    let (addr_tx, addr_rx) = std::sync::mpsc::channel();
    let db_path = dir.join("config.sqlite");
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
        runtime.block_on(async move {
            let settings =
                Settings { db_path, enrollment_token: Some(Secret::new(ENROLL)), ..Settings::default() };
            {
                let store = pushagent_config::store::Store::open(&settings.db_path).expect("store");
                let hash = pushagent_config::tokens::hash_password(ADMIN_PASSWORD).expect("hash");
                store.add_user("admin", &hash, 0).expect("user");
                // The checks run for real (global switch on): each runcheck pass writes.
                let (_, mut doc) = store.global().expect("global");
                doc.push_enabled = true;
                drop(store);
                let mut store = pushagent_config::store::Store::open(&settings.db_path).expect("store");
                store.update_global(&doc, "bench", 0).expect("global");
            }
            let service = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
            let trivial = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
            addr_tx
                .send((service.local_addr().expect("addr"), trivial.local_addr().expect("addr")))
                .expect("send");
            let app = axum::Router::new().route("/hb", axum::routing::post(|| async { "{}" }));
            tokio::spawn(async move { axum::serve(trivial, app).await });
            serve(settings, service, std::future::pending()).await.expect("serve");
        });
    });
    let (service, trivial) = addr_rx.recv_timeout(Duration::from_secs(30)).expect("servers up");
    let http: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_secs(10)))
        .http_status_as_error(false)
        .build()
        .into();

    // Register the agents (not timed: it is once per agent's life).
    let tokens: Vec<String> = (0..agents)
        .map(|i| {
            let mac = format!("0c:c4:7a:{:02x}:{:02x}:{:02x}", (i >> 16) & 0xff, (i >> 8) & 0xff, i & 0xff);
            let request = RegisterRequest {
                enrollment_token: ENROLL.into(),
                machine_id: format!("bench{i:06}"),
                hostname: format!("node-{i}"),
                mac,
                agent_version: "0.1.0".into(),
                facts: Facts::default(),
                identity: Default::default(),
            };
            let body = serde_json::to_string(&request).expect("json");
            let mut r = http
                .post(format!("http://{service}{REGISTER_PATH}"))
                .header("Content-Type", "application/json")
                .send(body)
                .expect("register");
            let text = r.body_mut().read_to_string().expect("body");
            serde_json::from_str::<RegisterResponse>(&text).expect("registered").agent_token
        })
        .collect();
    let macs: Vec<String> = (0..agents)
        .map(|i| format!("0c:c4:7a:{:02x}:{:02x}:{:02x}", (i >> 16) & 0xff, (i >> 8) & 0xff, i & 0xff))
        .collect();

    let heartbeat = |i: usize| {
        serde_json::to_string(&HeartbeatRequest {
            agent_version: "0.1.0".into(),
            mac: macs[i].clone(),
            hostname: format!("node-{i}"),
            interfaces: Vec::new(),
            chosen_interface: "eth0".into(),
            ambiguous: false,
            backlog: Backlog::default(),
            last_push: None,
            agent_time: chrono::Utc::now().timestamp(),
            facts: None,
            report_timezone: None,
            identity: Default::default(),
            health: None,
        })
        .expect("json")
    };
    let history = |i: usize, round: usize| {
        let pushes = (0..12)
            .map(|h| HistoryItem {
                mac: macs[i].clone(),
                flux_hour: format!("202611{:02}{:02}", 1 + (round / 24) % 28, round % 24),
                version: 1,
                attempt: h + 1,
                raw_bytes: 12_000,
                pushed_bytes: 12_000,
                raw_points: [1_000; 12],
                pushed_points: [1_000; 12],
                offset_bp: 0,
                offset_fixed_bytes: 0,
                off_slots: 0,
                status: PushStatus::Failure,
                http_status: Some(503),
                code: None,
                message: Some("bench".into()),
                attempted_at: chrono::Utc::now().timestamp(),
            })
            .collect();
        serde_json::to_string(&HistoryBatch { pushes, ..Default::default() }).expect("json")
    };

    println!("| load ({agents} agents, {threads} threads, {seconds} s each) | requests/s | p50 ms | p99 ms | ratio |");
    println!("|---|---|---|---|---|");
    let base = run(&http, threads, seconds, |_, _| (format!("http://{trivial}/hb"), None, "{}".to_string()));
    report("trivial axum handler", &base, base.0);
    let hb = run(&http, threads, seconds, |t, n| {
        let i = (t * 7919 + n) % agents;
        (format!("http://{service}{HEARTBEAT_PATH}"), Some(tokens[i].clone()), heartbeat(i))
    });
    report("POST /agent/heartbeat", &hb, base.0);
    let hist = run(&http, threads, seconds, |t, n| {
        let i = (t * 7919 + n) % agents;
        (format!("http://{service}{HISTORY_PATH}"), Some(tokens[i].clone()), history(i, n))
    });
    report("POST /agent/history/ (12 items)", &hist, base.0);

    // The same heartbeats and history with `runcheck` looping beside the service.
    let runcheck_bin =
        std::env::var_os("PUSHAGENT_CONFIG_BIN").map(std::path::PathBuf::from).unwrap_or_else(|| {
            let exe = std::env::current_exe().expect("exe");
            exe.parent().and_then(|d| d.parent()).expect("target dir").join("pushagent-config")
        });
    let checking = Arc::new(AtomicBool::new(true));
    let (passes, failed_passes) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let checker = {
        let (checking, passes, failed_passes, db) =
            (checking.clone(), passes.clone(), failed_passes.clone(), dir.join("config.sqlite"));
        std::thread::spawn(move || {
            while checking.load(Ordering::Relaxed) && passes.load(Ordering::Relaxed) < 100_000 {
                let out = std::process::Command::new(&runcheck_bin)
                    .arg("runcheck")
                    .env("PUSHAGENT_DB_PATH", &db)
                    .env("RUST_LOG", "error")
                    .output()
                    .unwrap_or_else(|e| panic!("cannot run {}: {e}", runcheck_bin.display()));
                passes.fetch_add(1, Ordering::Relaxed);
                if !out.status.success() {
                    failed_passes.fetch_add(1, Ordering::Relaxed);
                }
            }
        })
    };
    let mixed = run(&http, threads, seconds, |t, n| {
        let i = (t * 7919 + n) % agents;
        if n % 2 == 0 {
            (format!("http://{service}{HEARTBEAT_PATH}"), Some(tokens[i].clone()), heartbeat(i))
        } else {
            (format!("http://{service}{HISTORY_PATH}"), Some(tokens[i].clone()), history(i, 10_000 + n))
        }
    });
    checking.store(false, Ordering::Relaxed);
    checker.join().expect("runcheck loop");
    report(
        &format!(
            "heartbeat + history beside a runcheck loop ({} passes, {} failed)",
            passes.load(Ordering::Relaxed),
            failed_passes.load(Ordering::Relaxed)
        ),
        &mixed,
        base.0,
    );

    // A flood of 200 concurrent logins (half the right user with wrong passwords, half
    // unknown names), the process's resident memory sampled every 20 ms.
    let rss_before = rss_kib();
    let peak = Arc::new(AtomicU64::new(rss_before));
    let flooding = Arc::new(AtomicBool::new(true));
    let sampler = {
        let (peak, flooding) = (peak.clone(), flooding.clone());
        std::thread::spawn(move || {
            while flooding.load(Ordering::Relaxed) {
                peak.fetch_max(rss_kib(), Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(20));
            }
        })
    };
    let started = Instant::now();
    let statuses: Vec<u16> = std::thread::scope(|scope| {
        let logins: Vec<_> = (0..200)
            .map(|i| {
                let http = &http;
                scope.spawn(move || {
                    let user = if i % 2 == 0 { "admin".to_owned() } else { format!("nobody-{i}") };
                    let body =
                        serde_json::json!({ "username": user, "password": format!("guess-{i}") }).to_string();
                    http.post(format!("http://{service}/api/login"))
                        .header("Content-Type", "application/json")
                        .send(body)
                        .map_or(0, |r| r.status().as_u16())
                })
            })
            .collect();
        logins.into_iter().map(|l| l.join().expect("login")).collect()
    });
    let flood_secs = started.elapsed().as_secs_f64();
    flooding.store(false, Ordering::Relaxed);
    sampler.join().expect("sampler");
    // The agent API right after the flood.
    let after = run(&http, threads, 2, |t, n| {
        let i = (t * 7919 + n) % agents;
        (format!("http://{service}{HEARTBEAT_PATH}"), Some(tokens[i].clone()), heartbeat(i))
    });
    report("POST /agent/heartbeat right after the login flood", &after, base.0);
    std::thread::sleep(Duration::from_secs(5));
    let count = |s: u16| statuses.iter().filter(|x| **x == s).count();
    println!();
    println!(
        "login flood: 200 logins in {flood_secs:.1} s ({} checked = 401, {} refused = 429, {} other); \
         RSS before {} MiB, peak {} MiB, 5 s after {} MiB",
        count(401),
        count(429),
        statuses.len() - count(401) - count(429),
        rss_before / 1024,
        peak.load(Ordering::Relaxed) / 1024,
        rss_kib() / 1024
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// This process's resident memory (KiB), from /proc.
fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines().find_map(|l| {
                l.strip_prefix("VmRSS:").map(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            })
        })
        .flatten()
        .unwrap_or(0)
}

/// `threads` clients, each sending requests back to back for `seconds` (at most 1,000,000
/// each); returns (requests/s, sorted latencies in µs, non-2xx count).
fn run(
    http: &ureq::Agent,
    threads: usize,
    seconds: u64,
    request: impl Fn(usize, usize) -> (String, Option<String>, String) + Sync,
) -> (f64, Vec<u64>, usize) {
    let stop = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let results: Vec<(Vec<u64>, usize)> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let stop = stop.clone();
                let request = &request;
                scope.spawn(move || {
                    let mut latencies = Vec::new();
                    let mut errors = 0;
                    for n in 0..1_000_000 {
                        if stop.load(Ordering::Relaxed) {
                            break;
                        }
                        let (url, token, body) = request(t, n);
                        let begin = Instant::now();
                        let mut req = http.post(&url).header("Content-Type", "application/json");
                        if let Some(token) = &token {
                            req = req.header("Authorization", &format!("Bearer {token}"));
                        }
                        match req.send(body) {
                            Ok(mut r) => {
                                let ok = r.status().is_success();
                                let _ = r.body_mut().read_to_string();
                                if !ok {
                                    errors += 1;
                                }
                            }
                            Err(_) => errors += 1,
                        }
                        latencies.push(begin.elapsed().as_micros() as u64);
                    }
                    (latencies, errors)
                })
            })
            .collect();
        std::thread::sleep(Duration::from_secs(seconds));
        stop.store(true, Ordering::Relaxed);
        handles.into_iter().map(|h| h.join().expect("client thread")).collect()
    });
    let elapsed = started.elapsed().as_secs_f64();
    let mut all: Vec<u64> = results.iter().flat_map(|(l, _)| l.iter().copied()).collect();
    all.sort_unstable();
    let errors = results.iter().map(|(_, e)| e).sum();
    (all.len() as f64 / elapsed, all, errors)
}

fn report(name: &str, (rps, latencies, errors): &(f64, Vec<u64>, usize), base_rps: f64) {
    let pct = |p: f64| {
        latencies.get(((latencies.len() as f64 - 1.0) * p) as usize).copied().unwrap_or(0) as f64 / 1000.0
    };
    println!(
        "| {name} | {rps:.0} | {:.2} | {:.2} | {:.2} |{}",
        pct(0.5),
        pct(0.99),
        rps / base_rps,
        if *errors > 0 { format!(" ({errors} errors)") } else { String::new() }
    );
}
