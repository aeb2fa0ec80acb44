#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Draws localbag-bench's results (Google Benchmark JSON) as one PNG chart: each localbag
hot-path case beside its baseline, the performance targets, and the per-item lifetime costs.

Usage: plot.py BENCH.json [-o OUT.png] [--cpython CPYTHON.json]
Needs matplotlib (Debian: python3-matplotlib).
"""

import argparse
import os
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ratios import baseline_of, cpython_by_case, load, targets  # noqa: E402

# The hot-path cases, drawn in this order, each after its baseline when it has one.
HOT = [
    "BM_baseline_thread_local_int",
    "BM_baseline_boost_tss_get",
    "BM_localbag_get_key",
    "BM_baseline_tls_map_get",
    "BM_localbag_get_string/1",
    "BM_localbag_get_string/8",
    "BM_localbag_get_string/64",
    "BM_baseline_boost_tss_map_get",
    "BM_baseline_tbb_ets_map_get",
    "BM_baseline_lock_per_access_get/threads:1",
    "BM_localbag_get_default/1",
    "BM_localbag_get_default/3",
    "BM_localbag_set_existing",
    "BM_localbag_set_del_new",
    "BM_localbag_hasattr_miss",
    "BM_localbag_call_method",
]
LOCALBAG, BASELINE, PYTHON, LOCK_PER_ACCESS = "#1f77b4", "#9a9a9a", "#ff9f40", "#d62728"


def short(case):
    return case.replace("BM_", "").replace("/threads:", " x")


def hot_panel(ax, m, cpy):
    labels, values, colors = [], [], []
    for case in HOT:
        t = m.get(case, {}).get("time")
        if t is None:
            continue
        labels.append(short(case))
        values.append(t)
        colors.append(LOCALBAG if case.startswith("BM_localbag") else BASELINE)
        py = cpy.get(case)
        if py:
            for impl, color in (("threading.local", PYTHON), ("_threading_local", LOCK_PER_ACCESS)):
                labels.append(f"  CPython {impl}")
                values.append(py[impl])
                colors.append(color)
    y = range(len(values))
    ax.barh(y, values, color=colors)
    ax.set_yticks(list(y), labels, fontsize=7)
    ax.invert_yaxis()
    ax.set_xscale("log")
    ax.set_xlabel("ns per operation (median; CPU time for single-threaded loops; log scale)")
    ax.set_title("Hot path: localbag (blue) beside its baseline (grey)")
    for i, (label, value) in enumerate(zip(labels, values)):
        text = f"{value:.1f}"
        case = "BM_" + label.replace(" x", "/threads:") if not label.startswith(" ") else None
        base = baseline_of(case) if case and case.startswith("BM_localbag") else None
        if base and m.get(base[0], {}).get("time"):
            text += f"  ({value / m[base[0]]['time']:.2f}x {short(base[0])})"
        ax.text(value * 1.05, i, text, va="center", fontsize=6)
    ax.set_xlim(right=max(values) * 30)


def target_panel(ax, m):
    rows = targets(m)
    y = range(len(rows))
    for i, (text, value, limit, sense, detail) in enumerate(rows):
        if value is None or limit is None:  # measured, but no limit to draw it against
            continue
        met = value <= limit if sense == "le" else value >= limit
        # Drawn relative to the limit, so that a bar shorter than 1 always meets it.
        rel = value / limit if sense == "le" else limit / value
        color = "#2ca02c" if met else "#d62728"
        if "UNRELIABLE" in detail:
            color = "#bbbbbb"  # the machine was busy: no verdict
        ax.barh(i, rel, color=color)
        ax.text(rel * 1.02, i, f"{value:.2f} ({'<=' if sense == 'le' else '>='} {limit:g})",
                va="center", fontsize=7)
    ax.axvline(1.0, color="black", linewidth=1)
    ax.set_yticks(list(y), [r[0] for r in rows], fontsize=7)
    ax.invert_yaxis()
    ax.set_xlabel("measured / limit (for >= targets: limit / measured)\n"
                  "green: met, red: not met, grey: unreliable (machine busy)")
    ax.set_title("Targets", fontsize=10)
    rels = [r[1] / r[2] if r[3] == "le" else r[2] / r[1] for r in rows if r[1] and r[2]]
    ax.set_xlim(0, max(rels + [1.0]) * 1.5)


def lifetime_panel(ax, m):
    ns = [1, 10, 100, 1000, 10000]
    series = [("thread exit", "BM_localbag_thread_exit/{n}")]
    series += [(f"create+destroy, touching {t}",
                f"BM_localbag_object_create_destroy/touching:{t}/live:{{n}}") for t in (0, 1, 2)]
    for label, pattern in series:
        pts = [(n, m.get(pattern.format(n=n), {}).get("ns_per_object")) for n in ns]
        pts = [(n, v) for n, v in pts if v is not None]
        if pts:
            ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", label=label)
    ax.set_xscale("log")
    top = max([v for line in ax.get_lines() for v in line.get_ydata()] + [1.0])
    ax.set_ylim(0, top * 1.35)  # room for the memory note
    ax.set_xlabel("N (touched objects at thread exit / live objects)")
    ax.set_ylabel("ns per object (median)")
    ax.set_title("Per-item lifetime cost (target: flat within 2x, N=10..10^4)", fontsize=10)
    ax.legend(fontsize=7, loc="upper left")
    mem = m.get("BM_localbag_memory", {})
    if mem:
        ax.text(0.98, 0.97, "memory (bytes):\n" + "\n".join(
            f"{k.replace('bytes_', '')} = {mem[k]:.0f}"
            for k in ("bytes_per_object", "bytes_per_object_untouched", "bytes_per_pair",
                      "bytes_first_pair") if k in mem),
                transform=ax.transAxes, va="top", ha="right", fontsize=7)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("bench_json")
    parser.add_argument("-o", "--output", default="localbag-bench.png")
    parser.add_argument("--cpython", help="cpython_local.py --json output, drawn beside")
    parser.add_argument("--time", choices=("cpu", "real"), default="cpu",
                        help="time of single-threaded loop cases (as in ratios.py)")
    args = parser.parse_args()

    m, context = load(args.bench_json, args.time)
    cpy = cpython_by_case(args.cpython)
    fig = plt.figure(figsize=(12, 13))
    grid = fig.add_gridspec(2, 2, height_ratios=[3, 2])
    hot_panel(fig.add_subplot(grid[0, :]), m, cpy)
    target_panel(fig.add_subplot(grid[1, 0]), m)
    lifetime_panel(fig.add_subplot(grid[1, 1]), m)
    fig.suptitle(f"localbag-bench, {context.get('num_cpus', '?')} CPUs, "
                 f"{context.get('date', '')[:10]}, medians")
    fig.tight_layout()
    fig.savefig(args.output, dpi=110)
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
