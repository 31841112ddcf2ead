#!/bin/sh
# Installs what building and testing PushAgent needs on Debian/Ubuntu (run as root).
set -eu
need_apt=""
# Packaging tests (tests/packaging/): debootstrap, rpm tools, the shells deploy.sh must run
# under, shellcheck, objdump, lintian; python3 for zig (the ziglang package) in build-release.sh.
# Web console tests: Debian's Chromium and fontconfig.
for tool in ip:iproute2 cc:gcc pkg-config:pkg-config \
    debootstrap:debootstrap rpmbuild:rpm rpm2archive:rpm2cpio busybox:busybox dash:dash \
    shellcheck:shellcheck objdump:binutils python3:python3 lintian:lintian chromium:chromium fc-list:fontconfig; do
    command -v "${tool%%:*}" >/dev/null 2>&1 || need_apt="$need_apt ${tool#*:}"
done
# Debian's python3 refuses `pip install` outside a venv (PEP 668); a venv needs ensurepip.
if ! command -v python3 >/dev/null 2>&1 || ! python3 -c 'import ensurepip' >/dev/null 2>&1; then
    need_apt="$need_apt python3-venv"
fi
# The console's browser tests and screenshots render Chinese: a CJK font must be there.
if ! fc-list 2>/dev/null | grep -qi 'CJK'; then
    need_apt="$need_apt fonts-noto-cjk"
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
# The web console (config-service/web) is built with the machine's Node.js and npm: Vite 8
# wants Node >= 20.19 (Debian 12's own nodejs is 18, too old, so it is not installed here).
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
    echo "node/npm not found: install Node.js >= 20.19 with npm (https://nodejs.org); Debian 12's nodejs 18 is too old for Vite 8" >&2
    exit 1
fi
if ! node -e 'const [a,b]=process.versions.node.split(".").map(Number); process.exit(a>20||(a===20&&b>=19)?0:1)'; then
    echo "Node.js $(node --version) is too old: the web console (Vite 8) needs >= 20.19" >&2
    exit 1
fi
rustup component add rustfmt clippy >/dev/null 2>&1 || true
cargo fetch --locked
