#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Times the localbag Python module's `local` against CPython's threading.local in one process,
printing ns per operation, the ratio and whether each target is met.

The local holds 8 attributes ("number" set last), read and written on the main thread after
warm-up. Each timed statement is unrolled 20 times so the timeit loop adds little; the two
implementations' runs are interleaved (A, B, A, B, ...) so drift affects both, and each figure
is the median over the runs, in process CPU time as cpython_local.py measures.

Usage: python_local.py [--module-dir DIR] [--local MODULE.ATTR] [--json OUT] [--repeat N]
                       [--check]

  --module-dir DIR   prepended to sys.path, e.g. the build dir holding localbag.cpython-*.so
  --local M.ATTR     the contender (default localbag.local; _thread._local gives ratios ~1.0)
  --check            exit 1 if a target is not met
"""

import argparse
import importlib
import json
import platform
import statistics
import sys
import threading
import time
import timeit

NAMES8 = ["color", "socket", "widgets", "initialized", "depth", "buffer", "retries", "number"]
VALUES8 = ["red", None, [], True, 3, b"\x00" * 16, 0, 42]  # str, None, list, bool, int, ...
UNROLL = 20
MIN_RUN_S = 0.05  # each timing run lasts at least this long

# (case, object, statement, target ratio contender / threading.local or None)
CASES = [
    ("get", "plain", "o.number", 0.8),
    ("set", "plain", "o.number = 5", 0.8),
    ("missing", "plain", "getattr(o, 'missing', None)", 0.5),
    ("class attr", "subclass", "o.default", None),
]


def load_class(spec):
    module_name, _, attr = spec.rpartition(".")
    if not module_name:
        raise SystemExit(f"--local {spec!r}: expected MODULE.ATTR")
    try:
        return getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as exc:
        raise SystemExit(f"python_local: cannot load {spec} ({exc}); pass --module-dir with the "
                         f"directory holding the built module")


def make_objects(base):
    """The objects the cases run on, for one implementation of `local`."""

    class C(base):
        default = 1

    def filled(obj):
        for name, value in zip(NAMES8, VALUES8):
            setattr(obj, name, value)
        return obj

    return {"plain": filled(base()), "subclass": filled(C())}


def cpu_model():
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def calibrated_number(timer):
    """Loop count for which one run of `timer` takes at least MIN_RUN_S; also warms it up."""
    number = 1
    while True:
        if timer.timeit(number) >= MIN_RUN_S:
            return number
        number *= 2


def time_case(stmt, objects, repeat):
    """Median ns per operation for each implementation, runs interleaved."""
    unrolled = "; ".join([stmt] * UNROLL)
    timers = {label: timeit.Timer(unrolled, globals={"o": obj}, timer=time.process_time)
              for label, obj in objects.items()}
    number = max(calibrated_number(timer) for timer in timers.values())
    runs = {label: [] for label in timers}
    for _ in range(repeat):
        for label, timer in timers.items():
            runs[label].append(timer.timeit(number) / (number * UNROLL) * 1e9)
    return {label: statistics.median(values) for label, values in runs.items()}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--module-dir", action="append", default=[],
                        help="directory prepended to sys.path (repeatable)")
    parser.add_argument("--local", default="localbag.local",
                        help="MODULE.ATTR of the contender (default localbag.local)")
    parser.add_argument("--json", help="also write the figures to this JSON file")
    parser.add_argument("--repeat", type=int, default=15, help="timing runs per figure (median)")
    parser.add_argument("--check", action="store_true", help="exit 1 if a target is not met")
    args = parser.parse_args()

    for directory in reversed(args.module_dir):
        sys.path.insert(0, directory)
    contender = load_class(args.local)
    assert threading.current_thread() is threading.main_thread()

    impls = {"threading.local": threading.local, "localbag": contender}
    objects = {label: make_objects(base) for label, base in impls.items()}
    # Sanity: both implementations answer the same.
    for label, objs in objects.items():
        plain, sub = objs["plain"], objs["subclass"]
        assert plain.number == 42 and sub.default == 1 and sub.number == 42, label
        assert getattr(plain, "missing", None) is None, label
        assert list(plain.__dict__) == NAMES8, label

    loop_ns = min(timeit.repeat("pass", timer=time.process_time, number=1_000_000,
                                repeat=5)) / 1e6 * 1e9 / UNROLL
    results = []
    for case, which, stmt, target in CASES:
        ns = time_case(stmt, {label: objs[which] for label, objs in objects.items()},
                       args.repeat)
        ratio = ns["localbag"] / ns["threading.local"]
        results.append({"case": case, "statement": stmt,
                        "threading.local": ns["threading.local"], "localbag": ns["localbag"],
                        "ratio": ratio, "target": target,
                        "met": None if target is None else ratio <= target})

    print(f"CPU: {cpu_model()}")
    print(f"CPython {platform.python_version()} ({sys.executable}); {args.local} = "
          f"{contender.__module__}.{contender.__qualname__} "
          f"(from {getattr(sys.modules[args.local.rpartition('.')[0]], '__file__', 'built-in')})")
    print(f"CPU ns/op, median of {args.repeat} interleaved runs, statement unrolled {UNROLL}x "
          f"(timeit loop adds {loop_ns:.2f} ns/op)")
    width = max(len(case) for case, *_ in CASES)
    print(f"{'case':<{width}}  {'threading.local':>15}  {'localbag':>9}  {'ratio':>6}  "
          f"{'target':>6}  result")
    for row in results:
        target = "-" if row["target"] is None else f"<={row['target']}"
        verdict = {None: "(for the record)", True: "met", False: "NOT met"}[row["met"]]
        print(f"{row['case']:<{width}}  {row['threading.local']:>15.1f}  "
              f"{row['localbag']:>9.1f}  {row['ratio']:>6.2f}  {target:>6}  {verdict}")

    if args.json:
        with open(args.json, "w", encoding="utf-8") as out:
            json.dump({"python": platform.python_version(), "cpu": cpu_model(),
                       "clock": "process CPU time", "contender": args.local,
                       "unroll": UNROLL, "loop_ns": loop_ns, "repeat": args.repeat,
                       "results": results}, out, indent=2)
    return 1 if args.check and any(row["met"] is False for row in results) else 0


if __name__ == "__main__":
    sys.exit(main())
