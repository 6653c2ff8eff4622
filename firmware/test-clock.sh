#!/bin/sh
# test-clock.sh - compiles and runs test/clock_test.c (the pad's SysTick clock arithmetic, clock.h)
# with the build machine's C compiler. Env: CC (default: cc, else clang).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
cc=${CC:-$(command -v cc || command -v clang)}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
"$cc" -std=c11 -Wall -Werror -O1 -o "$out/clock_test" "$here/test/clock_test.c"
"$out/clock_test"
