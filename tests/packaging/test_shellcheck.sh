#!/bin/sh
# Every shell script of deployment and packaging is clean under `shellcheck -s sh`.
# shellcheck source=tests/packaging/lib.sh
. "$(dirname "$0")/lib.sh"
cd "$TOP" || exit 1
shellcheck -x -s sh scripts/deploy.sh scripts/package.sh scripts/build-release.sh scripts/check-glibc.sh \
    packaging/sysv/pushagent.init packaging/maint/scriptlet.sh packaging/spug/*.sh tests/packaging/*.sh tests/packaging/fakes/*
ok "shellcheck -s sh: deploy.sh, package.sh, build-release.sh, check-glibc.sh, init script, scriptlets, Spug template, tests and their fakes"
