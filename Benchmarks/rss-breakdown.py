#!/usr/bin/env python3
"""Where a running process's resident memory is: by mapping kind, and for its own executable by
ELF section (ICU's data apart). Reads /proc/PID/smaps and, for the sections, /proc/PID/pagemap
(needs root to see which pages are present).

    Benchmarks/rss-breakdown.py PID

Mapping kinds: the executable (by section), shared libraries, the heap ([heap] and anonymous
mappings of glibc's malloc arenas, 64 MiB-aligned reservations), thread stacks ([stack] and the
anonymous mappings with a guard page below), other anonymous memory.
"""
import os
import re
import struct
import subprocess
import sys

PAGE = os.sysconf("SC_PAGE_SIZE")


def smaps(pid):
    entries = []
    current = None
    with open(f"/proc/{pid}/smaps") as f:
        for line in f:
            m = re.match(r"^([0-9a-f]+)-([0-9a-f]+) (\S+) (\S+) \S+ (\d+)\s*(.*)$", line)
            if m:
                current = {
                    "start": int(m.group(1), 16), "end": int(m.group(2), 16), "perms": m.group(3),
                    "offset": int(m.group(4), 16), "inode": int(m.group(5)), "path": m.group(6).strip(),
                }
                entries.append(current)
            elif current is not None:
                k, _, v = line.partition(":")
                if v.strip().endswith("kB"):
                    current[k] = int(v.split()[0])
    return entries


def classify(entries, exe):
    kinds = {}
    for i, e in enumerate(entries):
        rss = e.get("Rss", 0)
        path = e["path"]
        before = entries[i - 1] if i > 0 else None
        after = entries[i + 1] if i + 1 < len(entries) else None
        if path == exe:
            kind = "executable"
        elif path.startswith("/") and ".so" in path:
            kind = "shared libraries"
        elif path == "[heap]":
            kind = "heap (main arena)"
        elif path == "[stack]":
            kind = "thread stacks"
        elif path.startswith("["):
            kind = path
        elif path == "" and "rw" in e["perms"]:
            if after is not None and after["start"] == e["end"] and after["perms"].startswith("---") and after["path"] == "" \
                    and after["end"] - after["start"] > 1024 * 1024:
                # glibc reserves 64 MiB per thread arena and makes the used part read-write
                kind = "malloc arenas (threads)"
            elif before is not None and before["end"] == e["start"] and before["perms"].startswith("---") and before["path"] == "":
                kind = "thread stacks"  # a guard page below
            else:
                kind = "other anonymous"
        elif path == "":
            kind = "other anonymous"
        else:
            kind = "other files"
        kinds[kind] = kinds.get(kind, 0) + rss
    return kinds


def present_pages(pid, start, end):
    """Addresses of the present pages in [start, end)."""
    out = []
    with open(f"/proc/{pid}/pagemap", "rb") as f:
        f.seek(start // PAGE * 8)
        data = f.read((end - start) // PAGE * 8)
    for i in range(len(data) // 8):
        (word,) = struct.unpack_from("<Q", data, i * 8)
        if word >> 63 & 1:
            out.append(start + i * PAGE)
    return out


def sections(exe):
    text = subprocess.run(["readelf", "-SW", exe], capture_output=True, text=True, check=True).stdout
    out = []
    for m in re.finditer(r"\]\s+(\S+)\s+\S+\s+([0-9a-f]+)\s+([0-9a-f]+)\s+([0-9a-f]+)", text):
        name, addr, size = m.group(1), int(m.group(2), 16), int(m.group(4), 16)
        if addr and size:
            out.append((name, addr, addr + size))
    return out


def icu_data(exe):
    text = subprocess.run(["nm", "-S", exe], capture_output=True, text=True).stdout
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 4 and re.match(r"^icudt\d+_dat$", parts[3]):
            return int(parts[0], 16), int(parts[0], 16) + int(parts[1], 16)
    return None


def main():
    pid = int(sys.argv[1])
    exe = os.readlink(f"/proc/{pid}/exe")
    entries = smaps(pid)
    total = sum(e.get("Rss", 0) for e in entries)
    print(f"PID {pid} ({exe}): Rss {total / 1024:.1f} MB")
    for kind, kb in sorted(classify(entries, exe).items(), key=lambda kv: -kv[1]):
        print(f"  {kind:28s} {kb / 1024:7.1f} MB")

    own = [e for e in entries if e["path"] == exe]
    if not own:
        return
    base = min(e["start"] - e["offset"] for e in own)  # load bias of a PIE (0 if not PIE)
    with open(exe, "rb") as f:
        f.seek(16)
        (etype,) = struct.unpack("<H", f.read(2))
    bias = base if etype == 3 else 0
    pages = []
    for e in own:
        pages += present_pages(pid, e["start"], e["end"])
    if not pages:
        print("  (no pagemap access: run as root for the per-section figures)")
        return
    secs = sections(exe)
    icu = icu_data(exe)
    counts = {}
    for p in pages:
        v = p - bias
        name = "(headers/other)"
        if icu and icu[0] <= v < icu[1]:
            name = "ICU data (icudt*_dat)"
        else:
            for s, a, b in secs:
                if a <= v < b:
                    name = s
                    break
        counts[name] = counts.get(name, 0) + 1
    print(f"  executable's resident pages by section ({len(pages) * PAGE / 1048576:.1f} MB):")
    for name, n in sorted(counts.items(), key=lambda kv: -kv[1]):
        print(f"    {name:26s} {n * PAGE / 1048576:7.2f} MB")
    anon = sum(e.get("Anonymous", 0) for e in own)
    print(f"    of the executable's pages, written to (private copies): {anon / 1024:.2f} MB")


if __name__ == "__main__":
    main()
