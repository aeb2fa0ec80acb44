#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Checks ratios.py on a made-up Google Benchmark JSON: medians and coefficients of variation
are read, a ratio target is met / not met by the medians, and it is marked NOISY exactly when
its limit lies within twice the run's spread. Exits 1 on the first mismatch."""

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


def main():
    benchmarks = (case("BM_localbag_get_string/8", 4.0, 0.01)        # / 10 = 0.40: met, quiet
                  + case("BM_baseline_tls_map_get", 10.0, 0.02)
                  + case("BM_localbag_get_string/64", 8.4, 0.10)     # / 10 = 0.84 vs 0.8: noisy
                  + case("BM_localbag_get_key", 5.0, 0.01)           # / 10 = 0.50 vs 0.25: not met
                  + case("BM_baseline_boost_tss_get", 10.0, 0.01))
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump({"context": {}, "benchmarks": benchmarks}, f)
        path = f.name
    try:
        m, _ = ratios.load(path)
    finally:
        os.unlink(path)
    rows = {row[0]: row for row in ratios.targets(m)}
    failures = []

    def expect(text, value, noisy):
        row = rows[text]
        if row[1] is None or abs(row[1] - value) > 1e-9:
            failures.append(f"{text}: measured {row[1]}, expected {value}")
        if ("NOISY" in row[4]) != noisy:
            failures.append(f"{text}: detail {row[4]!r}, expected noisy={noisy}")

    if abs(m["BM_localbag_get_string/64"].get("cv", -1) - 0.10) > 1e-9:
        failures.append(f"cv not read: {m['BM_localbag_get_string/64']}")
    expect("get_string/8 / tls_map_get", 0.4, False)
    expect("get_string/64 / tls_map_get", 0.84, True)
    expect("get_key / boost_tss_get", 0.5, False)
    for failure in failures:
        print("FAIL", failure)
    if not failures:
        print("ratios.py: medians, cvs, met / not met and NOISY as expected")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
