#!/usr/bin/env bash
# make guest-test: the .deb on a real kernel. Builds the release binary and the package
# (packaging/build-deb.sh), the Debian 12 guest image if it is not cached (build-image.sh,
# .cache/guest/), boots it once under QEMU (TCG) and runs the scenarios of run.py, each printed
# PASS/FAIL/XFAIL with its time. ROUNDS=N: hotplug rounds (default 1). Needs root (debootstrap's
# chroot) and qemu-system-x86, debootstrap, e2fsprogs, socat, lintian (.ci/system-packages test).
set -euo pipefail
cd "$(dirname "$0")/../.."
t0=$(date +%s)
packaging/build-deb.sh .build-release
deb=$(ls -t .build-release/netgiro-pos-bridge_*_amd64.deb | head -1)
t1=$(date +%s)
Tests/linux-guest/build-image.sh
t2=$(date +%s)
echo "linux-guest: package $((t1 - t0)) s, guest image $((t2 - t1)) s"
python3 Tests/linux-guest/run.py --deb "$deb" --ngbridge .build-release/release/ngbridge "$@"
