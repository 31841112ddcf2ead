#!/bin/sh
# The demo: builds everything, starts the reference customer (the customer's API of
# shared/customer-api.md, on 127.0.0.1:8780) and the agent on this machine's real NIC with a
# DEMO TIME SCALE of x60 — one report hour per real minute, NOT for production — so a full
# cycle shows within about two minutes: 5-minute points close every 5 s, each hour is built
# and pushed (signed) a minute after it started, and verified against the customer's copy
# 30 to 90 s after the push. Ctrl-C stops both. State goes to ./demo/; nothing is installed.
#
# In another terminal meanwhile:
#   ./target/debug/pushagent --config demo/agent.toml outbox      # what the agent pushed
#   ./target/debug/pushagent --config demo/agent.toml points      # the 12 points of an hour
#   curl -s 127.0.0.1:8780/_admin/dump                            # what the customer holds
set -eu
cd "$(dirname "$0")/.."
sh scripts/setup.sh
# The web console first: the config service binary embeds its build.
sh scripts/build-web.sh
cargo build --locked -p pushagent -p pushagent-customer -p pushagent-config --bins

rm -rf demo && mkdir -p demo/state
cat > demo/agent.toml <<TOML
# Demo config written by scripts/demo.sh. demo_time_scale makes the points NOT real.
state_dir = "$(pwd)/demo/state"
sample_interval_secs = 10
demo_time_scale = 60
push_spread_secs = 30

[customer]
base_url = "http://127.0.0.1:8780"
access_id = "AK-test"
secret = "SK-test-secret"

[report]
provider_id = "demo-provider"
provider_uiid = "00000000-0000-4000-8000-000000000001"
isp_id = 1
device_type = 1
offset_percent = 2.5
TOML

./target/debug/pushagent-customer --listen 127.0.0.1:8780 --db demo/customer.sqlite 2> demo/customer.log &
customer=$!
trap 'kill $customer 2>/dev/null || true' EXIT INT TERM
echo "== reference customer on 127.0.0.1:8780 (log: demo/customer.log)"
echo "== the interface this machine would report"
./target/debug/pushagent --config demo/agent.toml detect
echo "== the agent (x60 demo clock); Ctrl-C to stop"
./target/debug/pushagent --config demo/agent.toml run
