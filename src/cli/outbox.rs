//! `pushagent outbox | push --hour H | verify --day D`: the operator's view of, and hands on,
//! the push pipeline, with the config the daemon runs with (the file and the service's cached
//! config) and on its clock (the demo clock under `demo_time_scale`). `verify`: when the agent
//! runs, the CLI queues the work and the agent does it; when it does not, the CLI does it.
//! `push --hour`: the CLI sends the re-push itself and records it only once accepted.

use std::time::{Duration, Instant};

use gumdrop::Options;

use crate::clock::{Clock, DemoOrigin, ScaledClock, SystemClock};
use crate::config::AgentConfig;
use crate::daemon;
use crate::push::outbox::{Outbox, OutboxReport, StateChange};
use crate::push::pusher::StepReport;
use crate::push::report::ReportState;
use crate::ring::Ring;

#[derive(Debug, Options)]
pub struct OutboxArgs {
    #[options(help = "print help")]
    help: bool,
    #[options(help = "only this state: pending, sent, held, skipped_off", meta = "S")]
    state: Option<String>,
    #[options(help = "at most N reports, newest hour first (default 48)", meta = "N")]
    limit: Option<usize>,
    #[options(no_short, help = "print JSON")]
    json: bool,
    #[options(no_short, help = "list the history items the config service refused as invalid")]
    refused: bool,
    #[options(
        no_short,
        help = "list the refused history items, then forget them (clears the service's alert)"
    )]
    forget_refused: bool,
}

#[derive(Debug, Options)]
pub struct PushArgs {
    #[options(help = "print help")]
    help: bool,
    #[options(help = "report hour YYYYMMDDHH", meta = "HOUR")]
    hour: Option<String>,
}

#[derive(Debug, Options)]
pub struct VerifyArgs {
    #[options(help = "print help")]
    help: bool,
    #[options(help = "report day YYYYMMDD", meta = "DAY")]
    day: Option<String>,
}

/// The daemon's clock: under `demo_time_scale`, the demo clock continuing from the origin the
/// daemon persisted (read here, never moved: the daemon owns it), so the CLI's "now" is the
/// agent's.
fn agent_clock(config: &AgentConfig) -> Result<Box<dyn Clock>, String> {
    if config.demo_time_scale <= 1 {
        return Ok(Box::new(SystemClock));
    }
    let ring = Ring::open_existing(&config.state_db_path()).map_err(|e| e.to_string())?;
    let persisted = ring.demo_origin().map_err(|e| e.to_string())?;
    let origin = DemoOrigin::resume(persisted, config.demo_time_scale, SystemClock.wall_ms());
    Ok(Box::new(ScaledClock::continuing(origin)))
}

fn open_outbox(config: &AgentConfig) -> Result<Outbox, String> {
    Outbox::open_existing(&config.state_db_path()).map_err(|e| e.to_string())
}

pub fn list(config: &AgentConfig, args: OutboxArgs) -> Result<(), String> {
    let state = match &args.state {
        Some(s) => Some(ReportState::parse(s).ok_or_else(|| {
            let all: Vec<&str> = ReportState::ALL.iter().map(|s| s.as_str()).collect();
            format!("unknown state {s:?}: one of {}", all.join(", "))
        })?),
        None => None,
    };
    let config = &super::effective(config, args.json);
    let mut outbox = open_outbox(config)?;
    if args.refused || args.forget_refused {
        return refused(config, &mut outbox, args.json, args.forget_refused);
    }
    let reports = outbox.list(state, args.limit.unwrap_or(48)).map_err(|e| e.to_string())?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&reports).map_err(|e| e.to_string())?);
        return Ok(());
    }
    let counts = outbox.counts().map_err(|e| e.to_string())?;
    let summary: Vec<String> = counts.iter().map(|(s, n)| format!("{s} {n}")).collect();
    println!("outbox: {}", if summary.is_empty() { "empty".into() } else { summary.join(", ") });
    print!("{}", render(config, &reports));
    if let Some(r) = outbox.history_refused().map_err(|e| e.to_string())? {
        let l = &r.latest;
        println!(
            "refused by the config service: {} history item(s), the latest {} {} {} (HTTP {}: {}); \
             `pushagent outbox --refused` lists them",
            r.count, l.kind, l.mac, l.flux_hour, l.status, l.message
        );
    }
    Ok(())
}

/// The history items the config service refused as invalid (recorded and skipped by the
/// agent, reported in its heartbeat while they are kept); with `forget`, the ones listed go
/// (an operator read them), so the heartbeat stops reporting them and the alert recovers.
fn refused(config: &AgentConfig, outbox: &mut Outbox, json: bool, forget: bool) -> Result<(), String> {
    use std::fmt::Write;
    let items = outbox.mirror_refusals().map_err(|e| e.to_string())?;
    if json {
        println!("{}", serde_json::to_string_pretty(&items).map_err(|e| e.to_string())?);
    } else if items.is_empty() {
        println!("no history item refused by the config service");
    } else {
        let tz = config.report_timezone;
        let mut out = String::new();
        let _ = writeln!(
            out,
            "{:<19} {:<12} {:<17} {:<10} {:>6} message",
            "refused_at", "kind", "mac", "hour", "status"
        );
        for i in &items {
            let _ = writeln!(
                out,
                "{:<19} {:<12} {:<17} {:<10} {:>6} {}",
                tz.local(i.at_ms).format("%Y-%m-%d %H:%M:%S"),
                i.kind,
                i.mac,
                i.flux_hour,
                i.status,
                i.message
            );
        }
        print!("{out}");
    }
    if forget {
        // Only what was listed: an item refused meanwhile is kept for the next reading.
        let gone = match items.last() {
            Some(last) => outbox.forget_mirror_refusals(last.id).map_err(|e| e.to_string())?,
            None => 0,
        };
        if !json {
            println!("{gone} refused history item(s) forgotten");
        }
    }
    Ok(())
}

fn render(config: &AgentConfig, reports: &[OutboxReport]) -> String {
    use std::fmt::Write;
    let tz = config.report_timezone;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<10} {:<17} {:<17} {:>3} {:>4} {:>14} {:>14} {:<19} {:<12} note",
        "hour", "mac", "state", "ver", "try", "raw_bytes", "pushed_bytes", "sent/next", "verified"
    );
    for r in reports {
        let when = match r.state {
            ReportState::Sent | ReportState::Unverifiable | ReportState::CorrectionFailed => r.sent_at_ms,
            ReportState::Pending => Some(r.next_attempt_at_ms),
            _ => None,
        }
        .map(|t| tz.local(t).format("%Y-%m-%d %H:%M:%S").to_string())
        .unwrap_or_else(|| "-".into());
        let note = r.reason.clone().or_else(|| r.last_error.clone()).unwrap_or_default();
        let _ = writeln!(
            out,
            "{:<10} {:<17} {:<17} {:>3} {:>4} {:>14} {:>14} {:<19} {:<12} {}",
            r.flux_hour,
            r.mac,
            r.state.as_str(),
            r.version,
            r.attempts,
            r.raw.iter().sum::<u64>(),
            r.pushed.iter().sum::<u64>(),
            when,
            r.verify_result.as_deref().unwrap_or("-"),
            note
        );
    }
    out
}

/// Re-push an hour now under a new version, rebuilt from the ring with the effective config
/// (the file and the service's cached config) by the daemon's rules, and sent from here; the
/// outbox records it only once the customer accepted it.
pub fn push(config: &AgentConfig, args: PushArgs) -> Result<(), String> {
    let hour = args.hour.ok_or("--hour YYYYMMDDHH is required")?;
    let config = super::effective(config, false);
    let clock = agent_clock(&config)?;
    let mut pusher = daemon::build_pusher(&config, clock.as_ref()).map_err(|e| e.to_string())?;
    let after = pusher.repush_hour_now(&hour)?;
    for r in &after {
        println!("{} {hour}: version {} accepted by the customer", r.mac, r.version);
    }
    // A running agent sleeps until its next due time: the new version's check is one more.
    if daemon::agent_is_running(&config.state_dir) {
        let _ = daemon::wake_running_agent(&config.state_dir);
    }
    print!("{}", render(&config, &after));
    Ok(())
}

/// Check a day's sent hours against the customer's copy now.
pub fn verify(config: &AgentConfig, args: VerifyArgs) -> Result<(), String> {
    let day = args.day.ok_or("--day YYYYMMDD is required")?;
    let config = &super::effective(config, false);
    let clock = agent_clock(config)?;
    let tz = config.report_timezone;
    let day_start = tz.hour_start_ms(&format!("{day}00"))?;
    let mut outbox = open_outbox(config)?;
    let now = clock.wall_ms();
    let reports = outbox.between(day_start, day_start + 86_400_000).map_err(|e| e.to_string())?;
    let sent: Vec<&OutboxReport> = reports.iter().filter(|r| r.state == ReportState::Sent).collect();
    if sent.is_empty() {
        return Err(format!("no sent report on {day} to verify"));
    }
    for r in &sent {
        outbox
            .schedule_repush(&StateChange::Verified {
                mac: r.mac.clone(),
                flux_hour: r.flux_hour.clone(),
                next_ms: Some(now),
            })
            .map_err(|e| e.to_string())?;
    }
    println!("{} hour(s) of {day} queued for verification", sent.len());
    let expected = sent.len();
    settle(config, clock.as_ref(), || {
        // Checked: a result recorded, or the check failed and was put off (`verify_next_at`
        // moved past now).
        let o = open_outbox(config)?;
        let reports = o.between(day_start, day_start + 86_400_000).map_err(|e| e.to_string())?;
        let waiting = reports
            .iter()
            .filter(|r| r.state == ReportState::Sent && r.verify_next_at_ms.is_some_and(|t| t <= now))
            .count();
        Ok(waiting == 0 || o.verifications_since(now).map_err(|e| e.to_string())?.len() >= expected)
    })?;
    let o = open_outbox(config)?;
    let results = o.verifications_since(now).map_err(|e| e.to_string())?;
    for v in &results {
        println!("{} {} {:<12} {}", v.flux_hour, v.mac, v.result, v.detail);
    }
    for r in o.between(day_start, day_start + 86_400_000).map_err(|e| e.to_string())? {
        let checked = results.iter().any(|v| v.mac == r.mac && v.flux_hour == r.flux_hour);
        if r.state == ReportState::Sent && !checked && r.verify_failures > 0 {
            println!(
                "{} {} {:<12} {} (tried again later)",
                r.flux_hour,
                r.mac,
                "not read",
                r.last_error.as_deref().unwrap_or("")
            );
        }
    }
    Ok(())
}

/// Let the running agent verify (wait up to 60 s for `finished`), or do it here on the
/// agent's clock.
fn settle(
    config: &AgentConfig,
    clock: &dyn Clock,
    finished: impl Fn() -> Result<bool, String>,
) -> Result<(), String> {
    if daemon::agent_is_running(&config.state_dir) {
        // It sleeps until its next due time: wake it (an older agent polls every 5 s anyway).
        if let Err(e) = daemon::wake_running_agent(&config.state_dir) {
            log::warn!("cannot wake the running agent ({e}); it picks this up within 5 minutes");
        }
        println!("the running agent will verify it; waiting...");
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if finished()? {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(250));
        }
        return Err("the agent has not finished the verification within 60 s; see `pushagent outbox`".into());
    }
    let mut pusher = daemon::build_pusher(config, clock).map_err(|e| e.to_string())?;
    let missing = pusher.missing_settings();
    if !missing.is_empty() {
        return Err(format!("{} not set: cannot query the customer", missing.join(", ")));
    }
    let mut done = StepReport::default();
    pusher.verify_due(&mut done).map_err(|e| e.to_string())?;
    pusher.send_due(&mut done).map_err(|e| e.to_string())?; // corrections it queued
    if let (Some(why), true) = (pusher.sending_refused(), done.corrected > 0) {
        println!("{} correction(s) queued, not sent: {why}; they go when it is on", done.corrected);
    }
    if done.verified == 0 {
        log::warn!("nothing was due to verify");
    }
    Ok(())
}
