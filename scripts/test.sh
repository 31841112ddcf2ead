#!/bin/sh
# Runs every test of the project. Needs root for the network-namespace tests (CI is root).
# Prerequisites are installed by scripts/setup.sh (CI's .ci/run calls it first).
set -eu
cd "$(dirname "$0")/.."

echo "== format and lints"
cargo fmt --all -- --check
cargo clippy --workspace --all-targets --locked -- -D warnings

echo "== web console build (embedded in the config service at its cargo build)"
sh scripts/build-web.sh

echo "== unit, fixture, simulated-trace and real-kernel tests"
cargo build --workspace --locked --bins
cargo test --workspace --locked --no-fail-fast

echo "== packaging: release build for glibc 2.17, .deb/.rpm, deploy.sh (tests/packaging/)"
sh tests/packaging/run.sh
echo "== web console in a real browser (and docs/screenshots/)"
sh tests/web/run.sh
