#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Checks ratios.py on a made-up Google Benchmark JSON: medians and coefficients of variation
are read, a ratio target is met / not met by the medians, and it is marked NOISY exactly when
its limit lies within twice the run's spread; a row without a limit is shown for the record and
never fails; the throughput under reloads is read from 2-thread runs' items_per_second, and is
not measured when the run counted no reloads. Exits 1 after printing every mismatch."""

import contextlib
import io
import json
import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ratios  # noqa: E402


def aggregate(name, kind, cpu):
    return {"name": f"{name}_{kind}", "run_name": name, "run_type": "aggregate",
            "aggregate_name": kind, "cpu_time": cpu, "real_time": cpu, "time_unit": "ns",
            "threads": 1}


def case(name, median, cv):
    return [aggregate(name, "median", median), aggregate(name, "cv", cv)]


def reload_case(per_second, items_per_second, cv, reloads):
    """BM_localbag_config_read_during_reload/<per_second>: 2 threads, real time (its run name
    keeps the /real_time suffix Google Benchmark adds), each thread on a core of its own."""
    run = f"BM_localbag_config_read_during_reload/{per_second}/real_time/threads:2"
    out = []
    for kind, real in (("median", 1e9 / items_per_second), ("cv", cv)):
        row = aggregate(run, kind, real)
        row.update(threads=2, cpu_time=2 * real)  # the threads' CPU times are summed
        if kind == "median":
            row.update(items_per_second=items_per_second, reloads=reloads,
                       reload_rate=per_second, changes_seen=reloads)
        out.append(row)
    return out


def load(benchmarks):
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump({"context": {}, "benchmarks": benchmarks}, f)
        path = f.name
    try:
        m, _ = ratios.load(path)
    finally:
        os.unlink(path)
    return m


def main():
    benchmarks = (case("BM_localbag_get_string/8", 4.0, 0.01)        # / 10 = 0.40: met, quiet
                  + case("BM_baseline_tls_map_get", 10.0, 0.02)
                  + case("BM_localbag_get_string/64", 8.4, 0.10)     # / 10 = 0.84 vs 0.8: noisy
                  + case("BM_localbag_get_key", 5.0, 0.01)           # / 10 = 0.50 vs 0.25: not met
                  + case("BM_baseline_boost_tss_get", 10.0, 0.01)
                  + case("BM_localbag_config_read", 3.0, 0.02)       # / 10 = 0.30 vs 0.5: met
                  + case("BM_baseline_rcu_config_read", 10.0, 0.02)
                  + case("BM_baseline_absl_getflag", 1.0, 0.40)      # 3.0: for the record
                  + reload_case(0, 200e6, 0.01, 0)                   # 190 / 200 = 0.95 vs 0.9
                  + reload_case(100, 190e6, 0.01, 500))
    m = load(benchmarks)
    rows = {row[0]: row for row in ratios.targets(m)}
    failures = []

    def expect(text, value, noisy, limit="unchanged"):
        row = rows[text]
        if row[1] is None or abs(row[1] - value) > 1e-9:
            failures.append(f"{text}: measured {row[1]}, expected {value}")
        if ("NOISY" in row[4]) != noisy:
            failures.append(f"{text}: detail {row[4]!r}, expected noisy={noisy}")
        if limit != "unchanged" and row[2] != limit:
            failures.append(f"{text}: limit {row[2]}, expected {limit}")

    def verdicts(target_rows):
        """print_targets' verdict per row (the text after the limit), and whether all met."""
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            all_met = ratios.print_targets(target_rows)
        lines = out.getvalue().splitlines()[1:]
        return {row[0]: line for row, line in zip(target_rows, lines)}, all_met

    if abs(m["BM_localbag_get_string/64"].get("cv", -1) - 0.10) > 1e-9:
        failures.append(f"cv not read: {m['BM_localbag_get_string/64']}")
    expect("get_string/8 / tls_map_get", 0.4, False)
    expect("get_string/64 / tls_map_get", 0.84, True)
    expect("get_key / boost_tss_get", 0.5, False)
    expect("config_read / rcu_config_read", 0.3, False, 0.5)
    # No limit: a cv of 40% would make any limit near 3.0 noisy; for the record, never NOISY.
    expect("config_read / absl_getflag", 3.0, False, None)
    reload_text = "config_read_during_reload throughput, 100 reloads/s / none"
    expect(reload_text, 0.95, False, 0.9)
    if rows[reload_text][3] != "ge" or "reloads 500 (100/s)" not in rows[reload_text][4] \
            or "cores had: no reloads 2.00, 100/s 2.00" not in rows[reload_text][4]:
        failures.append(f"{reload_text}: row {rows[reload_text]}")
    if ratios.baseline_of("BM_localbag_config_read_during_reload/100/threads:2") != \
            ("BM_localbag_config_read_during_reload/0/threads:2", "the same reads, no reloads"):
        failures.append("during_reload/100's baseline is not /0")
    if ratios.baseline_of("BM_baseline_absl_getflag") is not None:
        failures.append("absl_getflag compared with the hand-rolled TLS map")

    # print_targets: the record row is "for the record" and does not fail the run; a target
    # missed does.
    config_rows = [rows[t] for t in ("config_read / rcu_config_read",
                                     "config_read / absl_getflag", reload_text)]
    shown, all_met = verdicts(config_rows)
    if not all_met or "for the record" not in shown["config_read / absl_getflag"] \
            or "met" not in shown[reload_text]:
        failures.append(f"print_targets: all_met={all_met}, {shown}")
    _, all_met = verdicts(config_rows + [rows["get_key / boost_tss_get"]])
    if all_met:
        failures.append("print_targets: a missed target counted as met")

    # Throughput 0.80 with reloads, and a /100 run that counted none: not measured.
    slow = [b for b in benchmarks if "during_reload/100/" not in b["name"]]
    rows = {row[0]: row for row in ratios.targets(load(slow + reload_case(100, 160e6, 0.01, 500)))}
    expect(reload_text, 0.8, False)
    shown, all_met = verdicts([rows[reload_text]])
    if all_met or "NOT MET" not in shown[reload_text]:
        failures.append(f"throughput 0.8 vs 0.9: {shown}")
    rows = {row[0]: row for row in ratios.targets(load(slow + reload_case(100, 190e6, 0.01, 0)))}
    if rows[reload_text][1] is not None or "no reloads" not in rows[reload_text][4]:
        failures.append(f"{reload_text} without reloads: {rows[reload_text]}")
    for failure in failures:
        print("FAIL", failure)
    if not failures:
        print("ratios.py: medians, cvs, met / not met, NOISY, record rows and reload throughput as "
              "expected")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
