#!/usr/bin/env python3
"""Per-payment cost of each function between two callgrind files of the same binary.

    Benchmarks/callgrind-per-payment-functions.py DIR/callgrind.20.out DIR/callgrind.40.out [--self] [--payments 20] [--top 60] \
        | swift demangle --simplified

(I(later) − I(earlier)) / payments per function, inclusive (default) or self cost, from
`callgrind_annotate`; the files come from `KEEP=DIR Benchmarks/callgrind-per-payment.sh BIN 0 20 40`.
Inclusive figures of async functions also count what ran after they resumed (the scheduler
frames `swift_task_switch`, `swift_job_run` … count everything); read them as approximate.
"""
import argparse
import re
import subprocess


def costs(path, inclusive):
    out = subprocess.run(
        ["callgrind_annotate", "--inclusive=" + ("yes" if inclusive else "no"), "--threshold=100", path],
        capture_output=True, text=True, check=True).stdout
    table = {}
    for line in out.splitlines():
        m = re.match(r"\s*([\d,]+)\s+\([^)]*\)\s+(.*)$", line)
        if m:
            name = re.sub(r" \[[^\]]*\]$", "", m.group(2))
            table[name] = table.get(name, 0) + int(m.group(1).replace(",", ""))
    return table


def main():
    p = argparse.ArgumentParser()
    p.add_argument("earlier")
    p.add_argument("later")
    p.add_argument("--self", action="store_true", help="self cost instead of inclusive")
    p.add_argument("--payments", type=float, default=20)
    p.add_argument("--top", type=int, default=60)
    a = p.parse_args()
    before, after = costs(a.earlier, not a.self), costs(a.later, not a.self)
    rows = sorted(((after.get(k, 0) - before.get(k, 0)) / a.payments, k) for k in set(before) | set(after))
    for value, name in reversed(rows[-a.top:]):
        print(f"{value / 1e3:10.1f}k  {name}")


if __name__ == "__main__":
    main()
