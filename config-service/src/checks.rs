//! The checks: one pass over every machine (`run_checks`), run by `serve` every
//! `check_interval_secs` and once by `runcheck`. Only machines whose push switch is on, and
//! only while the global push switch is on, are checked.
//!
//! Each condition (kind × machine) is an incident: one alert when it opens, a reminder every
//! `renotify_hours` while open, one recovery notice when it clears. When more than
//! `storm_percent` of the checked machines (and at least `STORM_MIN_MACHINES`) go offline in the
//! same pass, ONE storm summary replaces their alerts; those incidents close quietly.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use crate::global::{AlertSettings, GlobalDoc};
use crate::health::HealthKind;
use crate::http::App;
use crate::store::{CheckSubject, Incident, Store, StoreError};
use crate::{alerts, lock, Settings, SharedStore};

/// Fewer machines going offline at once are alerted one by one, whatever the percentage.
pub const STORM_MIN_MACHINES: usize = 3;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    PushFailures,
    Offline,
    HeldHours,
    AmbiguousInterface,
    VerificationMismatch,
    /// Hours whose verification ended without reading the customer's copy.
    Unverifiable,
    /// The customer holds hours we did not send.
    CustomerExtra,
    /// Conditions the agent reports in its heartbeat (`crate::health`).
    Health(HealthKind),
}

impl Kind {
    pub const ALL: [Kind; 14] = [
        Kind::PushFailures,
        Kind::Offline,
        Kind::HeldHours,
        Kind::AmbiguousInterface,
        Kind::VerificationMismatch,
        Kind::Unverifiable,
        Kind::CustomerExtra,
        Kind::Health(HealthKind::ClockUnsynchronised),
        Kind::Health(HealthKind::SamplingStuck),
        Kind::Health(HealthKind::ConfigRefused),
        Kind::Health(HealthKind::InterfaceMissing),
        Kind::Health(HealthKind::SettingsMissing),
        Kind::Health(HealthKind::PushHeldBySwitch),
        Kind::Health(HealthKind::HistoryRefused),
    ];

    /// Checked on machines whose push switch (or the global one) is off too.
    fn checked_while_switched_off(self) -> bool {
        matches!(self, Kind::Health(h) if h.checked_while_switched_off())
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::PushFailures => "push_failures",
            Kind::Offline => "offline",
            Kind::HeldHours => "held_hours",
            Kind::AmbiguousInterface => "ambiguous_interface",
            Kind::VerificationMismatch => "verification_mismatch",
            Kind::Unverifiable => "verification_unverifiable",
            Kind::CustomerExtra => "customer_extra_hours",
            Kind::Health(h) => h.as_str(),
        }
    }

    fn title(self, zh: bool) -> &'static str {
        match (self, zh) {
            (Kind::PushFailures, true) => "推送失败告警",
            (Kind::PushFailures, false) => "Push failures",
            (Kind::Offline, true) => "Agent 离线告警",
            (Kind::Offline, false) => "Agent offline",
            (Kind::HeldHours, true) => "数据暂扣告警",
            (Kind::HeldHours, false) => "Hours held for an operator",
            (Kind::AmbiguousInterface, true) => "采集接口待确认",
            (Kind::AmbiguousInterface, false) => "Interface choice to confirm",
            (Kind::VerificationMismatch, true) => "核对不一致告警",
            (Kind::VerificationMismatch, false) => "Verification mismatch",
            (Kind::Unverifiable, true) => "客户数据无法核对",
            (Kind::Unverifiable, false) => "Hours that could not be verified",
            (Kind::CustomerExtra, true) => "客户持有我方未推送的数据",
            (Kind::CustomerExtra, false) => "The customer holds hours we did not send",
            (Kind::Health(h), zh) => h.title(zh),
        }
    }
}

/// What one pass found and raised (printed by `runcheck`).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct CheckReport {
    pub checked_machines: usize,
    pub opened: Vec<String>,
    pub reminders: Vec<String>,
    pub recovered: Vec<String>,
    pub storm: Option<String>,
    pub events: Vec<String>,
    pub skipped: Option<String>,
}

fn machine_label(s: &CheckSubject, zh: bool) -> String {
    let node = s.node.as_deref().unwrap_or("-");
    if zh {
        format!("机器 {}（MAC {}，节点 {}）", s.hostname, s.mac, node)
    } else {
        format!("machine {} (MAC {}, node {})", s.hostname, s.mac, node)
    }
}

/// The condition of `kind` on `s`, as the alert text; None = fine.
fn condition(
    kind: Kind,
    s: &CheckSubject,
    a: &AlertSettings,
    offline_after: i64,
    now: i64,
    zh: bool,
) -> Option<String> {
    let who = machine_label(s, zh);
    match kind {
        Kind::PushFailures => {
            let n = a.failure_threshold as usize;
            let failing =
                s.recent_statuses.len() >= n && s.recent_statuses.iter().take(n).all(|st| st == "failure");
            failing.then(|| {
                let last = s.last_push_message.as_deref().unwrap_or("-");
                if zh {
                    format!("{who}最近 {n} 次向客户推送全部失败。最后的错误：{last}")
                } else {
                    format!("{who}: the last {n} pushes to the customer failed. Last error: {last}")
                }
            })
        }
        Kind::Offline => {
            let silent = now - s.last_seen_at;
            (silent > offline_after).then(|| {
                if zh {
                    format!("{who}已 {} 分钟没有心跳（超过 {} 个心跳周期）。", silent / 60, a.offline_periods)
                } else {
                    format!(
                        "{who}: no heartbeat for {} minutes ({} periods).",
                        silent / 60,
                        a.offline_periods
                    )
                }
            })
        }
        Kind::HeldHours => (!s.held_hours.is_empty()).then(|| {
            let hours = s.held_hours.join(", ");
            if zh {
                format!("{who}有 {} 个小时的数据被暂扣，等待人工处理：{hours}", s.held_hours.len())
            } else {
                format!("{who}: {} hours held for an operator: {hours}", s.held_hours.len())
            }
        }),
        Kind::AmbiguousInterface => s.ambiguous_unconfirmed.then(|| {
            if zh {
                format!("{who}自动选择的采集接口不确定，请在控制台指定采集接口。")
            } else {
                format!(
                    "{who}: the automatic interface choice is ambiguous; set the interface in the console."
                )
            }
        }),
        Kind::Health(h) => {
            let after_secs = h.alert_after_secs(a)?;
            s.health.as_ref().and_then(|health| h.condition(health, after_secs, now, zh)).map(|what| {
                if zh {
                    format!("{who}：{what}")
                } else {
                    format!("{who}: {what}")
                }
            })
        }
        Kind::Unverifiable => (!s.unverifiable_hours.is_empty()).then(|| {
            let hours = s.unverifiable_hours.join(", ");
            let n = s.unverifiable_hours.len();
            if zh {
                format!("{who}有 {n} 个小时在核对期内始终无法读取客户数据（不是不一致）：{hours}")
            } else {
                format!("{who}: {n} hours could not be verified against the customer's copy until the verification window closed (not a mismatch): {hours}")
            }
        }),
        Kind::CustomerExtra => (!s.customer_extra_hours.is_empty()).then(|| {
            let hours = s.customer_extra_hours.join(", ");
            let n = s.customer_extra_hours.len();
            if zh {
                format!("{who}：客户持有 {n} 个我方未推送的小时数据（可能被多计或少计费用）：{hours}")
            } else {
                format!("{who}: the customer holds {n} hours we did not send (money we may be paid or blamed for): {hours}")
            }
        }),
        Kind::VerificationMismatch => (!s.uncorrected_mismatches.is_empty()).then(|| {
            let hours = s.uncorrected_mismatches.join(", ");
            if zh {
                format!(
                    "{who}有 {} 个小时与客户数据不一致且未能修正：{hours}",
                    s.uncorrected_mismatches.len()
                )
            } else {
                format!(
                    "{who}: {} hours differ from the customer's copy and were not corrected: {hours}",
                    s.uncorrected_mismatches.len()
                )
            }
        }),
    }
}

/// One pass of all checks at `now`, raising alerts (stored with pending deliveries).
/// The pass runs in one write transaction (see `Store::write_exclusively`).
pub fn run_checks(store: &mut Store, settings: &Settings, now: i64) -> Result<CheckReport, StoreError> {
    store.write_exclusively(|store| check_pass(store, settings, now))
}

fn check_pass(store: &mut Store, settings: &Settings, now: i64) -> Result<CheckReport, StoreError> {
    let (_, doc) = store.global()?;
    let a = &doc.alerts;
    let zh = a.language != "en";
    let channels: Vec<String> = a.channels.iter().map(|c| c.name.clone()).collect();
    let subjects = store.check_subjects(a.failure_threshold, now)?;
    let mut open: HashMap<(String, Option<i64>), Incident> =
        store.open_incidents()?.into_iter().map(|i| ((i.kind.clone(), i.machine_id), i)).collect();
    let mut report = CheckReport::default();
    let heartbeat = i64::try_from(settings.heartbeat_interval_secs).unwrap_or(i64::MAX);
    let offline_after = heartbeat.saturating_mul(i64::from(a.offline_periods));
    let renotify_secs = i64::from(a.renotify_hours) * 3600;

    let eligible: Vec<&CheckSubject> =
        subjects.iter().filter(|s| doc.push_enabled && s.push_enabled).collect();
    if !doc.push_enabled {
        report.skipped = Some(
            "the global push switch is off: no machine checked (but for hours held by the switch and refused history)"
                .into(),
        );
    }
    report.checked_machines = eligible.len();

    // Incidents of machines no longer checked (switch turned off) close without a notice
    // (but the kinds checked while off: below).
    for s in subjects.iter().filter(|s| !(doc.push_enabled && s.push_enabled)) {
        for kind in Kind::ALL.into_iter().filter(|k| !k.checked_while_switched_off()) {
            if let Some(incident) = open.remove(&(kind.as_str().to_owned(), Some(s.id))) {
                store.resolve_incident(incident.id, now)?;
            }
        }
    }

    // Storm: many machines newly silent within one heartbeat period. Offline transitions are
    // grouped over that window: a newly silent machine is told only once it has been offline
    // for a whole window (`ripe`), together with every machine gone silent meanwhile, so
    // silences spread over a period (staggered heartbeats) make one summary, not one each.
    let window = heartbeat;
    let ripe = |s: &CheckSubject| now - s.last_seen_at > offline_after.saturating_add(window);
    let newly_offline: Vec<&CheckSubject> = eligible
        .iter()
        .copied()
        .filter(|s| {
            condition(Kind::Offline, s, a, offline_after, now, zh).is_some()
                && !open.contains_key(&(Kind::Offline.as_str().to_owned(), Some(s.id)))
        })
        .collect();
    let storm = newly_offline.iter().any(|s| ripe(s))
        && newly_offline.len() >= STORM_MIN_MACHINES
        && newly_offline.len() * 100 > a.storm_percent as usize * eligible.len();
    if storm {
        let names: Vec<&str> = newly_offline.iter().take(10).map(|s| s.hostname.as_str()).collect();
        let (title, body) = if zh {
            (
                "大面积离线告警".to_owned(),
                format!(
                    "本次检查有 {}/{} 台机器同时失去心跳（超过 {}%），可能是配置服务或网络故障，而不是机器本身。例如：{}",
                    newly_offline.len(),
                    eligible.len(),
                    a.storm_percent,
                    names.join("、")
                ),
            )
        } else {
            (
                "Offline storm".to_owned(),
                format!(
                    "{}/{} machines went silent in the same check (above {}%): the service or the network is likely at fault. E.g. {}",
                    newly_offline.len(),
                    eligible.len(),
                    a.storm_percent,
                    names.join(", ")
                ),
            )
        };
        // A new wave while a storm is open is told under the same incident.
        let storm_id = match open.get(&("storm".to_owned(), None)) {
            Some(storm) => storm.id,
            None => store.open_incident("storm", None, &body, false, now)?,
        };
        store.add_alert(Some(storm_id), "storm", None, &title, &body, &channels, now)?;
        for s in &newly_offline {
            let id = store.open_incident(Kind::Offline.as_str(), Some(s.id), "storm", true, now)?;
            open.insert(
                (Kind::Offline.as_str().to_owned(), Some(s.id)),
                Incident {
                    id,
                    kind: Kind::Offline.as_str().into(),
                    machine_id: Some(s.id),
                    opened_at: now,
                    last_notified_at: now,
                    quiet: true,
                },
            );
        }
        report.storm = Some(body);
    }

    for s in &subjects {
        let switched_on = doc.push_enabled && s.push_enabled;
        for kind in Kind::ALL.into_iter().filter(|k| switched_on || k.checked_while_switched_off()) {
            let key = (kind.as_str().to_owned(), Some(s.id));
            let found = condition(kind, s, a, offline_after, now, zh);
            let title = kind.title(zh);
            match (found, open.remove(&key)) {
                // Not yet: it may be part of a storm still forming (see `ripe`).
                (Some(_), None) if kind == Kind::Offline && !ripe(s) => {}
                (Some(text), None) => {
                    let id = store.open_incident(kind.as_str(), Some(s.id), &text, false, now)?;
                    store.add_alert(Some(id), "opened", Some(s.id), title, &text, &channels, now)?;
                    report.opened.push(text);
                }
                (Some(text), Some(incident)) => {
                    if !incident.quiet
                        && renotify_secs > 0
                        && now - incident.last_notified_at >= renotify_secs
                    {
                        let title =
                            if zh { format!("【提醒】{title}") } else { format!("[Reminder] {title}") };
                        let since = crate::admin_api::format_time(incident.opened_at);
                        let body = if zh {
                            format!("{text}（自 {since} UTC 起未恢复）")
                        } else {
                            format!("{text} (open since {since} UTC)")
                        };
                        store.add_alert(
                            Some(incident.id),
                            "reminder",
                            Some(s.id),
                            &title,
                            &body,
                            &channels,
                            now,
                        )?;
                        store.incident_notified(incident.id, now)?;
                        report.reminders.push(body);
                    }
                }
                (None, Some(incident)) => {
                    store.resolve_incident(incident.id, now)?;
                    if !incident.quiet {
                        let who = machine_label(s, zh);
                        let (title, body) = if zh {
                            (format!("【已恢复】{title}"), format!("{who}：{title}已恢复。"))
                        } else {
                            (format!("[Recovered] {title}"), format!("{who}: {title} recovered."))
                        };
                        store.add_alert(
                            Some(incident.id),
                            "recovered",
                            Some(s.id),
                            &title,
                            &body,
                            &channels,
                            now,
                        )?;
                        report.recovered.push(body);
                    }
                }
                (None, None) => {}
            }
        }
    }

    // A storm ends when none of its machines is still offline.
    if let Some(storm) = open.remove(&("storm".to_owned(), None)) {
        let still_offline =
            store.open_incidents()?.iter().any(|i| i.kind == Kind::Offline.as_str() && i.quiet);
        if !still_offline {
            store.resolve_incident(storm.id, now)?;
            let (title, body) = if zh {
                ("【已恢复】大面积离线告警", "大面积离线的机器已全部恢复心跳。")
            } else {
                ("[Recovered] Offline storm", "Every machine of the offline storm is back.")
            };
            store.add_alert(Some(storm.id), "recovered", None, title, body, &channels, now)?;
            report.recovered.push(body.to_owned());
        }
    }

    mac_changes(store, &doc, &subjects, &channels, now, &mut report)?;
    evidence_events(store, zh, &channels, now, &mut report)?;
    Ok(report)
}

/// A MAC change and a duplicate machine-id are events, not conditions: one notice each.
fn mac_changes(
    store: &mut Store,
    doc: &GlobalDoc,
    subjects: &[CheckSubject],
    channels: &[String],
    now: i64,
    report: &mut CheckReport,
) -> Result<(), StoreError> {
    let zh = doc.alerts.language != "en";
    for change in store.unalerted_mac_changes()? {
        let checked =
            doc.push_enabled && subjects.iter().any(|s| s.id == change.machine_id && s.push_enabled);
        if checked {
            let at = crate::admin_api::format_time(change.changed_at);
            let (title, body) = if zh {
                (
                    "MAC 变更通知",
                    format!(
                        "机器 {} 的采集 MAC 由 {} 变为 {}（{at} UTC），此后按新 MAC 上报。",
                        change.hostname, change.old_mac, change.new_mac
                    ),
                )
            } else {
                (
                    "MAC changed",
                    format!("machine {}: collected MAC changed from {} to {} ({at} UTC); reports use the new MAC.", change.hostname, change.old_mac, change.new_mac),
                )
            };
            store.add_alert(None, "event", Some(change.machine_id), title, &body, channels, now)?;
            report.events.push(body);
        }
        store.mac_change_alerted(change.id)?;
    }
    for dup in store.unalerted_duplicates()? {
        let checked = doc.push_enabled && subjects.iter().any(|s| s.id == dup.machine_id && s.push_enabled);
        if checked {
            let at = crate::admin_api::format_time(dup.registered_at);
            let (title, body) = if zh {
                (
                    "machine-id 重复",
                    format!(
                        "机器 {}（MAC {}）与在线机器 {}（MAC {}）的 /etc/machine-id 相同（克隆镜像？），已登记为单独机器 {}（{at} UTC）。请在克隆机上重新生成 machine-id。",
                        dup.hostname, dup.mac, dup.other_hostname, dup.other_mac, dup.machine_uid
                    ),
                )
            } else {
                (
                    "Duplicate machine-id",
                    format!(
                        "machine {} (MAC {}) has the same /etc/machine-id as the live machine {} (MAC {}) (a cloned image?); registered as a machine of its own, {} ({at} UTC). Regenerate the machine-id on the clone.",
                        dup.hostname, dup.mac, dup.other_hostname, dup.other_mac, dup.machine_uid
                    ),
                )
            };
            store.add_alert(None, "event", Some(dup.machine_id), title, &body, channels, now)?;
            report.events.push(body);
        }
        store.duplicate_alerted(dup.machine_id)?;
    }
    Ok(())
}

/// Attacks on the evidence and disagreeing copies of it: one notice each, whatever the
/// switches (they are not about pushing).
fn evidence_events(
    store: &mut Store,
    zh: bool,
    channels: &[String],
    now: i64,
    report: &mut CheckReport,
) -> Result<(), StoreError> {
    for r in store.unalerted_claim_refusals()? {
        let at = crate::admin_api::format_time(r.first_at);
        let (title, body) = if zh {
            (
                "MAC 归属被拒绝",
                format!(
                    "机器 {}（id {}）在{}中报告了 MAC {}，该 MAC 属于在线机器 {}（id {}），已拒绝（{at} UTC 起 {} 次）。若该 MAC 确已换到这台机器，请在控制台释放它。",
                    r.hostname,
                    r.machine_id,
                    match r.what.as_str() {
                        "heartbeat" => "心跳",
                        "register" => "注册",
                        _ => "推送历史",
                    },
                    r.mac,
                    r.owner_hostname,
                    r.owner_id,
                    r.times
                ),
            )
        } else {
            (
                "MAC claim refused",
                format!(
                    "machine {} (id {}) reported MAC {} in a {}, but the live machine {} (id {}) holds it: refused ({} times since {at} UTC). If the MAC really moved to this machine, release it in the console.",
                    r.hostname, r.machine_id, r.mac, r.what, r.owner_hostname, r.owner_id, r.times
                ),
            )
        };
        store.add_alert(None, "event", Some(r.machine_id), title, &body, channels, now)?;
        store.claim_refusal_alerted(r.id)?;
        report.events.push(body);
    }
    for c in store.unalerted_history_conflicts()? {
        let (title, body) = if zh {
            (
                "推送历史冲突",
                format!(
                    "机器 {}（id {}）对 MAC {} 小时 {} 再次上报的{}记录与已存记录（机器 id {}）不一致；已存记录保留，新记录另存为冲突：{}",
                    c.hostname, c.machine_id, c.mac, c.flux_hour, c.kind, c.stored_machine_id, c.sent
                ),
            )
        } else {
            (
                "Push history conflict",
                format!(
                    "machine {} (id {}) sent a {} record of MAC {} hour {} that differs from the stored one (machine id {}); the stored one is kept, the new one is kept as a conflict: {}",
                    c.hostname, c.machine_id, c.kind, c.mac, c.flux_hour, c.stored_machine_id, c.sent
                ),
            )
        };
        store.add_alert(None, "event", Some(c.machine_id), title, &body, channels, now)?;
        store.history_conflict_alerted(c.id)?;
        report.events.push(body);
    }
    Ok(())
}

/// `runcheck`: one pass, then the deliveries due, on the caller's thread.
pub fn run_once(
    store: &SharedStore,
    settings: &Settings,
    now_ms: i64,
) -> Result<(CheckReport, alerts::DeliveryReport), StoreError> {
    let report = run_checks(&mut lock(store), settings, now_ms.div_euclid(1000))?;
    let delivered = alerts::deliver_due(store, settings, &alerts::http_agent(settings), now_ms)?;
    Ok((report, delivered))
}

/// The named background jobs of `serve`: `checks` (every `check_interval_secs`),
/// `alert-delivery` (every `delivery_interval_secs`) and `retention` (hourly). A failed pass is logged; the next runs.
pub fn spawn_jobs(app: Arc<App>) -> Vec<tokio::task::JoinHandle<()>> {
    let dispatcher = Arc::new(alerts::Dispatcher::default());
    let checks = {
        let app = Arc::clone(&app);
        let dispatcher = Arc::clone(&dispatcher);
        let period = Duration::from_secs(app.settings.check_interval_secs);
        tokio::spawn(every(period, "checks", move || {
            let app = Arc::clone(&app);
            let now = app.now();
            let result = run_checks(&mut lock(&app.store), &app.settings, now);
            match result {
                Ok(r)
                    if !(r.opened.is_empty()
                        && r.recovered.is_empty()
                        && r.reminders.is_empty()
                        && r.storm.is_none()) =>
                {
                    log::info!(
                        "checks: {} opened, {} recovered, {} reminders{}",
                        r.opened.len(),
                        r.recovered.len(),
                        r.reminders.len(),
                        if r.storm.is_some() { ", storm" } else { "" }
                    );
                }
                Ok(_) => {}
                Err(e) => log::error!("checks failed (retried next period): {e}"),
            }
            // What the pass raised goes out now, on the delivery workers: never waited for here.
            dispatcher.dispatch(&app);
        }))
    };
    let retention = {
        let app = Arc::clone(&app);
        tokio::spawn(every(Duration::from_secs(3600), "retention", move || {
            match crate::retention::run(&mut lock(&app.store), &app.settings, app.now()) {
                Ok(p) if p.deleted_data() => {
                    log::info!("retention: deleted {p:?}")
                }
                Ok(_) => {}
                Err(e) => log::error!("retention failed (retried next hour): {e}"),
            }
        }))
    };
    let deliveries = {
        let period = Duration::from_secs(app.settings.delivery_interval_secs);
        tokio::spawn(every(period, "alert-delivery", move || dispatcher.dispatch(&app)))
    };
    vec![checks, deliveries, retention]
}

async fn every(period: Duration, name: &'static str, job: impl Fn() + Send + Sync + Clone + 'static) {
    let mut ticker = tokio::time::interval(period);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        let job = job.clone();
        if let Err(e) = tokio::task::spawn_blocking(job).await {
            log::error!("job {name} panicked: {e}");
        }
    }
}
