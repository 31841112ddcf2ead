#!/bin/sh
# deploy.sh on a host without systemd (a bullseye chroot): binary + SysV init script, under
# busybox sh and dash; a repeat changes nothing; --upgrade restarts; --uninstall leaves only
# the data directory. The agent is a stand-in that sleeps (tests/packaging/fakes/pushagent).
# shellcheck source=tests/packaging/lib.sh
. "$(dirname "$0")/lib.sh"
R=$T/sysv
deploy_root "$R"
mount_proc "$R"
KILL_PIDFILES="$R/run/pushagent.pid"
snapshot "$R" > "$T/before"

# --dry-run from outside with --root: says what it would do, changes nothing.
# shellcheck disable=SC2086,SC2046 # CUSTOMER_FLAGS is a list of words
sh "$TOP/scripts/deploy.sh" --root "$R" --dist "$R/opt/deploy/dist" --dry-run $(echo "$CUSTOMER_FLAGS" | sed "s|/opt|$R/opt|") > "$T/dry" 2>&1 ||
    { cat "$T/dry"; fail "dry run"; }
assert_contains "$T/dry" "config service http://127.0.0.1:9 is unreachable from here; installing anyway" "unreachable warning"
assert_contains "$T/dry" "write /usr/bin/pushagent" "dry run plan"
assert_contains "$T/dry" "start /etc/init.d/pushagent" "dry run plan"
assert_contains "$T/dry" "dry run:" "dry run summary"
snapshot "$R" > "$T/after-dry"
cmp -s "$T/before" "$T/after-dry" || { diff "$T/before" "$T/after-dry"; fail "--dry-run changed files"; }
ok "--root --dry-run lists the changes, warns that the config service is unreachable, changes nothing"

# shellcheck disable=SC2086
deploy_ok "$R" busybox $CUSTOMER_FLAGS
cat "$T/out"
assert_contains "$T/out" "installing with: sysv (init: sysv)" "method"
assert_contains "$T/out" "start /etc/init.d/pushagent" "start"
chroot "$R" /etc/init.d/pushagent status | grep -q "is running" || fail "agent not running after install"
pid1=$(cat "$R/run/pushagent.pid")
[ "$(stat -c %U "/proc/$pid1")" != root ] || fail "the agent runs as root"
ls "$R"/etc/rc2.d/S*pushagent > /dev/null || fail "not enabled at boot"
assert_contains "$R/etc/pushagent/agent.toml" 'base_url = "https://customer.example/api"' "agent.toml"
assert_contains "$R/etc/pushagent/agent.toml" 'secret_file = "/etc/pushagent/customer.secret"' "agent.toml"
assert_contains "$R/etc/pushagent/agent.toml" 'interface = "eth0"' "agent.toml"
if grep -q '^\[service\]' "$DIST/agent.toml"; then
    assert_contains "$R/etc/pushagent/agent.toml" 'url = "http://127.0.0.1:9"' "agent.toml [service]"
    assert_contains "$R/etc/pushagent/enroll.token" "tok-1" "enroll.token"
else
    assert_contains "$R/etc/pushagent/enroll.toml" 'enroll_token = "tok-1"' "enroll.toml"
fi
# The real agent accepts the config deploy.sh wrote (it then fails on the chroot's missing
# /sys, which is not what this checks).
cp "$DIST/pushagent" "$R/opt/deploy/real-pushagent"
chroot "$R" /opt/deploy/real-pushagent --config /etc/pushagent/agent.toml detect > "$T/detect" 2>&1 || true
if grep -E "invalid config|cannot read config" "$T/detect"; then fail "the agent rejects the config deploy.sh wrote"; fi
echo "  (real agent on the written config: $(tail -n 1 "$T/detect"))"
[ "$(stat -c '%a' "$R/etc/pushagent/customer.secret")" = 640 ] || fail "customer.secret mode"
ok "busybox sh: installed binary + init script, enabled at boot, started as user pushagent (pid $pid1)"

for shell in busybox dash; do
    # shellcheck disable=SC2086
    deploy_ok "$R" "$shell" $CUSTOMER_FLAGS
    assert_contains "$T/out" "nothing to do: already as asked (no change)" "second run under $shell"
    assert_lacks "$T/out" "deploy: write" "second run under $shell"
done
[ "$(cat "$R/run/pushagent.pid")" = "$pid1" ] || fail "a repeat restarted the agent"
ok "second and third runs (busybox sh, dash): nothing to do, agent untouched"

stub_dist "$T/dist2"
sed 's/0.1.0 (test/0.1.1 (test/' "$TOP/tests/packaging/fakes/pushagent" > "$T/dist2/pushagent"
cp -r "$T/dist2" "$R/opt/deploy/dist2"
deploy_in "$R" dash --dist /opt/deploy/dist2 || true
assert_contains "$T/out" "run with --upgrade to replace it" "install over another version"
chroot "$R" env PATH="$CHROOT_PATH" dash /opt/deploy/deploy.sh --dist /opt/deploy/dist2 --upgrade > "$T/out" 2>&1 ||
    { cat "$T/out"; fail "--upgrade"; }
assert_contains "$T/out" "write /usr/bin/pushagent" "upgrade"
assert_contains "$T/out" "restart /etc/init.d/pushagent" "upgrade"
chroot "$R" pushagent --version | grep -q 0.1.1 || fail "not upgraded"
assert_contains "$R/etc/pushagent/agent.toml" 'base_url = "https://customer.example/api"' "config after upgrade"
ok "dash: without --upgrade a new binary is left alone; --upgrade replaces it, restarts, keeps the config"

echo "ring" > "$R/var/lib/pushagent/state.sqlite"
deploy_ok "$R" busybox --uninstall
cat "$T/out"
[ ! -f "$R/run/pushagent.pid" ] || fail "agent still running after --uninstall"
snapshot "$R" > "$T/after"
left=$(snapshot_diff "$T/before" "$T/after")
[ -z "$left" ] || { echo "$left"; fail "--uninstall left files other than /var/lib/pushagent"; }
[ -f "$R/var/lib/pushagent/state.sqlite" ] || fail "--uninstall removed the data"
deploy_ok "$R" dash --uninstall
assert_contains "$T/out" "nothing to do" "second --uninstall"
ok "--uninstall stops the agent and leaves only /var/lib/pushagent; a second one does nothing"
