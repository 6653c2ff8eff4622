#!/usr/bin/env python3
"""Crash soak: kill -9 the daemon at random points of many payments and audit the outcome.

Runs the product as deployed — `ngbridge run` with `ngbridge sim pinpad` on a pty and the Netgíró
simulator — and for each payment:

  1. POSTs it to the till API with an Idempotency-Key (a till's retry key);
  2. kills the daemon with SIGKILL after a random delay (seeded): before the request is even
     answered, while the customer types, while Netgíró's customer decides, around ConfirmCart…;
  3. starts the daemon again, and POSTs the same request with the same key — what a till does
     when it lost the answer — then follows the payment to its final state.

At the end the daemon's journal (through the till API) is compared with the simulator's ledger:

  lost        a payment the API had answered for is gone or changed id after the restart, or
              never reached a final state;
  duplicated  more than one cart for one reference, or more than one ConfirmCart for one cart;
  wrong       the bridge says paid and Netgíró has no paid cart with that amount, or Netgíró has
              a paid (or still reserved) cart and the bridge says declined/cancelled/failed;
  unknown     allowed (the bridge could not tell — InsertCart unanswered); each is listed with
              its reference, and the report says whether Netgíró had a cart for it.

Lost, duplicated and wrong must be 0 (exit status 1 otherwise).

Usage: Tests/crash-soak.py [--ngbridge PATH] [--payments N] [--seed N] [--max-kill-ms MS]
The CI runs a short version (--payments 6); BENCHMARKS.md quotes the 200-payment run.
"""
import argparse
import http.client
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid

SECRET = "YCFd6hiA8lUjZejVcIf/LhRXO4wTDxY0JhOXvQZwnMSiNynSxmNIMjMf1HHwdV6cMN48NX3ZipA9q9hLPb9C1ZIzMH5dvELPAHceiu7LbZzmIAGeOf/OUaDrk2Zq2dbGacIAzU6yyk4KmOXRaSLi8KW8t3krdQSX7Ecm8Qunc/A="
APP_KEY = "881E674F-7891-4C20-AFD8-56FE2624C4B5"
FINAL = {"paid", "declined", "cancelled", "failed", "unknown"}


class UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path, timeout):
        super().__init__("localhost", timeout=timeout)
        self.unix_path = path

    def connect(self):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(self.timeout)
        s.connect(self.unix_path)
        self.sock = s


def api(sock, method, path, body=None, headers=None, timeout=5.0):
    """One request to the till API; (status, parsed JSON) or raises OSError/HTTPException."""
    conn = UnixHTTPConnection(sock, timeout)
    try:
        data = json.dumps(body).encode() if body is not None else None
        h = {"Content-Type": "application/json"} if data else {}
        h.update(headers or {})
        conn.request(method, path, body=data, headers=h)
        r = conn.getresponse()
        raw = r.read()
        return r.status, (json.loads(raw) if raw else None)
    finally:
        conn.close()


class Run:
    def __init__(self, args):
        self.args = args
        self.ng = os.path.realpath(args.ngbridge)
        self.dir = tempfile.mkdtemp(prefix="ngbridge-crash-")
        self.sock = os.path.join(self.dir, "api.sock")
        self.procs = []
        self.daemon = None
        self.rng = random.Random(args.seed)

    def spawn(self, argv, log):
        f = open(os.path.join(self.dir, log), "ab")
        p = subprocess.Popen(argv, stdout=f, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        self.procs.append(p)
        return p

    def start_simulators(self):
        self.spawn([self.ng, "sim", "netgiro", "--port", "0", "--accept-delay-ms", "500",
                    "--check-interval-ms", "500", "--seed", str(self.args.seed)], "netgiro.log")
        deadline = time.monotonic() + 20
        self.base = None
        while time.monotonic() < deadline and not self.base:
            with open(os.path.join(self.dir, "netgiro.log"), errors="replace") as f:
                for line in f:
                    if "base URL " in line:
                        self.base = line.split("base URL ", 1)[1].split()[0]
            time.sleep(0.05)
        if not self.base:
            raise SystemExit("the Netgíró simulator did not start")
        # A customer who keeps coming back: phone (accepts), app code (confirms at once),
        # phone, phone that declines — answered in turn at each new customer-id prompt.
        customers = ["8223281", "5000041234", "8223281", "8223282"]
        script = ["timeout 3600s"]
        for i in range(self.args.payments * 4 + 10):
            script.append(f"on prompt customer-id type {customers[i % len(customers)]} ok after 50ms")
        script.append("wait 3600s")
        path = os.path.join(self.dir, "customer.pad")
        with open(path, "w") as f:
            f.write("\n".join(script) + "\n")
        self.pad_link = os.path.join(self.dir, "pad0")
        self.spawn([self.ng, "sim", "pinpad", "--link", self.pad_link, "--script", path,
                    "--no-interactive", "--seed", str(self.args.seed)], "pad.log")
        # 0600: the daemon refuses a secret every user may read.
        with open(os.open(os.path.join(self.dir, "secret"), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as f:
            f.write(SECRET)

    def start_daemon(self):
        self.daemon = self.spawn([
            self.ng, "run", "--set", f"netgiro.base-url={self.base}", "--set", f"netgiro.app-key={APP_KEY}",
            "--set", f"netgiro.secret-file={self.dir}/secret", "--set", f"device.path={self.pad_link}",
            "--set", f"api.listen=unix:{self.sock}", "--set", f"journal.path={self.dir}/journal.sqlite",
        ], "daemon.log")
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.daemon.poll() is not None:
                raise SystemExit(f"the daemon exited with {self.daemon.returncode}; see {self.dir}/daemon.log")
            try:
                status, terms = api(self.sock, "GET", "/v1/terminals", timeout=1)
                if status == 200 and any(t.get("status") == "online" for t in (terms or {}).get("terminals", [])):
                    return
            except (OSError, http.client.HTTPException, ValueError):
                pass
            time.sleep(0.02)
        raise SystemExit("the daemon did not link with the pad within 30 s")

    def kill_daemon(self):
        self.daemon.send_signal(signal.SIGKILL)
        self.daemon.wait()

    def post(self, request, key, timeout=10):
        return api(self.sock, "POST", "/v1/payments", request, {"Idempotency-Key": key}, timeout=timeout)

    def follow(self, pid, seconds=120):
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            try:
                status, p = api(self.sock, "GET", f"/v1/payments/{pid}")
                if status == 200 and p["state"] in FINAL:
                    return p
            except (OSError, http.client.HTTPException, ValueError):
                pass
            time.sleep(0.1)
        return None

    def one(self, i):
        ref = f"CRASH-{self.args.seed}-{i}"
        request = {"amount": 1000 + i, "reference": ref,
                   "confirmation": "manual" if i % 2 == 0 else "automatic"}
        key = str(uuid.UUID(int=self.rng.getrandbits(128)))
        # One kill in ten lands while the POST itself is in flight; the rest anywhere in the payment.
        early = self.rng.random() < 0.1
        kill_after = self.rng.uniform(0, 0.005 if early else self.args.max_kill_ms / 1000)
        first = {}

        def first_post():
            try:
                first["answer"] = self.post(request, key)
            except (OSError, http.client.HTTPException, ValueError) as e:
                first["error"] = type(e).__name__

        t = threading.Thread(target=first_post)
        t.start()
        time.sleep(kill_after)
        self.kill_daemon()
        t.join()
        self.start_daemon()
        # The till retries with the same key, as it would after losing the answer.
        status, p = self.post(request, key)
        if status not in (200, 201):
            return {"ref": ref, "amount": request["amount"], "lost": f"retry answered HTTP {status}: {p}"}
        result = {"ref": ref, "amount": request["amount"], "id": p["id"], "kill_ms": round(kill_after * 1000)}
        answered = first.get("answer")
        if answered and answered[0] in (200, 201) and answered[1]["id"] != p["id"]:
            result["lost"] = f"the retry gave payment {p['id']}, the first answer was {answered[1]['id']}"
        result["first"] = "answered" if answered else "no answer"
        final = self.follow(p["id"])
        if final is None:
            result["lost"] = "no final state within 120 s"
        else:
            result["state"] = final["state"]
        return result

    def audit(self, results):
        ledger = get_json(self.base.rstrip("/").rsplit("/v1", 1)[0] + "/_sim/ledger")
        by_ref = {}
        for cart in ledger:
            by_ref.setdefault(cart["reference"], []).append(cart)
        report = {"attempted": len(results), "lost": [], "duplicated": [], "wrong": [], "unknown": [],
                  "states": {}}
        for r in results:
            carts = by_ref.get(r["ref"], [])
            state = r.get("state")
            report["states"][state or "none"] = report["states"].get(state or "none", 0) + 1
            if "lost" in r:
                report["lost"].append(f"{r['ref']}: {r['lost']}")
            if len(carts) > 1:
                report["duplicated"].append(f"{r['ref']}: {len(carts)} carts")
            for c in carts:
                if c["calls"].get("ConfirmCart", 0) > 1 and c["state"] == "paid":
                    report["duplicated"].append(f"{r['ref']}: ConfirmCart {c['calls']['ConfirmCart']}× on a paid cart")
            charged = [c for c in carts if c["state"] in ("paid", "reserved", "awaitingCallback")]
            if state == "paid":
                if not any(c["state"] == "paid" and c["amount"] == r["amount"] for c in carts):
                    report["wrong"].append(f"{r['ref']}: paid here, Netgíró has {[(c['state'], c['amount']) for c in carts]}")
            elif state in ("declined", "cancelled", "failed") and charged:
                report["wrong"].append(f"{r['ref']}: {state} here, Netgíró has {[(c['state'], c['amount']) for c in carts]}")
            elif state == "unknown":
                report["unknown"].append(f"{r['ref']}: Netgíró has {[(c['state'], c['amount']) for c in carts] or 'no cart'}")
        return report

    def close(self):
        for p in self.procs:
            if p.poll() is None:
                p.terminate()
        for p in self.procs:
            try:
                p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                p.kill()
        if not self.args.keep:
            shutil.rmtree(self.dir, ignore_errors=True)


def get_json(url):
    with urllib.request.urlopen(url, timeout=10) as r:
        return json.loads(r.read())


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--ngbridge", default=".build/debug/ngbridge")
    ap.add_argument("--payments", type=int, default=200)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--max-kill-ms", type=int, default=2500, help="kill within this long after the POST (uniform)")
    ap.add_argument("--keep", action="store_true", help="keep the work directory (logs, journal)")
    ap.add_argument("--json", action="store_true", help="print the report as JSON")
    args = ap.parse_args()
    run = Run(args)
    started = time.monotonic()
    results = []
    try:
        run.start_simulators()
        run.start_daemon()
        for i in range(args.payments):
            r = run.one(i)
            results.append(r)
            print(f"[{i + 1}/{args.payments}] {r['ref']} killed at {r.get('kill_ms', '?')} ms "
                  f"(first POST: {r.get('first', '?')}) → {r.get('state', 'LOST: ' + r.get('lost', ''))}",
                  file=sys.stderr, flush=True)
        report = run.audit(results)
    finally:
        run.close()
    report["seconds"] = round(time.monotonic() - started, 1)
    report["kills"] = len(results)
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print(f"crash soak: {report['attempted']} payments, {report['kills']} kill -9 + restart, seed {args.seed}, "
              f"{report['seconds']} s")
        print("  final states: " + ", ".join(f"{k} {v}" for k, v in sorted(report["states"].items())))
        for kind in ("lost", "duplicated", "wrong", "unknown"):
            print(f"  {kind}: {len(report[kind])}")
            for line in report[kind]:
                print(f"    {line}")
    bad = len(report["lost"]) + len(report["duplicated"]) + len(report["wrong"])
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
