//! Shared test doubles: a fake NIC whose counters the test moves, and what it really counted.
#![allow(dead_code)]

pub mod customer;
pub mod harness;
pub mod server;
pub mod service;

use std::sync::{Arc, Mutex};

use pushagent::netif::{IfCounters, NetifError};
use pushagent::source::{CounterSource, SourceReading};

/// 2026-11-24 00:00:00 UTC, 08:00 in the default report time zone.
pub const T0: i64 = 1_795_478_400_000;
pub const GBIT: u64 = 1_000_000_000;

/// A NIC as the kernel shows it. `truth_*` is what the kernel really counted since the agent's
/// first reading (what the points must add up to).
#[derive(Debug, Clone)]
pub struct FakeNic {
    pub boot_id: String,
    pub ifname: String,
    pub ifindex: u32,
    pub mac: String,
    pub rx: u64,
    pub tx: u64,
    /// Counters are 32-bit (an old driver): they wrap at 2^32.
    pub wraps_at_32_bits: bool,
    pub link_bits_per_sec: Option<u64>,
    pub present: bool,
    pub truth_rx: u128,
    pub truth_tx: u128,
    pub counting: bool,
}

impl FakeNic {
    pub fn new() -> Self {
        FakeNic {
            boot_id: "boot-1".into(),
            ifname: "eth0".into(),
            ifindex: 2,
            mac: "52:54:00:12:34:56".into(),
            rx: 1_000,
            tx: 5_000,
            wraps_at_32_bits: false,
            link_bits_per_sec: Some(10 * GBIT),
            present: true,
            truth_rx: 0,
            truth_tx: 0,
            counting: false,
        }
    }

    pub fn send(&mut self, tx: u64, rx: u64) {
        let m = if self.wraps_at_32_bits { 1u128 << 32 } else { 1u128 << 64 };
        self.tx = ((u128::from(self.tx) + u128::from(tx)) % m) as u64;
        self.rx = ((u128::from(self.rx) + u128::from(rx)) % m) as u64;
        if self.counting {
            self.truth_tx += u128::from(tx);
            self.truth_rx += u128::from(rx);
        }
    }
}

#[derive(Clone)]
pub struct SharedNic(pub Arc<Mutex<FakeNic>>);

impl SharedNic {
    pub fn with<T>(&self, f: impl FnOnce(&mut FakeNic) -> T) -> T {
        f(&mut self.0.lock().expect("nic lock"))
    }
}

impl CounterSource for SharedNic {
    fn read(&mut self) -> Result<SourceReading, NetifError> {
        self.with(|n| {
            if !n.present {
                return Err(NetifError::NoSuchInterface(n.ifname.clone()));
            }
            // The first successful reading is the agent's baseline: truth counts from here.
            n.counting = true;
            Ok(SourceReading {
                boot_id: n.boot_id.clone(),
                ifname: n.ifname.clone(),
                ifindex: n.ifindex,
                mac: n.mac.clone(),
                counters: IfCounters { rx_bytes: n.rx, tx_bytes: n.tx, ..Default::default() },
                link_bits_per_sec: n.link_bits_per_sec,
            })
        })
    }
}

impl SharedNic {
    pub fn new() -> Self {
        SharedNic(Arc::new(Mutex::new(FakeNic::new())))
    }
}
