#!/bin/sh
# deploy.sh --hosts: every host in parallel over ssh, a per-host summary, exit 1 when one
# failed. `ssh` is a stand-in (tests/packaging/fakes/ssh) that runs the command in a chroot
# per host name; no real host is contacted. Plus the clear errors of a single-host run.
# shellcheck source=tests/packaging/lib.sh
. "$(dirname "$0")/lib.sh"
export FAKE_HOSTS="$T/hosts"
mkdir -p "$T/bin" "$FAKE_HOSTS"
cp "$TOP/tests/packaging/fakes/ssh" "$T/bin/ssh"
for host in alpha beta; do
    make_bullseye "$FAKE_HOSTS/$host"
    fake_systemd "$FAKE_HOSTS/$host"
done
stub_dist "$T/dist"
echo "SK-test-secret" > "$T/secret"
printf 'alpha\n# a comment, then a blank line\n\nbeta\ndown\n' > "$T/hosts.txt"
flags=$(echo "$CUSTOMER_FLAGS" | sed "s|/opt/deploy/secret|$T/secret|")

# shellcheck disable=SC2086 # flags is a list of words
if PATH="$T/bin:$PATH" sh "$DEPLOY_SH" --hosts "$T/hosts.txt" --dist "$T/dist" $flags > "$T/out" 2>&1; then
    cat "$T/out"
    fail "--hosts exited 0 with an unreachable host"
fi
sed -n '/^== summary/,$p' "$T/out"
assert_contains "$T/out" "[alpha] deploy: installing with: package (init: systemd)" "per-host log"
grep -Eq '^alpha +ok: deploy: done: ' "$T/out" || fail "alpha not ok in the summary"
grep -Eq '^beta +ok: deploy: done: ' "$T/out" || fail "beta not ok in the summary"
grep -Eq '^down +FAILED \(exit 255\): ssh: connect to host down' "$T/out" || fail "down not FAILED in the summary"
assert_contains "$T/out" "2 of 3 hosts ok" "summary count"
for host in alpha beta; do
    assert_contains "$FAKE_HOSTS/$host/etc/pushagent/agent.toml" 'access_id = "AK-test"' "$host config"
    assert_contains "$FAKE_HOSTS/$host/etc/pushagent/customer.secret" "SK-test-secret" "$host secret"
    assert_contains "$FAKE_HOSTS/$host/standin/calls" "systemctl start pushagent.service" "$host start"
    for left in "$FAKE_HOSTS/$host"/tmp/pushagent-deploy.*; do
        if [ -e "$left" ]; then fail "$host: the bundle was left in /tmp"; fi
    done
done
ok "--hosts: alpha and beta installed in parallel, down reported FAILED, exit 1"

printf 'alpha\nbeta\n' > "$T/hosts.txt"
# shellcheck disable=SC2086
PATH="$T/bin:$PATH" sh "$DEPLOY_SH" --hosts "$T/hosts.txt" --dist "$T/dist" $flags > "$T/out" 2>&1 ||
    { cat "$T/out"; fail "--hosts rerun"; }
grep -Eq '^alpha +ok: deploy: nothing to do' "$T/out" || { cat "$T/out"; fail "alpha rerun not idempotent"; }
grep -Eq '^beta +ok: deploy: nothing to do' "$T/out" || { cat "$T/out"; fail "beta rerun not idempotent"; }
ok "--hosts rerun: every host says nothing to do, exit 0"

# Clear errors. `id` and `uname` stand-ins fake a user and an architecture.
printf '#!/bin/sh\necho 1000\n' > "$T/bin/id"
printf '#!/bin/sh\necho aarch64\n' > "$T/bin/uname"
chmod +x "$T/bin/id" "$T/bin/uname"
mkdir -p "$T/fake-id" "$T/fake-uname" "$T/empty-root"
cp "$T/bin/id" "$T/fake-id/" && cp "$T/bin/uname" "$T/fake-uname/"
if PATH="$T/fake-id:$PATH" sh "$DEPLOY_SH" --dist "$T/dist" > "$T/out" 2>&1; then fail "ran as non-root"; fi
assert_contains "$T/out" "error: must run as root" "not root"
if PATH="$T/fake-uname:$PATH" sh "$DEPLOY_SH" --dist "$T/dist" > "$T/out" 2>&1; then fail "ran on aarch64"; fi
assert_contains "$T/out" "error: unsupported architecture aarch64" "arch"
if sh "$DEPLOY_SH" --root "$T/empty-root" --dist "$T/dist" > "$T/out" 2>&1; then fail "ran without an init system"; fi
assert_contains "$T/out" "error: no systemd" "no init"
assert_contains "$T/out" "and no $T/empty-root/etc/init.d" "no init"
if sh "$DEPLOY_SH" --bogus > "$T/out" 2>&1; then fail "accepted --bogus"; fi
assert_contains "$T/out" "unknown option: --bogus" "bad option"
ok "clear errors: not root, unsupported architecture, no systemd and no init.d, unknown option"
