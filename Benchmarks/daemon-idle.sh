#!/usr/bin/env bash
# The daemon as deployed, in a release build: start → ready, resident memory once a pad is
# linked, and CPU while idle (pad linked, no payment). Issue 8's daemon figures.
#
#   swift build -c release --product ngbridge --scratch-path .build-bench-rel
#   Benchmarks/daemon-idle.sh [path/to/ngbridge] [idle seconds, default 60]
#   RUNS=N (default 2): the daemon is started N times against the same simulators.
#
# What each figure is:
# - start → ready: from just before `ngbridge run` is started to its `ready` log line (the till
#   API's socket is listening; logged with READY=1), and to `terminal linked` (HELLO answered by
#   the pad at device.path). Read by polling the log every ~2 ms, so ± a few ms.
# - resident memory: VmRSS (and the peak, VmHWM) from /proc/PID/status 1 s after the pad linked.
# - idle CPU: utime + stime from /proc/PID/stat, `idle` seconds apart, with the pad linked and
#   its link heartbeats running, no payment.
# The pad is `ngbridge sim pinpad --no-interactive` on a pty, Netgíró is `ngbridge sim netgiro`.
set -euo pipefail
ng=$(realpath "${1:-$(dirname "$0")/../.build-bench-rel/release/ngbridge}")
idle=${2:-60}
runs=${RUNS:-2}
tick=$(getconf CLK_TCK)
dir=$(mktemp -d /tmp/ngb-idle.XXXXXX)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$dir"; }
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; for f in "$dir"/*.log; do echo "--- $f" >&2; tail -20 "$f" >&2; done; exit 1; }
now_ns() { date +%s%N; }
cpu_ticks() { awk '{ sub(/.*\) /, ""); print $12 + $13 }' "/proc/$1/stat"; }
status_kb() { awk -v k="$2:" '$1 == k { print $2 }' "/proc/$1/status"; }
wait_for() {  # wait_for FILE PATTERN TIMEOUT_S → prints the time (ns) it was seen
    local deadline=$(($(now_ns) + $3 * 1000000000))
    until grep -q -- "$2" "$1" 2>/dev/null; do
        [ "$(now_ns)" -lt "$deadline" ] || return 1
        sleep 0.002
    done
    now_ns
}

printf '%s' 'YCFd6hiA8lUjZejVcIf/LhRXO4wTDxY0JhOXvQZwnMSiNynSxmNIMjMf1HHwdV6cMN48NX3ZipA9q9hLPb9C1ZIzMH5dvELPAHceiu7LbZzmIAGeOf/OUaDrk2Zq2dbGacIAzU6yyk4KmOXRaSLi8KW8t3krdQSX7Ecm8Qunc/A=' >"$dir/secret"
chmod 600 "$dir/secret" # a secret others may read is refused
"$ng" sim netgiro --port 0 >"$dir/netgiro.log" 2>&1 &
pids+=($!)
"$ng" sim pinpad --no-interactive --link "$dir/pad0" >"$dir/pad.log" 2>&1 &
pad=$!
pids+=($pad)
wait_for "$dir/netgiro.log" "base URL" 10 >/dev/null || fail "the Netgíró simulator did not start"
base=$(sed -n 's/.*base URL \(http[^ ]*\).*/\1/p' "$dir/netgiro.log" | head -1)

echo "ngbridge: $ng ($(du -m "$ng" | cut -f1) MB on disk)"
echo "machine: $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
for run in $(seq "$runs"); do
    log="$dir/daemon-$run.log"
    t0=$(now_ns)
    "$ng" run --set netgiro.base-url="$base" --set netgiro.app-key=881E674F-7891-4C20-AFD8-56FE2624C4B5 \
        --set netgiro.secret-file="$dir/secret" --set device.path="$dir/pad0" \
        --set api.listen="unix:$dir/api-$run.sock" --set journal.path="$dir/journal-$run.sqlite" >"$log" 2>&1 &
    daemon=$!
    pids+=($daemon)
    ready=$(wait_for "$log" ": ready" 20) || fail "no ready line"
    linked=$(wait_for "$log" "terminal linked" 20) || fail "the pad did not link"
    sleep 1
    rss=$(status_kb "$daemon" VmRSS)
    hwm=$(status_kb "$daemon" VmHWM)
    threads=$(status_kb "$daemon" Threads)
    c0=$(cpu_ticks "$daemon"); p0=$(cpu_ticks "$pad"); s0=$(now_ns)
    sleep "$idle"
    c1=$(cpu_ticks "$daemon"); p1=$(cpu_ticks "$pad"); s1=$(now_ns)
    rss_after=$(status_kb "$daemon" VmRSS)
    awk -v run="$run" -v t0="$t0" -v ready="$ready" -v linked="$linked" -v rss="$rss" -v hwm="$hwm" -v thr="$threads" \
        -v c="$((c1 - c0))" -v p="$((p1 - p0))" -v tick="$tick" -v s="$(((s1 - s0) / 1000000))" -v rss2="$rss_after" 'BEGIN {
        printf "run %d: start → ready %.0f ms, → terminal linked %.0f ms; VmRSS %.1f MB (peak %.1f MB, %.1f MB after idling), %d threads\n",
            run, (ready - t0) / 1e6, (linked - t0) / 1e6, rss / 1024, hwm / 1024, rss2 / 1024, thr
        printf "       idle %.1f s: daemon %d ms of CPU = %.3f %% of a core; the simulated pad %d ms\n",
            s / 1000, c * 1000 / tick, c * 1000 / tick / s * 100, p * 1000 / tick }'
    kill -TERM "$daemon"
    wait "$daemon" 2>/dev/null || true
done
