#!/bin/sh
# Cost against the age of the history (issue 10 §6): state databases as the previous release
# leaves them after 1 and 10 years on one MAC (examples/grow_history.rs: the ring's 35 days,
# every hour in the outbox with its attempt and verifications, all stored by the service),
# and a fresh agent. Each agent runs with push enabled and a customer configured, nothing
# due (the cursor at the current hour, checks 20 h away). Prints, per agent: start-up (wall
# and CPU until the "starting" line: open, integrity check, migrations), CPU of the first 2
# minutes (the first steps; the clock is trusted after 60 s: the first hourly ring pruning), then idle CPU over MINUTES scaled
# to an hour (all agents at once; CPU time from /proc/PID/task/*/schedstat, not wall time:
# the machine may be busy), RSS, PSS, wake-ups (context switches) per minute, file size.
# With OLD_BINARY (e.g. the previous release), its agents run beside the new ones on copies
# of the same databases. Two more new agents (another MAC each) run with a config service:
# a fresh one and one on a 10-year database, whose first start sheds the outbox history the
# service has stored (retention). Then the new agents are restarted once: the steady
# start-up. Hourly work (the ring's pruning, an hour's build) falls once in any 60-minute
# window: a shorter one is scaled to an hour and over- or under-counts it. A benchmark, not a
# test:
#
#     sh scripts/bench/history.sh [MINUTES] [OLD_BINARY]
set -eu
cd "$(dirname "$0")/../.."
minutes="${1:-10}"
old="${2:-}"
build="cargo build --release --locked -p pushagent --bin pushagent --example grow_history -p pushagent-config --bin pushagent-config"
$build >/dev/null 2>&1 || $build
new=./target/release/pushagent
mac=0c:c4:7a:10:00:01
# The agents with a config service collect another fixture's NIC: one machine each.
svc_fixture=vm-virtio svc_mac=52:54:00:40:00:01
fresh_svc_fixture=sriov-vf

work="$(mktemp -d)"
pids=""
trap 'kill $pids 2>/dev/null || true; rm -rf "$work"' EXIT
for days in 365 3650; do
    ./target/release/examples/grow_history "$work/grown-$days.sqlite" "$days" "$mac" >/dev/null
done
./target/release/examples/grow_history "$work/grown-svc.sqlite" 3650 "$svc_mac" >/dev/null

# The config service: push on, a customer nobody listens to (nothing due, nothing sent).
token=bench-enroll-token-0123456789
mkdir -p "$work/service"
export PUSHAGENT_DB_PATH="$work/service/config.sqlite" PUSHAGENT_LISTEN=127.0.0.1:8795 \
    PUSHAGENT_ENROLLMENT_TOKEN=$token
./target/release/pushagent-config token create bench 2>/dev/null | tail -n 1 | awk '{print $NF}' > "$work/service/api.token"
./target/release/pushagent-config serve 2> "$work/service/log" &
pids="$pids $!"
i=0
until curl -sf 127.0.0.1:8795/api/openapi.json >/dev/null 2>&1; do
    i=$((i + 1)); [ "$i" -lt 300 ] || { echo "config service did not start:"; cat "$work/service/log"; exit 1; }
    sleep 0.1
done
curl -sf -X PUT -H "Authorization: Bearer $(cat "$work/service/api.token")" -H 'Content-Type: application/json' \
    127.0.0.1:8795/api/global-config -d '{
      "push_enabled": true,
      "customer": {"base_url": "http://127.0.0.1:9", "report_path": "/api/v1/flux/report",
        "query_path": "/api/v1/flux/query", "access_id": "AK-test", "secret": "SK-test-secret",
        "day_format": "%Y%m%d", "hour_format": "%Y%m%d%H", "mac_format": "lower-colon", "batch_size": 100},
      "provider_id": "bench", "provider_uiid": "00000000-0000-4000-8000-000000000001",
      "isp_id": 1, "device_type": 1, "offset_bp": 0, "billed_direction": "tx"}' >/dev/null

now_ns() { date +%s%N; }
cpu_ns() { cat /proc/"$1"/task/*/schedstat 2>/dev/null | awk '{ s += $1 } END { printf "%.0f\n", s }'; }
switches() {
    cat /proc/"$1"/task/*/status 2>/dev/null | awk '/_ctxt_switches:/ { s += $2 } END { print s + 0 }'
}

# start NAME BINARY DB [FIXTURE]: a state dir (a copy of the grown database DB, or none: 0),
# a config (with the config service when FIXTURE is given: the sysfs fixture of the NIC the
# agent collects), the agent; waits for its "starting" line and records start-up wall and CPU
# time.
start() {
    name=$1 bin=$2 days=$3 fixture=${4:-}
    dir="$work/$name"
    mkdir -p "$dir/state"
    [ "$days" = 0 ] || cp "$work/grown-$days.sqlite" "$dir/state/state.sqlite"
    [ -n "$fixture" ] || [ ! -f "$dir/fixture" ] || fixture=$(cat "$dir/fixture")
    cat > "$dir/agent.toml" <<TOML
state_dir = "$dir/state"
# This machine may run without NTP: hours are built whatever the kernel says.
trust_unsynced_clock = true
[report]
provider_id = "bench"
provider_uiid = "bench"
[customer]
# Nobody listens there: nothing is due, so nothing is sent.
base_url = "http://127.0.0.1:9"
access_id = "AK-test"
secret = "SK-test-secret"
TOML
    if [ -n "$fixture" ]; then
        echo "$fixture" > "$dir/fixture"
        printf '[service]\nurl = "http://127.0.0.1:8795"\nenrollment_token = "%s"\n' "$token" >> "$dir/agent.toml"
    fi
    [ ! -f "$dir/agent.log" ] || mv "$dir/agent.log" "$dir/agent.log.1"
    t0=$(now_ns)
    RUST_LOG=info "$bin" --root "tests/fixtures/sysfs/${fixture:-plain-eth0}" --config "$dir/agent.toml" run 2> "$dir/agent.log" &
    pid=$!
    pids="$pids $pid"
    echo "$pid" > "$dir/pid"
    i=0
    until grep -q ' starting: state' "$dir/agent.log" 2>/dev/null; do
        i=$((i + 1)); [ "$i" -lt 60000 ] || { echo "$name did not start"; exit 1; }
        kill -0 "$pid" 2>/dev/null || { echo "$name exited:"; cat "$dir/agent.log"; exit 1; }
        sleep 0.005
    done
    echo "$(( ($(now_ns) - t0) / 1000000 )) $(( $(cpu_ns "$pid") / 1000000 ))" > "$dir/startup"
}

agents=""
for days in 0 365 3650; do
    start "new-$days" "$new" "$days"
    agents="$agents new-$days"
    if [ -n "$old" ]; then
        start "old-$days" "$old" "$days"
        agents="$agents old-$days"
    fi
done
start svc-0 "$new" 0 "$fresh_svc_fixture"
start svc-3650 "$new" svc "$svc_fixture"
agents="$agents svc-0 svc-3650"
sleep 120
for a in $agents; do
    pid=$(cat "$work/$a/pid")
    echo "$(cpu_ns "$pid") $(switches "$pid")" > "$work/$a/t0"
done
echo "idle for $minutes minutes (started $(date -u +%H:%M:%S) UTC)..."
sleep $((minutes * 60))

echo "| agent | history | start-up wall / CPU | CPU, first 2 min | idle CPU per hour | RSS | PSS | wake-ups/min | file |"
echo "|---|---|---|---|---|---|---|---|---|"
for a in $agents; do
    pid=$(cat "$work/$a/pid")
    kill -0 "$pid" 2>/dev/null || { echo "$a died:"; tail -5 "$work/$a/agent.log"; continue; }
    read -r cpu0 sw0 < "$work/$a/t0"
    read -r wall_ms start_cpu_ms < "$work/$a/startup"
    cpu1=$(cpu_ns "$pid")
    sw1=$(switches "$pid")
    rss=$(awk '/^VmRSS/ {print $2}' "/proc/$pid/status")
    pss=$(awk '/^Pss:/ {print $2}' "/proc/$pid/smaps_rollup")
    size=$(stat -c %s "$work/$a/state/state.sqlite")
    days=${a#*-}
    awk -v a="${a%%-*}" -v d="$days" -v w="$wall_ms" -v sc="$start_cpu_ms" -v c0="$cpu0" -v c1="$cpu1" \
        -v s0="$sw0" -v s1="$sw1" -v m="$minutes" -v r="$rss" -v p="$pss" -v f="$size" 'BEGIN {
        age = (d == 0) ? "fresh" : (d == 365) ? "1 year" : "10 years"
        if (a == "svc") a = "new, config service"
        printf "| %s | %s | %d ms / %d ms | %.2f s | %.2f s | %.1f MB | %.1f MB | %.1f | %.1f MB |\n",
            a, age, w, sc, (c0 / 1e9) - (sc / 1e3), (c1 - c0) / 1e9 * 60 / m, r / 1024, p / 1024,
            (s1 - s0) / m, f / 1048576 }'
done

echo
echo "restarted once (steady start-up, after the first start migrated and pruned):"
for a in new-0 new-365 new-3650 svc-0 svc-3650; do
    age=${a#*-}
    pid=$(cat "$work/$a/pid")
    kill "$pid"; while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done
    start "$a" "$new" 0 # the state dir is kept: no copy
    read -r wall_ms start_cpu_ms < "$work/$a/startup"
    echo "  $a ($age days): start-up $wall_ms ms wall / $start_cpu_ms ms CPU, file $(( $(stat -c %s "$work/$a/state/state.sqlite") / 1024 )) KB, $(awk '/outbox: removed/ { n++ } END { print n + 0 }' "$work/$a/agent.log.1") outbox retention line(s) in the first run"
done
