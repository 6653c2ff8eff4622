#!/usr/bin/env bash
# The till on the shop's LAN, across a real network boundary: a second host made with a network
# namespace and a veth pair on this machine is the till; `ngbridge run` (with the Netgíró and
# PIN-pad simulators) listens on the host side's address with TLS and client certificates from
# `ngbridge certs init`.
#   1. plain TCP on that (non-loopback) address is refused at start, naming api.listen (EX_CONFIG);
#   2. certs init writes keys with mode 0600 and prints each certificate's expiry;
#   3. the till pays over mutual TLS (curl with the till's certificate) and the payment ends paid;
#   4. no client certificate, a certificate from another CA, and an expired one from the shop's
#      own CA are each refused in the TLS handshake: no HTTP status comes back.
# Needs root (ip netns), iproute2 and curl. Usage: Tests/lan-mtls.sh [path/to/ngbridge]
set -euo pipefail
ng=$(realpath "${1:-.build/debug/ngbridge}")
[ "$(id -u)" -eq 0 ] || { echo "Tests/lan-mtls.sh needs root for ip netns (CI runs as root)" >&2; exit 1; }
dir=$(mktemp -d)
ns=ngtill$$
host_if=ngb$$
till_if=ngt$$
n=$(($$ % 250 + 1))
bridge_ip=10.231.$n.1
till_ip=10.231.$n.2
port=8443
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    ip link del "$host_if" 2>/dev/null || true
    ip netns del "$ns" 2>/dev/null || true
    rm -rf "$dir"
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; for f in "$dir"/*.log; do echo "--- $f" >&2; tail -20 "$f" >&2; done; exit 1; }

# The second host: the till's side of a veth pair in its own namespace.
ip netns add "$ns"
ip link add "$host_if" type veth peer name "$till_if"
ip link set "$till_if" netns "$ns"
ip addr add "$bridge_ip/24" dev "$host_if"
ip link set "$host_if" up
ip netns exec "$ns" ip addr add "$till_ip/24" dev "$till_if"
ip netns exec "$ns" ip link set "$till_if" up
ip netns exec "$ns" ip link set lo up
till() { ip netns exec "$ns" "$@"; }

# 2. Certificates: the shop's, another shop's, and an expired till certificate from the shop's CA.
"$ng" certs init "$dir/pki" --host bridge.shop.lan --ip "$bridge_ip" >"$dir/certs.out" || fail "certs init: $(cat "$dir/certs.out")"
grep -q "server.pem .*expires 20" "$dir/certs.out" || fail "certs init did not print the server certificate's expiry: $(cat "$dir/certs.out")"
for key in ca-key server-key till-key; do
    [ "$(stat -c %a "$dir/pki/$key.pem")" = 600 ] || fail "$key.pem has mode $(stat -c %a "$dir/pki/$key.pem"), not 600"
done
"$ng" certs init "$dir/other" --ip "$bridge_ip" >/dev/null || fail "certs init (another CA)"
"$ng" certs till "$dir/pki" --name expired --valid-from 2020-01-01 --days 30 >"$dir/expired.out" || fail "certs till: $(cat "$dir/expired.out")"
echo "ok: certs init wrote the shop CA, server and till certificates (keys 0600, expiry printed)"

printf '%s' 'YCFd6hiA8lUjZejVcIf/LhRXO4wTDxY0JhOXvQZwnMSiNynSxmNIMjMf1HHwdV6cMN48NX3ZipA9q9hLPb9C1ZIzMH5dvELPAHceiu7LbZzmIAGeOf/OUaDrk2Zq2dbGacIAzU6yyk4KmOXRaSLi8KW8t3krdQSX7Ecm8Qunc/A=' >"$dir/secret"
token=lan-till-token-0123456789abcdef
printf '%s\n' "$token" >"$dir/token"
chmod 600 "$dir/secret" "$dir/token"
common=(--set netgiro.app-key=881E674F-7891-4C20-AFD8-56FE2624C4B5 --set netgiro.secret-file="$dir/secret"
    --set device.path="$dir/pad0" --set journal.path="$dir/journal.sqlite"
    --set api.listen="$bridge_ip:$port" --set api.token-file="$dir/token")

# 1. Plain TCP on the LAN address: refused before anything opens.
set +e
"$ng" run --set netgiro.base-url=http://127.0.0.1:9/v1/ "${common[@]}" >"$dir/plain.log" 2>&1
status=$?
set -e
[ "$status" -eq 78 ] || fail "plain TCP on $bridge_ip exited $status, not 78 (EX_CONFIG): $(cat "$dir/plain.log")"
grep -q "api.listen.*not a loopback address.*api.tls.certificate" "$dir/plain.log" || fail "the refusal does not say why: $(cat "$dir/plain.log")"
echo "ok: plain TCP on $bridge_ip refused at start: $(head -c 160 "$dir/plain.log")…"

"$ng" sim netgiro --port 0 --accept-delay-ms 500 >"$dir/netgiro.log" 2>&1 &
pids+=($!)
printf '%s\n' "timeout 60s" "on prompt customer-id type 8223281 ok after 200ms" "wait link down" >"$dir/customer.pad"
"$ng" sim pinpad --link "$dir/pad0" --script "$dir/customer.pad" --no-interactive >"$dir/pad.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do grep -q "base URL" "$dir/netgiro.log" && break; sleep 0.1; done
base=$(sed -n 's/.*base URL \(http[^ ]*\).*/\1/p' "$dir/netgiro.log" | head -1)
[ -n "$base" ] || fail "the Netgíró simulator did not start"

"$ng" run --set netgiro.base-url="$base" "${common[@]}" --set api.tls.certificate="$dir/pki/server.pem" \
    --set api.tls.key="$dir/pki/server-key.pem" --set api.tls.client-ca="$dir/pki/ca.pem" >"$dir/daemon.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do grep -q "terminal linked" "$dir/daemon.log" && grep -q "till API listening" "$dir/daemon.log" && break; sleep 0.1; done
grep -q "till API listening" "$dir/daemon.log" || fail "the daemon did not start with TLS"

url=https://$bridge_ip:$port
tls=(--silent --show-error --max-time 10 --cacert "$dir/pki/ca.pem")
as_till=(--cert "$dir/pki/till.pem" --key "$dir/pki/till-key.pem")

# 3. The till pays over mutual TLS from its own host.
till curl "${tls[@]}" "${as_till[@]}" -o "$dir/created.json" -w '%{http_code}' -H "Authorization: Bearer $token" \
    -H "Idempotency-Key: lan-1" -H "Content-Type: application/json" -d '{"amount": 4990, "reference": "LAN-1"}' \
    "$url/v1/payments" >"$dir/created.status" || fail "the till could not reach the bridge over mTLS"
[ "$(cat "$dir/created.status")" = 201 ] || fail "POST /v1/payments answered $(cat "$dir/created.status"): $(cat "$dir/created.json")"
id=$(sed -n 's/.*"id" *: *"\([^"]*\)".*/\1/p' "$dir/created.json")
state=""
for _ in $(seq 150); do
    state=$(till curl "${tls[@]}" "${as_till[@]}" -H "Authorization: Bearer $token" "$url/v1/payments/$id" | sed -n 's/.*"state" *: *"\([a-z-]*\)".*/\1/p')
    case "$state" in paid|declined|cancelled|failed|unknown) break ;; esac
    sleep 0.2
done
[ "$state" = paid ] || fail "the till's payment $id ended ${state:-with no state}, not paid"
echo "ok: the till in namespace $ns ($till_ip) paid over mutual TLS to $url (payment $id)"

# 4. Refused in the handshake: no HTTP status (000) and curl's TLS/receive failure.
refused() {
    local what=$1
    shift
    set +e
    code=$(till curl "${tls[@]}" "$@" -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $token" "$url/v1/terminals" 2>"$dir/refused.err")
    rc=$?
    set -e
    [ "$code" = 000 ] && [ "$rc" -ne 0 ] || fail "$what: answered HTTP $code (curl $rc)"
    echo "ok: $what refused in the TLS handshake (curl $rc: $(head -c 100 "$dir/refused.err"))"
}
refused "no client certificate"
refused "another CA's certificate" --cert "$dir/other/till.pem" --key "$dir/other/till-key.pem"
refused "an expired certificate from the shop CA" --cert "$dir/pki/expired.pem" --key "$dir/pki/expired-key.pem"
