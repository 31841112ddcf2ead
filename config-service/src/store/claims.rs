//! MAC claims: which machine a MAC belongs to. A MAC is held by one machine at a time (an open
//! claim); another machine gets it only when the holder is offline (the move is audited) or an
//! operator released it. Every refused claim is recorded and alerted by the checks.

use super::*;

/// The outcome of a machine claiming a MAC.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// The machine holds it (already, or from now on).
    Held,
    /// Another machine, alive, holds it: refused (and recorded).
    Refused { owner_id: i64, owner_hostname: String },
}

impl Claim {
    /// The refusal as the agent is told.
    pub fn refusal(&self, mac: &str) -> Option<String> {
        match self {
            Claim::Held => None,
            Claim::Refused { owner_hostname, .. } => Some(format!(
                "mac {mac} belongs to another machine ({owner_hostname}), not to this agent; \
                 an operator must release it"
            )),
        }
    }
}

/// A refused claim the checks have not alerted yet.
#[derive(Debug, Clone)]
pub struct ClaimRefusal {
    pub id: i64,
    pub mac: String,
    pub machine_id: i64,
    pub hostname: String,
    pub owner_id: i64,
    pub owner_hostname: String,
    pub what: String,
    pub first_at: i64,
    pub times: i64,
}

/// A history item that disagrees with the stored one under the same identity.
#[derive(Debug, Clone)]
pub struct HistoryConflict {
    pub id: i64,
    pub kind: String,
    pub machine_id: i64,
    pub hostname: String,
    pub mac: String,
    pub flux_hour: String,
    pub stored_machine_id: i64,
    pub sent: String,
    pub received_at: i64,
}

/// `machine_id` claims `mac` at `now`; a holder not seen since `alive_after` loses it.
pub(super) fn claim_mac(
    tx: &rusqlite::Transaction<'_>,
    machine_id: i64,
    mac: &str,
    what: &str,
    now: i64,
    alive_after: i64,
) -> Result<Claim, StoreError> {
    let holder: Option<(i64, String, i64)> = tx
        .query_row(
            "SELECT c.machine_id, m.hostname, m.last_seen_at FROM mac_claims c JOIN machines m ON m.id = c.machine_id
             WHERE c.mac = ?1 AND c.released_at IS NULL",
            [mac],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .optional()?;
    match holder {
        Some((owner, _, _)) if owner == machine_id => return Ok(Claim::Held),
        Some((owner_id, owner_hostname, last_seen)) if last_seen >= alive_after => {
            tx.execute(
                "INSERT INTO mac_claim_refusals (mac, machine_id, owner_id, what, first_at, last_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?5)
                 ON CONFLICT (mac, machine_id, owner_id) DO UPDATE SET times = times + 1, last_at = ?5",
                params![mac, machine_id, owner_id, what, now],
            )?;
            return Ok(Claim::Refused { owner_id, owner_hostname });
        }
        Some((owner, _, _)) => {
            tx.execute(
                "UPDATE mac_claims SET released_at = ?2 WHERE mac = ?1 AND released_at IS NULL",
                params![mac, now],
            )?;
            audit(
                tx,
                now,
                &format!("machine:{machine_id}"),
                "mac_claim",
                mac,
                "holder",
                Some(format!("machine {owner} (offline)")),
                Some(format!("machine {machine_id}")),
            )?;
        }
        None => {}
    }
    tx.execute(
        "INSERT INTO mac_claims (mac, machine_id, claimed_at) VALUES (?1, ?2, ?3)",
        params![mac, machine_id, now],
    )?;
    Ok(Claim::Held)
}

impl Store {
    /// Of `macs` (a history batch's), the first this machine may not post under: one it never
    /// held. Refusals of a MAC held by another machine are recorded.
    pub fn unowned_history_mac(
        &mut self,
        machine_id: i64,
        macs: &[&str],
        now: i64,
    ) -> Result<Option<String>, StoreError> {
        let tx = self.write_tx()?;
        let mut refusal = None;
        for mac in macs {
            let held_once: bool = tx.query_row(
                "SELECT EXISTS (SELECT 1 FROM mac_claims WHERE machine_id = ?1 AND mac = ?2)",
                params![machine_id, mac],
                |r| r.get(0),
            )?;
            if held_once {
                continue;
            }
            let holder: Option<(i64, String)> = tx
                .query_row(
                    "SELECT c.machine_id, m.hostname FROM mac_claims c JOIN machines m ON m.id = c.machine_id
                     WHERE c.mac = ?1 ORDER BY c.released_at IS NULL DESC, c.id DESC LIMIT 1",
                    [mac],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .optional()?;
            refusal = Some(match holder {
                Some((owner_id, owner_hostname)) => {
                    tx.execute(
                        "INSERT INTO mac_claim_refusals (mac, machine_id, owner_id, what, first_at, last_at)
                         VALUES (?1, ?2, ?3, 'history', ?4, ?4)
                         ON CONFLICT (mac, machine_id, owner_id) DO UPDATE SET times = times + 1, last_at = ?4",
                        params![mac, machine_id, owner_id, now],
                    )?;
                    format!("mac {mac} belongs to another machine ({owner_hostname}), not to this agent")
                }
                None => {
                    format!("mac {mac} was never reported by this machine: send a heartbeat with it first")
                }
            });
            break;
        }
        tx.commit()?;
        Ok(refusal)
    }

    /// An operator frees `mac`: the next machine to report it gets it. False: nobody held it.
    pub fn release_mac(&mut self, mac: &str, actor: &str, now: i64) -> Result<bool, StoreError> {
        let tx = self.write_tx()?;
        let holder: Option<i64> = tx
            .query_row(
                "SELECT machine_id FROM mac_claims WHERE mac = ?1 AND released_at IS NULL",
                [mac],
                |r| r.get(0),
            )
            .optional()?;
        let Some(holder) = holder else {
            return Ok(false);
        };
        tx.execute(
            "UPDATE mac_claims SET released_at = ?2 WHERE mac = ?1 AND released_at IS NULL",
            params![mac, now],
        )?;
        audit(&tx, now, actor, "mac_claim", mac, "holder", Some(format!("machine {holder}")), None)?;
        tx.commit()?;
        Ok(true)
    }

    /// The machine holding `mac` now, if any.
    pub fn mac_holder(&self, mac: &str) -> Result<Option<i64>, StoreError> {
        Ok(self
            .conn
            .query_row(
                "SELECT machine_id FROM mac_claims WHERE mac = ?1 AND released_at IS NULL",
                [mac],
                |r| r.get(0),
            )
            .optional()?)
    }

    pub fn unalerted_claim_refusals(&self) -> Result<Vec<ClaimRefusal>, StoreError> {
        let mut stmt = self.conn.prepare(
            "SELECT r.id, r.mac, r.machine_id, m.hostname, r.owner_id, o.hostname, r.what, r.first_at, r.times
             FROM mac_claim_refusals r JOIN machines m ON m.id = r.machine_id JOIN machines o ON o.id = r.owner_id
             WHERE r.alerted = 0 ORDER BY r.id",
        )?;
        let rows = stmt
            .query_map([], |r| {
                Ok(ClaimRefusal {
                    id: r.get(0)?,
                    mac: r.get(1)?,
                    machine_id: r.get(2)?,
                    hostname: r.get(3)?,
                    owner_id: r.get(4)?,
                    owner_hostname: r.get(5)?,
                    what: r.get(6)?,
                    first_at: r.get(7)?,
                    times: r.get(8)?,
                })
            })?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    }

    pub fn claim_refusal_alerted(&self, id: i64) -> Result<(), StoreError> {
        self.conn.execute("UPDATE mac_claim_refusals SET alerted = 1 WHERE id = ?1", [id])?;
        Ok(())
    }

    pub fn unalerted_history_conflicts(&self) -> Result<Vec<HistoryConflict>, StoreError> {
        let mut stmt = self.conn.prepare(
            "SELECT c.id, c.kind, c.machine_id, m.hostname, c.mac, c.flux_hour, c.stored_machine_id, c.sent, c.received_at
             FROM history_conflicts c JOIN machines m ON m.id = c.machine_id WHERE c.alerted = 0 ORDER BY c.id",
        )?;
        let rows = stmt
            .query_map([], |r| {
                Ok(HistoryConflict {
                    id: r.get(0)?,
                    kind: r.get(1)?,
                    machine_id: r.get(2)?,
                    hostname: r.get(3)?,
                    mac: r.get(4)?,
                    flux_hour: r.get(5)?,
                    stored_machine_id: r.get(6)?,
                    sent: r.get(7)?,
                    received_at: r.get(8)?,
                })
            })?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    }

    pub fn history_conflict_alerted(&self, id: i64) -> Result<(), StoreError> {
        self.conn.execute("UPDATE history_conflicts SET alerted = 1 WHERE id = ?1", [id])?;
        Ok(())
    }
}
