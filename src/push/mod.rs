//! The push pipeline: hourly reports from the ring, committed to the outbox before the first
//! send, pushed signed to the customer with retries, and verified against the customer's copy.

pub mod client;
pub mod operator;
pub mod outbox;
pub mod pusher;
pub mod rebuild;
pub mod report;
pub mod schedule;
pub mod sequence;
pub mod verify;
pub mod zone;
