#!/bin/sh
# Installs what building and testing PushAgent needs on Debian/Ubuntu (run as root).
set -eu
need_apt=""
# Packaging tests (tests/packaging/): debootstrap, rpm tools, the shells deploy.sh must run
# under, shellcheck, objdump; python3 for zig (the ziglang package) in build-release.sh.
for tool in ip:iproute2 cc:gcc pkg-config:pkg-config \
    debootstrap:debootstrap rpmbuild:rpm rpm2archive:rpm2cpio busybox:busybox dash:dash \
    shellcheck:shellcheck objdump:binutils python3:python3; do
    command -v "${tool%%:*}" >/dev/null 2>&1 || need_apt="$need_apt ${tool#*:}"
done
# Debian's python3 refuses `pip install` outside a venv (PEP 668); a venv needs ensurepip.
if ! command -v python3 >/dev/null 2>&1 || ! python3 -c 'import ensurepip' >/dev/null 2>&1; then
    need_apt="$need_apt python3-venv"
fi
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
