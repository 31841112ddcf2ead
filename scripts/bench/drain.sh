#!/bin/sh
# Backlog drain: 30 days of hours (720 reports) for one MAC, pending after a long customer
# outage, drained by the release agent into the local reference customer. Prints seconds to
# drain and the agent's peak RSS (VmHWM) while draining. A benchmark, not a test:
#
#     sh scripts/bench/drain.sh [HOURS]
#     PROFILE=line sh scripts/bench/drain.sh [HOURS]   # one CSV line per request (line preset)
set -eu
cd "$(dirname "$0")/../.."
hours="${1:-720}"
PROFILE="${PROFILE:-json}"
case "$PROFILE" in
    json) customer_flags="" ;;
    line) customer_flags="--profile line" ;;
    *) echo "PROFILE must be json or line" >&2; exit 2 ;;
esac
cargo build --release --locked -p pushagent --bin pushagent --example seed_backlog >/dev/null 2>&1 \
    || cargo build --release --locked -p pushagent --bin pushagent --example seed_backlog
cargo build --locked -p pushagent-customer --bin pushagent-customer >/dev/null 2>&1 \
    || cargo build --locked -p pushagent-customer --bin pushagent-customer

work="$(mktemp -d)"
pids=""
trap 'kill $pids 2>/dev/null || true; rm -rf "$work"' EXIT
mkdir -p "$work/state"
./target/release/examples/seed_backlog "$work/state/state.sqlite" "$hours" 0c:c4:7a:10:00:01

port=18780
# shellcheck disable=SC2086 # $customer_flags: none or two words
./target/debug/pushagent-customer --listen "127.0.0.1:$port" --db "$work/customer.sqlite" $customer_flags \
    2> "$work/customer.log" &
pids="$!"
i=0
until curl -sf "http://127.0.0.1:$port/_admin/health" >/dev/null 2>&1; do
    i=$((i + 1)); [ "$i" -lt 100 ] || { echo "customer did not start"; exit 1; }; sleep 0.1
done

if [ "$PROFILE" = line ]; then
    # The console's preset "逐行 CSV (原厂商格式)": one line per request, access_id header,
    # need_response, X-Seq, no signature, 2xx + empty or "ok" body; no query.
    line_profile='encoding = "line"
query_path = ""
[customer.auth]
signature = "none"
access_id_header = "access_id"
static_headers = [["need_response", "true"]]
sequence_header = "X-Seq"
[customer.answer]
result_field = ""
ok_texts = ["ok", "success"]'
else
    line_profile=""
fi
cat > "$work/agent.toml" <<TOML
state_dir = "$work/state"
verify_days = 0
# This machine may run without NTP: the backlog is drained whatever the kernel says.
trust_unsynced_clock = true
[report]
provider_id = "bench"
provider_uiid = "bench"
[customer]
base_url = "http://127.0.0.1:$port"
access_id = "AK-test"
secret = "SK-test-secret"
$line_profile
TOML
start=$(date +%s.%N)
./target/release/pushagent --root tests/fixtures/sysfs/plain-eth0 --config "$work/agent.toml" run 2> "$work/agent.log" &
agent=$!
pids="$pids $agent"
peak=0
i=0
while :; do
    hwm=$(awk '/^VmHWM/ {print $2}' "/proc/$agent/status" 2>/dev/null || echo 0)
    [ "${hwm:-0}" -gt "$peak" ] && peak=$hwm
    stored=$(curl -sf "http://127.0.0.1:$port/_admin/dump" | grep -o '"flux_hour"' | wc -l)
    [ "$stored" -ge "$hours" ] && break
    i=$((i + 1)); [ "$i" -lt 1200 ] || { echo "not drained after 120 s ($stored/$hours)"; exit 1; }
    sleep 0.1
done
end=$(date +%s.%N)
hwm=$(awk '/^VmHWM/ {print $2}' "/proc/$agent/status")
[ "$hwm" -gt "$peak" ] && peak=$hwm
rss=$(awk '/^VmRSS/ {print $2}' "/proc/$agent/status")
awk -v pr="$PROFILE" -v s="$start" -v e="$end" -v h="$hours" -v p="$peak" -v r="$rss" 'BEGIN {
    printf "%s profile: drained %d hours in %.2f s; agent peak RSS (VmHWM) %.1f MB, RSS after %.1f MB\n", pr, h, e - s, p / 1024, r / 1024 }'
grep -c "pushed .* record" "$work/agent.log" | awk '{ print "  in " $1 " batches" }'
