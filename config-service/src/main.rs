//! The PushAgent config service. Only a compiling skeleton for now: the HTTP API, store,
//! checks and console are issue 4 and 6. It exits non-zero so nobody mistakes it for a service.

fn main() {
    eprintln!(
        "pushagent-config {}: the config service is not implemented yet (see issue 4)",
        env!("CARGO_PKG_VERSION")
    );
    std::process::exit(2);
}
