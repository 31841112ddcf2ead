#!/bin/sh
# Installs what building and testing PushAgent needs on Debian/Ubuntu (run as root).
set -eu
need_apt=""
for tool in ip:iproute2 cc:gcc pkg-config:pkg-config; do
    command -v "${tool%%:*}" >/dev/null 2>&1 || need_apt="$need_apt ${tool#*:}"
done
if [ -n "$need_apt" ]; then
    echo "installing:$need_apt"
    apt-get update -qq
    # shellcheck disable=SC2086
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $need_apt
fi
if ! command -v cargo >/dev/null 2>&1; then
    echo "cargo not found: install Rust (https://rustup.rs) — Debian's own rustc is too old" >&2
    exit 1
fi
rustup component add rustfmt clippy >/dev/null 2>&1 || true
cargo fetch --locked
