//! `pushagent outbox | push --hour H | verify --day D`: the operator's view of, and hands on,
//! the push pipeline. When the agent runs, the CLI queues the work and the agent does it
//! (one writer, one sender); when it does not, the CLI does it itself.

use std::time::{Duration, Instant};

use gumdrop::Options;

use crate::clock::{Clock, SystemClock};
use crate::config::AgentConfig;
use crate::daemon;
use crate::push::outbox::{Outbox, OutboxReport, RepushValues, StateChange};
use crate::push::pusher::StepReport;
use crate::push::report::{self, BuildRules, ReportState};
use crate::ring::Ring;
use crate::slots::{SLOTS_PER_HOUR, SLOT_MS};

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

fn open_outbox(config: &AgentConfig) -> Result<Outbox, String> {
    Outbox::open_existing(&config.state_db_path()).map_err(|e| e.to_string())
}

pub fn list(config: &AgentConfig, args: OutboxArgs) -> Result<(), String> {
    let state = match &args.state {
        Some(s) => Some(
            ReportState::parse(s)
                .ok_or_else(|| format!("unknown state {s:?}: pending, sent, held or skipped_off"))?,
        ),
        None => None,
    };
    let outbox = open_outbox(config)?;
    let reports = outbox.list(state, args.limit.unwrap_or(48)).map_err(|e| e.to_string())?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&reports).map_err(|e| e.to_string())?);
        return Ok(());
    }
    let counts = outbox.counts().map_err(|e| e.to_string())?;
    let summary: Vec<String> = counts.iter().map(|(s, n)| format!("{s} {n}")).collect();
    println!("outbox: {}", if summary.is_empty() { "empty".into() } else { summary.join(", ") });
    print!("{}", render(config, &reports));
    Ok(())
}

fn render(config: &AgentConfig, reports: &[OutboxReport]) -> String {
    use std::fmt::Write;
    let tz = config.report_timezone;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<10} {:<17} {:<11} {:>3} {:>4} {:>14} {:>14} {:<19} {:<12} note",
        "hour", "mac", "state", "ver", "try", "raw_bytes", "pushed_bytes", "sent/next", "verified"
    );
    for r in reports {
        let when = match r.state {
            ReportState::Sent => r.sent_at_ms,
            ReportState::Pending => Some(r.next_attempt_at_ms),
            _ => None,
        }
        .map(|t| tz.local(t).format("%Y-%m-%d %H:%M:%S").to_string())
        .unwrap_or_else(|| "-".into());
        let note = r.reason.clone().or_else(|| r.last_error.clone()).unwrap_or_default();
        let _ = writeln!(
            out,
            "{:<10} {:<17} {:<11} {:>3} {:>4} {:>14} {:>14} {:<19} {:<12} {}",
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

/// Re-push an hour now under a new version, rebuilt from the ring with today's offset.
pub fn push(config: &AgentConfig, args: PushArgs) -> Result<(), String> {
    let hour = args.hour.ok_or("--hour YYYYMMDDHH is required")?;
    let tz = config.report_timezone;
    let hour_start = tz.hour_start_ms(&hour)?;
    let mut outbox = open_outbox(config)?;
    let existing = outbox.by_hour(&hour).map_err(|e| e.to_string())?;
    if existing.is_empty() {
        return Err(format!("hour {hour} is not in the outbox (not built yet, or older than the retention)"));
    }
    let ring = Ring::open_existing(&config.state_db_path()).map_err(|e| e.to_string())?;
    let slots = ring
        .slots_between(hour_start, hour_start + SLOTS_PER_HOUR as i64 * SLOT_MS)
        .map_err(|e| e.to_string())?;
    let link = ring.last_reading().ok().flatten().and_then(|(l, _)| l.reading.source.link_bits_per_sec);
    let rules = BuildRules::from_settings(
        config.customer.billed_direction,
        &config.report,
        true,
        link.or(config.max_link_bits_per_sec),
    );
    let now = SystemClock.wall_ms();
    for r in &existing {
        let values = if slots.iter().any(|s| s.mac == r.mac) {
            let rebuilt = report::build(&r.mac, hour_start, &slots, &tz, &rules);
            if rebuilt.state == ReportState::Held {
                return Err(format!("{} {hour}: {}", r.mac, rebuilt.reason.unwrap_or_default()));
            }
            Some(Box::new(RepushValues {
                raw: rebuilt.raw,
                pushed: rebuilt.pushed,
                offset_bp: rebuilt.offset.basis_points,
                offset_source: rebuilt.offset_source.into(),
                offset_fixed_bytes: rebuilt.offset_fixed_bytes,
            }))
        } else {
            None // slots pruned: push the values we have
        };
        let version = r.version + 1;
        outbox
            .schedule_repush(&StateChange::Repush {
                mac: r.mac.clone(),
                flux_hour: hour.clone(),
                version,
                values,
                reason: "operator re-push".into(),
                now_ms: now,
            })
            .map_err(|e| e.to_string())?;
        println!("{} {hour}: queued as version {version}", r.mac);
    }
    settle(
        config,
        "push",
        |done| done.sent > 0 || done.failed_attempts > 0,
        || {
            let after = open_outbox(config).and_then(|o| o.by_hour(&hour).map_err(|e| e.to_string()))?;
            Ok(after
                .iter()
                .all(|r| r.state != ReportState::Pending || r.attempts > 0 && r.updated_at_ms > now))
        },
    )?;
    let after = open_outbox(config)?.by_hour(&hour).map_err(|e| e.to_string())?;
    print!("{}", render(config, &after));
    Ok(())
}

/// Check a day's sent hours against the customer's copy now.
pub fn verify(config: &AgentConfig, args: VerifyArgs) -> Result<(), String> {
    let day = args.day.ok_or("--day YYYYMMDD is required")?;
    let tz = config.report_timezone;
    let day_start = tz.hour_start_ms(&format!("{day}00"))?;
    let mut outbox = open_outbox(config)?;
    let now = SystemClock.wall_ms();
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
    settle(
        config,
        "verify",
        |done| done.verified > 0,
        || {
            let o = open_outbox(config)?;
            Ok(o.verifications_since(now).map_err(|e| e.to_string())?.len() >= expected)
        },
    )?;
    let results = open_outbox(config)?.verifications_since(now).map_err(|e| e.to_string())?;
    for v in results {
        println!("{} {} {:<12} {}", v.flux_hour, v.mac, v.result, v.detail);
    }
    Ok(())
}

/// Let the running agent do the work (wait up to 60 s for `finished`), or do it here.
fn settle(
    config: &AgentConfig,
    what: &str,
    did_something: impl Fn(&StepReport) -> bool,
    finished: impl Fn() -> Result<bool, String>,
) -> Result<(), String> {
    if daemon::agent_is_running(&config.state_dir) {
        // It sleeps until its next due time: wake it (an older agent polls every 5 s anyway).
        if let Err(e) = daemon::wake_running_agent(&config.state_dir) {
            log::warn!("cannot wake the running agent ({e}); it picks this up within 5 minutes");
        }
        println!("the running agent will {what} it; waiting...");
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if finished()? {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(250));
        }
        return Err(format!("the agent has not finished the {what} within 60 s; see `pushagent outbox`"));
    }
    let clock = SystemClock;
    let mut pusher = daemon::build_pusher(config, &clock).map_err(|e| e.to_string())?;
    let missing = pusher.missing_settings();
    if !missing.is_empty() {
        return Err(format!("{} not set: cannot push to the customer", missing.join(", ")));
    }
    let mut done = StepReport::default();
    match what {
        "push" => pusher.send_due(&mut done).map_err(|e| e.to_string())?,
        _ => {
            pusher.verify_due(&mut done).map_err(|e| e.to_string())?;
            pusher.send_due(&mut done).map_err(|e| e.to_string())?; // corrections it queued
        }
    }
    if !did_something(&done) {
        log::warn!("nothing was due to {what}");
    }
    Ok(())
}
