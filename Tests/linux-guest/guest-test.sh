#!/usr/bin/env bash
# make guest-test: the .deb on a real kernel. Builds the release binary and the package
# (packaging/build-deb.sh), the Debian 12 guest image if it is not cached (build-image.sh,
# .cache/guest/), boots it once under QEMU (TCG) and runs the scenarios of run.py, each printed
# PASS/FAIL/XFAIL with its time. The guest first gets the package repacked as 0.0.9 and is
# upgraded to the built one before the purge. ROUNDS=N: hotplug rounds (default 1). Needs root (debootstrap's
# chroot) and qemu-system-x86, debootstrap, e2fsprogs, socat, lintian (.ci/system-packages test).
set -euo pipefail
cd "$(dirname "$0")/../.."
t0=$(date +%s)
packaging/build-deb.sh .build-release
deb=$(ls -t .build-release/netgiro-pos-bridge_*_amd64.deb | head -1)
# The release before, for the upgrade: the same package repacked as version 0.0.9 (no second
# build). gzip -1, not xz: it only has to cross into the guest, and xz takes half a minute.
old=.build-release/upgrade-from/netgiro-pos-bridge_0.0.9_amd64.deb
rm -rf .build-release/repack .build-release/upgrade-from && mkdir .build-release/upgrade-from
dpkg-deb -R "$deb" .build-release/repack
sed -i 's/^Version: .*/Version: 0.0.9/' .build-release/repack/DEBIAN/control
dpkg-deb --root-owner-group -Zgzip -z1 --build .build-release/repack "$old" >/dev/null
rm -rf .build-release/repack
t1=$(date +%s)
Tests/linux-guest/build-image.sh
t2=$(date +%s)
echo "linux-guest: package $((t1 - t0)) s, guest image $((t2 - t1)) s"
python3 Tests/linux-guest/run.py --deb "$deb" --old-deb "$old" --ngbridge .build-release/release/ngbridge "$@"
