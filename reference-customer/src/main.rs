//! `pushagent-customer`: the reference customer as a program. Parses the command line, binds,
//! and hands over to `pushagent_customer::serve` until Ctrl-C or SIGTERM.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use clap::ValueEnum;
use pushagent_customer::line::LineAnswers;
use pushagent_customer::{Credential, Faults, Profile, Secret, Settings, DEFAULT_ACCESS_ID, DEFAULT_SECRET};

/// Reference customer of PushAgent: the traffic API of customer-api.md (the signed JSON
/// profile, and the line profile of the original specification), with fault injection and an
/// unsigned admin API under /_admin/ (keep it on loopback).
#[derive(Parser)]
#[command(name = "pushagent-customer", version)]
struct Args {
    /// Address to listen on (the admin API is unauthenticated: keep it on loopback).
    #[arg(long, default_value = "127.0.0.1:8780")]
    listen: String,
    /// SQLite file holding the customer's copy of the records.
    #[arg(long, default_value = "./customer.sqlite")]
    db: PathBuf,
    #[arg(long, default_value = DEFAULT_ACCESS_ID)]
    access_id: String,
    /// Secret key of the access id (default: the test secret of customer-api.md).
    #[arg(long, conflicts_with = "secret_file")]
    secret: Option<String>,
    /// Read the secret key from this file (trailing newline ignored).
    #[arg(long)]
    secret_file: Option<PathBuf>,
    /// The profile --access-id speaks: json (signed JSON batches) or line (one CSV line per
    /// record, `access_id` header).
    #[arg(long, value_enum, default_value_t = ProfileArg::Json)]
    profile: ProfileArg,
    /// A further access id (same secret) that speaks the line profile, so that one server
    /// takes both profiles at once.
    #[arg(long)]
    line_access_id: Option<String>,
    /// Whether line-profile requests must carry the HMAC signature of profile 1.
    #[arg(long, value_enum, default_value_t = LineSignature::None)]
    line_signature: LineSignature,
    /// The separator between the values of a line.
    #[arg(long, default_value_t = pushagent_customer::line::SEPARATOR)]
    line_separator: char,
    /// How line pushes are answered: text (`ok` / `fail: why`, what the line preset takes) or
    /// json (`{"ret":0,"msg":"ok"}`, for an answer rule with result field `ret`).
    #[arg(long, value_enum, default_value_t = LineAnswersArg::Text)]
    line_answers: LineAnswersArg,
    /// Allowed distance of X-Timestamp from this server's clock; 0 disables the check.
    #[arg(long, default_value_t = pushagent_customer::DEFAULT_TIMESTAMP_WINDOW_SECS)]
    timestamp_window_secs: u64,
    /// Fraction of API requests answered 500/502/503/429.
    #[arg(long, default_value_t = 0.0)]
    error_rate: f64,
    /// Fraction of API requests that hang --hang-secs and are then cut without an answer.
    #[arg(long, default_value_t = 0.0)]
    timeout_rate: f64,
    #[arg(long, default_value_t = Faults::default().hang_secs)]
    hang_secs: u64,
    /// Delay every API answer by this many milliseconds.
    #[arg(long, default_value_t = 0)]
    slow_ms: u64,
    /// Fraction of pushes that are stored and then cut without an answer.
    #[arg(long, default_value_t = 0.0)]
    close_after_store_rate: f64,
    /// Start down: every API connection is closed without an answer.
    #[arg(long)]
    down: bool,
    /// Seed of the fault RNG (default: random, logged at start).
    #[arg(long)]
    seed: Option<u64>,
}

impl Args {
    fn settings(&self) -> Result<Settings, String> {
        let secret = match (&self.secret, &self.secret_file) {
            (Some(secret), _) => secret.clone(),
            (None, Some(path)) => std::fs::read_to_string(path)
                .map_err(|e| format!("cannot read --secret-file {}: {e}", path.display()))?
                .trim_end_matches(['\r', '\n'])
                .to_owned(),
            (None, None) => DEFAULT_SECRET.to_owned(),
        };
        if secret.is_empty() {
            return Err("the secret key is empty".to_owned());
        }
        let faults = Faults {
            error_rate: self.error_rate,
            timeout_rate: self.timeout_rate,
            hang_secs: self.hang_secs,
            slow_ms: self.slow_ms,
            close_after_store_rate: self.close_after_store_rate,
            down: self.down,
        };
        faults.validate()?;
        let line = Profile::Line { signed: self.line_signature == LineSignature::HmacSha256 };
        let profile = match self.profile {
            ProfileArg::Json => Profile::Json,
            ProfileArg::Line => line,
        };
        let mut credentials = vec![Credential {
            access_id: self.access_id.clone(),
            secret: Secret::new(secret.clone()),
            profile,
        }];
        if let Some(line_access_id) = &self.line_access_id {
            if *line_access_id == self.access_id {
                return Err("--line-access-id must differ from --access-id".to_owned());
            }
            credentials.push(Credential {
                access_id: line_access_id.clone(),
                secret: Secret::new(secret),
                profile: line,
            });
        }
        if self.line_separator.is_ascii_alphanumeric()
            || matches!(self.line_separator, '\n' | '\r' | ':' | '-')
        {
            return Err(format!(
                "--line-separator {:?} cannot separate the values of a line",
                self.line_separator
            ));
        }
        Ok(Settings {
            credentials,
            line_separator: self.line_separator,
            line_answers: match self.line_answers {
                LineAnswersArg::Text => LineAnswers::Text,
                LineAnswersArg::Json => LineAnswers::Json,
            },
            timestamp_window_secs: self.timestamp_window_secs,
            faults,
            seed: self.seed,
            ..Settings::new(&self.db)
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum ProfileArg {
    Json,
    Line,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum LineAnswersArg {
    Text,
    Json,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum LineSignature {
    None,
    HmacSha256,
}

#[tokio::main]
async fn main() -> ExitCode {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();
    let args = Args::parse();
    let settings = match args.settings() {
        Ok(settings) => settings,
        Err(e) => {
            eprintln!("pushagent-customer: {e}");
            return ExitCode::from(2);
        }
    };
    let listener = match tokio::net::TcpListener::bind(&args.listen).await {
        Ok(listener) => listener,
        Err(e) => {
            eprintln!("pushagent-customer: cannot listen on {}: {e}", args.listen);
            return ExitCode::FAILURE;
        }
    };
    if listener.local_addr().is_ok_and(|addr| !addr.ip().is_loopback()) {
        log::warn!(
            "listening on {}: the unauthenticated /_admin/ API is reachable from the network",
            args.listen
        );
    }
    match pushagent_customer::serve(settings, listener, stop_signal()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("pushagent-customer: {e}");
            ExitCode::FAILURE
        }
    }
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
