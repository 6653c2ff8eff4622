#!/usr/bin/env bash
# The link round trip (PING 16 B → ACK) of a minimal Python/pyserial host (ngpp_host.py) next
# to the bridge's own serial stack (PadLink), both against one simulated pad process, plus the
# raw pty floors. Issue 8: what a user would get from the obvious alternative.
#
#   Benchmarks/python/run.sh [-n COUNT] [--runs R] [--no-build]
#
# COUNT round trips per figure (default 2000, after 200 warm-up), R repetitions (default 1).
# Builds ngbridge and ngbridge-bench in release mode in .build-py (override: NGPP_BENCH_SCRATCH),
# publishes the pad at /tmp/ngpp-bench-pad (override: NGPP_BENCH_PAD). Stops everything it
# started on exit.
set -euo pipefail

count=2000 runs=1 build=1
while [ $# -gt 0 ]; do
    case "$1" in
        -n|--count) count=$2; shift 2 ;;
        --runs) runs=$2; shift 2 ;;
        --no-build) build=0; shift ;;
        -h|--help) sed -n '2,11s/^# \{0,1\}//p' "$0"; exit 0 ;;
        *) echo "run.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
    esac
done

root=$(cd "$(dirname "$0")/../.." && pwd)
here=$root/Benchmarks/python
scratch=${NGPP_BENCH_SCRATCH:-$root/.build-py}
pad_link=${NGPP_BENCH_PAD:-/tmp/ngpp-bench-pad}

# --- a Python with pyserial -----------------------------------------------------------------
python=
for py in python3 /usr/bin/python3; do
    if command -v "$py" >/dev/null && "$py" -c 'import serial' 2>/dev/null; then python=$py; break; fi
done
if [ -z "$python" ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        echo "installing pyserial: apt-get install python3-serial" >&2
        apt-get install -y -qq python3-serial >/dev/null || { apt-get update -qq && apt-get install -y -qq python3-serial >/dev/null; }
        python=/usr/bin/python3
    else
        echo "run.sh needs pyserial for python3; install it with one of:" >&2
        echo "    sudo apt-get install python3-serial" >&2
        echo "    python3 -m pip install --user pyserial" >&2
        exit 2
    fi
fi

# --- the pad simulator and the bridge's benchmark ---------------------------------------------
if [ "$build" = 1 ]; then
    (cd "$root/Benchmarks" &&
        swift build -c release --scratch-path "$scratch" --product ngbridge &&
        swift build -c release --scratch-path "$scratch" --product ngbridge-bench) >&2
fi
bin=$(cd "$root/Benchmarks" && swift build -c release --scratch-path "$scratch" --show-bin-path)
for exe in ngbridge ngbridge-bench; do
    [ -x "$bin/$exe" ] || { echo "run.sh: $bin/$exe is missing (run without --no-build)" >&2; exit 2; }
done

work=$(mktemp -d)
pad_pid= child=
cleanup() {
    trap - EXIT INT TERM
    [ -n "$child" ] && kill "$child" 2>/dev/null || true
    if [ -n "$pad_pid" ] && kill "$pad_pid" 2>/dev/null; then
        for _ in $(seq 50); do kill -0 "$pad_pid" 2>/dev/null || break; sleep 0.1; done
        kill -9 "$pad_pid" 2>/dev/null || true
        wait "$pad_pid" 2>/dev/null || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Runs a command in the background and waits for it, so a signal reaches the trap at once.
run() { "$@" & child=$!; wait "$child" || { local rc=$?; child=; return $rc; }; child=; }

"$bin/ngbridge" sim pinpad --no-interactive --link "$pad_link" >"$work/pad.log" 2>&1 &
pad_pid=$!
for _ in $(seq 100); do [ -e "$pad_link" ] && break; sleep 0.1; done
[ -e "$pad_link" ] || { echo "run.sh: the pad simulator did not publish $pad_link:" >&2; cat "$work/pad.log" >&2; exit 1; }

echo "link round trip, PING 16 B → ACK, $count round trips per figure after 200 warm-up"
echo "machine: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg) at start; pad: ngbridge sim pinpad (pid $pad_pid) at $pad_link"
for r in $(seq "$runs"); do
    echo
    echo "run $r of $runs (load average $(cut -d' ' -f1 /proc/loadavg))"
    echo "-- against the same pad process:"
    # Which host goes first alternates from run to run, so neither always meets a fresh pad.
    [ $((r % 2)) = 0 ] && run "$bin/ngbridge-bench" --pad "$pad_link" --count "$count" --peer-pid "$pad_pid" --floor >"$work/swift.txt"
    run "$python" "$here/ngpp_host.py" ping "$pad_link" -n "$count" --peer-pid "$pad_pid"
    [ $((r % 2)) = 1 ] && run "$bin/ngbridge-bench" --pad "$pad_link" --count "$count" --peer-pid "$pad_pid" --floor >"$work/swift.txt"
    tail -n 2 "$work/swift.txt"
    echo "-- floors (no protocol: 16 bytes echoed by a peer on a pty pair) and the bench's in-process pad:"
    run "$python" "$here/ngpp_host.py" floor -n "$count"
    run "$python" "$here/ngpp_host.py" floor -n "$count" --pyserial
    head -n -2 "$work/swift.txt"
done
echo
echo "reproduce: Benchmarks/python/run.sh -n $count --runs $runs"
echo "  pad:    $bin/ngbridge sim pinpad --no-interactive --link $pad_link"
echo "  python: $python Benchmarks/python/ngpp_host.py ping $pad_link -n $count --peer-pid PAD_PID"
echo "  swift:  $bin/ngbridge-bench --pad $pad_link --count $count --peer-pid PAD_PID --floor"
echo "  floors: $python Benchmarks/python/ngpp_host.py floor -n $count [--pyserial]"
