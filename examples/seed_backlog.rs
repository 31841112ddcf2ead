//! Benchmark helper: fill a state database with HOURS built, unsent reports for one MAC —
//! the backlog a long customer outage leaves — ending at the current hour.
//!
//!     cargo run --release --example seed_backlog -- STATE_DB HOURS MAC

use pushagent::config::AgentConfig;
use pushagent::push::outbox::Outbox;
use pushagent::push::report::{self, BuildRules};
use pushagent::ring::Ring;
use pushagent::slots::ReportTz;

fn main() -> Result<(), String> {
    let args: Vec<String> = std::env::args().collect();
    let [_, path, hours, mac] = args.as_slice() else {
        return Err("usage: seed_backlog STATE_DB HOURS MAC".into());
    };
    let hours: i64 = hours.parse().map_err(|e| format!("HOURS: {e}"))?;
    let path = std::path::Path::new(path);
    let _ = Ring::open(path).map_err(|e| e.to_string())?;
    let mut outbox = Outbox::open(path).map_err(|e| e.to_string())?;
    let tz = ReportTz::default();
    let now_hour = tz.hour_start_of(chrono::Utc::now().timestamp_millis());
    let config = AgentConfig::default();
    let rules = BuildRules::from_settings(config.customer.billed_direction, &config.report, true, None);
    for h in 0..hours {
        let hour = now_hour - (hours - h) * 3_600_000;
        let mut built = report::build(mac, hour, &[], &tz, &rules);
        built.raw = std::array::from_fn(|i| 1_000_000 * (h as u64 + 1) + i as u64);
        built.pushed = built.raw;
        // The cursor a day ahead: the agent drains, it does not build.
        outbox.commit_hour(&[built], now_hour + 86_400_000, now_hour).map_err(|e| e.to_string())?;
    }
    println!("seeded {hours} pending hours for {mac} in {}", path.display());
    Ok(())
}
