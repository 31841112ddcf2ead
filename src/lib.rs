//! PushAgent: reads one physical NIC's kernel counters and turns them into exact 5-minute
//! traffic points kept in a crash-safe local SQLite ring. See docs/ARCHITECTURE.md.

pub mod cli;
pub mod clock;
pub mod config;
pub mod daemon;
pub mod delta;
pub mod facts;
pub mod health;
pub mod netif;
pub mod push;
pub mod ring;
pub mod sampler;
pub mod service;
pub mod shutdown;
pub mod slots;
pub mod source;
pub mod statedb;
pub mod tally;
