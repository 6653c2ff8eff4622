#!/usr/bin/env bash
# Instructions the daemon executes per payment, in steady state, under callgrind (issue 14 §12).
# Instruction counts hardly move with the machine's load, so before/after figures of a change
# compare even on a busy machine.
#
#   swift build -c release --static-swift-stdlib --scratch-path .build-release --product ngbridge
#   Benchmarks/callgrind-per-payment.sh [path/to/release/ngbridge] [N1 N2 ...]   (default 0 20 40)
#   KEEP=DIR keeps the callgrind files (callgrind.N.out) there; the last run is annotated below.
#
# Method: `ngbridge run` under `valgrind --tool=callgrind`, the Netgíró simulator and the pad
# simulator outside it (native). For each N the daemon is started afresh, N payments are taken one
# after another with `ngbridge pay` (phone customer GSM 8223281 typed on the pad, Manual
# confirmation, accepted at once, every payment paid), then the daemon is stopped with SIGTERM and
# callgrind writes its totals. Per payment = (I(N_last) − I(N_prev)) / (N_last − N_prev): the
# steady state; (I(N2) − I(N1)) / (N2 − N1) includes the first payments' runtime warm-up.
#
# Two workarounds this toolchain needs (see the perf notes): valgrind 3.19 refuses Swift 6.3's
# DWARF, so a copy of the binary with its debug info stripped runs (symbols stay); libdispatch
# calls sigsuspend with a mask in read-only memory that valgrind's wrapper writes into, so a small
# preloaded shim passes a copy of the mask.
set -euo pipefail
ng=$(realpath "${1:-$(dirname "$0")/../.build-release/release/ngbridge}")
shift || true
counts=("$@")
[ ${#counts[@]} -gt 0 ] || counts=(0 20 40)
command -v valgrind >/dev/null || { echo "valgrind is not installed (apt-get install valgrind)" >&2; exit 2; }
dir=$(mktemp -d /tmp/ngb-callgrind.XXXXXX)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$dir"; }
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; for f in "$dir"/*.log; do echo "--- $f" >&2; tail -20 "$f" >&2; done; exit 1; }
wait_for() { # wait_for FILE PATTERN TIMEOUT_S
    local i
    for i in $(seq $(($3 * 10))); do grep -q -- "$2" "$1" 2>/dev/null && return 0; sleep 0.1; done
    return 1
}

objcopy --strip-debug "$ng" "$dir/ngbridge-stripped"
cat >"$dir/shim.c" <<'EOF'
#define _GNU_SOURCE
#include <signal.h>
#include <unistd.h>
#include <sys/syscall.h>
int sigsuspend(const sigset_t *m) { sigset_t c = *m; return syscall(SYS_rt_sigsuspend, &c, 8); }
EOF
gcc -O2 -shared -fPIC -o "$dir/sigsuspend_shim.so" "$dir/shim.c"

printf '%s' 'YCFd6hiA8lUjZejVcIf/LhRXO4wTDxY0JhOXvQZwnMSiNynSxmNIMjMf1HHwdV6cMN48NX3ZipA9q9hLPb9C1ZIzMH5dvELPAHceiu7LbZzmIAGeOf/OUaDrk2Zq2dbGacIAzU6yyk4KmOXRaSLi8KW8t3krdQSX7Ecm8Qunc/A=' >"$dir/secret"
chmod 600 "$dir/secret"
"$ng" sim netgiro --port 0 --accept-delay-ms 0 --check-interval-ms 200 >"$dir/netgiro.log" 2>&1 &
pids+=($!)
wait_for "$dir/netgiro.log" "base URL" 10 || fail "the Netgíró simulator did not start"
base=$(sed -n 's/.*base URL \(http[^ ]*\).*/\1/p' "$dir/netgiro.log" | head -1)

echo "ngbridge: $ng"
echo "machine: $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg); $(valgrind --version)"
declare -A total
for n in "${counts[@]}"; do
    # A pad whose customer answers every customer-id prompt with the accepting phone number.
    {
        echo "timeout 600s"
        echo "pace 5ms"
        echo "wait link up"
        for _ in $(seq "$n"); do echo "on prompt customer-id type 8223281 ok after 20ms"; done
        echo "wait link down"
    } >"$dir/pad-$n.pad"
    "$ng" sim pinpad --no-interactive --link "$dir/pad-$n" --script "$dir/pad-$n.pad" >"$dir/pad-$n.log" 2>&1 &
    pad=$!
    pids+=($pad)
    for _ in $(seq 50); do [ -e "$dir/pad-$n" ] && break; sleep 0.1; done
    out="$dir/callgrind.$n.out"
    LD_PRELOAD="$dir/sigsuspend_shim.so" valgrind --tool=callgrind --callgrind-out-file="$out" \
        "$dir/ngbridge-stripped" run --set netgiro.base-url="$base" \
        --set netgiro.app-key=881E674F-7891-4C20-AFD8-56FE2624C4B5 --set netgiro.secret-file="$dir/secret" \
        --set device.path="$dir/pad-$n" --set api.listen="unix:$dir/api-$n.sock" \
        --set journal.path="$dir/journal-$n.sqlite" >"$dir/daemon-$n.log" 2>&1 &
    daemon=$!
    pids+=($daemon)
    wait_for "$dir/daemon-$n.log" "terminal linked" 120 || fail "the daemon (N=$n) did not link with the pad"
    for i in $(seq "$n"); do
        timeout 120 "$ng" pay --amount 4990 --reference "CG-$n-$i" --api "unix:$dir/api-$n.sock" >"$dir/pay.out" 2>&1 ||
            fail "payment $i of $n did not end paid: $(tail -5 "$dir/pay.out")"
        grep -q "state *paid" "$dir/pay.out" || fail "payment $i of $n: no paid state in $(cat "$dir/pay.out")"
    done
    kill -TERM "$daemon"
    wait "$daemon" 2>/dev/null || true
    kill "$pad" 2>/dev/null || true
    wait "$pad" 2>/dev/null || true
    [ -s "$out" ] || fail "callgrind wrote no output for N=$n"
    total[$n]=$(awk '/^(summary|totals):/ { print $2; exit }' "$out")
    printf 'N = %3d payments: %14d instructions\n' "$n" "${total[$n]}"
done

prev=""
for n in "${counts[@]}"; do
    if [ -n "$prev" ] && [ "$n" -gt "$prev" ]; then
        awk -v a="${total[$prev]}" -v b="${total[$n]}" -v p="$prev" -v n="$n" \
            'BEGIN { printf "per payment, N %d → %d: %.2f M instructions\n", p, n, (b - a) / (n - p) / 1e6 }'
    fi
    prev=$n
done
if [ -n "${KEEP:-}" ]; then
    mkdir -p "$KEEP"
    cp "$dir"/callgrind.*.out "$KEEP"/
    echo "callgrind files kept in $KEEP (callgrind_annotate --inclusive=yes FILE | swift demangle --simplified)"
fi
