#!/bin/sh
# The packaging tests (issue 5): builds the glibc-2.17 release binaries and the packages
# (release 1 in dist/, the same as release 2 in dist/next/ for upgrades), then runs every
# tests/packaging/test_*.sh. Needs root (chroot, mount) and the tools of scripts/setup.sh;
# the first run debootstraps Debian bullseye into /var/cache/pushagent-test (about a minute).
set -eu
cd "$(dirname "$0")/../.."
[ "$(id -u)" = 0 ] || { echo "tests/packaging/run.sh: needs root (chroot, mount)" >&2; exit 1; }
start=$(date +%s)

echo "== release build and packages"
sh scripts/package.sh
PKG_RELEASE=2 SKIP_BUILD=1 DIST_DIR=dist/next sh scripts/package.sh > /dev/null

failed=""
for test in tests/packaging/test_*.sh; do
    echo "== $test"
    t0=$(date +%s)
    if sh "$test"; then
        echo "   passed in $(($(date +%s) - t0)) s"
    else
        echo "   FAILED"
        failed="$failed $test"
    fi
done
echo "== packaging tests: $(($(date +%s) - start)) s"
if [ -n "$failed" ]; then
    echo "FAILED:$failed" >&2
    exit 1
fi
echo "all packaging tests passed"
