#!/bin/sh
# Builds the agent and runs it in the foreground on this machine, printing each 5-minute
# point as it closes (the first within 5 minutes). Ctrl-C stops it cleanly.
# State goes to ./demo/state; nothing is installed.
set -eu
cd "$(dirname "$0")/.."
sh scripts/setup.sh
cargo build --release --locked --bin pushagent
mkdir -p demo/state
cat > demo/agent.toml <<TOML
# Demo config written by scripts/demo.sh
state_dir = "$(pwd)/demo/state"
sample_interval_secs = 10
TOML
echo "== the interface this machine would report"
./target/release/pushagent --config demo/agent.toml detect
echo "== running the agent (Ctrl-C to stop); points print as each 5-minute slot closes"
exec ./target/release/pushagent --config demo/agent.toml run
