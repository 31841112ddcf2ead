#!/bin/sh
# The demo: builds everything, starts the reference customer (the customer's API of
# shared/customer-api.md, on 127.0.0.1:8780), the config service (127.0.0.1:8790, console
# user admin / demo-password) and the agent on this machine's real NIC with a DEMO TIME
# SCALE of x60 — one report hour per real minute, NOT for production — so a full cycle shows
# within about two minutes: the agent registers with the config service and takes the
# customer's credentials and the offset from it; 5-minute points close every 5 s; each hour
# is built and pushed (signed) a minute after it started, mirrored to the service's push
# history, and verified against the customer's copy 30 to 90 s after the push.
# Ctrl-C stops everything. State goes to ./demo/; nothing is installed.
#
# In another terminal meanwhile:
#   ./target/debug/pushagent --config demo/agent.toml outbox      # what the agent pushed
#   ./target/debug/pushagent --config demo/agent.toml points      # the 12 points of an hour
#   curl -s 127.0.0.1:8780/_admin/dump                            # what the customer holds
#   curl -s -H "Authorization: Bearer $(cat demo/api.token)" 127.0.0.1:8790/api/history
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

[service]
url = "http://127.0.0.1:8790"
enrollment_token = "demo-enroll-token-0123456789"
config_interval_secs = 60
TOML

# The config service, its console user, an API token, and the global config the agent pulls.
PUSHAGENT_DB_PATH="$(pwd)/demo/config.sqlite"
export PUSHAGENT_DB_PATH PUSHAGENT_LISTEN=127.0.0.1:8790 PUSHAGENT_ENROLLMENT_TOKEN=demo-enroll-token-0123456789
echo demo-password | ./target/debug/pushagent-config user add admin >/dev/null
./target/debug/pushagent-config token create demo | tail -n 1 | awk '{print $NF}' > demo/api.token
./target/debug/pushagent-config serve 2> demo/config-service.log &
service=$!

./target/debug/pushagent-customer --listen 127.0.0.1:8780 --db demo/customer.sqlite 2> demo/customer.log &
customer=$!
trap 'kill $customer $service 2>/dev/null || true' EXIT INT TERM
i=0
until curl -sf 127.0.0.1:8790/api/openapi.json >/dev/null 2>&1; do
    i=$((i + 1)); [ "$i" -lt 100 ] || { echo "config service did not start: see demo/config-service.log"; exit 1; }
    sleep 0.1
done
curl -sf -X PUT -H "Authorization: Bearer $(cat demo/api.token)" -H 'Content-Type: application/json' \
    127.0.0.1:8790/api/global-config -d '{
      "push_enabled": true,
      "customer": {"base_url": "http://127.0.0.1:8780", "report_path": "/api/v1/flux/report",
        "query_path": "/api/v1/flux/query", "access_id": "AK-test", "secret": "SK-test-secret",
        "day_format": "%Y%m%d", "hour_format": "%Y%m%d%H", "mac_format": "lower-colon", "batch_size": 100},
      "provider_id": "demo-provider", "provider_uiid": "00000000-0000-4000-8000-000000000001",
      "isp_id": 1, "device_type": 1, "offset_bp": 250, "billed_direction": "tx"}' >/dev/null
echo "== reference customer on 127.0.0.1:8780 (log: demo/customer.log)"
echo "== config service on 127.0.0.1:8790 (log: demo/config-service.log; API token in demo/api.token)"
echo "   console: http://127.0.0.1:8790/ (admin / demo-password). The agent's hours run x60 ahead of"
echo "   real time, so they show in 推送历史 and the machine drawer, not in the overview's chart of"
echo "   the last 24 real hours."
echo "== the interface this machine would report"
./target/debug/pushagent --config demo/agent.toml detect
echo "== the agent (x60 demo clock); Ctrl-C to stop"
./target/debug/pushagent --config demo/agent.toml run
