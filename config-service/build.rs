//! The console's built assets (`web/dist`, made by `scripts/build-web.sh`) are embedded by
//! rust-embed. This script never runs npm, so cargo builds work without Node: it only makes
//! sure the folder exists (empty = a binary whose console page says it was not built) and
//! asks cargo to rebuild when the built assets change.

fn main() {
    let dist = std::path::Path::new("web/dist");
    if !dist.exists() {
        if let Err(e) = std::fs::create_dir_all(dist) {
            println!("cargo:warning=cannot create {}: {e}", dist.display());
        }
    }
    println!("cargo:rerun-if-changed=web/dist");
    println!("cargo:rerun-if-changed=build.rs");
}
