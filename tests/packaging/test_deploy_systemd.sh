#!/bin/sh
# deploy.sh on a systemd host (a bullseye chroot with a systemctl stand-in that records the
# calls): the .deb path, then the binary + unit path; each run twice (dash, busybox sh) with
# the second changing nothing; --upgrade keeps the config; --uninstall leaves only the data.
# shellcheck disable=SC2016 # ${...} are dpkg-query fields
# shellcheck source=tests/packaging/lib.sh
. "$(dirname "$0")/lib.sh"
R=$T/systemd
deploy_root "$R"
fake_systemd "$R"
cp "$DIST2"/pushagent_*_amd64.deb "$R/tmp/"
mkdir -p "$R/opt/deploy/dist2" && cp "$DIST2"/pushagent_*_amd64.deb "$R/opt/deploy/dist2/"
snapshot "$R" > "$T/before"
calls=$R/standin/calls
calls_since() { tail -n +"$(($1 + 1))" "$calls"; }
count_calls() { if [ -f "$calls" ]; then wc -l < "$calls"; else echo 0; fi; }

# shellcheck disable=SC2086 # CUSTOMER_FLAGS is a list of words
deploy_ok "$R" dash $CUSTOMER_FLAGS
cat "$T/out"
assert_contains "$T/out" "installing with: package (init: systemd)" "method"
[ "$(chroot "$R" dpkg-query -W -f='${Version}' pushagent)" = "$(dpkg-deb -f "$DIST"/pushagent_*_amd64.deb Version)" ] ||
    fail "the .deb is not installed"
assert_contains "$calls" "systemctl enable pushagent.service" "enable"
assert_contains "$calls" "systemctl start pushagent.service" "start"
assert_contains "$R/etc/pushagent/agent.toml" 'access_id = "AK-test"' "agent.toml"
ok "dash: installs the .deb, writes the config, enables and starts pushagent.service"

n=$(count_calls)
# shellcheck disable=SC2086
deploy_ok "$R" busybox $CUSTOMER_FLAGS
assert_contains "$T/out" "nothing to do: already as asked (no change)" "second run"
if calls_since "$n" | grep -Ev 'is-active|is-enabled'; then fail "the second run changed the service"; fi
ok "busybox sh: second run changes nothing (only is-active/is-enabled asked)"

sed -i '1i sample_interval_secs = 30 # edited by the operator' "$R/etc/pushagent/agent.toml"
n=$(count_calls)
deploy_ok "$R" dash --upgrade --dist /opt/deploy/dist2
assert_contains "$T/out" "-> $(dpkg-deb -f "$DIST2"/pushagent_*_amd64.deb Version)" "upgrade"
assert_contains "$R/etc/pushagent/agent.toml" "edited by the operator" "config after --upgrade"
calls_since "$n" | grep -q "try-restart pushagent.service" || fail "the upgrade did not restart the agent"
ok "--upgrade installs the new .deb, keeps the edited agent.toml, restarts the agent"

echo "ring" > "$R/var/lib/pushagent/state.sqlite"
deploy_ok "$R" busybox --uninstall
assert_contains "$T/out" "dpkg --purge pushagent (keeping /var/lib/pushagent)" "uninstall"
assert_contains "$calls" "systemctl stop pushagent.service" "uninstall stops"
snapshot "$R" > "$T/after"
left=$(snapshot_diff "$T/before" "$T/after")
[ -z "$left" ] || { echo "$left"; fail "--uninstall left files other than /var/lib/pushagent"; }
[ -f "$R/var/lib/pushagent/state.sqlite" ] || fail "--uninstall removed the data"
ok "--uninstall purges the package but leaves /var/lib/pushagent"

# The fallback for systemd hosts without dpkg/rpm: binary + unit in /etc/systemd/system.
# shellcheck disable=SC2086
deploy_ok "$R" dash --method systemd $CUSTOMER_FLAGS
assert_contains "$T/out" "write /etc/systemd/system/pushagent.service" "binary + unit"
assert_contains "$T/out" "systemctl daemon-reload" "binary + unit"
[ -f "$R/standin/pushagent.service.active" ] || fail "not started"
# shellcheck disable=SC2086
deploy_ok "$R" busybox --method systemd $CUSTOMER_FLAGS
assert_contains "$T/out" "nothing to do" "second run (binary + unit)"
deploy_ok "$R" dash --uninstall
snapshot "$R" > "$T/after"
left=$(snapshot_diff "$T/before" "$T/after")
[ -z "$left" ] || { echo "$left"; fail "--uninstall (binary + unit) left files"; }
ok "--method systemd: binary + unit, idempotent, uninstalled cleanly"

# An agent whose shipped example has a [service] section (issue 4): --service-url and
# --enroll-token go into agent.toml and a token file, and that alone is enough to start it.
mkdir -p "$R/opt/deploy/dist3"
cp "$R"/opt/deploy/dist/pushagent* "$R/opt/deploy/dist3/"
{ cat "$R/opt/deploy/dist/agent.toml" && printf '\n[service]\n# url = "..."\n'; } > "$R/opt/deploy/dist3/agent.toml"
rm -f "$R"/opt/deploy/dist3/*.deb
deploy_ok "$R" dash --dist /opt/deploy/dist3 --service-url https://config.example --enroll-token tok-2
assert_contains "$R/etc/pushagent/agent.toml" 'url = "https://config.example"' "[service] url"
assert_contains "$R/etc/pushagent/agent.toml" 'enrollment_token_file = "/etc/pushagent/enroll.token"' "[service] token file"
assert_contains "$R/etc/pushagent/enroll.token" "tok-2" "token file"
[ ! -e "$R/etc/pushagent/enroll.toml" ] || fail "enroll.toml written for an agent with [service]"
assert_contains "$T/out" "start pushagent.service" "started with a config service url only"
deploy_ok "$R" busybox --dist /opt/deploy/dist3 --service-url https://config.example --enroll-token tok-2
assert_contains "$T/out" "nothing to do" "second run ([service])"
deploy_ok "$R" dash --dist /opt/deploy/dist3 --uninstall
snapshot "$R" > "$T/after"
left=$(snapshot_diff "$T/before" "$T/after")
[ -z "$left" ] || { echo "$left"; fail "--uninstall ([service]) left files"; }
ok "agent with a [service] section: url and token file written, started, idempotent, uninstalled cleanly"
