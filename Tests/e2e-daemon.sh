#!/usr/bin/env bash
# End to end through the product as an integrator runs it: `ngbridge run` (the daemon) with a
# simulated PIN pad on a pty (`ngbridge sim pinpad`, the real firmware core) and the Netgíró
# simulator, driven through the till API on a unix socket by `ngbridge pay`.
#   1. a payment keyed by a scripted customer ends paid, with TransactionId and InvoiceNumber,
#      and the customer's phone number appears nowhere in the daemon's log; `ngbridge pay` run
#      again for the same sale answers with the same payment;
#   2. the daemon is killed (SIGKILL) while the customer is deciding, started again, and the
#      payment still ends with a definite state (recovered from the journal), with one cart in
#      Netgíró's ledger;
#   3. the pad's cable is pulled while the customer types (app code, automatic confirmation):
#      after the replug the pad asks again and the payment ends paid;
#   4. the till cancels while the pad waits for the customer: the payment ends cancelled;
#   5. (qemu) a payment over a line that damages, drops and repeats bytes both ways ends paid;
#   6. Ctrl-C on `ngbridge pay` while the customer is asked, answered "y": the payment ends
#      cancelled and `ngbridge pay` exits with status 3;
#   7. (qemu) the emulated pad's command is killed with SIGKILL: its QEMU goes with it.
# NGBRIDGE_E2E_PAD selects the pad: `pty` (default) the in-process simulator, `qemu` the pad's
# real firmware image (firmware/build/pinpad.elf, or NGBRIDGE_PAD_IMAGE) in qemu-system-arm,
# driven by the same scenario language through its debug channel. QEMU keeps the pad's line open
# while it runs, so there the daemon reaches the pad through `ngbridge sim line`, which pulls the
# cable for case 3 (SIGUSR1) and is restarted with faults for case 5.
# Usage: [NGBRIDGE_E2E_PAD=pty|qemu] Tests/e2e-daemon.sh [path/to/ngbridge]
set -euo pipefail
ng=$(realpath "${1:-.build/debug/ngbridge}")
pad_kind=${NGBRIDGE_E2E_PAD:-pty}
case "$pad_kind" in
pty) pad_args=() ;;
qemu)
    image=$(realpath "${NGBRIDGE_PAD_IMAGE:-$(dirname "$0")/../firmware/build/pinpad.elf}")
    pad_args=(--qemu "$image")
    # A fixed seed for the faulty line of case 5 (its faults follow the bytes, so a run whose
    # bytes differ meets other faults; each direction keeps its own generator).
    line_faults="byte-corrupt=0.01,byte-drop=0.01,duplicate=0.02"
    ;;
*) echo "NGBRIDGE_E2E_PAD must be pty or qemu, not $pad_kind" >&2; exit 2 ;;
esac
echo "pad: $pad_kind"
dir=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$dir"; }
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; for f in "$dir"/*.log; do echo "--- $f" >&2; tail -20 "$f" >&2; done; exit 1; }

printf '%s' 'YCFd6hiA8lUjZejVcIf/LhRXO4wTDxY0JhOXvQZwnMSiNynSxmNIMjMf1HHwdV6cMN48NX3ZipA9q9hLPb9C1ZIzMH5dvELPAHceiu7LbZzmIAGeOf/OUaDrk2Zq2dbGacIAzU6yyk4KmOXRaSLi8KW8t3krdQSX7Ecm8Qunc/A=' >"$dir/secret"
chmod 600 "$dir/secret" # a secret others may read is refused
"$ng" sim netgiro --port 0 --accept-delay-ms 3000 >"$dir/netgiro.log" 2>&1 &
pids+=($!)
{
    echo "timeout 120s"
    echo "on prompt customer-id type 8223281 ok after 300ms"
    echo "on prompt customer-id type 8223281 ok after 300ms"
    echo "on prompt customer-id type 500 after 300ms"
    if [ "$pad_kind" = pty ]; then
        echo "unplug"
        echo "wait 500ms"
        echo "replug"
    fi
    # qemu: the 4th "waiting for prompt" note tells the script to pull the cable here.
    echo "on prompt customer-id type 5000041234 ok after 300ms"
    echo "on prompt customer-id"
    if [ "$pad_kind" = qemu ]; then echo "on prompt customer-id type 5000041234 ok after 300ms"; fi
    echo "on prompt customer-id"
    # The pad stays until the daemon is gone (the end of this script), then stops by itself.
    echo "wait link down"
} >"$dir/customer.pad"
if [ "$pad_kind" = qemu ]; then
    "$ng" sim pinpad --link "$dir/pad-emulated" "${pad_args[@]}" --script "$dir/customer.pad" --no-interactive >"$dir/pad.log" 2>&1 &
    pad=$!
    pids+=($pad)
    # The daemon's pad is at pad0 as in pty mode, through a cable that can be pulled.
    start_line() {
        "$ng" sim line --device "$dir/pad-emulated" --link "$dir/pad0" "$@" >>"$dir/line.log" 2>&1 &
        line=$!
        pids+=($line)
    }
    stop_line() { kill -TERM "$line"; wait "$line" || fail "ngbridge sim line did not stop cleanly"; }
    start_line
else
    "$ng" sim pinpad --link "$dir/pad0" "${pad_args[@]}" --script "$dir/customer.pad" --no-interactive >"$dir/pad.log" 2>&1 &
    pids+=($!)
fi
for _ in $(seq 100); do grep -q "base URL" "$dir/netgiro.log" && break; sleep 0.1; done
base=$(sed -n 's/.*base URL \(http[^ ]*\).*/\1/p' "$dir/netgiro.log" | head -1)
[ -n "$base" ] || fail "the Netgíró simulator did not start"

start_daemon() {
    "$ng" run --set netgiro.base-url="$base" --set netgiro.app-key=881E674F-7891-4C20-AFD8-56FE2624C4B5 \
        --set netgiro.secret-file="$dir/secret" --set device.path="$dir/pad0" \
        --set api.listen="unix:$dir/api.sock" --set journal.path="$dir/journal.sqlite" >>"$dir/daemon.log" 2>&1 &
    daemon=$!
    pids+=($daemon)
    for _ in $(seq 100); do grep -q "terminal linked" "$dir/daemon.log" 2>/dev/null && return 0; sleep 0.1; done
    fail "the daemon did not link with the pad"
}

# 1. A payment, paid.
start_daemon
timeout 60 "$ng" pay --amount 4990 --reference E2E-1 --api "unix:$dir/api.sock" >"$dir/pay1.out" 2>&1 || fail "ngbridge pay did not end paid: $(tail -5 "$dir/pay1.out")"
grep -q "state *paid" "$dir/pay1.out" || fail "no paid state in: $(cat "$dir/pay1.out")"
grep -Eq "transaction +[0-9a-f-]{36}" "$dir/pay1.out" || fail "no TransactionId"
grep -Eq "invoice +[0-9]+" "$dir/pay1.out" || fail "no InvoiceNumber"
if grep -q 8223281 "$dir/daemon.log"; then fail "the customer's phone number is in the daemon's log"; fi
if grep -q 8223281 "$dir/pad.log"; then fail "the customer's phone number is in the pad's transcript"; fi
echo "ok: payment paid through the daemon, no personal data in its log"
# Run again (as after a timeout): the same payment, not a second sale.
first=$(grep -Eo '^payment [0-9a-f-]{36}' "$dir/pay1.out" | head -1)
timeout 60 "$ng" pay --amount 4990 --reference E2E-1 --api "unix:$dir/api.sock" >"$dir/pay1b.out" 2>&1 || fail "ngbridge pay run again did not answer paid: $(tail -5 "$dir/pay1b.out")"
[ -n "$first" ] && grep -q "^$first: started before" "$dir/pay1b.out" || fail "ngbridge pay run again is not $first: $(cat "$dir/pay1b.out")"
echo "ok: ngbridge pay run again joins the payment it started"

# 2. SIGKILL while the customer decides, restart, definite outcome.
"$ng" pay --amount 1500 --reference E2E-2 --json --api "unix:$dir/api.sock" >"$dir/pay2.out" 2>&1 &
pay2=$!
# Wait until the second payment's cart exists and the customer is deciding in the app.
for _ in $(seq 200); do
    [ "$(grep -c 'phase=awaitingCustomer ' "$dir/daemon.log" || true)" -ge 2 ] && break
    sleep 0.05
done
id=$(grep 'payment started' "$dir/daemon.log" | tail -1 | sed -n 's/.*payment=\([0-9a-f-]*\).*/\1/p')
[ -n "$id" ] || fail "the second payment did not start"
kill -9 "$daemon"
wait "$pay2" 2>/dev/null || true
echo "daemon killed mid-payment ($id)"
start_daemon
state=""
for _ in $(seq 150); do
    state=$("$ng" payment "$id" --api "unix:$dir/api.sock" 2>/dev/null | sed -n 's/^state *\([a-z-]*\).*/\1/p' || true)
    case "$state" in paid|declined|cancelled|failed|unknown) break ;; esac
    sleep 0.2
done
case "$state" in paid|declined|cancelled|failed|unknown) ;; *) fail "payment $id has no final state after the restart (state: ${state:-none})" ;; esac
carts=$(curl -s "${base%/v1/}/_sim/ledger" | grep -o '"reference" *: *"E2E-2"' | wc -l)
[ "$carts" -le 1 ] || fail "$carts carts in Netgíró's ledger for one payment"
echo "ok: after SIGKILL and restart the payment ended $state; Netgíró's ledger holds $carts cart for it"

# 3. Cable pulled mid-entry; asked again after the replug. The pty pad pulls its own cable
# (its script says so); the emulated pad's is pulled by `ngbridge sim line` once the customer
# has typed a few digits and the script waits for the next prompt.
timeout 60 "$ng" pay --amount 2500 --reference E2E-3 --confirmation automatic --api "unix:$dir/api.sock" >"$dir/pay3.out" 2>&1 &
pay3=$!
if [ "$pad_kind" = qemu ]; then
    for _ in $(seq 300); do
        [ "$(grep -c 'waiting for prompt' "$dir/pad.log" || true)" -ge 4 ] && break
        sleep 0.05
    done
    [ "$(grep -c 'waiting for prompt' "$dir/pad.log" || true)" -ge 4 ] || fail "the customer did not start typing on the third payment"
    kill -USR1 "$line"
fi
wait "$pay3" || fail "the payment with a replug did not end paid: $(tail -5 "$dir/pay3.out")"
grep -q "state *paid" "$dir/pay3.out" || fail "no paid state after the replug: $(cat "$dir/pay3.out")"
grep -q "terminal link down" "$dir/daemon.log" || fail "the daemon never saw the pad go"
if [ "$pad_kind" = qemu ]; then grep -q "cable pulled" "$dir/line.log" || fail "ngbridge sim line did not pull the cable"; fi
echo "ok: the cable was pulled mid-entry; after the replug the pad asked again and the payment ended paid"

# 4. The till cancels while the customer is being asked.
started4=4
"$ng" pay --amount 990 --reference E2E-4 --api "unix:$dir/api.sock" >"$dir/pay4.out" 2>&1 &
pay4=$!
for _ in $(seq 200); do
    [ "$(grep -c 'payment started' "$dir/daemon.log" || true)" -ge "$started4" ] && break
    sleep 0.05
done
id4=$(grep 'payment started' "$dir/daemon.log" | tail -1 | sed -n 's/.*payment=\([0-9a-f-]*\).*/\1/p')
[ -n "$id4" ] || fail "the fourth payment did not start"
for _ in $(seq 200); do
    "$ng" payment "$id4" --api "unix:$dir/api.sock" 2>/dev/null | grep -q "^state *awaiting-customer" && break
    sleep 0.05
done
"$ng" cancel "$id4" --api "unix:$dir/api.sock" >"$dir/cancel.out" 2>&1 || fail "ngbridge cancel failed: $(cat "$dir/cancel.out")"
wait "$pay4" || true
state4=$("$ng" payment "$id4" --api "unix:$dir/api.sock" | sed -n 's/^state *\([a-z-]*\).*/\1/p')
[ "$state4" = cancelled ] || fail "the cancelled payment ended ${state4:-without a state}"
echo "ok: the till cancelled at the pad's prompt; the payment ended cancelled"

# 5. A payment over a faulty line, both ways (the emulated pad only: the pty pad is the daemon's
# pad0 itself). The clean line is stopped, which the daemon sees as a pulled cable, and a faulty
# one takes its place at the same path.
if [ "$pad_kind" = qemu ]; then
    linked=$(grep -c "terminal linked" "$dir/daemon.log" || true)
    stop_line
    start_line --to-pad-faults "$line_faults" --to-host-faults "$line_faults" --seed 5
    for _ in $(seq 200); do
        [ "$(grep -c 'terminal linked' "$dir/daemon.log" || true)" -gt "$linked" ] && break
        sleep 0.05
    done
    [ "$(grep -c 'terminal linked' "$dir/daemon.log" || true)" -gt "$linked" ] || fail "the daemon did not link with the pad over the faulty line"
    timeout 60 "$ng" pay --amount 3100 --reference E2E-5 --confirmation automatic --api "unix:$dir/api.sock" >"$dir/pay5.out" 2>&1 || fail "the payment over the faulty line did not end paid: $(tail -5 "$dir/pay5.out")"
    grep -q "state *paid" "$dir/pay5.out" || fail "no paid state over the faulty line: $(cat "$dir/pay5.out")"
    stop_line
    counts=$(sed -n '/^to pad:/p;/^to host:/p' "$dir/line.log" | tail -2)
    for way in "to pad" "to host"; do
        hit=$(echo "$counts" | sed -n "s/^$way: .*bytes damaged \([0-9]*\), lost \([0-9]*\);.*/\1 \2/p")
        [ -n "$hit" ] && [ $((${hit% *} + ${hit#* })) -gt 0 ] || fail "no byte $way was damaged or lost: $counts"
    done
    echo "ok: a payment over a line with $line_faults both ways ended paid"
    echo "$counts" | sed 's/^/  /'
fi

# 6. The person at the till presses Ctrl-C in `ngbridge pay` and answers "y" to "cancel?".
if [ "$pad_kind" = qemu ]; then
    # A clean cable again after case 5.
    linked=$(grep -c "terminal linked" "$dir/daemon.log" || true)
    start_line
    for _ in $(seq 200); do
        [ "$(grep -c 'terminal linked' "$dir/daemon.log" || true)" -gt "$linked" ] && break
        sleep 0.05
    done
fi
mkfifo "$dir/pay6.in"
exec 7<>"$dir/pay6.in"
# A background job of a script starts with SIGINT ignored; `ngbridge pay` takes SIGINT itself.
"$ng" pay --amount 770 --reference E2E-6 --api "unix:$dir/api.sock" <&7 >"$dir/pay6.out" 2>&1 &
pay6=$!
started6=$([ "$pad_kind" = qemu ] && echo 6 || echo 5)
for _ in $(seq 200); do
    [ "$(grep -c 'payment started' "$dir/daemon.log" || true)" -ge "$started6" ] && break
    sleep 0.05
done
id6=$(grep 'payment started' "$dir/daemon.log" | tail -1 | sed -n 's/.*payment=\([0-9a-f-]*\).*/\1/p')
for _ in $(seq 200); do
    "$ng" payment "$id6" --api "unix:$dir/api.sock" 2>/dev/null | grep -q "^state *awaiting-customer" && break
    sleep 0.05
done
"$ng" payment "$id6" --api "unix:$dir/api.sock" 2>/dev/null | grep -q "^state *awaiting-customer" || fail "the sixth payment never asked the customer"
kill -INT "$pay6"
for _ in $(seq 100); do
    grep -q "cancel payment .*? \[y/N\]" "$dir/pay6.out" && break
    sleep 0.05
done
grep -q "cancel payment .*? \[y/N\]" "$dir/pay6.out" || fail "Ctrl-C did not ask whether to cancel: $(cat "$dir/pay6.out")"
echo y >&7
status6=0
wait "$pay6" || status6=$?
exec 7>&-
grep -q "^outcome *cancelled" "$dir/pay6.out" || fail "Ctrl-C + y did not cancel the payment: $(cat "$dir/pay6.out")"
[ "$status6" -eq 3 ] || fail "ngbridge pay exited with $status6 after a cancel, not 3"
echo "ok: Ctrl-C in ngbridge pay, answered y: the payment ended cancelled (exit status 3)"

# 7. A killed `ngbridge sim pinpad --qemu` leaves no QEMU behind (it would hold its ptys).
if [ "$pad_kind" = qemu ]; then
    qemu_pid=$(pgrep -P "$pad" -f qemu-system-arm || true)
    [ -n "$qemu_pid" ] || fail "no QEMU under the emulated pad's command"
    kill -9 "$pad"
    for _ in $(seq 100); do kill -0 "$qemu_pid" 2>/dev/null || break; sleep 0.05; done
    if kill -0 "$qemu_pid" 2>/dev/null; then kill -9 "$qemu_pid"; fail "QEMU outlived the killed pad command"; fi
    echo "ok: SIGKILL of the emulated pad's command took its QEMU with it"
fi
