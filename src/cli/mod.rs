//! Command line: `pushagent run | detect | info | points`.

use std::path::PathBuf;
use std::process::ExitCode;

use gumdrop::Options;

mod outbox;
pub mod stats;

use crate::config::{AgentConfig, DEFAULT_PATH};
use crate::netif::{self, HostRoot};
use crate::ring::{Ring, SlotRow};
use crate::slots::{ReportTz, SLOTS_PER_HOUR, SLOT_MS};
use crate::tally::flag;

#[derive(Debug, Options)]
pub struct Args {
    #[options(help = "print help")]
    help: bool,
    #[options(no_short, help = "print the version")]
    version: bool,
    #[options(help = "config file (default /etc/pushagent/agent.toml)", meta = "PATH")]
    config: Option<PathBuf>,
    #[options(no_short, help = "read /proc and /sys under this directory (tests)", meta = "DIR")]
    root: Option<PathBuf>,
    #[options(command)]
    command: Option<Command>,
}

#[derive(Debug, Options)]
enum Command {
    #[options(help = "run the agent in the foreground (systemd does the rest)")]
    Run(NoArgs),
    #[options(help = "show the interface that would be collected, and why")]
    Detect(NoArgs),
    #[options(help = "print this machine's hardware facts as JSON")]
    Info(NoArgs),
    #[options(
        help = "print the 12 five-minute points of an hour, raw, with flags; --day D --stats: the day's settlement figures"
    )]
    Points(PointsArgs),
    #[options(help = "list the reports of the outbox")]
    Outbox(outbox::OutboxArgs),
    #[options(help = "re-push an hour now, as a new version")]
    Push(outbox::PushArgs),
    #[options(help = "check a day against the customer's copy now")]
    Verify(outbox::VerifyArgs),
}

#[derive(Debug, Options)]
struct NoArgs {
    #[options(help = "print help")]
    help: bool,
}

#[derive(Debug, Options)]
struct PointsArgs {
    #[options(help = "print help")]
    help: bool,
    #[options(help = "report hour YYYYMMDDHH (default: the newest hour with a closed slot)", meta = "HOUR")]
    hour: Option<String>,
    #[options(no_short, help = "report day YYYYMMDD (with --stats)", meta = "DAY")]
    day: Option<String>,
    #[options(
        no_short,
        help = "print the day's settlement figures (95th percentile, peak, total, coverage)"
    )]
    stats: bool,
    #[options(no_short, help = "print JSON instead of a table")]
    json: bool,
}

pub fn main() -> ExitCode {
    let args = Args::parse_args_default_or_exit();
    if args.version {
        println!("pushagent {}", env!("CARGO_PKG_VERSION"));
        return ExitCode::SUCCESS;
    }
    let Some(command) = args.command else {
        eprintln!("{}", Args::usage());
        eprintln!("\nCommands:\n{}", Args::command_list().unwrap_or_default());
        return ExitCode::from(2);
    };
    init_logging();
    let explicit = args.config.is_some();
    let config_path = args.config.unwrap_or_else(|| PathBuf::from(DEFAULT_PATH));
    let config = match AgentConfig::load(&config_path, explicit) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("pushagent: {e}");
            return ExitCode::from(2);
        }
    };
    let root = args.root.map(HostRoot::new).unwrap_or_default();
    let result = match command {
        Command::Run(_) => crate::daemon::run(&config, root).map_err(|e| e.to_string()),
        Command::Detect(_) => detect(&config, &root),
        Command::Info(_) => info(&config, &root),
        Command::Points(p) => points(&config, p),
        Command::Outbox(a) => outbox::list(&config, a),
        Command::Push(a) => outbox::push(&config, a),
        Command::Verify(a) => outbox::verify(&config, a),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            log::error!("{message}");
            eprintln!("pushagent: {message}");
            ExitCode::FAILURE
        }
    }
}

fn init_logging() {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info"))
        .format_timestamp_millis()
        .init();
}

fn detect(config: &AgentConfig, root: &HostRoot) -> Result<(), String> {
    let detection = netif::detect(root, &config.interface_choice()).map_err(|e| e.to_string())?;
    let text = detection.render();
    print!("{text}");
    if !text.ends_with('\n') {
        println!();
    }
    Ok(())
}

fn info(config: &AgentConfig, root: &HostRoot) -> Result<(), String> {
    let interface = netif::detect(root, &config.interface_choice()).ok().map(|d| d.chosen.name);
    let facts = crate::facts::collect(root, interface.as_deref(), chrono::Utc::now().timestamp());
    let json = serde_json::to_string_pretty(&facts).map_err(|e| e.to_string())?;
    println!("{json}");
    Ok(())
}

fn points(config: &AgentConfig, args: PointsArgs) -> Result<(), String> {
    match (&args.day, args.stats) {
        (Some(day), true) => return stats::print_day(config, day, args.json),
        (None, true) => return Err("--stats needs --day YYYYMMDD".into()),
        (Some(_), false) => return Err("--day goes with --stats (an hour's points: --hour)".into()),
        (None, false) => {}
    }
    let tz = config.report_timezone;
    let ring = Ring::open_existing(&config.state_db_path()).map_err(|e| e.to_string())?;
    let hour_start = match &args.hour {
        Some(h) => tz.hour_start_ms(h)?,
        None => match ring.newest_closed_slot_ms().map_err(|e| e.to_string())? {
            Some(t) => tz.hour_start_of(t),
            None => return Err("the ring has no closed 5-minute slot yet".into()),
        },
    };
    let hour_end = hour_start + SLOTS_PER_HOUR as i64 * SLOT_MS;
    let slots = ring.slots_between(hour_start, hour_end).map_err(|e| e.to_string())?;
    let flux_hour = tz.flux_hour(hour_start);
    if args.json {
        let out = serde_json::json!({ "flux_hour": flux_hour, "timezone": tz.label(), "slots": slots });
        println!("{}", serde_json::to_string_pretty(&out).map_err(|e| e.to_string())?);
    } else {
        print!("{}", render_hour(&tz, &flux_hour, hour_start, &slots));
    }
    Ok(())
}

fn render_hour(tz: &ReportTz, flux_hour: &str, hour_start: i64, slots: &[SlotRow]) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    let mut macs: Vec<&str> = slots.iter().map(|s| s.mac.as_str()).collect();
    macs.dedup();
    if macs.is_empty() {
        let _ = writeln!(out, "hour {flux_hour} ({}): no points in the ring", tz.label());
    }
    for mac in macs {
        let _ = writeln!(out, "hour {flux_hour} ({}) mac {mac}", tz.label());
        let _ = writeln!(
            out,
            "{:<4} {:<6} {:>16} {:>16} {:>7} {:<7} flags",
            "v", "start", "tx_bytes", "rx_bytes", "samples", "state"
        );
        let (mut tx_sum, mut rx_sum) = (0u64, 0u64);
        for i in 0..SLOTS_PER_HOUR {
            let start = hour_start + i as i64 * SLOT_MS;
            let hhmm = tz.local(start).format("%H:%M").to_string();
            match slots.iter().find(|s| s.mac == mac && s.slot_start_ms == start) {
                Some(s) => {
                    tx_sum += s.counters.tx_bytes;
                    rx_sum += s.counters.rx_bytes;
                    let _ = writeln!(
                        out,
                        "v{:<3} {:<6} {:>16} {:>16} {:>7} {:<7} {}",
                        i,
                        hhmm,
                        s.counters.tx_bytes,
                        s.counters.rx_bytes,
                        s.samples,
                        if s.closed { "closed" } else { "open" },
                        flag::describe(s.flags)
                    );
                }
                None => {
                    let _ =
                        writeln!(out, "v{i:<3} {hhmm:<6} {:>16} {:>16} {:>7} {:<7} -", "-", "-", "-", "none");
                }
            }
        }
        let _ = writeln!(out, "sum              {tx_sum:>16} {rx_sum:>16}");
    }
    out
}
