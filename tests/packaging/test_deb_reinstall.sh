#!/bin/sh
# `dpkg --remove` then `dpkg -i` of the .deb on a host whose kept agent.toml is usable: the
# agent is enabled and started again (dpkg calls that postinst like an upgrade, with the
# removed version; the unit was disabled by the remove). A real upgrade of an agent the
# operator disabled still leaves it disabled.
# shellcheck source=tests/packaging/lib.sh
. "$(dirname "$0")/lib.sh"
R=$T/reinstall
make_bullseye "$R"
fake_systemd "$R"
cp "$DIST"/pushagent_*_amd64.deb "$DIST2"/pushagent_*_amd64.deb "$R/tmp/"
v1=$(dpkg-deb -f "$DIST"/pushagent_*_amd64.deb Version)
v2=$(dpkg-deb -f "$DIST2"/pushagent_*_amd64.deb Version)
in_chroot() { chroot "$R" env PATH="$CHROOT_PATH" "$@"; }
state() {
    printf '%s %s\n' "$([ -f "$R/standin/pushagent.service.enabled" ] && echo enabled || echo disabled)" \
        "$([ -f "$R/standin/pushagent.service.active" ] && echo active || echo inactive)"
}

in_chroot dpkg -i "/tmp/pushagent_${v1}_amd64.deb" > "$T/log" 2>&1 || { cat "$T/log"; fail "dpkg -i"; }
[ "$(state)" = "disabled inactive" ] || fail "started without customer settings: $(state)"
printf 'base_url = "https://customer.example/api"\naccess_id = "AK-test"\n' > "$T/usable"
sed -i "/^\[customer\]/r $T/usable" "$R/etc/pushagent/agent.toml"
in_chroot systemctl enable pushagent.service && in_chroot systemctl start pushagent.service
in_chroot dpkg --remove pushagent > "$T/log" 2>&1 || { cat "$T/log"; fail "dpkg --remove"; }
[ "$(state)" = "disabled inactive" ] || fail "remove left the unit $(state)"
in_chroot dpkg -i "/tmp/pushagent_${v1}_amd64.deb" > "$T/log" 2>&1 || { cat "$T/log"; fail "dpkg -i again"; }
[ "$(state)" = "enabled active" ] || { cat "$T/log"; fail "after remove + reinstall the agent is $(state)"; }
ok "remove + reinstall with the kept, usable agent.toml: enabled and started again"

in_chroot systemctl stop pushagent.service && in_chroot systemctl disable pushagent.service
in_chroot dpkg -i "/tmp/pushagent_${v2}_amd64.deb" > "$T/log" 2>&1 || { cat "$T/log"; fail "upgrade"; }
[ "$(state)" = "disabled inactive" ] || fail "the upgrade enabled an agent the operator had disabled: $(state)"
ok "an upgrade leaves an agent the operator disabled as it was"
