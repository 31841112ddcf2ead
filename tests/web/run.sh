#!/bin/sh
# Browser tests of the web console: the real pushagent-config binary (with the console
# embedded) on loopback, driven by playwright-core in Debian's Chromium, one of them with the
# real agent and reference customer too (e2e/agent-obeys.mjs: the push switch;
# e2e/profile-switch.mjs: the customer profile, JSON to line and back), the settlement page
# against a month of known history (e2e/settlement.mjs), one under a base path with the Spug
# theme (e2e/base-path.mjs); then the zh-CN screenshots of every page into docs/screenshots/.
# Needs scripts/build-web.sh to have run (it installs the
# npm packages and builds config-service/web/dist) and /usr/bin/chromium (scripts/setup.sh
# installs it).
set -eu
cd "$(dirname "$0")/../.."
if [ ! -x "${CHROMIUM:-/usr/bin/chromium}" ]; then
    echo "tests/web/run.sh: ${CHROMIUM:-/usr/bin/chromium} is missing: run scripts/setup.sh (apt-get install -y chromium)" >&2
    exit 1
fi
if [ ! -f config-service/web/dist/index.html ]; then
    echo "tests/web/run.sh: the console is not built: run scripts/build-web.sh first" >&2
    exit 1
fi
# Built after the console, so the service binary embeds this build. The agent and the
# reference customer are for e2e/agent-obeys.mjs (the real agent obeying the console's
# switch). The tests find the binaries in $CARGO_TARGET_DIR (default target/).
cargo build --locked -p pushagent-config --bin pushagent-config \
    -p pushagent --bin pushagent -p pushagent-customer --bin pushagent-customer
cd config-service/web
node e2e/run.mjs
node e2e/base-path.mjs
node e2e/agent-obeys.mjs
node e2e/profile-switch.mjs
node e2e/settlement.mjs
node e2e/screenshots.mjs
