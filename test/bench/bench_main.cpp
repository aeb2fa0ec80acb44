// SPDX-License-Identifier: MIT
// localbag-bench: Google Benchmark's main. The cases are in bench_baselines.cpp,
// bench_localbag.cpp and bench_lifetime.cpp; test/bench/run.sh runs them all and prints the
// ratios the performance targets (docs/performance.md) are stated in.

#include <benchmark/benchmark.h>

BENCHMARK_MAIN();
