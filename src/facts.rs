//! Hardware and OS facts of this machine (`pushagent info`).
//! PLACEHOLDER: filled in by the facts work (issue 2 item 6).

use crate::netif::HostRoot;

#[derive(Debug, Clone, serde::Serialize)]
pub struct Facts {}

/// Collect the facts; `interface` is the collected interface (its MAC is the report identity).
pub fn collect(_root: &HostRoot, _interface: Option<&str>) -> Facts {
    unimplemented!("facts::collect")
}
