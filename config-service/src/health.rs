//! The health an agent reports with its heartbeat ([`AgentHealth`]): checked, re-based on the
//! service's clock, and merged with what the service already knew, so a condition keeps the
//! time the service first learnt of it (an agent's clock may be the very thing that is wrong).

use pushagent_proto::agent::{AgentHealth, MAX_HEALTH_NAME, MAX_HEALTH_TEXT};

use crate::validate::{self, Invalid};

/// Most settings an agent may name as missing.
const MAX_MISSING_SETTINGS: usize = 16;
/// Most switches an agent may name as off (machine, global, local).
const MAX_SWITCHES: usize = 8;

pub fn validate(h: &AgentHealth) -> Result<(), Invalid> {
    if let Some(c) = &h.sampler_cannot_commit {
        validate::text("health.sampler_cannot_commit.why", &c.why, MAX_HEALTH_TEXT)?;
    }
    if let Some(c) = &h.config_refused {
        validate::text("health.config_refused.key", &c.key, 100)?;
        validate::text("health.config_refused.why", &c.why, MAX_HEALTH_TEXT)?;
    }
    if let Some(c) = &h.interface_missing {
        validate::text("health.interface_missing.name", &c.name, 100)?;
    }
    if let Some(c) = &h.settings_missing {
        if c.which.len() > MAX_MISSING_SETTINGS {
            return Err(format!("health.settings_missing.which: at most {MAX_MISSING_SETTINGS}"));
        }
        for (i, w) in c.which.iter().enumerate() {
            validate::text(&format!("health.settings_missing.which[{i}]"), w, 100)?;
        }
    }
    if let Some(c) = &h.push_held_by_switch {
        if c.switches.len() > MAX_SWITCHES {
            return Err(format!("health.push_held_by_switch.switches: at most {MAX_SWITCHES}"));
        }
        for (i, w) in c.switches.iter().enumerate() {
            validate::text(&format!("health.push_held_by_switch.switches[{i}]"), w, MAX_HEALTH_NAME)?;
        }
        validate::text("health.push_held_by_switch.oldest_hour", &c.oldest_hour, MAX_HEALTH_NAME)?;
    }
    if let Some(c) = &h.history_refused {
        let l = &c.latest;
        validate::text("health.history_refused.latest.kind", &l.kind, MAX_HEALTH_NAME)?;
        validate::text("health.history_refused.latest.mac", &l.mac, MAX_HEALTH_NAME)?;
        validate::text("health.history_refused.latest.flux_hour", &l.flux_hour, MAX_HEALTH_NAME)?;
        validate::text("health.history_refused.latest.message", &l.message, MAX_HEALTH_TEXT)?;
    }
    Ok(())
}

/// `h` with every time moved from the agent's clock to the service's: a time `age` seconds
/// before `agent_time` becomes `age` seconds before `now` (a time after `agent_time`, which a
/// stepped clock can produce, becomes `now`).
pub fn rebase(mut h: AgentHealth, agent_time: i64, now: i64) -> AgentHealth {
    let at = |t: i64| now.saturating_sub(agent_time.saturating_sub(t).max(0));
    h.clock_unsynchronised_since = h.clock_unsynchronised_since.map(at);
    if let Some(s) = &mut h.last_clock_step {
        s.at = at(s.at);
    }
    if let Some(c) = &mut h.sampler_cannot_commit {
        c.since = at(c.since);
    }
    h.timeline_stuck_since = h.timeline_stuck_since.map(at);
    if let Some(c) = &mut h.config_refused {
        c.since = at(c.since);
    }
    if let Some(c) = &mut h.interface_missing {
        c.since = at(c.since);
    }
    if let Some(c) = &mut h.settings_missing {
        c.since = at(c.since);
    }
    if let Some(c) = &mut h.push_held_by_switch {
        c.since = at(c.since);
    }
    if let Some(c) = &mut h.history_refused {
        c.since = at(c.since);
        c.latest.at = at(c.latest.at);
    }
    h
}

/// The new report, with the `since` the service already holds for every condition that
/// continues (same kind and same subject), so re-basing jitter or a clock step on the agent
/// never makes an old condition look new.
pub fn merge(old: Option<&AgentHealth>, mut new: AgentHealth) -> AgentHealth {
    let Some(old) = old else { return new };
    fn keep(old: Option<i64>, new: &mut Option<i64>) {
        if let (Some(o), Some(n)) = (old, new.as_mut()) {
            *n = (*n).min(o);
        }
    }
    keep(old.clock_unsynchronised_since, &mut new.clock_unsynchronised_since);
    keep(old.timeline_stuck_since, &mut new.timeline_stuck_since);
    if let (Some(o), Some(n)) = (&old.sampler_cannot_commit, &mut new.sampler_cannot_commit) {
        n.since = n.since.min(o.since);
    }
    if let (Some(o), Some(n)) = (&old.config_refused, &mut new.config_refused) {
        if o.key == n.key {
            n.since = n.since.min(o.since);
        }
    }
    if let (Some(o), Some(n)) = (&old.interface_missing, &mut new.interface_missing) {
        if o.name == n.name {
            n.since = n.since.min(o.since);
        }
    }
    if let (Some(o), Some(n)) = (&old.settings_missing, &mut new.settings_missing) {
        n.since = n.since.min(o.since);
    }
    if let (Some(o), Some(n)) = (&old.push_held_by_switch, &mut new.push_held_by_switch) {
        n.since = n.since.min(o.since);
    }
    if let (Some(o), Some(n)) = (&old.history_refused, &mut new.history_refused) {
        n.since = n.since.min(o.since);
    }
    if let (Some(o), Some(n)) = (&old.last_clock_step, &new.last_clock_step) {
        if o.step_ms == n.step_ms && (o.at - n.at).abs() < 600 {
            new.last_clock_step = Some(o.clone());
        }
    }
    new
}

/// The health conditions the checks alert on (one incident kind each).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HealthKind {
    ClockUnsynchronised,
    /// The sampler cannot commit, or the timeline cannot advance.
    SamplingStuck,
    ConfigRefused,
    InterfaceMissing,
    SettingsMissing,
    /// Hours wait to be sent behind a push switch that is off: checked on every machine,
    /// switched off or not (the switch is its cause), after `alerts.push_held_after_hours`.
    PushHeldBySwitch,
    /// History items the service refused: its evidence of money has a hole. Checked on every
    /// machine, at once.
    HistoryRefused,
}

fn time_text(at: i64) -> String {
    crate::admin_api::format_time(at)
}

impl HealthKind {
    pub fn as_str(self) -> &'static str {
        match self {
            HealthKind::ClockUnsynchronised => "clock_unsynchronised",
            HealthKind::SamplingStuck => "sampling_stuck",
            HealthKind::ConfigRefused => "config_refused",
            HealthKind::InterfaceMissing => "interface_missing",
            HealthKind::SettingsMissing => "settings_missing",
            HealthKind::PushHeldBySwitch => "push_held_by_switch",
            HealthKind::HistoryRefused => "history_refused",
        }
    }

    pub fn title(self, zh: bool) -> &'static str {
        match (self, zh) {
            (HealthKind::ClockUnsynchronised, true) => "时钟未同步告警",
            (HealthKind::ClockUnsynchronised, false) => "Clock not synchronised",
            (HealthKind::SamplingStuck, true) => "采集无法写入告警",
            (HealthKind::SamplingStuck, false) => "Sampling stuck",
            (HealthKind::ConfigRefused, true) => "配置被 Agent 拒绝",
            (HealthKind::ConfigRefused, false) => "Config refused by the agent",
            (HealthKind::InterfaceMissing, true) => "采集接口不存在",
            (HealthKind::InterfaceMissing, false) => "Interface not found",
            (HealthKind::SettingsMissing, true) => "推送配置缺失",
            (HealthKind::SettingsMissing, false) => "Push settings missing",
            (HealthKind::PushHeldBySwitch, true) => "推送关闭，小时数据待推送",
            (HealthKind::PushHeldBySwitch, false) => "Hours waiting behind a push switch",
            (HealthKind::HistoryRefused, true) => "推送历史被配置服务拒收",
            (HealthKind::HistoryRefused, false) => "History refused by the service",
        }
    }

    /// Checked on a machine whose push switch (or the global one) is off too: the switch is
    /// the cause of one, and the other is evidence missing whatever the switch says.
    pub fn checked_while_switched_off(self) -> bool {
        matches!(self, HealthKind::PushHeldBySwitch | HealthKind::HistoryRefused)
    }

    /// How long the condition must have held before it is alerted (None: never).
    pub fn alert_after_secs(self, a: &crate::global::AlertSettings) -> Option<i64> {
        match self {
            HealthKind::PushHeldBySwitch => {
                (a.push_held_after_hours > 0).then(|| i64::from(a.push_held_after_hours) * 3600)
            }
            HealthKind::HistoryRefused => Some(0),
            _ => Some(i64::from(a.health_after_minutes) * 60),
        }
    }

    /// The condition's text when it has held at least `after_secs` at `now`; None = fine (or
    /// not for long enough yet).
    pub fn condition(self, h: &AgentHealth, after_secs: i64, now: i64, zh: bool) -> Option<String> {
        let long_enough = |since: i64| now.saturating_sub(since) >= after_secs;
        match self {
            HealthKind::ClockUnsynchronised => h.clock_unsynchronised_since.filter(|s| long_enough(*s)).map(|s| {
                if zh {
                    format!("系统时钟自 {} UTC 起未同步（NTP），在同步之前不生成、不推送小时数据。", time_text(s))
                } else {
                    format!("the clock has not been synchronised (NTP) since {} UTC: no hour is built until it is.", time_text(s))
                }
            }),
            HealthKind::SamplingStuck => {
                let commit = h.sampler_cannot_commit.as_ref().filter(|c| long_enough(c.since));
                let stuck = h.timeline_stuck_since.filter(|s| long_enough(*s));
                match (commit, stuck) {
                    (Some(c), _) => Some(if zh {
                        format!("采集数据自 {} UTC 起无法写入本地数据库：{}", time_text(c.since), c.why)
                    } else {
                        format!("the sampler cannot commit its readings since {} UTC: {}", time_text(c.since), c.why)
                    }),
                    (None, Some(s)) => Some(if zh {
                        format!("采集时间线自 {} UTC 起无法前进。", time_text(s))
                    } else {
                        format!("the slot timeline has not advanced since {} UTC.", time_text(s))
                    }),
                    (None, None) => None,
                }
            }
            HealthKind::ConfigRefused => h.config_refused.as_ref().filter(|c| long_enough(c.since)).map(|c| {
                if zh {
                    format!("Agent 拒绝了下发的配置（{}：{}），仍按上一份有效配置运行。", c.key, c.why)
                } else {
                    format!("the agent refused the config it was sent ({}: {}) and keeps running with the last good one.", c.key, c.why)
                }
            }),
            HealthKind::InterfaceMissing => h.interface_missing.as_ref().filter(|c| long_enough(c.since)).map(|c| {
                if zh {
                    format!("指定的采集接口 {} 自 {} UTC 起不存在，流量未被采集；请在控制台重新指定采集接口。", c.name, time_text(c.since))
                } else {
                    format!("interface {} not found since {} UTC: nothing is counted; choose the interface in the console.", c.name, time_text(c.since))
                }
            }),
            HealthKind::SettingsMissing => h.settings_missing.as_ref().filter(|c| long_enough(c.since)).map(|c| {
                let which = c.which.join(", ");
                if zh {
                    format!("缺少推送配置 {which}（自 {} UTC 起），小时数据保留在本地、未推送。", time_text(c.since))
                } else {
                    format!("{which} not set since {} UTC: reports are kept on the agent, not sent.", time_text(c.since))
                }
            }),
            HealthKind::PushHeldBySwitch => h.push_held_by_switch.as_ref().filter(|c| long_enough(c.since)).map(|c| {
                let switches = c.switches.iter().map(|s| switch_name(s, zh)).collect::<Vec<_>>().join(if zh { "、" } else { ", " });
                let (n, oldest, fixes) = (c.hours_waiting, &c.oldest_hour, c.corrections_waiting);
                if zh {
                    format!("推送开关已关闭（{switches}，自 {} UTC 起），{n} 小时待推送（最早 {oldest}，其中修正 {fixes} 个）；打开开关后推送。", time_text(c.since))
                } else {
                    format!("push switch off ({switches}) since {} UTC: {n} hours wait to be sent (oldest {oldest}, {fixes} of them corrections); they go when it is on.", time_text(c.since))
                }
            }),
            HealthKind::HistoryRefused => h.history_refused.as_ref().filter(|c| long_enough(c.since)).map(|c| {
                let l = &c.latest;
                if zh {
                    format!("配置服务拒收了 {} 条推送历史（Agent 已记录并跳过，服务端缺少这些证据），最近一条：{} {} {}（HTTP {}：{}）；在 Agent 上用 pushagent outbox --refused 查看。", c.count, l.kind, l.mac, l.flux_hour, l.status, l.message)
                } else {
                    format!("the service refused {} history items (recorded and skipped by the agent: the service lacks that evidence); the latest: {} {} {} (HTTP {}: {}); see `pushagent outbox --refused` on the agent.", c.count, l.kind, l.mac, l.flux_hour, l.status, l.message)
                }
            }),
        }
    }
}

/// A switch code as the alert names it.
fn switch_name(code: &str, zh: bool) -> &str {
    use pushagent_proto::agent::{SWITCH_GLOBAL, SWITCH_LOCAL, SWITCH_MACHINE};
    match (code, zh) {
        (SWITCH_MACHINE, true) => "机器开关",
        (SWITCH_GLOBAL, true) => "全局开关",
        (SWITCH_LOCAL, true) => "本机配置文件",
        (SWITCH_MACHINE, false) => "machine switch",
        (SWITCH_GLOBAL, false) => "global switch",
        (SWITCH_LOCAL, false) => "the agent's config file",
        (other, _) => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pushagent_proto::agent::{ConfigRefused, InterfaceMissing};

    #[test]
    fn times_move_to_the_service_clock_and_conditions_keep_their_first_sighting() {
        // The agent's clock is 8 h ahead: its "10 minutes ago" is the service's too.
        let agent_time = 1_000_000 + 8 * 3600;
        let h = AgentHealth {
            clock_unsynchronised_since: Some(agent_time - 600),
            interface_missing: Some(InterfaceMissing { name: "eth9".into(), since: agent_time + 50 }),
            ..AgentHealth::default()
        };
        let r = rebase(h, agent_time, 1_000_000);
        assert_eq!(r.clock_unsynchronised_since, Some(1_000_000 - 600));
        assert_eq!(r.interface_missing.as_ref().map(|i| i.since), Some(1_000_000), "never in the future");

        // The agent's clock stepped back: the condition is as old as the service knows it.
        let later = AgentHealth {
            clock_unsynchronised_since: Some(999_990),
            interface_missing: Some(InterfaceMissing { name: "eth8".into(), since: 999_999 }),
            config_refused: Some(ConfigRefused { key: "offset_bp".into(), why: "x".into(), since: 5 }),
            ..AgentHealth::default()
        };
        let m = merge(Some(&r), later);
        assert_eq!(m.clock_unsynchronised_since, Some(1_000_000 - 600));
        assert_eq!(m.interface_missing.map(|i| i.since), Some(999_999), "another interface: new");
        assert_eq!(m.config_refused.map(|c| c.since), Some(5));
    }

    #[test]
    fn long_texts_are_refused_with_the_field_named() {
        let h = AgentHealth {
            config_refused: Some(ConfigRefused {
                key: "offset_bp".into(),
                why: "x".repeat(MAX_HEALTH_TEXT + 1),
                since: 1,
            }),
            ..AgentHealth::default()
        };
        let err = validate(&h).expect_err("too long");
        assert!(err.contains("health.config_refused.why"), "{err}");
    }
}
