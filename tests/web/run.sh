#!/bin/sh
# Browser tests of the web console: the real pushagent-config binary (with the console
# embedded) on loopback, driven by playwright-core in Debian's Chromium; then the zh-CN
# screenshots of every page into docs/screenshots/. Needs scripts/build-web.sh to have run
# (it installs the npm packages and builds config-service/web/dist) and /usr/bin/chromium
# (scripts/setup.sh installs it).
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
# Built after the console, so the binary embeds this build.
cargo build -p pushagent-config --bin pushagent-config --locked
cd config-service/web
node e2e/run.mjs
node e2e/screenshots.mjs
