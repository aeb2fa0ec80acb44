// SPDX-License-Identifier: MIT
// Config (localbag/config.hpp): a class default read through a configuration's object, against
// the two ways a C++ program reads reloadable configuration without localbag: a hand-rolled RCU
// map (an atomic shared_ptr to an immutable map, swapped on reload) and abseil's flags
// (`absl::GetFlag`, built when Debian's absl_flags library was found). And the same read on 2
// threads while a third reloads the configuration 0 or 100 times a second: reloads must not
// slow the readers down.
//
// The configuration has two classes: "defaults", with the 8 names of the other cases
// (bench_common.hpp, "number" = 42 last), and "service", whose base is "defaults" and which
// sets "retries" itself. Every case reads "number" of "service": a value its base defines, that
// no thread overrides.

#include <benchmark/benchmark.h>

#include <any>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>

#include <localbag/config.hpp>
#include <localbag/localbag.hpp>

#include "bench_common.hpp"

#ifdef LOCALBAG_BENCH_ABSL_FLAGS
#include <absl/flags/flag.h>

ABSL_FLAG(int, number, 42, "the flag BM_baseline_absl_getflag reads");
#endif

namespace {

using localbag::Config;
using localbag::Dict;
using localbag::LocalObject;

constexpr int kNumber = 42;  // "number" in the first version of the configuration

// The configuration's document, with "number" = `number`, a std::int64_t as a JSON file's
// integers are (the reads are get<int>, as a program reads "timeout").
Dict document(int number) {
  Dict defaults;
  int i = 0;
  for (const std::string& name : bench::attr_names(8)) {
    const int value = bench::value_for(name, i++);
    defaults.set(name, name == "number" ? localbag::Value(std::int64_t{number})
                                        : localbag::Value(value));
  }
  Dict service{{"__base__", "defaults"}, {"retries", 5}};
  return Dict{{"defaults", std::move(defaults)}, {"service", std::move(service)}};
}

// ---- A class default read by Key through a Config's object. ----
// The object is taken once, as a program keeps it; this thread has read it before the loop, so
// its record exists and its view is current.

void BM_localbag_config_read(benchmark::State& state) {
  static auto* config = new Config(document(kNumber));  // leaked, as the other cases' objects
  static const localbag::Key number("number");
  LocalObject service = config->object("service");
  if (service.get<int>(number) != kNumber) state.SkipWithError("wrong value");
  for (auto _ : state) {
    int v = service.get<int>(number);
    benchmark::DoNotOptimize(v);
  }
  if (service.peek_dict() == nullptr || !service.peek_dict()->empty()) {
    state.SkipWithError("the thread's dict should exist and hold no override");
  }
}
BENCHMARK(BM_localbag_config_read);

// ---- Hand-rolled RCU: readers load an atomic shared_ptr to an immutable map (a reload would
// store a new one), find by a std::string made once, any_cast. The map holds what the class
// view of "service" holds: 8 names. ----

using ConstMap = const bench::AnyMap;

void BM_baseline_rcu_config_read(benchmark::State& state) {
  static std::atomic<std::shared_ptr<ConstMap>> current{
      std::make_shared<bench::AnyMap>(bench::make_map(8))};
  const std::string number = "number";
  for (auto _ : state) {
    const std::shared_ptr<ConstMap> snapshot = current.load(std::memory_order_acquire);
    auto it = snapshot->find(number);
    int v = std::any_cast<int>(it->second);
    benchmark::DoNotOptimize(v);
  }
}
BENCHMARK(BM_baseline_rcu_config_read);

// ---- abseil's flags: absl::GetFlag of an int flag (one atomic word, read with acquire). ----

#ifdef LOCALBAG_BENCH_ABSL_FLAGS
void BM_baseline_absl_getflag(benchmark::State& state) {
  for (auto _ : state) {
    int v = absl::GetFlag(FLAGS_number);
    benchmark::DoNotOptimize(v);
  }
}
BENCHMARK(BM_baseline_absl_getflag);
#endif

// ---- Reads during reloads. ----
// 2 reader threads read "number" of "service" by Key (real time, items_per_second), while a
// third thread, started by thread 0 before the loop and stopped after it, reloads the
// configuration `per_second` times a second (0: it wakes as often but never reloads), switching
// "number" between 42 and 43, paced by sleep_until on the steady clock. Counters: "reloads"
// (done while the reloader ran), "reload_rate" (per second of its life) and "changes_seen" (how
// often a reader's value differed from its previous read, both readers together).

class Reloader {
 public:
  // `current`: the value of "number" now; the first reload changes it.
  Reloader(Config& config, int per_second, int current)
      : config_(config), per_second_(per_second), current_(current), thread_([this] { run(); }) {}
  Reloader(const Reloader&) = delete;
  Reloader& operator=(const Reloader&) = delete;
  ~Reloader() { stop(); }

  // Stops the thread and waits for it; returns the reloads it did.
  std::uint64_t stop() {
    stop_.store(true, std::memory_order_relaxed);
    if (thread_.joinable()) {
      thread_.join();
      seconds_ = bench::seconds_between(start_, bench::Clock::now());
    }
    return reloads_;
  }
  double seconds() const { return seconds_; }

 private:
  void run() {
    const Dict versions[2] = {document(current_ == kNumber ? kNumber + 1 : kNumber),
                              document(current_)};
    const auto period = per_second_ > 0 ? std::chrono::nanoseconds(1'000'000'000 / per_second_)
                                        : std::chrono::nanoseconds(10'000'000);
    auto next = start_;
    while (!stop_.load(std::memory_order_relaxed)) {
      next += period;
      std::this_thread::sleep_until(next);
      if (per_second_ == 0 || stop_.load(std::memory_order_relaxed)) continue;
      config_.reload(Dict(versions[reloads_++ % 2]));
    }
  }

  Config& config_;
  const int per_second_;
  const int current_;
  std::atomic<bool> stop_{false};
  std::uint64_t reloads_ = 0;  // written by the thread, read after the join
  const bench::Clock::time_point start_ = bench::Clock::now();
  double seconds_ = 0;
  std::thread thread_;  // last: starts once the members above are set
};

void BM_localbag_config_read_during_reload(benchmark::State& state) {
  static auto* config = new Config(document(kNumber));  // leaked: threads of every run use it
  static const localbag::Key number("number");
  const auto per_second = static_cast<int>(state.range(0));
  LocalObject service = config->object("service");
  int last = service.get<int>(number);  // this thread's first read: its record exists
  std::optional<Reloader> reloader;
  std::uint64_t version = 0;
  if (state.thread_index() == 0) {
    version = config->version();
    reloader.emplace(*config, per_second, last);
  }
  std::int64_t changes = 0;
  for (auto _ : state) {
    int v = service.get<int>(number);
    benchmark::DoNotOptimize(v);
    changes += v != last;
    last = v;
  }
  state.SetItemsProcessed(state.iterations());
  state.counters["changes_seen"] = static_cast<double>(changes);
  if (last != kNumber && last != kNumber + 1) state.SkipWithError("wrong value");
  if (reloader) {
    const std::uint64_t reloads = reloader->stop();
    state.counters["reloads"] = static_cast<double>(reloads);
    state.counters["reload_rate"] = static_cast<double>(reloads) / reloader->seconds();
    if (config->version() - version != reloads) state.SkipWithError("a reload failed");
    // sleep_until catches up after a late wake, so only a reloader that could not run at all
    // falls this far behind.
    if (static_cast<double>(reloads) + 1 < 0.5 * per_second * reloader->seconds()) {
      state.SkipWithError("the reloader fell behind its rate");
    }
  }
}
BENCHMARK(BM_localbag_config_read_during_reload)->Arg(0)->Arg(100)->Threads(2)->UseRealTime();

}  // namespace
