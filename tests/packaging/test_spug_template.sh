#!/bin/sh
# The Spug template 【部署】PushAgent (packaging/spug/pushagent-deploy.sh) run exactly as Spug
# runs a batch-execution template: its text sourced by a shell on the host, the SPUG_HOST_*
# variables and the parameters (_SPUG_<variable>) in the environment and nothing else, no
# terminal, no stdin, a PATH without sbin; the bundle (deploy.sh + dist/, as scripts/package.sh
# makes it) downloaded over HTTP from loopback. The agent ends with the platform's identity in
# [identity], registered to the config service URL, started; reruns change nothing.
# shellcheck source=tests/packaging/lib.sh
. "$(dirname "$0")/lib.sh"
R=$T/spug
make_bullseye "$R"
fake_systemd "$R"
echo "203.0.113.10 web01.idc.example" >> "$R/etc/hosts"
mkdir -p "$T/bundle/dist" "$T/www"
cp "$DEPLOY_SH" "$T/bundle/deploy.sh"
stub_dist "$T/bundle/dist"
tar -czf "$T/www/bundle.tar.gz" -C "$T/bundle" deploy.sh dist
cp "$T/www/bundle.tar.gz" "$R/root/bundle.tar.gz"
cp "$TOP/packaging/spug/pushagent-deploy.sh" "$R/root/spug.template"

# A web server on a free loopback port; the port is read from what it prints.
python3 -u -m http.server --bind 127.0.0.1 --directory "$T/www" 0 > "$T/http.log" 2>&1 &
echo $! > "$T/http.pid"
KILL_PIDFILES="$T/http.pid"
tries=0
until port=$(sed -n 's/^Serving HTTP on .* port \([0-9]*\).*/\1/p' "$T/http.log") && [ -n "$port" ]; do
    tries=$((tries + 1))
    [ "$tries" -le 100 ] || { cat "$T/http.log"; fail "the web server did not start"; }
    sleep 0.1
done

# As Spug: `export` of its variables, then the template text sourced, then `echo EOF $?`.
spug_run() {
    bundle=$1 address=$2
    setsid chroot "$R" env -i HOME=/root PATH=/usr/bin:/bin \
        SPUG_HOST_ID=42 SPUG_HOST_NAME="北京-电信-01" SPUG_HOST_HOSTNAME="$address" SPUG_SSH_PORT=22 \
        SPUG_SSH_USERNAME=root SPUG_INTERPRETER=sh \
        _SPUG_service_url=http://127.0.0.1:9 _SPUG_enroll_token=tok-spug-secret _SPUG_node="华北/北京" \
        _SPUG_method=auto _SPUG_bundle="$bundle" \
        sh -c '. /root/spug.template; echo "spug-eof $?"' < /dev/null > "$T/out" 2>&1
    assert_contains "$T/out" "spug-eof 0" "the template's exit status"
    assert_lacks "$T/out" "tok-spug-secret" "the enrollment token in the output"
}

spug_run "http://127.0.0.1:$port/bundle.tar.gz" 203.0.113.10
cat "$T/out"
conf=$R/etc/pushagent/agent.toml
assert_contains "$T/out" "installing with: package (init: systemd)" "method auto"
assert_contains "$conf" '[identity]' "identity section"
assert_contains "$conf" 'ops_host_id = "42"' "ops host id"
assert_contains "$conf" 'host_name = "北京-电信-01"' "host name"
assert_contains "$conf" 'management_ip = "203.0.113.10"' "management ip"
assert_contains "$conf" 'node = "华北/北京"' "node"
assert_contains "$conf" 'url = "http://127.0.0.1:9"' "service url"
assert_lacks "$conf" "tok-spug-secret" "the token in agent.toml"
assert_contains "$R/etc/pushagent/enroll.token" "tok-spug-secret" "token file"
[ "$(stat -c '%a' "$R/etc/pushagent/enroll.token")" = 640 ] || fail "enroll.token mode"
[ -f "$R/standin/pushagent.service.active" ] || fail "the agent was not started"
for left in "$R"/tmp/pushagent-spug.*; do [ ! -e "$left" ] || fail "the template left $left"; done
ok "Spug run (HTTP bundle, no tty, no stdin, PATH without sbin): [identity] from SPUG_HOST_* and _SPUG_node, token kept off the output, agent started"

spug_run /root/bundle.tar.gz 203.0.113.10
assert_contains "$T/out" "nothing to do: already as asked (no change)" "rerun with a bundle path"
spug_run /root/bundle.tar.gz web01.idc.example
assert_contains "$T/out" "management address web01.idc.example is 203.0.113.10" "a DNS name resolved"
assert_contains "$T/out" "nothing to do: already as asked (no change)" "rerun with a DNS name"
ok "reruns (bundle distributed as a file; the host reached by a DNS name) change nothing"
