//! Checks and alerts: incidents, alerts, deliveries.

use super::*;

/// Verification outcomes that are final on the agent (unverifiable, the customer holds an hour
/// we did not send) are alerted while they are this recent; older ones are history.
pub const VERIFICATION_ALERT_DAYS: i64 = 7;

/// Verification outcomes that are not a verdict on our version (SQL, for `v.state`).
const NOT_A_VERDICT: &str = "('unverifiable', 'customer_extra')";

/// What the checks need to know of one machine.
#[derive(Debug, Clone)]
pub struct CheckSubject {
    pub id: i64,
    pub hostname: String,
    pub mac: String,
    pub node: Option<String>,
    pub last_seen_at: i64,
    pub push_enabled: bool,
    /// Statuses of the latest push attempts, newest first ("success"/"failure").
    pub recent_statuses: Vec<String>,
    pub last_push_message: Option<String>,
    pub held_hours: Vec<String>,
    pub ambiguous_unconfirmed: bool,
    pub uncorrected_mismatches: Vec<String>,
    /// Hours whose verification ended `unverifiable` (the customer's copy could not be read
    /// until the verification window closed), verified within [`VERIFICATION_ALERT_DAYS`].
    pub unverifiable_hours: Vec<String>,
    /// Hours the customer holds for this machine's MACs that it never sent (`customer_extra`),
    /// found within [`VERIFICATION_ALERT_DAYS`].
    pub customer_extra_hours: Vec<String>,
    /// What the agent last reported wrong with itself (times on the service's clock).
    pub health: Option<pushagent_proto::agent::AgentHealth>,
}

#[derive(Debug, Clone)]
pub struct Incident {
    pub id: i64,
    pub kind: String,
    pub machine_id: Option<i64>,
    pub opened_at: i64,
    pub last_notified_at: i64,
    pub quiet: bool,
}

#[derive(Debug, Clone)]
pub struct Duplicate {
    pub machine_id: i64,
    pub hostname: String,
    pub mac: String,
    pub machine_uid: String,
    pub other_hostname: String,
    pub other_mac: String,
    pub registered_at: i64,
}

#[derive(Debug, Clone)]
pub struct MacChange {
    pub id: i64,
    pub machine_id: i64,
    pub hostname: String,
    pub old_mac: String,
    pub new_mac: String,
    pub changed_at: i64,
}

#[derive(Debug, Clone)]
pub struct DueDelivery {
    pub id: i64,
    pub channel: String,
    pub attempts: i64,
    pub alert_kind: String,
    pub title: String,
    pub body: String,
    pub created_at: i64,
    pub machine_id: Option<i64>,
    pub incident_id: Option<i64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct AlertRow {
    pub id: i64,
    pub incident_id: Option<i64>,
    pub kind: String,
    pub machine_id: Option<i64>,
    pub title: String,
    pub body: String,
    pub created_at: i64,
    pub deliveries: Vec<DeliveryRow>,
}

#[derive(Debug, Clone, Serialize)]
pub struct DeliveryRow {
    pub channel: String,
    pub status: String,
    pub attempts: i64,
    pub last_error: Option<String>,
    pub sent_at: Option<i64>,
}

impl Store {
    pub fn list_alerts(&self, limit: u32, offset: u64) -> Result<(u64, Vec<AlertRow>), StoreError> {
        let (total, mut alerts) = self.page(
            "alerts",
            None,
            "id, incident_id, kind, machine_id, title, body, created_at",
            "id DESC",
            limit,
            offset,
            |r| {
                Ok(AlertRow {
                    id: r.get(0)?,
                    incident_id: r.get(1)?,
                    kind: r.get(2)?,
                    machine_id: r.get(3)?,
                    title: r.get(4)?,
                    body: r.get(5)?,
                    created_at: r.get(6)?,
                    deliveries: Vec::new(),
                })
            },
        )?;
        let mut deliveries = self.conn.prepare(
            "SELECT channel, status, attempts, last_error, sent_at FROM deliveries WHERE alert_id = ?1 ORDER BY id",
        )?;
        for alert in &mut alerts {
            alert.deliveries = deliveries
                .query_map([alert.id], |r| {
                    Ok(DeliveryRow {
                        channel: r.get(0)?,
                        status: r.get(1)?,
                        attempts: r.get(2)?,
                        last_error: r.get(3)?,
                        sent_at: r.get(4)?,
                    })
                })?
                .collect::<Result<Vec<_>, _>>()?;
        }
        Ok((total, alerts))
    }

    /// Every machine with what the checks look at at `now`; `recent` = how many latest attempts.
    pub fn check_subjects(&self, recent: u32, now: i64) -> Result<Vec<CheckSubject>, StoreError> {
        let mut stmt = self.conn.prepare(
            "SELECT m.id, m.hostname, m.mac, c.node, m.last_seen_at, c.push_enabled,
                 (m.ambiguous = 1 AND c.interface IS NULL), m.health
             FROM machines m JOIN machine_config c ON c.machine_id = m.id ORDER BY m.id",
        )?;
        let mut subjects = stmt
            .query_map([], |r| {
                Ok(CheckSubject {
                    id: r.get(0)?,
                    hostname: r.get(1)?,
                    mac: r.get(2)?,
                    node: r.get(3)?,
                    last_seen_at: r.get(4)?,
                    push_enabled: r.get(5)?,
                    ambiguous_unconfirmed: r.get(6)?,
                    recent_statuses: Vec::new(),
                    last_push_message: None,
                    held_hours: Vec::new(),
                    uncorrected_mismatches: Vec::new(),
                    unverifiable_hours: Vec::new(),
                    customer_extra_hours: Vec::new(),
                    health: r.get::<_, Option<String>>(7)?.and_then(|h| serde_json::from_str(&h).ok()),
                })
            })?
            .collect::<Result<Vec<_>, _>>()?;
        // The latest push attempts: one POST of a batch of N hours (its rows share their
        // attempted_at) is ONE attempt, and attempts are ordered by when the service received
        // them, not by the agent's clock (a clock far ahead would keep old failures "newest").
        let mut recent_stmt = self.conn.prepare(
            "SELECT CASE WHEN MAX(status = 'success') = 1 THEN 'success' ELSE 'failure' END,
                 MAX(CASE WHEN status <> 'success' THEN message END)
             FROM (SELECT status, message, attempted_at, received_at, id FROM push_history
                   WHERE machine_id = ?1 ORDER BY received_at DESC, id DESC LIMIT 2000)
             GROUP BY attempted_at ORDER BY MAX(received_at) DESC, MAX(id) DESC LIMIT ?2",
        )?;
        // A held hour stays open until a later successful push of the same hour.
        let mut held_stmt = self.conn.prepare(
            "SELECT h.flux_hour FROM held_hours h WHERE h.machine_id = ?1 AND NOT EXISTS (
                 SELECT 1 FROM push_history p WHERE p.mac = h.mac AND p.flux_hour = h.flux_hour
                     AND p.status = 'success' AND p.attempted_at >= h.held_at)
             ORDER BY h.flux_hour",
        )?;
        // The latest verdict of each hour decides: a verification that could not read the
        // customer's copy, or one of an hour we did not send, is no verdict on our version.
        let mut mismatch_stmt = self.conn.prepare(&format!(
            "SELECT v.flux_hour FROM verifications v WHERE v.machine_id = ?1 AND v.matched = 0 AND v.corrected = 0
                 AND COALESCE(v.state, '') NOT IN {NOT_A_VERDICT}
                 AND v.id = (SELECT v2.id FROM verifications v2 WHERE v2.mac = v.mac AND v2.flux_hour = v.flux_hour
                                 AND COALESCE(v2.state, '') NOT IN {NOT_A_VERDICT}
                             ORDER BY v2.verified_at DESC, v2.id DESC LIMIT 1)
             ORDER BY v.flux_hour"
        ))?;
        // An hour ended unverifiable unless there is a verdict on that version or a later one
        // (an hour read back once is verified, whatever a later read could not do).
        let mut unverifiable_stmt = self.conn.prepare(&format!(
            "SELECT DISTINCT v.flux_hour FROM verifications v
             WHERE v.machine_id = ?1 AND v.state = 'unverifiable' AND v.verified_at >= ?2
                 AND NOT EXISTS (SELECT 1 FROM verifications v2 WHERE v2.mac = v.mac AND v2.flux_hour = v.flux_hour
                     AND COALESCE(v2.state, '') NOT IN {NOT_A_VERDICT} AND v2.version >= v.version)
             ORDER BY v.flux_hour"
        ))?;
        // The customer holds an hour we did not send, unless we pushed it since.
        let mut extra_stmt = self.conn.prepare(
            "SELECT DISTINCT v.flux_hour FROM verifications v
             WHERE v.machine_id = ?1 AND v.state = 'customer_extra' AND v.verified_at >= ?2
                 AND NOT EXISTS (SELECT 1 FROM push_history p WHERE p.mac = v.mac AND p.flux_hour = v.flux_hour
                     AND p.status = 'success' AND p.attempted_at >= v.verified_at)
             ORDER BY v.flux_hour",
        )?;
        let since = now - VERIFICATION_ALERT_DAYS * 86_400;
        for s in &mut subjects {
            let recent_rows = recent_stmt
                .query_map(params![s.id, recent], |r| {
                    Ok((r.get::<_, String>(0)?, r.get::<_, Option<String>>(1)?))
                })?
                .collect::<Result<Vec<_>, _>>()?;
            s.last_push_message = recent_rows.first().and_then(|r| r.1.clone());
            s.recent_statuses = recent_rows.into_iter().map(|r| r.0).collect();
            s.held_hours = held_stmt.query_map([s.id], |r| r.get(0))?.collect::<Result<Vec<_>, _>>()?;
            s.uncorrected_mismatches =
                mismatch_stmt.query_map([s.id], |r| r.get(0))?.collect::<Result<Vec<_>, _>>()?;
            s.unverifiable_hours = unverifiable_stmt
                .query_map(params![s.id, since], |r| r.get(0))?
                .collect::<Result<Vec<_>, _>>()?;
            s.customer_extra_hours =
                extra_stmt.query_map(params![s.id, since], |r| r.get(0))?.collect::<Result<Vec<_>, _>>()?;
        }
        Ok(subjects)
    }

    pub fn open_incidents(&self) -> Result<Vec<Incident>, StoreError> {
        let mut stmt = self.conn.prepare(
            "SELECT id, kind, machine_id, opened_at, last_notified_at, quiet FROM incidents WHERE resolved_at IS NULL",
        )?;
        let rows = stmt
            .query_map([], |r| {
                Ok(Incident {
                    id: r.get(0)?,
                    kind: r.get(1)?,
                    machine_id: r.get(2)?,
                    opened_at: r.get(3)?,
                    last_notified_at: r.get(4)?,
                    quiet: r.get(5)?,
                })
            })?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    }

    pub fn open_incident(
        &self,
        kind: &str,
        machine_id: Option<i64>,
        summary: &str,
        quiet: bool,
        now: i64,
    ) -> Result<i64, StoreError> {
        self.conn.execute(
            "INSERT INTO incidents (kind, machine_id, opened_at, last_notified_at, summary, quiet)
             VALUES (?1, ?2, ?3, ?3, ?4, ?5)",
            params![kind, machine_id, now, summary, quiet],
        )?;
        Ok(self.conn.last_insert_rowid())
    }

    pub fn resolve_incident(&self, id: i64, now: i64) -> Result<(), StoreError> {
        self.conn.execute("UPDATE incidents SET resolved_at = ?2 WHERE id = ?1", params![id, now])?;
        Ok(())
    }

    pub fn incident_notified(&self, id: i64, now: i64) -> Result<(), StoreError> {
        self.conn.execute("UPDATE incidents SET last_notified_at = ?2 WHERE id = ?1", params![id, now])?;
        Ok(())
    }

    /// Store an alert and one pending delivery per channel. Returns the alert's id.
    #[allow(clippy::too_many_arguments)]
    pub fn add_alert(
        &mut self,
        incident_id: Option<i64>,
        kind: &str,
        machine_id: Option<i64>,
        title: &str,
        body: &str,
        channels: &[String],
        now: i64,
    ) -> Result<i64, StoreError> {
        // A savepoint: this also runs inside a check pass's write transaction.
        let tx = self.conn.savepoint()?;
        tx.execute(
            "INSERT INTO alerts (incident_id, kind, machine_id, title, body, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![incident_id, kind, machine_id, title, body, now],
        )?;
        let alert_id = tx.last_insert_rowid();
        for channel in channels {
            tx.execute(
                "INSERT INTO deliveries (alert_id, channel, status, next_attempt_at) VALUES (?1, ?2, 'pending', ?3)",
                params![alert_id, channel, now],
            )?;
        }
        tx.commit()?;
        Ok(alert_id)
    }

    pub fn unalerted_mac_changes(&self) -> Result<Vec<MacChange>, StoreError> {
        let mut stmt = self.conn.prepare(
            "SELECT h.id, h.machine_id, m.hostname, h.old_mac, h.new_mac, h.changed_at
             FROM mac_history h JOIN machines m ON m.id = h.machine_id WHERE h.alerted = 0 ORDER BY h.id",
        )?;
        let rows = stmt
            .query_map([], |r| {
                Ok(MacChange {
                    id: r.get(0)?,
                    machine_id: r.get(1)?,
                    hostname: r.get(2)?,
                    old_mac: r.get(3)?,
                    new_mac: r.get(4)?,
                    changed_at: r.get(5)?,
                })
            })?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    }

    /// Machines registered as clones of another (same /etc/machine-id) not yet alerted.
    pub fn unalerted_duplicates(&self) -> Result<Vec<Duplicate>, StoreError> {
        let mut stmt = self.conn.prepare(
            "SELECT m.id, m.hostname, m.mac, m.machine_uid, o.hostname, o.mac, m.first_seen_at
             FROM machines m JOIN machines o ON o.id = m.duplicate_of WHERE m.duplicate_alerted = 0 ORDER BY m.id",
        )?;
        let rows = stmt
            .query_map([], |r| {
                Ok(Duplicate {
                    machine_id: r.get(0)?,
                    hostname: r.get(1)?,
                    mac: r.get(2)?,
                    machine_uid: r.get(3)?,
                    other_hostname: r.get(4)?,
                    other_mac: r.get(5)?,
                    registered_at: r.get(6)?,
                })
            })?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    }

    pub fn duplicate_alerted(&self, machine_id: i64) -> Result<(), StoreError> {
        self.conn.execute("UPDATE machines SET duplicate_alerted = 1 WHERE id = ?1", [machine_id])?;
        Ok(())
    }

    pub fn mac_change_alerted(&self, id: i64) -> Result<(), StoreError> {
        self.conn.execute("UPDATE mac_history SET alerted = 1 WHERE id = ?1", [id])?;
        Ok(())
    }

    /// The channels with deliveries due at `now`.
    pub fn due_channels(&self, now: i64) -> Result<Vec<String>, StoreError> {
        let rows = self
            .conn
            .prepare(
                "SELECT DISTINCT channel FROM deliveries WHERE status = 'pending' AND next_attempt_at <= ?1
                 ORDER BY channel",
            )?
            .query_map([now], |r| r.get(0))?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    }

    /// The deliveries due at `now` (of one channel when given), oldest first.
    pub fn due_deliveries(&self, now: i64, limit: u32) -> Result<Vec<DueDelivery>, StoreError> {
        self.due_deliveries_of(None, now, limit)
    }

    pub fn due_deliveries_of(
        &self,
        channel: Option<&str>,
        now: i64,
        limit: u32,
    ) -> Result<Vec<DueDelivery>, StoreError> {
        let mut stmt = self.conn.prepare(
            "SELECT d.id, d.channel, d.attempts, a.kind, a.title, a.body, a.created_at, a.machine_id, a.incident_id
             FROM deliveries d JOIN alerts a ON a.id = d.alert_id
             WHERE d.status = 'pending' AND d.next_attempt_at <= ?1 AND (?3 IS NULL OR d.channel = ?3)
             ORDER BY d.id LIMIT ?2",
        )?;
        let rows = stmt
            .query_map(params![now, limit, channel], |r| {
                Ok(DueDelivery {
                    id: r.get(0)?,
                    channel: r.get(1)?,
                    attempts: r.get(2)?,
                    alert_kind: r.get(3)?,
                    title: r.get(4)?,
                    body: r.get(5)?,
                    created_at: r.get(6)?,
                    machine_id: r.get(7)?,
                    incident_id: r.get(8)?,
                })
            })?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    }

    /// Record one delivery attempt: sent, retried at `retry_at`, or failed for good (`None`).
    /// Take a due delivery for sending until `lease_until`: true for exactly one caller, also
    /// across processes (`runcheck` beside `serve`). A sender that dies mid-send leaves it due
    /// again when the lease ends.
    pub fn claim_delivery(&self, id: i64, now: i64, lease_until: i64) -> Result<bool, StoreError> {
        let changed = self.conn.execute(
            "UPDATE deliveries SET next_attempt_at = ?3 WHERE id = ?1 AND status = 'pending' AND next_attempt_at <= ?2",
            params![id, now, lease_until],
        )?;
        Ok(changed == 1)
    }

    pub fn delivery_attempted(
        &self,
        id: i64,
        outcome: Result<(), String>,
        now: i64,
        retry_at: Option<i64>,
    ) -> Result<(), StoreError> {
        match outcome {
            Ok(()) => self.conn.execute(
                "UPDATE deliveries SET status = 'sent', attempts = attempts + 1, sent_at = ?2, last_error = NULL
                 WHERE id = ?1",
                params![id, now],
            )?,
            Err(error) => self.conn.execute(
                "UPDATE deliveries SET attempts = attempts + 1, last_error = ?2,
                     status = CASE WHEN ?3 IS NULL THEN 'failed' ELSE 'pending' END,
                     next_attempt_at = COALESCE(?3, next_attempt_at)
                 WHERE id = ?1",
                params![id, error, retry_at],
            )?,
        };
        Ok(())
    }
}
