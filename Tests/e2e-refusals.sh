#!/usr/bin/env bash
# `ngbridge run` refusing loudly, as an integrator meets it (issue 15, failures 1–7): each
# start-up failure ends with a sysexits status and one line naming the key; a second daemon never
# takes the first one's socket or journal; nothing a till sends can forge a log line; the journal
# is created for its owner only.
# Usage: Tests/e2e-refusals.sh [path/to/ngbridge]
set -uo pipefail
ng=$(realpath "${1:-.build/debug/ngbridge}")
dir=$(mktemp -d /tmp/ngref-XXXXXX)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$dir"; }
trap cleanup EXIT
failed=0
ok() { echo "ok: $*"; }
bad() { echo "FAIL: $*"; failed=1; }

printf 'not-the-real-secret' >"$dir/secret"
chmod 600 "$dir/secret"
printf '0123456789abcdef0123' >"$dir/token"
chmod 600 "$dir/token"
export NGBRIDGE_NETGIRO_BASE_URL=http://127.0.0.1:9/v1/ NGBRIDGE_NETGIRO_APP_KEY=app NGBRIDGE_NETGIRO_SECRET_FILE="$dir/secret"
export NGBRIDGE_DEVICE_PATH="$dir/no-pad"
unset NGBRIDGE_CONFIG JOURNAL_STREAM

# expect NAME STATUS KEY-TEXT -- ngbridge args: runs it, checks the exit status, that stderr is
# one line naming the key, and that no Foundation error object reaches it.
expect() {
    local name=$1 status=$2 words=$3
    shift 4
    timeout 30 "$ng" "$@" >"$dir/out" 2>"$dir/err"
    local got=$?
    local lines
    lines=$(grep -c '^ngbridge: ' "$dir/err")
    if [ "$got" -ne "$status" ]; then
        bad "$name: exit $got, expected $status: $(cat "$dir/err")"
    elif [ "$lines" -ne 1 ] || ! grep -q -- "$words" "$dir/err"; then
        bad "$name: expected one line with '$words': $(cat "$dir/err")"
    elif grep -q 'NSCocoaErrorDomain\|Error Domain' "$dir/err"; then
        bad "$name: Foundation's error text reached the person: $(cat "$dir/err")"
    else
        ok "$name → $got: $(grep '^ngbridge: ' "$dir/err")"
    fi
}

# Configuration (78).
echo '{"netgiro": {"baseurl": "x"}}' >"$dir/misspelt.json"
expect "unknown key in the config file" 78 "netgiro.baseurl: no such setting" -- run --config "$dir/misspelt.json" --check-config
printf '{"netgiro": {"base-url": "x",}\n' >"$dir/broken.json"
expect "malformed config file" 78 "broken.json is not valid JSON: line 2, column 1" -- run --config "$dir/broken.json" --check-config
expect "plain http to a remote Netgíró" 78 "netgiro.base-url (NGBRIDGE_NETGIRO_BASE_URL): http://api.netgiro.is/v1/ is plain HTTP" -- \
    run --set netgiro.base-url=http://api.netgiro.is/v1/ --check-config
chmod 644 "$dir/secret"
expect "secret file every user may read" 78 "netgiro.secret-file (NGBRIDGE_NETGIRO_SECRET_FILE): .* (mode 0644)" -- run --check-config
chmod 600 "$dir/secret"
# Can't create (73).
expect "--check-config: journal directory not writable" 73 "journal.path (NGBRIDGE_JOURNAL_PATH): cannot create /proc/nope" -- \
    run --set journal.path=/proc/nope/j.sqlite --check-config
expect "journal directory cannot be created" 73 "journal.path (NGBRIDGE_JOURNAL_PATH): cannot create /proc/nope" -- \
    run --set journal.path=/proc/nope/j.sqlite --set api.listen="unix:$dir/unused.sock"

# Unavailable (69): the till API's port is taken.
python3 -c 'import socket,time; s=socket.socket(); s.bind(("127.0.0.1",0)); s.listen(); print(s.getsockname()[1], flush=True); time.sleep(120)' >"$dir/port" &
pids+=($!)
for _ in $(seq 100); do [ -s "$dir/port" ] && break; sleep 0.1; done
port=$(cat "$dir/port")
expect "api.listen address in use" 69 "api.listen (NGBRIDGE_API_LISTEN): 127.0.0.1:$port is already in use" -- \
    run --set api.listen="127.0.0.1:$port" --set api.token-file="$dir/token" --set journal.path="$dir/j0.sqlite"

# Standard error as the journal (systemd sets JOURNAL_STREAM to its device:inode): each line
# starts with its syslog priority, so `journalctl -p err` finds the errors.
: >"$dir/journal-stream"
JOURNAL_STREAM=$(stat -c %d:%i "$dir/journal-stream") timeout 30 "$ng" run --set api.listen="127.0.0.1:$port" \
    --set api.token-file="$dir/token" --set journal.path="$dir/j0.sqlite" 2>>"$dir/journal-stream"
if grep -q '^<3>ngbridge: cannot start: api.listen' "$dir/journal-stream" && ! grep -qv '^<[0-7]>' "$dir/journal-stream"; then
    ok "stderr is the journal: every line has its priority ($(grep -c . "$dir/journal-stream") lines, the failure at <3>)"
else
    bad "no syslog priorities on the journal stream: $(cat "$dir/journal-stream")"
fi

# A first daemon, then others on its socket and its journal.
umask 022
"$ng" run --set api.listen="unix:$dir/api.sock" --set journal.path="$dir/j1.sqlite" >"$dir/first.log" 2>&1 &
first=$!
pids+=($first)
for _ in $(seq 200); do grep -q 'ready' "$dir/first.log" && break; sleep 0.1; done
grep -q 'ready' "$dir/first.log" || bad "the first daemon did not start: $(cat "$dir/first.log")"
expect "a second daemon on a live socket" 69 "api.listen (NGBRIDGE_API_LISTEN): unix:$dir/api.sock is served by another running process" -- \
    run --set api.listen="unix:$dir/api.sock" --set journal.path="$dir/j2.sqlite"
expect "a second daemon on the same journal" 69 "journal.path (NGBRIDGE_JOURNAL_PATH): .* is in use: .* (pid $first)" -- \
    run --set api.listen="unix:$dir/other.sock" --set journal.path="$dir/j1.sqlite"
[ -S "$dir/api.sock" ] && ok "the first daemon's socket is still there" || bad "the first daemon's socket was removed"
[ ! -e "$dir/other.sock" ] && ok "the refused daemon never bound its socket" || bad "the refused daemon bound other.sock"
mode=$(stat -c %a "$dir/j1.sqlite")
[ "$mode" = 600 ] && ok "journal created 0600 under umask 022" || bad "journal created $mode under umask 022"

# A JSON key with a newline in a till's request: refused (422), and the log line stays one line.
python3 - "$dir/api.sock" >"$dir/answer" <<'PY'
import json, socket, sys
body = json.dumps({"amount": 1500, "reference": "R-1", "x\ninfo ngbridge: payment paid amount=999999 payment=forged": 1}).encode()
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1])
s.sendall(b"POST /v1/payments HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nConnection: close\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
print(s.recv(65536).split(b"\r\n")[0].decode())
PY
grep -q ' 422' "$dir/answer" || bad "the request was not refused: $(cat "$dir/answer")"
for _ in $(seq 50); do grep -q 'request refused' "$dir/first.log" && break; sleep 0.1; done
if grep -q '^info ngbridge: payment paid' "$dir/first.log"; then
    bad "a till's JSON key forged a log line: $(grep -n 'payment paid' "$dir/first.log")"
elif grep -q 'request refused.*x\\ninfo ngbridge' "$dir/first.log"; then
    ok "the till's key stays inside the refusal's line: $(grep 'request refused' "$dir/first.log")"
else
    bad "the refusal is not in the log: $(cat "$dir/first.log")"
fi

# The first daemon stops cleanly (0); the next one takes its stale socket.
kill -TERM "$first"
wait "$first"
status=$?
[ "$status" -eq 0 ] && ok "SIGTERM → exit 0" || bad "SIGTERM → exit $status"
"$ng" run --set api.listen="unix:$dir/api.sock" --set journal.path="$dir/j1.sqlite" >"$dir/again.log" 2>&1 &
again=$!
pids+=($again)
for _ in $(seq 200); do grep -q 'ready' "$dir/again.log" && break; sleep 0.1; done
grep -q 'ready' "$dir/again.log" && ok "a new daemon takes the stale socket and the released journal" || bad "restart failed: $(cat "$dir/again.log")"
kill -TERM "$again"
wait "$again"

[ "$failed" -eq 0 ] && echo "refusals: all ok" || echo "refusals: FAILED"
exit "$failed"
