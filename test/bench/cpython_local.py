#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Times the localbag benchmark's operations on CPython's threading.local and on the design of
CPython's pure-Python `_threading_local` module, printing ns per operation.

In `_threading_local` (its docstring is localbag's walkthrough) every attribute access takes
the object's RLock, finds the calling thread's dict,
creating it and running __init__ on the thread's first access, then does a normal attribute
access on that dict. `LockPerAccessLocal` below re-implements that design for Python 3.

The objects mirror the C++ cases: the thread's dict holds 8 attributes, "number" inserted last;
the class-default cases hold the other 7 and find `number` 1 or 3 classes up.

Usage: cpython_local.py [--json OUT] [--repeat N]
"""

import argparse
import json
import platform
import statistics
import sys
import threading
import time
import timeit

NAMES8 = ["color", "socket", "widgets", "initialized", "depth", "buffer", "retries", "number"]


# ---- The design of CPython's pure-Python _threading_local, ported ----

class _LockPerAccessBase:
    __slots__ = ("_local__key", "_local__args", "_local__lock")

    def __new__(cls, *args, **kw):
        self = object.__new__(cls)
        key = "_local__key", "thread.local." + str(id(self))
        object.__setattr__(self, "_local__key", key)
        object.__setattr__(self, "_local__args", (args, kw))
        object.__setattr__(self, "_local__lock", threading.RLock())
        if (args or kw) and cls.__init__ is object.__init__:
            raise TypeError("Initialization arguments are not supported")
        # The creating thread's dict exists before __init__ runs, so it is not run twice.
        d = object.__getattribute__(self, "__dict__")
        threading.current_thread().__dict__[key] = d
        return self


def _lock_per_access_patch(self):
    """Points self.__dict__ at the calling thread's dict; creates it (and runs __init__)."""
    key = object.__getattribute__(self, "_local__key")
    thread_dict = threading.current_thread().__dict__
    d = thread_dict.get(key)
    if d is None:
        d = {}
        thread_dict[key] = d
        object.__setattr__(self, "__dict__", d)
        cls = type(self)
        if cls.__init__ is not object.__init__:
            args, kw = object.__getattribute__(self, "_local__args")
            cls.__init__(self, *args, **kw)
    else:
        object.__setattr__(self, "__dict__", d)


class LockPerAccessLocal(_LockPerAccessBase):
    """threading.local as _threading_local builds it: one RLock taken around every access."""

    def __getattribute__(self, name):
        lock = object.__getattribute__(self, "_local__lock")
        lock.acquire()
        try:
            _lock_per_access_patch(self)
            return object.__getattribute__(self, name)
        finally:
            lock.release()

    def __setattr__(self, name, value):
        lock = object.__getattribute__(self, "_local__lock")
        lock.acquire()
        try:
            _lock_per_access_patch(self)
            return object.__setattr__(self, name, value)
        finally:
            lock.release()

    def __delattr__(self, name):
        lock = object.__getattribute__(self, "_local__lock")
        lock.acquire()
        try:
            _lock_per_access_patch(self)
            return object.__delattr__(self, name)
        finally:
            lock.release()


# ---- The operations ----

def make_objects(base):
    """The objects each operation runs on, for one implementation of `local`."""

    class C1(base):
        number = 2

    class C2(C1):
        pass

    class C3(C2):
        pass

    class MyLocal(base):
        number = 2

        def squared(self):
            return self.number ** 2

    def filled(obj, names):
        for i, name in enumerate(names):
            setattr(obj, name, 42 if name == "number" else i)
        return obj

    return {
        "plain": filled(base(), NAMES8),
        "default1": filled(C1(), NAMES8[:-1]),
        "default3": filled(C3(), NAMES8[:-1]),
        "method": filled(MyLocal(), NAMES8),
    }


# (label, C++ case it mirrors, object, statement)
OPERATIONS = [
    ("get hit", "BM_localbag_get_string/8", "plain", "obj.number"),
    ("get default /1", "BM_localbag_get_default/1", "default1", "obj.number"),
    ("get default /3", "BM_localbag_get_default/3", "default3", "obj.number"),
    ("set existing", "BM_localbag_set_existing", "plain", "obj.number = 1"),
    ("set+del", "BM_localbag_set_del_new", "plain", "obj.fresh = 1; del obj.fresh"),
    ("hasattr miss", "BM_localbag_hasattr_miss", "plain", "hasattr(obj, 'missing')"),
    ("method call", "BM_localbag_call_method", "method", "obj.squared()"),
]


def time_ns(stmt, namespace, repeat):
    """Median over `repeat` runs of ns per execution of `stmt` (loop overhead included), in
    process CPU time, as the C++ figures of single-threaded loops (ratios.py) are: a busy
    neighbour on a shared machine then inflates it much less than wall-clock time."""
    timer = timeit.Timer(stmt, globals=namespace, timer=time.process_time)
    number, _ = timer.autorange()  # enough executions for >= 0.2 s
    runs = timer.repeat(repeat=repeat, number=number)
    return statistics.median(runs) / number * 1e9


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", help="also write the figures to this JSON file")
    parser.add_argument("--repeat", type=int, default=5, help="timing runs per figure (median)")
    args = parser.parse_args()

    impls = {"threading.local": threading.local, "_threading_local": LockPerAccessLocal}
    objects = {label: make_objects(base) for label, base in impls.items()}
    # Sanity: both implementations answer the same.
    for label, objs in objects.items():
        assert objs["plain"].number == 42 and objs["default3"].number == 2, label
        assert objs["method"].squared() == 42 ** 2 and not hasattr(objs["plain"], "missing"), label

    loop_ns = time_ns("pass", {}, args.repeat)
    results = []
    for op, case, which, stmt in OPERATIONS:
        row = {"operation": op, "cpp_case": case, "statement": stmt}
        for label in impls:
            row[label] = time_ns(stmt, {"obj": objects[label][which]}, args.repeat)
        results.append(row)

    print(f"CPython {platform.python_version()} ({sys.executable}); CPU ns/op, median of "
          f"{args.repeat} runs; each figure includes the timeit loop's {loop_ns:.1f} ns/iteration")
    width = max(len(op) for op, *_ in OPERATIONS)
    print(f"{'operation':<{width}}  {'threading.local':>16}  {'_threading_local':>17}  C++ case")
    for row in results:
        print(f"{row['operation']:<{width}}  {row['threading.local']:>16.1f}  "
              f"{row['_threading_local']:>17.1f}  {row['cpp_case']}")

    if args.json:
        with open(args.json, "w", encoding="utf-8") as out:
            json.dump({"python": platform.python_version(), "clock": "process CPU time",
                       "loop_ns": loop_ns,
                       "repeat": args.repeat, "results": results}, out, indent=2)


if __name__ == "__main__":
    main()
