#!/usr/bin/env python3
"""ngpp_host.py — a minimal host for the Netgíró PIN-pad link protocol, using pyserial.

The reference peer of the link round-trip benchmark (issue 8): what an integrator would write
in an afternoon from ``protocol/PROTOCOL.md`` with pyserial and blocking reads with a timeout,
so the bridge's figures can be read next to the obvious alternative. Framing, CRC-32C and COBS
come from ``protocol/tools/ngpp.py`` (also written from the spec alone); the host side of the
link layer (§6) is here:

- §1  opens the line 8N1 115200, no flow control, raw, and flushes both directions;
- §6.2 sends HELLO at once and every 250 ms until a HELLO_REPLY with version 1; an ANNOUNCE
       while linking makes it send HELLO at once; a version it cannot use is reported once;
- §6.3 numbers its data frames 1…255, 1…; ACKs every valid data frame from the pad at once,
       drops duplicates; discards data frames with seq 0; ignores data frames while linking;
- §6.4 retransmits after 200 ms or at once on NAK (flag bit 0 set), at most 8 transmissions;
- §6.5 NAKs a damaged frame (at most one per 20 ms), including a block cut by the 100 ms
       inter-byte timeout;
- §6.6 sends HEARTBEAT after 1 s without writing; link down after 2.5 s without a valid frame;
       ANNOUNCE while up means the pad restarted: link down.

Not done, as a benchmark host needs none of it: it does not answer a pad's data message of an
unknown type or with a malformed payload with ERROR_REPORT (§4) — it counts and reports such
messages — and a link loss ends the run instead of linking again.

PING (§5.13) has "no effect beyond the link layer's ACK, which is the answer", so one round trip
is: PING with 16 bytes written → the pad's ACK with the same seq decoded. That is the event the
Swift benchmark times (``PadLink.send(.ping)`` → ``.delivered``), with the same 200 warm-up
round trips.

Usage:

    python3 ngpp_host.py ping PATH [-n 2000] [--peer-pid PID]   # against a pad on PATH
    python3 ngpp_host.py floor [-n 2000] [--pyserial]           # raw pty echo, no protocol

``floor`` is the Python counterpart of the Swift benchmark's floor: 16 bytes written to one side
of a pty pair, echoed by a child process with plain os.read/os.write, read back. With ``--pyserial``
the timed side reads and writes through ``serial.Serial`` instead (the same idiom as ``ping``),
so the cost of pyserial itself shows apart from the protocol's.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "protocol" / "tools"))
import ngpp  # noqa: E402  (framing, CRC-32C, COBS, payloads: §3, §5)

try:
    import serial  # pyserial
except ImportError:
    sys.exit("ngpp_host.py needs pyserial: apt-get install python3-serial, or pip install pyserial")

ACK, NAK, HEARTBEAT, HELLO, HELLO_REPLY, ANNOUNCE, PING = 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x60
T_IB, T_ACK, N_TX, T_NAK, T_HB, T_DEAD, T_HELLO = 0.100, 0.200, 8, 0.020, 1.000, 2.500, 0.250  # §9
WARMUP = 200
READ_TIMEOUT = 0.010   # how late a deadline (T_ack, T_hb, …) may be noticed; no cost while bytes flow


class LinkDown(Exception):
    pass


class Host:
    """The host end of one pad line (§6), driven by blocking reads with a timeout."""

    def __init__(self, path: str, host_name: str = "py-bench"):
        self.ser = serial.Serial(path, 115200, bytesize=8, parity="N", stopbits=1,
                                 xonxoff=False, rtscts=False, timeout=READ_TIMEOUT)
        self.ser.reset_input_buffer()
        self.ser.reset_output_buffer()
        self.decoder = ngpp.StreamDecoder()
        self.frames: list[ngpp.Frame] = []   # decoded, not yet handled
        self.hello = ngpp.build_body(HELLO, 0, ngpp.encode_payload(HELLO, {
            "min_version": 1, "max_version": 1, "max_payload": 246, "host_name": host_name}))
        self.up = False
        self.tx_seq = 0          # last seq sent
        self.last_accepted = 0   # last seq accepted from the pad
        self.last_tx = self.last_rx = self.last_byte = time.monotonic()
        self.last_nak = 0.0
        self.received: list[tuple[int, bytes]] = []   # the pad's data messages (type, payload)
        self.unexpected = 0

    def close(self) -> None:
        self.ser.close()

    # --- writing -------------------------------------------------------------------------

    def _write(self, body: bytes) -> None:
        self.ser.write(ngpp.encode_line(body))
        self.last_tx = time.monotonic()

    def _control(self, type_code: int, seq: int = 0) -> None:
        self._write(ngpp.build_body(type_code, seq, b""))

    # --- reading -------------------------------------------------------------------------

    def _next_frame(self, deadline: float) -> ngpp.Frame | None:
        """The next valid frame the caller must see (ACK, NAK, HELLO_REPLY, ANNOUNCE while
        linking), or None at ``deadline``. Data frames, heartbeats and damaged frames are
        handled here."""
        while True:
            while self.frames:
                f = self._handle(self.frames.pop(0))
                if f is not None:
                    return f
            now = time.monotonic()
            if self.up and now - self.last_rx >= T_DEAD:
                raise LinkDown("silence")
            if self.up and now - self.last_tx >= T_HB:
                self._control(HEARTBEAT)
            if now >= deadline:
                return None
            if self.decoder.pending and now - self.last_byte >= T_IB:
                self._damaged(self.decoder.inter_byte_timeout())
            wake = min(deadline, self.last_tx + T_HB, self.last_rx + T_DEAD) if self.up else deadline
            if self.decoder.pending:
                wake = min(wake, self.last_byte + T_IB)
            # A fixed read timeout, the deadlines checked above: assigning Serial.timeout
            # reconfigures the port (tcsetattr) on every call, a cost no pad needs.
            data = self.ser.read(self.ser.in_waiting or 1) if wake > now else b""
            if not data:
                continue
            self.last_byte = time.monotonic()
            results = self.decoder.feed(data)
            self.frames += [r for r in results if isinstance(r, ngpp.Frame)]
            self._damaged([r for r in results if isinstance(r, ngpp.Damaged)])

    def _damaged(self, results: list) -> None:
        if results and self.up and time.monotonic() - self.last_nak >= T_NAK:   # §6.5
            self._control(NAK, self.last_accepted % 255 + 1)
            self.last_nak = time.monotonic()

    def _handle(self, f: ngpp.Frame) -> ngpp.Frame | None:
        self.last_rx = time.monotonic()
        if f.type_code < 0x20:                                   # link control (§4)
            if f.type_code in (ACK, NAK):
                return f
            if f.type_code == HELLO_REPLY and not self.up:
                return f
            if f.type_code == ANNOUNCE:
                if self.up:
                    raise LinkDown("peer restarted")
                return f
            return None                                          # HEARTBEAT, late HELLO_REPLY, unknown
        if not self.up or f.seq == 0:                            # §6.2 step 5, §6.3
            return None
        self._control(ACK, f.seq)                                # always, before acting on it
        if f.seq != self.last_accepted:
            self.last_accepted = f.seq
            self.received.append((f.type_code, f.payload))
            try:
                ngpp.decode_payload(f.type_code, f.payload)
            except (ngpp.MalformedPayload, KeyError, ValueError):
                self.unexpected += 1
        return None

    # --- link establishment (§6.2) ---------------------------------------------------------

    def connect(self, timeout: float = 10.0) -> dict:
        end = time.monotonic() + timeout
        reported = False
        while time.monotonic() < end:
            self._write(self.hello)
            t = time.monotonic() + T_HELLO
            while (f := self._next_frame(t)) is not None:
                if f.type_code == ANNOUNCE:
                    break                                        # HELLO again at once
                if f.type_code == HELLO_REPLY:
                    info = ngpp.decode_payload(HELLO_REPLY, f.payload)
                    if info["version"] == 1:
                        self.up = True
                        self.tx_seq = self.last_accepted = 0
                        self.last_rx = time.monotonic()
                        return info
                    if not reported:
                        print(f"pad speaks no version in common (offers {info['version']})", file=sys.stderr)
                        reported = True
        raise LinkDown(f"no HELLO_REPLY within {timeout:.0f} s")

    # --- sending a data frame (§6.3, §6.4) -----------------------------------------------

    def send(self, type_code: int, payload: bytes) -> None:
        """Sends one data frame and returns when the pad has acknowledged it."""
        self.tx_seq = self.tx_seq % 255 + 1
        seq = self.tx_seq
        first = ngpp.build_body(type_code, seq, payload)
        for tx in range(N_TX):
            self._write(first if tx == 0 else ngpp.build_body(type_code, seq, payload, flags=ngpp.FLAG_RETRANSMISSION))
            deadline = time.monotonic() + T_ACK
            while (f := self._next_frame(deadline)) is not None:
                if f.type_code == ACK and f.seq == seq:
                    return
                if f.type_code == NAK:
                    break                                        # retransmit at once
        raise LinkDown("no acknowledgement")


# --- figures ---------------------------------------------------------------------------------

def percentile(sorted_ns: list[int], p: float) -> float:
    """Nearest rank, in µs."""
    i = max(0, min(len(sorted_ns) - 1, int(-(-p * len(sorted_ns) // 100)) - 1))
    return sorted_ns[i] / 1000


def cpu_seconds(pid: int) -> float | None:
    """utime + stime of a process, from /proc/PID/stat."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def report(name: str, samples: list[int], wall: float, cpu: float, peer_cpu: float | None) -> None:
    s = sorted(samples)
    n = len(s)
    print(f"{name:<48} median {percentile(s, 50):8.1f} µs   p99 {percentile(s, 99):8.1f} µs")
    extra = f"  {n} round trips in {wall:.2f} s; host CPU {cpu / n * 1e6:.1f} µs/round trip"
    if peer_cpu is not None:
        extra += f"; pad process CPU {peer_cpu / n * 1e6:.1f} µs/round trip"
    print(extra)


def timed(count: int, one_round_trip, peer_pid: int | None = None):
    samples: list[int] = []
    for _ in range(WARMUP):
        one_round_trip()
    peer0 = cpu_seconds(peer_pid) if peer_pid else None
    cpu0, wall0 = time.process_time(), time.perf_counter()
    for _ in range(count):
        t0 = time.perf_counter_ns()
        one_round_trip()
        samples.append(time.perf_counter_ns() - t0)
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    peer = cpu_seconds(peer_pid) - peer0 if peer0 is not None else None
    return samples, wall, cpu, peer


def cmd_ping(args) -> int:
    host = Host(args.path)
    try:
        info = host.connect()
        print(f"linked with {info['model']} {info['firmware']} serial {info['serial']}", file=sys.stderr)
        payload = bytes([0x55]) * 16
        samples, wall, cpu, peer = timed(args.count, lambda: host.send(PING, payload), args.peer_pid)
    except LinkDown as e:
        print(f"link down: {e}", file=sys.stderr)
        return 1
    finally:
        host.close()
    report("link round trip, PING 16 B → ACK, Python/pyserial", samples, wall, cpu, peer)
    if host.received:
        print(f"  (the pad also sent {len(host.received)} data messages, {host.unexpected} not understood)")
    return 0


def cmd_floor(args) -> int:
    import tty
    controller, device = os.openpty()
    tty.setraw(controller)
    tty.setraw(device)

    # The echo runs in a child process, not a thread: in one Python process the two would
    # take turns on the interpreter lock, and that, not the pty, would be measured.
    child = os.fork()
    if child == 0:
        os.close(device)
        while True:
            try:
                data = os.read(controller, 64)
            except OSError:
                os._exit(0)
            if not data:
                os._exit(0)
            os.write(controller, data)
    os.close(controller)
    payload = bytes([0x55]) * 16
    if args.pyserial:
        ser = serial.Serial(os.ttyname(device), 115200, timeout=1.0)

        def rt() -> None:
            ser.write(payload)
            got = 0
            while got < 16:
                got += len(ser.read(ser.in_waiting or 1))
        name = "pty round trip, pyserial read/write, Python"
    else:
        def rt() -> None:
            os.write(device, payload)
            got = 0
            while got < 16:
                got += len(os.read(device, 64))
        name = "pty round trip, raw os.read/os.write, Python"
    try:
        samples, wall, cpu, peer = timed(args.count, rt, child)
    finally:
        os.kill(child, 15)
        os.waitpid(child, 0)
    report(name, samples, wall, cpu, None)
    return 0


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="command", required=True)
    ping = sub.add_parser("ping", help="HELLO, then PING 16 B → ACK, timed")
    ping.add_argument("path", help="the pad's serial device, e.g. /tmp/ngpp-bench-pad")
    ping.add_argument("-n", "--count", type=int, default=2000)
    ping.add_argument("--peer-pid", type=int, help="the pad's process, to report its CPU time")
    floor = sub.add_parser("floor", help="raw pty echo round trips, no protocol")
    floor.add_argument("-n", "--count", type=int, default=2000)
    floor.add_argument("--pyserial", action="store_true", help="time through serial.Serial")
    args = p.parse_args(argv)
    return cmd_ping(args) if args.command == "ping" else cmd_floor(args)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
