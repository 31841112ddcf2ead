#!/bin/sh
# shellcheck disable=SC2016 # ${IFS} and ${Version} are meant literally
# deploy.sh's input handling (issue 13, found by acceptance runs), each case on its own and
# each failing on the deploy.sh before it (DEPLOY_SH=old.sh sh tests/packaging/test_...):
# a flag missing its value, --hosts lines that are commands, options or two hosts, a binary
# install turned into a package on rerun, a PATH without /usr/sbin, a silent downgrade.
# shellcheck source=tests/packaging/lib.sh
. "$(dirname "$0")/lib.sh"
stub_dist "$T/dist"
mkdir -p "$T/dist2"
cp "$DIST2"/pushagent_*_amd64.deb "$T/dist2/"
echo "SK-test-secret" > "$T/secret"
flags=$(echo "$CUSTOMER_FLAGS" | sed "s|/opt/deploy/secret|$T/secret|")

# `--access-id --dry-run` used to install for real with access_id = "--dry-run".
flag_missing_its_value() {
    R=$T/novalue
    deploy_root "$R"
    fake_systemd "$R"
    snapshot "$R" > "$T/novalue.before"
    if deploy_in "$R" dash --customer-url https://customer.example/api --access-id --dry-run; then
        cat "$T/out"
        fail "--access-id --dry-run was accepted"
    fi
    assert_contains "$T/out" "error: --access-id needs a value, got the option --dry-run" "missing value"
    snapshot "$R" > "$T/novalue.after"
    [ -z "$(snapshot_diff "$T/novalue.before" "$T/novalue.after")" ] || fail "it changed the host"
    deploy_ok "$R" dash --dry-run --access-id=-AK-with-a-dash --customer-url https://customer.example/api
    assert_contains "$T/out" "dry run" "--option=VALUE"
    ok "a flag followed by another flag is an error and changes nothing; --access-id=-X is a value"
}

# A hosts file is data: its lines reach neither a shell, sed, nor ssh's options.
hosts_lines_are_only_host_names() {
    export FAKE_HOSTS="$T/hosts"
    mkdir -p "$T/bin" "$FAKE_HOSTS" "$T/cwd"
    cp "$TOP/tests/packaging/fakes/ssh" "$T/bin/ssh"
    for bad in ';touch${IFS}pwned;#|e;#' '-oProxyCommand=touch${IFS}pwned' 'alpha beta'; do
        printf 'gamma\n%s\n' "$bad" > "$T/bad-hosts.txt"
        # shellcheck disable=SC2086 # flags is a list of words
        if (cd "$T/cwd" && PATH="$T/bin:$PATH" sh "$DEPLOY_SH" --hosts "$T/bad-hosts.txt" --dist "$T/dist" $flags) > "$T/out" 2>&1; then
            cat "$T/out"
            fail "hosts line $bad was accepted"
        fi
        [ ! -e "$T/cwd/pwned" ] || fail "hosts line $bad ran a command on the control machine"
        assert_contains "$T/out" "bad-hosts.txt line 2: " "the bad line is named"
        [ ! -s "$FAKE_HOSTS/ssh.log" ] || { cat "$FAKE_HOSTS/ssh.log"; fail "a host was contacted despite line $bad"; }
    done
    # A good host goes to ssh after `--`.
    make_bullseye "$FAKE_HOSTS/alpha"
    fake_systemd "$FAKE_HOSTS/alpha"
    printf 'alpha # the first rack\n' > "$T/good-hosts.txt"
    # shellcheck disable=SC2086
    PATH="$T/bin:$PATH" sh "$DEPLOY_SH" --hosts "$T/good-hosts.txt" --dist "$T/dist" $flags > "$T/out" 2>&1 ||
        { cat "$T/out"; fail "a good hosts file"; }
    grep -q -- '-- alpha ' "$FAKE_HOSTS/ssh.log" || { cat "$FAKE_HOSTS/ssh.log"; fail "ssh got the host without --"; }
    ok "hosts lines with a command, an ssh option or two hosts are refused before any ssh; a host follows --"
}

# The reverse (a package install rerun with another method) was already refused.
systemd_install_stays_a_binary_install() {
    R=$T/method
    deploy_root "$R"
    fake_systemd "$R"
    # shellcheck disable=SC2086
    deploy_ok "$R" dash --method systemd $CUSTOMER_FLAGS
    # shellcheck disable=SC2086
    deploy_in "$R" busybox $CUSTOMER_FLAGS || { cat "$T/out"; fail "rerun without --method"; }
    assert_contains "$T/out" "installing with: systemd" "rerun keeps the method"
    if chroot "$R" dpkg-query -W pushagent > /dev/null 2>&1; then cat "$T/out"; fail "rerun installed the package"; fi
    # shellcheck disable=SC2086
    if deploy_in "$R" dash --method package $CUSTOMER_FLAGS; then cat "$T/out"; fail "--method package over a binary install"; fi
    assert_contains "$T/out" "installed as a binary with a systemd service (--method systemd)" "refusal"
    if chroot "$R" dpkg-query -W pushagent > /dev/null 2>&1; then fail "--method package installed the package"; fi
    ok "a --method systemd install rerun without --method stays one; --method package over it is refused"
}

# A login without sbin in PATH (a plain user's, sudo's, an ops platform's ssh session).
path_without_sbin() {
    R=$T/path
    deploy_root "$R"
    fake_systemd "$R"
    # shellcheck disable=SC2086
    chroot "$R" env PATH=/usr/bin:/bin dash /opt/deploy/deploy.sh --dist /opt/deploy/dist --method systemd \
        $CUSTOMER_FLAGS > "$T/out" 2>&1 || { cat "$T/out"; fail "PATH=/usr/bin:/bin"; }
    chroot "$R" getent passwd pushagent > /dev/null || fail "no pushagent user (useradd is in /usr/sbin)"
    [ -f "$R/standin/pushagent.service.active" ] || fail "not started"
    ok "PATH=/usr/bin:/bin: useradd and the rest are found, the agent is installed and started"
}

downgrade_needs_a_flag() {
    R=$T/downgrade
    deploy_root "$R"
    fake_systemd "$R"
    mkdir -p "$R/opt/deploy/dist2" && cp "$T"/dist2/*.deb "$R/opt/deploy/dist2/"
    v1=$(dpkg-deb -f "$DIST"/pushagent_*_amd64.deb Version)
    v2=$(dpkg-deb -f "$DIST2"/pushagent_*_amd64.deb Version)
    # shellcheck disable=SC2086
    deploy_ok "$R" dash --dist /opt/deploy/dist2 $CUSTOMER_FLAGS
    if deploy_in "$R" dash --upgrade; then cat "$T/out"; fail "downgraded $v2 -> $v1 without --allow-downgrade"; fi
    assert_contains "$T/out" "has pushagent $v1, older than the installed $v2: a downgrade needs --allow-downgrade" "refusal"
    [ "$(chroot "$R" dpkg-query -W -f='${Version}' pushagent)" = "$v2" ] || fail "the version changed"
    deploy_ok "$R" dash --upgrade --allow-downgrade
    [ "$(chroot "$R" dpkg-query -W -f='${Version}' pushagent)" = "$v1" ] || fail "not downgraded with --allow-downgrade"
    ok "--upgrade to an older package is refused; --allow-downgrade installs it"
}

run_cases flag_missing_its_value hosts_lines_are_only_host_names systemd_install_stays_a_binary_install \
    path_without_sbin downgrade_needs_a_flag
