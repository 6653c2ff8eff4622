#!/usr/bin/env python3
"""ngpp.py — reference codec for the Netgíró PIN-pad link protocol, version 1.

Written from ``protocol/PROTOCOL.md`` alone (plus ``protocol/vectors/README.md`` for the
vector file format), independently of the Swift implementation, so that the two can check
each other. Python 3.11, standard library only, one file. Section numbers (§) refer to
PROTOCOL.md throughout; read the two side by side.

Commands:

    python3 protocol/tools/ngpp.py selftest
    python3 protocol/tools/ngpp.py vectors protocol/vectors     # write frames.json, decoder.json
    python3 protocol/tools/ngpp.py check   protocol/vectors     # re-derive and compare
    python3 protocol/tools/ngpp.py decode  HEX...               # decode bytes from a line capture
    python3 protocol/tools/ngpp.py decode --body HEX            # decode one unstuffed frame body

Layering, bottom up:

    crc32c()                    §3.4
    cobs_encode/cobs_decode()   §3.2
    build_body/parse_body()     §3.1, §3.3 checks b–f
    StreamDecoder               §3.3 (blocks, delimiters, oversized, timeout), §3.5 results
    encode_payload/decode_payload, MESSAGES     §4, §5, §6.2
    encode_frame()              everything above, for one message

The codec is *structural*: it refuses what cannot be encoded (a u8 above 255, a str8 above its
maximum, a payload above 246 bytes) and rejects payloads whose known fields are cut short
("malformed payload", §4). Whether a value is meaningful (token 0, align 7, a timeout of 3 s) is
the application's business; ``check_values()`` lists such points as warnings so the ``decode``
command can show them.
"""

from __future__ import annotations

import json
import os
import random
import sys
from dataclasses import dataclass, field
from typing import Any, Callable

# ---------------------------------------------------------------------------------------------
# Constants (§3.1, §3.3)
# ---------------------------------------------------------------------------------------------

FRAME_VERSION = 0x01        # §3.1 offset 0
HEADER_SIZE = 6             # version, type, flags, seq, u16 length
CRC_SIZE = 4
MIN_BODY = HEADER_SIZE + CRC_SIZE          # 10: a body with an empty payload (§3.3 b)
MAX_PAYLOAD = 246                          # §3.1
MAX_BODY = HEADER_SIZE + MAX_PAYLOAD + CRC_SIZE   # 256
MAX_BLOCK = 258                            # §3.3 rule 2: longest block the receiver decodes
FLAG_RETRANSMISSION = 0x01                 # §3.1 flags bit 0

# Decoder result names (§3.5), spelled as in vectors/README.md.
OVERSIZED = "oversized"
INVALID_STUFFING = "invalid_stuffing"
TOO_SHORT = "too_short"
LENGTH_MISMATCH = "length_mismatch"
BAD_CRC = "bad_crc"
UNSUPPORTED_VERSION = "unsupported_version"
INTERBYTE_TIMEOUT = "interbyte_timeout"    # time-based; never appears in decoder.json


# ---------------------------------------------------------------------------------------------
# §3.4 CRC-32C (Castagnoli): reflected polynomial 0x82F63B78, init and final XOR 0xFFFFFFFF
# ---------------------------------------------------------------------------------------------

def crc32c_bitwise(data: bytes) -> int:
    """The bit-at-a-time reference of §3.4, literally. Slow; used to check the table."""
    crc = 0xFFFFFFFF
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 if crc & 1 else 0)
    return crc ^ 0xFFFFFFFF


def _make_crc_table() -> list[int]:
    table = []
    for n in range(256):
        crc = n
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 if crc & 1 else 0)
        table.append(crc)
    return table


_CRC_TABLE = _make_crc_table()


def crc32c(data: bytes) -> int:
    """CRC-32C, table-driven (one table lookup per byte). crc32c(b"123456789") == 0xE3069283."""
    crc = 0xFFFFFFFF
    for b in data:
        crc = (crc >> 8) ^ _CRC_TABLE[(crc ^ b) & 0xFF]
    return crc ^ 0xFFFFFFFF


# ---------------------------------------------------------------------------------------------
# §3.2 COBS
# ---------------------------------------------------------------------------------------------

def cobs_encode(body: bytes) -> bytes:
    """COBS-encode ``body``; the result contains no 0x00 byte.

    Split at every 0x00 into runs (the zeros are removed; one zero is imagined after the last
    byte, and dropped again by the decoder). While a run has 254 or more bytes left, emit a
    piece of exactly 254 bytes with code 0xFF ("254 bytes, no zero after"); then emit the rest
    (possibly empty) with code len+1 ("len bytes, then a zero"). A run of exactly 254 bytes
    therefore yields ``FF <254 bytes> 01`` — the §3.2 example ``254 × 01 → FF + 254 × 01 + 01``.
    """
    out = bytearray()
    for run in body.split(b"\x00"):
        while len(run) >= 254:
            out.append(0xFF)
            out += run[:254]
            run = run[254:]
        out.append(len(run) + 1)
        out += run
    return bytes(out)


class CobsError(ValueError):
    """The block is not valid COBS (§3.3 a: *invalid stuffing*)."""


def cobs_decode(block: bytes) -> bytes:
    """Decode one COBS block (the bytes between two delimiters), exactly as §3.2 says:
    read a code byte c (0x00 is invalid), copy the next c−1 bytes (none 0x00, all present),
    then, if c ≠ 0xFF and more bytes remain, append 0x00; repeat until the block is used up."""
    out = bytearray()
    i = 0
    while i < len(block):
        code = block[i]
        if code == 0x00:
            raise CobsError(f"code byte 0x00 at offset {i}")
        data = block[i + 1:i + code]
        if len(data) != code - 1:
            raise CobsError(f"code byte 0x{code:02x} at offset {i} runs past the end of the block")
        if 0x00 in data:
            raise CobsError(f"0x00 inside the piece at offset {i}")
        out += data
        i += code
        if code != 0xFF and i < len(block):
            out.append(0x00)
    return bytes(out)


# ---------------------------------------------------------------------------------------------
# §3.1 Frame body, §3.3 checks
# ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Frame:
    """A valid frame (§3.3 rule 4). ``payload`` is still raw bytes; see decode_payload()."""
    type_code: int
    flags: int
    seq: int
    payload: bytes
    version: int = FRAME_VERSION

    def as_vector(self) -> dict:
        """The ``{"frame": …}`` object of decoder.json."""
        return {"type_code": self.type_code, "flags": self.flags, "seq": self.seq,
                "payload": self.payload.hex()}


class FrameError(ValueError):
    """A damaged frame (§3.3 rule 4). ``name`` is one of the §3.5 result names."""

    def __init__(self, name: str, detail: str = ""):
        super().__init__(f"{name}: {detail}" if detail else name)
        self.name = name
        self.detail = detail


def build_body(type_code: int, seq: int, payload: bytes, flags: int = 0,
               version: int = FRAME_VERSION, length: int | None = None) -> bytes:
    """Header + payload + CRC-32C (§3.1).

    ``version`` and ``length`` can be overridden only to build deliberately damaged frames for
    the decoder vectors; a conforming sender never does so. Note the payload limit: a
    conforming sender also never sends more than 246 bytes (or the peer's announced maximum).
    """
    for name, value in (("version", version), ("type", type_code), ("flags", flags), ("seq", seq)):
        if not 0 <= value <= 0xFF:
            raise ValueError(f"{name} {value} is not a u8")
    if length is None:
        length = len(payload)
    if not 0 <= length <= 0xFFFF:
        raise ValueError(f"length {length} is not a u16")
    head = bytes([version, type_code, flags, seq]) + length.to_bytes(2, "little")
    crc = crc32c(head + payload)
    return head + payload + crc.to_bytes(4, "little")


def parse_body(body: bytes) -> Frame:
    """Checks b–f of §3.3, in the spec's order (check a, the COBS decoding, is parse_block's).
    Returns the Frame or raises FrameError with the §3.5 name of the first failing check."""
    # b. at least 10 bytes: a header and a CRC
    if len(body) < MIN_BODY:
        raise FrameError(TOO_SHORT, f"body has {len(body)} bytes, at least {MIN_BODY} needed")
    # c. the length field equals body size − 10 (checked before the CRC: catches truncation)
    length = int.from_bytes(body[4:6], "little")
    if length != len(body) - MIN_BODY:
        raise FrameError(LENGTH_MISMATCH,
                         f"length field {length}, but the body carries {len(body) - MIN_BODY} "
                         f"payload bytes")
    # d. CRC-32C over bytes 0 … 5+n, stored little-endian in the last 4 bytes
    expected = crc32c(body[:-CRC_SIZE])
    received = int.from_bytes(body[-CRC_SIZE:], "little")
    if expected != received:
        raise FrameError(BAD_CRC, f"CRC is 0x{received:08x}, computed 0x{expected:08x}")
    # e. frame-format version (only after the CRC: a damaged version byte is a bad CRC)
    if body[0] != FRAME_VERSION:
        raise FrameError(UNSUPPORTED_VERSION, f"version byte 0x{body[0]:02x}")
    # f. payload limit. Given check c, only length 247 (a 257-byte body, which needs a
    #    258-byte block) can get here; anything longer was already cut off by rule 2.
    if length > MAX_PAYLOAD:
        raise FrameError(OVERSIZED, f"length field {length} > {MAX_PAYLOAD}")
    return Frame(type_code=body[1], flags=body[2], seq=body[3],
                 payload=bytes(body[HEADER_SIZE:-CRC_SIZE]), version=body[0])


def parse_block(block: bytes) -> Frame:
    """One non-empty block (bytes between delimiters, at most 258 of them): §3.3 rule 3."""
    try:
        body = cobs_decode(block)                                   # a.
    except CobsError as e:
        raise FrameError(INVALID_STUFFING, str(e)) from None
    return parse_body(body)                                         # b.–f.


def encode_line(body: bytes) -> bytes:
    """What goes on the wire for one frame: 0x00, COBS(body), 0x00 (§3.2)."""
    return b"\x00" + cobs_encode(body) + b"\x00"


# ---------------------------------------------------------------------------------------------
# §3.3 Streaming receiver
# ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Damaged:
    """A damaged frame as a decoder result; ``name`` is a §3.5 result name."""
    name: str
    detail: str = ""


Result = Frame | Damaged


def result_as_vector(r: Result) -> dict:
    """The form used in decoder.json ``expect``."""
    return {"frame": r.as_vector()} if isinstance(r, Frame) else {"error": r.name}


class StreamDecoder:
    """Feed it whatever each read returned; it hands back frames and damaged-frame results.

    Memory is bounded: the block never holds more than MAX_BLOCK (258) bytes. When a 259th
    byte arrives without a delimiter, *oversized* is reported at once and the decoder then
    discards everything up to and including the next 0x00 (§3.3 rule 2), reporting nothing more
    for that block. (Reporting at the 259th byte rather than at the delimiter is this
    implementation's choice; both give the same sequence of results once the delimiter comes.)
    """

    def __init__(self) -> None:
        self._block = bytearray()
        self._discarding = False

    def feed(self, data: bytes) -> list[Result]:
        results: list[Result] = []
        for b in data:
            if b == 0x00:                                   # delimiter: the block is complete
                if self._discarding:                        # end of an oversized block
                    self._discarding = False
                elif self._block:                           # rule 3 (rule 1: empty → nothing)
                    try:
                        results.append(parse_block(bytes(self._block)))
                    except FrameError as e:
                        results.append(Damaged(e.name, e.detail))
                    self._block.clear()
            elif self._discarding:
                pass                                        # rule 2: skip to the next 0x00
            elif len(self._block) == MAX_BLOCK:             # this would be byte 259
                results.append(Damaged(OVERSIZED, f"more than {MAX_BLOCK} bytes without a delimiter"))
                self._block.clear()
                self._discarding = True
            else:
                self._block.append(b)
        return results

    def inter_byte_timeout(self) -> list[Result]:
        """Call when T_ib (100 ms) passed with no byte while a block was started (rule 5)."""
        if self._discarding:                                # already reported as oversized
            self._discarding = False
            return []
        if self._block:
            self._block.clear()
            return [Damaged(INTERBYTE_TIMEOUT, "partial block dropped")]
        return []

    @property
    def pending(self) -> int:
        """Bytes of the unfinished block (for diagnostics)."""
        return len(self._block)


def decode_stream(chunks: list[bytes]) -> list[Result]:
    dec = StreamDecoder()
    out: list[Result] = []
    for c in chunks:
        out += dec.feed(c)
    return out


# ---------------------------------------------------------------------------------------------
# §4, §5, §6.2 Payloads
# ---------------------------------------------------------------------------------------------
# Every payload is a sequence of fields, described below in the same order and with the same
# names as the tables of PROTOCOL.md. Kinds: u8, u16, u32 (little-endian), str8 (u8 byte count
# + UTF-8), list (u8 count + repeated fields; the count is not a dict key, it is len(list)),
# rest (PING: all remaining bytes, hex in the dict).

class MalformedPayload(ValueError):
    """The known fields of a payload are cut short (§4: answer with ERROR_REPORT code 2)."""


@dataclass(frozen=True)
class F:
    """One payload field. ``max_len``: str8 byte limit or list item limit.
    ``rule``/``ok``: the value rule of the spec, checked only by check_values()."""
    name: str
    kind: str
    max_len: int | None = None
    items: tuple["F", ...] = ()
    rule: str = ""
    ok: Callable[[Any], bool] | None = None


def _in(*values: int) -> Callable[[Any], bool]:
    return lambda v: v in values


def _between(lo: int, hi: int) -> Callable[[Any], bool]:
    return lambda v: lo <= v <= hi


@dataclass(frozen=True)
class Message:
    code: int
    name: str
    direction: str
    fields: tuple[F, ...]
    section: str

    @property
    def kind(self) -> str:
        """§4 ranges: how the frame travels."""
        if self.code <= 0x1F:
            return "link control"
        if 0x20 <= self.code <= 0x3F:
            return "host → pad data"
        if 0x40 <= self.code <= 0x5F:
            return "pad → host data"
        if 0x60 <= self.code <= 0x6F:
            return "data, either direction"
        return "reserved data range"


def type_kind(code: int) -> str:
    return Message(code, "", "", (), "").kind


def is_data_type(code: int) -> bool:
    """Sequenced and acknowledged (§4): 0x20–0xFF (0x70–0xFF reserved for later versions)."""
    return code >= 0x20


_TOKEN = F("token", "u16", rule="never 0", ok=lambda v: v != 0)

MESSAGES: dict[int, Message] = {m.code: m for m in [
    # --- link control (§6) ---
    Message(0x01, "ACK", "both", (), "6.3"),
    Message(0x02, "NAK", "both", (), "6.5"),
    Message(0x03, "HEARTBEAT", "both", (), "6.6"),
    Message(0x04, "HELLO", "host → pad", (                                     # HostHello
        F("min_version", "u8", rule="≥ 1", ok=lambda v: v >= 1),
        F("max_version", "u8", rule="≥ 1", ok=lambda v: v >= 1),
        F("max_payload", "u16", rule="≤ 246", ok=_between(0, 246)),
        F("host_name", "str8", 32),
    ), "6.2"),
    Message(0x05, "HELLO_REPLY", "pad → host", (                               # DeviceInfo
        F("version", "u8"),
        F("max_payload", "u16", rule="64–246", ok=_between(64, 246)),
        F("rows", "u8", rule="≥ 1", ok=lambda v: v >= 1),
        F("columns", "u8", rule="≥ 1", ok=lambda v: v >= 1),
        F("charset", "u8", rule="1", ok=_in(1)),
        F("keys", "u16"),
        F("model", "str8", 255),
        F("firmware", "str8", 255),
        F("serial", "str8", 255),
        F("prompts", "list", 255, items=(                                     # prompt_count
            F("id", "u8"),
            F("min_digits", "u8"),
            F("max_digits", "u8"),
            F("echo", "u8", rule="0 clear, 1 masked, 2 hidden", ok=_in(0, 1, 2)),
            F("default_timeout", "u16"),
        )),
    ), "6.2"),
    Message(0x06, "ANNOUNCE", "pad → host", (
        F("reason", "u8", rule="0 power on, 1 watchdog reset, 2 link lost, 3 not linked",
          ok=_in(0, 1, 2, 3)),
    ), "6.2"),
    # --- host → pad data (§5) ---
    Message(0x20, "SHOW_SCREEN", "host → pad", (
        F("lines", "list", 8, items=(                                          # count
            F("align", "u8", rule="0 left, 1 centre, 2 right", ok=_in(0, 1, 2)),
            F("text", "str8", 255),
        )),
    ), "5.3"),
    Message(0x21, "PROMPT", "host → pad", (
        _TOKEN,
        F("prompt", "u8", rule="prompt id 1–3 (§5.2)", ok=_in(1, 2, 3)),
        F("timeout", "u16", rule="0 or 5–600", ok=lambda v: v == 0 or 5 <= v <= 600),
        F("amount", "u32"),
        F("notice", "u8", rule="0 none, 1 wrong code, 2 not a valid number", ok=_in(0, 1, 2)),
    ), "5.4"),
    Message(0x22, "CANCEL_PROMPT", "host → pad", (_TOKEN,), "5.5"),
    Message(0x23, "INDICATE", "host → pad", (
        F("beep", "u8", rule="0–4", ok=_in(0, 1, 2, 3, 4)),
        F("light", "u8", rule="0–3 or 0xFF", ok=_in(0, 1, 2, 3, 0xFF)),
    ), "5.6"),
    Message(0x24, "RESET", "host → pad", (), "5.7"),
    Message(0x25, "STATUS_REQUEST", "host → pad", (), "5.8"),
    # --- pad → host data (§5) ---
    Message(0x40, "KEY_EVENT", "pad → host", (
        _TOKEN,
        F("key", "u8", rule="0 digit, 1 Clear, 2 OK, 3 Cancel, 4 refused", ok=_in(0, 1, 2, 3, 4)),
        F("length", "u8"),
    ), "5.9"),
    Message(0x41, "ENTRY_RESULT", "pad → host", (
        _TOKEN,
        F("prompt", "u8"),
        F("outcome", "u8", rule="0–5", ok=_in(0, 1, 2, 3, 4, 5)),
        F("digits", "str8", 255, rule="ASCII 0–9 only",
          ok=lambda v: all("0" <= c <= "9" for c in v)),
    ), "5.10"),
    Message(0x42, "STATUS", "pad → host", (
        F("state", "u8", rule="0–3", ok=_in(0, 1, 2, 3)),
        F("active_token", "u16"),
        F("uptime", "u32"),
        F("faults", "u16", rule="bits 0–2", ok=lambda v: v & ~0x0007 == 0),
    ), "5.8"),
    Message(0x43, "BUSY", "pad → host", (
        _TOKEN,
        F("seconds_remaining", "u16"),
    ), "5.11"),
    Message(0x61, "ERROR_REPORT", "both", (
        F("code", "u8", rule="1–6", ok=_in(1, 2, 3, 4, 5, 6)),
        F("ref_type", "u8"),
        F("ref_seq", "u8"),
        F("text", "str8", 64),
    ), "5.12"),
    # --- either direction ---
    Message(0x60, "PING", "both", (F("data", "rest", MAX_PAYLOAD),), "5.13"),
]}

MESSAGE_BY_NAME = {m.name: m for m in MESSAGES.values()}

_INT_SIZES = {"u8": 1, "u16": 2, "u32": 4}


def _encode_fields(specs: tuple[F, ...], values: dict, out: bytearray, where: str) -> None:
    unknown = set(values) - {f.name for f in specs}
    if unknown:
        raise ValueError(f"{where}: unknown field(s) {sorted(unknown)}")
    for f in specs:
        if f.name not in values:
            raise ValueError(f"{where}: missing field {f.name!r}")
        v = values[f.name]
        if f.kind in _INT_SIZES:
            size = _INT_SIZES[f.kind]
            if not isinstance(v, int) or not 0 <= v < 1 << (8 * size):
                raise ValueError(f"{where}.{f.name}: {v!r} is not a {f.kind}")
            out += v.to_bytes(size, "little")
        elif f.kind == "str8":
            raw = v.encode("utf-8")
            if len(raw) > f.max_len:
                raise ValueError(f"{where}.{f.name}: {len(raw)} bytes of UTF-8, at most {f.max_len}")
            out.append(len(raw))
            out += raw
        elif f.kind == "list":
            if len(v) > f.max_len:
                raise ValueError(f"{where}.{f.name}: {len(v)} entries, at most {f.max_len}")
            out.append(len(v))
            for i, item in enumerate(v):
                _encode_fields(f.items, item, out, f"{where}.{f.name}[{i}]")
        elif f.kind == "rest":
            out += bytes.fromhex(v)
        else:
            raise AssertionError(f.kind)


def encode_payload(type_code: int, fields: dict) -> bytes:
    """Payload bytes for a message given as a dict with the spec's field names."""
    msg = MESSAGES.get(type_code)
    if msg is None:
        raise ValueError(f"unknown message type 0x{type_code:02x}")
    out = bytearray()
    _encode_fields(msg.fields, fields, out, msg.name)
    if len(out) > MAX_PAYLOAD:
        raise ValueError(f"{msg.name}: payload of {len(out)} bytes exceeds {MAX_PAYLOAD}")
    return bytes(out)


class _Reader:
    def __init__(self, data: bytes, where: str):
        self.data, self.pos, self.where = data, 0, where

    def take(self, n: int, what: str) -> bytes:
        if self.pos + n > len(self.data):
            raise MalformedPayload(f"{self.where}: {what} needs {n} byte(s) at offset {self.pos}, "
                                   f"payload has {len(self.data)}")
        chunk = self.data[self.pos:self.pos + n]
        self.pos += n
        return chunk


def _decode_fields(specs: tuple[F, ...], r: _Reader) -> dict:
    values: dict = {}
    for f in specs:
        if f.kind in _INT_SIZES:
            values[f.name] = int.from_bytes(r.take(_INT_SIZES[f.kind], f.name), "little")
        elif f.kind == "str8":
            n = r.take(1, f.name + " length")[0]
            # §2: invalid UTF-8 never makes a message malformed; it is displayed as '?'.
            # Here it becomes U+FFFD. (A byte count above the field's maximum is accepted too:
            # the limit binds the sender.)
            values[f.name] = r.take(n, f.name).decode("utf-8", errors="replace")
        elif f.kind == "list":
            n = r.take(1, f.name + " count")[0]
            values[f.name] = [_decode_fields(f.items, r) for _ in range(n)]
        elif f.kind == "rest":
            values[f.name] = r.data[r.pos:].hex()
            r.pos = len(r.data)
        else:
            raise AssertionError(f.kind)
    return values


def decode_payload_counted(type_code: int, payload: bytes) -> tuple[dict, int]:
    """(fields, bytes used by the known fields); see decode_payload()."""
    msg = MESSAGES[type_code]
    reader = _Reader(payload, msg.name)
    return _decode_fields(msg.fields, reader), reader.pos


def decode_payload(type_code: int, payload: bytes) -> dict:
    """Payload → dict. Raises KeyError for an unknown type, MalformedPayload when the known
    fields are cut short. Bytes after the known fields are ignored (§4 extension rule)."""
    return decode_payload_counted(type_code, payload)[0]


def check_values(type_code: int, fields: dict) -> list[str]:
    """Spec value rules a decoded message breaks (warnings, not codec errors)."""
    msg = MESSAGES[type_code]
    notes: list[str] = []

    def walk(specs: tuple[F, ...], values: dict, where: str) -> None:
        for f in specs:
            v = values[f.name]
            if f.kind == "list":
                for i, item in enumerate(v):
                    walk(f.items, item, f"{where}.{f.name}[{i}]")
                if len(v) > f.max_len:
                    notes.append(f"{where}.{f.name}: {len(v)} entries, spec allows {f.max_len}")
                continue
            if f.ok is not None and not f.ok(v):
                notes.append(f"{where}.{f.name} = {v!r}: spec says {f.rule}")
            if f.kind == "str8" and len(v.encode()) > f.max_len:
                notes.append(f"{where}.{f.name}: {len(v.encode())} bytes, spec allows {f.max_len}")
            if f.kind == "str8" and "\ufffd" in v:
                notes.append(f"{where}.{f.name}: invalid UTF-8 (shown as '?' by the pad)")

    walk(msg.fields, fields, msg.name)
    if msg.name == "HELLO" and fields["max_version"] < fields["min_version"]:
        notes.append("HELLO: max_version < min_version")
    if msg.name == "ENTRY_RESULT" and fields["outcome"] != 0 and fields["digits"]:
        notes.append("ENTRY_RESULT: digits must be empty unless outcome = 0 (entered)")
    return notes


def encode_frame(type_code: int, seq: int, fields: dict, flags: int = 0) -> tuple[bytes, bytes, bytes]:
    """(payload, body, line) for one message."""
    payload = encode_payload(type_code, fields)
    body = build_body(type_code, seq, payload, flags)
    return payload, body, encode_line(body)


# ---------------------------------------------------------------------------------------------
# Test vectors: frames.json
# ---------------------------------------------------------------------------------------------

# The prompt table of §5.2 as HELLO_REPLY rows. CONFIRM_AMOUNT's echo is "none" in the table;
# of the three echo codes (0 clear, 1 masked, 2 hidden) "2 hidden (nothing shown)" is taken.
PROMPT_TABLE = [
    {"id": 0x01, "min_digits": 7, "max_digits": 10, "echo": 0, "default_timeout": 60},
    {"id": 0x02, "min_digits": 4, "max_digits": 6, "echo": 1, "default_timeout": 120},
    {"id": 0x03, "min_digits": 0, "max_digits": 0, "echo": 2, "default_timeout": 60},
]

_DEVICE_INFO = {
    "version": 1, "max_payload": 246, "rows": 4, "columns": 20, "charset": 1, "keys": 0x1FFF,
    "model": "NG-PAD-1", "firmware": "1.0.0", "serial": "NGP-000123", "prompts": PROMPT_TABLE,
}


def frame_vector_specs() -> list[tuple[str, str, int, int, dict]]:
    """(name, type, flags, seq, fields) for every vector in frames.json, in file order."""
    v: list[tuple[str, str, int, int, dict]] = []

    def add(name: str, type_name: str, seq: int, fields: dict, flags: int = 0) -> None:
        v.append((name, type_name, flags, seq, fields))

    # Link control (§6). seq is 0 except in ACK/NAK, where it is the number acknowledged/expected.
    add("ack_seq_1", "ACK", 1, {})
    add("ack_seq_255", "ACK", 255, {})
    add("nak_expecting_seq_2", "NAK", 2, {})
    add("heartbeat", "HEARTBEAT", 0, {})
    add("hello_till_1_worked_example", "HELLO", 0,
        {"min_version": 1, "max_version": 1, "max_payload": 246, "host_name": "till-1"})
    add("hello_versions_1_to_3_max_payload_128", "HELLO", 0,
        {"min_version": 1, "max_version": 3, "max_payload": 128, "host_name": "Kassi 2 Smáralind"})
    add("hello_reply_ng_pad_1_prompt_table", "HELLO_REPLY", 0, dict(_DEVICE_INFO))
    add("hello_reply_version_0_none_in_common", "HELLO_REPLY", 0, dict(_DEVICE_INFO, version=0))
    add("hello_reply_no_prompt_rows_max_payload_64", "HELLO_REPLY", 0,
        dict(_DEVICE_INFO, max_payload=64, rows=2, columns=16, keys=0x1BFF, prompts=[]))
    for reason, what in enumerate(["power_on", "watchdog_reset", "link_lost", "not_linked"]):
        add(f"announce_{what}", "ANNOUNCE", 0, {"reason": reason})

    # SHOW_SCREEN (§5.3)
    add("show_screen_idle_0_lines", "SHOW_SCREEN", 1, {"lines": []})
    add("show_screen_icelandic_greeting", "SHOW_SCREEN", 1,
        {"lines": [{"align": 1, "text": "Góðan daginn"}]})
    add("show_screen_icelandic_amount", "SHOW_SCREEN", 2,
        {"lines": [{"align": 1, "text": "Netgíró"}, {"align": 2, "text": "Þú greiðir 4.990 kr."}]})
    add("show_screen_all_icelandic_letters", "SHOW_SCREEN", 3,
        {"lines": [{"align": 0, "text": "þ ð æ ö á é í ó ú ý"},
                   {"align": 0, "text": "Þ Ð Æ Ö Á É Í Ó Ú Ý"}]})
    add("show_screen_4_lines_left_centre_right", "SHOW_SCREEN", 4,
        {"lines": [{"align": 1, "text": "Netgíró"},
                   {"align": 0, "text": "Þú greiðir 4.990 kr."},
                   {"align": 2, "text": "Staðfestu með OK"},
                   {"align": 0, "text": ""}]})
    add("show_screen_8_lines_maximum_count", "SHOW_SCREEN", 5,
        {"lines": [{"align": i % 3, "text": f"Lína {i + 1}"} for i in range(8)]})

    # PROMPT (§5.4): every prompt id; amount, notice and timeout values
    add("prompt_customer_id_default_timeout", "PROMPT", 6,
        {"token": 1, "prompt": 1, "timeout": 0, "amount": 4990, "notice": 0})
    add("prompt_customer_id_not_a_valid_number", "PROMPT", 7,
        {"token": 2, "prompt": 1, "timeout": 90, "amount": 4990, "notice": 2})
    add("prompt_sms_code_wrong_code_try_again", "PROMPT", 8,
        {"token": 3, "prompt": 2, "timeout": 120, "amount": 4990, "notice": 1})
    add("prompt_sms_code_no_amount_max_timeout", "PROMPT", 9,
        {"token": 4, "prompt": 2, "timeout": 600, "amount": 0, "notice": 0})
    add("prompt_confirm_amount_large", "PROMPT", 10,
        {"token": 65535, "prompt": 3, "timeout": 5, "amount": 1_234_567, "notice": 0})

    add("cancel_prompt", "CANCEL_PROMPT", 11, {"token": 3})
    add("indicate_success_green", "INDICATE", 12, {"beep": 4, "light": 1})
    add("indicate_error_red", "INDICATE", 13, {"beep": 3, "light": 2})
    add("indicate_no_beep_light_unchanged", "INDICATE", 14, {"beep": 0, "light": 0xFF})
    add("reset", "RESET", 15, {})
    add("status_request", "STATUS_REQUEST", 16, {})

    # KEY_EVENT (§5.9): each key kind
    for key, what, length in [(0, "digit", 3), (1, "clear", 2), (2, "ok", 10),
                              (3, "cancel", 0), (4, "refused", 10)]:
        add(f"key_event_{what}", "KEY_EVENT", 1 + key, {"token": 1, "key": key, "length": length})

    # ENTRY_RESULT (§5.10): every outcome; digits only for `entered`
    add("entry_result_entered_10_digit_kennitala", "ENTRY_RESULT", 6,
        {"token": 1, "prompt": 1, "outcome": 0, "digits": "1203894569"})
    add("entry_result_entered_7_digit_phone", "ENTRY_RESULT", 7,
        {"token": 2, "prompt": 1, "outcome": 0, "digits": "6151234"})
    add("entry_result_entered_4_digit_sms_code", "ENTRY_RESULT", 8,
        {"token": 3, "prompt": 2, "outcome": 0, "digits": "0420"})
    add("entry_result_entered_6_digit_sms_code", "ENTRY_RESULT", 9,
        {"token": 4, "prompt": 2, "outcome": 0, "digits": "907150"})
    add("entry_result_confirm_amount_ok", "ENTRY_RESULT", 10,
        {"token": 5, "prompt": 3, "outcome": 0, "digits": ""})
    for outcome, what in [(1, "cancelled_by_customer"), (2, "timed_out"), (3, "cancelled_by_host"),
                          (4, "refused"), (5, "aborted")]:
        add(f"entry_result_{what}", "ENTRY_RESULT", 10 + outcome,
            {"token": 5 + outcome, "prompt": 1, "outcome": outcome, "digits": ""})

    add("status_idle", "STATUS", 20,
        {"state": 0, "active_token": 0, "uptime": 86_400, "faults": 0})
    add("status_prompting_keypad_fault", "STATUS", 21,
        {"state": 2, "active_token": 7, "uptime": 0x01020304, "faults": 0x0002})
    add("busy", "BUSY", 22, {"token": 7, "seconds_remaining": 55})
    add("error_report_unknown_message_type", "ERROR_REPORT", 23,
        {"code": 1, "ref_type": 0x3F, "ref_seq": 9, "text": "unknown type 0x3f"})
    add("error_report_internal_no_reference", "ERROR_REPORT", 24,
        {"code": 6, "ref_type": 0, "ref_seq": 0, "text": ""})

    # PING (§5.13) and link-layer header details
    add("ping_empty", "PING", 1, {"data": ""})
    add("ping_246_nonzero_bytes", "PING", 2,
        {"data": bytes((i % 255) + 1 for i in range(246)).hex()})
    add("ping_many_zero_bytes", "PING", 3,
        {"data": bytes([0, 0, 0, 0x11, 0, 0x22, 0x33, 0, 0, 0x44] + [0] * 22).hex()})
    add("ping_246_zero_bytes", "PING", 4, {"data": bytes(246).hex()})
    add("ping_seq_255", "PING", 255, {"data": "ff"})
    add("entry_result_retransmission_flag", "ENTRY_RESULT", 42,
        {"token": 1, "prompt": 1, "outcome": 0, "digits": "1203894569"}, flags=FLAG_RETRANSMISSION)
    return v


def make_frame_vectors() -> list[dict]:
    vectors = []
    for name, type_name, flags, seq, fields in frame_vector_specs():
        code = MESSAGE_BY_NAME[type_name].code
        payload, body, line = encode_frame(code, seq, fields, flags)
        vectors.append({"name": name, "type": type_name, "type_code": code, "flags": flags,
                        "seq": seq, "fields": fields, "payload": payload.hex(),
                        "body": body.hex(), "line": line.hex()})
    return vectors


# ---------------------------------------------------------------------------------------------
# Test vectors: decoder.json
# ---------------------------------------------------------------------------------------------
# Each case states its expected results *by hand*, from §3.3; generating the file runs the
# StreamDecoder on the chunks and refuses to write a case whose results differ.

def _frame(type_name: str, seq: int, fields: dict, flags: int = 0) -> tuple[bytes, bytes, dict]:
    """(body, line, expected {"frame": …}) for a good frame."""
    code = MESSAGE_BY_NAME[type_name].code
    payload, body, line = encode_frame(code, seq, fields, flags)
    return body, line, {"frame": {"type_code": code, "flags": flags, "seq": seq,
                                  "payload": payload.hex()}}


def _err(name: str) -> dict:
    return {"error": name}


def _cobs_pieces(block: bytes) -> list[bytes]:
    """Split a valid COBS block into its pieces (code byte + data)."""
    pieces, i = [], 0
    while i < len(block):
        pieces.append(block[i:i + block[i]])
        i += block[i]
    return pieces


def decoder_cases() -> list[dict]:
    cases: list[dict] = []

    def case(name: str, description: str, chunks: list[bytes], expect: list[dict]) -> None:
        cases.append({"name": name, "description": description,
                      "chunks": [c.hex() for c in chunks], "expect": expect})

    ping_body, ping, ping_ok = _frame("PING", 1, {"data": "cafe"})
    _, ack, ack_ok = _frame("ACK", 1, {})
    _, key, key_ok = _frame("KEY_EVENT", 2, {"token": 1, "key": 0, "length": 1})
    entry_body, entry, entry_ok = _frame("ENTRY_RESULT", 3,
                                         {"token": 1, "prompt": 1, "outcome": 0, "digits": "6151234"})

    case("good_frame", "One PING frame with its leading and trailing delimiter, in one read.",
         [ping], [ping_ok])
    case("two_frames_in_one_read",
         "ACK and PING back to back in a single read (each with both delimiters, so there is an "
         "empty block between them, which is ignored).",
         [ack + ping], [ack_ok, ping_ok])
    case("two_frames_sharing_one_delimiter",
         "00 A 00 B 00: the trailing delimiter of the first frame is the leading one of the "
         "second.", [ack + ping[1:]], [ack_ok, ping_ok])
    case("frame_split_byte_by_byte",
         "An ENTRY_RESULT delivered one byte per read; the decoder reassembles it.",
         [bytes([b]) for b in entry], [entry_ok])
    case("frame_split_across_reads_mid_block",
         "A frame cut into three reads at arbitrary points, followed by another frame whose first "
         "bytes arrive in the same read as the end of the first.",
         [entry[:5], entry[5:17], entry[17:] + ping[:4], ping[4:]], [entry_ok, ping_ok])
    case("garbage_before_frame",
         "Non-zero noise 12 34 on an idle line, then a frame. The frame's leading delimiter ends "
         "the noise block, which is not empty and so is decoded and rejected (code 0x12 runs "
         "past the end: invalid stuffing); the frame itself decodes intact.",
         [bytes.fromhex("1234"), ping], [_err(INVALID_STUFFING), ping_ok])
    case("garbage_that_decodes_too_short_before_frame",
         "Noise 02 34 happens to be valid COBS (body = 34) and is reported as too short; the "
         "following frame is unaffected.",
         [bytes.fromhex("0234"), key], [_err(TOO_SHORT), key_ok])
    case("noise_with_zero_bytes_before_frame",
         "Noise 13 37 00 42 00 99 before a frame. Each 0x00 in the noise ends a block: three "
         "noise blocks (13 37, 42, 99), each with a code byte running past its end, then the "
         "frame. A noise block never swallows the frame.",
         [bytes.fromhex("1337004200"), bytes.fromhex("99") + key],
         [_err(INVALID_STUFFING), _err(INVALID_STUFFING), _err(INVALID_STUFFING), key_ok])
    case("delimiters_only",
         "Twenty consecutive 0x00 bytes: every block is empty and ignored; nothing is reported.",
         [bytes(20)], [])
    case("many_delimiters_between_frames",
         "A frame, 15 extra delimiters, another frame: the empty blocks produce nothing.",
         [ack + bytes(15) + ping], [ack_ok, ping_ok])

    # A single flipped bit in the payload (on the line, not turning into 0x00), then resync.
    flipped = bytearray(entry_body)
    flipped[HEADER_SIZE + 5] ^= 0x01        # token(2) prompt outcome count, then '6' → '7'
    assert flipped[HEADER_SIZE + 5] == ord("7")
    bad_line = encode_line(bytes(flipped))
    assert sum(bin(a ^ b).count("1") for a, b in zip(bad_line, entry)) == 1
    case("flipped_payload_bit_then_good_frame",
         "An ENTRY_RESULT with one payload bit flipped on the line (digit '6' became '7'): "
         "COBS and the length still agree, the CRC does not (bad CRC). The retransmitted frame "
         "right after it decodes normally.",
         [bad_line + entry], [_err(BAD_CRC), entry_ok])

    # Truncation: whole COBS pieces lost from the middle, so the stuffing is still valid.
    _, zl, zl_ok = _frame("PING", 5, {"data": "1100220033004400550066007700"})
    pieces = _cobs_pieces(zl[1:-1])
    # body 01 60 00 05 0e 00 11 00 22 00 33 00 44 00 55 …: pieces "03 01 60", "03 05 0e",
    # "02 11", "02 22", "02 33", "02 44", "02 55", … — drop "02 44" and "02 55" (4 line bytes)
    assert pieces[5] == b"\x02\x44" and pieces[6] == b"\x02\x55"
    truncated = b"\x00" + b"".join(pieces[:5] + pieces[7:]) + b"\x00"
    case("truncated_frame_length_mismatch",
         "A PING whose payload has many zeros loses 4 bytes from the middle of the line — two "
         "complete COBS pieces — so the stuffing still decodes, to a body 4 bytes short. §3.3 "
         "checks the length (c) before the CRC (d): the result is length mismatch, not bad CRC. "
         "The next frame decodes.",
         [truncated, zl], [_err(LENGTH_MISMATCH), zl_ok])

    # Length field wrong, CRC right over the whole body.
    body = build_body(0x60, 6, bytes.fromhex("0102030405"), length=4)
    case("length_mismatch_with_good_crc",
         "PING body with 5 payload bytes but length field 4; the CRC is correct over all bytes "
         "before it. Length is checked before the CRC: length mismatch.",
         [encode_line(body)], [_err(LENGTH_MISMATCH)])
    # CRC right at the position the length field declares, extra bytes after it.
    declared = build_body(0x60, 7, bytes.fromhex("0102030405"))
    case("length_mismatch_trailing_bytes_after_good_crc",
         "A correct PING body (length 5, CRC correct at offset 11) followed by 3 extra bytes "
         "inside the same block. A parser that trusted the length field would accept it; §3.3 "
         "c requires length = body size − 10: length mismatch.",
         [encode_line(declared + bytes.fromhex("aabbcc"))], [_err(LENGTH_MISMATCH)])

    case("too_short_body_of_9_bytes",
         "A block that decodes to a 9-byte body (one byte short of header + CRC): too short.",
         [encode_line(bytes.fromhex("016000010000aabbcc"))], [_err(TOO_SHORT)])
    case("too_short_empty_body",
         "The block 01 decodes to an empty body: too short (not ignored: only an empty block is "
         "ignored, and this block has one byte).",
         [bytes.fromhex("000100")], [_err(TOO_SHORT)])
    case("invalid_stuffing_code_past_end",
         "Block 05 11 22: the code byte announces 4 data bytes, only 2 follow.",
         [bytes.fromhex("0005112200")], [_err(INVALID_STUFFING)])
    case("invalid_stuffing_last_code_past_end",
         "A good PING whose final code byte was changed to point one byte past the block's end; "
         "the next frame decodes.",
         [_corrupt_last_code(ping), key], [_err(INVALID_STUFFING), key_ok])

    v2 = build_body(0x60, 1, bytes.fromhex("cafe"), version=2)
    case("unsupported_version_2_good_crc",
         "A PING body with version byte 0x02 and a CRC that is correct for it: unsupported "
         "version (checked after the CRC).",
         [encode_line(v2)], [_err(UNSUPPORTED_VERSION)])
    v2bad = bytearray(v2)
    v2bad[-1] ^= 0x80
    case("version_2_bad_crc_is_bad_crc",
         "Version 0x02 and a wrong CRC: the CRC is checked first, so bad CRC.",
         [encode_line(bytes(v2bad))], [_err(BAD_CRC)])

    # Length 247: the only way to reach check f (a 257-byte body in a 258-byte block).
    big = build_body(0x60, 1, bytes(247))
    big_line = encode_line(big)
    assert len(big) == 257 and len(big_line) == MAX_BLOCK + 2
    case("length_247_in_258_byte_block_oversized",
         "A 257-byte body (PING, length 247, 247 zero bytes, correct CRC, version 1) stuffs to "
         "exactly 258 bytes, the largest block the receiver decodes. Checks a–e pass; f fails: "
         "oversized. Length 248 or more cannot be consistent within 258 bytes. The next frame "
         "decodes.",
         [big_line, ping], [_err(OVERSIZED), ping_ok])
    big_v2 = build_body(0x60, 1, bytes(247), version=2)
    case("length_247_version_2_unsupported_version",
         "As length_247_in_258_byte_block_oversized but with version 0x02: the version (e) is "
         "checked before the length limit (f).",
         [encode_line(big_v2)], [_err(UNSUPPORTED_VERSION)])
    case("block_of_258_ones_length_mismatch",
         "258 bytes of 0x01 (not oversized: at most 258 is allowed) decode to a 257-byte body of "
         "zeros whose length field is 0: length mismatch.",
         [b"\x00" + b"\x01" * 258 + b"\x00"], [_err(LENGTH_MISMATCH)])
    case("block_of_259_bytes_oversized_then_frame",
         "259 non-zero bytes then a delimiter: oversized (reported once; everything up to the "
         "delimiter is discarded), then the next frame decodes.",
         [b"\x00" + b"\x01" * 259 + b"\x00", ping], [_err(OVERSIZED), ping_ok])
    case("long_noise_oversized_then_frame",
         "600 bytes of non-zero noise spread over three reads, then a good frame in the same "
         "read as the end of the noise: one oversized, then the frame.",
         [bytes((i * 7) % 255 + 1 for i in range(300)),
          bytes((i * 11) % 255 + 1 for i in range(200)),
          bytes((i * 13) % 255 + 1 for i in range(100)) + ping],
         [_err(OVERSIZED), ping_ok])
    case("ff_code_block_decodes",
         "Block FF + 254 × 01 + 01 (the §3.2 example, a 254-byte body without zeros) exercises "
         "the 0xFF code in the decoder: the body's length field reads 0x0101, not 244, so: "
         "length mismatch.",
         [b"\x00\xff" + b"\x01" * 254 + b"\x01\x00"], [_err(LENGTH_MISMATCH)])
    case("largest_valid_frame",
         "PING with 246 non-zero payload bytes: a 256-byte body, a 257-byte block (the 0x00 at "
         "body offset 5 keeps every run below 254 bytes).",
         [_frame("PING", 2, {"data": bytes((i % 255) + 1 for i in range(246)).hex()})[1]],
         [_frame("PING", 2, {"data": bytes((i % 255) + 1 for i in range(246)).hex()})[2]])

    rsv_body = build_body(0x03, 0, b"", flags=0xFE)
    case("reserved_flag_bits_set_still_valid",
         "A HEARTBEAT with flags 0xFE (all reserved bits set): reserved bits are ignored on "
         "receipt, so the frame is valid; the decoder reports the flags as received.",
         [encode_line(rsv_body)],
         [{"frame": {"type_code": 3, "flags": 0xFE, "seq": 0, "payload": ""}}])
    unk = build_body(0x7F, 9, bytes.fromhex("0102"))
    case("unknown_type_still_a_valid_frame",
         "Type 0x7F (unassigned) with a correct CRC is a valid frame at this layer; what to do "
         "with it (ACK + ERROR_REPORT, or ignore) is the link layer's business (§4).",
         [encode_line(unk)], [{"frame": {"type_code": 0x7F, "flags": 0, "seq": 9, "payload": "0102"}}])
    ack_extra = build_body(0x01, 4, bytes.fromhex("99"))
    case("ack_with_unexpected_payload_is_valid",
         "An ACK carrying one payload byte: framing does not know payload sizes, so it is a "
         "valid frame; the extension rule (§4) makes a receiver ignore the extra byte.",
         [encode_line(ack_extra)], [{"frame": {"type_code": 1, "flags": 0, "seq": 4, "payload": "99"}}])
    case("frame_without_leading_delimiter_at_start",
         "The very first read starts directly with COBS(body) (the leading 0x00 was lost, or the "
         "receiver opened the line just after it): the block still decodes.",
         [ping[1:]], [ping_ok])
    case("incomplete_frame_reports_nothing",
         "A frame without its trailing delimiter: the decoder waits (only the inter-byte timeout, "
         "not covered here, would drop it).",
         [ping[:-1]], [])
    return cases


def _corrupt_last_code(line: bytes) -> bytes:
    """Make the last COBS code byte of ``line`` point one byte past the end of its block."""
    block = line[1:-1]
    pieces = _cobs_pieces(block)
    last = pieces[-1]
    bad = bytes([last[0] + 1]) + last[1:]
    return b"\x00" + b"".join(pieces[:-1]) + bad + b"\x00"


def make_decoder_vectors() -> list[dict]:
    cases = decoder_cases()
    names = [c["name"] for c in cases]
    assert len(names) == len(set(names)), "duplicate decoder case names"
    for c in cases:
        got = [result_as_vector(r) for r in decode_stream([bytes.fromhex(x) for x in c["chunks"]])]
        if got != c["expect"]:
            raise AssertionError(f"decoder case {c['name']}: expected {c['expect']}, got {got}")
    return cases


def render_json(obj: Any) -> bytes:
    """Deterministic: fixed key order (insertion order), 2-space indent, UTF-8, final newline."""
    return (json.dumps(obj, indent=2, ensure_ascii=False) + "\n").encode("utf-8")


def frames_document() -> dict:
    return {"protocol_version": 1, "frames": make_frame_vectors()}


def decoder_document() -> dict:
    return {"cases": make_decoder_vectors()}


# ---------------------------------------------------------------------------------------------
# exchanges.json: the pad's answers and timers, as revision 1.1 of PROTOCOL.md states them
# ---------------------------------------------------------------------------------------------
#
# A small reference model of the rules that decide what a pad answers (§4, §5.4, §5.5, §5.7,
# §5.8, §5.11, §6.2, §6.3). It is written from the spec's words, not from any implementation, and
# produces the expected side of each exchange vector; `check` re-derives every vector with it.

V1_PROMPT_TABLE = {1: (7, 10, 0, 60), 2: (4, 6, 1, 120), 3: (0, 0, 2, 60)}   # §5.2


def error_code_for(type_code: int, payload: bytes) -> int | None:
    """The ERROR_REPORT code a *pad* answers a valid data frame with, or None (§4, 1.1)."""
    if type_code not in MESSAGES or not is_data_type(type_code):
        return 1                                         # undefined in 0x20–0x6F, or 0x70–0xFF
    if 0x40 <= type_code <= 0x5F:
        return 3                                         # a pad → host type reaching a pad
    try:
        fields = decode_payload(type_code, payload)
    except MalformedPayload:
        return 2
    if any(w for w in check_values(type_code, fields) if _is_enum_violation(type_code, w)):
        return 2
    return None


def _is_enum_violation(type_code: int, warning: str) -> bool:
    """check_values() warnings that §4 calls malformed (an undefined enumerated value); PROMPT's
    token, prompt and timeout are not among them (§4: the pad refuses those with ENTRY_RESULT)."""
    enum_fields = ("align", "beep", "light", "notice", "key", "outcome", "state", "echo", "reason")
    return any(f".{name} " in warning or f"{name} =" in warning for name in enum_fields)


def pad_answers(type_code: int, seq: int, payload: bytes, open_token: int = 0) -> list[tuple[int, dict]]:
    """The data messages a linked pad sends in answer to one new data frame from the host, in
    order (after its ACK, which is not listed). ``open_token``: the prompt open before, 0 if none.
    Covers the rules that need no clock and no customer."""
    code = error_code_for(type_code, payload)
    if code is not None:
        out = [(0x61, {"code": code, "ref_type": type_code, "ref_seq": seq, "text": ""})]
        if type_code == 0x21 and code == 2 and len(payload) >= 3:                 # §5.4, 1.1
            token = int.from_bytes(payload[0:2], "little")
            if token != 0:
                out.append((0x41, {"token": token, "prompt": payload[2], "outcome": 4, "digits": ""}))
        return out
    fields = decode_payload(type_code, payload)
    out: list[tuple[int, dict]] = []
    if type_code == 0x21:                                                        # PROMPT §5.4
        if open_token:
            out.append((0x41, {"token": open_token, "prompt": 0, "outcome": 3, "digits": ""}))
        t = fields["timeout"]
        if fields["prompt"] not in V1_PROMPT_TABLE or fields["token"] == 0 or not (t == 0 or 5 <= t <= 600):
            out.append((0x41, {"token": fields["token"], "prompt": fields["prompt"], "outcome": 4, "digits": ""}))
    elif type_code == 0x22:                                                      # CANCEL_PROMPT §5.5
        if open_token and fields["token"] == open_token:
            out.append((0x41, {"token": open_token, "prompt": 0, "outcome": 3, "digits": ""}))
    elif type_code == 0x24 and open_token:                                       # RESET §5.7
        out.append((0x41, {"token": open_token, "prompt": 0, "outcome": 3, "digits": ""}))
    return out


def busy_schedule(timeout_s: int, keys_at_ms: list[int] = ()) -> list[tuple[int, dict]]:
    """(time in ms after the PROMPT, BUSY or ENTRY_RESULT fields) for a prompt of ``timeout_s``
    seconds with keys pressed at ``keys_at_ms`` (§5.2, §5.11 in 1.1: the first BUSY T_busy after the
    PROMPT, each key restarts both the interval and the timeout, seconds_remaining rounded up)."""
    T_BUSY_MS = 5000
    events: list[tuple[int, dict]] = []
    last_key = 0
    keys = sorted(keys_at_ms)
    busy_due = T_BUSY_MS
    deadline = timeout_s * 1000
    t = 0
    while True:
        next_key = next((k for k in keys if k > t), None)
        nxt = min(x for x in (busy_due, deadline, next_key) if x is not None)
        t = nxt
        if t == deadline and (next_key is None or next_key > t):
            events.append((t, {"outcome": 2}))
            return events
        if next_key == t:
            last_key = t
            busy_due = t + T_BUSY_MS
            deadline = t + timeout_s * 1000
            continue
        remaining_ms = deadline - t
        events.append((t, {"seconds_remaining": -(-remaining_ms // 1000)}))
        busy_due = t + T_BUSY_MS


def _line_of(type_code: int, seq: int, payload: bytes, flags: int = 0) -> str:
    return encode_line(build_body(type_code, seq, payload, flags)).hex()


def exchange_specs() -> list[dict]:
    """The exchanges: what the host sends to a linked, idle pad (or one with a prompt open)."""
    P = lambda token, prompt=1, timeout=0, amount=0, notice=0: encode_payload(0x21, {     # noqa: E731
        "token": token, "prompt": prompt, "timeout": timeout, "amount": amount, "notice": notice})
    return [
        dict(name="unknown_type_0x26", rule="§4", description="An undefined type in 0x20–0x6F: code 1, ref_type and ref_seq of the frame.",
             type_code=0x26, seq=1, payload=b"\x01"),
        dict(name="unknown_type_0x44", rule="§4", description="An undefined pad → host value reaching a pad is still unknown: code 1.",
             type_code=0x44, seq=3, payload=b""),
        dict(name="reserved_type_0x7f", rule="§4", description="A type in 0x70–0xFF: code 1.",
             type_code=0x7F, seq=2, payload=b""),
        dict(name="key_event_to_pad", rule="§4", description="A defined pad → host type sent to a pad: code 3 (not allowed now), ref_seq = its seq (never 0).",
             type_code=0x40, seq=5, payload=encode_payload(0x40, {"token": 5, "key": 0, "length": 1})),
        dict(name="entry_result_to_pad", rule="§4", description="ENTRY_RESULT sent to a pad: code 3.",
             type_code=0x41, seq=9, payload=encode_payload(0x41, {"token": 5, "prompt": 1, "outcome": 1, "digits": ""})),
        dict(name="malformed_indicate", rule="§4", description="INDICATE with beep 9: code 2.",
             type_code=0x23, seq=4, payload=b"\x09\x00"),
        dict(name="malformed_prompt_identifiable", rule="§5.4", description="A PROMPT cut after token and prompt: ERROR_REPORT code 2, then ENTRY_RESULT refused echoing token 0x1234 and prompt 2.",
             type_code=0x21, seq=6, payload=b"\x34\x12\x02\x00"),
        dict(name="malformed_prompt_bad_notice", rule="§5.4", description="A PROMPT with notice 7: ERROR_REPORT code 2, then ENTRY_RESULT refused.",
             type_code=0x21, seq=7, payload=P(40001, 1, 0, 100)[:-1] + b"\x07"),
        dict(name="malformed_prompt_token_zero", rule="§5.4", description="A malformed PROMPT with token 0: the ERROR_REPORT only.",
             type_code=0x21, seq=8, payload=b"\x00\x00\x01"),
        dict(name="malformed_prompt_too_short_to_identify", rule="§5.4", description="A PROMPT of 2 bytes: the ERROR_REPORT only.",
             type_code=0x21, seq=10, payload=b"\x07\x00"),
        dict(name="prompt_unknown_id", rule="§5.4", description="Prompt id 9 (not in the table): ENTRY_RESULT refused at once.",
             type_code=0x21, seq=11, payload=P(40002, 9)),
        dict(name="prompt_token_zero", rule="§5.4", description="Token 0: ENTRY_RESULT refused, echoing token 0.",
             type_code=0x21, seq=12, payload=P(0, 1)),
        dict(name="prompt_timeout_out_of_range", rule="§5.4", description="Timeout 3 s: ENTRY_RESULT refused.",
             type_code=0x21, seq=13, payload=P(40003, 1, 3)),
        dict(name="prompt_any_token", rule="§5.4", description="Token 60000 (tokens need not start at 1): the prompt opens, nothing but the ACK.",
             type_code=0x21, seq=14, payload=P(60000, 2, 0, 4990, 1)),
        dict(name="prompt_replaces_open_prompt", rule="§5.4", description="A PROMPT while prompt 60000 is open ends it with cancelled by host first.",
             type_code=0x21, seq=15, payload=P(60001, 1), open_token=60000, open_prompt=2),
        dict(name="cancel_open_prompt", rule="§5.5", description="CANCEL_PROMPT for the open prompt: cancelled by host.",
             type_code=0x22, seq=16, payload=encode_payload(0x22, {"token": 60001}), open_token=60001, open_prompt=1),
        dict(name="cancel_prompt_not_open", rule="§5.5, §7.1", description="CANCEL_PROMPT for a token not open: only the ACK.",
             type_code=0x22, seq=17, payload=encode_payload(0x22, {"token": 59999})),
        dict(name="reset_with_open_prompt", rule="§5.7", description="RESET while a prompt is open: cancelled by host.",
             type_code=0x24, seq=18, payload=b"", open_token=60002, open_prompt=3),
    ]


def make_exchange_vectors() -> list[dict]:
    out = []
    for spec in exchange_specs():
        answers = pad_answers(spec["type_code"], spec["seq"], spec["payload"], spec.get("open_token", 0))
        frames = [{"type_code": 0x01, "seq": spec["seq"], "fields": {}, "line": _line_of(0x01, spec["seq"], b"")}]
        for i, (t, fields) in enumerate(answers, start=1):
            if t == 0x41 and fields["prompt"] == 0 and spec.get("open_token"):
                fields = dict(fields, prompt=spec["open_prompt"])
            frames.append({"type_code": t, "seq": i, "fields": fields, "line": _line_of(t, i, encode_payload(t, fields))})
        v = {"name": spec["name"], "rule": spec["rule"], "description": spec["description"],
             "open_prompt": ({"token": spec["open_token"], "prompt": spec["open_prompt"]} if spec.get("open_token") else None),
             "host_sends": {"type_code": spec["type_code"], "seq": spec["seq"], "payload": spec["payload"].hex(),
                            "line": _line_of(spec["type_code"], spec["seq"], spec["payload"])},
             "pad_sends": frames}
        out.append(v)
    return out


def make_timer_vectors() -> list[dict]:
    out = []
    for name, timeout, keys, desc in (
            ("busy_no_keys_12s", 12, [], "No key: BUSY at 5 s (7 left) and 10 s (2 left), timed out at 12 s."),
            ("busy_rounds_up_7s", 7, [], "Timeout 7 s: one BUSY at 5 s with 2 s left; timed out at 7 s."),
            ("busy_restarted_by_keys", 20, [3000, 6500], "Keys at 3 s and 6.5 s restart the interval and the timeout: BUSY at 11.5 s (15 left), 16.5 s (10 left), 21.5 s (5 left), timed out at 26.5 s."),
            ("busy_none_before_5s", 5, [], "Timeout 5 s: the prompt times out when the first BUSY would be due; no BUSY.")):
        events = []
        for at, fields in busy_schedule(timeout, keys):
            events.append({"at_ms": at, "type": "ENTRY_RESULT" if "outcome" in fields else "BUSY", "fields": fields})
        out.append({"name": name, "rule": "§5.2, §5.11", "description": desc,
                     "prompt_timeout": timeout, "keys_at_ms": keys, "pad_sends": events})
    return out


def exchanges_document() -> dict:
    return {"revision": "1.1", "exchanges": make_exchange_vectors(), "timers": make_timer_vectors()}


def check_exchange_vector(v: dict) -> list[str]:
    problems = []
    hs = v["host_sends"]
    payload = bytes.fromhex(hs["payload"])
    if hs["line"] != _line_of(hs["type_code"], hs["seq"], payload):
        problems.append("host_sends.line does not encode type_code/seq/payload")
    open_prompt = v.get("open_prompt") or {}
    answers = pad_answers(hs["type_code"], hs["seq"], payload, open_prompt.get("token", 0))
    expected = [(0x01, hs["seq"], {})] + [
        (t, i, dict(f, prompt=open_prompt["prompt"]) if t == 0x41 and f["prompt"] == 0 and open_prompt else f)
        for i, (t, f) in enumerate(answers, start=1)]
    got = [(f["type_code"], f["seq"], f["fields"]) for f in v["pad_sends"]]
    if got != expected:
        problems.append(f"pad_sends {got} but the rules give {expected}")
    for f in v["pad_sends"]:
        if f["line"] != _line_of(f["type_code"], f["seq"], encode_payload(f["type_code"], f["fields"]) if f["type_code"] in MESSAGES and f["type_code"] != 0x01 else b""):
            problems.append(f"pad_sends line of {f['type_code']:#x} seq {f['seq']} does not encode its fields")
    return problems


def check_timer_vector(v: dict) -> list[str]:
    expect = [(e["at_ms"], e["fields"]) for e in v["pad_sends"]]
    derived = busy_schedule(v["prompt_timeout"], v["keys_at_ms"])
    return [] if expect == derived else [f"pad_sends {expect} but the rules give {derived}"]


# ---------------------------------------------------------------------------------------------
# check: re-derive vectors from a (possibly edited) directory
# ---------------------------------------------------------------------------------------------

def check_frame_vector(v: dict) -> list[str]:
    problems: list[str] = []
    code = v["type_code"]
    msg = MESSAGES.get(code)
    if msg is None:
        return [f"type_code {code} is not a message type of §4"]
    if v.get("type") != msg.name:
        problems.append(f"type {v.get('type')!r} but type_code {code} is {msg.name}")
    # Encoder direction: type_code, flags, seq, fields → payload, body, line.
    try:
        payload, body, line = encode_frame(code, v["seq"], v["fields"], v["flags"])
        for key, mine in (("payload", payload), ("body", body), ("line", line)):
            if v[key] != mine.hex():
                problems.append(f"{key}: vector {v[key]} != derived {mine.hex()}")
    except ValueError as e:
        problems.append(f"cannot encode fields: {e}")
    # Decoder direction: line → exactly one frame with these header fields and fields.
    try:
        results = decode_stream([bytes.fromhex(v["line"])])
    except ValueError as e:
        return problems + [f"line is not hex: {e}"]
    if len(results) != 1 or not isinstance(results[0], Frame):
        problems.append(f"line decodes to {[result_as_vector(r) for r in results]}, not one frame")
        return problems
    f = results[0]
    for key, mine in (("type_code", f.type_code), ("flags", f.flags), ("seq", f.seq),
                      ("payload", f.payload.hex())):
        if v[key] != mine:
            problems.append(f"decoded {key} {mine!r} != vector {v[key]!r}")
    try:
        fields = decode_payload(f.type_code, f.payload)
        if fields != v["fields"]:
            problems.append(f"decoded fields {fields} != vector {v['fields']}")
    except MalformedPayload as e:
        problems.append(f"payload malformed: {e}")
    return problems


def check_decoder_case(c: dict) -> list[str]:
    try:
        got = [result_as_vector(r) for r in decode_stream([bytes.fromhex(x) for x in c["chunks"]])]
    except ValueError as e:
        return [f"chunk is not hex: {e}"]
    if got != c["expect"]:
        return [f"expected {json.dumps(c['expect'])}, decoder gives {json.dumps(got)}"]
    return []


def cmd_check(directory: str) -> int:
    failures = 0
    checked = 0
    for fname, key, checker in (("frames.json", "frames", check_frame_vector),
                                ("decoder.json", "cases", check_decoder_case),
                                ("exchanges.json", "exchanges", check_exchange_vector),
                                ("exchanges.json", "timers", check_timer_vector)):
        path = os.path.join(directory, fname)
        with open(path, "rb") as fh:
            raw = fh.read()
        doc = json.loads(raw)
        items = doc[key]
        names = [i.get("name") for i in items]
        for dup in sorted({n for n in names if names.count(n) > 1}):
            print(f"{fname}: duplicate name {dup!r}")
            failures += 1
        for item in items:
            checked += 1
            for p in checker(item):
                print(f"{fname}: {item.get('name')}: {p}")
                failures += 1
        fresh = render_json({"frames": frames_document, "cases": decoder_document}.get(key, exchanges_document)())
        note = "identical to" if raw == fresh else "differs from"
        print(f"{fname}: {len(items)} vectors checked; file {note} what `vectors` generates")
    print(f"{checked} vectors, {failures} mismatches")
    return 1 if failures else 0


def cmd_vectors(directory: str) -> int:
    os.makedirs(directory, exist_ok=True)
    frames = frames_document()
    decoder = decoder_document()
    for fname, doc in (("frames.json", frames), ("decoder.json", decoder), ("exchanges.json", exchanges_document())):
        with open(os.path.join(directory, fname), "wb") as fh:
            fh.write(render_json(doc))
    types = {v["type"] for v in frames["frames"]}
    print(f"wrote {len(frames['frames'])} frame vectors ({len(types)} of {len(MESSAGES)} message "
          f"types) and {len(decoder['cases'])} decoder cases to {directory}")
    return 0 if types == set(MESSAGE_BY_NAME) else 1


# ---------------------------------------------------------------------------------------------
# decode: a human-readable view of captured bytes
# ---------------------------------------------------------------------------------------------

def _parse_hex(text: str) -> bytes:
    cleaned = "".join(ch for ch in text if ch not in " :,-_\n\t")
    if cleaned.lower().startswith("0x"):
        cleaned = cleaned[2:]
    return bytes.fromhex(cleaned)


def describe_frame(f: Frame) -> str:
    msg = MESSAGES.get(f.type_code)
    name = msg.name if msg else f"unknown type 0x{f.type_code:02x}"
    flags = f"0x{f.flags:02x}" + (" (retransmission)" if f.flags & FLAG_RETRANSMISSION else "")
    head = (f"frame {name} [{type_kind(f.type_code)}] seq={f.seq} flags={flags} "
            f"length={len(f.payload)}")
    if msg is None:
        extra = ("  → valid data frame of an unknown type: ACK it, then ERROR_REPORT code 1"
                 if is_data_type(f.type_code) else "  → unknown link-control type: ignore it")
        return f"{head}\n  payload {f.payload.hex()}\n{extra}"
    try:
        fields, used = decode_payload_counted(f.type_code, f.payload)
    except MalformedPayload as e:
        return f"{head}\n  malformed payload ({e}): ACK it, then ERROR_REPORT code 2"
    lines = [head, "  " + json.dumps(fields, ensure_ascii=False)]
    if used < len(f.payload):
        lines.append(f"  {len(f.payload) - used} byte(s) after the known fields ignored (§4)")
    if is_data_type(f.type_code) and f.seq == 0:
        lines.append("  data frame with seq 0: discarded without ACK (§6.3)")
    lines += [f"  note: {n}" for n in check_values(f.type_code, fields)]
    return "\n".join(lines)


def cmd_decode(args: list[str]) -> int:
    if args and args[0] == "--body":
        status = 0
        for a in args[1:]:
            try:
                print(describe_frame(parse_body(_parse_hex(a))))
            except FrameError as e:
                print(f"rejected: {e.name} ({e.detail})")
                status = 1
        return status
    if not args:
        print("usage: ngpp.py decode HEX... (each argument is one read; include the 00 delimiters)")
        return 2
    dec = StreamDecoder()
    status = 0
    count = 0
    for a in args:
        for r in dec.feed(_parse_hex(a)):
            count += 1
            if isinstance(r, Frame):
                print(describe_frame(r))
            else:
                print(f"rejected: {r.name}" + (f" ({r.detail})" if r.detail else ""))
                status = 1
    if dec.pending:
        print(f"incomplete: {dec.pending} byte(s) without a closing 0x00 delimiter")
    elif count == 0:
        print("nothing: no block between delimiters (a frame is 00 COBS(body) 00)")
    return status


# ---------------------------------------------------------------------------------------------
# selftest
# ---------------------------------------------------------------------------------------------

def cmd_selftest() -> int:
    passed = failed = 0

    def ok(cond: bool, what: str) -> None:
        nonlocal passed, failed
        if cond:
            passed += 1
        else:
            failed += 1
            print(f"FAIL: {what}")

    # §3.4 CRC-32C
    ok(crc32c(b"123456789") == 0xE3069283, "CRC-32C check value 0xE3069283")
    ok(crc32c_bitwise(b"123456789") == 0xE3069283, "bitwise CRC-32C check value")
    ok(crc32c(b"123456789").to_bytes(4, "little") == bytes.fromhex("839206e3"), "CRC byte order")
    rng = random.Random(1)
    for n in (0, 1, 7, 64, 256):
        data = bytes(rng.randrange(256) for _ in range(n))
        ok(crc32c(data) == crc32c_bitwise(data), f"table CRC == bitwise CRC ({n} bytes)")

    # §3.2 COBS examples
    examples = [("01", "0201"), ("00", "0101"), ("11220033", "0311220233"),
                ("01" * 254, "ff" + "01" * 254 + "01")]
    for body, enc in examples:
        ok(cobs_encode(bytes.fromhex(body)).hex() == enc, f"COBS encode {body[:16]}…")
        ok(cobs_decode(bytes.fromhex(enc)).hex() == body, f"COBS decode {enc[:16]}…")
    ok(cobs_decode(b"\xff" + b"\x01" * 254) == b"\x01" * 254, "COBS decode FF piece without trailing 01")
    for bad in ("05112233", "00", "0311"):
        try:
            cobs_decode(bytes.fromhex(bad))
            ok(False, f"COBS rejects {bad}")
        except CobsError:
            ok(True, f"COBS rejects {bad}")
    # COBS round trips, including long runs, all zeros, and the 258-byte bound for 256 bytes.
    worst = 0
    for i in range(400):
        n = rng.choice([0, 1, 2, 253, 254, 255, 256, 508, 509, rng.randrange(300)])
        p_zero = rng.choice([0.0, 0.01, 0.3, 1.0])
        data = bytes(0 if rng.random() < p_zero else rng.randrange(1, 256) for _ in range(n))
        enc = cobs_encode(data)
        if n == 256:
            worst = max(worst, len(enc))
        ok(0 not in enc and cobs_decode(enc) == data, f"COBS round trip #{i} ({n} bytes)")
    ok(worst <= 258, "a 256-byte body encodes to at most 258 bytes")

    # §10 worked example
    hello = encode_payload(0x04, {"min_version": 1, "max_version": 1, "max_payload": 246,
                                  "host_name": "till-1"})
    ok(hello.hex() == "0101f60006" + b"till-1".hex(), "§10 HELLO payload")
    ok(build_body(0x04, 0, hello)[:6].hex() == "010400000b00", "§10 HELLO header")

    # Every message type: vectors round trip through encoder, line and decoder.
    vectors = make_frame_vectors()
    ok({v["type"] for v in vectors} == set(MESSAGE_BY_NAME), "a vector for each of the 18 types")
    ok(len(MESSAGES) == 18, "18 message types in §4")
    for v in vectors:
        ok(not check_frame_vector(v), f"frame vector {v['name']} round trip")
        ok(not check_values(v["type_code"], v["fields"]), f"frame vector {v['name']} values in range")
    # Extension rule and malformed payloads, for every type with fields.
    for code, msg in MESSAGES.items():
        sample = next(v for v in vectors if v["type_code"] == code)
        payload = bytes.fromhex(sample["payload"])
        if msg.fields and msg.fields[0].kind != "rest":
            ok(decode_payload(code, payload + b"\x01\x02") == sample["fields"],
               f"{msg.name}: extra bytes after the known fields are ignored")
            try:
                decode_payload(code, payload[:-1])
                ok(False, f"{msg.name}: cut-short payload is malformed")
            except MalformedPayload:
                ok(True, f"{msg.name}: cut-short payload is malformed")
        elif not msg.fields:
            ok(decode_payload(code, b"\x55") == {}, f"{msg.name}: extra bytes ignored")
    # Encoder refuses what cannot be encoded.
    for code, fields, what in [
        (0x22, {"token": 70000}, "u16 overflow"),
        (0x61, {"code": 1, "ref_type": 0, "ref_seq": 0, "text": "x" * 65}, "ERROR_REPORT text > 64"),
        (0x20, {"lines": [{"align": 0, "text": "a"}] * 9}, "SHOW_SCREEN 9 lines"),
        (0x20, {"lines": [{"align": 0, "text": "x" * 200}] * 2}, "payload > 246"),
        (0x60, {"data": "00" * 247}, "PING of 247 bytes"),
        (0x23, {"beep": 1}, "missing field"),
    ]:
        try:
            encode_payload(code, fields)
            ok(False, f"encoder refuses {what}")
        except ValueError:
            ok(True, f"encoder refuses {what}")
    # Invalid UTF-8 in a str8 is not malformed (§2).
    ok(decode_payload(0x20, bytes.fromhex("0100 02 c328".replace(" ", "")))["lines"][0]["text"]
       == "\ufffd(", "invalid UTF-8 text decodes (as U+FFFD), not malformed")

    # Streaming decoder: every frame vector, fed byte by byte and all at once.
    all_lines = b"".join(bytes.fromhex(v["line"]) for v in vectors)
    whole = decode_stream([all_lines])
    bytewise = decode_stream([bytes([b]) for b in all_lines])
    ok(len(whole) == len(vectors) and all(isinstance(r, Frame) for r in whole),
       "all frame vectors in one read")
    ok(whole == bytewise, "byte-by-byte feeding gives the same results")
    dec = StreamDecoder()
    dec.feed(b"\x00" + b"\x01" * 1000)
    ok(dec.pending == 0, "memory bounded during an oversized block")
    dec2 = StreamDecoder()
    dec2.feed(bytes.fromhex("00020304"))
    ok([r.name for r in dec2.inter_byte_timeout()] == [INTERBYTE_TIMEOUT], "inter-byte timeout")
    ok(dec2.inter_byte_timeout() == [], "timeout on an idle decoder reports nothing")

    # Decoder cases (hand-written expectations vs this decoder).
    try:
        cases = make_decoder_vectors()
        ok(True, "decoder cases agree with their stated expectations")
        ok(len(cases) >= 20, "decoder case count")
    except AssertionError as e:
        ok(False, str(e))
    ok(render_json(frames_document()) == render_json(frames_document()), "deterministic output")

    # Revision 1.1 rules, stated by hand (the exchange vectors are derived by the same model).
    ok(error_code_for(0x26, b"") == 1 and error_code_for(0x44, b"") == 1 and error_code_for(0x7F, b"") == 1,
       "§4: undefined types and 0x70–0xFF are code 1")
    ok(error_code_for(0x40, bytes(4)) == 3 and error_code_for(0x43, bytes(4)) == 3, "§4: pad → host types at a pad are code 3")
    ok(error_code_for(0x23, b"\x09\x00") == 2 and error_code_for(0x23, b"\x01\x01") is None, "§4: malformed INDICATE is code 2")
    ok(pad_answers(0x21, 6, b"\x34\x12\x02") == [
        (0x61, {"code": 2, "ref_type": 0x21, "ref_seq": 6, "text": ""}),
        (0x41, {"token": 0x1234, "prompt": 2, "outcome": 4, "digits": ""})], "§5.4: malformed PROMPT: error, then refused")
    ok(pad_answers(0x21, 6, b"\x00\x00\x02") == [(0x61, {"code": 2, "ref_type": 0x21, "ref_seq": 6, "text": ""})],
       "§5.4: malformed PROMPT with token 0: the error only")
    ok(busy_schedule(12) == [(5000, {"seconds_remaining": 7}), (10000, {"seconds_remaining": 2}), (12000, {"outcome": 2})],
       "§5.11: BUSY at 5 s and 10 s, rounded up")
    ok(busy_schedule(5) == [(5000, {"outcome": 2})], "§5.11: the timeout wins over a BUSY due at the same moment")
    ok(busy_schedule(9, [4500]) == [(9500, {"seconds_remaining": 4}), (13500, {"outcome": 2})], "§5.11: a key restarts both")

    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


# ---------------------------------------------------------------------------------------------

USAGE = """usage:
  ngpp.py selftest
  ngpp.py vectors DIR        write DIR/frames.json and DIR/decoder.json
  ngpp.py check DIR          re-derive every vector in DIR and report mismatches
  ngpp.py decode HEX...      decode line bytes (each argument one read, with 00 delimiters)
  ngpp.py decode --body HEX  decode one unstuffed frame body
  ngpp.py conform-pad [--ngbridge PATH] [--qemu IMAGE] [--only NAME,...]
                             a strict host against `ngbridge sim pinpad` (or the firmware in QEMU)
  ngpp.py conform-host [--ngbridge PATH] [--only NAME,...]
                             a strict pad against `ngbridge run` (see conform.py)"""


def main(argv: list[str]) -> int:
    if len(argv) >= 1 and argv[0] == "selftest":
        return cmd_selftest()
    if len(argv) == 2 and argv[0] == "vectors":
        return cmd_vectors(argv[1])
    if len(argv) == 2 and argv[0] == "check":
        return cmd_check(argv[1])
    if len(argv) >= 1 and argv[0] == "decode":
        return cmd_decode(argv[1:])
    if len(argv) >= 1 and argv[0] in ("conform-pad", "conform-host"):
        sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
        import conform
        return conform.cmd_conform_pad(argv[1:]) if argv[0] == "conform-pad" else conform.cmd_conform_host(argv[1:])
    print(USAGE, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
