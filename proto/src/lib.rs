//! What crosses the wire between PushAgent's programs and the customer: serde types and
//! constants only (`customer`), the customer profile as data with the ONE check of each of its
//! values (`profile`, `check`), the request signing every customer call carries (`signing`) and
//! the settlement statistics both sides compute (`settlement`). No HTTP client, no database.

pub mod agent;
pub mod check;
pub mod customer;
pub mod identity;
pub mod offset;
pub mod profile;
pub mod settlement;
pub mod signing;
