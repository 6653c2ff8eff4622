#!/bin/sh
# Checks that `ngbridge devices` finds the fake PIN pad described in
# Tests/DeviceWatchTests/Fixtures/pad.umockdev (a CDC-ACM device, 1209:0001, serial NGP-TEST-0001),
# with umockdev standing in for /sys and /dev.
#
# Usage: Tests/umockdev-devices.sh [path/to/ngbridge]      (default: .build/debug/ngbridge)
# Needs: umockdev (Debian package `umockdev`).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
ngbridge=${1:-.build/debug/ngbridge}
fixture="$here/DeviceWatchTests/Fixtures/pad.umockdev"

command -v umockdev-run >/dev/null || { echo "umockdev-run not found: apt-get install umockdev" >&2; exit 2; }
[ -x "$ngbridge" ] || { echo "$ngbridge not found: build it first (swift build --product ngbridge)" >&2; exit 2; }

out=$(umockdev-run -d "$fixture" -- "$ngbridge" devices --json)
printf '%s\n' "$out"
for want in '"path" : "/dev/ttyACM0"' '"vidpid" : "1209:0001"' '"serial" : "NGP-TEST-0001"' '"matches" : true'; do
    case "$out" in
        *"$want"*) ;;
        *) echo "FAIL: ngbridge devices under umockdev does not show $want" >&2; exit 1 ;;
    esac
done

table=$(umockdev-run -d "$fixture" -- "$ngbridge" devices)
printf '%s\n' "$table"
case "$table" in
    *"/dev/ttyACM0"*"1209:0001"*"NGP-TEST-0001"*) ;;
    *) echo "FAIL: the table does not list the fake pad" >&2; exit 1 ;;
esac
echo "ok: ngbridge devices lists the fake pad"
