//! `pushagent-demo-traffic`: the demo's traffic and its proof (scripts/demo.sh). Sends a small,
//! varying UDP load from the agent's interface to a peer address, keeps the link quiet around
//! each report-hour boundary of the agent's (scaled) clock and reads the kernel's counter there,
//! and prints, for each hour the agent pushed, the kernel's tx delta beside the agent's raw sum,
//! its pushed sum and what the customer stored. Demo tooling, not part of the product.

use std::collections::BTreeMap;
use std::net::UdpSocket;
use std::path::PathBuf;
use std::process::{Command, ExitCode};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use clap::Parser;
use serde_json::Value;

const HOUR_MS: i64 = 3_600_000;
const SLOT_MS: i64 = 300_000;
/// Real milliseconds of silence before and after each hour boundary, so that the kernel's
/// counter read there is exactly the agent's boundary reading.
const QUIET_MS: i64 = 1_500;

#[derive(Parser)]
#[command(name = "pushagent-demo-traffic")]
struct Args {
    /// The interface the agent collects (its tx_bytes is read from /sys/class/net).
    #[arg(long)]
    iface: String,
    /// Send traffic from --local-addr to --peer-addr (a namespace the demo made itself).
    /// Without both, nothing is sent and the kernel figures are only approximate (a real NIC
    /// carries other traffic at the boundaries).
    #[arg(long)]
    local_addr: Option<String>,
    #[arg(long)]
    peer_addr: Option<String>,
    /// The agent's demo_time_scale.
    #[arg(long)]
    time_scale: i64,
    /// Real unix ms at which the agent started (its scaled clock starts there).
    #[arg(long)]
    agent_start_ms: i64,
    /// The agent's config, for `pushagent --config FILE outbox --json`.
    #[arg(long)]
    agent_config: PathBuf,
    #[arg(long, default_value = "./target/debug/pushagent")]
    agent_bin: PathBuf,
    /// The reference customer's base URL (its /_admin/dump).
    #[arg(long, default_value = "http://127.0.0.1:8780")]
    customer: String,
    /// Stop after printing this many hours (default: run until stopped).
    #[arg(long)]
    hours: Option<usize>,
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// The agent's scaled clock: agent time = start + (real - start) × scale, and back.
#[derive(Clone, Copy)]
struct Scale {
    start_ms: i64,
    scale: i64,
}

impl Scale {
    fn agent_ms(self, real_ms: i64) -> i64 {
        self.start_ms + (real_ms - self.start_ms) * self.scale
    }

    fn real_ms(self, agent_ms: i64) -> i64 {
        self.start_ms + (agent_ms - self.start_ms) / self.scale
    }

    /// Is `real_ms` within QUIET_MS of an agent-hour boundary?
    fn near_hour_boundary(self, real_ms: i64) -> bool {
        let agent = self.agent_ms(real_ms);
        let before = agent.div_euclid(HOUR_MS) * HOUR_MS;
        let distance =
            (self.real_ms(before) - real_ms).abs().min((self.real_ms(before + HOUR_MS) - real_ms).abs());
        distance < QUIET_MS
    }
}

fn tx_bytes(iface: &str) -> Result<u64, String> {
    let path = format!("/sys/class/net/{iface}/statistics/tx_bytes");
    let text = std::fs::read_to_string(&path).map_err(|e| format!("{path}: {e}"))?;
    text.trim().parse().map_err(|e| format!("{path}: {e}"))
}

/// Send UDP datagrams whose rate and size change every agent slot, silent near hour boundaries.
fn generate(local: &str, peer: &str, scale: Scale, stop: &AtomicBool) -> Result<(), String> {
    let socket = UdpSocket::bind(format!("{local}:0")).map_err(|e| format!("bind {local}: {e}"))?;
    let target = format!("{peer}:9");
    let payload = vec![0x5a_u8; 1400];
    while !stop.load(Ordering::Relaxed) {
        let real = now_ms();
        if scale.near_hour_boundary(real) {
            std::thread::sleep(Duration::from_millis(50));
            continue;
        }
        // A rate and a size per agent slot, from the slot's number: varying, repeatable.
        let slot = scale.agent_ms(real).div_euclid(SLOT_MS).unsigned_abs();
        let mix = slot.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 40;
        let per_tick = 1 + (mix % 20) as usize;
        let size = 200 + (mix / 20 % 1200) as usize;
        for _ in 0..per_tick {
            // The peer has nothing listening: the kernel counts the datagram all the same.
            let _ = socket.send_to(&payload[..size], &target);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(())
}

fn agent_reports(args: &Args) -> BTreeMap<i64, Value> {
    let output = Command::new(&args.agent_bin)
        .arg("--config")
        .arg(&args.agent_config)
        .args(["outbox", "--json", "--limit", "200"])
        .output();
    let Ok(output) = output else { return BTreeMap::new() };
    let reports: Vec<Value> = serde_json::from_slice(&output.stdout).unwrap_or_default();
    reports.into_iter().filter_map(|r| Some((r["hour_start_ms"].as_i64()?, r))).collect()
}

fn customer_records(http: &ureq::Agent, base: &str) -> Vec<Value> {
    let dump: Option<Value> = http
        .get(format!("{base}/_admin/dump"))
        .call()
        .ok()
        .and_then(|mut r| r.body_mut().read_to_string().ok())
        .and_then(|text| serde_json::from_str(&text).ok());
    dump.and_then(|d| d["records"].as_array().cloned()).unwrap_or_default()
}

fn sum(values: &Value) -> u64 {
    values.as_array().map_or(0, |a| a.iter().filter_map(Value::as_u64).sum())
}

fn run(args: &Args) -> Result<(), String> {
    let scale = Scale { start_ms: args.agent_start_ms, scale: args.time_scale.max(1) };
    let stop = Arc::new(AtomicBool::new(false));
    let exact = args.local_addr.is_some() && args.peer_addr.is_some();
    if let (Some(local), Some(peer)) = (args.local_addr.clone(), args.peer_addr.clone()) {
        let stop = Arc::clone(&stop);
        std::thread::spawn(move || {
            if let Err(e) = generate(&local, &peer, scale, &stop) {
                eprintln!("pushagent-demo-traffic: traffic generator: {e}");
            }
        });
    }
    let http: ureq::Agent =
        ureq::Agent::config_builder().timeout_global(Some(Duration::from_secs(5))).build().into();
    let approx = if exact { " " } else { "≈" };
    println!(
        "   {:<12} {:>15} {:>15} {:>15} {:>15} {:>3}",
        "agent hour", "kernel tx Δ", "agent raw sum", "agent pushed", "customer has", "v"
    );
    // Kernel tx at each agent-hour boundary (agent ms → bytes), read inside the quiet window.
    let mut boundaries: BTreeMap<i64, u64> = BTreeMap::new();
    let mut printed = 0;
    let mut next_boundary = (scale.agent_ms(now_ms()).div_euclid(HOUR_MS) + 1) * HOUR_MS;
    loop {
        let read_at = scale.real_ms(next_boundary) + QUIET_MS / 2;
        let wait = read_at - now_ms();
        if wait > 0 {
            std::thread::sleep(Duration::from_millis(wait.unsigned_abs().min(1_000)));
            if now_ms() < read_at {
                print_pushed(args, &http, &mut boundaries, approx, &mut printed)?;
                if args.hours.is_some_and(|n| printed >= n) {
                    break;
                }
                continue;
            }
        }
        boundaries.insert(next_boundary, tx_bytes(&args.iface)?);
        next_boundary += HOUR_MS;
    }
    stop.store(true, Ordering::Relaxed);
    Ok(())
}

/// Print the hours between two read boundaries that the agent pushed and the customer holds.
fn print_pushed(
    args: &Args,
    http: &ureq::Agent,
    boundaries: &mut BTreeMap<i64, u64>,
    approx: &str,
    printed: &mut usize,
) -> Result<(), String> {
    let Some((&first, _)) = boundaries.iter().next() else { return Ok(()) };
    if !boundaries.contains_key(&(first + HOUR_MS)) {
        return Ok(());
    }
    let reports = agent_reports(args);
    let Some(report) = reports.get(&first) else { return Ok(()) };
    if report["state"] != "sent" {
        return Ok(());
    }
    let records = customer_records(http, &args.customer);
    let theirs = records.iter().find(|r| r["mac"] == report["mac"] && r["flux_hour"] == report["flux_hour"]);
    let Some(theirs) = theirs else { return Ok(()) };
    let kernel = boundaries[&(first + HOUR_MS)] - boundaries[&first];
    let raw = sum(&report["raw"]);
    let pushed = sum(&report["pushed"]);
    let stored: u64 = (0..12).filter_map(|i| theirs[format!("v{i}")].as_u64()).sum();
    let verdict = if kernel == raw && pushed == stored { "✓" } else { "≠" };
    println!(
        "{verdict}  {:<12} {approx}{:>14} {:>15} {:>15} {:>15} {:>3}",
        report["flux_hour"].as_str().unwrap_or("?"),
        kernel,
        raw,
        pushed,
        stored,
        theirs["version"].as_u64().unwrap_or(0)
    );
    boundaries.remove(&first);
    *printed += 1;
    Ok(())
}

fn main() -> ExitCode {
    let args = Args::parse();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("pushagent-demo-traffic: {e}");
            ExitCode::FAILURE
        }
    }
}
