#!/bin/sh
# The release binaries need no glibc symbol newer than 2.17, and the check does catch a
# binary that does (this host's own /bin/ls, linked against a newer glibc).
# shellcheck source=tests/packaging/lib.sh
. "$(dirname "$0")/lib.sh"
cd "$TOP" || exit 1
for bin in "$DIST/pushagent" "${CARGO_TARGET_DIR:-target}/x86_64-unknown-linux-gnu/release/pushagent-config"; do
    sh scripts/check-glibc.sh "$bin" 2.17 > "$T/out" || { cat "$T/out"; fail "check-glibc on $bin"; }
    cat "$T/out"
done
if sh scripts/check-glibc.sh /bin/ls 2.17 > "$T/out" 2>&1; then fail "check-glibc passed /bin/ls of a glibc $(ldd --version | head -n 1)"; fi
assert_contains "$T/out" "more than 2.17" "check-glibc on a newer binary"
ok "check-glibc rejects /bin/ls: $(head -n 1 "$T/out")"
echo "  release binary size: $(wc -c < "$DIST/pushagent") bytes"
