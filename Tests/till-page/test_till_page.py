#!/usr/bin/env python3
"""The example till page in a real browser: headless Chromium (Debian's `chromium`) driven over
the Chrome DevTools protocol on a pipe (--remote-debugging-pipe: no websocket library, nothing
from PyPI), against `ngbridge demo --till-page` (the bridge with a simulated pad and Netgíró).

  1. the page loads and shows a sale; Pay → the pad asks the customer (the prompt is shown),
     Netgíró sends an SMS code (kennitala customer), the payment ends paid, and the receipt
     shows the TransactionId and InvoiceNumber; today's payments list it (or, on a bridge
     without GET /v1/payments, the page says so and keeps working); a partial refund from the
     receipt is taken, one above what is left is refused;
  2. New sale, Pay → the customer walks away from the pad; Cancel → the payment ends cancelled.

A screenshot of each stage goes to Tests/till-page/screenshots/ (ignored by git).
Usage: Tests/till-page/test_till_page.py [path/to/ngbridge]
"""
import base64
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SHOTS = os.path.join(HERE, "screenshots")


class Browser:
    """Chromium with the DevTools protocol on fds 3 (commands in) and 4 (answers out)."""

    def __init__(self, binary):
        self.profile = tempfile.mkdtemp(prefix="till-page-chromium-")
        to_browser_r, self.to_browser = os.pipe()
        self.from_browser, from_browser_w = os.pipe()

        def fds():  # in the child: the pipes at the numbers Chromium expects (copies first: a pipe may be at 3 or 4 already)
            r, w = os.dup(to_browser_r), os.dup(from_browser_w)
            os.dup2(r, 3)
            os.dup2(w, 4)

        args = [binary, "--headless", "--remote-debugging-pipe", "--no-first-run", "--no-default-browser-check",
                "--disable-gpu", "--disable-extensions", "--disable-background-networking", "--disable-sync",
                "--disable-dev-shm-usage", "--hide-scrollbars", "--mute-audio", f"--user-data-dir={self.profile}",
                "--window-size=1280,900"]
        if os.geteuid() == 0:
            args.append("--no-sandbox")  # Chromium refuses to run as root with its sandbox (CI runs as root)
        self.log = open(os.path.join(self.profile, "chromium.log"), "w")
        self.process = subprocess.Popen(args + ["about:blank"], preexec_fn=fds, close_fds=False,
                                        stdin=subprocess.DEVNULL, stdout=self.log, stderr=self.log)
        os.close(to_browser_r)
        os.close(from_browser_w)
        self.next_id = 0
        self.buffer = b""
        self.session = None
        target = self.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        self.session = self.call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        self.call("Page.enable")
        self.call("Runtime.enable")
        self.call("Emulation.setDeviceMetricsOverride", {"width": 1280, "height": 900, "deviceScaleFactor": 1, "mobile": False})

    def call(self, method, params=None):
        self.next_id += 1
        message = {"id": self.next_id, "method": method, "params": params or {}}
        if self.session:
            message["sessionId"] = self.session
        os.write(self.to_browser, json.dumps(message).encode() + b"\0")
        while True:
            while b"\0" not in self.buffer:
                chunk = os.read(self.from_browser, 1 << 20)
                if not chunk:
                    raise RuntimeError(f"Chromium closed the DevTools pipe during {method}")
                self.buffer += chunk
            raw, self.buffer = self.buffer.split(b"\0", 1)
            answer = json.loads(raw)
            if answer.get("id") == self.next_id:
                if "error" in answer:
                    raise RuntimeError(f"{method}: {answer['error']}")
                return answer.get("result", {})

    def eval(self, expression):
        result = self.call("Runtime.evaluate", {"expression": expression, "returnByValue": True, "awaitPromise": True})
        if "exceptionDetails" in result:
            raise RuntimeError(f"page error in {expression!r}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def wait(self, what, expression, seconds=60):
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            if self.eval(expression):
                return
            time.sleep(0.1)
        state = self.eval("document.body.dataset.state")
        events = self.eval("document.getElementById('events').innerText")
        error = self.eval("document.getElementById('error').innerText")
        raise AssertionError(f"the page did not reach: {what} (within {seconds} s). State: {state}; events: {events!r}; error: {error!r}")

    def screenshot(self, name):
        data = self.call("Page.captureScreenshot", {"format": "png"})["data"]
        path = os.path.join(SHOTS, name)
        with open(path, "wb") as f:
            f.write(base64.b64decode(data))
        print(f"screenshot: {os.path.relpath(path)}")

    def close(self):
        try:
            self.call("Browser.close")
        except Exception:
            pass
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
        shutil.rmtree(self.profile, ignore_errors=True)


def start_demo(ngbridge):
    """`ngbridge demo --till-page`: a kennitala customer pays, the next walks away."""
    log = tempfile.NamedTemporaryFile(prefix="till-page-demo-", suffix=".log", delete=False)
    demo = subprocess.Popen([ngbridge, "demo", "--till-page", "--port", "0", "--customer", "kennitala,away"],
                            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    end = time.monotonic() + 60
    while time.monotonic() < end:
        text = open(log.name).read()
        match = re.search(r"till page: (http://127\.0\.0\.1:\d+/)", text)
        if match:
            return demo, match.group(1), log.name
        if demo.poll() is not None:
            break
        time.sleep(0.1)
    raise RuntimeError("ngbridge demo --till-page did not print its URL:\n" + open(log.name).read())


def main():
    ngbridge = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else ".build/debug/ngbridge")
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if not chromium:
        sys.exit("FAIL: chromium is not installed (apt-get install chromium; .ci/system-packages installs it)")
    os.makedirs(SHOTS, exist_ok=True)
    demo, url, demo_log = start_demo(ngbridge)
    browser = None
    try:
        browser = Browser(chromium)
        browser.call("Page.navigate", {"url": url})
        browser.wait("the page loaded", "document.readyState === 'complete' && !!document.getElementById('pay')", 30)
        browser.wait("the bridge ready with its pad", "document.getElementById('health').textContent === 'bridge ready'", 60)
        browser.screenshot("1-sale.png")

        # 1. Paid, with the SMS stage on the way.
        reference = browser.eval("document.getElementById('reference').value")
        browser.eval("document.getElementById('pay').click()")
        browser.wait("the pad asking the customer", "document.getElementById('events').innerText.includes('prompt customer-id')")
        browser.wait("the customer's prompt shown", "document.getElementById('customer-sees').innerText.includes('phone number, kennitala')")
        browser.screenshot("2-customer-asked.png")
        browser.wait("the SMS stage", "document.getElementById('events').innerText.includes('prompt sms-code')")
        browser.screenshot("3-sms-code.png")
        browser.wait("paid", "document.body.dataset.state === 'paid' && !document.getElementById('receipt').hidden")
        receipt = browser.eval("({t: document.getElementById('receipt').dataset.transactionId, i: document.getElementById('receipt').dataset.invoiceNumber, text: document.getElementById('receipt').innerText})")
        assert re.fullmatch(r"[0-9a-f-]{36}", receipt["t"]), f"no TransactionId on the receipt: {receipt}"
        assert re.fullmatch(r"\d+", receipt["i"]), f"no InvoiceNumber on the receipt: {receipt}"
        assert receipt["t"] in receipt["text"] and receipt["i"] in receipt["text"], f"the receipt does not show them: {receipt['text']}"
        events = browser.eval("document.getElementById('events').innerText")
        assert "outcome paid" in events, f"no paid outcome in the event list: {events}"
        assert events.index("prompt customer-id") < events.index("prompt sms-code") < events.index("outcome paid"), f"events out of order: {events}"
        browser.wait("today's payments loaded", "document.getElementById('today').dataset.available !== undefined", 15)
        if browser.eval("document.getElementById('today').dataset.available") == "true":
            browser.wait("the payment in today's list", f"document.getElementById('today').innerText.includes({json.dumps(reference)})", 15)
            today = "listed"
        else:
            note = browser.eval("document.getElementById('today-note').innerText")
            assert "no payment list" in note, f"today's payments neither listed nor explained: {note!r}"
            today = "not offered by this bridge; the page says so"
        browser.screenshot("4-paid-receipt.png")
        print(f"ok: paid — TransactionId {receipt['t']}, InvoiceNumber {receipt['i']}; today's payments: {today}")

        # Refund part of it from the receipt, then try more than is left.
        browser.eval("document.getElementById('refund-amount').value = '590'; document.getElementById('refund').click()")
        browser.wait("a refund of 590 kr.", "[...document.querySelectorAll('#refunds li')].some(li => li.dataset.state === 'refunded')", 30)
        browser.eval("document.getElementById('refund-amount').value = '1041'; document.getElementById('refund').click()")
        browser.wait("a refused refund", "document.querySelectorAll('#refunds li.error').length === 1", 30)
        refunds = browser.eval("document.getElementById('refunds').innerText")
        assert "1040 kr. left" in refunds, f"the refusal does not say what is left: {refunds!r}"
        browser.screenshot("4b-refunded.png")
        print("ok: refunded 590 kr. from the receipt; 1041 kr. more was refused")

        # 2. Cancelled at the till while the customer is away from the pad.
        browser.eval("document.getElementById('new-sale').click()")
        browser.eval("document.getElementById('pay').click()")
        browser.wait("the pad asking the next customer", "document.getElementById('events').innerText.includes('prompt customer-id')")
        browser.screenshot("5-cancel-waiting.png")
        browser.eval("document.getElementById('cancel').click()")
        browser.wait("cancelled", "document.body.dataset.state === 'cancelled'")
        events = browser.eval("document.getElementById('events').innerText")
        assert "outcome cancelled" in events, f"no cancelled outcome in the event list: {events}"
        assert browser.eval("document.getElementById('receipt').hidden"), "a receipt for a cancelled payment"
        browser.screenshot("6-cancelled.png")
        print("ok: cancelled at the till while the customer was away from the pad")
    except Exception:
        print("--- demo log", file=sys.stderr)
        print(open(demo_log).read()[-3000:], file=sys.stderr)
        raise
    finally:
        if browser:
            browser.close()
        os.killpg(demo.pid, signal.SIGTERM)
        try:
            demo.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(demo.pid, signal.SIGKILL)
        os.unlink(demo_log)


if __name__ == "__main__":
    main()
