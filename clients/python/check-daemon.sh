#!/usr/bin/env bash
# The generated Python client against a running bridge: generates the client from
# openapi/till-api.json (clients/python/generate.sh), installs it, starts `ngbridge run` with a
# simulated PIN pad (its customer keys the sandbox phone number) and the Netgíró simulator, and
# pays one payment through the client (check_client.py: health, terminals, start, idempotent
# replay, the payment until paid with TransactionId and InvoiceNumber, refunds in part and in
# full against the simulator's strict partner API, a 404 problem document); then `ngbridge refund`.
# Usage: clients/python/check-daemon.sh [path/to/ngbridge]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
ng=$(realpath "${1:-.build/debug/ngbridge}")
"$here/generate.sh" >/dev/null
"$here/.venv/bin/pip" install --quiet --disable-pip-version-check --upgrade "$here/build/ngbridge-till-client"

dir=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$dir"; }
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; for f in "$dir"/*.log; do echo "--- $f" >&2; tail -20 "$f" >&2; done; exit 1; }

# The public sandbox secret of Netgíró's test account (published by Netgíró; not a secret).
printf '%s' 'YCFd6hiA8lUjZejVcIf/LhRXO4wTDxY0JhOXvQZwnMSiNynSxmNIMjMf1HHwdV6cMN48NX3ZipA9q9hLPb9C1ZIzMH5dvELPAHceiu7LbZzmIAGeOf/OUaDrk2Zq2dbGacIAzU6yyk4KmOXRaSLi8KW8t3krdQSX7Ecm8Qunc/A=' >"$dir/secret"
chmod 600 "$dir/secret"  # a secret others may read is refused
"$ng" sim netgiro --port 0 --accept-delay-ms 1000 >"$dir/netgiro.log" 2>&1 &
pids+=($!)
printf '%s\n' "timeout 60s" "on prompt customer-id type 8223281 ok after 200ms" "wait link down" >"$dir/customer.pad"
"$ng" sim pinpad --link "$dir/pad0" --script "$dir/customer.pad" --no-interactive >"$dir/pad.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do grep -q "base URL" "$dir/netgiro.log" && break; sleep 0.1; done
base=$(sed -n 's/.*base URL \(http[^ ]*\).*/\1/p' "$dir/netgiro.log" | head -1)
[ -n "$base" ] || fail "the Netgíró simulator did not start"
"$ng" run --set netgiro.base-url="$base" --set netgiro.app-key=881E674F-7891-4C20-AFD8-56FE2624C4B5 \
    --set netgiro.secret-file="$dir/secret" --set device.path="$dir/pad0" \
    --set api.listen="unix:$dir/api.sock" --set journal.path="$dir/journal.sqlite" >"$dir/daemon.log" 2>&1 &
pids+=($!)
"$here/.venv/bin/python" "$here/check_client.py" "$dir/api.sock" | tee "$dir/client.out" || fail "the generated client did not pay and refund through the bridge"
# The CLI sees the same refunds, and the Netgíró simulator's ledger took exactly two.
id=$(sed -n 's/^PAYMENT_ID=//p' "$dir/client.out")
"$ng" refund "$id" --list --api "unix:$dir/api.sock" | tee "$dir/refunds.out"
grep -q "refunded   1180 ISK; refundable 0 ISK" "$dir/refunds.out" || fail "ngbridge refund --list does not show 1180 ISK refunded"
"$ng" refund "$id" --amount 1 --api "unix:$dir/api.sock" >"$dir/over.out" 2>&1 && fail "ngbridge refund took a refund above what was paid"
grep -q "Nothing is left to refund" "$dir/over.out" || fail "ngbridge refund over the paid amount did not say why: $(cat "$dir/over.out")"
echo "ok: ngbridge refund lists the refunds and refuses one above what was paid"
# Bad refund requests are problem documents naming the field and the rule.
ask() { curl -s --unix-socket "$dir/api.sock" -X POST "http://localhost/v1/payments/$id/refunds" "$@"; }
ask -H 'Content-Type: text/plain' -d '{"amount":1}' | grep -q '"rule":"application/json"' || fail "a text/plain refund was not refused with 415"
ask -H 'Content-Type: application/json' -d '{"amount":"1"}' | grep -q '"field":"amount"' || fail "a string amount was not refused naming the field"
ask -H 'Content-Type: application/json' -d '{"amount":1,"to":"me"}' | grep -q '"rule":"unknown-field"' || fail "an unknown refund field was not refused"
echo "ok: bad refund requests are refused naming the field and the rule"
