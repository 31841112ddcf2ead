#!/bin/sh
# The .rpm files, read with Debian's rpm tools: files and their modes, config files kept on
# upgrade (%config(noreplace)), honest requirements (glibc 2.17 at most), the unit, scripts.
# shellcheck source=tests/packaging/lib.sh
. "$(dirname "$0")/lib.sh"
agent=$(ls "$DIST"/pushagent-[0-9]*.x86_64.rpm)
config=$(ls "$DIST"/pushagent-config-[0-9]*.x86_64.rpm)

rpm -qp --qf '[%{FILEMODES:perms} %{FILEUSERNAME}:%{FILEGROUPNAME} %{FILEFLAGS:fflags} %{FILENAMES}\n]' "$agent" > "$T/files"
cat "$T/files"
assert_contains "$T/files" "-rwxr-xr-x root:root  /usr/bin/pushagent" "agent binary"
assert_contains "$T/files" "-rw-r--r-- root:root  /usr/lib/systemd/system/pushagent.service" "agent unit"
assert_contains "$T/files" "-rw-r----- root:pushagent cn /etc/pushagent/agent.toml" "agent.toml as %config(noreplace)"
assert_contains "$T/files" "drwxr-x--- pushagent:pushagent  /var/lib/pushagent" "data directory"
ok "agent rpm files (rpm -qpl with modes and flags)"

rpm -qpR "$agent" > "$T/requires"
assert_contains "$T/requires" "glibc >= 2.17" "Requires"
assert_contains "$T/requires" "shadow-utils" "Requires(pre) for useradd"
if grep -E 'GLIBC_2\.(1[89]|[2-9][0-9])' "$T/requires"; then fail "requires a glibc symbol newer than 2.17"; fi
ok "agent rpm requires: glibc >= 2.17, newest symbol $(grep -o 'GLIBC_[0-9.]*' "$T/requires" | sort -V | tail -n 1)"

rpm -qp --scripts "$agent" > "$T/scripts"
for phase in preinstall postinstall preuninstall postuninstall; do
    assert_contains "$T/scripts" "$phase scriptlet" "scriptlets"
done
assert_contains "$T/scripts" "phase=rpm-pre" "%pre creates the user"
assert_contains "$T/scripts" "useradd --system" "%pre creates the user"
ok "agent rpm scriptlets (rpm -qp --scripts)"

# The unit, extracted from the payload.
mkdir "$T/x"
rpm2archive - < "$agent" | tar -xzf - -C "$T/x"
unit=$T/x/usr/lib/systemd/system/pushagent.service
assert_contains "$unit" "ExecStart=/usr/bin/pushagent --config /etc/pushagent/agent.toml run" "unit"
assert_contains "$unit" "Restart=always" "unit"
assert_contains "$unit" "User=pushagent" "unit"
assert_contains "$unit" "NoNewPrivileges=yes" "unit"
if grep -q "^StateDirectory" "$unit"; then fail "unit: systemd 219 has no StateDirectory="; fi
"$T/x/usr/bin/pushagent" --version | grep -q '^pushagent ' || fail "the rpm's binary does not run"
# systemd's own check of the unit (this host's systemd is newer than 219: it knows every key).
if command -v systemd-analyze > /dev/null 2>&1; then
    sed "s|^ExecStart=/usr/bin/pushagent |ExecStart=$T/x/usr/bin/pushagent |" "$unit" > "$T/pushagent.service"
    systemd-analyze verify "$T/pushagent.service" > "$T/verify" 2>&1 || { cat "$T/verify"; fail "systemd-analyze verify"; }
    if [ -s "$T/verify" ]; then cat "$T/verify" && fail "systemd-analyze verify warns"; fi
fi
ok "agent rpm unit (systemd-analyze verify clean) and binary"

rpm -qpl "$config" > "$T/cfiles"
for f in /usr/bin/pushagent-config /usr/lib/systemd/system/pushagent-config.service /etc/pushagent/config.toml; do
    assert_contains "$T/cfiles" "$f" "config service rpm"
done
rpm -qp --configfiles "$config" | grep -qx /etc/pushagent/config.toml || fail "config.toml is not a config file"
rpm -qp --scripts "$config" > "$T/cscripts"
assert_contains "$T/cscripts" "autostart=never" "config service is never started by the package"
ok "config service rpm: files, config file, never started by the package"

# The rpm's scriptlets for real: rpm (Debian's) installs into a bullseye root, where useradd
# and friends exist; --nodeps because that root's rpm database knows no glibc.
R=$T/rpmroot
make_bullseye "$R"
agent2=$(ls "$DIST2"/pushagent-[0-9]*.x86_64.rpm)
rpm --root "$R" --initdb
rpm --root "$R" -i --nodeps "$agent" > "$T/rpm-i.log" 2>&1 || { cat "$T/rpm-i.log"; fail "rpm -i"; }
assert_contains "$T/rpm-i.log" "not started: /etc/pushagent/agent.toml has no customer settings" "%post rule"
chroot "$R" getent passwd pushagent > /dev/null || fail "%pre did not create the pushagent user"
[ "$(chroot "$R" stat -c '%U:%G %a' /var/lib/pushagent)" = "pushagent:pushagent 750" ] || fail "/var/lib/pushagent owner/mode"
chroot "$R" pushagent --version | grep -q '^pushagent ' || fail "pushagent --version"
sed -i '1i sample_interval_secs = 30 # edited by the operator' "$R/etc/pushagent/agent.toml"
echo ring > "$R/var/lib/pushagent/state.sqlite"
rpm --root "$R" -U --nodeps "$agent2" > "$T/rpm-u.log" 2>&1 || { cat "$T/rpm-u.log"; fail "rpm -U"; }
assert_contains "$R/etc/pushagent/agent.toml" "edited by the operator" "config after rpm -U"
rpm --root "$R" -e pushagent > "$T/rpm-e.log" 2>&1 || { cat "$T/rpm-e.log"; fail "rpm -e"; }
[ ! -e "$R/usr/bin/pushagent" ] || fail "rpm -e left the binary"
[ -f "$R/var/lib/pushagent/state.sqlite" ] || fail "rpm -e removed the data"
[ -f "$R/etc/pushagent/agent.toml.rpmsave" ] || fail "rpm -e did not save the edited config"
ok "rpm -i/-U/-e in a bullseye root: user and data dir made by the scriptlets, edited config kept, data kept"
