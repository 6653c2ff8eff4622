#!/usr/bin/env bash
# End of the day from the command line, against `ngbridge run` with a simulated PIN pad and the
# Netgíró simulator: a payment whose InsertCart answer is lost ends unknown; `ngbridge payments
# list` and `ngbridge payments export` put it first with what to check in Netgíró's portal; staff
# record the finding with `ngbridge payment ID resolve`, which is then not changed; the next
# export counts it as resolved and lists it with the paid payments.
#   Tests/reconciliation-cli.sh [path/to/ngbridge]
set -euo pipefail
ng=$(realpath "${1:-.build/debug/ngbridge}")
dir=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$dir"; }
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; for f in "$dir"/*.log; do echo "--- $f" >&2; tail -20 "$f" >&2; done; exit 1; }

printf '%s' 'YCFd6hiA8lUjZejVcIf/LhRXO4wTDxY0JhOXvQZwnMSiNynSxmNIMjMf1HHwdV6cMN48NX3ZipA9q9hLPb9C1ZIzMH5dvELPAHceiu7LbZzmIAGeOf/OUaDrk2Zq2dbGacIAzU6yyk4KmOXRaSLi8KW8t3krdQSX7Ecm8Qunc/A=' >"$dir/secret"
chmod 600 "$dir/secret"
# Every call is carried out, then its connection dropped: InsertCart's outcome is unknown.
"$ng" sim netgiro --port 0 --fault-drop 1 >"$dir/netgiro.log" 2>&1 &
pids+=($!)
{ echo "timeout 120s"; echo "on prompt customer-id type 8223281 ok after 100ms"; echo "wait link down"; } >"$dir/customer.pad"
"$ng" sim pinpad --link "$dir/pad0" --script "$dir/customer.pad" --no-interactive >"$dir/pad.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do grep -q "base URL" "$dir/netgiro.log" && break; sleep 0.1; done
base=$(sed -n 's/.*base URL \(http[^ ]*\).*/\1/p' "$dir/netgiro.log" | head -1)
[ -n "$base" ] || fail "the Netgíró simulator did not start"
"$ng" run --set netgiro.base-url="$base" --set netgiro.app-key=881E674F-7891-4C20-AFD8-56FE2624C4B5 \
    --set netgiro.secret-file="$dir/secret" --set device.path="$dir/pad0" \
    --set api.listen="unix:$dir/api.sock" --set journal.path="$dir/journal.sqlite" >>"$dir/daemon.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do grep -q "terminal linked" "$dir/daemon.log" 2>/dev/null && break; sleep 0.1; done
grep -q "terminal linked" "$dir/daemon.log" || fail "the daemon did not link with the pad"
api=(--api "unix:$dir/api.sock")

# Under Automatic confirmation a lost InsertCart answer leaves the payment unknown (Manual: failed).
timeout 60 "$ng" pay --amount 4990 --reference DAY-1 --confirmation automatic "${api[@]}" >"$dir/pay.out" 2>&1 || true
grep -q "state *unknown" "$dir/pay.out" || fail "the payment did not end unknown: $(cat "$dir/pay.out")"
"$ng" payments list --state unknown "${api[@]}" >"$dir/list.out" || fail "payments list failed"
grep -q "unknown  4990 ISK  ref DAY-1" "$dir/list.out" || fail "payments list: $(cat "$dir/list.out")"
id=$(awk '{print $2}' "$dir/list.out" | head -1)

day=$(date -u +%F)
"$ng" payments export --date "$day" --time-zone UTC --format csv "${api[@]}" >"$dir/day.csv" 2>"$dir/export.err" || fail "export failed: $(cat "$dir/export.err")"
sed -n 2p "$dir/day.csv" | grep -q "^to-check,unknown,.*,4990,$id,DAY-1,.*Netgíró's partner portal.*resolve --paid" || fail "export: $(cat "$dir/day.csv")"
grep -q "1 unknown payment(s) to check" "$dir/export.err" || fail "export did not say what to check"

"$ng" payment "$id" resolve --paid 7c1e0d2a-0000-4000-8000-000000000001 --note "checked by the manager" "${api[@]}" >"$dir/resolve.out" \
    || fail "resolve failed: $(cat "$dir/resolve.out")"
grep -q "resolved   paid by staff, transaction 7c1e0d2a-0000-4000-8000-000000000001" "$dir/resolve.out" || fail "resolve: $(cat "$dir/resolve.out")"
if "$ng" payment "$id" resolve --not-paid "${api[@]}" >"$dir/again.out" 2>&1; then fail "a recorded finding was changed"; fi
grep -q "already recorded it as paid" "$dir/again.out" || fail "the refusal does not say why: $(cat "$dir/again.out")"

"$ng" payments export --date "$day" --time-zone UTC --format json "${api[@]}" >"$dir/day.json"
python3 - "$dir/day.json" "$id" <<'PY' || fail "export after resolving: $(cat "$dir/day.json")"
import json, sys
report = json.load(open(sys.argv[1]))
assert report["toCheck"] == [], report["toCheck"]
assert [(t["outcome"], t["count"], t["amount"]) for t in report["totals"]] == [("resolved-paid", 1, 4990)], report["totals"]
assert report["paid"][0]["payment"] == sys.argv[2] and report["paid"][0]["resolvedByStaff"] is True
assert report["paid"][0]["transactionId"] == "7c1e0d2a-0000-4000-8000-000000000001"
PY
grep -q "payment resolved by staff" "$dir/daemon.log" || fail "the resolution is not in the daemon's log"
echo "ok: an unknown payment was listed, exported first with what to check, resolved once, and counted as resolved-paid"
