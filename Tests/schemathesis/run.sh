#!/usr/bin/env bash
# Property-based contract test: schemathesis (PyPI) generates requests from
# openapi/till-api.json — valid ones and ones that break the document — and sends them to a
# running daemon (`ngbridge run` with a simulated PIN pad on a pty and the Netgíró simulator),
# checking every answer against the document: no 5xx, documented status codes, content types
# and schemas, invalid data refused, valid data accepted, 405 with Allow for other methods.
# The settings are in Tests/schemathesis/schemathesis.toml (read the notes there).
#   Tests/schemathesis/run.sh [path/to/ngbridge]
# SCHEMATHESIS_EXAMPLES (default 25) bounds the examples per operation; CI keeps it small, a
# longer run is e.g. SCHEMATHESIS_EXAMPLES=500. schemathesis is installed into an ignored
# virtual environment (.build-schemathesis/) on first use.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
ng=$(realpath "${1:-$root/.build/debug/ngbridge}")
venv="$root/.build-schemathesis/venv"
version=4.32.5
if [ ! -x "$venv/bin/st" ] || ! "$venv/bin/st" --version 2>/dev/null | grep -q "$version"; then
    rm -rf "$venv"
    python3 -m venv "$venv" || { echo "python3 -m venv failed: install python3-venv" >&2; exit 1; }
    "$venv/bin/pip" install --quiet --disable-pip-version-check "schemathesis==$version"
fi

dir=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$dir"; }
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; for f in "$dir"/*.log; do echo "--- $f" >&2; tail -20 "$f" >&2; done; exit 1; }

printf '%s' 'YCFd6hiA8lUjZejVcIf/LhRXO4wTDxY0JhOXvQZwnMSiNynSxmNIMjMf1HHwdV6cMN48NX3ZipA9q9hLPb9C1ZIzMH5dvELPAHceiu7LbZzmIAGeOf/OUaDrk2Zq2dbGacIAzU6yyk4KmOXRaSLi8KW8t3krdQSX7Ecm8Qunc/A=' >"$dir/secret"
chmod 600 "$dir/secret"
head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$dir/token"
chmod 600 "$dir/token"
"$ng" sim netgiro --port 0 >"$dir/netgiro.log" 2>&1 &
pids+=($!)
# The customer cancels every payment on the pad, so the pad is soon free for the next one.
{
    echo "timeout 600s"
    for _ in $(seq 200); do echo "on prompt customer-id press cancel after 50ms"; done
    echo "wait link down"
} >"$dir/customer.pad"
"$ng" sim pinpad --link "$dir/pad0" --script "$dir/customer.pad" --no-interactive >"$dir/pad.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do grep -q "base URL" "$dir/netgiro.log" && break; sleep 0.1; done
base=$(sed -n 's/.*base URL \(http[^ ]*\).*/\1/p' "$dir/netgiro.log" | head -1)
[ -n "$base" ] || fail "the Netgíró simulator did not start"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$ng" run --set netgiro.base-url="$base" --set netgiro.app-key=881E674F-7891-4C20-AFD8-56FE2624C4B5 \
    --set netgiro.secret-file="$dir/secret" --set device.path="$dir/pad0" \
    --set api.listen="127.0.0.1:$port" --set api.token-file="$dir/token" \
    --set journal.path="$dir/journal.sqlite" >>"$dir/daemon.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do grep -q "terminal linked" "$dir/daemon.log" 2>/dev/null && break; sleep 0.1; done
grep -q "terminal linked" "$dir/daemon.log" || fail "the daemon did not link with the pad"

cd "$dir"  # schemathesis keeps its cache in the working directory
status=0
"$venv/bin/st" --config-file "$here/schemathesis.toml" run "$root/openapi/till-api.json" \
    --url "http://127.0.0.1:$port" -H "Authorization: Bearer $(cat "$dir/token")" \
    --max-examples "${SCHEMATHESIS_EXAMPLES:-25}" --seed "${SCHEMATHESIS_SEED:-1}" --workers 1 \
    --report junit --report-dir "$dir/report" || status=$?
if grep -Eq "request failed|Internal error" "$dir/daemon.log"; then
    echo "the daemon logged a failed request:" >&2
    grep -E "request failed|Internal error" "$dir/daemon.log" | head -5 >&2
    status=1
fi
[ "$status" -eq 0 ] || fail "schemathesis found disagreements between the document and the daemon (above)"
echo "ok: schemathesis found no disagreement between openapi/till-api.json and the daemon"
