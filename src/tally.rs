//! The heart of the agent: one counter reading in, additions to 5-minute slots out.
//! Pure (no I/O, no clock): the sampler feeds it real readings, tests feed it synthetic
//! traces and check that every byte the kernel counted lands in exactly one slot.

use serde::{Deserialize, Serialize};

use crate::delta::{counters_delta, per_sec, Continuity, CounterBits, LinkRates};
use crate::netif::IfCounters;
use crate::slots::{apportion, cover, slot_start_ms, SLOT_MS};
use crate::source::SourceReading;

/// Slot flags (bits), stored with each slot.
pub mod flag {
    /// The agent started, stopped or switched interface inside the slot.
    pub const PARTIAL: u32 = 1;
    /// Samples were missed: the slot holds part of a delta spread over several slots by time.
    pub const GAP: u32 = 2;
    /// A counter reset (reboot, re-created interface, counter went backwards) was seen.
    pub const RESET: u32 = 4;
    /// A 32-bit counter wrap was seen and corrected.
    pub const WRAP: u32 = 8;
    /// The wall clock stepped while this slot was open.
    pub const CLOCK_STEP: u32 = 16;
    /// The MAC of the collected interface changed.
    pub const MAC_CHANGED: u32 = 32;
    /// Bytes were added after the slot had been closed (only after a large backward clock step).
    pub const AMENDED: u32 = 64;

    pub fn describe(flags: u32) -> String {
        let names = [
            (PARTIAL, "partial"),
            (GAP, "gap"),
            (RESET, "reset"),
            (WRAP, "wrap"),
            (CLOCK_STEP, "clock-step"),
            (MAC_CHANGED, "mac-changed"),
            (AMENDED, "amended"),
        ];
        let set: Vec<&str> = names.iter().filter(|(b, _)| flags & b != 0).map(|(_, n)| *n).collect();
        if set.is_empty() {
            "-".into()
        } else {
            set.join(",")
        }
    }
}

/// One reading of the collected interface, with the clocks at the moment it was taken.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reading {
    #[serde(flatten)]
    pub source: SourceReading,
    pub wall_ms: i64,
    pub boot_ms: u64,
    /// The kernel said the wall clock was synchronised when the reading was taken.
    #[serde(default = "yes")]
    pub clock_synced: bool,
    /// The effective push switch when the reading was taken (None: not followed).
    #[serde(default)]
    pub push_on: Option<bool>,
}

fn yes() -> bool {
    true
}

/// A last reading from before clock trust was tracked: trusted since boot.
fn trusted_since_boot() -> Option<u64> {
    Some(0)
}

/// The last reading, persisted with the slots it produced, plus where the slot timeline ends.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LastReading {
    pub reading: Reading,
    /// Slot time (unix ms) up to which bytes have been assigned; slots ending before are final.
    pub timeline_ms: i64,
    pub rx_bytes_per_sec: u64,
    pub tx_bytes_per_sec: u64,
    /// Boot time since which the wall clock has been trusted (None: not trusted now).
    #[serde(default = "trusted_since_boot")]
    pub trusted_since_boot_ms: Option<u64>,
}

#[derive(Debug, Clone, Copy)]
pub struct TallyConfig {
    pub sample_interval_ms: i64,
    /// Wall-vs-boot clock disagreement above this is a clock step.
    pub step_tolerance_ms: i64,
    /// A wall clock behind slot time by up to this is waited for (slot time runs 1/16
    /// slower until it catches up); further behind, slot time re-anchors on the synchronised
    /// clock (the step is an event with its size). Applies on every path, reboots included.
    pub max_backward_hold_ms: i64,
    /// A wall clock ahead of slot time by more than this is followed only once it is
    /// synchronised and settled; until then boot time alone places the readings.
    pub max_forward_step_ms: i64,
    /// Believe the wall clock even when the kernel says it is not synchronised (machines
    /// without NTP). Steps still wait `CLOCK_SETTLE_MS`.
    pub trust_unsynced_clock: bool,
    /// Link speed to assume when the NIC reports none (for 32-bit wrap detection).
    pub fallback_link_bits_per_sec: Option<u64>,
    /// Width of the kernel's counters: only 32-bit counters can wrap.
    pub counter_bits: CounterBits,
}

impl Default for TallyConfig {
    fn default() -> Self {
        TallyConfig {
            sample_interval_ms: 10_000,
            step_tolerance_ms: 1_000,
            max_backward_hold_ms: 600_000,
            max_forward_step_ms: 300_000,
            trust_unsynced_clock: false,
            fallback_link_bits_per_sec: None,
            counter_bits: CounterBits::Auto,
        }
    }
}

/// Bytes (and packets, errors, drops) to add to one slot of one MAC.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlotAddition {
    pub mac: String,
    pub ifname: String,
    pub slot_start_ms: i64,
    pub counters: IfCounters,
    pub covered_ms: i64,
    pub samples: u32,
    pub flags: u32,
    /// The push switch while the bytes were measured ([`switch`] bits; 0 = not known).
    pub push_switch: u8,
    /// The largest link speed (bits/s) the NIC reported at either end of the interval these
    /// bytes passed in; 0 = not known.
    pub link_bits_per_sec: u64,
}

/// The push switch in effect while a slot was measured (bits, OR-ed per slot).
pub mod switch {
    pub const ON: u8 = 1;
    pub const OFF: u8 = 2;

    /// The bits of one reading: `None` when the sampler does not follow the switch.
    pub fn bits(push_on: Option<bool>) -> u8 {
        match push_on {
            Some(true) => ON,
            Some(false) => OFF,
            None => 0,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    Baseline,
    Reboot,
    Recreated,
    Switched,
    Reset,
    Wrap,
    ClockStep,
    Gap,
    MacChanged,
}

impl EventKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Baseline => "baseline",
            EventKind::Reboot => "reboot",
            EventKind::Recreated => "recreated",
            EventKind::Switched => "switched",
            EventKind::Reset => "reset",
            EventKind::Wrap => "wrap",
            EventKind::ClockStep => "clock_step",
            EventKind::Gap => "gap",
            EventKind::MacChanged => "mac_changed",
        }
    }
}

/// Something an operator should be able to see later (kept in the ring, logged).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub at_ms: i64,
    pub kind: EventKind,
    pub detail: String,
}

/// What one reading does: slot additions, the new timeline end (slots ending at or before it
/// are closed), and the new last reading; persisted together in one transaction.
#[derive(Debug, Clone)]
pub struct Observation {
    pub additions: Vec<SlotAddition>,
    pub timeline_ms: i64,
    pub last: LastReading,
    pub events: Vec<Event>,
    /// The wall clock stepped by this much (ms, + forward) since the previous reading.
    pub clock_step_ms: Option<i64>,
}

/// Most zero slots written for wall time skipped by a forward clock step (one day).
const MAX_SKIPPED_SLOTS: i64 = 288;

/// Boot time the wall clock must have been synchronised without a step before slot time
/// follows it across a large step and hours are built from it.
pub const CLOCK_SETTLE_MS: u64 = 60_000;

/// While slot time is slightly ahead of the wall clock it runs this much slower (1/16).
const SLEW_DIVISOR: i64 = 16;

/// Since when (boot time of this boot) the wall clock has been trusted: synchronised (or
/// trusted by the operator) and not stepped. None: not trusted now.
fn trusted_since(
    prev: Option<&LastReading>,
    current: &Reading,
    continuity: Continuity,
    stepped: bool,
    config: &TallyConfig,
) -> Option<u64> {
    if !(current.clock_synced || config.trust_unsynced_clock) {
        return None;
    }
    if stepped {
        return Some(current.boot_ms);
    }
    match prev {
        // After a reboot a synchronised clock has been so since boot (the unit starts after
        // time-sync.target).
        Some(_) if continuity == Continuity::Reboot => Some(0),
        Some(p) if p.reading.source.boot_id == current.source.boot_id => {
            p.trusted_since_boot_ms.or(Some(current.boot_ms))
        }
        _ => Some(current.boot_ms),
    }
}

fn clock_trusted(trusted_since: Option<u64>, boot_ms: u64) -> bool {
    trusted_since.is_some_and(|since| boot_ms.saturating_sub(since) >= CLOCK_SETTLE_MS)
}

impl LastReading {
    /// Whether hours may be built from this reading's clock: synchronised (or trusted by the
    /// operator) and settled since its last step.
    pub fn clock_trusted(&self) -> bool {
        clock_trusted(self.trusted_since_boot_ms, self.reading.boot_ms)
    }
}

pub fn observe(previous: Option<&LastReading>, current: Reading, config: &TallyConfig) -> Observation {
    let Some(prev) = previous else {
        let trusted = trusted_since(None, &current, Continuity::Continuous, false, config);
        return baseline(current, Vec::new(), 0, trusted);
    };
    let p = &prev.reading;
    let mut events = Vec::new();
    let mut flags = 0u32;
    let continuity = if p.source.boot_id != current.source.boot_id {
        Continuity::Reboot
    } else if p.source.ifname != current.source.ifname {
        Continuity::Switched
    } else if p.source.ifindex != current.source.ifindex {
        Continuity::Recreated
    } else {
        Continuity::Continuous
    };
    let at = current.wall_ms;
    match continuity {
        Continuity::Reboot => {
            events.push(event(
                at,
                EventKind::Reboot,
                format!("boot id {} -> {}", p.source.boot_id, current.source.boot_id),
            ));
            flags |= flag::RESET;
        }
        Continuity::Recreated => {
            events.push(event(
                at,
                EventKind::Recreated,
                format!(
                    "{} re-created: ifindex {} -> {}",
                    current.source.ifname, p.source.ifindex, current.source.ifindex
                ),
            ));
            flags |= flag::RESET;
        }
        Continuity::Switched => {
            events.push(event(
                at,
                EventKind::Switched,
                format!("collecting {} instead of {}", current.source.ifname, p.source.ifname),
            ));
        }
        Continuity::Continuous => {}
    }
    if p.source.mac != current.source.mac {
        events.push(event(
            at,
            EventKind::MacChanged,
            format!("{} -> {} on {}", p.source.mac, current.source.mac, current.source.ifname),
        ));
        flags |= flag::MAC_CHANGED;
    }
    if continuity == Continuity::Switched {
        // Another NIC's counters say nothing about the time since the last reading.
        let trusted = trusted_since(Some(prev), &current, continuity, false, config);
        return baseline(current, events, flags | flag::PARTIAL, trusted).with_floor(prev.timeline_ms);
    }

    // Place the interval [start, end) on the slot timeline. Boot time measures how long it
    // was; the wall clock says where it ends only while it deserves trust (synchronised and
    // settled), and a clock artefact never piles bytes into one slot.
    let clock_ok = current.clock_synced || config.trust_unsynced_clock;
    let mut clock_step_ms = None;
    let (start, elapsed, stepped) = if continuity == Continuity::Reboot {
        // Boot time restarted: the wall clock says when we booted, if it can be believed.
        let booted_at = at - current.boot_ms as i64;
        let start = if clock_ok { prev.timeline_ms.max(booted_at) } else { prev.timeline_ms };
        (start, current.boot_ms, false)
    } else {
        let elapsed = current.boot_ms.saturating_sub(p.boot_ms);
        let skew = at - (p.wall_ms + elapsed as i64);
        if skew.abs() > config.step_tolerance_ms {
            let direction = if skew > 0 { "forward" } else { "back" };
            events.push(event(
                at,
                EventKind::ClockStep,
                format!("wall clock stepped {direction} {} ms", skew.abs()),
            ));
        }
        if skew.abs() > config.step_tolerance_ms {
            clock_step_ms = Some(skew);
        }
        (prev.timeline_ms, elapsed, skew.abs() > config.step_tolerance_ms)
    };
    let trusted_since = trusted_since(Some(prev), &current, continuity, stepped, config);
    let trusted = clock_trusted(trusted_since, current.boot_ms);
    let natural_end = start + elapsed as i64;
    let diff = at - natural_end;
    let mut skipped = None;
    let (start, end) = if diff.abs() <= config.step_tolerance_ms {
        (start, at.max(start))
    } else if diff > 0 && (diff <= config.max_forward_step_ms || trusted) {
        // The wall clock is ahead of the timeline and believed: follow it. The interval
        // keeps its boot-time length; the wall time it skipped gets empty slots.
        if diff > config.max_forward_step_ms {
            events.push(event(
                at,
                EventKind::ClockStep,
                format!("slot time re-anchored forward {diff} ms to the synchronised wall clock"),
            ));
        }
        flags |= flag::CLOCK_STEP;
        let placed = start.max(at - elapsed as i64);
        if placed > start {
            skipped = Some((start, placed));
        }
        (placed, at)
    } else if diff < 0 && trusted && -diff <= config.max_backward_hold_ms {
        // The wall clock is a little behind the timeline: run slot time 1/16 slower until it
        // catches up (slots hold at most 16/15 of real time; nothing piles into one slot).
        flags |= flag::CLOCK_STEP;
        (start, (natural_end - elapsed as i64 / SLEW_DIVISOR).max(at).max(start))
    } else if diff < 0 && trusted {
        // Far behind: the timeline was wrong (a clock that ran ahead). Re-anchor on the
        // synchronised clock; slots already closed there are amended and their hours re-pushed.
        events.push(event(
            at,
            EventKind::ClockStep,
            format!(
                "slot time re-anchored back {} ms to the synchronised wall clock (beyond the {} ms hold)",
                -diff, config.max_backward_hold_ms
            ),
        ));
        flags |= flag::CLOCK_STEP;
        (at - elapsed as i64, at)
    } else {
        // The wall clock is not trusted (unsynchronised, or it just stepped): boot time alone
        // places the interval, right after the previous one.
        flags |= flag::CLOCK_STEP;
        (start, natural_end)
    };
    let elapsed_ms = elapsed;

    let rates = LinkRates {
        counter_is_32_bit: config.counter_bits.may_wrap_at_32(),
        link_bits_per_sec: current.source.link_bits_per_sec.or(config.fallback_link_bits_per_sec),
        rx_bytes_per_sec: prev.rx_bytes_per_sec,
        tx_bytes_per_sec: prev.tx_bytes_per_sec,
    };
    let delta = counters_delta(&p.source.counters, &current.source.counters, continuity, elapsed_ms, rates);
    if delta.wrapped {
        flags |= flag::WRAP;
        events.push(event(at, EventKind::Wrap, format!("32-bit counter wrap on {}", current.source.ifname)));
    }
    if delta.reset {
        flags |= flag::RESET;
        if continuity == Continuity::Continuous {
            events.push(event(
                at,
                EventKind::Reset,
                format!("counter went backwards on {}: counting from zero", current.source.ifname),
            ));
        }
    }

    let shares = cover(start, end);
    let missed_samples = end - start > 2 * config.sample_interval_ms + config.step_tolerance_ms;
    if missed_samples && shares.len() > 1 {
        flags |= flag::GAP;
        events.push(event(
            at,
            EventKind::Gap,
            format!("{} s without a reading: delta spread over {} slots", (end - start) / 1000, shares.len()),
        ));
    }

    let weights: Vec<i64> = shares.iter().map(|s| s.covered_ms).collect();
    let split = |total: u64| apportion(total, &weights);
    let d = delta.counters;
    let parts = [
        split(d.rx_bytes),
        split(d.tx_bytes),
        split(d.rx_packets),
        split(d.tx_packets),
        split(d.rx_errors),
        split(d.tx_errors),
        split(d.rx_dropped),
        split(d.tx_dropped),
    ];
    let mut additions = Vec::with_capacity(shares.len() + 1);
    if let Some((from, to)) = skipped {
        let mut slot = slot_start_ms(from);
        let mut n = 0;
        // Wall time that never happened: its slots exist, hold nothing, and say why.
        while slot + SLOT_MS <= slot_start_ms(to) && n < MAX_SKIPPED_SLOTS {
            if slot + SLOT_MS > from {
                additions.push(SlotAddition {
                    mac: current.source.mac.clone(),
                    ifname: current.source.ifname.clone(),
                    slot_start_ms: slot,
                    counters: IfCounters::default(),
                    covered_ms: 0,
                    samples: 0,
                    flags: flag::CLOCK_STEP,
                    push_switch: 0,
                    link_bits_per_sec: 0,
                });
            }
            slot += SLOT_MS;
            n += 1;
        }
    }
    let last_index = shares.len() - 1;
    // The speed may have changed between the two readings: the faster one bounds the interval.
    let link_seen = p.source.link_bits_per_sec.max(current.source.link_bits_per_sec).unwrap_or(0);
    for (i, share) in shares.iter().enumerate() {
        additions.push(SlotAddition {
            mac: current.source.mac.clone(),
            ifname: current.source.ifname.clone(),
            slot_start_ms: share.slot_start_ms,
            counters: IfCounters {
                rx_bytes: parts[0][i],
                tx_bytes: parts[1][i],
                rx_packets: parts[2][i],
                tx_packets: parts[3][i],
                rx_errors: parts[4][i],
                tx_errors: parts[5][i],
                rx_dropped: parts[6][i],
                tx_dropped: parts[7][i],
            },
            covered_ms: share.covered_ms,
            samples: u32::from(i == last_index),
            flags,
            push_switch: switch::bits(current.push_on),
            link_bits_per_sec: link_seen,
        });
    }
    let continuous = continuity == Continuity::Continuous && !delta.reset;
    let last = LastReading {
        timeline_ms: end,
        trusted_since_boot_ms: trusted_since,
        rx_bytes_per_sec: if continuous { per_sec(d.rx_bytes, elapsed_ms) } else { 0 },
        tx_bytes_per_sec: if continuous { per_sec(d.tx_bytes, elapsed_ms) } else { 0 },
        reading: current,
    };
    Observation { additions, timeline_ms: end, last, events, clock_step_ms }
}

/// The first reading of an interface: nothing to count yet, the slot it falls in is partial.
fn baseline(current: Reading, mut events: Vec<Event>, flags: u32, trusted_since: Option<u64>) -> Observation {
    let at = current.wall_ms;
    let on_boundary = at == slot_start_ms(at);
    events.push(event(
        at,
        EventKind::Baseline,
        format!("first reading of {} ({})", current.source.ifname, current.source.mac),
    ));
    let additions = vec![SlotAddition {
        mac: current.source.mac.clone(),
        ifname: current.source.ifname.clone(),
        slot_start_ms: slot_start_ms(at),
        counters: IfCounters::default(),
        covered_ms: 0,
        samples: 1,
        flags: if on_boundary { flags & !flag::PARTIAL } else { flags | flag::PARTIAL },
        push_switch: 0,
        link_bits_per_sec: 0,
    }];
    Observation {
        additions,
        timeline_ms: at,
        last: LastReading {
            reading: current,
            timeline_ms: at,
            rx_bytes_per_sec: 0,
            tx_bytes_per_sec: 0,
            trusted_since_boot_ms: trusted_since,
        },
        events,
        clock_step_ms: None,
    }
}

impl Observation {
    /// Never move the timeline before `floor` (slots there are already final).
    fn with_floor(mut self, floor: i64) -> Self {
        if self.timeline_ms < floor {
            self.timeline_ms = floor;
            self.last.timeline_ms = floor;
            for a in &mut self.additions {
                a.slot_start_ms = a.slot_start_ms.max(slot_start_ms(floor));
            }
        }
        self
    }
}

/// The addition that marks the open slot partial when the agent stops.
pub fn stopping(last: &LastReading) -> Option<SlotAddition> {
    let t = last.timeline_ms;
    if t == slot_start_ms(t) {
        return None;
    }
    Some(SlotAddition {
        mac: last.reading.source.mac.clone(),
        ifname: last.reading.source.ifname.clone(),
        slot_start_ms: slot_start_ms(t),
        counters: IfCounters::default(),
        covered_ms: 0,
        samples: 0,
        flags: flag::PARTIAL,
        push_switch: 0,
        link_bits_per_sec: 0,
    })
}

fn event(at_ms: i64, kind: EventKind, detail: String) -> Event {
    Event { at_ms, kind, detail }
}
