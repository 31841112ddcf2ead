#!/bin/sh
# The demo: builds everything, starts the reference customer (the customer's API of
# shared/customer-api.md, on 127.0.0.1:8780, taking both of its profiles), the config service
# (127.0.0.1:8790, console user admin / demo-password) and the agent with a DEMO TIME SCALE of
# x60 — one report hour per real minute, NOT for production — so a full cycle shows within
# about two minutes: the agent registers with the config service and takes the customer's
# profile, credentials and the offset from it; 5-minute points close every 5 s; each hour is
# built and pushed a minute after it started, mirrored to the service's push history, and
# verified against the customer's copy 30 to 90 s after the push.
#
#   sh scripts/demo.sh                  the JSON reference profile (signed batches)
#   PROFILE=line sh scripts/demo.sh     the line profile (one CSV line per record, the
#                                       customer of the original specification)
#
# Real numbers: run as root, the agent collects a veth (pa-demo0) whose other end is in a
# network namespace of the demo's own (pushagent-demo), and a small traffic generator sends a
# varying load over it (quiet around each hour boundary). For every pushed hour the demo prints
# the kernel's tx counter delta beside the agent's raw sum, its pushed sum (offset +2.5%) and
# what the customer stored. Not root (or no network namespaces): the agent collects this
# machine's NIC, and the kernel column is only approximate (≈). Ctrl-C stops everything and
# removes the namespace. State goes to ./demo/; nothing is installed.
#
# In another terminal meanwhile:
#   ./target/debug/pushagent --config demo/agent.toml outbox      # what the agent pushed
#   ./target/debug/pushagent --config demo/agent.toml points      # the 12 points of an hour
#   curl -s 127.0.0.1:8780/_admin/dump                            # what the customer holds
#   curl -s -H "Authorization: Bearer $(cat demo/api.token)" 127.0.0.1:8790/api/history
#   tail -f demo/agent.log                                        # the agent's log
set -eu
cd "$(dirname "$0")/.."
PROFILE=${PROFILE:-json}
case "$PROFILE" in
    json | line) ;;
    *) echo "PROFILE must be json or line, not '$PROFILE'" >&2; exit 2 ;;
esac
sh scripts/setup.sh
# The web console first: the config service binary embeds its build.
sh scripts/build-web.sh
cargo build --locked -p pushagent -p pushagent-customer -p pushagent-config --bins

NS=pushagent-demo
AGENT_IF=pa-demo0
PEER_IF=pa-demo1
AGENT_ADDR=10.250.78.1
PEER_ADDR=10.250.78.2
pids=""
netns=""
cleanup() {
    for pid in $pids; do kill "$pid" 2>/dev/null || true; done
    for pid in $pids; do wait "$pid" 2>/dev/null || true; done
    # Deleting the namespace deletes the veth pair with it.
    if [ -n "$netns" ]; then ip netns del "$NS" 2>/dev/null || true; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# A veth for the agent, its peer in a namespace of our own (none left from an earlier run).
# DEMO_NETNS=0 keeps the agent on the NIC even as root.
if [ "${DEMO_NETNS:-1}" = 1 ] && [ "$(id -u)" = 0 ] && command -v ip >/dev/null 2>&1; then
    ip netns del "$NS" 2>/dev/null || true
    if ip netns add "$NS" 2>/dev/null; then
        netns=1
        ip netns exec "$NS" sh -c 'echo 1 > /proc/sys/net/ipv6/conf/all/disable_ipv6; echo 1 > /proc/sys/net/ipv6/conf/default/disable_ipv6'
        ip link add "$AGENT_IF" address 02:00:00:de:00:01 type veth peer name "$PEER_IF" address 02:00:00:de:00:02 netns "$NS"
        # Quiet unless the generator sends: no IPv6 autoconfiguration, no ARP (static neighbours).
        echo 1 > "/proc/sys/net/ipv6/conf/$AGENT_IF/disable_ipv6"
        ip addr add "$AGENT_ADDR/30" dev "$AGENT_IF"
        ip -n "$NS" addr add "$PEER_ADDR/30" dev "$PEER_IF"
        ip neigh replace "$PEER_ADDR" lladdr 02:00:00:de:00:02 dev "$AGENT_IF" nud permanent
        ip -n "$NS" neigh replace "$AGENT_ADDR" lladdr 02:00:00:de:00:01 dev "$PEER_IF" nud permanent
        ip link set "$AGENT_IF" up
        ip -n "$NS" link set "$PEER_IF" up
    fi
fi

rm -rf demo && mkdir -p demo/state
cat > demo/agent.toml <<TOML
# Demo config written by scripts/demo.sh. demo_time_scale makes the points NOT real.
state_dir = "$(pwd)/demo/state"
sample_interval_secs = 10
demo_time_scale = 60
push_spread_secs = 30
# A demo VM often runs without NTP (the kernel says "unsynchronised"): build hours anyway.
trust_unsynced_clock = true

[service]
url = "http://127.0.0.1:8790"
enrollment_token = "demo-enroll-token-0123456789"
config_interval_secs = 60
TOML
if [ -n "$netns" ]; then
    # A veth is virtual: the agent refuses it unless told (demo and tests only).
    sed -i "1a interface = \"$AGENT_IF\"\nallow_virtual = true" demo/agent.toml
fi

# The config service, its console user, an API token, and the global config the agent pulls.
PUSHAGENT_DB_PATH="$(pwd)/demo/config.sqlite"
export PUSHAGENT_DB_PATH PUSHAGENT_LISTEN=127.0.0.1:8790 PUSHAGENT_ENROLLMENT_TOKEN=demo-enroll-token-0123456789
echo demo-password | ./target/debug/pushagent-config user add admin >/dev/null
./target/debug/pushagent-config token create demo | tail -n 1 | awk '{print $NF}' > demo/api.token
./target/debug/pushagent-config serve 2> demo/config-service.log &
pids="$pids $!"

# AK-test speaks the JSON profile, AK-line the line profile (answers {"ret":N,"msg":...}): the
# console can switch between them.
./target/debug/pushagent-customer --listen 127.0.0.1:8780 --db demo/customer.sqlite \
    --line-access-id AK-line --line-answers json 2> demo/customer.log &
pids="$pids $!"
i=0
until curl -sf 127.0.0.1:8790/api/openapi.json >/dev/null 2>&1; do
    i=$((i + 1)); [ "$i" -lt 100 ] || { echo "config service did not start: see demo/config-service.log"; exit 1; }
    sleep 0.1
done
if [ "$PROFILE" = line ]; then
    # The console's preset "逐行 CSV (原厂商格式)", with the reference customer's answers
    # ({"ret":0}) and query (records under "list") filled in, so that verification runs too
    # (docs/operations.md, "Configure a new customer's profile", steps 3 and 4).
    customer='"access_id": "AK-line", "secret": "SK-test-secret", "encoding": "line",
        "auth": {"signature": "none", "access_id_header": "access_id",
          "static_headers": [["need_response", "true"]], "sequence_header": "X-Seq"},
        "answer": {"result_field": "ret", "ok_values": ["0"], "invalid_values": ["40001"],
          "conflict_values": ["40901"], "ok_texts": [], "message_field": "msg"},
        "query": {"records_field": "list"}'
else
    customer='"access_id": "AK-test", "secret": "SK-test-secret"'
fi
curl -sf -X PUT -H "Authorization: Bearer $(cat demo/api.token)" -H 'Content-Type: application/json' \
    127.0.0.1:8790/api/global-config -d '{
      "push_enabled": true,
      "customer": {"base_url": "http://127.0.0.1:8780", "report_path": "/api/v1/flux/report",
        "query_path": "/api/v1/flux/query", '"$customer"',
        "day_format": "%Y%m%d", "hour_format": "%Y%m%d%H", "mac_format": "lower-colon", "batch_size": 100},
      "provider_id": "demo-provider", "provider_uiid": "00000000-0000-4000-8000-000000000001",
      "isp_id": 1, "device_type": 1, "offset_bp": 250, "billed_direction": "tx"}' >/dev/null
echo "== reference customer on 127.0.0.1:8780 (log: demo/customer.log)"
echo "== config service on 127.0.0.1:8790 (log: demo/config-service.log; API token in demo/api.token)"
echo "   console: http://127.0.0.1:8790/ (admin / demo-password). The agent's hours run x60 ahead of"
echo "   real time, so they show in 推送历史 and the machine drawer, not in the overview's chart of"
echo "   the last 24 real hours."
echo "== customer profile: $PROFILE"
echo "== the interface this machine would report"
./target/debug/pushagent --config demo/agent.toml detect
if [ -n "$netns" ]; then
    echo "== the agent collects $AGENT_IF, a veth into network namespace $NS, with generated traffic"
    traffic="--local-addr $AGENT_ADDR --peer-addr $PEER_ADDR"
    iface=$AGENT_IF
else
    echo "== not root or no network namespaces: the agent collects this machine's NIC (kernel column ≈)"
    traffic=""
    iface=$(./target/debug/pushagent --config demo/agent.toml detect 2>/dev/null | awk '/^Collecting:/ {print $2; exit}')
fi
start_ms=$(date +%s%3N)
./target/debug/pushagent --config demo/agent.toml run 2> demo/agent.log &
pids="$pids $!"
echo "== the agent (x60 demo clock, log: demo/agent.log); each pushed hour below; Ctrl-C to stop"
# shellcheck disable=SC2086 # $traffic is two flags or none
./target/debug/pushagent-demo-traffic --iface "$iface" $traffic --time-scale 60 \
    --agent-start-ms "$start_ms" --agent-config demo/agent.toml ${DEMO_HOURS:+--hours "$DEMO_HOURS"}
