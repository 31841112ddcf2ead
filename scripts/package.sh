#!/bin/sh
# Builds the .deb and .rpm of the agent (pushagent) and of the config service
# (pushagent-config) into dist/, from the glibc-2.17 release binaries of
# scripts/build-release.sh, with dpkg-deb and rpmbuild (Debian packages dpkg, rpm).
# Also puts into dist/ what scripts/deploy.sh needs for its binary fallback.
#   PKG_RELEASE=N   package release (default 1): the 1 of 0.1.0-1
#   SKIP_BUILD=1    use the binaries already built
#   DIST_DIR=DIR    write there instead of dist/
set -eu
cd "$(dirname "$0")/.."
top=$(pwd)
version=$(sed -n '/^\[workspace.package\]/,/^\[/s/^version = "\(.*\)"/\1/p' Cargo.toml)
release=${PKG_RELEASE:-1}
bin_dir=${CARGO_TARGET_DIR:-$top/target}/x86_64-unknown-linux-gnu/release
for tool in dpkg-deb rpmbuild; do
    command -v "$tool" >/dev/null 2>&1 || { echo "package.sh: $tool not found (sh scripts/setup.sh)" >&2; exit 1; }
done
[ "${SKIP_BUILD:-0}" = 1 ] || sh scripts/build-release.sh

dist=${DIST_DIR:-$top/dist}
case "$dist" in /*) ;; *) dist=$top/$dist ;; esac
mkdir -p "$dist"
stage=$dist/.stage
rm -rf "$stage"
rm -f "$dist"/pushagent*.deb "$dist"/pushagent*.rpm
mkdir -p "$stage"

# Files of one package under ROOT: binary, unit, conffile, data dir, doc.
# Args: ROOT PACKAGE CONFIG_SOURCE CONFIG_NAME UNIT_DIR
lay_out() {
    root=$1 pkg=$2
    install -D -m 0755 "$bin_dir/$pkg" "$root/usr/bin/$pkg"
    install -D -m 0644 "packaging/systemd/$pkg.service" "$root$5/$pkg.service"
    install -D -m 0640 "$3" "$root/etc/pushagent/$4"
    install -d -m 0750 "$root/var/lib/$pkg"
    install -D -m 0644 docs/operations.md "$root/usr/share/doc/$pkg/operations.md"
}

# Debian's doc files (lintian): the copyright, and a changelog entry for this version dated
# by the last commit (reproducible), gzip -9n.
deb_docs() {
    root=$1 pkg=$2
    install -m 0644 packaging/deb/copyright "$root/usr/share/doc/$pkg/copyright"
    mkdir -p "$root/usr/share/lintian/overrides"
    sed "s/@PKG@/$pkg/g" packaging/deb/lintian-overrides > "$root/usr/share/lintian/overrides/$pkg"
    chmod 0644 "$root/usr/share/lintian/overrides/$pkg"
    when=$(git log -1 --format=%ct 2>/dev/null || date +%s)
    {
        printf '%s (%s-%s) unstable; urgency=medium\n\n' "$pkg" "$version" "$release"
        printf '  * Release %s-%s, built by scripts/package.sh.\n\n' "$version" "$release"
        printf ' -- %s  %s\n' "$(sed -n 's/^Maintainer: //p' "packaging/deb/$pkg.control")" "$(date -u -R -d "@$when")"
    } | gzip -9n > "$root/usr/share/doc/$pkg/changelog.Debian.gz"
    chmod 0644 "$root/usr/share/doc/$pkg/changelog.Debian.gz"
}

# A maintainer script: the variables of packaging/maint/scriptlet.sh, then its body.
# Args: PHASE PACKAGE CONFIG_NAME AUTOSTART
scriptlet() {
    printf '#!/bin/sh\nset -e\nphase=%s\nunit=%s\nconfig=/etc/pushagent/%s\nstate_dir=/var/lib/%s\nautostart=%s\n' \
        "$1" "$2" "$3" "$2" "$4"
    cat packaging/maint/scriptlet.sh
}

build_deb() {
    pkg=$1 conf_src=$2 conf_name=$3 autostart=$4
    root=$stage/deb-$pkg
    lay_out "$root" "$pkg" "$conf_src" "$conf_name" /lib/systemd/system
    deb_docs "$root" "$pkg"
    mkdir -p "$root/DEBIAN"
    for phase in postinst prerm postrm; do
        scriptlet "deb-$phase" "$pkg" "$conf_name" "$autostart" > "$root/DEBIAN/$phase"
        chmod 0755 "$root/DEBIAN/$phase"
    done
    cp "packaging/deb/$pkg.conffiles" "$root/DEBIAN/conffiles"
    size=$(du -sk --exclude=DEBIAN "$root" | cut -f1)
    # libc6 (>= 2.17): the binaries need no GLIBC_ symbol newer than 2.17 (check-glibc.sh).
    sed -e "s/@VERSION@/$version-$release/" -e "s/@INSTALLED_SIZE@/$size/" \
        -e "s/@DEPENDS@/libc6 (>= 2.17)/" "packaging/deb/$pkg.control" > "$root/DEBIAN/control"
    # xz: understood by every dpkg we support (Ubuntu 16.04's 1.18 has no zstd).
    dpkg-deb --root-owner-group -Zxz --build "$root" "$dist/${pkg}_$version-${release}_amd64.deb" >/dev/null
    echo "built $dist/${pkg}_$version-${release}_amd64.deb"
}

build_rpms() {
    root=$stage/rpm/root
    lay_out "$root" pushagent packaging/agent.toml agent.toml /usr/lib/systemd/system
    lay_out "$root" pushagent-config packaging/config.toml config.toml /usr/lib/systemd/system
    for phase in pre post preun postun; do
        scriptlet "rpm-$phase" pushagent agent.toml customer > "$stage/rpm/rpm-$phase-pushagent.sh"
        scriptlet "rpm-$phase" pushagent-config config.toml never > "$stage/rpm/rpm-$phase-pushagent-config.sh"
    done
    rpmbuild -bb --quiet \
        --define "_topdir $stage/rpm/top" --define "_builddir $stage/rpm" \
        --define "_rpmdir $stage/rpm/out" --define "_build_id_links none" \
        --define "pkg_version $version" --define "pkg_release $release" \
        packaging/rpm/pushagent.spec
    for rpm_file in "$stage"/rpm/out/x86_64/*.rpm; do
        mv "$rpm_file" "$dist/"
        echo "built $dist/$(basename "$rpm_file")"
    done
}

build_deb pushagent packaging/agent.toml agent.toml customer
build_deb pushagent-config packaging/config.toml config.toml never
build_rpms

# For scripts/deploy.sh's binary fallback (hosts without dpkg/rpm, or without systemd).
install -m 0755 "$bin_dir/pushagent" "$dist/pushagent"
install -m 0644 packaging/systemd/pushagent.service "$dist/pushagent.service"
install -m 0755 packaging/sysv/pushagent.init "$dist/pushagent.init"
install -m 0644 packaging/agent.toml "$dist/agent.toml"
# The bundle an ops platform's template downloads (packaging/spug/): deploy.sh and, beside it,
# dist/ with what it installs.
mkdir -p "$stage/bundle/dist"
cp scripts/deploy.sh "$stage/bundle/deploy.sh"
cp "$dist/pushagent_$version-${release}_amd64.deb" "$dist/pushagent-$version-$release.x86_64.rpm" \
    "$dist/pushagent" "$dist/pushagent.service" "$dist/pushagent.init" "$dist/agent.toml" "$stage/bundle/dist/"
tar -czf "$dist/pushagent-deploy.tar.gz" -C "$stage/bundle" deploy.sh dist
echo "built $dist/pushagent-deploy.tar.gz"
rm -rf "$stage"
ls -l "$dist"
