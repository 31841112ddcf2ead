#!/bin/sh
# Installs, upgrades or removes the PushAgent agent on this host (or on many hosts over ssh).
# POSIX sh: runs under dash and busybox sh; `shellcheck -s sh` clean. See docs/operations.md.
usage() {
    cat <<'EOF'
usage: deploy.sh [options]
  Install (default), upgrade or uninstall the PushAgent agent on this host. As root.

  --service-url URL      config service URL      } agent.toml [service] when the agent
  --enroll-token TOKEN   enrollment token        } has that section, else enroll.toml
  --interface NAME       collect this interface instead of the detected one
  --customer-url URL     the customer's API base URL    } written to
  --access-id ID         the customer's access id       } /etc/pushagent/agent.toml;
  --secret-file FILE     file holding the customer's secret (copied, mode 0640)
  --provider-id ID       our provider id at the customer }
  --provider-uiid UIID   our provider uiid at the customer }
  --ops-host-id ID       the host's id in the ops platform        } agent.toml
  --host-name NAME       its host name there (主机名称)           } [identity];
  --management-ip IP     the address the platform reaches it by   } default: Spug's
  --node NODE            its node (节点名称, the host group)       } variables, below
  --upgrade              replace the installed agent by the one in --dist; keeps the config
  --allow-downgrade      with --upgrade: also install an older version than the installed one
  --uninstall            remove the agent and its config; keeps /var/lib/pushagent
  --dry-run              say what would change, change nothing
  --dist DIR             packages and binary from scripts/package.sh (default: dist/
                         beside this script, else ../dist)
  --method M             auto (default), package, systemd (binary + unit) or sysv
  --root DIR             act on the system installed under DIR (commands run via chroot)
  --hosts FILE           run on every host of FILE (one per line, [user@]host: letters,
                         digits and . - _ : [ ] @; `#` starts a comment) over ssh, in
                         parallel; prints a summary; exits 1 if any host failed
  --jobs N               hosts at a time with --hosts (default 10)
  --sudo                 with --hosts: run the remote script with `sudo -n`
  -h, --help             this text

Every option taking a value may be written --option=VALUE (needed for a value that starts
with '-'); an option followed by another option instead of its value is an error.

Run by the ops platform (a Spug template, packaging/spug/): SPUG_HOST_ID, SPUG_HOST_NAME and
SPUG_HOST_HOSTNAME (an IP, or a name resolved here) give --ops-host-id, --host-name and
--management-ip, and _SPUG_node gives --node, when those options are not given.
PUSHAGENT_ENROLL_TOKEN gives --enroll-token (keeps the token off the command line).

agent.toml is written only when one of --interface, --customer-url, --access-id,
--secret-file, --provider-id, --provider-uiid, the [identity] values (or, for an agent with
a [service] section, --service-url, --enroll-token) is given. The agent is started only when
its config has customer settings (base_url and access_id) or a config service url. A second
identical run changes nothing.
EOF
}
set -eu
# sbin directories may be missing from PATH (a non-root login, sudo, an ops platform's ssh):
# useradd, chroot, update-rc.d live there.
for dir in /usr/local/sbin /usr/sbin /sbin; do
    case ":$PATH:" in *":$dir:"*) ;; *) PATH=$PATH:$dir ;; esac
done
export PATH

say() { printf 'deploy: %s\n' "$*"; }
warn() { printf 'deploy: warning: %s\n' "$*" >&2; }
die() {
    printf 'deploy: error: %s\n' "$*" >&2
    exit 1
}

# ---- options ---------------------------------------------------------------------------
action=install method=auto dry_run=0 root="" dist="" hosts_file="" jobs=10 sudo=""
service_url="" interface="" customer_url="" access_id="" secret_file=""
provider_id="" provider_uiid="" allow_downgrade=0
enroll_token=${PUSHAGENT_ENROLL_TOKEN:-}
# The ops platform's names for this host (Spug's batch-execution variables); options win.
ops_host_id=${SPUG_HOST_ID:-} host_name=${SPUG_HOST_NAME:-} management_host=${SPUG_HOST_HOSTNAME:-}
node=${_SPUG_node:-}
identity_flags="" # identity options given (refused with --hosts: each host has its own)
forward=""        # the options passed on to each host with --hosts

# 'it'\''s' quoting, for a command line that a remote shell reads.
quote() { printf "'%s'" "$(printf '%s' "$1" | sed "s/'/'\\\\''/g")"; }
keep() { forward="$forward $(quote "$1")${2+ $(quote "$2")}"; }

while [ $# -gt 0 ]; do
    opt=$1
    explicit=0 # the value came as --option=VALUE: it may start with '-'
    case "$opt" in
    --*=*)
        shift
        set -- "${opt%%=*}" "${opt#*=}" "$@"
        opt=$1 explicit=1
        ;;
    esac
    case "$opt" in
    -h | --help)
        usage
        exit 0
        ;;
    --upgrade | --uninstall | --dry-run | --sudo | --allow-downgrade)
        [ "$explicit" = 0 ] || die "$opt takes no value"
        ;;
    --service-url | --enroll-token | --interface | --customer-url | --access-id | --secret-file | \
        --provider-id | --provider-uiid | --method | --root | --dist | --hosts | --jobs | \
        --ops-host-id | --host-name | --management-ip | --node)
        [ $# -ge 2 ] || die "$opt needs a value"
        if [ "$explicit" = 0 ]; then
            case "$2" in
            '') die "$opt needs a value, got an empty one" ;;
            -*) die "$opt needs a value, got the option $2 (write $opt=VALUE for a value that starts with '-')" ;;
            esac
        fi
        ;;
    *) die "unknown option: $opt (see --help)" ;;
    esac
    case "$opt" in
    --upgrade) action=upgrade && keep "$opt" ;;
    --uninstall) action=uninstall && keep "$opt" ;;
    --dry-run) dry_run=1 && keep "$opt" ;;
    --allow-downgrade) allow_downgrade=1 && keep "$opt" ;;
    --sudo) sudo="sudo -n " ;;
    --service-url) service_url=$2 && keep "$opt" "$2" ;;
    --enroll-token) enroll_token=$2 && keep "$opt" "$2" ;;
    --interface) interface=$2 && keep "$opt" "$2" ;;
    --customer-url) customer_url=$2 && keep "$opt" "$2" ;;
    --access-id) access_id=$2 && keep "$opt" "$2" ;;
    --secret-file) secret_file=$2 ;; # shipped in the bundle with --hosts
    --provider-id) provider_id=$2 && keep "$opt" "$2" ;;
    --provider-uiid) provider_uiid=$2 && keep "$opt" "$2" ;;
    --ops-host-id) ops_host_id=$2 identity_flags="$identity_flags $opt" ;;
    --host-name) host_name=$2 identity_flags="$identity_flags $opt" ;;
    --management-ip) management_host=$2 identity_flags="$identity_flags $opt" ;;
    --node) node=$2 && keep "$opt" "$2" ;;
    --method) method=$2 && keep "$opt" "$2" ;;
    --root) root=$2 && keep "$opt" "$2" ;;
    --dist) dist=$2 ;;
    --hosts) hosts_file=$2 ;;
    --jobs) jobs=$2 ;;
    esac
    case "$opt" in --upgrade | --uninstall | --dry-run | --sudo | --allow-downgrade) shift ;; *) shift 2 ;; esac
done

case "$method" in auto | package | systemd | sysv) ;; *) die "--method must be auto, package, systemd or sysv" ;; esac
case "$jobs" in '' | *[!0-9]* | 0) die "--jobs must be a positive number" ;; esac
[ -z "$root" ] || [ -d "$root" ] || die "--root $root is not a directory"
root=${root%/}
# Default: dist/ beside the script (a copied bundle), else the repository's dist/.
if [ -z "$dist" ]; then
    here=$(cd "$(dirname "$0")" && pwd)
    if [ -d "$here/dist" ]; then dist=$here/dist; else dist=$here/../dist; fi
fi
nl='
'
tab=$(printf '\t')
for value in "$service_url" "$interface" "$customer_url" "$access_id" "$provider_id" "$provider_uiid" \
    "$ops_host_id" "$host_name" "$management_host" "$node"; do
    case "$value" in *\"* | *\\* | *"$nl"* | *"$tab"*) die "a value may not contain a quote, a backslash, a tab or a newline: $value" ;; esac
done
case "$enroll_token" in *\"* | *\\* | *"$nl"* | *"$tab"*) die "the enrollment token may not contain a quote, a backslash, a tab or a newline" ;; esac
if [ -n "$hosts_file" ] && [ -n "$identity_flags" ]; then
    die "with --hosts each host has its own identity:$identity_flags can only be given for one host"
fi
[ "$allow_downgrade" = 0 ] || [ "$action" = upgrade ] || die "--allow-downgrade goes with --upgrade"

if [ -n "$secret_file" ] && [ ! -r "$secret_file" ]; then die "cannot read --secret-file $secret_file"; fi

# ---- many hosts over ssh -----------------------------------------------------------------
# The hosts of FILE, one per line, checked before any is contacted: a host name reaches ssh
# (after `--`, so never as an option) and the log prefix, never a shell or sed.
read_hosts() {
    lineno=0
    while IFS= read -r line || [ -n "$line" ]; do
        lineno=$((lineno + 1))
        line=${line%%#*}
        set -f
        # shellcheck disable=SC2086 # split the line into words
        set -- $line
        set +f
        [ $# -gt 0 ] || continue
        [ $# -eq 1 ] || die "--hosts $hosts_file line $lineno: one host per line, got $# words: $line"
        case "$1" in
        -*) die "--hosts $hosts_file line $lineno: a host may not start with '-': $1" ;;
        *[!]A-Za-z0-9.:@_[-]*) die "--hosts $hosts_file line $lineno: $1 is not [user@]host (letters, digits and . - _ : [ ] @)" ;;
        esac
        printf '%s\n' "$1"
    done < "$hosts_file"
}

deploy_hosts() {
    [ -r "$hosts_file" ] || die "cannot read --hosts $hosts_file"
    hosts=$(read_hosts) || exit 1
    [ -n "$hosts" ] || die "no host in $hosts_file"
    work=$(mktemp -d)
    trap 'rm -rf "$work"' EXIT
    mkdir "$work/bundle"
    cp "$0" "$work/bundle/deploy.sh"
    for f in "$dist"/pushagent_*_amd64.deb "$dist"/pushagent-[0-9]*.x86_64.rpm "$dist"/pushagent \
        "$dist"/pushagent.service "$dist"/pushagent.init "$dist"/agent.toml; do
        if [ -f "$f" ]; then cp "$f" "$work/bundle/"; fi
    done
    remote=/tmp/pushagent-deploy.$$
    extra=""
    if [ -n "$secret_file" ]; then
        cp "$secret_file" "$work/bundle/customer.secret"
        extra=" --secret-file $remote/customer.secret"
    fi
    cmd="rm -rf $remote && mkdir -p $remote && tar -xf - -C $remote && ${sudo}sh $remote/deploy.sh --dist $remote$extra$forward; rc=\$?; rm -rf $remote; exit \$rc"

    n=0
    set -f # names like [::1] are no globs
    for host in $hosts; do
        n=$((n + 1))
        printf '%s\n' "$host" > "$work/$n.host"
        (
            set +e
            tar -cf - -C "$work/bundle" . | ssh -o BatchMode=yes -o ConnectTimeout=10 -- "$host" "$cmd" > "$work/$n.log" 2>&1
            echo $? > "$work/$n.rc"
        ) < /dev/null &
        if [ $((n % jobs)) -eq 0 ]; then wait; fi
    done
    set +f
    wait

    failed=0 i=1
    while [ $i -le "$n" ]; do
        host=$(cat "$work/$i.host")
        while IFS= read -r line || [ -n "$line" ]; do printf '[%s] %s\n' "$host" "$line"; done < "$work/$i.log"
        i=$((i + 1))
    done
    echo "== summary"
    i=1
    while [ $i -le "$n" ]; do
        host=$(cat "$work/$i.host")
        rc=$(cat "$work/$i.rc")
        if [ "$rc" = 0 ]; then
            printf '%-30s ok: %s\n' "$host" "$(tail -n 1 "$work/$i.log")"
        else
            failed=$((failed + 1))
            printf '%-30s FAILED (exit %s): %s\n' "$host" "$rc" "$(tail -n 1 "$work/$i.log")"
        fi
        i=$((i + 1))
    done
    echo "$((n - failed)) of $n hosts ok"
    [ "$failed" -eq 0 ]
}

if [ -n "$hosts_file" ]; then
    deploy_hosts
    exit $?
fi

# ---- this host: primitives ---------------------------------------------------------------
# The agent's config has a [service] section (issue 4) when the example shipped with it does;
# before that, the config service URL and token go to enroll.toml for later.
service_in_agent=0
if grep -q '^\[service\]' "$dist/agent.toml" 2>/dev/null; then service_in_agent=1; fi
agent_flags=$interface$customer_url$access_id$secret_file$provider_id$provider_uiid
if [ "$service_in_agent" = 1 ]; then agent_flags=$agent_flags$service_url$enroll_token; fi
agent_flags=$agent_flags$ops_host_id$host_name$management_host$node
changes=0   # what this run changed (or would change, with --dry-run)
restart=0   # something the running agent reads changed
R=$root     # prefix of every path we touch

# A command of the target system (under --root: run in it with chroot).
in_root() { if [ -n "$root" ]; then chroot "$root" "$@"; else "$@"; fi; }
has() { in_root sh -c "command -v $1" >/dev/null 2>&1; }
# A change: said, counted, and done unless --dry-run.
change() {
    changes=$((changes + 1))
    say "$1"
    shift
    if [ "$dry_run" = 0 ]; then "$@"; fi
}

# Installs SOURCE as PATH (under the root) with MODE and GROUP when its content differs;
# sets `changed` to 1 when it did (or would, with --dry-run).
put_file() {
    changed=0
    if [ -f "$R$2" ] && cmp -s "$1" "$R$2"; then return 0; fi
    changed=1
    change "write $2" write_file "$1" "$2" "$3" "$4"
}
write_file() {
    if ! { mkdir -p "$(dirname "$R$2")" && cp "$1" "$R$2.deploy-new" && chmod "$3" "$R$2.deploy-new" &&
        in_root chgrp "$4" "$2.deploy-new" && mv -f "$R$2.deploy-new" "$R$2"; }; then
        die "cannot write $R$2"
    fi
}
remove() {
    if [ -e "$R$1" ] || [ -L "$R$1" ]; then change "remove $1" rm -rf "$R$1"; fi
}

# ---- checks ------------------------------------------------------------------------------
if [ "$(id -u)" != 0 ]; then
    if [ "$dry_run" = 1 ]; then warn "not root: a real run needs root"; else die "must run as root (try sudo)"; fi
fi
arch=$(uname -m)
case "$arch" in x86_64 | amd64) ;; *) die "unsupported architecture $arch: the agent is built for x86_64 only" ;; esac

if [ -d "$R/run/systemd/system" ] && has systemctl; then
    init=systemd
elif [ -d "$R/etc/init.d" ]; then
    init=sysv
else
    die "no systemd (no ${R}/run/systemd/system) and no ${R}/etc/init.d: cannot run the agent as a service here"
fi
[ "$method" != systemd ] || [ "$init" = systemd ] || die "--method systemd: systemd is not running here"

if [ -n "$service_url" ] && [ "$action" != uninstall ]; then
    if command -v curl >/dev/null 2>&1; then
        curl -sS -o /dev/null --max-time 5 "$service_url" 2>/dev/null || reach=no
    elif command -v wget >/dev/null 2>&1; then
        wget -q -T 5 -O /dev/null "$service_url" 2>/dev/null || reach=no
    else
        reach=unknown
    fi
    case "${reach:-yes}" in
    no) warn "config service $service_url is unreachable from here; installing anyway" ;;
    unknown) warn "no curl or wget: cannot check that $service_url is reachable" ;;
    esac
fi

# ---- identity ----------------------------------------------------------------------------
# An IPv4 or IPv6 literal, roughly: the agent checks it exactly (and refuses a bad one).
looks_like_ip() {
    case "$1" in
    *:*) case "$1" in *[!0-9A-Fa-f:.]*) return 1 ;; *) return 0 ;; esac ;;
    *[!0-9.]*) return 1 ;;
    *.*.*.*) return 0 ;;
    *) return 1 ;;
    esac
}
# The management IP: an address as it is; a name (Spug may reach a host by DNS name) resolved
# on this host; none when it does not resolve (the agent then uses the default route).
management_ip=""
if [ -n "$management_host" ] && [ "$action" != uninstall ]; then
    if looks_like_ip "$management_host"; then
        management_ip=$management_host
    elif [ "${identity_flags#*--management-ip}" != "$identity_flags" ]; then
        die "--management-ip $management_host is not an IP address"
    else
        management_ip=$(in_root getent ahosts "$management_host" 2>/dev/null | awk 'NR == 1 { print $1 }') || true
        if [ -n "$management_ip" ]; then
            say "management address $management_host is $management_ip"
        else
            warn "cannot resolve $management_host (SPUG_HOST_HOSTNAME): no [identity] management_ip, the agent uses the default route"
        fi
    fi
fi

# ---- what is installed -------------------------------------------------------------------
# shellcheck disable=SC2016 # ${...} are dpkg-query's fields
deb_installed() { in_root dpkg-query -W -f='${db:Status-Abbrev} ${Version}\n' pushagent 2>/dev/null | sed -n 's/^ii  *//p'; }
rpm_installed() { in_root rpm -q --qf '%{VERSION}-%{RELEASE}\n' pushagent 2>/dev/null | grep -v 'not installed' || true; }
installed_by=""
if has dpkg-query && [ -n "$(deb_installed)" ]; then
    installed_by=deb
elif has rpm && [ -n "$(rpm_installed)" ]; then
    installed_by=rpm
elif [ -f "$R/usr/bin/pushagent" ]; then
    installed_by=binary
fi

# ---- the service -------------------------------------------------------------------------
# Customer settings, or a config service that provides them (the packages' rule too).
has_upstream_settings() {
    # A dry run writes no config: judge by the flags that would be written.
    if [ "$dry_run" = 1 ]; then
        if [ -n "$customer_url" ] && [ -n "$access_id" ]; then return 0; fi
        if [ -n "$service_url" ] && [ "$service_in_agent" = 1 ]; then return 0; fi
    fi
    conf=$R/etc/pushagent/agent.toml
    { grep -Eq '^[[:space:]]*base_url[[:space:]]*=' "$conf" && grep -Eq '^[[:space:]]*access_id[[:space:]]*=' "$conf"; } 2>/dev/null ||
        grep -Eq '^[[:space:]]*url[[:space:]]*=' "$conf" 2>/dev/null
}
service_active() {
    if [ "$init" = systemd ]; then
        in_root systemctl is-active --quiet pushagent.service
    else
        [ -x "$R/etc/init.d/pushagent" ] && in_root /etc/init.d/pushagent status >/dev/null 2>&1
    fi
}
sysv_enabled() { ls "$R"/etc/rc2.d/S*pushagent >/dev/null 2>&1; }
sysv_enable() {
    if has update-rc.d; then
        in_root update-rc.d pushagent defaults
    elif has chkconfig; then
        in_root chkconfig --add pushagent
    else
        for l in 2 3 4 5; do mkdir -p "$R/etc/rc$l.d" && ln -sf ../init.d/pushagent "$R/etc/rc$l.d/S90pushagent"; done
        for l in 0 1 6; do mkdir -p "$R/etc/rc$l.d" && ln -sf ../init.d/pushagent "$R/etc/rc$l.d/K10pushagent"; done
    fi
}
sysv_disable() {
    if has update-rc.d; then
        in_root update-rc.d -f pushagent remove
    elif has chkconfig; then
        in_root chkconfig --del pushagent
    fi
    rm -f "$R"/etc/rc?.d/[SK]??pushagent
}

start_service() {
    if ! has_upstream_settings; then
        say "not starting the agent: /etc/pushagent/agent.toml has no customer settings (--customer-url, --access-id) and no config service url"
        return 0
    fi
    if [ "$init" = systemd ]; then
        if ! in_root systemctl is-enabled --quiet pushagent.service 2>/dev/null; then
            change "enable pushagent.service" in_root systemctl enable pushagent.service
        fi
        if ! service_active; then
            change "start pushagent.service" in_root systemctl start pushagent.service
        elif [ "$restart" = 1 ]; then
            change "restart pushagent.service" in_root systemctl restart pushagent.service
        fi
    else
        if ! sysv_enabled; then change "enable /etc/init.d/pushagent at boot" sysv_enable; fi
        if ! service_active; then
            change "start /etc/init.d/pushagent" in_root /etc/init.d/pushagent start
        elif [ "$restart" = 1 ]; then
            change "restart /etc/init.d/pushagent" in_root /etc/init.d/pushagent restart
        fi
    fi
}

# ---- install and upgrade -----------------------------------------------------------------
# How the binary was installed (systemd unit or SysV script), for installed_by=binary.
binary_method() {
    if [ -f "$R/etc/systemd/system/pushagent.service" ]; then echo systemd; else echo sysv; fi
}

pick_method() {
    if [ "$method" != auto ]; then
        echo "$method"
    elif [ "$installed_by" = binary ]; then
        binary_method # a rerun keeps the way it was installed
    elif [ "$init" = sysv ]; then
        echo sysv # the packages carry a systemd unit only
    elif has dpkg && ls "$dist"/pushagent_*_amd64.deb >/dev/null 2>&1; then
        echo package
    elif has rpm && ! has dpkg && ls "$dist"/pushagent-[0-9]*.x86_64.rpm >/dev/null 2>&1; then
        echo package
    else
        echo systemd
    fi
}

# True when version $1 is older than $2 (dpkg/rpm-like: numeric parts compared as numbers).
version_lt() {
    awk -v a="$1" -v b="$2" 'BEGIN {
        na = split(a, x, /[^0-9A-Za-z]+/); nb = split(b, y, /[^0-9A-Za-z]+/)
        n = na > nb ? na : nb
        for (i = 1; i <= n; i++) {
            if (x[i] == y[i]) continue
            if (x[i] ~ /^[0-9]+$/ && y[i] ~ /^[0-9]+$/) exit !(x[i] + 0 < y[i] + 0)
            exit !(x[i] < y[i])
        }
        exit 1
    }'
}
# An upgrade to an older version than the installed one only with --allow-downgrade: HAVE WANT
refuse_downgrade() {
    if [ -n "$1" ] && [ -n "$2" ] && version_lt "$2" "$1" && [ "$allow_downgrade" = 0 ]; then
        die "$dist has pushagent $2, older than the installed $1: a downgrade needs --allow-downgrade"
    fi
}

# Copies a package into the root (for chroot) and prints its path as seen from there.
stage_in_root() {
    if [ -z "$root" ]; then
        echo "$1"
        return
    fi
    mkdir -p "$root/tmp"
    cp "$1" "$root/tmp/$(basename "$1")"
    echo "/tmp/$(basename "$1")"
}

# The last existing file of a glob's expansion (the newest version, in name order).
last_of() {
    last=""
    for f in "$@"; do if [ -f "$f" ]; then last=$f; fi; done
    echo "$last"
}

install_package() {
    if has dpkg; then
        kind=deb file=$(last_of "$dist"/pushagent_*_amd64.deb)
        [ -n "$file" ] || die "no pushagent .deb in $dist (run scripts/package.sh)"
        want=$(dpkg-deb -f "$file" Version)
        have=$(deb_installed)
    else
        kind=rpm file=$(last_of "$dist"/pushagent-[0-9]*.x86_64.rpm)
        [ -n "$file" ] || die "no pushagent .rpm in $dist (run scripts/package.sh)"
        want=$(rpm -qp --qf '%{VERSION}-%{RELEASE}' "$file")
        have=$(rpm_installed)
    fi
    if [ "$have" = "$want" ]; then
        say "package pushagent $want is installed"
        return 0
    fi
    if [ -n "$have" ] && [ "$action" != upgrade ]; then
        say "pushagent $have is installed and $dist has $want: run with --upgrade to replace it"
        return 0
    fi
    refuse_downgrade "$have" "$want"

    # The package's own scripts restart a running agent on upgrade.
    change "install $(basename "$file") (${have:-not installed} -> $want)" install_package_file "$kind" "$file"
}

# --force-confold and rpm -U keep an edited config file as it is.
install_package_file() {
    path=$(stage_in_root "$2")
    if [ "$1" = deb ]; then
        in_root dpkg --force-confold -i "$path" || die "dpkg -i $2 failed"
    else
        in_root rpm -U "$path" || die "rpm -U $2 failed"
    fi
    if [ -n "$root" ]; then rm -f "$root$path"; fi
}

install_binary() {
    [ -f "$dist/pushagent" ] || die "no pushagent binary in $dist (run scripts/package.sh)"
    if ! in_root getent passwd pushagent >/dev/null 2>&1; then
        change "create system user pushagent" in_root useradd --system --user-group \
            --home-dir /var/lib/pushagent --no-create-home --shell /usr/sbin/nologin pushagent
    fi
    if [ ! -d "$R/var/lib/pushagent" ]; then
        change "create /var/lib/pushagent" in_root install -d -o pushagent -g pushagent -m 0750 /var/lib/pushagent
    fi
    if [ -f "$R/usr/bin/pushagent" ] && ! cmp -s "$dist/pushagent" "$R/usr/bin/pushagent"; then
        refuse_downgrade "$(in_root /usr/bin/pushagent --version 2>/dev/null | awk '{ print $2 }')" \
            "$("$dist/pushagent" --version 2>/dev/null | awk '{ print $2 }')"
    fi
    put_file "$dist/pushagent" /usr/bin/pushagent 0755 root
    restart=$((restart | changed))
    if [ "$1" = systemd ]; then
        put_file "$dist/pushagent.service" /etc/systemd/system/pushagent.service 0644 root
        if [ "$changed" = 1 ]; then
            restart=1
            change "systemctl daemon-reload" in_root systemctl daemon-reload
        fi
    else
        put_file "$dist/pushagent.init" /etc/init.d/pushagent 0755 root
        restart=$((restart | changed))
    fi
    # The commented example, as the packages install it, when no flag says what to write.
    if [ ! -f "$R/etc/pushagent/agent.toml" ] && [ -z "$agent_flags" ]; then
        put_file "$dist/agent.toml" /etc/pushagent/agent.toml 0640 pushagent
    fi
}

write_config() {
    tmp=$(mktemp)
    if [ -n "$agent_flags" ]; then
        {
            echo "# Written by scripts/deploy.sh; every key is explained in"
            echo "# /usr/share/doc/pushagent (packaging/agent.toml in the source)."
            if [ "$service_in_agent" = 0 ] && [ -n "$service_url$enroll_token" ]; then
                echo "# The config service URL and token are in /etc/pushagent/enroll.toml."
            fi
            if [ -n "$interface" ]; then echo "interface = \"$interface\""; fi
            echo
            echo "[customer]"
            if [ -n "$customer_url" ]; then echo "base_url = \"$customer_url\""; fi
            if [ -n "$access_id" ]; then echo "access_id = \"$access_id\""; fi
            if [ -n "$secret_file" ]; then echo 'secret_file = "/etc/pushagent/customer.secret"'; fi
            echo
            echo "[report]"
            if [ -n "$provider_id" ]; then echo "provider_id = \"$provider_id\""; fi
            if [ -n "$provider_uiid" ]; then echo "provider_uiid = \"$provider_uiid\""; fi
            if [ "$service_in_agent" = 1 ] && [ -n "$service_url$enroll_token" ]; then
                echo
                echo "[service]"
                if [ -n "$service_url" ]; then echo "url = \"$service_url\""; fi
                if [ -n "$enroll_token" ]; then echo 'enrollment_token_file = "/etc/pushagent/enroll.token"'; fi
            fi
            if [ -n "$ops_host_id$host_name$management_ip$node" ]; then
                echo
                echo "[identity]"
                if [ -n "$ops_host_id" ]; then echo "ops_host_id = \"$ops_host_id\""; fi
                if [ -n "$host_name" ]; then echo "host_name = \"$host_name\""; fi
                if [ -n "$management_ip" ]; then echo "management_ip = \"$management_ip\""; fi
                if [ -n "$node" ]; then echo "node = \"$node\""; fi
            fi
        } > "$tmp"
        put_file "$tmp" /etc/pushagent/agent.toml 0640 pushagent
        restart=$((restart | changed))
    fi
    if [ -n "$secret_file" ]; then
        put_file "$secret_file" /etc/pushagent/customer.secret 0640 pushagent
        restart=$((restart | changed))
    fi
    if [ "$service_in_agent" = 1 ] && [ -n "$enroll_token" ]; then
        printf '%s\n' "$enroll_token" > "$tmp"
        put_file "$tmp" /etc/pushagent/enroll.token 0640 pushagent
        restart=$((restart | changed))
    elif [ -n "$service_url$enroll_token" ]; then
        {
            echo "# Written by scripts/deploy.sh: where this agent enrolls with the config service."
            echo "# Not read by the agent yet: its [service] settings land with issue 4."
            echo "service_url = \"$service_url\""
            echo "enroll_token = \"$enroll_token\""
        } > "$tmp"
        put_file "$tmp" /etc/pushagent/enroll.toml 0640 pushagent
    fi
    rm -f "$tmp"
}

do_install() {
    how=$(pick_method)
    if [ "$action" = upgrade ] && [ -z "$installed_by" ]; then die "--upgrade: the agent is not installed here"; fi
    if [ -n "$installed_by" ] && [ "$installed_by" != binary ] && [ "$how" != package ]; then
        die "the agent is installed as a $installed_by package; use --method package or --uninstall first"
    fi
    if [ "$installed_by" = binary ] && [ "$how" = package ]; then
        die "the agent is installed as a binary with a $(binary_method) service (--method $(binary_method)); use --method $(binary_method) or --uninstall first"
    fi
    say "installing with: $how (init: $init)"
    case "$how" in
    package)
        [ "$init" = systemd ] || die "--method package: the packages need systemd"
        install_package
        ;;
    systemd | sysv)
        if [ "$action" = install ] && [ "$installed_by" = binary ] && [ -f "$R/usr/bin/pushagent" ] &&
            ! cmp -s "$dist/pushagent" "$R/usr/bin/pushagent"; then
            say "another pushagent binary is installed: run with --upgrade to replace it"
            return 0
        fi
        install_binary "$how"
        ;;
    esac
    write_config
    start_service
}

# ---- uninstall ---------------------------------------------------------------------------
do_uninstall() {
    case "$installed_by" in
    deb) change "dpkg --purge pushagent (keeping /var/lib/pushagent)" in_root env PUSHAGENT_KEEP_DATA=1 dpkg --purge pushagent ;;
    rpm) change "rpm -e pushagent" in_root rpm -e pushagent ;;
    binary)
        if [ -f "$R/etc/systemd/system/pushagent.service" ]; then
            if [ "$init" = systemd ]; then
                if service_active; then change "stop pushagent.service" in_root systemctl stop pushagent.service; fi
                if in_root systemctl is-enabled --quiet pushagent.service 2>/dev/null; then
                    change "disable pushagent.service" in_root systemctl disable pushagent.service
                fi
            fi
            remove /etc/systemd/system/pushagent.service
            if [ "$init" = systemd ]; then change "systemctl daemon-reload" in_root systemctl daemon-reload; fi
        fi
        if [ -f "$R/etc/init.d/pushagent" ]; then
            if in_root /etc/init.d/pushagent status >/dev/null 2>&1; then
                change "stop /etc/init.d/pushagent" in_root /etc/init.d/pushagent stop
            fi
            if ls "$R"/etc/rc?.d/[SK]??pushagent >/dev/null 2>&1; then change "disable /etc/init.d/pushagent" sysv_disable; fi
            remove /etc/init.d/pushagent
        fi
        remove /usr/bin/pushagent
        ;;
    esac
    for f in agent.toml agent.toml.rpmsave agent.toml.dpkg-old enroll.toml enroll.token customer.secret; do
        remove "/etc/pushagent/$f"
    done
    if [ -d "$R/etc/pushagent" ] && [ -z "$(ls -A "$R/etc/pushagent")" ]; then remove /etc/pushagent; fi
    if [ -d "$R/var/lib/pushagent" ]; then
        say "kept the data: /var/lib/pushagent (and the pushagent user); remove them by hand when done"
    fi
}

if [ "$action" = uninstall ]; then do_uninstall; else do_install; fi

if [ "$changes" = 0 ]; then
    say "nothing to do: already as asked (no change)"
elif [ "$dry_run" = 1 ]; then
    say "dry run: $changes change(s) would be made"
else
    say "done: $changes change(s)"
fi
