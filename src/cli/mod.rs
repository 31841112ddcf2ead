//! Command line: `pushagent run | detect | info | points`.

use std::path::PathBuf;
use std::process::ExitCode;

use gumdrop::Options;

mod outbox;
mod points;
pub mod stats;

use crate::config::{AgentConfig, DEFAULT_PATH};
use crate::netif::{self, HostRoot};

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

/// The config the daemon runs with (`service::sync::effective_config`: the file, the service's
/// cached config, the report time zone in force), and one line per key that differs from the
/// file saying where its value came from: on stdout before a table, on stderr beside JSON (so
/// the JSON stays one document).
fn effective(file: &AgentConfig, json: bool) -> AgentConfig {
    let effective = crate::service::sync::effective_config(file);
    for note in effective.notes() {
        if json {
            eprintln!("config: {note}");
        } else {
            println!("config: {note}");
        }
    }
    effective.config
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

fn points(file: &AgentConfig, args: PointsArgs) -> Result<(), String> {
    match (&args.day, args.stats) {
        (Some(day), true) => {
            let config = effective(file, args.json);
            return stats::print_day(&config, day, args.json);
        }
        (None, true) => return Err("--stats needs --day YYYYMMDD".into()),
        (Some(_), false) => return Err("--day goes with --stats (an hour's points: --hour)".into()),
        (None, false) => {}
    }
    let config = effective(file, args.json);
    points::print_hour(&config, args.hour.as_deref(), args.json)
}
