// SPDX-License-Identifier: MIT
// localbag's lifetime costs: a fresh thread's first access (init included), thread exit with N
// touched objects, object create+destroy with 0, 1 or 2 touching threads among N live objects,
// and the memory an object and a touched (object, thread) pair take.
//
// These cases time only the localbag work, with the clock (UseManualTime), so that thread
// creation, joins and hand-offs to helper threads stay out of the figures; their iteration
// counts are fixed, to keep the whole run short.

#include <benchmark/benchmark.h>
#include <pthread.h>
#include <sched.h>

#include <algorithm>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>
#include <utility>
#include <vector>

#include <localbag/localbag.hpp>

#include "bench_common.hpp"
#include "counting_alloc.hpp"

namespace {

using bench::Clock;
using localbag::Args;
using localbag::ClassSpec;
using localbag::Dict;
using localbag::LocalObject;

// The median of per-iteration samples: robust to the odd iteration a busy machine preempts.
double median(std::vector<double> samples) {
  if (samples.empty()) return 0;
  const auto mid = samples.begin() + static_cast<std::ptrdiff_t>(samples.size() / 2);
  std::nth_element(samples.begin(), mid, samples.end());
  return *mid;
}

// A thread that runs jobs handed to it, one at a time; run() waits for the job to finish.
class Worker {
 public:
  Worker() : thread_([this] { loop(); }) {}
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;
  ~Worker() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stop_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }

  void run(std::function<void()> job) {
    std::unique_lock<std::mutex> lock(mutex_);
    job_ = std::move(job);
    done_ = false;
    cv_.notify_all();
    cv_.wait(lock, [this] { return done_; });
  }

 private:
  void loop() {
    std::unique_lock<std::mutex> lock(mutex_);
    for (;;) {
      cv_.wait(lock, [this] { return stop_ || job_ != nullptr; });
      if (job_ == nullptr) return;  // stop_
      std::function<void()> job = std::move(job_);
      job_ = nullptr;
      lock.unlock();
      job();
      job = nullptr;  // whatever the job captured dies here, before run() returns
      lock.lock();
      done_ = true;
      cv_.notify_all();
    }
  }

  std::mutex mutex_;
  std::condition_variable cv_;
  std::function<void()> job_;
  bool done_ = false;
  bool stop_ = false;
  std::thread thread_;  // last: starts after the members above exist
};

// Pins this (the benchmark) thread and a helper to two different CPUs for one case, and
// restores this thread's affinity afterwards. Without it, whether the helper shares this
// thread's core (warm caches) or not (every line of its dicts crosses cores) is up to the
// scheduler, and the figures jump between the two from run to run. With fewer than two
// allowed CPUs it does nothing, and `pinned()` says so.
class CrossCorePin {
 public:
  explicit CrossCorePin(Worker& helper) {
    if (pthread_getaffinity_np(pthread_self(), sizeof(saved_), &saved_) != 0) return;
    int cpus[2];
    int found = 0;
    for (int cpu = 0; cpu < CPU_SETSIZE && found < 2; ++cpu) {
      if (CPU_ISSET(cpu, &saved_)) cpus[found++] = cpu;
    }
    if (found < 2) return;
    if (!pin_self(cpus[0])) return;
    restore_ = true;
    helper.run([&] { pinned_ = pin_self(cpus[1]); });
  }
  CrossCorePin(const CrossCorePin&) = delete;
  CrossCorePin& operator=(const CrossCorePin&) = delete;
  ~CrossCorePin() {
    if (restore_) pthread_setaffinity_np(pthread_self(), sizeof(saved_), &saved_);
  }
  bool pinned() const { return pinned_; }

 private:
  static bool pin_self(int cpu) {
    cpu_set_t one;
    CPU_ZERO(&one);
    CPU_SET(cpu, &one);
    return pthread_setaffinity_np(pthread_self(), sizeof(one), &one) == 0;
  }
  cpu_set_t saved_{};
  bool restore_ = false;
  bool pinned_ = false;
};

// ---- First access in a fresh thread: the walkthrough's MyLocal, init included. ----
// Each iteration starts a thread whose first localbag call is `get<int>("number")` on an
// object made with color='red'; that runs init (sets `initialized`, copies the kwargs) and
// then finds `number` on the class. Only that call is timed.

void BM_localbag_first_access(benchmark::State& state) {
  localbag::Registry registry;
  auto cls = registry.define(ClassSpec("MyLocal")
                                 .attr("number", 2)
                                 .attr("initialized", false)
                                 .init([](LocalObject& self, Args, const Dict& kwargs) {
                                   self.setattr("initialized", true);
                                   self.dict().update(kwargs);
                                 }));
  const LocalObject obj(cls, {}, Dict{{"color", "red"}});
  bool ok = true;
  for (auto _ : state) {
    Clock::time_point t0, t1;
    std::thread([&] {
      t0 = Clock::now();
      int n = obj.get<int>("number");
      t1 = Clock::now();
      benchmark::DoNotOptimize(n);
      ok = ok && obj.dict().size() == 2;  // initialized, color
    }).join();
    state.SetIterationTime(bench::seconds_between(t0, t1));
  }
  if (!ok) state.SkipWithError("init did not run as expected in a fresh thread");
}
BENCHMARK(BM_localbag_first_access)->UseManualTime()->Iterations(2000);

// ---- Thread exit with N touched objects. ----
// Each iteration starts a thread that sets one attribute (an ExitProbe value) on each of N
// live objects, then returns; the time from its return to the end of its thread-exit cleanup
// is measured inside the exiting thread: from the end of the thread function to the later of
// (a) the destructor of a thread_local registered before the thread touched localbag (C++
// thread_local destructors run in reverse order of registration, so it runs after any the
// library registered) and (b) the destruction of the last probe value. The thread's OS exit
// and the join are not included. /1 shows the fixed part of the cost. Counter ns_per_object =
// median over iterations of that time / N.

struct ExitTrack {
  std::int64_t remaining = 0;    // probes still alive in the exiting thread's dicts
  Clock::time_point last_probe;  // when the last of them was destroyed
};
ExitTrack exit_track;

// A value whose destruction the thread-exit case observes. Move-only; a moved-from probe does
// not count.
struct ExitProbe {
  bool live = true;
  ExitProbe() = default;
  ExitProbe(ExitProbe&& other) noexcept : live(std::exchange(other.live, false)) {}
  ExitProbe(const ExitProbe&) = delete;
  ExitProbe& operator=(const ExitProbe&) = delete;
  ExitProbe& operator=(ExitProbe&&) = delete;
  ~ExitProbe() {
    if (live && --exit_track.remaining == 0) exit_track.last_probe = Clock::now();
  }
};

struct ExitStamp {
  Clock::time_point* out = nullptr;
  ~ExitStamp() {
    if (out != nullptr) *out = Clock::now();
  }
};
thread_local ExitStamp exit_stamp;

void BM_localbag_thread_exit(benchmark::State& state) {
  const auto n = static_cast<std::int64_t>(state.range(0));
  std::vector<LocalObject> objects(static_cast<std::size_t>(n));
  const localbag::Key probe("probe");
  std::vector<double> per_object;
  per_object.reserve(static_cast<std::size_t>(state.max_iterations));
  for (auto _ : state) {
    Clock::time_point t0, stamp;
    std::thread([&] {
      exit_stamp.out = &stamp;  // first use: registers its destructor before localbag's
      for (LocalObject& obj : objects) obj.setattr(probe, ExitProbe{});
      exit_track.remaining = n;
      t0 = Clock::now();
    }).join();
    if (exit_track.remaining != 0) {
      state.SkipWithError("thread exit did not destroy every value of the exiting thread");
      break;
    }
    const double s = bench::seconds_between(t0, std::max(stamp, exit_track.last_probe));
    state.SetIterationTime(s);
    per_object.push_back(s * 1e9 / static_cast<double>(n));
  }
  state.counters["ns_per_object"] = median(std::move(per_object));
}
BENCHMARK(BM_localbag_thread_exit)->Arg(1)->UseManualTime()->Iterations(2000);  // the fixed part
BENCHMARK(BM_localbag_thread_exit)->Arg(10)->UseManualTime()->Iterations(2000);
BENCHMARK(BM_localbag_thread_exit)->Arg(100)->UseManualTime()->Iterations(1000);
BENCHMARK(BM_localbag_thread_exit)->Arg(1000)->UseManualTime()->Iterations(200);
BENCHMARK(BM_localbag_thread_exit)->Arg(10000)->UseManualTime()->Iterations(40);

// ---- Object create + destroy. ----
// Args: {touching threads, live objects}. touching = 0: the object is created and destroyed
// with no attribute set (its only dict is the creating thread's, empty: the constructor makes
// it, as Python's __new__ does); 1: this (the creating) thread also sets an int attribute;
// 2: so does a helper thread, which stays alive, so its dict is destroyed by this thread;
// the helper runs on another CPU than this thread (see CrossCorePin; counter cross_core).
// Live objects (10 ... 10,000) exist throughout, each touched by both threads. An iteration
// makes kBatch objects; only their construction and their destruction are timed (not the
// touches). Counter ns_per_object = (construct + destroy time) per object, median over
// iterations.

constexpr int kBatch = 100;

void BM_localbag_object_create_destroy(benchmark::State& state) {
  const auto touching = state.range(0);
  const auto live_count = static_cast<std::size_t>(state.range(1));
  const localbag::Key number("number");
  Worker helper;
  const CrossCorePin pin(helper);
  std::vector<LocalObject> live(live_count);
  for (LocalObject& obj : live) obj.setattr(number, 1);
  helper.run([&] {
    for (LocalObject& obj : live) obj.setattr(number, 1);
  });
  std::vector<LocalObject> batch;
  batch.reserve(kBatch);
  std::vector<double> per_object;
  per_object.reserve(static_cast<std::size_t>(state.max_iterations));
  for (auto _ : state) {
    const Clock::time_point t0 = Clock::now();
    for (int i = 0; i < kBatch; ++i) batch.emplace_back();
    const Clock::time_point t1 = Clock::now();
    if (touching >= 1) {
      for (LocalObject& obj : batch) obj.setattr(number, 2);
    }
    if (touching >= 2) {
      helper.run([&] {
        for (LocalObject& obj : batch) obj.setattr(number, 3);
      });
    }
    const Clock::time_point t2 = Clock::now();
    batch.clear();
    const Clock::time_point t3 = Clock::now();
    const double s = bench::seconds_between(t0, t1) + bench::seconds_between(t2, t3);
    state.SetIterationTime(s);
    per_object.push_back(s * 1e9 / kBatch);
  }
  state.counters["ns_per_object"] = median(std::move(per_object));
  state.counters["cross_core"] = pin.pinned() ? 1 : 0;
}
BENCHMARK(BM_localbag_object_create_destroy)
    ->ArgsProduct({{0, 1, 2}, {10, 100, 1000, 10000}})
    ->ArgNames({"touching", "live"})
    ->UseManualTime()
    ->Iterations(200);

// ---- Memory, counted by the global allocator (counting_alloc.cpp). ----
// bytes_per_object: heap growth per `LocalObject()` made in this thread (1,000 of them). As in
// Python, the constructor creates the constructing thread's dict, so this includes one pair.
// bytes_per_object_untouched: the same, made by a thread that then exits, counted until after
// its exit cleanup: the object alone, with no (object, thread) pair left.
// bytes_first_pair: heap growth of a fresh thread's first touch (`dict()`) of one object: the
// pair plus the thread's own set-up (its state and its table, sized by the object's id).
// bytes_per_pair: heap growth per further (object, thread) pair, the same fresh thread touching
// 999 more objects, dicts empty (before entries); table growth, if any, is included.

constexpr int kMemObjects = 1000;

// Stops counting in its thread when destroyed. Used (hence registered) before the thread touches
// localbag, so it is destroyed after localbag's thread-exit cleanup: thread_local destructors
// run in reverse order of registration.
struct CountUntilExit {
  bench::AllocCounts* out = nullptr;
  ~CountUntilExit() {
    if (out != nullptr) *out = bench::stop_counting();
  }
};
thread_local CountUntilExit count_until_exit;

void BM_localbag_memory(benchmark::State& state) {
  bench::AllocCounts objects, untouched, first, pairs;
  for (auto _ : state) {
    std::vector<LocalObject> objs;
    objs.reserve(kMemObjects);
    bench::start_counting();
    for (int i = 0; i < kMemObjects; ++i) objs.emplace_back();
    objects = bench::stop_counting();

    std::vector<LocalObject> orphans;
    orphans.reserve(kMemObjects);
    std::thread([&] {
      count_until_exit.out = &untouched;
      bench::start_counting();
      for (int i = 0; i < kMemObjects; ++i) orphans.emplace_back();
    }).join();

    std::thread([&] {
      bench::start_counting();
      benchmark::DoNotOptimize(&objs[0].dict());
      first = bench::stop_counting();
      bench::start_counting();
      for (int i = 1; i < kMemObjects; ++i) benchmark::DoNotOptimize(&objs[i].dict());
      pairs = bench::stop_counting();
    }).join();
  }
  if (objects.allocations == 0 || pairs.allocations == 0) {
    state.SkipWithError("the counting allocator saw no allocation: operator new not replaced?");
  }
  const auto per = [](std::int64_t v, int n) { return static_cast<double>(v) / n; };
  state.counters["bytes_per_object"] = per(objects.net_bytes, kMemObjects);
  state.counters["allocs_per_object"] = per(objects.allocations, kMemObjects);
  state.counters["bytes_per_object_untouched"] = per(untouched.net_bytes, kMemObjects);
  state.counters["bytes_first_pair"] = per(first.net_bytes, 1);
  state.counters["bytes_per_pair"] = per(pairs.net_bytes, kMemObjects - 1);
  state.counters["allocs_per_pair"] = per(pairs.allocations, kMemObjects - 1);
  state.counters["requested_bytes_per_pair"] = per(pairs.requested_bytes, kMemObjects - 1);
}
BENCHMARK(BM_localbag_memory)->Iterations(1);

}  // namespace
