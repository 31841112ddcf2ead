//! What crosses the wire between PushAgent's programs and the customer: serde types and
//! constants only (`customer`), plus the request signing every customer call carries
//! (`signing`) and the settlement statistics both sides compute (`settlement`). No HTTP client,
//! no database.

pub mod agent;
pub mod customer;
pub mod identity;
pub mod settlement;
pub mod signing;
