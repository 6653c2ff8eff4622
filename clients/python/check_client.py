"""One payment through the generated client (ngbridge_till_client) against a running bridge.

Usage: check_client.py API_SOCKET   (run by clients/python/check-daemon.sh)
"""
import sys
import time
import uuid

import httpx
from ngbridge_till_client import Client
from ngbridge_till_client.api.default import get_payment, health, list_refunds, list_terminals, refund_payment, start_payment
from ngbridge_till_client.models import (Item, Payment, PaymentRequest, PaymentRequestConfirmation, Problem, Refund, RefundList,
                                         RefundRequest, State)

FINAL = {State.PAID, State.DECLINED, State.CANCELLED, State.FAILED, State.UNKNOWN}


def wait_for(what, check, seconds=60):
    """Polls `check` until it returns something truthy; fails naming `what` otherwise."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        value = check()
        if value:
            return value
        time.sleep(0.2)
    sys.exit(f"FAIL: {what} within {seconds} s")


def main():
    socket = sys.argv[1]
    wait_for("the till API socket to answer", lambda: _answers(socket), 30)
    client = Client(base_url="http://localhost", httpx_args={"transport": httpx.HTTPTransport(uds=socket)}, raise_on_unexpected_status=True)

    ready = wait_for("the bridge to be ready (/healthz ok)", lambda: _ok(health.sync(client=client)))
    print(f"ok: health {ready.status.value}")
    terminals = list_terminals.sync(client=client)
    assert terminals is not None and len(terminals.terminals) == 1, f"one terminal expected, got {terminals}"
    print(f"ok: terminal {terminals.terminals[0].id} {terminals.terminals[0].status.value}")

    body = PaymentRequest(
        amount=1180, reference=f"PY-{uuid.uuid4().hex[:8]}", description="client check",
        items=[Item(name="Kaffi", unit_price=590, quantity=2)], confirmation=PaymentRequestConfirmation.MANUAL)
    key = str(uuid.uuid4())
    first = start_payment.sync_detailed(client=client, body=body, idempotency_key=key)
    assert first.status_code == 201 and isinstance(first.parsed, Payment), f"start: {first.status_code} {first.content!r}"
    payment = first.parsed
    print(f"ok: started {payment.id} ({payment.state.value})")

    again = start_payment.sync_detailed(client=client, body=body, idempotency_key=key)
    assert again.status_code == 201 and again.parsed.id == payment.id, f"replay gave {again.status_code} {again.content!r}"
    assert again.headers.get("Idempotent-Replayed") == "true", f"replay without Idempotent-Replayed: {dict(again.headers)}"
    print("ok: the same Idempotency-Key returned the same payment")

    final = wait_for("a final state", lambda: _final(get_payment.sync(client=client, id=payment.id)))
    assert final.state == State.PAID, f"the payment ended {final.state.value}: {final.message}"
    assert final.transaction_id and final.invoice_number, f"paid without TransactionId/InvoiceNumber: {final.to_dict()}"
    print(f"ok: paid, TransactionId {final.transaction_id}, InvoiceNumber {final.invoice_number}")

    # Refunds: part, the same request again, too much, the rest, the list.
    part_key = str(uuid.uuid4())
    part = refund_payment.sync_detailed(client=client, id=final.id, body=RefundRequest(amount=500, reason="one coffee back"), idempotency_key=part_key)
    assert part.status_code == 201 and isinstance(part.parsed, Refund) and part.parsed.state.value == "refunded", f"refund: {part.status_code} {part.content!r}"
    again = refund_payment.sync_detailed(client=client, id=final.id, body=RefundRequest(amount=500, reason="one coffee back"), idempotency_key=part_key)
    assert again.status_code == 201 and again.parsed.id == part.parsed.id and again.headers.get("Idempotent-Replayed") == "true", f"refund replay: {again.content!r}"
    too_much = refund_payment.sync_detailed(client=client, id=final.id, body=RefundRequest(amount=681), idempotency_key=str(uuid.uuid4()))
    assert too_much.status_code == 409 and isinstance(too_much.parsed, Problem), f"a refund above what is left: {too_much.status_code} {too_much.content!r}"
    rest = refund_payment.sync_detailed(client=client, id=final.id, body=RefundRequest(), idempotency_key=str(uuid.uuid4()))
    assert rest.status_code == 201 and rest.parsed.amount == 680 and rest.parsed.state.value == "refunded", f"the rest: {rest.content!r}"
    listed = list_refunds.sync(client=client, id=final.id)
    assert isinstance(listed, RefundList) and listed.refunded == 1180 and listed.refundable == 0 and len(listed.refunds) == 2, f"refund list: {listed}"
    print(f"ok: refunded 500 then the rest (680); a retry was the same refund; 681 over the rest was refused ({too_much.parsed.detail})")
    print(f"PAYMENT_ID={final.id}")

    missing = get_payment.sync(client=client, id="no-such-payment")
    assert isinstance(missing, Problem) and missing.status == 404, f"unknown id gave {missing}"
    print(f"ok: an unknown payment is a problem document ({missing.status} {missing.title})")


def _answers(socket):
    try:
        with httpx.Client(transport=httpx.HTTPTransport(uds=socket)) as c:
            c.get("http://localhost/healthz")
        return True
    except httpx.TransportError:
        return False


def _ok(h):
    return h if h is not None and h.status.value == "ok" else None


def _final(p):
    return p if isinstance(p, Payment) and p.state in FINAL else None


if __name__ == "__main__":
    main()
