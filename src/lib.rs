//! PushAgent: reads one physical NIC's kernel counters and turns them into exact 5-minute
//! traffic points kept in a crash-safe local SQLite ring. See docs/ARCHITECTURE.md.

pub mod facts;
pub mod netif;
