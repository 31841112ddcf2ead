#!/bin/sh
# Fails when BINARY needs a glibc symbol version newer than MAX (default 2.17, CentOS 7),
# printing the offending symbols. Reads the dynamic symbol table with objdump (binutils).
# Usage: sh scripts/check-glibc.sh BINARY [MAX]
set -eu
binary=${1:?usage: check-glibc.sh BINARY [MAX]}
max=${2:-2.17}
[ -f "$binary" ] || { echo "check-glibc: no such file: $binary" >&2; exit 2; }
command -v objdump >/dev/null 2>&1 || { echo "check-glibc: objdump not found (apt-get install binutils)" >&2; exit 2; }

# Lines of `objdump -T` look like: "0000 DF *UND* 0000 (GLIBC_2.14) memcpy"; older binutils
# print the version without parentheses. Keep "VERSION SYMBOL" pairs.
pairs=$(objdump -T "$binary" | sed -n 's/.*[ (]GLIBC_\([0-9][0-9.]*\))\{0,1\}[[:space:]]\{1,\}\([^[:space:]]*\)$/\1 \2/p' | sort -u)
if [ -z "$pairs" ]; then
    echo "check-glibc: $binary references no GLIBC_ symbol versions (static binary?)"
    exit 0
fi
# Version compare: sort -V puts the larger last.
newer() { [ "$1" != "$2" ] && [ "$(printf '%s\n%s\n' "$1" "$2" | sort -V | tail -n 1)" = "$1" ]; }

highest=$(printf '%s\n' "$pairs" | cut -d' ' -f1 | sort -uV | tail -n 1)
bad=$(printf '%s\n' "$pairs" | while read -r version symbol; do
    if newer "$version" "$max"; then echo "  $symbol@GLIBC_$version"; fi
done)
if [ -n "$bad" ]; then
    echo "check-glibc: FAIL: $binary needs glibc $highest, more than $max; symbols:" >&2
    printf '%s\n' "$bad" >&2
    exit 1
fi
echo "check-glibc: ok: $binary needs at most GLIBC_$highest (max $max)"
