//! Retention: what one prune pass deletes.

use super::*;

/// What one retention pass deleted.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Pruned {
    pub history_hours: u64,
    pub history_rows: u64,
    pub verifications: u64,
    pub held_hours: u64,
    pub skipped_hours: u64,
    pub alerts: u64,
    pub incidents: u64,
    pub sessions: u64,
}

impl Pruned {
    /// Anything but expired sessions (those go every hour, not worth a log line).
    pub fn deleted_data(&self) -> bool {
        self.history_rows
            + self.verifications
            + self.held_hours
            + self.skipped_hours
            + self.alerts
            + self.incidents
            > 0
    }
}

impl std::ops::AddAssign for Pruned {
    fn add_assign(&mut self, other: Pruned) {
        self.history_hours += other.history_hours;
        self.history_rows += other.history_rows;
        self.verifications += other.verifications;
        self.held_hours += other.held_hours;
        self.skipped_hours += other.skipped_hours;
        self.alerts += other.alerts;
        self.incidents += other.incidents;
        self.sessions += other.sessions;
    }
}

impl Store {
    /// Delete push history of report hours before `before_hour` (`YYYYMMDDHH`) — at most
    /// `max_hours` hours, oldest first, each hour in its own transaction with its kept counts
    /// and latest rows — plus verifications and held hours before `history_before`, and alerts
    /// (with deliveries) and resolved incidents before `alerts_before`; open incidents and
    /// their alerts stay. `None` keeps that kind. Expired sessions go too.
    pub fn prune(
        &mut self,
        history: Option<(&str, i64)>,
        alerts_before: Option<i64>,
        max_hours: u32,
        now: i64,
    ) -> Result<Pruned, StoreError> {
        let mut pruned = Pruned::default();
        if let Some((before_hour, before)) = history {
            for _ in 0..max_hours {
                let oldest: Option<String> = self.conn.query_row(
                    "SELECT MIN(flux_hour) FROM history_hour_counts WHERE flux_hour < ?1",
                    [before_hour],
                    |r| r.get(0),
                )?;
                let Some(hour) = oldest else { break };
                let tx = self.write_tx()?;
                let rows = tx.execute("DELETE FROM push_history WHERE flux_hour = ?1", [&hour])?;
                tx.execute("DELETE FROM history_latest WHERE flux_hour = ?1", [&hour])?;
                tx.execute("DELETE FROM history_hour_counts WHERE flux_hour = ?1", [&hour])?;
                tx.commit()?;
                pruned.history_rows += rows as u64;
                pruned.history_hours += 1;
            }
            pruned.verifications =
                self.conn.execute("DELETE FROM verifications WHERE verified_at < ?1", [before])? as u64;
            pruned.held_hours =
                self.conn.execute("DELETE FROM held_hours WHERE held_at < ?1", [before])? as u64;
            pruned.skipped_hours =
                self.conn.execute("DELETE FROM skipped_hours WHERE decided_at < ?1", [before])? as u64;
        }
        if let Some(before) = alerts_before {
            let tx = self.write_tx()?;
            // Alerts of incidents still open are kept whatever their age.
            let old_alerts = "SELECT a.id FROM alerts a WHERE a.created_at < ?1 AND NOT EXISTS (
                 SELECT 1 FROM incidents i WHERE i.id = a.incident_id AND i.resolved_at IS NULL)";
            tx.execute(&format!("DELETE FROM deliveries WHERE alert_id IN ({old_alerts})"), [before])?;
            pruned.alerts =
                tx.execute(&format!("DELETE FROM alerts WHERE id IN ({old_alerts})"), [before])? as u64;
            pruned.incidents = tx.execute(
                "DELETE FROM incidents WHERE resolved_at IS NOT NULL AND resolved_at < ?1
                     AND NOT EXISTS (SELECT 1 FROM alerts a WHERE a.incident_id = incidents.id)",
                [before],
            )? as u64;
            tx.commit()?;
        }
        pruned.sessions = self.conn.execute("DELETE FROM sessions WHERE expires_at <= ?1", [now])? as u64;
        Ok(pruned)
    }

    // ---- checks and alerts ----
}
