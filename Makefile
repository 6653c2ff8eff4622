# netgiro-pos-bridge — the two commands of the README, and a few helpers.
# Everything runs on the machine's Swift toolchain; system packages are installed by
# .ci/system-packages (apt-get as root, otherwise it prints the command to run).

.PHONY: demo test build setup embedded-check firmware deb guest-test

## Run the demo: simulated PIN pad + simulated Netgíró, no hardware, no network.
demo: setup
	swift build --product ngbridge
	.ci/demo

## Run every test (unit, pty, umockdev, Embedded build, protocol vectors).
test:
	.ci/test

build: setup
	swift build

setup:
	.ci/system-packages build

embedded-check:
	.ci/embedded-check

## The PIN pad's firmware image for QEMU's mps2-an386: firmware/build/pinpad.elf (firmware/README.md).
firmware:
	firmware/build.sh

## The Debian package netgiro-pos-bridge_<version>_amd64.deb (release build, lintian-checked).
deb: setup
	packaging/build-deb.sh

## The package on a real kernel: a Debian 12 guest under QEMU, systemd, udev, USB hotplug (root).
guest-test: setup
	Tests/linux-guest/guest-test.sh
