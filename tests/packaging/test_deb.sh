#!/bin/sh
# The .deb in a Debian bullseye root: it installs, the glibc-2.17 binary runs there, an edited
# config survives an upgrade, remove keeps the data and purge removes it; lintian finds
# neither an error nor a warning.
# shellcheck disable=SC2016 # ${...} are dpkg-query fields
# shellcheck source=tests/packaging/lib.sh
. "$(dirname "$0")/lib.sh"
R=$T/bullseye
make_bullseye "$R"
cp "$DIST"/pushagent_*_amd64.deb "$DIST"/pushagent-config_*_amd64.deb "$DIST2"/pushagent_*_amd64.deb "$R/tmp/"
v1=$(dpkg-deb -f "$DIST"/pushagent_*_amd64.deb Version)
v2=$(dpkg-deb -f "$DIST2"/pushagent_*_amd64.deb Version)
in_chroot() { chroot "$R" "$@"; }

command -v lintian > /dev/null 2>&1 || fail "lintian is missing (sh scripts/setup.sh)"
lintian --fail-on error,warning "$DIST"/pushagent_*_amd64.deb "$DIST"/pushagent-config_*_amd64.deb > "$T/lintian.log" 2>&1 ||
    { cat "$T/lintian.log"; fail "lintian found errors or warnings"; }
dpkg-deb -c "$DIST"/pushagent_*_amd64.deb > "$T/contents"
assert_contains "$T/contents" "./usr/share/doc/pushagent/copyright" "copyright file"
assert_contains "$T/contents" "./usr/share/doc/pushagent/changelog.Debian.gz" "changelog"
ok "lintian: no error and no warning on both .debs (copyright, changelog; overrides each with a reason)"

in_chroot dpkg -i "/tmp/pushagent_${v1}_amd64.deb" > "$T/install.log" 2>&1 || { cat "$T/install.log"; fail "dpkg -i"; }
assert_contains "$T/install.log" "not started: /etc/pushagent/agent.toml has no customer settings" "postinst rule"
in_chroot pushagent --version > "$T/version"
assert_contains "$T/version" "pushagent 0.1.0" "pushagent --version in bullseye (glibc 2.31)"
ok "dpkg -i $v1 in bullseye; $(cat "$T/version") runs; postinst does not start it without customer settings"

in_chroot getent passwd pushagent | grep -q ':/var/lib/pushagent:/usr/sbin/nologin$' || fail "no pushagent system user"
[ "$(in_chroot stat -c '%U:%G %a' /var/lib/pushagent)" = "pushagent:pushagent 750" ] || fail "/var/lib/pushagent owner/mode"
[ "$(in_chroot stat -c '%U:%G %a' /etc/pushagent/agent.toml)" = "root:pushagent 640" ] || fail "agent.toml owner/mode"
in_chroot dpkg-query -W -f='${Conffiles}\n' pushagent | grep -q /etc/pushagent/agent.toml || fail "agent.toml is not a conffile"
in_chroot dpkg-query -W -f='${Depends}\n' pushagent | grep -qF 'libc6 (>= 2.17)' || fail "Depends: libc6 (>= 2.17)"
ok "pushagent user, /var/lib/pushagent pushagent:pushagent 750, agent.toml root:pushagent 640 conffile, Depends libc6 (>= 2.17)"

# The operator edits the config and the agent has data; then the upgrade.
sed -i '1i sample_interval_secs = 30 # edited by the operator' "$R/etc/pushagent/agent.toml"
echo "ring" > "$R/var/lib/pushagent/state.sqlite"
in_chroot dpkg -i "/tmp/pushagent_${v2}_amd64.deb" > "$T/upgrade.log" 2>&1 || { cat "$T/upgrade.log"; fail "upgrade"; }
[ "$(in_chroot dpkg-query -W -f='${Version}' pushagent)" = "$v2" ] || fail "not upgraded to $v2"
assert_contains "$R/etc/pushagent/agent.toml" "edited by the operator" "config after upgrade"
[ -f "$R/var/lib/pushagent/state.sqlite" ] || fail "upgrade lost the data"
ok "upgrade $v1 -> $v2 keeps the edited agent.toml and the data"

in_chroot dpkg -i "/tmp/pushagent-config_${v1}_amd64.deb" > "$T/cs.log" 2>&1 || { cat "$T/cs.log"; fail "dpkg -i pushagent-config"; }
[ -f "$R/lib/systemd/system/pushagent-config.service" ] || fail "config service unit"
in_chroot dpkg-query -W -f='${Conffiles}\n' pushagent-config | grep -q /etc/pushagent/config.toml || fail "config.toml conffile"
# The service binary must load under bullseye's glibc and print its version.
in_chroot pushagent-config --version > "$T/cs.out" 2>&1 || fail "pushagent-config --version in bullseye"
assert_contains "$T/cs.out" "pushagent-config 0." "pushagent-config runs in bullseye"
ok "pushagent-config installs beside it (unit, conffile) and runs: $(head -n 1 "$T/cs.out")"

in_chroot dpkg --remove pushagent > "$T/remove.log" 2>&1 || { cat "$T/remove.log"; fail "dpkg --remove"; }
[ -f "$R/var/lib/pushagent/state.sqlite" ] || fail "remove deleted the data"
[ ! -e "$R/usr/bin/pushagent" ] || fail "remove left the binary"
in_chroot dpkg --purge pushagent > "$T/purge.log" 2>&1 || { cat "$T/purge.log"; fail "dpkg --purge"; }
[ ! -e "$R/var/lib/pushagent" ] || fail "purge left /var/lib/pushagent"
[ ! -e "$R/etc/pushagent/agent.toml" ] || fail "purge left agent.toml"
[ -f "$R/etc/pushagent/config.toml" ] || fail "purging the agent removed the config service's config"
ok "remove keeps /var/lib/pushagent; purge removes it and agent.toml"
