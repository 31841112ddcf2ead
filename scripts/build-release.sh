#!/bin/sh
# Builds the release agent for glibc 2.17 (CentOS 7 and everything newer) with cargo-zigbuild,
# installing cargo-zigbuild and zig (the `ziglang` PyPI package) first when they are missing.
# Output: ${CARGO_TARGET_DIR:-target}/x86_64-unknown-linux-gnu/release/pushagent (and pushagent-config), checked
# by scripts/check-glibc.sh. Usage: sh scripts/build-release.sh [extra cargo args]
set -eu
cd "$(dirname "$0")/.."

if ! command -v cargo-zigbuild >/dev/null 2>&1; then
    echo "== installing cargo-zigbuild"
    cargo install --locked cargo-zigbuild
fi
# cargo-zigbuild finds zig on PATH or as `python3 -m ziglang` (the PyPI package). Where pip
# refuses to install for the system python (PEP 668, Debian 12), ziglang goes into a venv.
zig_venv=${CARGO_TARGET_DIR:-target}/ziglang-venv
if [ -x "$zig_venv/bin/python3" ]; then
    PATH="$(cd "$zig_venv/bin" && pwd):$PATH"
    export PATH
fi
if ! command -v zig >/dev/null 2>&1 && ! python3 -m ziglang version >/dev/null 2>&1; then
    echo "== installing zig (pip install ziglang)"
    if ! python3 -m pip install --quiet ziglang; then
        echo "   pip refused a system-wide install: using a venv in $zig_venv"
        python3 -m venv "$zig_venv"
        "$zig_venv/bin/pip" install --quiet ziglang
        PATH="$(cd "$zig_venv/bin" && pwd):$PATH"
        export PATH
    fi
fi
rustup target add x86_64-unknown-linux-gnu >/dev/null 2>&1 || true

# The `.2.17` suffix makes zig link against glibc 2.17's symbol versions.
echo "== cargo zigbuild --release --target x86_64-unknown-linux-gnu.2.17"
cargo zigbuild --locked --release --target x86_64-unknown-linux-gnu.2.17 \
    -p pushagent -p pushagent-config "$@"

out=${CARGO_TARGET_DIR:-target}/x86_64-unknown-linux-gnu/release
for bin in pushagent pushagent-config; do
    sh scripts/check-glibc.sh "$out/$bin" 2.17
done
ls -l "$out/pushagent" "$out/pushagent-config"
