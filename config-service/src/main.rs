//! `pushagent-config`: the config service as a program. Loads the settings (defaults, then
//! `--config FILE`, then `PUSHAGENT_*`), then runs one subcommand.

use std::io::{BufRead, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};

use anyhow_free::Failure;
use clap::{Parser, Subcommand};
use pushagent_config::store::Store;
use pushagent_config::{checks, tokens, Clock, Settings, SystemClock};

#[derive(Parser)]
#[command(name = "pushagent-config", version, about = "PushAgent config service")]
struct Args {
    /// TOML settings file; PUSHAGENT_* environment variables override it.
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the service in the foreground (logs to stderr) until Ctrl-C or SIGTERM.
    Serve {
        /// Listen address, overriding the settings (port 0 = any free port; the address is
        /// printed on stdout as "listening on http://ADDR").
        #[arg(long)]
        listen: Option<String>,
    },
    /// One pass of all checks: prints what it found and sent, then exits.
    Runcheck,
    /// Delete what is older than the retention settings now (serve does it hourly): prints
    /// what it deleted. Repeats passes until nothing old is left.
    Prune,
    /// Console users.
    User {
        #[command(subcommand)]
        action: UserAction,
    },
    /// API tokens for automation.
    Token {
        #[command(subcommand)]
        action: TokenAction,
    },
    /// Host names and nodes from the ops platform's inventory.
    Inventory {
        #[command(subcommand)]
        action: InventoryAction,
    },
    /// Enrollment tokens for the deploy step (agents exchange them for their own token).
    EnrollToken {
        #[command(subcommand)]
        action: EnrollAction,
    },
}

#[derive(Subcommand)]
enum UserAction {
    /// Add a user; the password is read from the first line of stdin.
    Add { name: String },
    /// Set a user's password (and lift a lockout); the password is read from stdin.
    Passwd { name: String },
}

#[derive(Subcommand)]
enum TokenAction {
    /// Create an API token; it is printed once and stored only as a hash.
    Create { name: String },
}

#[derive(Subcommand)]
enum InventoryAction {
    /// One sync pass from the platform of [inventory] (logs in even if the password was
    /// refused before): prints what it changed, exits 1 on failure.
    Sync,
    /// Import a CSV file (host_name, ip / mac / ops_host_id, node) instead of a platform.
    Import { file: PathBuf },
}

#[derive(Subcommand)]
enum EnrollAction {
    /// Create an enrollment token; it is printed once and stored only as a hash.
    Create,
}

/// The binary's error: a message for stderr. (No anyhow needed for one string.)
mod anyhow_free {
    pub struct Failure(pub String);

    impl<E: std::fmt::Display> From<E> for Failure {
        fn from(e: E) -> Failure {
            Failure(e.to_string())
        }
    }
}

fn main() -> ExitCode {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();
    let args = Args::parse();
    let settings = match Settings::load(args.config.as_deref(), |name| std::env::var(name).ok()) {
        Ok(settings) => settings,
        Err(e) => {
            eprintln!("pushagent-config: {e}");
            return ExitCode::from(2);
        }
    };
    match run(args.command, settings) {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure(message)) => {
            eprintln!("pushagent-config: {message}");
            ExitCode::FAILURE
        }
    }
}

fn run(command: Command, settings: Settings) -> Result<(), Failure> {
    let now = SystemClock.now();
    match command {
        Command::Serve { listen } => serve(settings, listen),
        Command::Prune => {
            let mut store = Store::open(&settings.db_path)?;
            let mut total = pushagent_config::store::Pruned::default();
            loop {
                let p = pushagent_config::retention::run(&mut store, &settings, now)?;
                let done = p.history_hours < u64::from(pushagent_config::retention::MAX_HOURS_PER_PASS);
                total += p;
                if done {
                    break;
                }
            }
            println!(
                "deleted {} history rows ({} report hours), {} verifications, {} held hours, {} skipped hours, {} alerts, {} incidents, {} expired sessions",
                total.history_rows, total.history_hours, total.verifications, total.held_hours, total.skipped_hours,
                total.alerts, total.incidents, total.sessions
            );
            if settings.history_retention_days == 0 && settings.alert_retention_days == 0 {
                println!("retention is off (history_retention_days = 0, alert_retention_days = 0)");
            }
            Ok(())
        }
        Command::Runcheck => {
            let store = Arc::new(Mutex::new(Store::open(&settings.db_path)?));
            let (found, delivered) = checks::run_once(&store, &settings, now.saturating_mul(1000))?;
            println!("checked {} machines", found.checked_machines);
            if let Some(reason) = &found.skipped {
                println!("skipped: {reason}");
            }
            for (label, lines) in [
                ("opened", &found.opened),
                ("reminder", &found.reminders),
                ("recovered", &found.recovered),
                ("event", &found.events),
            ] {
                for line in lines {
                    println!("{label}: {line}");
                }
            }
            if let Some(storm) = &found.storm {
                println!("storm: {storm}");
            }
            for line in &delivered.sent {
                println!("sent: {line}");
            }
            for line in &delivered.retrying {
                println!("will retry: {line}");
            }
            for line in &delivered.failed {
                println!("failed: {line}");
            }
            Ok(())
        }
        Command::User { action } => {
            let store = Store::open(&settings.db_path)?;
            let (name, adding) = match &action {
                UserAction::Add { name } => (name, true),
                UserAction::Passwd { name } => (name, false),
            };
            if name.is_empty() || name.len() > 64 || name.chars().any(char::is_control) {
                return Err(Failure("a user name is 1-64 printable characters".into()));
            }
            let password = read_password()?;
            let hash = tokens::hash_password(&password)?;
            if adding {
                store.add_user(name, &hash, now)?;
                println!("user {name} added");
            } else {
                store.set_password(name, &hash)?;
                println!("password of {name} changed");
            }
            Ok(())
        }
        Command::Token { action: TokenAction::Create { name } } => {
            pushagent_config::validate::node("name", &name)?;
            let store = Store::open(&settings.db_path)?;
            let token = tokens::new_token("pa_api_")?;
            store.add_api_token(&name, &tokens::token_hash(&token), now)?;
            println!("{token}");
            eprintln!("API token {name:?} created; it is shown only this once");
            Ok(())
        }
        Command::Inventory { action } => inventory(action, &settings, now),
        Command::EnrollToken { action: EnrollAction::Create } => {
            let store = Store::open(&settings.db_path)?;
            let token = tokens::new_token("pa_enroll_")?;
            store.add_enrollment_token(&tokens::token_hash(&token), now)?;
            println!("{token}");
            eprintln!("enrollment token created; it is shown only this once");
            Ok(())
        }
    }
}

fn inventory(action: InventoryAction, settings: &Settings, now: i64) -> Result<(), Failure> {
    use pushagent_config::inventory::job;
    let store = Arc::new(Mutex::new(Store::open(&settings.db_path)?));
    let applied = match action {
        InventoryAction::Sync => {
            let inventory = settings
                .inventory
                .as_ref()
                .ok_or_else(|| Failure("no [inventory] in the settings: nothing to sync from".into()))?;
            job::Syncer::new(inventory).pass(&store, &SystemClock, true)?
        }
        InventoryAction::Import { file } => {
            let text =
                std::fs::read_to_string(&file).map_err(|e| Failure(format!("{}: {e}", file.display())))?;
            job::import_csv(&mut pushagent_config::lock(&store), &text, now)?.map_err(Failure)?
        }
    };
    println!(
        "{} hosts, {} paired with a machine, {} machines changed (host name or node)",
        applied.hosts, applied.matched, applied.changed
    );
    Ok(())
}

/// The first line of stdin, at least 8 characters.
fn read_password() -> Result<String, Failure> {
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    let password = line.trim_end_matches(['\r', '\n']).to_owned();
    if password.chars().count() < 8 {
        return Err(Failure("the password (first line of stdin) must have at least 8 characters".into()));
    }
    Ok(password)
}

fn serve(mut settings: Settings, listen: Option<String>) -> Result<(), Failure> {
    if let Some(listen) = listen {
        settings.listen = listen;
    }
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(&settings.listen)
            .await
            .map_err(|e| Failure(format!("cannot listen on {}: {e}", settings.listen)))?;
        let addr = listener.local_addr()?;
        println!("listening on http://{addr}");
        std::io::stdout().flush()?;
        pushagent_config::serve(settings, listener, stop_signal()).await?;
        Ok(())
    })
}

/// Ctrl-C or SIGTERM.
async fn stop_signal() {
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(e) => {
                log::warn!("cannot watch SIGTERM: {e}");
                std::future::pending::<()>().await;
            }
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        () = terminate => {}
    }
    log::info!("stop asked, finishing requests in flight");
}
