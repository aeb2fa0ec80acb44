#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Reads localbag-bench's Google Benchmark JSON and prints (1) every case's median time with
its ratio to its baseline and (2) the performance targets of docs/performance.md, each met / not met.

All ratios are of medians from the same run (aggregate "median" entries when the run used
--benchmark_repetitions, else the median of the iteration entries). The time of a case ("time"
below) is its CPU time by default: on a shared machine a busy neighbour inflates wall-clock
time (preemption) but hardly the thread's CPU time. Cases timed by hand (UseManualTime) and
runs of 2 threads always use their real time; throughput uses items_per_second. A ratio target
whose limit lies within twice the run's own spread (from the repetitions' coefficients of
variation) is marked NOISY: one run on that machine cannot tell met from not met. A row without
a limit is shown for the record: it is never met or missed.

Usage: ratios.py BENCH.json [--cpython CPYTHON.json] [--time cpu|real] [--strict]
  --cpython  the output of `cpython_local.py --json`, shown beside the matching cases
  --strict   exit 1 when a target is not met
"""

import argparse
import json
import math
import re
import statistics
import sys

_UNIT_NS = {"ns": 1.0, "us": 1e3, "ms": 1e6, "s": 1e9}
# Suffixes Google Benchmark appends to a family's name that are not part of the case.
_NOISE = re.compile(r"/(iterations:\d+|manual_time|real_time|min_time:[0-9.]+s?|repeats:\d+)")
_FIELDS = ("real_time", "cpu_time", "items_per_second", "ns_per_object", "bytes_per_object",
           "bytes_per_object_untouched", "bytes_per_pair", "bytes_first_pair",
           "allocs_per_object", "allocs_per_pair", "requested_bytes_per_pair",
           "table_bytes_after_burst", "table_bytes_high_id", "max_stall_us", "max_stall_exit_us",
           "max_stall_death_us", "reloads", "reload_rate", "changes_seen")


def case_name(run_name):
    """`BM_x/10/iterations:2000/manual_time` -> `BM_x/10` (threads:N is kept)."""
    return _NOISE.sub("", run_name)


def load(path, time="cpu"):
    """{case name: {field: median value}} with times in ns, and the JSON's context. Each case
    also gets "time": its cpu_time (time="cpu") or real_time (time="real"); real_time always
    for manual-time cases and runs of more than one thread."""
    with open(path, encoding="utf-8") as f:
        data = json.load(f)
    medians, samples, cvs = {}, {}, {}
    for b in data.get("benchmarks", []):
        name = case_name(b.get("run_name", b["name"]))
        scale = _UNIT_NS.get(b.get("time_unit", "ns"), 1.0)
        values = {k: b[k] * (scale if k.endswith("_time") else 1.0) for k in _FIELDS if k in b}
        values["error"] = b.get("error_message") if b.get("error_occurred") else None
        wall = time == "real" or "manual_time" in b["name"] or b.get("threads", 1) > 1
        if ("real_time" if wall else "cpu_time") in values:
            values["time"] = values["real_time" if wall else "cpu_time"]
        if b.get("run_type") == "aggregate":
            if b.get("aggregate_name") == "median":
                medians[name] = values
            elif b.get("aggregate_name") == "cv":
                # The coefficient of variation over the repetitions (a fraction, not a time).
                cvs[name] = b.get("real_time" if wall else "cpu_time")
        else:
            samples.setdefault(name, []).append(values)
    for name, cv in cvs.items():
        if name in medians and cv is not None:
            medians[name]["cv"] = cv
    for name, runs in samples.items():
        if name not in medians:
            keys = {k for r in runs for k in r if k != "error"}
            medians[name] = {k: statistics.median(r[k] for r in runs if k in r) for k in keys}
            medians[name]["error"] = next((r["error"] for r in runs if r["error"]), None)
    return medians, data.get("context", {})


def baseline_of(case):
    """(baseline case, what the comparison means) for a localbag case, or None."""
    if case.startswith("BM_localbag_get_string/8/threads:"):
        return case.replace("BM_localbag_get_string/8", "BM_baseline_lock_per_access_get"), \
            "_threading_local design, same threads"
    if case.startswith("BM_localbag_get_string/"):
        return "BM_baseline_tls_map_get", "hand-rolled TLS map"
    if case == "BM_localbag_get_key":
        return "BM_baseline_boost_tss_get", "boost::thread_specific_ptr<int>"
    if case.startswith("BM_localbag_get_default/"):
        return "BM_localbag_get_string/8", "localbag hit in dict of 8"
    if case == "BM_localbag_set_del_new":
        return "BM_baseline_tls_map_set_del", "hand-rolled map insert + erase"
    if case == "BM_localbag_call_method":
        return "BM_baseline_tls_map_call", "hand-rolled map of std::function"
    if case.startswith("BM_localbag_get_string_in_context/"):
        return case.replace("_in_context", ""), "the same get, thread's own context"
    if case == "BM_localbag_context_enter_leave":
        return "BM_baseline_mutex_lock_unlock", "uncontended std::mutex lock + unlock"
    if case == "BM_localbag_config_read":
        return "BM_baseline_rcu_config_read", "hand-rolled RCU map (atomic shared_ptr)"
    if case.startswith("BM_localbag_config_read_during_reload/100/"):
        return case.replace("/100/", "/0/"), "the same reads, no reloads"
    if case in ("BM_localbag_set_existing", "BM_localbag_hasattr_miss"):
        return "BM_baseline_tls_map_get", "hand-rolled map GET (scale only)"
    if case.startswith("BM_baseline_") and case not in ("BM_baseline_tls_map_get",
                                                         "BM_baseline_thread_local_int",
                                                         "BM_baseline_tls_map_set_del",
                                                         "BM_baseline_tls_map_call",
                                                         "BM_baseline_mutex_lock_unlock",
                                                         "BM_baseline_rcu_config_read",
                                                         "BM_baseline_absl_getflag"):
        return "BM_baseline_tls_map_get", "hand-rolled TLS map"
    return None


def _get(m, case, field):
    return m.get(case, {}).get(field)


def _spread(values):
    values = [v for v in values if v is not None]
    if len(values) < 2 or min(values) <= 0:
        return None
    return max(values) / min(values)


def scaling_target(m, case, label, limit):
    """The target "2 threads' items_per_second / 1 thread's >= limit" of `case` (a family run with
    ->Threads(1)->Threads(2)->UseRealTime()), as a row of targets()."""
    # Google Benchmark sums the threads' CPU time and averages their real time, so
    # cpu_time / real_time is how many cores the two threads really had. Scaling cannot exceed
    # that: a miss while another process held part of a core (< 1.9 cores) says nothing about
    # localbag, so it is marked unreliable; scaling / cores is then the interference-only figure.
    # (ips2 / cores2) / (ips1 / cores1) is then the interference-only figure: 1.0 when each
    # thread runs as fast beside the other as alone.
    one, two = f"{case}/threads:1", f"{case}/threads:2"
    scaling = None
    x, y = _get(m, two, "items_per_second"), _get(m, one, "items_per_second")
    if x is not None and y:
        scaling = x / y
    detail = ""
    if scaling is not None and all(_get(m, c, f) for c in (one, two)
                                   for f in ("real_time", "cpu_time")):
        cores = [_get(m, c, "cpu_time") / _get(m, c, "real_time") for c in (one, two)]
        detail = (f"cores had: 1 thread {cores[0]:.2f}, 2 threads {cores[1]:.2f}; "
                  f"per-core throughput ratio {scaling * cores[0] / cores[1]:.2f}")
        if scaling < limit and cores[1] < 1.9:
            detail += " -> UNRELIABLE, machine busy: re-run on an idle machine"
    return (f"{label} throughput, 2 threads / 1 thread", scaling, limit, "ge", detail)


def _noise(m, a, b, value, limit):
    """The detail of a ratio of `a` to `b`: their cvs, and NOISY when `limit` (None: no target)
    lies within twice the ratio's spread, about sqrt(cv_a^2 + cv_b^2), of the measured ratio."""
    cva, cvb = _get(m, a, "cv"), _get(m, b, "cv")
    if value is None or cva is None or cvb is None:
        return ""
    spread = math.sqrt(cva * cva + cvb * cvb)
    detail = f"cv {100 * cva:.0f}% / {100 * cvb:.0f}%"
    if limit is not None and abs(value - limit) <= 2 * spread * value:
        detail += " -> NOISY: the limit is within the run's spread; re-run on a quieter machine"
    return detail


def ratio_target(m, text, a, b, limit):
    """The target "median of `a` / median of `b` <= limit", as a row of targets(); with limit
    None, a row for the record. With the repetitions' coefficients of variation (cv) of both
    cases, the ratio's own spread is about sqrt(cv_a^2 + cv_b^2); when the limit lies within
    twice that of the measured ratio, one run cannot tell met from not met, and the row says
    NOISY."""
    x, y = _get(m, a, "time"), _get(m, b, "time")
    value = x / y if x is not None and y else None
    return (text, value, limit, "le", _noise(m, a, b, value, limit))


def reload_target(m, case, label, limit):
    """The target "items_per_second of `case`/100 (reloads 100 times a second) / that of
    `case`/0 (no reloads) >= limit", both 2-thread runs (real time), as a row of targets(). Not
    measured when the /100 run counted no reloads (its "reloads" counter). NOISY as
    ratio_target; the cores each run's 2 readers had are shown, and a miss while either had
    fewer than 1.9 is marked unreliable, as in scaling_target."""
    with_reloads, without = f"{case}/100/threads:2", f"{case}/0/threads:2"
    x, y = _get(m, with_reloads, "items_per_second"), _get(m, without, "items_per_second")
    value = x / y if x is not None and y else None
    reloads = _get(m, with_reloads, "reloads")
    if value is not None and not reloads:
        return (f"{label} throughput, 100 reloads/s / none", None, limit, "ge",
                "no reloads counted in the /100 run: it measured no reloads")
    detail = _noise(m, with_reloads, without, value, limit)
    if value is not None:
        detail = (f"reloads {reloads:.0f} ({_get(m, with_reloads, 'reload_rate') or 0:.0f}/s)"
                  + (f"; {detail}" if detail else ""))
        if all(_get(m, c, f) for c in (with_reloads, without) for f in ("real_time", "cpu_time")):
            cores = [_get(m, c, "cpu_time") / _get(m, c, "real_time")
                     for c in (without, with_reloads)]
            detail += f"; cores had: no reloads {cores[0]:.2f}, 100/s {cores[1]:.2f}"
            if value < limit and min(cores) < 1.9:
                detail += " -> UNRELIABLE, machine busy: re-run on an idle machine"
    return (f"{label} throughput, 100 reloads/s / none", value, limit, "ge", detail)


def targets(m):
    """[(target text, measured, limit, 'le'|'ge', detail)] for the performance targets (limit
    None: a figure shown for the record)."""
    out = []
    for size, vs_tls, vs_absl in ((8, 0.5, 0.8), (64, 0.8, 1.0)):
        case = f"BM_localbag_get_string/{size}"
        out.append(ratio_target(m, f"get_string/{size} / tls_map_get", case,
                                "BM_baseline_tls_map_get", vs_tls))
        out.append(ratio_target(m, f"get_string/{size} / absl_map_get", case,
                                "BM_baseline_absl_map_get", vs_absl))
    out.append(ratio_target(m, "get_key / boost_tss_get", "BM_localbag_get_key",
                            "BM_baseline_boost_tss_get", 0.25))
    out.append(ratio_target(m, "set_del_new / tls_map_set_del", "BM_localbag_set_del_new",
                            "BM_baseline_tls_map_set_del", 1.0))
    out.append(ratio_target(m, "call_method / tls_map_call", "BM_localbag_call_method",
                            "BM_baseline_tls_map_call", 1.5))
    out.append(ratio_target(m, "get_default/1 / get_string/8", "BM_localbag_get_default/1",
                            "BM_localbag_get_string/8", 1.2))
    out.append(scaling_target(m, "BM_localbag_get_string/8", "get_string/8", 1.9))
    out.append(scaling_target(m, "BM_localbag_get_key_mixed_layouts",
                              "get_key, one Key, mixed layouts", 1.8))
    # Thread exit has a fixed part per thread (the thread's own teardown, /1) and a part per
    # object it touched. The per-item cost is the marginal one, (T(N) - T(1)) / (N - 1): the
    # total over N also divides the fixed part by N, which flatters no size and penalises N=10.
    sizes = (10, 100, 1000, 10000)
    total = [_get(m, f"BM_localbag_thread_exit/{n}", "ns_per_object") for n in sizes]
    fixed = _get(m, "BM_localbag_thread_exit/1", "ns_per_object")
    marginal = [None if t is None or fixed is None else (t * n - fixed) / (n - 1)
                for t, n in zip(total, sizes)]
    out.append(("thread exit ns/object (marginal), max/min over N=10..10000", _spread(marginal),
                2.0, "le", "marginal " + " ".join("-" if v is None else f"{v:.0f}" for v in marginal)
                + "; total/N " + " ".join("-" if v is None else f"{v:.0f}" for v in total)
                + ("" if fixed is None else f"; fixed (N=1) {fixed:.0f}")))
    for touching in (0, 1, 2):
        ns = [_get(m, f"BM_localbag_object_create_destroy/touching:{touching}/live:{n}",
                   "ns_per_object") for n in (10, 100, 1000, 10000)]
        out.append((f"create+destroy (touching:{touching}) ns/object, max/min over live=10..10000",
                    _spread(ns), 2.0, "le", " ".join("-" if v is None else f"{v:.0f}" for v in ns)))
    out.append(ratio_target(m, "get_string_in_context/8 / get_string/8",
                            "BM_localbag_get_string_in_context/8", "BM_localbag_get_string/8",
                            1.05))
    out.append(ratio_target(m, "context_enter_leave / mutex_lock_unlock",
                            "BM_localbag_context_enter_leave", "BM_baseline_mutex_lock_unlock",
                            1.0))
    # A context's life is O(objects touched): the cost per object touched, over 1 and over 8
    # (each less the empty context's), may differ by at most 2x.
    life = {n: _get(m, f"BM_localbag_context_create_destroy/{n}", "time") for n in (0, 1, 8)}
    per = [None if life[n] is None or life[0] is None else (life[n] - life[0]) / n
           for n in (1, 8)]
    out.append(("context create+destroy ns per object touched, max/min over 1 and 8",
                _spread(per), 2.0, "le",
                " ".join(f"{n}: {life[n]:.0f} ns" for n in (0, 1, 8) if life[n] is not None)))
    # Config (bench_config.cpp): a class default read through a configuration's object, against
    # the hand-rolled RCU map and, for the record, abseil's flags; and the reads' throughput on
    # 2 threads while a third reloads the configuration.
    out.append(ratio_target(m, "config_read / rcu_config_read", "BM_localbag_config_read",
                            "BM_baseline_rcu_config_read", 0.5))
    out.append(ratio_target(m, "config_read / absl_getflag", "BM_localbag_config_read",
                            "BM_baseline_absl_getflag", None))
    out.append(reload_target(m, "BM_localbag_config_read_during_reload",
                             "config_read_during_reload", 0.9))
    out.append(("bytes per touched (object, thread) pair",
                _get(m, "BM_localbag_memory", "bytes_per_pair"), 96.0, "le", ""))
    # A fresh thread's record table after 1,000,000 objects came and went: touching one new
    # object, or one surviving object whose id is near 1,000,000.
    for counter in ("table_bytes_after_burst", "table_bytes_high_id"):
        out.append((f"{counter} (fresh thread, 1 object)",
                    _get(m, "BM_localbag_table_after_burst", counter), 4096.0, "le", ""))
    stall = "BM_localbag_stall_behind_exit/100000"
    out.append(("worst create+touch+destroy behind an exit / deaths of 100,000 records, us",
                _get(m, stall, "max_stall_us"), 1000.0, "le",
                " ".join(f"{k} {_get(m, stall, k):.0f}" for k in ("max_stall_exit_us",
                                                                   "max_stall_death_us")
                         if _get(m, stall, k) is not None)))
    return out


def cpython_by_case(path):
    if not path:
        return {}
    with open(path, encoding="utf-8") as f:
        data = json.load(f)
    return {r["cpp_case"]: r for r in data["results"]}


def print_cases(m, cpy):
    rows = []
    for case, v in m.items():
        base = baseline_of(case)
        t = v.get("time")
        r = None
        if base and t is not None and _get(m, base[0], "time"):
            r = t / _get(m, base[0], "time")
        extra = []
        for key in ("items_per_second", "ns_per_object", "bytes_per_object",
                    "bytes_per_object_untouched", "bytes_per_pair", "bytes_first_pair",
                    "table_bytes_after_burst", "table_bytes_high_id", "max_stall_us",
                    "reloads", "reload_rate", "changes_seen"):
            if key in v:
                val = v[key]
                extra.append(f"{key}={val / 1e6:.1f}M" if key == "items_per_second"
                             else f"{key}={val:.1f}")
        if v.get("error"):
            extra.append("ERROR: " + v["error"])
        py = cpy.get(case)
        rows.append((case, t, base[0] if base else "", base[1] if base else "", r,
                     f"{py['threading.local']:.0f}" if py else "",
                     f"{py['_threading_local']:.0f}" if py else "", " ".join(extra)))
    w = max(len(r[0]) for r in rows)
    wb = max(len(r[2]) for r in rows)
    print(f"{'case':<{w}}  {'median ns':>10}  {'baseline':<{wb}}  {'ratio':>6}  "
          f"{'CPython':>7}  {'_thr_loc':>8}  counters")
    for case, t, base, _, r, py1, py2, extra in rows:
        ts = "-" if t is None else f"{t:.2f}"
        rs = "" if r is None else f"{r:.2f}"
        print(f"{case:<{w}}  {ts:>10}  {base:<{wb}}  {rs:>6}  {py1:>7}  {py2:>8}  {extra}")


def print_targets(ts):
    w = max(len(t[0]) for t in ts)
    print(f"{'target':<{w}}  {'measured':>9}  {'limit':>8}  result")
    all_met = True
    for text, value, limit, sense, detail in ts:
        if limit is None:
            verdict = "for the record" if value is not None else "not measured (for the record)"
        elif value is None:
            verdict, all_met = "NOT MEASURED", False
        else:
            met = value <= limit if sense == "le" else value >= limit
            verdict = "met" if met else "NOT MET"
            if "UNRELIABLE" in detail:
                verdict += " (unreliable)"
            elif "NOISY" in detail:
                verdict += " (noisy)"
            all_met = all_met and met
        vs = "-" if value is None else f"{value:.2f}"
        ls = "-" if limit is None else ("<= " if sense == "le" else ">= ") + f"{limit:g}"
        print(f"{text:<{w}}  {vs:>9}  {ls:>8}  {verdict}" + (f"   ({detail})" if detail else ""))
    return all_met


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("bench_json")
    parser.add_argument("--cpython", help="cpython_local.py --json output")
    parser.add_argument("--time", choices=("cpu", "real"), default="cpu",
                        help="time of single-threaded loop cases (default: cpu)")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")
    args = parser.parse_args()

    m, context = load(args.bench_json, args.time)
    load_avg = context.get("load_avg") or []
    print(f"localbag-bench {context.get('date', '')}  host={context.get('host_name', '?')}  "
          f"cpus={context.get('num_cpus', '?')}  load_avg={load_avg}")
    print(f"times: {args.time} time for single-threaded loops, real time for manual-time and "
          "multi-threaded cases; ratio = median / median of the baseline, same run")
    if load_avg and load_avg[0] > 0.5:
        print("WARNING: the machine was busy during the run (load average above): figures are "
              "noisier, and the 2-thread scaling may not be measurable.")
    print()
    print_cases(m, cpython_by_case(args.cpython))
    print()
    all_met = print_targets(targets(m))
    if args.strict and not all_met:
        sys.exit(1)


if __name__ == "__main__":
    main()
