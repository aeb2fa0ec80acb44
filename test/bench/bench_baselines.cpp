// SPDX-License-Identifier: MIT
// Baselines: the ways to keep per-thread state that localbag competes with, each doing the same
// work as the localbag case beside it (bench_localbag.cpp): read an int stored under the name
// "number" in a per-thread map of 8 entries, "number" inserted last.

#include <benchmark/benchmark.h>

#include <any>
#include <functional>
#include <mutex>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <utility>

#include <absl/container/flat_hash_map.h>
#include <absl/strings/string_view.h>
#include <tbb/enumerable_thread_specific.h>
#include <boost/thread/tss.hpp>

#include "bench_common.hpp"

namespace {

using bench::AnyMap;

// ---- The physical floor: a raw thread_local int. ----

thread_local int tls_int = 42;

void BM_baseline_thread_local_int(benchmark::State& state) {
  for (auto _ : state) {
    int v = tls_int;  // DoNotOptimize's memory clobber forces a fresh load every iteration
    benchmark::DoNotOptimize(v);
  }
}
BENCHMARK(BM_baseline_thread_local_int);

// ---- An uncontended std::mutex, locked and unlocked: what entering and leaving a context is
// measured against. ----

void BM_baseline_mutex_lock_unlock(benchmark::State& state) {
  std::mutex mutex;
  for (auto _ : state) {
    const std::lock_guard lock(mutex);
    benchmark::ClobberMemory();
  }
}
BENCHMARK(BM_baseline_mutex_lock_unlock);

// ---- Hand-rolled: thread_local unordered_map<string, any>, find by literal, any_cast. ----

thread_local AnyMap tls_map;

void BM_baseline_tls_map_get(benchmark::State& state) {
  tls_map = bench::make_map(8);
  for (auto _ : state) {
    auto it = tls_map.find("number");
    int v = std::any_cast<int>(it->second);
    benchmark::DoNotOptimize(v);
  }
}
BENCHMARK(BM_baseline_tls_map_get);

// ---- The best map a careful engineer writes by hand: abseil's flat_hash_map (a Swiss table),
// found by absl::string_view without building a std::string (heterogeneous lookup; Debian builds
// abseil with its own string_view, not std::string_view). ----

thread_local absl::flat_hash_map<std::string, std::any> tls_absl_map;

void BM_baseline_absl_map_get(benchmark::State& state) {
  tls_absl_map.clear();
  int i = 0;
  for (const std::string& name : bench::attr_names(8)) {
    tls_absl_map.emplace(name, bench::value_for(name, i++));
  }
  for (auto _ : state) {
    auto it = tls_absl_map.find(absl::string_view("number"));
    int v = std::any_cast<int>(it->second);
    benchmark::DoNotOptimize(v);
  }
}
BENCHMARK(BM_baseline_absl_map_get);

// ---- The hand-rolled map's insert of a new key, then its erase (set_del_new's work). ----

void BM_baseline_tls_map_set_del(benchmark::State& state) {
  tls_map = bench::make_map(8);
  for (auto _ : state) {
    tls_map["fresh"] = 1;
    tls_map.erase("fresh");
    benchmark::ClobberMemory();
  }
  if (tls_map.size() != 8) state.SkipWithError("set+del left state");
}
BENCHMARK(BM_baseline_tls_map_set_del);

// ---- A method by hand (call_method's work): find a std::function in a per-thread map of 8,
// call it with the number. ----

thread_local std::unordered_map<std::string, std::function<int(int)>> tls_function_map;

void BM_baseline_tls_map_call(benchmark::State& state) {
  tls_function_map.clear();
  for (const std::string& name : bench::attr_names(8)) {
    tls_function_map.emplace(name == "number" ? std::string("squared") : name,
                             [](int n) { return n + 1; });
  }
  tls_function_map["squared"] = [](int n) { return n * n; };
  int number = 42;
  for (auto _ : state) {
    benchmark::DoNotOptimize(number);
    auto it = tls_function_map.find("squared");
    int v = it->second(number);
    benchmark::DoNotOptimize(v);
  }
}
BENCHMARK(BM_baseline_tls_map_call);

// ---- Boost.Thread: thread_specific_ptr<int> get and read; thread_specific_ptr of the map. ----

boost::thread_specific_ptr<int>& boost_int() {
  static auto* ptr = new boost::thread_specific_ptr<int>();  // leaked: outlives every thread
  return *ptr;
}

boost::thread_specific_ptr<AnyMap>& boost_map() {
  static auto* ptr = new boost::thread_specific_ptr<AnyMap>();
  return *ptr;
}

void BM_baseline_boost_tss_get(benchmark::State& state) {
  boost::thread_specific_ptr<int>& tss = boost_int();
  if (tss.get() == nullptr) tss.reset(new int(42));
  for (auto _ : state) {
    int v = *tss.get();
    benchmark::DoNotOptimize(v);
  }
}
BENCHMARK(BM_baseline_boost_tss_get);

void BM_baseline_boost_tss_map_get(benchmark::State& state) {
  boost::thread_specific_ptr<AnyMap>& tss = boost_map();
  tss.reset(new AnyMap(bench::make_map(8)));
  for (auto _ : state) {
    AnyMap& map = *tss.get();
    auto it = map.find("number");
    int v = std::any_cast<int>(it->second);
    benchmark::DoNotOptimize(v);
  }
}
BENCHMARK(BM_baseline_boost_tss_map_get);

// ---- oneTBB: enumerable_thread_specific of the map. ----

void BM_baseline_tbb_ets_map_get(benchmark::State& state) {
  tbb::enumerable_thread_specific<AnyMap> ets;
  ets.local() = bench::make_map(8);
  for (auto _ : state) {
    AnyMap& map = ets.local();
    auto it = map.find("number");
    int v = std::any_cast<int>(it->second);
    benchmark::DoNotOptimize(v);
  }
}
BENCHMARK(BM_baseline_tbb_ets_map_get);

// ---- The design of CPython's pure-Python _threading_local module, ported to C++. ----
//
// Each object owns one recursive lock (_threading_local's RLock), taken around EVERY attribute access.
// Under it, `patch` finds the calling thread's dict (_threading_local keeps it in the thread's
// `__dict__` under the object's key; the port keeps the dicts beside the object, keyed by
// thread id) and, on the thread's first access, creates it and runs init in that thread.
// The attribute is then looked up in that dict, then in the class attributes.
// (_threading_local drops a thread's dict with the thread object; this port keeps it until the object
// dies, which changes nothing for the timed accesses.)
class LockPerAccessLocal {
 public:
  using Init = std::function<void(LockPerAccessLocal&)>;

  explicit LockPerAccessLocal(const AnyMap* class_attrs = nullptr, Init init = {})
      : class_attrs_(class_attrs), init_(std::move(init)) {
    std::lock_guard<std::recursive_mutex> guard(lock_);
    dicts_.emplace(std::this_thread::get_id(), AnyMap{});  // __new__ makes the creator's dict
    if (init_) init_(*this);                               // then cls.__init__ runs once
  }

  template <class T>
  T get(std::string_view name) {
    std::lock_guard<std::recursive_mutex> guard(lock_);
    const std::string key(name);
    AnyMap& dict = patch();
    if (auto it = dict.find(key); it != dict.end()) return std::any_cast<T>(it->second);
    if (class_attrs_ != nullptr) {
      if (auto it = class_attrs_->find(key); it != class_attrs_->end()) {
        return std::any_cast<T>(it->second);
      }
    }
    throw std::out_of_range("AttributeError: " + key);
  }

  void set(std::string_view name, std::any value) {
    std::lock_guard<std::recursive_mutex> guard(lock_);
    patch().insert_or_assign(std::string(name), std::move(value));
  }

 private:
  AnyMap& patch() {
    const std::thread::id me = std::this_thread::get_id();
    auto it = dicts_.find(me);
    if (it == dicts_.end()) {
      it = dicts_.emplace(me, AnyMap{}).first;
      if (init_) init_(*this);  // re-enters the (recursive) lock, finds the new dict
    }
    return it->second;
  }

  std::recursive_mutex lock_;
  std::unordered_map<std::thread::id, AnyMap> dicts_;
  const AnyMap* class_attrs_;
  Init init_;
};

LockPerAccessLocal& shared_lock_per_access_local() {
  static auto* obj = new LockPerAccessLocal();  // leaked: shared by every benchmark thread
  return *obj;
}

void BM_baseline_lock_per_access_get(benchmark::State& state) {
  LockPerAccessLocal& obj = shared_lock_per_access_local();
  int i = 0;
  for (const std::string& name : bench::attr_names(8)) obj.set(name, bench::value_for(name, i++));
  for (auto _ : state) {
    int v = obj.get<int>("number");
    benchmark::DoNotOptimize(v);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_baseline_lock_per_access_get)->Threads(1)->Threads(2)->UseRealTime();

}  // namespace
