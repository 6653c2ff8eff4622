"""conform.py — strict-peer conformance modes of ngpp.py (``conform-pad``, ``conform-host``).

Written from ``protocol/PROTOCOL.md`` (revision 1.1) alone, on top of ngpp.py's codec. Each mode
plays one end of the link against a running implementation of the other end and reports every
deviation from PROTOCOL.md it sees, with the frames involved; every scenario is named in the
output with ``pass`` or ``FAIL``; the exit status is 1 if anything deviated.

    ngpp.py conform-pad  --ngbridge PATH [--qemu IMAGE] [--only NAME,...]
        acts as a host: starts ``ngbridge sim pinpad`` (or the firmware image in QEMU) on a pty,
        with a scenario script that plays the customer, and drives it through every pad rule.
    ngpp.py conform-host --ngbridge PATH [--only NAME,...]
        acts as a pad on a pty: starts the Netgíró simulator and ``ngbridge run`` pointed at the
        pty, pays through the till API with scripted customers, and checks what the host sends.

Timing checks allow for a loaded machine: a deadline that fires late by up to TOLERANCE is not a
deviation, one that fires early is (T_dead, T_ack, T_hb are lower bounds first).
"""

from __future__ import annotations

import argparse
import json
import os
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import termios
import time
import tty
from dataclasses import dataclass, field
from typing import Callable

import ngpp

ACK, NAK, HEARTBEAT, HELLO, HELLO_REPLY, ANNOUNCE = 0x01, 0x02, 0x03, 0x04, 0x05, 0x06
SHOW_SCREEN, PROMPT, CANCEL_PROMPT, INDICATE, RESET, STATUS_REQUEST = 0x20, 0x21, 0x22, 0x23, 0x24, 0x25
KEY_EVENT, ENTRY_RESULT, STATUS, BUSY = 0x40, 0x41, 0x42, 0x43
PING, ERROR_REPORT = 0x60, 0x61

T_ACK, T_HB, T_DEAD, T_HELLO, T_ANNOUNCE, T_BUSY = 0.2, 1.0, 2.5, 0.25, 1.0, 5.0
EARLY = 0.03        # a deadline may look this much early (the two clocks, the pty's buffering)
TOLERANCE = 0.6     # and this much late on a loaded machine

V1_TABLE = {1: (7, 10, 0, 60), 2: (4, 6, 1, 120), 3: (0, 0, 2, 60)}   # §5.2: min, max, echo, timeout


def name_of(t: int) -> str:
    m = ngpp.MESSAGES.get(t)
    return m.name if m else f"0x{t:02X}"


@dataclass
class Seen:
    """One frame on the line, with when it was read or written (seconds, monotonic)."""
    at: float
    frame: ngpp.Frame
    sent: bool

    def describe(self, t0: float) -> str:
        f = self.frame
        try:
            fields = ngpp.decode_payload(f.type_code, f.payload) if f.type_code in ngpp.MESSAGES else {}
        except Exception as e:  # malformed: show why
            fields = {"malformed": str(e)}
        if f.type_code == ENTRY_RESULT and isinstance(fields, dict) and fields.get("digits"):
            fields = dict(fields, digits="*" * len(fields["digits"]))
        arrow = "→" if self.sent else "←"
        flags = " retx" if f.flags & 1 else ""
        return f"{self.at - t0:8.3f} {arrow} {name_of(f.type_code)} seq={f.seq}{flags} {json.dumps(fields, ensure_ascii=False)}"


class Deviation(Exception):
    pass


class Line:
    """A raw serial line (one side of a pty) with a frame decoder and a log of every frame."""

    def __init__(self, fd: int, t0: float):
        self.fd = fd
        self.t0 = t0
        self.decoder = ngpp.StreamDecoder()
        self.log: list[Seen] = []
        self.inbox: list[Seen] = []
        self.last_write = 0.0
        self.last_byte = 0.0
        self.damaged: list[str] = []

    def write_frame(self, type_code: int, seq: int = 0, fields: dict | None = None, flags: int = 0,
                    payload: bytes | None = None) -> ngpp.Frame:
        if payload is None:
            payload = ngpp.encode_payload(type_code, fields or {}) if type_code in ngpp.MESSAGES else b""
        body = ngpp.build_body(type_code, seq, payload, flags)
        os.write(self.fd, ngpp.encode_line(body))
        f = ngpp.Frame(type_code, flags, seq, payload)
        now = time.monotonic()
        self.last_write = now
        self.log.append(Seen(now, f, True))
        return f

    def write_raw(self, data: bytes) -> None:
        os.write(self.fd, data)
        self.last_write = time.monotonic()

    def pump(self, timeout: float) -> None:
        """Reads what arrives within ``timeout`` into the inbox."""
        r, _, _ = select.select([self.fd], [], [], max(timeout, 0))
        now = time.monotonic()
        if not r:
            if self.decoder.pending and now - self.last_byte >= 0.1:
                self.decoder.inter_byte_timeout()
            return
        try:
            data = os.read(self.fd, 4096)
        except OSError:
            data = b""
        if not data:
            time.sleep(0.01)
            return
        self.last_byte = now
        for r in self.decoder.feed(data):
            if isinstance(r, ngpp.Frame):
                s = Seen(now, r, False)
                self.log.append(s)
                self.inbox.append(s)
            else:
                self.damaged.append(r.name)

    def transcript(self, since: float, limit: int = 40) -> str:
        rows = [s.describe(self.t0) for s in self.log if s.at >= since]
        if len(rows) > limit:
            rows = rows[:5] + [f"   … {len(rows) - limit} frames …"] + rows[-(limit - 6):]
        return "\n".join("      " + r for r in rows)


def open_pty_side(path: str) -> int:
    fd = os.open(path, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
    tty.setraw(fd)
    termios.tcflush(fd, termios.TCIOFLUSH)
    return fd


def wait_for_path(path: str, seconds: float, proc: subprocess.Popen | None = None) -> None:
    end = time.monotonic() + seconds
    while not os.path.exists(path):
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"the process under test exited with status {proc.returncode} before {path} appeared")
        if time.monotonic() > end:
            raise RuntimeError(f"{path} did not appear within {seconds:.0f} s")
        time.sleep(0.05)


# =============================================================================================
# conform-pad: a strict host driving a pad
# =============================================================================================

class Host:
    """The host end (§6, host role), strict: every frame from the pad is checked as it arrives."""

    def __init__(self, line: Line, report: Callable[[str, list[Seen]], None]):
        self.line = line
        self.report = report
        self.up = False
        self.info: dict | None = None
        self.next_seq = 1
        self.last_accepted = 0
        self.pad_last_sent = 0          # the pad's data seq we saw last (its numbering, §6.3)
        self.auto_ack = True
        self.open_tokens: set[int] = set()
        self.results: dict[int, int] = {}
        self.last_hb = 0.0

    # --- writing ---

    def hello(self, min_v: int = 1, max_v: int = 1) -> None:
        self.line.write_frame(HELLO, 0, {"min_version": min_v, "max_version": max_v, "max_payload": 246,
                                         "host_name": "ngpp conform"})

    def send(self, type_code: int, fields: dict | None = None, payload: bytes | None = None,
             await_ack: bool = True) -> int:
        seq = self.next_seq
        self.next_seq = 1 if seq == 255 else seq + 1
        start = time.monotonic()
        self.line.write_frame(type_code, seq, fields, payload=payload)
        if type_code == PROMPT and fields:
            self.open_tokens.add(fields["token"])
        if await_ack:
            tx = 1
            while True:
                got = self.wait(lambda s: s.frame.type_code == ACK and s.frame.seq == seq, T_ACK, consume=True)
                if got:
                    break
                if tx >= 8:
                    self.report(f"§6.3: the pad did not acknowledge {name_of(type_code)} seq {seq} in 8 transmissions",
                                self.since(start))
                    raise Deviation()
                tx += 1
                self.line.write_frame(type_code, seq, fields, flags=1, payload=payload)
        return seq

    # --- reading ---

    def since(self, t: float) -> list[Seen]:
        return [s for s in self.line.log if s.at >= t - 0.001]

    def heartbeat_if_due(self) -> None:
        if self.up and time.monotonic() - self.line.last_write >= 0.5:
            self.line.write_frame(HEARTBEAT)

    def poll(self, timeout: float) -> None:
        end = time.monotonic() + timeout
        while True:
            self.heartbeat_if_due()
            left = end - time.monotonic()
            before = len(self.line.inbox)
            self.line.pump(min(max(left, 0), 0.05))
            for s in self.line.inbox[before:]:
                self.check(s)
            if time.monotonic() >= end:
                return

    def wait(self, pred: Callable[[Seen], bool], timeout: float, consume: bool = True) -> Seen | None:
        end = time.monotonic() + timeout
        while True:
            for i, s in enumerate(self.line.inbox):
                if pred(s):
                    if consume:
                        del self.line.inbox[: i + 1]
                    return s
            if time.monotonic() >= end:
                return None
            self.poll(min(0.05, end - time.monotonic()))

    def wait_data(self, type_code: int, timeout: float, **match) -> dict | None:
        def pred(s: Seen) -> bool:
            if s.frame.type_code != type_code:
                return False
            try:
                fields = ngpp.decode_payload(type_code, s.frame.payload)
            except Exception:
                return False
            return all(fields.get(k) == v for k, v in match.items())
        s = self.wait(pred, timeout)
        if s is None:
            return None
        return ngpp.decode_payload(type_code, s.frame.payload) | {"_at": s.at, "_seq": s.frame.seq}

    def drain(self) -> None:
        self.line.inbox.clear()

    # --- the strict checks on every frame from the pad ---

    def check(self, s: Seen) -> None:
        f = s.frame
        t = f.type_code
        if f.flags & ~1:
            self.report(f"§3.1: reserved flag bits set (0x{f.flags:02X})", [s])
        if ngpp.is_data_type(t):
            if not (0x40 <= t <= 0x6F):
                self.report(f"§4: the pad sent type 0x{t:02X}, which is not a pad→host type", [s])
            if f.seq == 0:
                self.report("§6.3: data frame with seq 0", [s])
                return
            if not self.up:
                self.report("§6.2: the pad sent a data frame while not linked", [s])
                return
            if self.auto_ack:
                self.line.write_frame(ACK, f.seq)
            if f.seq == self.pad_last_sent:
                if not f.flags & 1:
                    self.report("§6.4: a repeated seq without the retransmission flag", [s])
                return
            expected = 1 if self.pad_last_sent == 255 else self.pad_last_sent + 1
            if f.seq != expected:
                self.report(f"§6.3: the pad's data seq {f.seq}, expected {expected}", [s])
            self.pad_last_sent = f.seq
            try:
                fields = ngpp.decode_payload(t, f.payload)
            except Exception as e:
                self.report(f"§4: malformed {name_of(t)} payload from the pad: {e}", [s])
                return
            for w in ngpp.check_values(t, fields):
                if t == ENTRY_RESULT and fields.get("outcome") == 4 and "token" in w:
                    continue    # §5.4: a refused PROMPT's result echoes its token, even 0
                self.report(f"§5: {name_of(t)}: {w}", [s])
            if t == ENTRY_RESULT:
                tok = fields["token"]
                if tok in self.results:
                    self.report(f"§5.10: a second ENTRY_RESULT for token {tok}", [s])
                self.results[tok] = fields["outcome"]
                self.open_tokens.discard(tok)
            if t in (KEY_EVENT, BUSY) and fields["token"] not in self.open_tokens:
                self.report(f"§5.9/§5.11: {name_of(t)} for token {fields['token']}, which is not open", [s])
        elif t in (ANNOUNCE, HELLO_REPLY):
            try:
                ngpp.decode_payload(t, f.payload)
            except Exception as e:
                self.report(f"§6.2: malformed {name_of(t)}: {e}", [s])
        elif t in (HELLO,):
            self.report("§4: the pad sent HELLO (a host → pad type)", [s])
        elif t == ACK and not self.up:
            self.report("§6.2: ACK from a pad that is not linked", [s])

    # --- link-up ---

    def link_up(self, timeout: float = 5.0) -> dict:
        """HELLO until a HELLO_REPLY (§6.2 step 1); checks the DeviceInfo."""
        end = time.monotonic() + timeout
        self.drain()
        while time.monotonic() < end:
            self.hello()
            s = self.wait(lambda s: s.frame.type_code == HELLO_REPLY, T_HELLO)
            if s:
                info = ngpp.decode_payload(HELLO_REPLY, s.frame.payload)
                self.info = info
                if info["version"] != 1:
                    self.report(f"§6.2: HELLO_REPLY version {info['version']} to a HELLO for 1–1", [s])
                for w in ngpp.check_values(HELLO_REPLY, info):
                    self.report(f"§6.2: HELLO_REPLY: {w}", [s])
                for p in info["prompts"]:
                    ref = V1_TABLE.get(p["id"])
                    if ref is None:
                        self.report(f"§5.2: announced prompt id {p['id']} is not in the table", [s])
                    elif not (ref[0] <= p["min_digits"] <= p["max_digits"] <= ref[1]) or p["echo"] < ref[2]:
                        self.report(f"§5.2: prompt {p['id']} announced {p}, outside the table's limits", [s])
                self.up = True
                self.next_seq = 1
                self.pad_last_sent = 0
                self.open_tokens.clear()
                self.drain()
                return info
        raise Deviation("§6.2: no HELLO_REPLY")


@dataclass
class Scenario:
    name: str
    rule: str
    run: Callable
    deviations: list[str] = field(default_factory=list)


class PadConformance:
    """Runs the conform-pad scenarios against one pad on a pty."""

    def __init__(self, path: str, kind: str):
        self.path = path
        self.kind = kind
        self.t0 = time.monotonic()
        self.fd = open_pty_side(path)
        self.line = Line(self.fd, self.t0)
        self.current: Scenario | None = None
        self.host = Host(self.line, self.report)
        self.token = 40000            # tokens need not start at 1 (§5.4)

    def report(self, what: str, frames: list[Seen]) -> None:
        text = what
        if frames:
            text += "\n" + "\n".join("      " + s.describe(self.t0) for s in frames[-12:])
        assert self.current is not None
        self.current.deviations.append(text)

    def new_token(self) -> int:
        self.token = 1 if self.token == 65535 else self.token + 1
        return self.token

    def expect(self, cond: bool, what: str, since: float) -> bool:
        if not cond:
            self.report(what, self.host.since(since))
        return cond

    # --- scenarios ---

    def s_announce(self) -> None:
        """§6.2 step 2 and 1.1: ANNOUNCE every 1 s with the same reason until linked."""
        h = self.host
        t = time.monotonic()
        seen = []
        while time.monotonic() - t < 3.3:
            s = h.wait(lambda s: s.frame.type_code == ANNOUNCE, 3.3 - (time.monotonic() - t))
            if s:
                seen.append(s)
        self.expect(len(seen) >= 2, "§6.2: fewer than 2 ANNOUNCEs in 3.3 s while not linked", t)
        reasons = [s.frame.payload[0] if s.frame.payload else None for s in seen]
        self.expect(len(set(reasons)) <= 1 and 3 not in reasons,
                    f"§6.2 (1.1): scheduled ANNOUNCE repetitions carry reasons {reasons}; all must be the reason that started the announcing", t)
        gaps = [b.at - a.at for a, b in zip(seen, seen[1:])]
        self.expect(all(T_ANNOUNCE - 0.1 <= g <= T_ANNOUNCE + TOLERANCE for g in gaps),
                    f"§6.2: ANNOUNCE intervals {[round(g, 3) for g in gaps]} s, expected 1 s", t)

    def s_unlinked_data(self) -> None:
        """§6.2 step 4: a data frame while not linked is answered with ANNOUNCE reason 3, no ACK."""
        h = self.host
        t = time.monotonic()
        time.sleep(0.05)
        self.line.write_frame(PING, 9, {"data": "01"})
        s = h.wait(lambda s: s.frame.type_code in (ANNOUNCE, ACK), 0.5)
        ok = s is not None and s.frame.type_code == ANNOUNCE and s.frame.payload[:1] == b"\x03"
        self.expect(ok, "§6.2 step 4: a PING while not linked must be answered with ANNOUNCE reason 3", t)

    def s_version_zero(self) -> None:
        """§6.2 (1.1): HELLO for versions 2–3 → HELLO_REPLY version 0; the pad keeps announcing."""
        h = self.host
        t = time.monotonic()
        h.hello(2, 3)
        s = h.wait(lambda s: s.frame.type_code == HELLO_REPLY, 1.0)
        if not self.expect(s is not None, "§6.2: no HELLO_REPLY to a HELLO for versions 2–3", t):
            return
        self.expect(ngpp.decode_payload(HELLO_REPLY, s.frame.payload)["version"] == 0,
                    "§6.2: HELLO_REPLY to versions 2–3 must have version 0", t)
        a = h.wait(lambda s: s.frame.type_code == ANNOUNCE, T_ANNOUNCE + TOLERANCE)
        self.expect(a is not None, "§6.2 (1.1): after a version-0 reply the pad keeps announcing", t)
        h.hello(2, 3)
        s2 = h.wait(lambda s: s.frame.type_code == HELLO_REPLY, 1.0)
        self.expect(s2 is not None, "§6.2 (1.1): the pad answers every HELLO after a version-0 reply", t)

    def s_link_up(self) -> None:
        """§6.2: HELLO → HELLO_REPLY version 1, announced table within §5.2."""
        h = self.host
        h.link_up()

    def s_repeated_hello(self) -> None:
        """§6.2 step 3: a repeated HELLO before any exchange only gets another HELLO_REPLY."""
        h = self.host
        t = time.monotonic()
        h.hello()
        s = h.wait(lambda s: s.frame.type_code in (HELLO_REPLY, ANNOUNCE), 1.0)
        self.expect(s is not None and s.frame.type_code == HELLO_REPLY, "§6.2 step 3: no HELLO_REPLY to a repeated HELLO", t)
        # Sequence state kept: a PING is seq 1 and is acknowledged.
        h.send(PING, {"data": "6869"})

    def s_ack_and_duplicate(self) -> None:
        """§6.3: every data frame is ACKed; a duplicate is ACKed again and not acted on twice."""
        h = self.host
        t = time.monotonic()
        seq = h.send(STATUS_REQUEST, {})
        st = h.wait_data(STATUS, 1.0)
        self.expect(st is not None, "§5.8: no STATUS after STATUS_REQUEST", t)
        self.line.write_frame(STATUS_REQUEST, seq, {}, flags=1)
        a = h.wait(lambda s: s.frame.type_code == ACK and s.frame.seq == seq, 0.5)
        self.expect(a is not None, "§6.3: a duplicate must be acknowledged again", t)
        again = h.wait_data(STATUS, 0.6)
        self.expect(again is None, "§6.3: a duplicate STATUS_REQUEST was acted on twice", t)
        if st:
            self.expect(st["state"] == 0 and st["active_token"] == 0,
                        f"§5.8 (1.1): right after link-up STATUS must be idle (0) with no prompt, got {st}", t)

    def _error_report(self, type_code: int, payload: bytes, code: int, rule: str) -> None:
        h = self.host
        t = time.monotonic()
        seq = h.send(type_code, payload=payload)
        e = h.wait_data(ERROR_REPORT, 1.0)
        if not self.expect(e is not None, f"{rule}: no ERROR_REPORT for type 0x{type_code:02X}", t):
            return
        self.expect((e["code"], e["ref_type"], e["ref_seq"]) == (code, type_code, seq),
                    f"{rule}: ERROR_REPORT code {e['code']} ref_type 0x{e['ref_type']:02X} ref_seq {e['ref_seq']}; "
                    f"expected code {code} ref_type 0x{type_code:02X} ref_seq {seq}", t)

    def s_unknown_type(self) -> None:
        """§4 (1.1): an undefined type in 0x20–0x6F → ERROR_REPORT code 1 with ref_type/ref_seq."""
        self._error_report(0x26, b"\x01", 1, "§4")

    def s_reserved_type(self) -> None:
        """§4 (1.1): a type in 0x70–0xFF → code 1."""
        self._error_report(0x7F, b"", 1, "§4")

    def s_wrong_direction(self) -> None:
        """§4 (1.1): KEY_EVENT sent to a pad → code 3 with the frame's seq."""
        self._error_report(KEY_EVENT, ngpp.encode_payload(KEY_EVENT, {"token": 5, "key": 0, "length": 1}), 3, "§4")

    def s_malformed(self) -> None:
        """§4: INDICATE with beep 9 → code 2."""
        self._error_report(INDICATE, b"\x09\x00", 2, "§4")

    def s_malformed_prompt(self) -> None:
        """§5.4 (1.1): a malformed PROMPT with token and prompt → ERROR_REPORT 2 and ENTRY_RESULT refused."""
        h = self.host
        t = time.monotonic()
        tok = self.new_token()
        seq = h.send(PROMPT, payload=tok.to_bytes(2, "little") + b"\x02\x00")
        e = h.wait_data(ERROR_REPORT, 1.0)
        self.expect(e is not None and (e["code"], e["ref_type"], e["ref_seq"]) == (2, PROMPT, seq),
                    f"§5.4 (1.1): a malformed PROMPT needs ERROR_REPORT code 2 ref PROMPT/{seq}, got {e}", t)
        r = h.wait_data(ENTRY_RESULT, 1.0, token=tok)
        self.expect(r is not None and r["outcome"] == 4 and r["prompt"] == 2,
                    f"§5.4 (1.1): a malformed PROMPT with token {tok} needs ENTRY_RESULT refused echoing token and prompt 2, got {r}", t)
        seq0 = h.send(PROMPT, payload=b"\x00\x00\x01")
        e0 = h.wait_data(ERROR_REPORT, 1.0)
        self.expect(e0 is not None and e0["ref_seq"] == seq0, "§5.4: a malformed PROMPT with token 0 needs its ERROR_REPORT", t)
        r0 = h.wait_data(ENTRY_RESULT, 0.5)
        self.expect(r0 is None, "§5.4 (1.1): a malformed PROMPT with token 0 gets no ENTRY_RESULT", t)

    def s_prompt_refused(self) -> None:
        """§5.4: unknown prompt id, token 0, or a timeout out of range → ENTRY_RESULT refused at once."""
        h = self.host
        for tok, pid, timeout in ((self.new_token(), 9, 0), (0, 1, 0), (self.new_token(), 1, 3), (self.new_token(), 1, 601)):
            t = time.monotonic()
            h.send(PROMPT, {"token": tok, "prompt": pid, "timeout": timeout, "amount": 0, "notice": 0})
            r = h.wait_data(ENTRY_RESULT, 1.0, token=tok)
            self.expect(r is not None and r["outcome"] == 4 and r["prompt"] == pid and r["digits"] == "",
                        f"§5.4: PROMPT token {tok} id {pid} timeout {timeout} must end at once with ENTRY_RESULT refused, got {r}", t)

    def s_prompt_cancel(self) -> None:
        """§5.5, §5.8: STATUS while prompting; CANCEL_PROMPT → cancelled by host; a second one only ACKed."""
        h = self.host
        t = time.monotonic()
        tok = self.new_token()
        h.send(PROMPT, {"token": tok, "prompt": 1, "timeout": 0, "amount": 4990, "notice": 0})
        h.send(STATUS_REQUEST, {})
        st = h.wait_data(STATUS, 1.0)
        self.expect(st is not None and st["state"] == 2 and st["active_token"] == tok,
                    f"§5.8: STATUS during prompt {tok} must be state 2 with active_token {tok}, got {st}", t)
        h.send(CANCEL_PROMPT, {"token": tok})
        r = h.wait_data(ENTRY_RESULT, 1.0, token=tok)
        self.expect(r is not None and r["outcome"] == 3, f"§5.5: CANCEL_PROMPT must end the prompt with outcome 3, got {r}", t)
        h.send(CANCEL_PROMPT, {"token": tok})
        extra = h.wait_data(ENTRY_RESULT, 0.5)
        self.expect(extra is None, "§5.5: CANCEL_PROMPT for a prompt that is not open is only acknowledged", t)

    def s_prompt_replaced(self) -> None:
        """§5.4: a PROMPT while another is open ends the older one with cancelled by host first."""
        h = self.host
        t = time.monotonic()
        a, b = self.new_token(), self.new_token()
        h.send(PROMPT, {"token": a, "prompt": 1, "timeout": 0, "amount": 0, "notice": 0})
        h.send(PROMPT, {"token": b, "prompt": 3, "timeout": 0, "amount": 100, "notice": 0})
        r = h.wait_data(ENTRY_RESULT, 1.0, token=a)
        self.expect(r is not None and r["outcome"] == 3, f"§5.4: the replaced prompt {a} must end with outcome 3, got {r}", t)
        h.send(RESET, {})
        r2 = h.wait_data(ENTRY_RESULT, 1.0, token=b)
        self.expect(r2 is not None and r2["outcome"] == 3, f"§5.7: RESET must end prompt {b} with outcome 3, got {r2}", t)

    def s_screens_and_state(self) -> None:
        """§5.8 (1.1): SHOW_SCREEN → state 1; count 0 → state 0; after a prompt, the screen before it."""
        h = self.host
        t = time.monotonic()

        def state() -> int | None:
            h.send(STATUS_REQUEST, {})
            st = h.wait_data(STATUS, 1.0)
            return st["state"] if st else None
        h.send(SHOW_SCREEN, {"lines": [{"align": 1, "text": "Karfa"}]})
        self.expect(state() == 1, "§5.8 (1.1): after SHOW_SCREEN with lines, STATUS state must be 1", t)
        tok = self.new_token()
        h.send(PROMPT, {"token": tok, "prompt": 3, "timeout": 0, "amount": 100, "notice": 0})
        h.send(CANCEL_PROMPT, {"token": tok})
        h.wait_data(ENTRY_RESULT, 1.0, token=tok)
        self.expect(state() == 1, "§5.8 (1.1): after a prompt the pad shows the screen it showed before (state 1)", t)
        h.send(SHOW_SCREEN, {"lines": []})
        self.expect(state() == 0, "§5.8 (1.1): SHOW_SCREEN count 0 is the idle screen (state 0)", t)

    def s_entry(self) -> None:
        """§5.2, §5.9, §5.10: the scripted customer types an SMS code: KEY_EVENTs without digits, one ENTRY_RESULT."""
        h = self.host
        t = time.monotonic()
        tok = self.new_token()
        h.send(PROMPT, {"token": tok, "prompt": 2, "timeout": 30, "amount": 4990, "notice": 1})
        r = h.wait_data(ENTRY_RESULT, 25.0, token=tok)
        if not self.expect(r is not None, f"§5.10: no ENTRY_RESULT for the SMS-code prompt {tok} the script answers", t):
            return
        self.expect(r["outcome"] == 0 and r["digits"] == "1234",
                    f"§5.10: expected entered with the 4 digits typed, got outcome {r['outcome']} ({len(r['digits'])} digits)", t)
        keys = [ngpp.decode_payload(KEY_EVENT, s.frame.payload) for s in h.since(t) if s.frame.type_code == KEY_EVENT and not s.sent]
        lengths = [k["length"] for k in keys if k["key"] in (0, 1, 4)]
        self.expect(len(keys) >= 5 and all(k["token"] == tok for k in keys),
                    f"§5.9: a KEY_EVENT per key with the prompt's token expected, got {keys}", t)
        self.expect(lengths[-4:] == [1, 2, 3, 4] if len(lengths) >= 4 else False,
                    f"§5.9: KEY_EVENT lengths {lengths}", t)
        ok = [k for k in keys if k["key"] == 2]
        self.expect(len(ok) == 1, "§5.9: one KEY_EVENT OK before the ENTRY_RESULT", t)

    def s_busy(self) -> None:
        """§5.11 (1.1): first BUSY 5 s after the PROMPT, seconds_remaining rounded up; timed out at the timeout."""
        h = self.host
        t = time.monotonic()
        tok = self.new_token()
        h.send(PROMPT, {"token": tok, "prompt": 1, "timeout": 7, "amount": 0, "notice": 0})
        sent_at = [s.at for s in h.since(t) if s.sent and s.frame.type_code == PROMPT][0]
        b = h.wait_data(BUSY, T_BUSY + TOLERANCE + 0.5, token=tok)
        if self.expect(b is not None, f"§5.11: no BUSY within 5 s of PROMPT {tok}", t):
            dt = b["_at"] - sent_at
            self.expect(T_BUSY - EARLY <= dt <= T_BUSY + TOLERANCE, f"§5.11 (1.1): first BUSY {dt:.3f} s after the PROMPT, expected 5 s", t)
            self.expect(b["seconds_remaining"] == 2, f"§5.11 (1.1): seconds_remaining {b['seconds_remaining']} at 5 s of 7, expected 2 (rounded up)", t)
        r = h.wait_data(ENTRY_RESULT, 3.0, token=tok)
        if self.expect(r is not None and r["outcome"] == 2, f"§5.2: prompt with timeout 7 s must end timed out, got {r}", t):
            dt = r["_at"] - sent_at
            self.expect(7 - EARLY <= dt <= 7 + TOLERANCE, f"§5.2: timed out after {dt:.3f} s, expected 7 s", t)

    def s_retransmission(self) -> None:
        """§6.4: an unacknowledged frame is resent after 200 ms with the flag, same seq; at once on NAK."""
        h = self.host
        t = time.monotonic()
        h.auto_ack = False
        try:
            h.send(STATUS_REQUEST, {})
            first = h.wait(lambda s: s.frame.type_code == STATUS, 1.0, consume=False)
            if not self.expect(first is not None, "§5.8: no STATUS", t):
                return
            seq = first.frame.seq
            retx = h.wait(lambda s: s.frame.type_code == STATUS and s is not first, 1.0, consume=False)
            if self.expect(retx is not None, "§6.4: STATUS not acknowledged was not sent again", t):
                dt = retx.at - first.at
                self.expect(T_ACK - EARLY <= dt <= T_ACK + TOLERANCE and retx.frame.seq == seq and retx.frame.flags & 1 and retx.frame.payload == first.frame.payload,
                            f"§6.4: retransmission after {dt:.3f} s (seq {retx.frame.seq}, flags {retx.frame.flags}); expected 0.2 s, same seq and payload, flag bit 0", t)
                nak_at = time.monotonic()
                self.line.write_frame(NAK, 77)    # the NAK's seq is informative only (1.1)
                again = h.wait(lambda s: s.frame.type_code == STATUS and s.at > nak_at, 0.15, consume=False)
                self.expect(again is not None, "§6.4 (1.1): a NAK (whatever its seq) must make the pad resend at once", t)
            self.line.write_frame(ACK, seq)
            h.poll(0.3)
        finally:
            h.auto_ack = True
            h.drain()

    def s_heartbeat(self) -> None:
        """§6.6: an idle pad sends HEARTBEAT after 1 s without writing."""
        h = self.host
        t = time.monotonic()
        hb = h.wait(lambda s: s.frame.type_code == HEARTBEAT, 2.0 + TOLERANCE)
        self.expect(hb is not None, "§6.6: no HEARTBEAT from an idle pad within 2 s", t)

    def s_host_restart(self) -> None:
        """§6.2 step 3, §7.4: HELLO after data exchanged: the open prompt ends without ENTRY_RESULT, seq restarts."""
        h = self.host
        t = time.monotonic()
        tok = self.new_token()
        h.send(PROMPT, {"token": tok, "prompt": 1, "timeout": 0, "amount": 0, "notice": 0})
        h.up = False
        h.link_up()
        h.send(STATUS_REQUEST, {})
        st = h.wait_data(STATUS, 1.0)
        self.expect(st is not None and st["_seq"] == 1, f"§6.2 step 3: after a host restart the pad's first data frame is seq 1, got {st}", t)
        self.expect(st is not None and st["state"] == 0 and st["active_token"] == 0,
                    f"§7.4: after a host restart no prompt is open and the idle screen shows, got {st}", t)
        self.expect(tok not in h.results, "§7.4: the prompt open at a host restart ends without ENTRY_RESULT", t)

    def s_silence(self) -> None:
        """§6.6, 1.1: a silent host: the pad declares the link down after 2.5 s — not earlier — and announces reason 2."""
        h = self.host
        for attempt in range(4):
            t = time.monotonic()
            h.up = False
            h.link_up()
            up_at = self.line.last_write
            h.up = False                                    # silent from now on: no heartbeats
            a = h.wait(lambda s: s.frame.type_code == ANNOUNCE, T_DEAD + TOLERANCE + 1)
            if not self.expect(a is not None, "§6.6: a silent host: no ANNOUNCE after T_dead", t):
                return
            dt = a.at - up_at
            self.expect(T_DEAD - EARLY <= dt <= T_DEAD + TOLERANCE,
                        f"§6.6: link declared dead {dt:.3f} s after the host's last frame, expected 2.5 s (attempt {attempt + 1})", t)
            self.expect(a.frame.payload[:1] == b"\x02", f"§6.2: ANNOUNCE after silence must have reason 2, got {a.frame.payload.hex()}", t)
            h.wait(lambda s: False, 0.2)

    def scenarios(self) -> list[Scenario]:
        return [
            Scenario("pad-announces-with-one-reason", "§6.2", self.s_announce),
            Scenario("pad-unlinked-data-gets-announce-3", "§6.2", self.s_unlinked_data),
            Scenario("pad-version-0-stays-unlinked", "§6.2", self.s_version_zero),
            Scenario("pad-link-up", "§6.2 §5.2", self.s_link_up),
            Scenario("pad-repeated-hello-before-exchange", "§6.2", self.s_repeated_hello),
            Scenario("pad-ack-and-duplicate", "§6.3 §5.8", self.s_ack_and_duplicate),
            Scenario("pad-unknown-type-code-1", "§4", self.s_unknown_type),
            Scenario("pad-reserved-type-code-1", "§4", self.s_reserved_type),
            Scenario("pad-wrong-direction-code-3", "§4", self.s_wrong_direction),
            Scenario("pad-malformed-payload-code-2", "§4", self.s_malformed),
            Scenario("pad-malformed-prompt", "§5.4", self.s_malformed_prompt),
            Scenario("pad-prompt-refused", "§5.4", self.s_prompt_refused),
            Scenario("pad-prompt-cancel", "§5.5 §5.8", self.s_prompt_cancel),
            Scenario("pad-prompt-replaced-and-reset", "§5.4 §5.7", self.s_prompt_replaced),
            Scenario("pad-screens-and-state", "§5.3 §5.8", self.s_screens_and_state),
            Scenario("pad-customer-entry", "§5.2 §5.9 §5.10", self.s_entry),
            Scenario("pad-busy-and-timeout", "§5.11 §5.2", self.s_busy),
            Scenario("pad-retransmission-and-nak", "§6.4", self.s_retransmission),
            Scenario("pad-heartbeat", "§6.6", self.s_heartbeat),
            Scenario("pad-host-restart", "§6.2 §7.4", self.s_host_restart),
            Scenario("pad-silence-t-dead", "§6.6", self.s_silence),
        ]


# Scenarios whose deviations are known and still open (--known): printed as KNOWN with every
# deviation, not counted as failures; one that passes says so, so the list only shrinks.
KNOWN: set[str] = set()


def print_result(sc: Scenario) -> None:
    mark = "pass" if not sc.deviations else ("KNOWN" if sc.name in KNOWN else "FAIL")
    print(f"{mark}  {sc.name}  ({sc.rule})", flush=True)
    for d in sc.deviations:
        print("    deviation: " + d, flush=True)


def run_scenarios(scs: list[Scenario], only: set[str] | None, before: Callable[[Scenario], None] | None = None) -> int:
    unknown = sorted((only or set()) - {sc.name for sc in scs})
    if unknown:
        print(f"no scenario named {', '.join(unknown)}; the scenarios are: {', '.join(sc.name for sc in scs)}",
              file=sys.stderr, flush=True)
        return 2
    failed = 0
    ran = 0
    for sc in scs:
        if only and sc.name not in only:
            continue
        ran += 1
        if before:
            before(sc)
        try:
            sc.run()
        except Deviation as e:
            if str(e):
                sc.deviations.append(str(e))
        except Exception as e:  # the peer misbehaved so that the scenario could not go on
            sc.deviations.append(f"scenario aborted: {type(e).__name__}: {e}")
        print_result(sc)
        if sc.deviations and sc.name not in KNOWN:
            failed += 1
        elif not sc.deviations and sc.name in KNOWN:
            print(f"    {sc.name} is listed as known but passes now: take it off --known", flush=True)
    known = sum(1 for s in scs if s.deviations and s.name in KNOWN)
    print(f"{ran} scenarios, {failed} with deviations, {sum(len(s.deviations) for s in scs)} deviations"
          + (f" ({known} scenario(s) with known, open deviations)" if known else ""), flush=True)
    return 1 if failed else 0


PAD_SCRIPT = """timeout 600s
on prompt sms-code type 1234 ok after 300ms
wait 600s
"""


def parse_conform_args(mode: str, args: list[str]) -> argparse.Namespace | int:
    """The conform modes' options, parsed by argparse: one definition for both modes. An int is
    the exit status when there is nothing to run (0 after --help, 2 after a usage error)."""
    ap = argparse.ArgumentParser(prog=f"ngpp.py {mode}", description=(
        "a strict host against `ngbridge sim pinpad` or the firmware in QEMU" if mode == "conform-pad"
        else "a strict pad against `ngbridge run`"))
    ap.add_argument("--ngbridge", default=".build/debug/ngbridge", metavar="PATH", help="the ngbridge binary")
    ap.add_argument("--only", type=lambda s: set(s.split(",")), metavar="NAME,...", help="run only these scenarios")
    if mode == "conform-pad":
        ap.add_argument("--qemu", metavar="IMAGE", help="run the firmware image in QEMU instead of the simulator")
    else:
        ap.add_argument("--keep", action="store_true", help="keep the daemon's and the simulator's logs")
        ap.add_argument("--known", type=lambda s: set(s.split(",")), default=set(), metavar="NAME,...",
                        help="deviations known today: printed in full as KNOWN, not counted as failures")
    try:
        return ap.parse_args(args)
    except SystemExit as e:  # argparse has printed the help, or the usage and the error
        return 2 if e.code else 0


def cmd_conform_pad(args: list[str]) -> int:
    opts = parse_conform_args("conform-pad", args)
    if isinstance(opts, int):
        return opts
    ng, qemu, only = opts.ngbridge, opts.qemu, opts.only
    work = tempfile.mkdtemp(prefix="ngpp-conform-pad-")
    link = os.path.join(work, "pad")
    script = os.path.join(work, "customer.pad")
    with open(script, "w") as f:
        f.write(PAD_SCRIPT)
    argv = [ng, "sim", "pinpad", "--link", link, "--script", script, "--no-interactive"]
    if qemu:
        argv += ["--qemu", qemu]
    log = open(os.path.join(work, "pad.log"), "w")
    proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
    kind = "the firmware in QEMU" if qemu else "ngbridge sim pinpad"
    print(f"conform-pad: a strict host against {kind}", flush=True)
    try:
        wait_for_path(link, 60, proc)
        c = PadConformance(link, kind)

        def before(sc: Scenario) -> None:
            c.current = sc
        rc = run_scenarios(c.scenarios(), only, before)
    except RuntimeError as e:
        print(f"conform-pad: could not start: {e}", file=sys.stderr)
        rc = 2
    finally:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        log.close()
        if rc == 2:
            print(open(os.path.join(work, "pad.log")).read()[-2000:], file=sys.stderr)
        shutil.rmtree(work, ignore_errors=True)
    return rc


# =============================================================================================
# conform-host: a strict pad in front of `ngbridge run`
# =============================================================================================

APP_KEY = "881E674F-7891-4C20-AFD8-56FE2624C4B5"
SECRET = "YCFd6hiA8lUjZejVcIf/LhRXO4wTDxY0JhOXvQZwnMSiNynSxmNIMjMf1HHwdV6cMN48NX3ZipA9q9hLPb9C1ZIzMH5dvELPAHceiu7LbZzmIAGeOf/OUaDrk2Zq2dbGacIAzU6yyk4KmOXRaSLi8KW8t3krdQSX7Ecm8Qunc/A="
ENTRY_TIMEOUT = 10          # the daemon runs with payment.entry-timeout=10 (§5.4 Timeout)
FINAL = {"paid", "declined", "cancelled", "failed", "unknown"}
FULL_TABLE = [{"id": 1, "min_digits": 7, "max_digits": 10, "echo": 0, "default_timeout": 60},
              {"id": 2, "min_digits": 4, "max_digits": 6, "echo": 1, "default_timeout": 120},
              {"id": 3, "min_digits": 0, "max_digits": 0, "echo": 2, "default_timeout": 60}]


class Pad:
    """The pad end (§6 pad role, §5 pad rules) on the master side of a pty, strict about the host.
    Customer behaviour comes from ``on_prompt(fields) -> (action, digits, after_seconds)``."""

    def __init__(self, link: str, t0: float, report: Callable[[str, list[Seen]], None]):
        self.master, slave = os.openpty()
        tty.setraw(slave)
        self.slave = slave                      # kept open: the host may close and reopen its side
        if os.path.lexists(link):
            os.unlink(link)
        os.symlink(os.ttyname(slave), link)
        os.set_blocking(self.master, False)
        self.line = Line(self.master, t0)
        self.t0 = t0
        self.report = report
        self.prompts = list(FULL_TABLE)
        self.reply_version = 1
        self.silent = False
        self.on_prompt: Callable[[dict], tuple] = lambda f: ("none", "", 0)
        self.used_tokens: list[int] = []
        self.reset_link(0)
        self.session = 0
        self.last_hello = 0.0

    # --- state ---

    def reset_link(self, reason: int) -> None:
        self.up = False
        self.reason = reason
        self.next_announce = 0.0
        self.seq = 0
        self.last_accepted = 0
        self.in_flight: tuple | None = None     # (type, seq, payload, tx, due)
        self.queue: list[tuple[int, bytes]] = []
        self.exchanged = False
        self.prompt: dict | None = None
        self.prompt_sent_at = 0.0
        self.action: tuple | None = None        # (due, outcome, digits)
        self.busy_due = 0.0
        self.last_rx = time.monotonic()

    def reboot(self, announced: list[dict] | None = None, reply_version: int = 1) -> None:
        self.prompts = announced if announced is not None else list(FULL_TABLE)
        self.reply_version = reply_version
        self.reset_link(0)
        self.line.decoder = ngpp.StreamDecoder()

    # --- sending ---

    def send(self, type_code: int, fields: dict) -> None:
        payload = ngpp.encode_payload(type_code, fields)
        self.exchanged = True
        self.queue.append((type_code, payload))
        self._next()

    def _next(self) -> None:
        if self.in_flight or not self.queue or not self.up:
            return
        t, p = self.queue.pop(0)
        self.seq = 1 if self.seq == 255 else self.seq + 1
        self.in_flight = (t, self.seq, p, 1, time.monotonic() + T_ACK)
        self._write(t, self.seq, payload=p)

    def _write(self, t: int, seq: int = 0, fields: dict | None = None, payload: bytes | None = None, flags: int = 0) -> None:
        if self.silent:
            return
        try:
            self.line.write_frame(t, seq, fields, flags, payload)
        except OSError:
            pass

    def hello_reply(self) -> None:
        self._write(HELLO_REPLY, 0, {"version": self.reply_version, "max_payload": 246, "rows": 4, "columns": 20,
                                     "charset": 1, "keys": 0x1FFF, "model": "NGPP-CONFORM", "firmware": "1.1",
                                     "serial": "CONFORM01", "prompts": self.prompts})

    # --- the loop ---

    def step(self, timeout: float = 0.02) -> None:
        before = len(self.line.inbox)
        self.line.pump(timeout)
        new = self.line.inbox[before:]
        del self.line.inbox[before:]
        for s in new:
            if not self.silent:
                self.handle(s)
        self.timers()

    def run(self, seconds: float, until: Callable[[], bool] | None = None) -> bool:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            self.step()
            if until and until():
                return True
        return bool(until and until())

    def timers(self) -> None:
        now = time.monotonic()
        if self.silent:
            return
        if not self.up:
            if now >= self.next_announce:
                self._write(ANNOUNCE, 0, {"reason": self.reason})
                self.next_announce = now + T_ANNOUNCE
            return
        if now - self.last_rx >= T_DEAD:
            self.reset_link(2)
            return
        if self.in_flight and now >= self.in_flight[4]:
            t, seq, p, tx, _ = self.in_flight
            if tx >= 8:
                self.reset_link(2)
                return
            self.in_flight = (t, seq, p, tx + 1, now + T_ACK)
            self._write(t, seq, payload=p, flags=1)
        if self.prompt and self.action and now >= self.action[0]:
            _, outcome, digits = self.action
            self.end_prompt(outcome, digits)
        elif self.prompt and now >= self.prompt_deadline:
            self.end_prompt(2, "")
        elif self.prompt and now >= self.busy_due:
            self.busy_due = now + T_BUSY
            self.send(BUSY, {"token": self.prompt["token"], "seconds_remaining": max(1, int(-(-(self.prompt_deadline - now) // 1)))})
        if now - self.line.last_write >= T_HB:
            self._write(HEARTBEAT)

    def end_prompt(self, outcome: int, digits: str) -> None:
        p = self.prompt
        self.prompt = None
        self.action = None
        self.send(ENTRY_RESULT, {"token": p["token"], "prompt": p["prompt"], "outcome": outcome, "digits": digits})

    def handle(self, s: Seen) -> None:
        f = s.frame
        t = f.type_code
        now = s.at
        if t == HELLO:
            if self.last_hello and now - self.last_hello < T_HELLO - EARLY:
                self.report(f"§6.2 step 1 (1.1): two HELLOs {1000 * (now - self.last_hello):.0f} ms apart (one per 250 ms)",
                            [x for x in self.line.log if x.at >= self.last_hello - 0.001][:4])
            self.last_hello = now
            try:
                h = ngpp.decode_payload(HELLO, f.payload)
            except Exception as e:
                self.report(f"§6.2: malformed HELLO: {e}", [s])
                return
            if not (h["min_version"] <= 1 <= h["max_version"]):
                self.report(f"§6.2: HELLO for versions {h['min_version']}–{h['max_version']} excludes 1", [s])
            self.hello_reply()
            if self.reply_version == 0:
                return
            if not self.up or self.exchanged:
                reason = self.reason
                self.reset_link(reason)
                self.up = True
                self.session += 1
                self.session_start = now
            self.last_rx = now
            return
        if not ngpp.is_data_type(t):
            if self.up:
                self.last_rx = now
            if t == ACK and self.up and self.in_flight and self.in_flight[1] == f.seq:
                self.in_flight = None
                self._next()
            elif t == NAK and self.up and self.in_flight:
                tt, seq, p, tx, _ = self.in_flight
                self.in_flight = (tt, seq, p, tx + 1, now + T_ACK)
                self._write(tt, seq, payload=p, flags=1)
            elif t in (HELLO_REPLY, ANNOUNCE):
                self.report(f"§4: the host sent {name_of(t)} (a pad → host type)", [s])
            return
        # data
        if not self.up:
            self._write(ANNOUNCE, 0, {"reason": 3})
            return
        if f.seq == 0:
            self.report("§6.3: data frame with seq 0", [s])
            return
        self.last_rx = now
        self._write(ACK, f.seq)
        if f.seq == self.last_accepted:
            return
        self.last_accepted = f.seq
        self.exchanged = True
        code = ngpp.error_code_for(t, f.payload)
        if code is not None:
            self.report(f"§4: the host sent {name_of(t)} that a pad answers with ERROR_REPORT code {code}", [s])
            self.send(ERROR_REPORT, {"code": code, "ref_type": t, "ref_seq": f.seq, "text": ""})
            return
        fields = ngpp.decode_payload(t, f.payload)
        if t == PROMPT:
            self.on_prompt_frame(fields, s)
        elif t == CANCEL_PROMPT:
            if self.prompt and self.prompt["token"] == fields["token"]:
                self.end_prompt(3, "")
        elif t in (SHOW_SCREEN, RESET):
            if self.prompt:
                self.report(f"§5.3 (1.1): {name_of(t)} while prompt {self.prompt['token']} is open — the host MUST cancel it first", self.context(s))
            if t == RESET and self.prompt:
                self.end_prompt(3, "")
            self.screens.append((self.session, now, fields))
        elif t == STATUS_REQUEST:
            self.send(STATUS, {"state": 2 if self.prompt else 0, "active_token": self.prompt["token"] if self.prompt else 0,
                               "uptime": 1, "faults": 0})
        elif t == ERROR_REPORT:
            self.errors.append((f.seq, fields, s))

    screens: list = []
    errors: list = []
    expect_timeout: int | None = ENTRY_TIMEOUT

    def context(self, s: Seen) -> list[Seen]:
        return [x for x in self.line.log if x.at >= s.at - 8 and (x.frame.type_code not in (ACK, HEARTBEAT))][-10:]

    def on_prompt_frame(self, fields: dict, s: Seen) -> None:
        tok = fields["token"]
        if self.prompt:
            self.report(f"§5.3 (1.1): PROMPT {tok} while prompt {self.prompt['token']} is open — the host MUST cancel it first",
                        self.context(s))
        if tok == 0:
            self.report("§5.4: PROMPT token 0", [s])
        elif tok in self.used_tokens:
            self.report(f"§5.4, §7.1: PROMPT token {tok} was used before (tokens so far {self.used_tokens[-6:]})", self.context(s))
        elif self.used_tokens and tok != (1 if self.used_tokens[-1] == 65535 else self.used_tokens[-1] + 1):
            self.report(f"§5.4 (1.1): PROMPT token {tok} after {self.used_tokens[-1]}: tokens go up by 1", [s])
        self.used_tokens.append(tok)
        if fields["prompt"] not in [p["id"] for p in self.prompts]:
            self.report(f"§5.2 (1.1): PROMPT for id {fields['prompt']}, which the pad did not announce ({[p['id'] for p in self.prompts]})", [s])
            self.send(ENTRY_RESULT, {"token": tok, "prompt": fields["prompt"], "outcome": 4, "digits": ""})
            return
        if self.expect_timeout is not None and fields["timeout"] != self.expect_timeout and tok not in self.timeout_reported:
            self.timeout_reported.add(tok)
            self.report(f"§5.4 (1.1): PROMPT timeout {fields['timeout']}, but the host is configured with payment.entry-timeout={self.expect_timeout}", [s])
        self.prompt = dict(fields)
        self.prompt_sent_at = s.at
        timeout = fields["timeout"] or next(p["default_timeout"] for p in self.prompts if p["id"] == fields["prompt"])
        self.prompt_deadline = s.at + timeout
        self.busy_due = s.at + T_BUSY
        self.prompt_log.append((self.session, s.at, dict(fields)))
        action, digits, after = self.on_prompt(fields)
        if action == "enter":
            self.action = (s.at + after, 0, digits)
        elif action == "cancel":
            self.action = (s.at + after, 1, "")

    prompt_log: list = []
    timeout_reported: set = set()


def api(sock: str, method: str, path: str, body: dict | None = None, headers: dict | None = None, timeout: float = 5.0):
    import http.client

    class Conn(http.client.HTTPConnection):
        def connect(self):
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.settimeout(timeout)
            s.connect(sock)
            self.sock = s
    c = Conn("localhost", timeout=timeout)
    try:
        data = json.dumps(body).encode() if body is not None else None
        h = {"Content-Type": "application/json"} if data else {}
        h.update(headers or {})
        c.request(method, path, body=data, headers=h)
        r = c.getresponse()
        raw = r.read()
        try:
            return r.status, json.loads(raw) if raw else None
        except ValueError:
            return r.status, raw.decode(errors="replace")
    finally:
        c.close()


class HostConformance:
    def __init__(self, ng: str, work: str):
        self.ng = ng
        self.work = work
        self.t0 = time.monotonic()
        self.current: Scenario | None = None
        self.pad = Pad(os.path.join(work, "pad0"), self.t0, self.report)
        self.pad.screens = []
        self.pad.errors = []
        self.pad.prompt_log = []
        self.sock = os.path.join(work, "api.sock")
        self.procs: list[subprocess.Popen] = []
        self.daemon: subprocess.Popen | None = None
        self.n = 0

    def report(self, what: str, frames: list[Seen]) -> None:
        text = what
        if frames:
            text += "\n" + "\n".join("      " + s.describe(self.t0) for s in frames[-12:])
        if self.current is not None:
            self.current.deviations.append(text)

    # --- processes ---

    def spawn(self, argv: list[str], log: str) -> subprocess.Popen:
        f = open(os.path.join(self.work, log), "ab")
        p = subprocess.Popen(argv, stdout=f, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
        self.procs.append(p)
        return p

    def start_netgiro(self) -> None:
        self.spawn([self.ng, "sim", "netgiro", "--port", "0", "--accept-delay-ms", "500", "--check-interval-ms", "500"], "netgiro.log")
        end = time.monotonic() + 30
        self.base = None
        while time.monotonic() < end and not self.base:
            with open(os.path.join(self.work, "netgiro.log"), errors="replace") as f:
                for line in f:
                    if "base URL " in line:
                        self.base = line.split("base URL ", 1)[1].split()[0]
            time.sleep(0.05)
        if not self.base:
            raise RuntimeError("the Netgíró simulator did not start")
        # The daemon refuses a secret file every user may read.
        fd = os.open(os.path.join(self.work, "secret"), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(SECRET)

    def start_daemon(self) -> None:
        self.daemon = self.spawn([
            self.ng, "run", "--set", f"netgiro.base-url={self.base}", "--set", f"netgiro.app-key={APP_KEY}",
            "--set", f"netgiro.secret-file={self.work}/secret", "--set", f"device.path={self.work}/pad0",
            "--set", f"api.listen=unix:{self.sock}", "--set", f"journal.path={self.work}/journal.sqlite",
            "--set", f"payment.entry-timeout={ENTRY_TIMEOUT}"], "daemon.log")
        if not self.pad.run(30, lambda: self.pad.up and self.online()):
            raise RuntimeError(f"the daemon did not link with the pad within 30 s (see {self.work}/daemon.log)")

    def online(self) -> bool:
        try:
            st, terms = api(self.sock, "GET", "/v1/terminals", timeout=0.5)
            return st == 200 and any(t.get("status") == "online" for t in (terms or {}).get("terminals", []))
        except (OSError, ValueError, Exception):
            return False

    def stop(self) -> None:
        for p in self.procs:
            try:
                os.killpg(p.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        for p in self.procs:
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()

    # --- payments ---

    def pay(self, amount: int = 1990) -> str | None:
        """POSTs a payment (in a thread, pumping the pad meanwhile); returns its id."""
        import threading
        self.n += 1
        out: dict = {}

        def post() -> None:
            try:
                out["r"] = api(self.sock, "POST", "/v1/payments",
                               {"amount": amount, "reference": f"CONFORM-{os.getpid()}-{self.n}", "confirmation": "automatic"},
                               {"Idempotency-Key": f"conform-{os.getpid()}-{self.n}"}, timeout=30)
            except Exception as e:
                out["e"] = e
        th = threading.Thread(target=post)
        th.start()
        while th.is_alive():
            self.pad.step()
        if "r" not in out or out["r"][0] not in (200, 201):
            self.report(f"till API: POST /v1/payments answered {out.get('r') or out.get('e')}", [])
            return None
        return out["r"][1]["id"]

    def state(self, pid: str) -> dict:
        try:
            st, p = api(self.sock, "GET", f"/v1/payments/{pid}", timeout=2)
            return p if st == 200 else {}
        except Exception:
            return {}

    def finish(self, pid: str, seconds: float = 60) -> dict:
        end = time.monotonic() + seconds
        last: dict = {}
        while time.monotonic() < end:
            self.pad.run(0.2)
            last = self.state(pid)
            if last.get("state") in FINAL:
                return last
        return last

    def customer(self, answers: dict[int, list]) -> None:
        """Per prompt id, the answers in turn: ("enter", digits, after) or ("cancel", "", after) or ("none", "", 0)."""
        queues = {k: list(v) for k, v in answers.items()}

        def on_prompt(fields: dict) -> tuple:
            q = queues.get(fields["prompt"]) or []
            if fields["prompt"] == 3 and not q:
                return ("enter", "", 0.3)
            return q.pop(0) if q else ("none", "", 0)
        self.pad.on_prompt = on_prompt

    # --- scenarios ---

    def s_link_up(self) -> None:
        """§6.2, §6.6: one HELLO per 250 ms while linking (checked on every HELLO), HEARTBEAT from an idle host."""
        p = self.pad
        t = time.monotonic()
        p.run(3.0)
        hb = [s for s in p.line.log if s.at >= t and not s.sent and s.frame.type_code == HEARTBEAT]
        if len(hb) < 2:
            self.report("§6.6: fewer than 2 HEARTBEATs from an idle host in 3 s", [])

    def s_unknown_types(self) -> None:
        """§4 (1.1): pad → host 0x44 and reserved 0x7F → ERROR_REPORT code 1; PROMPT sent to a host → code 3; ref_seq = the frame's seq."""
        p = self.pad
        for t, payload, code in ((0x44, b"\x01", 1), (0x7F, b"", 1), (PROMPT, ngpp.encode_payload(PROMPT, {"token": 3, "prompt": 1, "timeout": 0, "amount": 0, "notice": 0}), 3)):
            p.errors.clear()
            p.exchanged = True
            p.queue.append((t, payload))
            p._next()
            seq = p.seq
            p.run(1.5, lambda: bool(p.errors))
            got = [(e["code"], e["ref_type"], e["ref_seq"]) for _, e, _ in p.errors]
            if got != [(code, t, seq)]:
                self.report(f"§4 (1.1): type 0x{t:02X} seq {seq} from the pad was answered with ERROR_REPORT {got or 'nothing'}; expected code {code}, ref_type 0x{t:02X}, ref_seq {seq}",
                            [s for s in p.line.log if s.at >= time.monotonic() - 1.6 and s.frame.type_code not in (HEARTBEAT,)])

    def s_payment_phone(self) -> None:
        """§5: a phone-number customer pays; prompts only for announced ids, timeout carried, tokens +1."""
        self.customer({1: [("enter", "8223281", 0.5)]})
        pid = self.pay()
        if pid:
            r = self.finish(pid)
            if r.get("state") != "paid":
                self.report(f"payment with a phone number ended {r.get('state')} ({r.get('reason')}), expected paid", [])

    def s_back_to_back(self) -> None:
        """§5.3 (1.1), D14: back-to-back payments — no SHOW_SCREEN (idle screen 5 s after a result) while the next PROMPT is open."""
        self.customer({1: [("enter", "8223281", 0.3), ("enter", "8223281", 7.5)]})
        a = self.pay(1001)
        if a:
            self.finish(a)
        b = self.pay(1002)
        if b:
            r = self.finish(b)
            if r.get("state") != "paid":
                self.report(f"second payment ended {r.get('state')}, expected paid", [])

    def s_wrong_sms_code(self) -> None:
        """§5.4 (1.1), e: after a wrong SMS code the next PROMPT carries notice 1."""
        self.customer({1: [("enter", "1111111119", 0.3)], 2: [("enter", "0000", 0.3), ("cancel", "", 0.3)]})
        start = len(self.pad.prompt_log)
        pid = self.pay(1500)
        if pid:
            self.finish(pid)
        sms = [f for _, _, f in self.pad.prompt_log[start:] if f["prompt"] == 2]
        if len(sms) < 2:
            self.report(f"the SMS code was asked {len(sms)} time(s) after a wrong code; expected a second PROMPT", [])
        elif sms[1]["notice"] != 1:
            self.report(f"§5.4 (1.1): the PROMPT after a wrong SMS code has notice {sms[1]['notice']}, expected 1", [])

    def s_reboot_mid_prompt(self) -> None:
        """§7.3, d, D17: the pad reboots during the customer-id prompt: after the re-link, the current payment's screen and a new PROMPT — never an earlier payment's screen."""
        p = self.pad
        answered = {"n": 0}

        def on_prompt(fields: dict) -> tuple:
            if fields["prompt"] == 3:
                return ("enter", "", 0.3)
            answered["n"] += 1
            return ("none", "", 0) if answered["n"] == 1 else ("enter", "8223281", 0.3)
        p.on_prompt = on_prompt
        pid = self.pay(2490)
        if not pid:
            return
        p.run(10, lambda: p.prompt is not None)
        if not p.prompt:
            self.report("no customer-id PROMPT", [])
            return
        old_session = p.session
        p.reboot()
        p.run(10, lambda: p.session > old_session and p.prompt is not None)
        # The payment waits for its customer id: a result screen (paid, cancelled, declined) can
        # only be an earlier payment's.
        shown = [f for sess, _, f in p.screens if sess == p.session]
        for f in shown:
            text = " ".join(l["text"] for l in f.get("lines", []))
            if any(w in text for w in ("Greitt", "Takk fyrir", "Hætt við", "Hafnað", "Tókst ekki")):
                self.report(f"§7.3, §7.6 (1.1): after the pad rebooted mid-payment the host showed an earlier payment's result: {text!r}", [])
        if not p.prompt:
            self.report("§7.3: no new PROMPT after the pad rebooted during the prompt", [])
        r = self.finish(pid)
        if r.get("state") != "paid":
            self.report(f"payment after the reboot ended {r.get('state')}, expected paid", [])

    def s_entry_timeout(self) -> None:
        """§5.4 (1.1), g: payment.entry-timeout=10 is the PROMPT's timeout; the host cancels after it; a late entry is never taken."""
        p = self.pad
        self.customer({1: [("none", "", 0)]})
        pid = self.pay(3000)
        if not pid:
            return
        p.run(10, lambda: p.prompt is not None)
        if not p.prompt:
            self.report("no customer-id PROMPT", [])
            return
        opened = p.prompt_sent_at
        tok = p.prompt["token"]
        p.prompt_deadline = opened + 3600           # this customer never times out on the pad
        cancelled = p.run(ENTRY_TIMEOUT + 6, lambda: p.prompt is None)
        if not cancelled:
            p.action = (0, 0, "8223281")
            p.run(1)
            self.report(f"§5.4 (1.1): the host did not cancel prompt {tok} within {ENTRY_TIMEOUT} s + grace; an entry was sent at {time.monotonic() - opened:.1f} s", [])
        else:
            dt = time.monotonic() - opened
            if dt < ENTRY_TIMEOUT - EARLY:
                self.report(f"§5.4 (1.1): the host cancelled after {dt:.1f} s, before the entry timeout of {ENTRY_TIMEOUT} s", [])
        r = self.finish(pid, 30)
        if r.get("state") == "paid":
            self.report("§5.4 (1.1): an entry after the host's deadline was taken: the payment ended paid", [])
        self.customer({})
        p.run(6)

    def s_reduced_table(self) -> None:
        """§5.2 (1.1), f: a pad that announces prompts 1 and 3 only is never sent PROMPT 2; an SMS-code customer's payment fails."""
        p = self.pad
        old = p.session
        p.reboot(announced=[x for x in FULL_TABLE if x["id"] != 2])
        p.run(10, lambda: p.session > old and self.online())
        self.customer({1: [("enter", "1111111119", 0.3)]})
        pid = self.pay(1700)
        if pid:
            r = self.finish(pid, 40)
            if r.get("state") != "failed":
                self.report(f"§5.2 (1.1): a payment needing SMS_CODE on a pad without it ended {r.get('state')}, expected failed (prompt-unsupported)", [])
        old = p.session
        p.reboot()
        p.run(10, lambda: p.session > old and self.online())

    def s_version_zero(self) -> None:
        """§6.2 (1.1), b: a pad answering version 0: the host keeps saying HELLO and lists the terminal as incompatible."""
        p = self.pad
        p.reboot(reply_version=0)
        p.run(4)
        try:
            st, terms = api(self.sock, "GET", "/v1/terminals", timeout=2)
        except Exception as e:
            st, terms = 0, str(e)
        if "incompatible" not in json.dumps(terms):
            self.report(f"§6.2 (1.1): GET /v1/terminals does not list the version-0 pad as incompatible: {json.dumps(terms)[:300]}", [])
        hellos = [s for s in p.line.log if s.sent is False and s.frame.type_code == HELLO and s.at > time.monotonic() - 2]
        if len(hellos) < 4:
            self.report(f"§6.2: {len(hellos)} HELLOs in the last 2 s after a version-0 reply; the host goes on saying HELLO every 250 ms", [])
        old = p.session
        p.reboot()
        p.run(10, lambda: p.session > old and self.online())

    def s_daemon_restart(self) -> None:
        """§5.4, §7.1, i: the daemon is killed mid-prompt and restarted: the recovered payment's PROMPT has a token never used before."""
        p = self.pad
        self.customer({1: [("none", "", 0), ("enter", "8223281", 0.3)]})
        pid = self.pay(4990)
        if not pid:
            return
        p.run(10, lambda: p.prompt is not None)
        self.daemon.send_signal(signal.SIGKILL)
        self.daemon.wait()
        p.prompt = None
        p.reset_link(2)
        self.start_daemon()
        r = self.finish(pid, 60)
        if r.get("state") not in FINAL:
            self.report(f"the recovered payment did not end: {r.get('state')}", [])

    def s_silence(self) -> None:
        """§6.6, §7.3: the pad falls silent mid-prompt for 3 s: the host re-links and asks again with a new token."""
        p = self.pad
        self.customer({1: [("none", "", 0), ("enter", "8223281", 0.3)]})
        pid = self.pay(5990)
        if not pid:
            return
        p.run(10, lambda: p.prompt is not None)
        first = p.prompt["token"] if p.prompt else None
        p.silent = True
        p.run(3.2)
        p.silent = False
        p.reset_link(2)
        old = p.session
        p.run(10, lambda: p.session > old and p.prompt is not None)
        if not p.prompt or p.prompt["token"] == first:
            self.report(f"§7.3: after the silence the host did not ask again with a new token (before {first}, now {p.prompt})", [])
        r = self.finish(pid)
        if r.get("state") != "paid":
            self.report(f"payment after the silence ended {r.get('state')}, expected paid", [])

    def s_hello_reply_while_up(self) -> None:
        """§6.2 step 5 (1.1), D5: a HELLO_REPLY while up, after data was exchanged, is the pad's reset: the host starts again at seq 1."""
        p = self.pad
        self.customer({1: [("enter", "8223281", 0.3)]})
        p.send(PING, {"data": "00"})                 # data exchanged since the host's HELLO
        p.run(0.5)
        t = time.monotonic()
        # The pad resets (as if it took a repeated HELLO for a host restart) and says so.
        p.seq = 0
        p.last_accepted = 0
        p.in_flight = None
        p.queue.clear()
        p.exchanged = False
        p.hello_reply()
        pid = self.pay(990)
        first = next((s for s in p.line.log if s.at >= t and not s.sent and ngpp.is_data_type(s.frame.type_code)), None)
        if first is None:
            p.run(5, lambda: any(s.at >= t and not s.sent and ngpp.is_data_type(s.frame.type_code) for s in p.line.log))
            first = next((s for s in p.line.log if s.at >= t and not s.sent and ngpp.is_data_type(s.frame.type_code)), None)
        if first is None or first.frame.seq != 1:
            self.report("§6.2 step 5 (1.1): after the pad's HELLO_REPLY while up (data exchanged) the host must start again with fresh sequence state (seq 1)",
                        [s for s in p.line.log if s.at >= t - 0.6 and s.frame.type_code not in (HEARTBEAT, ACK)][:8])
        if pid:
            self.finish(pid)

    def scenarios(self) -> list[Scenario]:
        return [
            Scenario("host-start-link-up", "§6.2", self.start_daemon),
            Scenario("host-link-up-one-hello-heartbeat", "§6.2 §6.6", self.s_link_up),
            Scenario("host-hello-reply-while-up", "§6.2", self.s_hello_reply_while_up),
            Scenario("host-unknown-and-wrong-way-types", "§4 §5.12", self.s_unknown_types),
            Scenario("host-payment-phone-number", "§5", self.s_payment_phone),
            Scenario("host-back-to-back-payments", "§5.3 §7.6", self.s_back_to_back),
            Scenario("host-wrong-sms-code-notice", "§5.4", self.s_wrong_sms_code),
            Scenario("host-pad-reboot-mid-prompt", "§7.3 §7.6", self.s_reboot_mid_prompt),
            Scenario("host-entry-timeout", "§5.4", self.s_entry_timeout),
            Scenario("host-reduced-prompt-table", "§5.2", self.s_reduced_table),
            Scenario("host-version-0-pad", "§6.2", self.s_version_zero),
            Scenario("host-silence-mid-prompt", "§6.6 §7.3", self.s_silence),
            Scenario("host-daemon-restart-token", "§5.4 §7.1", self.s_daemon_restart),
        ]


def cmd_conform_host(args: list[str]) -> int:
    opts = parse_conform_args("conform-host", args)
    if isinstance(opts, int):
        return opts
    ng, only, keep = opts.ngbridge, opts.only, opts.keep
    KNOWN.update(opts.known)
    ng = os.path.realpath(ng)
    work = tempfile.mkdtemp(prefix="ngpp-conform-host-")
    print("conform-host: a strict pad against ngbridge run (Netgíró simulator, payment.entry-timeout=10)", flush=True)
    c = HostConformance(ng, work)
    rc = 2
    try:
        c.start_netgiro()

        def before(sc: Scenario) -> None:
            c.current = sc
        scs = c.scenarios()
        if only:
            only.add("host-start-link-up")
        rc = run_scenarios(scs, only, before)
    except RuntimeError as e:
        print(f"conform-host: could not start: {e}", file=sys.stderr)
        for log in ("daemon.log", "netgiro.log"):
            pth = os.path.join(work, log)
            if os.path.exists(pth):
                print(f"--- {log}\n" + open(pth, errors="replace").read()[-1500:], file=sys.stderr)
    finally:
        c.stop()
        if keep:
            print(f"conform-host: logs kept in {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    return rc
