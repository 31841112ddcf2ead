//! What is wrong on this agent right now, as every thread sees it: the sampler (clock, commit,
//! timeline), the pusher (settings missing, hours held by a push switch) and the service thread (config refused, interface
//! missing) set and clear their conditions here; the heartbeat sends a copy
//! ([`pushagent_proto::agent::AgentHealth`]). A condition keeps the `since` of its first sighting
//! while it holds, so repeating a `set` each step changes nothing; a change is logged once.

use std::sync::{Arc, Mutex};

use pushagent_proto::agent::{
    AgentHealth, ClockStep, ConfigRefused, HealthCondition, InterfaceMissing, PushHeldBySwitch,
    SettingsMissing, MAX_HEALTH_NAME, MAX_HEALTH_TEXT,
};

/// The agent's health, shared by its threads (clones share one state).
#[derive(Debug, Clone, Default)]
pub struct Health {
    inner: Arc<Mutex<AgentHealth>>,
    /// A setting of the file refused at the start (`report_timezone`): reported as
    /// `config_refused` while the service's config is not refused itself.
    file_refused: Arc<Mutex<Option<ConfigRefused>>>,
}

/// Texts go to the service: keep them short (on a character boundary).
fn clip(text: &str) -> String {
    match text.char_indices().nth(MAX_HEALTH_TEXT) {
        Some((cut, _)) => text[..cut].to_string(),
        None => text.to_string(),
    }
}

impl Health {
    pub fn new() -> Self {
        Health::default()
    }

    /// A copy for the heartbeat.
    pub fn snapshot(&self) -> AgentHealth {
        let mut h = self.lock().clone();
        if h.config_refused.is_none() {
            h.config_refused = self.file_refused.lock().unwrap_or_else(|p| p.into_inner()).clone();
        }
        h
    }

    /// A change of `report_timezone` refused (`Some(why)`: hours stay named in the zone in
    /// force), or none (`None`).
    pub fn zone_refused(&self, why: Option<&str>, now_secs: i64) {
        let mut refused = self.file_refused.lock().unwrap_or_else(|p| p.into_inner());
        *refused =
            why.map(|why| ConfigRefused { key: "report_timezone".into(), why: clip(why), since: now_secs });
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, AgentHealth> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The kernel's clock status: `Some(now)` while unsynchronised (the first `now` is kept),
    /// `None` once synchronised.
    pub fn clock_unsynchronised(&self, unsynchronised: bool, now_secs: i64) {
        let mut h = self.lock();
        match (unsynchronised, h.clock_unsynchronised_since) {
            (true, None) => {
                log::warn!("the clock is not synchronised: no hour is built until it is");
                h.clock_unsynchronised_since = Some(now_secs);
            }
            (false, Some(_)) => {
                log::info!("the clock is synchronised again");
                h.clock_unsynchronised_since = None;
            }
            _ => {}
        }
    }

    /// A clock step was seen (an event: the latest one is reported).
    pub fn clock_stepped(&self, step_ms: i64, at_secs: i64) {
        self.lock().last_clock_step = Some(ClockStep { step_ms, at: at_secs });
    }

    /// The sampler could (`None`) or could not (`Some(why)`) commit a reading.
    pub fn sampler_commit(&self, failure: Option<&str>, now_secs: i64) {
        let mut h = self.lock();
        match (failure, &h.sampler_cannot_commit) {
            (Some(why), None) => {
                log::error!("the sampler cannot commit its readings: {why}");
                h.sampler_cannot_commit = Some(HealthCondition { since: now_secs, why: clip(why) });
            }
            (Some(why), Some(old)) if old.why != clip(why) => {
                let since = old.since;
                h.sampler_cannot_commit = Some(HealthCondition { since, why: clip(why) });
            }
            (None, Some(_)) => {
                log::info!("the sampler commits again");
                h.sampler_cannot_commit = None;
            }
            _ => {}
        }
    }

    /// Whether the slot timeline advances.
    pub fn timeline_stuck(&self, stuck: bool, now_secs: i64) {
        let mut h = self.lock();
        match (stuck, h.timeline_stuck_since) {
            (true, None) => h.timeline_stuck_since = Some(now_secs),
            (false, Some(_)) => h.timeline_stuck_since = None,
            _ => {}
        }
    }

    /// A config was refused (`Some((key, why))`: the last good one stays) or accepted (`None`).
    pub fn config_refused(&self, refused: Option<(&str, &str)>, now_secs: i64) {
        let mut h = self.lock();
        match refused {
            Some((key, why)) => {
                let (key, why) = (clip(key), clip(why));
                let since = match &h.config_refused {
                    Some(old) if old.key == key && old.why == why => return,
                    Some(old) => old.since,
                    None => now_secs,
                };
                h.config_refused = Some(ConfigRefused { key, why, since });
            }
            None => h.config_refused = None,
        }
    }

    /// The pinned interface is missing (`Some(name)`) or present again (`None`).
    pub fn interface_missing(&self, name: Option<&str>, now_secs: i64) {
        let mut h = self.lock();
        match (name, &h.interface_missing) {
            (Some(name), Some(old)) if old.name == name => {}
            (Some(name), _) => {
                log::error!(
                    "interface {name} not found: nothing is counted until it exists or the config names another"
                );
                h.interface_missing = Some(InterfaceMissing { name: clip(name), since: now_secs });
            }
            (None, Some(old)) => {
                log::info!("interface {} is back (or no longer pinned): counting resumes", old.name);
                h.interface_missing = None;
            }
            (None, None) => {}
        }
    }

    /// Settings without which reports are held (empty = none missing). Logged once per change.
    pub fn settings_missing(&self, which: &[&str], now_secs: i64) {
        let mut h = self.lock();
        let which: Vec<String> = which.iter().map(|w| w.to_string()).collect();
        match &h.settings_missing {
            Some(old) if old.which == which => {}
            _ if which.is_empty() => {
                if h.settings_missing.take().is_some() {
                    log::info!("every setting needed to push is set: held reports are sent");
                }
            }
            old => {
                log::warn!(
                    "{} not set: reports are built and kept in the outbox, not sent",
                    which.join(", ")
                );
                let since = old.as_ref().map_or(now_secs, |o| o.since);
                h.settings_missing = Some(SettingsMissing { which, since });
            }
        }
    }
}

impl Health {
    /// Hours waiting to be sent behind a push switch that is off (`Some`: its `since` is
    /// ignored, the first sighting's is kept while it holds), or none (`None`: the switch is
    /// on, or nothing waits). Logged when it starts and when it ends.
    pub fn push_held_by_switch(&self, held: Option<PushHeldBySwitch>, now_secs: i64) {
        let mut h = self.lock();
        match (held, &h.push_held_by_switch) {
            (Some(mut new), old) => {
                if old.is_none() {
                    log::warn!(
                        "push switch off ({}): {} hour(s) wait to be sent (oldest {}), {} of them corrections",
                        new.switches.join(", "),
                        new.hours_waiting,
                        new.oldest_hour,
                        new.corrections_waiting
                    );
                }
                new.since = old.as_ref().map_or(now_secs, |o| o.since);
                let name = |s: &str| s.chars().take(MAX_HEALTH_NAME).collect::<String>();
                new.switches.iter_mut().for_each(|s| *s = name(s));
                new.oldest_hour = name(&new.oldest_hour);
                h.push_held_by_switch = Some(new);
            }
            (None, Some(_)) => {
                log::info!("no hour waits behind a push switch any more");
                h.push_held_by_switch = None;
            }
            (None, None) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_condition_keeps_its_first_sighting_and_clears() {
        let health = Health::new();
        assert!(health.snapshot().is_fine());
        health.settings_missing(&["report.provider_id"], 100);
        health.settings_missing(&["report.provider_id"], 200);
        assert_eq!(health.snapshot().settings_missing.map(|m| m.since), Some(100));
        health.settings_missing(&["report.provider_id", "customer.secret"], 300);
        let missing = health.snapshot().settings_missing.expect("missing");
        assert_eq!((missing.since, missing.which.len()), (100, 2));
        health.settings_missing(&[], 400);
        assert!(health.snapshot().is_fine());

        let other = health.clone();
        other.interface_missing(Some("eth9"), 10);
        other.interface_missing(Some("eth9"), 20);
        assert_eq!(health.snapshot().interface_missing.map(|m| m.since), Some(10));
        health.interface_missing(None, 30);
        assert!(other.snapshot().is_fine());
    }

    #[test]
    fn hours_held_by_a_switch_keep_their_first_sighting() {
        let health = Health::new();
        let held = |hours| PushHeldBySwitch {
            since: 0,
            switches: vec!["machine".into()],
            hours_waiting: hours,
            corrections_waiting: 0,
            oldest_hour: "2026120610".into(),
        };
        health.push_held_by_switch(Some(held(2)), 100);
        health.push_held_by_switch(Some(held(3)), 200);
        let now = health.snapshot().push_held_by_switch.expect("held");
        assert_eq!((now.since, now.hours_waiting), (100, 3));
        assert!(!health.snapshot().is_fine());
        health.push_held_by_switch(None, 300);
        assert!(health.snapshot().is_fine());
    }

    #[test]
    fn texts_are_clipped() {
        let health = Health::new();
        let long = "é".repeat(MAX_HEALTH_TEXT + 10);
        health.config_refused(Some(("offset_bp", &long)), 5);
        let refused = health.snapshot().config_refused.expect("refused");
        assert_eq!(refused.why.chars().count(), MAX_HEALTH_TEXT);
        health.clock_stepped(-600_000, 7);
        health.config_refused(None, 8);
        assert!(health.snapshot().is_fine(), "a past clock step is not a condition");
    }
}
