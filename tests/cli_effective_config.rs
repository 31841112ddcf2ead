//! The operator's read-only commands (`points --hour`, `points --day --stats`, `outbox`,
//! `verify`) read the state with the config the daemon runs with, not the file alone: an agent
//! billed on inbound traffic with a machine offset set in the console, whose file says outbound
//! and no offset, and whose file was later edited to a report time zone the agent refuses
//! (hours already named in UTC+08:00). The commands show the hours the daemon named and pushed,
//! in the billed direction it pushed, with the values the outbox and the customer hold, and
//! say where each key that differs from the file came from.

// Tests build configs field by field from the defaults: clearer than one big literal.
#![allow(clippy::field_reassign_with_default)]

mod common;

use std::process::{Command, Output};

use common::customer::{Customer, ACCESS_ID, SECRET};
use common::service::{ConfigService, ENROLL};
use common::{SharedNic, T0};
use pushagent::clock::SimClock;
use pushagent::config::{AgentConfig, SharedConfig};
use pushagent::daemon::build_pusher;
use pushagent::netif::HostRoot;
use pushagent::push::outbox::{Outbox, OutboxReport};
use pushagent::push::report::ReportState;
use pushagent::ring::Ring;
use pushagent::sampler::Sampler;
use pushagent::service::sync::ServiceSync;
use pushagent::shutdown::Shutdown;
use pushagent::slots::ReportTz;
use pushagent::tally::TallyConfig;
use pushagent_customer::faults::Faults;
use serde_json::{json, Value};

const MAC: &str = "0c:c4:7a:10:00:02";
/// Per simulated minute: outbound and inbound bytes (the service bills inbound).
const TX_PER_MIN: u64 = 1_000_000;
const RX_PER_MIN: u64 = 3_000_000;
/// 2026-11-24 23:00 in UTC+08:00 (15:00 UTC): the agent's two hours straddle its midnight.
const START: i64 = T0 + 15 * 3_600_000;

fn pushagent(config: &std::path::Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_pushagent"))
        .arg("--config")
        .arg(config)
        .args(args)
        .output()
        .expect("pushagent runs")
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn text(out: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

fn agent_toml(dir: &std::path::Path, customer: &Customer, service: &ConfigService, zone: &str) -> String {
    format!(
        "state_dir = \"{}\"\npush_spread_secs = 0\nverify_days = 0\n{zone}\n[customer]\nbase_url = \"{}\"\n\
         access_id = \"{ACCESS_ID}\"\nsecret = \"{SECRET}\"\n\n[report]\nprovider_id = \"P\"\n\
         provider_uiid = \"U\"\n\n[service]\nurl = \"{}\"\nenrollment_token = \"{ENROLL}\"\n",
        dir.display(),
        customer.base_url,
        service.base_url
    )
}

/// The `v0`..`v11` rows of `points --hour`'s table: (billed, pushed) bytes per slot.
fn hour_rows(out: &str) -> Vec<(u64, u64)> {
    out.lines()
        .filter(|l| l.starts_with('v') && l.as_bytes().get(1).is_some_and(u8::is_ascii_digit))
        .map(|l| {
            let cols: Vec<&str> = l.split_whitespace().collect();
            let n = |i: usize| cols[i].parse::<u64>().unwrap_or_else(|_| panic!("column {i} of {l:?}"));
            (n(4), n(5))
        })
        .collect()
}

fn customer_points(customer: &Customer, flux_hour: &str) -> Option<Vec<u64>> {
    let record = customer.records().into_iter().find(|r| r["flux_hour"].as_str() == Some(flux_hour))?;
    Some((0..12).map(|i| record[format!("v{i}")].as_u64().expect("v")).collect())
}

#[test]
fn the_operators_commands_show_the_hours_and_values_the_daemon_pushed() {
    let customer = Customer::start(Faults::default(), 21);
    let service_dir = tempfile::tempdir().expect("tempdir");
    let service = ConfigService::start(service_dir.path());
    // The console's 推送配置: the customer, +10 % globally, billed on inbound traffic.
    let mut global = service.admin("GET", "/api/global-config", None);
    global["push_enabled"] = json!(true);
    global["customer"] = json!({
        "base_url": customer.base_url, "report_path": "/api/v1/flux/report",
        "query_path": "/api/v1/flux/query", "access_id": ACCESS_ID, "secret": SECRET,
        "day_format": "%Y%m%d", "hour_format": "%Y%m%d%H", "mac_format": "lower-colon", "batch_size": 100
    });
    global["provider_id"] = json!("P");
    global["provider_uiid"] = json!("U");
    global["offset_bp"] = json!(1000);
    global["billed_direction"] = json!("rx");
    service.admin("PUT", "/api/global-config", Some(global));

    // The file: outbound (the default), no offset, the default zone UTC+08:00.
    let dir = tempfile::tempdir().expect("tempdir");
    let toml = dir.path().join("agent.toml");
    std::fs::write(&toml, agent_toml(dir.path(), &customer, &service, "")).expect("agent.toml");
    let local = AgentConfig::load(&toml, true).expect("the file loads");

    // The daemon's parts on a simulated clock: register, then the console sets this machine's
    // own offset (+5 %, replacing the global +10 %); the next round caches and applies it.
    let clock = SimClock::new(START, 5_000_000);
    let nic = SharedNic::new();
    nic.with(|n| n.mac = MAC.into());
    let (ring, _) = Ring::open(&local.state_db_path()).expect("ring");
    let tally = TallyConfig { sample_interval_ms: 60_000, ..TallyConfig::default() };
    let mut sampler =
        Sampler::new(&clock, Box::new(nic.clone()), ring, tally, ReportTz::default(), 35, Shutdown::new())
            .expect("sampler");
    let shared = SharedConfig::new(local.clone());
    let root = HostRoot::new(format!("{}/tests/fixtures/sysfs/plain-eth0", env!("CARGO_MANIFEST_DIR")));
    let outbox = Outbox::open(&local.state_db_path()).expect("outbox");
    let mut sync = ServiceSync::new(&clock, local.clone(), shared.clone(), outbox, root).expect("sync");
    assert!(sync.step().expect("first service round").registered);
    let machines = service.admin("GET", "/api/machines", None);
    let id = machines["items"][0]["id"].as_i64().expect("registered machine");
    service.admin("PATCH", &format!("/api/machines/{id}/config"), Some(json!({"offset_bp": 500})));
    assert!(sync.step().expect("second service round").config_applied);
    let (_, effective) = shared.get();
    assert_eq!(effective.report.machine_offset_percent.map(|o| o.percent_text()), Some("5.00".into()));
    let mut pusher = build_pusher(&effective, &clock).expect("pusher");
    sampler.sample(None).expect("baseline");
    for _ in 0..130 {
        clock.advance_ms(60_000);
        nic.with(|n| n.send(TX_PER_MIN, RX_PER_MIN));
        sampler.sample(None).expect("sample");
        pusher.step().expect("push step");
    }
    drop(pusher);
    drop(sampler);
    drop(sync);

    // What the daemon pushed: hours 23 of the 24th and 00 of the 25th (UTC+08:00), inbound +5 %.
    let tz = ReportTz::default();
    let (last_hour_of_day, first_of_next) = (tz.flux_hour(START), tz.flux_hour(START + 3_600_000));
    assert_eq!((last_hour_of_day.as_str(), first_of_next.as_str()), ("2026112423", "2026112500"));
    let state_db = local.state_db_path();
    let pushed: Vec<OutboxReport> = [&last_hour_of_day, &first_of_next]
        .iter()
        .map(|h| Outbox::open_existing(&state_db).expect("outbox").get(MAC, h).expect("read").expect("built"))
        .collect();
    for r in &pushed {
        assert_eq!((r.state, r.direction.as_str()), (ReportState::Sent, "rx"), "{r:?}");
        assert_eq!(r.pushed, [RX_PER_MIN * 5 * 105 / 100; 12], "the daemon pushed inbound +5 %: {r:?}");
        assert_eq!(customer_points(&customer, &r.flux_hour), Some(r.pushed.to_vec()));
    }

    // The operator then edits the file to name hours in UTC: refused (the next 8 hour names
    // of UTC were already used), the daemon goes on in UTC+08:00.
    std::fs::write(&toml, agent_toml(dir.path(), &customer, &service, "report_timezone = \"UTC\"\n"))
        .expect("agent.toml");
    let says = |t: &str| {
        for line in [
            "config: billed direction: rx (global config v",
            "from the service, file says tx)",
            "config: report time zone: UTC+08:00 (the outbox's hours are named in it, file says UTC+00:00): \
             change from UTC+08:00 to UTC+00:00 refused",
            "config: offset: 5.00 % at machine level (machine config v",
            "from the service, file says 0.00 % at global level)",
        ] {
            assert!(t.contains(line), "{line:?} missing from:\n{t}");
        }
    };

    // `points --hour`: the hour the daemon named, its billed bytes equal to what the outbox
    // pushed as raw, its pushed bytes to what the outbox and the customer hold.
    for r in &pushed {
        let out = pushagent(&toml, &["points", "--hour", &r.flux_hour]);
        let t = stdout(&out);
        assert!(out.status.success(), "{}", text(&out));
        says(&t);
        assert!(
            t.contains(&format!("hour {} (UTC+08:00) mac {MAC}, billed direction rx", r.flux_hour)),
            "{t}"
        );
        assert!(t.contains("outbox: version 1 sent, built on rx, offset 5.00 % (machine)"), "{t}");
        let rows = hour_rows(&t);
        let (billed, pushed_points): (Vec<u64>, Vec<u64>) = rows.into_iter().unzip();
        assert_eq!(billed, r.raw.to_vec(), "billed bytes of the ring = the raw bytes pushed:\n{t}");
        assert_eq!(pushed_points, r.pushed.to_vec(), "{t}");
        assert!(!t.contains("differ"), "{t}");
    }
    let out = pushagent(&toml, &["points", "--hour", &last_hour_of_day, "--json"]);
    assert!(out.status.success(), "{}", text(&out));
    let hour: Value = serde_json::from_slice(&out.stdout).expect("JSON on stdout alone");
    assert_eq!(
        (hour["timezone"].as_str(), hour["billed_direction"].as_str()),
        (Some("UTC+08:00"), Some("rx"))
    );
    assert_eq!(hour["reports"][0]["version"], json!(1));
    says(&String::from_utf8_lossy(&out.stderr));

    // `points --day --stats`: the report day of UTC+08:00 holds hour 23 only; its figures are
    // the pushed hour's.
    let out = pushagent(&toml, &["points", "--day", "20261124", "--stats", "--json"]);
    assert!(out.status.success(), "{}", text(&out));
    says(&String::from_utf8_lossy(&out.stderr));
    let day: Value = serde_json::from_slice(&out.stdout).expect("stats JSON");
    let r = &pushed[0];
    assert_eq!(day["timezone"], json!("UTC+08:00"), "{day}");
    assert_eq!(day["direction"], json!("rx"), "{day}");
    assert_eq!((day["sent_hours"].as_u64(), day["unsent_hours"].as_u64()), (Some(1), Some(0)), "{day}");
    assert_eq!(day["ring_raw"]["total_bytes"].as_u64(), Some(r.raw.iter().sum::<u64>()), "{day}");
    assert_eq!(day["sent_raw"]["total_bytes"].as_u64(), Some(r.raw.iter().sum::<u64>()), "{day}");
    assert_eq!(day["sent_pushed"]["total_bytes"].as_u64(), Some(r.pushed.iter().sum::<u64>()), "{day}");
    assert_eq!(day["sent_pushed"]["peak_bytes"].as_u64(), Some(r.pushed[0]), "{day}");
    let out = pushagent(&toml, &["points", "--day", "20261124", "--stats"]);
    assert!(out.status.success(), "{}", text(&out));
    says(&stdout(&out));

    // `outbox`: the notes, and the times of the hours in the zone in force (the hour 23 of the
    // 24th was sent just after midnight of the 25th in UTC+08:00, 16:0x UTC).
    let out = pushagent(&toml, &["outbox"]);
    let t = stdout(&out);
    assert!(out.status.success(), "{}", text(&out));
    says(&t);
    let row = t.lines().find(|l| l.starts_with(&last_hour_of_day)).expect("the hour's row");
    assert!(row.contains(" 2026-11-25 00:"), "sent time in UTC+08:00: {row}");
    let sum: u64 = r.pushed.iter().sum();
    assert!(row.contains(&format!(" {sum} ")), "pushed bytes of the outbox: {row}");

    // `verify`: the notes before anything else it says.
    let out = pushagent(&toml, &["verify", "--day", "20261124"]);
    says(&stdout(&out));
}
