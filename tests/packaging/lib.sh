# Helpers of the packaging tests (sourced). Each test script runs in its own scratch
# directory $T (removed at exit) and may make Debian bullseye chroots under it.
# shellcheck shell=sh
set -eu
TOP=$(cd "$(dirname "$0")/../.." && pwd)
DIST=${DIST:-$TOP/dist}          # release 1, made by run.sh
DIST2=${DIST2:-$TOP/dist/next}   # the same binaries as release 2, for upgrades
CACHE=${PUSHAGENT_TEST_CACHE:-/var/cache/pushagent-test}
# The script under test; another one (e.g. an older deploy.sh) to see a test fail on it.
DEPLOY_SH=${DEPLOY_SH:-$TOP/scripts/deploy.sh}
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
T=$(mktemp -d /tmp/pushagent-pkgtest.XXXXXX)
MOUNTS=""
KILL_PIDFILES=""

cleanup() {
    for pidfile in $KILL_PIDFILES; do
        if [ -f "$pidfile" ]; then kill "$(cat "$pidfile")" 2>/dev/null || true; fi
    done
    for m in $MOUNTS; do umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true; done
    rm -rf "$T"
}
trap cleanup EXIT

fail() {
    echo "FAIL: $*" >&2
    exit 1
}
ok() { echo "  ok: $*"; }
# assert_contains FILE TEXT WHAT
assert_contains() { grep -qF -- "$2" "$1" || { echo "--- $1:"; cat "$1"; fail "$3: no '$2'"; }; }
assert_lacks() { if grep -qF -- "$2" "$1"; then echo "--- $1:"; cat "$1"; fail "$3: unexpected '$2'"; fi; }

# A fresh Debian bullseye root (minbase + busybox) at DIR, from a cached tarball that
# debootstrap makes on the first run (about a minute; later runs take seconds).
make_bullseye() {
    tarball=$CACHE/bullseye-minbase-busybox.tar.gz
    if [ ! -f "$tarball" ]; then
        echo "  (first run: debootstrap bullseye into the cache $CACHE)"
        mkdir -p "$CACHE"
        rm -rf "$CACHE/build"
        debootstrap --variant=minbase --include=busybox bullseye "$CACHE/build" "$MIRROR" > "$CACHE/debootstrap.log" 2>&1 ||
            { tail -n 20 "$CACHE/debootstrap.log"; fail "debootstrap failed (log: $CACHE/debootstrap.log)"; }
        rm -rf "$CACHE/build/var/cache/apt/archives/"*.deb
        tar -C "$CACHE/build" -czf "$tarball.tmp" . && mv "$tarball.tmp" "$tarball"
        rm -rf "$CACHE/build"
    fi
    mkdir -p "$1"
    tar -C "$1" -xzf "$tarball"
}

# Mounts /proc in a chroot (the SysV init script checks its pid there), unmounted at exit.
mount_proc() {
    mount -t proc proc "$1/proc"
    MOUNTS="$1/proc $MOUNTS"
}

# Every path under a root, sorted, /proc excluded: to compare before and after.
snapshot() { (cd "$1" && find . -xdev | sort); }

CHROOT_PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
# shellcheck disable=SC2034 # used by the test scripts
# Customer settings as an operator would pass them; enough for the agent to be started.
CUSTOMER_FLAGS="--customer-url https://customer.example/api --access-id AK-test --secret-file /opt/deploy/secret --provider-id prov-1 --provider-uiid 00000000-0000-4000-8000-000000000001 --interface eth0 --service-url http://127.0.0.1:9 --enroll-token tok-1"

# A dist directory like scripts/package.sh's, with the stand-in agent binary: DIR [DIST]
stub_dist() {
    mkdir -p "$1"
    cp "${2:-$DIST}"/pushagent_*_amd64.deb "${2:-$DIST}"/pushagent.service "${2:-$DIST}"/pushagent.init \
        "${2:-$DIST}"/agent.toml "$1/"
    cp "$TOP/tests/packaging/fakes/pushagent" "$1/pushagent"
}

# A bullseye root ready for deploy.sh at /opt/deploy (script, dist, secret): ROOT
deploy_root() {
    make_bullseye "$1"
    mkdir -p "$1/opt/deploy"
    cp "$DEPLOY_SH" "$1/opt/deploy/deploy.sh"
    stub_dist "$1/opt/deploy/dist"
    echo "SK-test-secret" > "$1/opt/deploy/secret"
}

# The systemctl stand-in and a /run/systemd/system, so deploy.sh sees systemd: ROOT
fake_systemd() {
    mkdir -p "$1/run/systemd/system" "$1/standin"
    # Where Debian's own is (/bin = /usr/bin), so a PATH without /usr/local finds it too.
    cp "$TOP/tests/packaging/fakes/systemctl" "$1/usr/bin/systemctl"
}

# Runs deploy.sh in ROOT under SHELL (busybox or dash), output in $T/out: ROOT SHELL ARGS...
deploy_in() {
    root=$1 shell=$2
    shift 2
    if [ "$shell" = busybox ]; then run_shell="busybox sh"; else run_shell=$shell; fi
    # shellcheck disable=SC2086 # "busybox sh" is two words
    chroot "$root" env PATH="$CHROOT_PATH" $run_shell /opt/deploy/deploy.sh --dist /opt/deploy/dist "$@" > "$T/out" 2>&1
}
# deploy_in, failing the test when deploy.sh fails.
deploy_ok() { deploy_in "$@" || { cat "$T/out"; fail "deploy.sh $*"; }; }

# Runs each named test function in a subshell (its `fail` ends only that case), then fails
# when any did: every case is tried and reported, also against an older deploy.sh.
run_cases() {
    case_failures=""
    for case_fn in "$@"; do
        if ("$case_fn"); then :; else case_failures="$case_failures $case_fn"; fi
    done
    [ -z "$case_failures" ] || fail "failed cases:$case_failures"
}

# The paths that differ between two snapshots, but those a test expects: BEFORE AFTER
snapshot_diff() {
    diff "$1" "$2" | sed -n 's/^[<>] //p' | grep -Ev '^\./(var/lib/pushagent|var/lib/dpkg|var/log/dpkg\.log|var/cache/debconf|etc/(passwd|group|shadow|gshadow)-$|standin|tmp/|run/|opt/deploy)' || true
}
