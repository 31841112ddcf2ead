//! The local ring: the state database's tables holding the 5-minute slots, the last counter reading and
//! notable events. Slot additions and the last reading are committed in ONE transaction, so
//! after kill -9 or power loss the next reading continues exactly where the ring left off.

use std::path::{Path, PathBuf};

use rusqlite::{params, Connection, OptionalExtension, Transaction};

use crate::clock::DemoOrigin;
use crate::netif::IfCounters;
use crate::slots::SLOT_MS;
use crate::statedb::{self, StateDbError};
use crate::tally::{flag, Event, LastReading, Observation, SlotAddition};

#[cfg(test)]
mod cost_tests;

#[derive(Debug, thiserror::Error)]
pub enum RingError {
    #[error("ring database error: {0}")]
    Db(#[from] rusqlite::Error),
    #[error("ring holds an unreadable last reading: {0}")]
    BadLastReading(String),
    #[error("value {0} does not fit the ring's 63-bit integers")]
    TooLarge(u64),
}

/// A stored slot.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SlotRow {
    pub mac: String,
    pub slot_start_ms: i64,
    pub ifname: String,
    pub counters: IfCounters,
    pub covered_ms: i64,
    pub samples: u32,
    pub flags: u32,
    pub closed: bool,
    /// The push switch while the slot was measured (`tally::switch` bits; 0 = not known).
    pub push_switch: u8,
    /// The largest link speed (bits/s) seen while the slot was measured; 0 = not known.
    pub link_bits_per_sec: u64,
}

/// What a prune did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Pruned {
    pub removed: usize,
    /// Slots older than the retention kept because their hour is not built or not pushed.
    pub kept_unbuilt: usize,
}

/// A slot changed after its hour was built.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangedSlot {
    pub mac: String,
    pub slot_start_ms: i64,
    pub changes: i64,
}

pub struct Ring {
    conn: Connection,
    path: PathBuf,
}

impl Ring {
    /// Open (creating if needed) the ring in the state database at `path`. A corrupt file
    /// is moved aside (never overwritten) and a fresh one started; the notice says where.
    pub fn open(path: &Path) -> Result<(Ring, Option<StateDbError>), StateDbError> {
        let (conn, notice) = statedb::open(path)?;
        Ok((Ring { conn, path: path.to_owned() }, notice))
    }

    /// Open an existing state database read-only (the CLI, while the daemon runs).
    pub fn open_existing(path: &Path) -> Result<Ring, StateDbError> {
        Ok(Ring { conn: statedb::open_existing(path)?, path: path.to_owned() })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn last_reading(&self) -> Result<Option<(LastReading, bool)>, RingError> {
        let row: Option<(String, bool)> = self
            .conn
            .query_row("SELECT reading, clean_stop FROM last_reading WHERE id = 1", [], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .optional()?;
        match row {
            None => Ok(None),
            Some((json, clean)) => serde_json::from_str(&json)
                .map(|lr| Some((lr, clean)))
                .map_err(|e| RingError::BadLastReading(e.to_string())),
        }
    }

    /// Commit one observation: slot additions, closing of the slots that ended, events and
    /// the new last reading, all or nothing. Returns the slots this closed.
    pub fn apply(&mut self, obs: &Observation) -> Result<Vec<SlotRow>, RingError> {
        let tx = self.conn.transaction()?;
        for addition in &obs.additions {
            add_to_slot(&tx, addition)?;
        }
        for e in &obs.events {
            insert_event(&tx, e)?;
        }
        let closing_before_secs = obs.timeline_ms.div_euclid(1000) - SLOT_MS / 1000;
        let closed = {
            let mut stmt = tx.prepare_cached(&format!(
                "{SELECT_SLOT} WHERE closed = 0 AND slot_start <= ?1 ORDER BY slot_start, mac"
            ))?;
            let rows = stmt.query_map([closing_before_secs], slot_from_row)?;
            rows.collect::<Result<Vec<_>, _>>()?
        };
        tx.execute(
            "UPDATE slot SET closed = 1 WHERE closed = 0 AND slot_start <= ?1",
            [closing_before_secs],
        )?;
        let json = serde_json::to_string(&obs.last).map_err(|e| RingError::BadLastReading(e.to_string()))?;
        tx.execute(
            "INSERT INTO last_reading (id, reading, clean_stop) VALUES (1, ?1, 0)
             ON CONFLICT (id) DO UPDATE SET reading = excluded.reading, clean_stop = 0",
            [json],
        )?;
        tx.commit()?;
        Ok(closed
            .into_iter()
            .map(|mut s| {
                s.closed = true;
                s
            })
            .collect())
    }

    /// Record a clean stop: the open slot is marked partial.
    pub fn mark_stopped(&mut self, partial: Option<&SlotAddition>) -> Result<(), RingError> {
        let tx = self.conn.transaction()?;
        if let Some(a) = partial {
            add_to_slot(&tx, a)?;
        }
        tx.execute("UPDATE last_reading SET clean_stop = 1 WHERE id = 1", [])?;
        tx.commit()?;
        Ok(())
    }

    /// Slots starting in `[from_ms, to_ms)`, all MACs, oldest first.
    pub fn slots_between(&self, from_ms: i64, to_ms: i64) -> Result<Vec<SlotRow>, RingError> {
        let mut stmt = self.conn.prepare_cached(&format!(
            "{SELECT_SLOT} WHERE slot_start >= ?1 AND slot_start < ?2 ORDER BY slot_start, mac"
        ))?;
        let rows = stmt.query_map([from_ms.div_euclid(1000), to_ms.div_euclid(1000)], slot_from_row)?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }

    /// Start (unix ms) of the newest closed slot, if any.
    pub fn newest_closed_slot_ms(&self) -> Result<Option<i64>, RingError> {
        let secs: Option<i64> =
            self.conn.query_row("SELECT MAX(slot_start) FROM slot WHERE closed = 1", [], |r| r.get(0))?;
        Ok(secs.map(|s| s * 1000))
    }

    /// Start (unix ms) of the oldest slot, if any.
    pub fn oldest_slot_ms(&self) -> Result<Option<i64>, RingError> {
        let secs: Option<i64> = self.conn.query_row("SELECT MIN(slot_start) FROM slot", [], |r| r.get(0))?;
        Ok(secs.map(|s| s * 1000))
    }

    /// Totals over all slots (bytes conservation checks and the CLI).
    pub fn totals(&self) -> Result<(u64, u64), RingError> {
        let (rx, tx): (i64, i64) = self.conn.query_row(
            "SELECT COALESCE(SUM(rx_bytes), 0), COALESCE(SUM(tx_bytes), 0) FROM slot",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?;
        Ok((rx as u64, tx as u64))
    }

    /// Drop slots and events older than `before_ms`, except slots of hours not built yet or
    /// whose report is still pending or held: those are never lost to pruning (nor pushed as
    /// zeros). Returns the slots removed and the old slots kept for that reason.
    ///
    /// Each old slot's question "does a pending or held report cover me?" reads the reports
    /// of the hour around it, or the few pending/held ones (`+r.mac`: never the primary key
    /// by MAC alone, which is every report of the MAC: on a 10-year outbox that made the
    /// hourly prune cost 130 ms of CPU; `cost_tests`).
    pub fn prune(&mut self, before_ms: i64) -> Result<Pruned, RingError> {
        let before = before_ms.div_euclid(1000);
        let tx = self.conn.transaction()?;
        let removed = tx.execute(
            "DELETE FROM slot WHERE slot_start < ?1 AND closed = 1
               AND slot_start < COALESCE((SELECT next_hour FROM push_cursor WHERE id = 1), 0)
               AND NOT EXISTS (SELECT 1 FROM report r WHERE r.state IN ('pending', 'held', 'correction_failed')
                               AND +r.mac = slot.mac
                               AND r.hour_start > slot.slot_start - 3600 AND r.hour_start <= slot.slot_start)",
            [before],
        )?;
        tx.execute(
            "DELETE FROM slot_changed WHERE slot_start < ?1 AND NOT EXISTS
                (SELECT 1 FROM slot s WHERE s.mac = slot_changed.mac AND s.slot_start = slot_changed.slot_start)",
            [before],
        )?;
        let kept: i64 =
            tx.query_row("SELECT COUNT(*) FROM slot WHERE slot_start < ?1", [before], |r| r.get(0))?;
        tx.execute("DELETE FROM event WHERE at_ms < ?1", [before_ms])?;
        tx.commit()?;
        Ok(Pruned { removed, kept_unbuilt: kept as usize })
    }

    /// Slots whose bytes changed after their hour was built, with their change counts.
    pub fn changed_slots(&self, limit: usize) -> Result<Vec<ChangedSlot>, RingError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT mac, slot_start, changes FROM slot_changed ORDER BY slot_start, mac LIMIT ?1",
        )?;
        let rows = stmt.query_map([limit as i64], |r| {
            Ok(ChangedSlot { mac: r.get(0)?, slot_start_ms: r.get::<_, i64>(1)? * 1000, changes: r.get(2)? })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// The hours of these changed slots were rebuilt: forget them, unless they changed again
    /// since they were read.
    pub fn clear_changed(&mut self, done: &[ChangedSlot]) -> Result<(), RingError> {
        let tx = self.conn.transaction()?;
        for c in done {
            tx.prepare_cached(
                "DELETE FROM slot_changed WHERE mac = ?1 AND slot_start = ?2 AND changes = ?3",
            )?
            .execute(params![c.mac, c.slot_start_ms.div_euclid(1000), c.changes])?;
        }
        tx.commit()?;
        Ok(())
    }

    /// The demo clock's persisted origin, if a demo agent ran on this state database.
    pub fn demo_origin(&self) -> Result<Option<DemoOrigin>, RingError> {
        Ok(self
            .conn
            .query_row("SELECT scale, origin_real_ms, origin_demo_ms FROM demo_clock WHERE id = 1", [], |r| {
                Ok(DemoOrigin { scale: r.get(0)?, real_ms: r.get(1)?, demo_ms: r.get(2)? })
            })
            .optional()?)
    }

    pub fn save_demo_origin(&mut self, origin: &DemoOrigin) -> Result<(), RingError> {
        self.conn.execute(
            "INSERT INTO demo_clock (id, scale, origin_real_ms, origin_demo_ms) VALUES (1, ?1, ?2, ?3)
             ON CONFLICT (id) DO UPDATE SET scale = excluded.scale, origin_real_ms = excluded.origin_real_ms,
                origin_demo_ms = excluded.origin_demo_ms",
            params![origin.scale, origin.real_ms, origin.demo_ms],
        )?;
        Ok(())
    }
}

const SELECT_SLOT: &str = "SELECT mac, slot_start, ifname, rx_bytes, tx_bytes, rx_packets, tx_packets, \
     rx_errors, tx_errors, rx_dropped, tx_dropped, covered_ms, samples, flags, closed, push_switch, link_bits FROM slot";

fn slot_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<SlotRow> {
    let u = |i: usize| -> rusqlite::Result<u64> { Ok(r.get::<_, i64>(i)? as u64) };
    Ok(SlotRow {
        mac: r.get(0)?,
        slot_start_ms: r.get::<_, i64>(1)? * 1000,
        ifname: r.get(2)?,
        counters: IfCounters {
            rx_bytes: u(3)?,
            tx_bytes: u(4)?,
            rx_packets: u(5)?,
            tx_packets: u(6)?,
            rx_errors: u(7)?,
            tx_errors: u(8)?,
            rx_dropped: u(9)?,
            tx_dropped: u(10)?,
        },
        covered_ms: r.get(11)?,
        samples: r.get(12)?,
        flags: r.get(13)?,
        closed: r.get(14)?,
        push_switch: r.get(15)?,
        link_bits_per_sec: u(16)?,
    })
}

fn to_i64(v: u64) -> Result<i64, RingError> {
    i64::try_from(v).map_err(|_| RingError::TooLarge(v))
}

fn add_to_slot(tx: &Transaction<'_>, a: &SlotAddition) -> Result<(), RingError> {
    let c = &a.counters;
    let carries_bytes = c.rx_bytes > 0 || c.tx_bytes > 0;
    let mut stmt = tx.prepare_cached(
        "INSERT INTO slot (mac, slot_start, ifname, rx_bytes, tx_bytes, rx_packets, tx_packets,
                           rx_errors, tx_errors, rx_dropped, tx_dropped, covered_ms, samples, flags, push_switch, link_bits)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?17, ?18)
         ON CONFLICT (mac, slot_start) DO UPDATE SET
            ifname = excluded.ifname,
            rx_bytes = rx_bytes + excluded.rx_bytes,
            tx_bytes = tx_bytes + excluded.tx_bytes,
            rx_packets = rx_packets + excluded.rx_packets,
            tx_packets = tx_packets + excluded.tx_packets,
            rx_errors = rx_errors + excluded.rx_errors,
            tx_errors = tx_errors + excluded.tx_errors,
            rx_dropped = rx_dropped + excluded.rx_dropped,
            tx_dropped = tx_dropped + excluded.tx_dropped,
            covered_ms = covered_ms + excluded.covered_ms,
            samples = samples + excluded.samples,
            flags = flags | excluded.flags | (CASE WHEN closed = 1 AND ?15 THEN ?16 ELSE 0 END),
            push_switch = push_switch | excluded.push_switch,
            link_bits = MAX(link_bits, excluded.link_bits)",
    )?;
    stmt.execute(params![
        a.mac,
        a.slot_start_ms.div_euclid(1000),
        a.ifname,
        to_i64(c.rx_bytes)?,
        to_i64(c.tx_bytes)?,
        to_i64(c.rx_packets)?,
        to_i64(c.tx_packets)?,
        to_i64(c.rx_errors)?,
        to_i64(c.tx_errors)?,
        to_i64(c.rx_dropped)?,
        to_i64(c.tx_dropped)?,
        a.covered_ms,
        a.samples,
        a.flags,
        carries_bytes,
        flag::AMENDED,
        a.push_switch,
        // A speed is a judgement aid, never a reason to lose a reading: clamped, not refused.
        i64::try_from(a.link_bits_per_sec).unwrap_or(i64::MAX),
    ])?;
    Ok(())
}

fn insert_event(tx: &Transaction<'_>, e: &Event) -> Result<(), RingError> {
    tx.prepare_cached("INSERT INTO event (at_ms, kind, detail) VALUES (?1, ?2, ?3)")?.execute(params![
        e.at_ms,
        e.kind.as_str(),
        e.detail
    ])?;
    Ok(())
}
