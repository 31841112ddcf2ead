# shellcheck shell=sh disable=SC2154 # the variables are prepended by scripts/package.sh
# Body of every maintainer script of both packages, .deb and .rpm. scripts/package.sh
# prepends "#!/bin/sh", "set -e" and these variables, then this file:
#   phase      deb-postinst | deb-prerm | deb-postrm | rpm-pre | rpm-post | rpm-preun | rpm-postun
#   unit       pushagent | pushagent-config
#   config     the unit's config file (a conffile)
#   state_dir  the unit's data directory (removed on purge)
#   autostart  "customer": start on first install when $config has customer settings; "never"
# Arguments are those of dpkg ("configure" OLD-VERSION, "purge"...) or rpm (the package count).

add_user() {
    getent passwd pushagent >/dev/null 2>&1 && return 0
    useradd --system --user-group --home-dir /var/lib/pushagent --no-create-home \
        --shell /usr/sbin/nologin --comment "PushAgent" pushagent
}

own_files() {
    install -d -o pushagent -g pushagent -m 0750 "$state_dir"
    # The config may hold the customer secret: readable by the service user, not by all.
    if [ -f "$config" ]; then
        chgrp pushagent "$config"
        chmod 0640 "$config"
    fi
}

systemd_running() { [ -d /run/systemd/system ]; }

# Left by prerm on `dpkg --remove` (the data directory stays), read by the next postinst.
removed_marker=$state_dir/.package-removed

# The postinst rule: an agent is started only when its config says where its customer
# settings come from: uncommented `base_url` and `access_id` lines, or a config service `url`
# (the [service] section of issue 4). The example config has all of them commented out.
has_customer_settings() {
    [ "$autostart" = customer ] || return 1
    { grep -Eq '^[[:space:]]*base_url[[:space:]]*=' "$config" && grep -Eq '^[[:space:]]*access_id[[:space:]]*=' "$config"; } 2>/dev/null ||
        grep -Eq '^[[:space:]]*url[[:space:]]*=' "$config" 2>/dev/null
}

first_install() {
    if [ "$autostart" = customer ] && ! has_customer_settings; then
        echo "$unit: not started: $config has no customer settings (base_url, access_id) and no config service url."
        echo "$unit: edit it, then: systemctl enable --now $unit"
        if systemd_running; then systemctl daemon-reload || true; fi
        return 0
    fi
    systemd_running || return 0
    systemctl daemon-reload || true
    if has_customer_settings; then
        systemctl enable "$unit.service" || true
        systemctl start "$unit.service" || true
    fi
}

upgrade() {
    systemd_running || return 0
    systemctl daemon-reload || true
    systemctl try-restart "$unit.service" || true
}

stop_unit() {
    systemd_running || return 0
    systemctl stop "$unit.service" || true
    systemctl disable "$unit.service" >/dev/null 2>&1 || true
}

case "$phase" in
deb-postinst)
    if [ "$1" = configure ]; then
        add_user
        own_files
        # Reinstalled after `dpkg --remove` (its conffiles kept), dpkg passes the removed
        # version as if this were an upgrade; but remove disabled the unit: start it again
        # like a first install when the config allows it.
        if [ -z "${2:-}" ] || [ -e "$removed_marker" ]; then
            rm -f "$removed_marker"
            first_install
        else
            upgrade
        fi
    fi
    ;;
deb-prerm)
    if [ "$1" = remove ]; then
        stop_unit
        if [ -d "$state_dir" ]; then : > "$removed_marker"; fi
    fi
    ;;
deb-postrm)
    if [ "$1" = remove ] || [ "$1" = purge ]; then
        if systemd_running; then systemctl daemon-reload || true; fi
    fi
    if [ "$1" = purge ]; then
        # scripts/deploy.sh --uninstall purges the package but keeps the data.
        if [ "${PUSHAGENT_KEEP_DATA:-0}" = 1 ]; then
            echo "$unit: keeping $state_dir (PUSHAGENT_KEEP_DATA=1)"
        else
            rm -rf "$state_dir"
        fi
        rmdir /etc/pushagent 2>/dev/null || true
    fi
    ;;
rpm-pre)
    add_user
    ;;
rpm-post)
    own_files
    if [ "$1" -eq 1 ]; then first_install; fi
    ;;
rpm-preun)
    if [ "$1" -eq 0 ]; then stop_unit; fi
    ;;
rpm-postun)
    if [ "$1" -ge 1 ]; then upgrade; elif systemd_running; then systemctl daemon-reload || true; fi
    ;;
esac
exit 0
