//! The agent's side of the config service: registration, heartbeats, config pulls (applied
//! within one interval, cached on disk) and the durable mirror of push history. The service
//! is never on the data path: when it is down the agent pushes on with its cached config and
//! mirrors the history later.

pub mod client;
pub mod merge;
pub mod sync;
