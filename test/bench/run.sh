#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# One command for localbag's performance figures (docs/performance.md): builds a release build
# of the benchmark, runs it (5 repetitions, medians), times CPython's threading.local and the
# lock-per-access design of CPython's pure-Python _threading_local module, draws the chart and prints the ratio table with every target met / not met.
#
#   test/bench/run.sh [extra localbag-bench flags, e.g. --benchmark_filter=get_]
#
# Environment: BUILD_DIR (default <repo>/build-release), OUT_DIR (default $BUILD_DIR/bench),
# PYTHON (default /usr/bin/python3, Debian's, which has python3-matplotlib), REPETITIONS (5),
# CHART (default $OUT_DIR/localbag-bench.png; e.g. CHART=docs/performance.png),
# SKIP_CPYTHON=1 to skip the CPython timings (about 30 s, plus about 15 s for localbag's Python
# module against threading.local, run when a localbag*.so module was built under BUILD_DIR, and
# about 25 s for localbag-bench-python, a C++ host crossing into Python, when configured).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
build=${BUILD_DIR:-$root/build-release}
out=${OUT_DIR:-$build/bench}
python=${PYTHON:-/usr/bin/python3}
[ -x "$python" ] || python=python3
reps=${REPETITIONS:-5}
chart=${CHART:-$out/localbag-bench.png}

if [ ! -f "$build/build.ninja" ]; then
  # Benchmark-only configuration: the test suites are not needed here.
  meson setup "$build" "$root" --buildtype=release -Dbenchmarks=enabled -Dtests=disabled \
    -Ddemo=false
fi
buildtype=$(meson introspect "$build" --buildoptions | "$python" -c \
  'import json, sys; print(next(o["value"] for o in json.load(sys.stdin) if o["name"] == "buildtype"))')
[ "$buildtype" = release ] || echo "WARNING: $build has buildtype=$buildtype, not release" >&2
meson compile -C "$build" -j 2 localbag-bench
mkdir -p "$out"
if commit=$(git -C "$root" rev-parse --short HEAD 2>/dev/null); then
  dirty=$(git -C "$root" status --porcelain -- include src | wc -l)
  echo "== source: commit $commit, $dirty uncommitted change(s) in include/ and src/"
fi

bench_json=$out/localbag-bench.json
echo "== localbag-bench ($reps repetitions, medians) -> $bench_json"
"$build/test/bench/localbag-bench" \
  --benchmark_format=json --benchmark_out="$bench_json" \
  --benchmark_repetitions="$reps" --benchmark_report_aggregates_only=true \
  "$@" >"$out/localbag-bench.stdout.json"

cpython_json=$out/cpython_local.json
cpython_args=()
if [ "${SKIP_CPYTHON:-0}" != 1 ]; then
  echo "== CPython: threading.local and _threading_local's design"
  "$python" "$here/cpython_local.py" --json "$cpython_json"
  cpython_args=(--cpython "$cpython_json")
  module=$(find "$build" -name "localbag$("$python" -c \
    'import sysconfig; print(sysconfig.get_config_var("EXT_SUFFIX"))')" -print -quit)
  if [ -n "$module" ]; then
    echo "== CPython: localbag.local and threading.local ($module)"
    "$python" "$here/python_local.py" --module-dir "$(dirname "$module")" \
      --json "$out/python_local.json"
  else
    echo "== CPython: no localbag module for $python built under $build: skipping its timings"
  fi
  # A C++ host embedding CPython (bench_python_host.cpp), which imports that module: configured
  # when the module and Python's embedding library were found. (grep without -q: pipefail.)
  if [ -n "$module" ] &&
    meson introspect "$build" --targets | grep '"localbag-bench-python"' >/dev/null; then
    echo "== localbag-bench-python ($reps repetitions, medians) -> $out/python_host.json"
    meson compile -C "$build" -j 2 localbag-bench-python
    "$build/test/bench/localbag-bench-python" \
      --benchmark_format=json --benchmark_out="$out/python_host.json" \
      --benchmark_repetitions="$reps" --benchmark_report_aggregates_only=true \
      >"$out/python_host.stdout.json"
  else
    echo "== no localbag-bench-python in $build (needs the module and Python's embed library): skipping"
  fi
fi

echo "== chart"
if "$python" -c 'import matplotlib' 2>/dev/null; then
  "$python" "$here/plot.py" "$bench_json" -o "$chart" "${cpython_args[@]}"
else
  echo "no chart: $python lacks matplotlib (apt-get install python3-matplotlib)"
fi

echo "== ratios (median localbag / median baseline, same run)"
"$python" "$here/ratios.py" "$bench_json" "${cpython_args[@]}"
