//! `pushagent push --hour H`: an operator's re-push of one hour. Rebuilt from the ring with
//! the effective config by the daemon's own rules (`Pusher::build_rules`), sent now as
//! version + 1, and committed to the outbox only once the customer accepted it: a customer
//! that is down (or refuses) leaves the outbox exactly as it was, and the operator is told.

use super::client::Verdict;
use super::outbox::{AcceptedRepush, OutboxReport, PushAttempt, RepushKind, RepushValues, StateChange};
use super::pusher::Pusher;
use super::report::{self, ReportState};
use crate::config::Billing;
use crate::slots::{SLOTS_PER_HOUR, SLOT_MS};

const HOUR_MS: i64 = SLOTS_PER_HOUR as i64 * SLOT_MS;
const DAY_MS: i64 = 86_400_000;

impl Pusher<'_> {
    /// Re-push every report of `flux_hour` now; returns them as the outbox holds them after.
    /// Err: why nothing was sent, or why what was sent was not accepted (nothing recorded).
    pub fn repush_hour_now(&mut self, flux_hour: &str) -> Result<Vec<OutboxReport>, String> {
        // Switch off or settings missing: nothing goes to the customer, an operator's re-push
        // neither (checked before anything is rebuilt; `post` checks again).
        if let Some(why) = self.sending_refused() {
            return Err(why);
        }
        let tz = self.config.report_timezone;
        let hour_start = tz.hour_start_ms(flux_hour)?;
        let existing = self.outbox.by_hour(flux_hour).map_err(|e| e.to_string())?;
        if existing.is_empty() {
            return Err(format!(
                "hour {flux_hour} is not in the outbox (not built yet, or older than the retention)"
            ));
        }
        let last = self.ring.last_reading().map_err(|e| e.to_string())?;
        let slots = self.ring.slots_between(hour_start, hour_start + HOUR_MS).map_err(|e| e.to_string())?;
        let mut outgoing = Vec::with_capacity(existing.len());
        for r in &existing {
            let version = r
                .version
                .checked_add(1)
                .ok_or_else(|| format!("{} {flux_hour}: version {} cannot be raised", r.mac, r.version))?;
            let mut next = OutboxReport { version, ..r.clone() };
            let mut values = None;
            if let (Some((last, _)), true) = (&last, slots.iter().any(|s| s.mac == r.mac)) {
                let built = report::build(&r.mac, hour_start, &slots, &tz, &self.build_rules(last));
                match built.state {
                    ReportState::Held => {
                        return Err(format!("{} {flux_hour}: {}", r.mac, built.reason.unwrap_or_default()))
                    }
                    ReportState::SkippedOff => {
                        return Err(format!(
                            "{} {flux_hour}: the push switch was off for the whole hour; off hours are not reported",
                            r.mac
                        ))
                    }
                    // A build is pending, held or skipped; the others are states of its life.
                    ReportState::Pending
                    | ReportState::Sent
                    | ReportState::Unverifiable
                    | ReportState::CorrectionFailed => {}
                }
                next.raw = built.raw;
                next.pushed = built.pushed;
                next.offset_bp = built.offset.basis_points;
                next.offset_source = built.offset_source.into();
                next.offset_fixed_bytes = built.offset_fixed_bytes;
                next.direction = built.direction.name().into();
                values = Some(Box::new(RepushValues {
                    raw: built.raw,
                    pushed: built.pushed,
                    offset_bp: built.offset.basis_points,
                    offset_source: built.offset_source.into(),
                    offset_fixed_bytes: built.offset_fixed_bytes,
                }));
            } // else the slots are pruned: the values the outbox holds go again
            outgoing.push((r.version, next, values));
        }
        let per_request = self.config.customer.records_per_request().max(1);
        for chunk in outgoing.chunks(per_request) {
            let batch: Vec<OutboxReport> = chunk.iter().map(|(_, next, _)| next.clone()).collect();
            let exchange = self.post(&batch)?;
            let now = self.clock.wall_ms();
            if !matches!(exchange.verdict, Verdict::Accepted) {
                return Err(format!(
                    "the customer did not accept {flux_hour} ({}{}): {}; nothing was recorded, the outbox is unchanged",
                    exchange.verdict.outcome(),
                    exchange.http_status.map(|s| format!(", HTTP {s}")).unwrap_or_default(),
                    exchange.message
                ));
            }
            let accepted: Vec<AcceptedRepush> = chunk
                .iter()
                .map(|(replaces_version, next, values)| AcceptedRepush {
                    replaces_version: *replaces_version,
                    direction: next.direction.clone(),
                    repush: StateChange::Repush {
                        mac: next.mac.clone(),
                        flux_hour: next.flux_hour.clone(),
                        version: next.version,
                        values: values.clone(),
                        reason: "operator re-push".into(),
                        now_ms: now,
                        due_at_ms: now,
                        // An operator decided: the corrections count starts again.
                        kind: RepushKind::Operator,
                    },
                    attempt: PushAttempt {
                        mac: next.mac.clone(),
                        flux_hour: next.flux_hour.clone(),
                        version: next.version,
                        at_ms: now,
                        http_status: exchange.http_status,
                        code: exchange.code,
                        outcome: exchange.verdict.outcome().into(),
                        message: exchange.message.clone(),
                        duration_ms: exchange.duration_ms,
                    },
                    sent: StateChange::Sent {
                        mac: next.mac.clone(),
                        flux_hour: next.flux_hour.clone(),
                        at_ms: now,
                        verify_next_at_ms: self.first_verify_ms(next, now),
                        verify_until_ms: next.hour_start_ms
                            + HOUR_MS
                            + i64::from(self.config.verify_days) * DAY_MS,
                    },
                })
                .collect();
            let recorded = self.outbox.record_accepted_repushes(&accepted).map_err(|e| e.to_string())?;
            if !recorded {
                // The customer holds our new version; the agent's own change of the report
                // goes out after it (a conflict there is resolved by query, version + 1).
                return Err(format!(
                    "the customer accepted {flux_hour}, but the running agent changed the report meanwhile; \
                     not recorded: see `pushagent outbox`"
                ));
            }
            log::info!("operator re-push of {flux_hour}: {} record(s) accepted", batch.len());
        }
        self.outbox.by_hour(flux_hour).map_err(|e| e.to_string())
    }
}
