// SPDX-License-Identifier: MIT
// What one thread's use of the runtime costs the others: the record-table memory a fresh thread
// needs after a burst of objects came and went, and how long another thread's create, first
// access and destroy can be held up by a thread exiting with many records, or by many objects
// dying.
//
// Counters, with their targets in ratios.py:
//   table_bytes_after_burst, table_bytes_high_id   <= 4096
//   max_stall_us                                   <= 1000

#include <sys/resource.h>
#include <unistd.h>

#include <benchmark/benchmark.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdint>
#include <latch>
#include <optional>
#include <thread>
#include <vector>

#include <localbag/localbag.hpp>

#include "bench_common.hpp"

namespace {

using bench::Clock;
using localbag::LocalObject;

// ---- Table memory after a burst. ----
// 1,000,000 objects are created (alive at once, each touched by this thread as its constructor
// does) and destroyed. Then a fresh thread touches one object; the counter is the increase of
// RuntimeStats::table_bytes while that thread is alive:
//   table_bytes_after_burst: the object is new, made after the burst (ids are reused lowest
//     first, so it gets a low one);
//   table_bytes_high_id: the object is one made near the end of the burst that survived it, so
//     its id is near 1,000,000.
// Without lowest-first reuse and sparse tables, either costs a table indexed up to ~1,000,000:
// 8 MB.

constexpr std::size_t kBurst = 1'000'000;

std::uint64_t table_bytes_of_fresh_thread(LocalObject& obj) {
  const std::uint64_t before = localbag::runtime_stats().table_bytes;
  std::latch touched(1);
  std::latch measured(1);
  std::thread t([&] {
    obj.setattr("t", 1);
    touched.count_down();
    measured.wait();
  });
  touched.wait();
  const std::uint64_t during = localbag::runtime_stats().table_bytes;
  measured.count_down();
  t.join();
  return during - before;
}

// Creates kBurst objects at once and destroys all but the one at `keep` (none when kBurst).
std::optional<LocalObject> burst(std::size_t keep) {
  std::vector<LocalObject> objects(kBurst);
  std::optional<LocalObject> survivor;
  if (keep < kBurst) survivor.emplace(objects[keep]);
  return survivor;
}

void BM_localbag_table_after_burst(benchmark::State& state) {
  std::uint64_t after_burst = 0;
  std::uint64_t high_id = 0;
  for (auto _ : state) {
    burst(kBurst);
    LocalObject fresh;
    after_burst = table_bytes_of_fresh_thread(fresh);
    std::optional<LocalObject> survivor = burst(kBurst - 10);
    high_id = table_bytes_of_fresh_thread(*survivor);
  }
  state.counters["table_bytes_after_burst"] = static_cast<double>(after_burst);
  state.counters["table_bytes_high_id"] = static_cast<double>(high_id);
}
BENCHMARK(BM_localbag_table_after_burst)->Iterations(1)->Unit(benchmark::kMillisecond);

// ---- Stalls behind a thread exit and behind object deaths. ----
// Each iteration: the objects (N of them) are made by this thread. An exiting thread sets one
// attribute on each, then returns. All along, a measuring thread repeatedly creates an object
// (its constructor is the object's first access, which attaches a record), sets an attribute on
// it and destroys it, timing each such op with steady_clock. Phase 1 is the exiting thread's
// cleanup (from its return to its join); phase 2, right after, this thread destroys the N objects.
// Every op in phase 1 or 2 takes the runtime mutex three times, so its duration includes any
// wait behind a cleanup that holds that mutex.
// Counters: max_stall_exit_us and max_stall_death_us, the worst single op that ended in each
// phase, and max_stall_us, the worst of both; each is the median over iterations of the
// per-iteration worst, so that one preemption of the measuring thread by the scheduler does not
// decide the figure; an op during which the measuring thread itself was preempted is left out
// (preempted_ops). cpu_steal_ms says how much CPU the hypervisor took meanwhile.

// Milliseconds of CPU time the hypervisor gave to other guests (the "steal" column of
// /proc/stat, summed over CPUs), or a negative number where it cannot be read. A thread whose
// vCPU is descheduled while it holds the runtime mutex stalls every waiter, whatever localbag
// does; this counter says when a figure was taken on such a machine.
double steal_ms() {
  std::FILE* f = std::fopen("/proc/stat", "r");
  if (f == nullptr) return -1;
  unsigned long long v[8] = {};
  const int n = std::fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2],
                            &v[3], &v[4], &v[5], &v[6], &v[7]);
  std::fclose(f);
  if (n != 8) return -1;
  return static_cast<double>(v[7]) * 1000.0 / static_cast<double>(sysconf(_SC_CLK_TCK));
}

// How many times the scheduler has taken the calling thread's CPU (involuntary context
// switches). An op during which that happened measured the scheduler, not localbag: the
// measuring thread leaves it out (preempted_ops counts them). A wait for the runtime mutex is a
// voluntary switch, and still counts.
long involuntary_switches() {
  rusage usage{};
  getrusage(RUSAGE_THREAD, &usage);
  return usage.ru_nivcsw;
}

double median(std::vector<double> v) {
  if (v.empty()) return 0;
  const auto mid = v.begin() + static_cast<std::ptrdiff_t>(v.size() / 2);
  std::nth_element(v.begin(), mid, v.end());
  return *mid;
}

void BM_localbag_stall_behind_exit(benchmark::State& state) {
  const auto n = static_cast<std::size_t>(state.range(0));
  const localbag::Key key("v");
  std::vector<double> exit_worst, death_worst, worst;
  std::uint64_t ops = 0;
  std::uint64_t preempted = 0;
  const double steal_before = steal_ms();
  for (auto _ : state) {
    std::vector<LocalObject> objects(n);
    // 0: warming up, 1: the exiting thread's cleanup, 2: the objects' death, 3: done.
    std::atomic<int> phase{0};
    std::atomic<bool> measuring{false};
    double phase_max[3] = {0, 0, 0};
    std::thread measurer([&] {
      measuring = true;
      while (phase.load(std::memory_order_acquire) < 3) {
        const long preempted_before = involuntary_switches();
        const Clock::time_point t0 = Clock::now();
        {
          LocalObject obj;  // create + first access
          obj.setattr(key, 1);
        }  // destroy
        const double us = std::chrono::duration<double, std::micro>(Clock::now() - t0).count();
        // An op counts for the phase it ended in: one that waited behind the start of a
        // cleanup began before it. (Phase 0 holds the mutex only briefly, per attach.)
        const int p = std::min(phase.load(std::memory_order_acquire), 2);
        if (involuntary_switches() != preempted_before) {
          ++preempted;  // the scheduler took this thread's CPU: not a wait behind localbag
        } else if (p >= 1) {
          phase_max[p] = std::max(phase_max[p], us);
        }
        ++ops;
      }
    });
    while (!measuring.load()) std::this_thread::yield();
    std::thread exiting([&] {
      for (LocalObject& obj : objects) obj.setattr(key, 1);
      phase.store(1, std::memory_order_release);  // its cleanup starts when this returns
    });
    exiting.join();
    phase.store(2, std::memory_order_release);
    objects.clear();
    phase.store(3, std::memory_order_release);
    measurer.join();
    exit_worst.push_back(phase_max[1]);
    death_worst.push_back(phase_max[2]);
    worst.push_back(std::max(phase_max[1], phase_max[2]));
  }
  state.counters["max_stall_exit_us"] = median(exit_worst);
  state.counters["max_stall_death_us"] = median(death_worst);
  state.counters["max_stall_us"] = median(worst);
  state.counters["measured_ops"] = static_cast<double>(ops);
  state.counters["preempted_ops"] = static_cast<double>(preempted);
  const double steal_after = steal_ms();
  if (steal_before >= 0 && steal_after >= 0) state.counters["cpu_steal_ms"] = steal_after - steal_before;
}
BENCHMARK(BM_localbag_stall_behind_exit)
    ->Arg(100000)
    ->Iterations(5)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

}  // namespace
