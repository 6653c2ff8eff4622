#!/usr/bin/env bash
# Builds netgiro-pos-bridge_<version>_amd64.deb with dpkg-deb from the release binary and the
# files in packaging/debian/ and udev/, then runs lintian on it (errors fail the build).
# Usage: packaging/build-deb.sh [OUTDIR]   (make deb; OUTDIR defaults to the repository root)
# NGBRIDGE_BIN=path skips the release build (it must be built with --static-swift-stdlib).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
out=${1:-$root}
version=$(sed -n 's/.*static let current = "\(.*\)".*/\1/p' Sources/Bridge/BridgeVersion.swift)
[ -n "$version" ] || { echo "build-deb: no version in Sources/Bridge/BridgeVersion.swift" >&2; exit 1; }
bin=${NGBRIDGE_BIN:-}
if [ -z "$bin" ]; then
    # A scratch path of its own, so the release build never invalidates the debug one.
    # Linked by lld with packed relative relocations (DT_RELR, glibc ≥ 2.36) and no exported
    # dynamic symbols: the loader then reads ~50 KB of relocations instead of 3.6 MB, and no
    # 1.3 MB symbol table, so the daemon's resident memory with a pad linked falls from ~42 to
    # ~32 MB (BENCHMARKS.md). Nothing looks symbols up in the executable at run time.
    nice -n 10 swift build -c release --product ngbridge --static-swift-stdlib --scratch-path .build-release \
        -Xswiftc -use-ld=lld -Xlinker -z -Xlinker pack-relative-relocs -Xlinker --no-export-dynamic
    bin=.build-release/release/ngbridge
fi
[ -x "$bin" ] || { echo "build-deb: $bin is not an executable" >&2; exit 1; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
R=$work/root
doc=$R/usr/share/doc/netgiro-pos-bridge
install -d "$R/DEBIAN" "$R/usr/bin" "$R/usr/lib/udev/rules.d" "$R/usr/lib/sysusers.d" "$R/lib/systemd/system" \
    "$R/etc/ngbridge" "$R/usr/share/bash-completion/completions" "$R/usr/share/zsh/vendor-completions" \
    "$R/usr/share/fish/vendor_completions.d" "$R/usr/share/man/man1" "$doc"

install -m 0755 "$bin" "$R/usr/bin/ngbridge"
strip --strip-unneeded --remove-section=.comment --remove-section=.note "$R/usr/bin/ngbridge"
install -m 0644 udev/70-netgiro-pinpad.rules "$R/usr/lib/udev/rules.d/"
install -m 0644 packaging/debian/sysusers.conf "$R/usr/lib/sysusers.d/netgiro-pos-bridge.conf"
install -D -m 0644 packaging/debian/modules-load.conf "$R/usr/lib/modules-load.d/netgiro-pos-bridge.conf"
install -m 0644 udev/ngbridge.service udev/ngbridge@.service "$R/lib/systemd/system/"
install -m 0644 packaging/debian/ngbridge.env "$R/etc/ngbridge/ngbridge.env"
"$R/usr/bin/ngbridge" --generate-completion-script bash | sed '1{/^#!/d}' >"$R/usr/share/bash-completion/completions/ngbridge"
"$R/usr/bin/ngbridge" --generate-completion-script zsh >"$R/usr/share/zsh/vendor-completions/_ngbridge"
"$R/usr/bin/ngbridge" --generate-completion-script fish >"$R/usr/share/fish/vendor_completions.d/ngbridge.fish"
chmod 0644 "$R"/usr/share/*/completions/* "$R"/usr/share/zsh/vendor-completions/* "$R"/usr/share/fish/vendor_completions.d/*
sed "s/@VERSION@/$version/" packaging/debian/ngbridge.1 | gzip -9n >"$R/usr/share/man/man1/ngbridge.1.gz"
{ cat packaging/debian/copyright.in; echo; echo "License: MIT"; sed -e 's/^$/./' -e 's/^/ /' LICENSE; } >"$doc/copyright"
sed "s/@VERSION@/$version/" packaging/debian/changelog | gzip -9n >"$doc/changelog.gz"
install -m 0644 udev/README.md "$doc/README.udev.md"
install -d "$R/usr/share/lintian/overrides"
install -m 0644 packaging/debian/lintian-overrides "$R/usr/share/lintian/overrides/netgiro-pos-bridge"
install -m 0755 packaging/debian/postinst packaging/debian/prerm packaging/debian/postrm "$R/DEBIAN/"
echo /etc/ngbridge/ngbridge.env >"$R/DEBIAN/conffiles"

# Shared-library dependencies, as dpkg-shlibdeps finds them (it wants a debian/control beside it).
mkdir -p "$work/src/debian"
printf 'Source: netgiro-pos-bridge\n\nPackage: netgiro-pos-bridge\nArchitecture: amd64\n' >"$work/src/debian/control"
depends=$(cd "$work/src" && dpkg-shlibdeps -O -e"$R/usr/bin/ngbridge" 2>/dev/null | sed -n 's/^shlibs:Depends=//p')
[ -n "$depends" ] || { echo "build-deb: dpkg-shlibdeps found no dependencies" >&2; exit 1; }
size=$(du -sk --exclude=DEBIAN "$R" | cut -f1)
sed -e "s/@VERSION@/$version/" -e "s/@SIZE@/$size/" -e "s/@DEPENDS@/$depends/" packaging/debian/control.in >"$R/DEBIAN/control"
(cd "$R" && find . -path ./DEBIAN -prune -o -type f -printf '%P\0' | LC_ALL=C sort -z | xargs -0 md5sum >DEBIAN/md5sums)
find "$R" -type d -exec chmod 0755 {} +
chmod 0644 "$R/DEBIAN/md5sums" "$R/DEBIAN/control" "$R/DEBIAN/conffiles"

deb=$out/netgiro-pos-bridge_${version}_amd64.deb
dpkg-deb --root-owner-group -Zxz --build "$R" "$deb" >/dev/null
echo "built $deb ($(du -h "$deb" | cut -f1))"
if command -v lintian >/dev/null; then
    # Errors fail; warnings are printed. Overrides, each with its reason: packaging/debian/lintian-overrides.
    lintian --fail-on error "$deb"
    echo "lintian: no errors"
else
    echo "build-deb: lintian is not installed (apt-get install lintian); not checked" >&2
    exit 1
fi
