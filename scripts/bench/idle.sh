#!/bin/sh
# Idle footprint, side by side in one run: `pushagent run` (twice: the JSON reference profile,
# and the line profile of customer-api.md as the console's preset sets it) vs vnstatd vs
# prometheus-node-exporter, all started now and left idle for MINUTES (default 10).
# Prints RSS, PSS (smaps_rollup), CPU seconds, wake-ups per minute (context switches of all
# threads, counted from 10 s after the start) and binary size of each, and the agent's
# boundary-read lateness (from its own log). With OLD_PUSHAGENT set to another build (e.g. the
# previous release), it runs too, beside the others, with the first agent's config: today's
# figures and the previous ones measured in the same run. A benchmark, not a test. Run as root:
#
#     sh scripts/bench/idle.sh [MINUTES]
#     OLD_PUSHAGENT=/path/to/old/pushagent sh scripts/bench/idle.sh [MINUTES]
set -eu
cd "$(dirname "$0")/../.."
minutes="${1:-10}"

for pkg in vnstat prometheus-node-exporter; do
    dpkg -s "$pkg" >/dev/null 2>&1 || { apt-get update -qq; DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$pkg"; }
done
cargo build --release --locked --bin pushagent >/dev/null 2>&1 || cargo build --release --locked --bin pushagent

work="$(mktemp -d)"
trap 'kill $pids 2>/dev/null || true; rm -rf "$work"' EXIT
pids=""

printf 'state_dir = "%s/agent"\n' "$work" > "$work/agent.toml"
RUST_LOG=debug ./target/release/pushagent --config "$work/agent.toml" run 2> "$work/agent.log" &
agent=$!
cat > "$work/agent-line.toml" <<TOML
state_dir = "$work/agent-line"
[customer]
encoding = "line"
query_path = ""
[customer.auth]
signature = "none"
access_id_header = "access_id"
static_headers = [["need_response", "true"]]
sequence_header = "X-Seq"
[customer.answer]
result_field = ""
ok_texts = ["ok", "success"]
TOML
./target/release/pushagent --config "$work/agent-line.toml" run 2> "$work/agent-line.log" &
agent_line=$!
mkdir -p "$work/vnstat"
printf 'DatabaseDir "%s/vnstat"\nAlwaysAddNewInterfaces 1\n' "$work" > "$work/vnstat.conf"
vnstatd -n --config "$work/vnstat.conf" > "$work/vnstat.log" 2>&1 &
vnstat=$!
prometheus-node-exporter --web.listen-address=127.0.0.1:19100 > "$work/node.log" 2>&1 &
node=$!
pids="$agent $agent_line $vnstat $node"
old_agent=""
if [ -n "${OLD_PUSHAGENT:-}" ]; then
    printf 'state_dir = "%s/agent-old"\n' "$work" > "$work/agent-old.toml"
    RUST_LOG=debug "$OLD_PUSHAGENT" --config "$work/agent-old.toml" run 2> "$work/agent-old.log" &
    old_agent=$!
    pids="$pids $old_agent"
fi

switches() {
    cat /proc/"$1"/task/*/status 2>/dev/null | awk '/_ctxt_switches:/ { s += $2 } END { print s + 0 }'
}
echo "idle for $minutes minutes (started $(date -u +%H:%M:%S) UTC)..."
sleep 10
for p in $pids; do echo "$p $(switches "$p")"; done > "$work/switches0"
sleep $((minutes * 60 - 10))

tck=$(getconf CLK_TCK)
row() { # name pid binary
    rss=$(awk '/^VmRSS/ {print $2}' "/proc/$2/status")
    pss=$(awk '/^Pss:/ {print $2}' "/proc/$2/smaps_rollup")
    cpu=$(awk -v t="$tck" '{printf "%.2f", ($14 + $15) / t}' "/proc/$2/stat")
    size=$(stat -L -c %s "$3")
    sw0=$(awk -v p="$2" '$1 == p { print $2 }' "$work/switches0")
    sw1=$(switches "$2")
    awk -v n="$1" -v m="$minutes" -v r="$rss" -v p="$pss" -v c="$cpu" -v s="$size" -v w0="$sw0" -v w1="$sw1" 'BEGIN {
        printf "| %s | %s min | %.1f MB | %.1f MB | %s s | %.0f | %.1f MB |\n", n, m, r / 1024, p / 1024, c,
            (w1 - w0) / (m - 1 / 6), s / 1048576 }'
}
echo "| program | idle | RSS | PSS | CPU | wake-ups/min | binary |"
echo "|---|---|---|---|---|---|---|"
row "pushagent $(./target/release/pushagent --version | cut -d' ' -f2)" "$agent" ./target/release/pushagent
row "pushagent, line profile" "$agent_line" ./target/release/pushagent
[ -z "$old_agent" ] || row "pushagent $("$OLD_PUSHAGENT" --version | cut -d' ' -f2) (OLD_PUSHAGENT)" "$old_agent" "$OLD_PUSHAGENT"
row "vnstatd $(dpkg-query -W -f '${Version}' vnstat)" "$vnstat" "$(command -v vnstatd)"
row "node_exporter $(dpkg-query -W -f '${Version}' prometheus-node-exporter)" "$node" "$(command -v prometheus-node-exporter)"

echo
echo "pushagent boundary reads (late_ms, from its log):"
grep 'boundary reading at' "$work/agent.log" | grep -o 'late_ms=[0-9-]*' | cut -d= -f2 | sort -n | awk '
    { v[NR] = $1 } END { if (NR == 0) { print "  none (run longer than 5 minutes)"; exit }
      p99 = v[int((NR - 1) * 0.99) + 1]; printf "  %d reads, min %d ms, p99 %d ms, max %d ms\n", NR, v[1], p99, v[NR] }'
