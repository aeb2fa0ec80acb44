// SPDX-License-Identifier: MIT
// localbag's hot path: the same work as the baselines (bench_baselines.cpp) through a
// LocalObject, plus the other per-access operations (set, set+del, hasattr miss, method call).
// Every case runs in a thread whose dict for the object already exists (the steady state);
// first access, thread exit and object lifetime are in bench_lifetime.cpp.

#include <benchmark/benchmark.h>

#include <algorithm>
#include <cstddef>
#include <string>
#include <vector>

#include <localbag/localbag.hpp>

#include "bench_common.hpp"

namespace {

using localbag::Args;
using localbag::ClassSpec;
using localbag::Dict;
using localbag::LocalObject;
using localbag::Value;

// Sets this thread's attributes of `obj` to exactly `names` (as bench::attr_names gives them).
void fill(LocalObject& obj, const std::vector<std::string>& names) {
  obj.dict().clear();
  int i = 0;
  for (const std::string& name : names) obj.setattr(name, bench::value_for(name, i++));
}

// The 8 names without "number": the dict of the class-default cases, so that their lookup
// misses a dict of 7 entries before reaching the class.
std::vector<std::string> names7() {
  std::vector<std::string> names = bench::attr_names(8);
  names.pop_back();
  return names;
}

// One `threading.local()` shared by every benchmark thread (each fills its own dict). Leaked on
// purpose, so no benchmark thread can outlive it.
LocalObject& shared_plain() {
  static auto* obj = new LocalObject();
  return *obj;
}

// ---- get<int>("number"): a hit by string literal in a dict of N entries ("number" last). ----
// With ->Threads(1)->Threads(2) (real time): the same, with 1 and 2 threads on one object,
// reporting items_per_second (the per-thread dicts must not share written cache lines).

void BM_localbag_get_string(benchmark::State& state) {
  LocalObject& obj = shared_plain();
  fill(obj, bench::attr_names(static_cast<int>(state.range(0))));
  for (auto _ : state) {
    int v = obj.get<int>("number");
    benchmark::DoNotOptimize(v);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_localbag_get_string)->Arg(1)->Arg(8)->Arg(64);
BENCHMARK(BM_localbag_get_string)->Arg(8)->Threads(1)->Threads(2)->UseRealTime();

// ---- get<int>(Key): the same hit by a pre-hashed localbag::Key, 8 entries. ----

void BM_localbag_get_key(benchmark::State& state) {
  LocalObject& obj = shared_plain();
  fill(obj, bench::attr_names(8));
  const localbag::Key number("number");
  for (auto _ : state) {
    int v = obj.get<int>(number);
    benchmark::DoNotOptimize(v);
  }
}
BENCHMARK(BM_localbag_get_key);

// ---- get<int>(Key) with one Key shared by threads whose dicts differ in layout. ----
// One `static const Key` for "number", used by every thread; each thread's dict holds 8 names
// with "number" at a different position (thread i puts 3 * i other names first). Run with
// ->Threads(1)->Threads(2) (real time), reporting items_per_second: the gets must scale, so
// nothing a get does may write memory shared by the threads (such as a position cached in the
// Key, which the two layouts would keep overwriting).

LocalObject& shared_mixed() {
  static auto* obj = new LocalObject();  // leaked, as shared_plain()
  return *obj;
}

void BM_localbag_get_key_mixed_layouts(benchmark::State& state) {
  static const localbag::Key number("number");
  LocalObject& obj = shared_mixed();
  std::vector<std::string> names = names7();
  const auto first = static_cast<std::ptrdiff_t>(std::min(3 * state.thread_index(), 7));
  names.insert(names.begin() + first, "number");
  fill(obj, names);
  for (auto _ : state) {
    int v = obj.get<int>(number);
    benchmark::DoNotOptimize(v);
  }
  state.SetItemsProcessed(state.iterations());
  if (obj.get<int>(number) != 42) state.SkipWithError("wrong value");
}
BENCHMARK(BM_localbag_get_key_mixed_layouts)->Threads(1)->Threads(2)->UseRealTime();

// ---- get<int>("number") falling back to a class attribute. ----
// /1: the object's class defines `number`; /3: it is defined two bases up (C3 -> C2 -> C1).
// This thread's dict holds the other 7 names, so the lookup first misses a dict of 7.

void BM_localbag_get_default(benchmark::State& state) {
  localbag::Registry registry;
  registry.define(ClassSpec("C1").attr("number", 2));
  registry.define(ClassSpec("C2").base("C1"));
  registry.define(ClassSpec("C3").base("C2"));
  LocalObject obj = registry.instantiate(state.range(0) == 1 ? "C1" : "C3");
  fill(obj, names7());
  for (auto _ : state) {
    int v = obj.get<int>("number");
    benchmark::DoNotOptimize(v);
  }
}
BENCHMARK(BM_localbag_get_default)->Arg(1)->Arg(3);

// ---- setattr("number", int) on an existing int attribute, 8 entries. ----

void BM_localbag_set_existing(benchmark::State& state) {
  LocalObject& obj = shared_plain();
  fill(obj, bench::attr_names(8));
  int i = 0;
  for (auto _ : state) {
    obj.setattr("number", i++);
    benchmark::ClobberMemory();
  }
  if (obj.get<int>("number") != i - 1) state.SkipWithError("setattr lost a value");
}
BENCHMARK(BM_localbag_set_existing);

// ---- setattr of a new name then delattr of it, 8 entries (one iteration = both). ----

void BM_localbag_set_del_new(benchmark::State& state) {
  LocalObject& obj = shared_plain();
  fill(obj, bench::attr_names(8));
  for (auto _ : state) {
    obj.setattr("fresh", 1);
    obj.delattr("fresh");
    benchmark::ClobberMemory();
  }
  if (obj.hasattr("fresh") || obj.dict().size() != 8) state.SkipWithError("set+del left state");
}
BENCHMARK(BM_localbag_set_del_new);

// ---- hasattr of an absent name: misses the dict of 8 and the class chain of `local`. ----

void BM_localbag_hasattr_miss(benchmark::State& state) {
  LocalObject& obj = shared_plain();
  fill(obj, bench::attr_names(8));
  for (auto _ : state) {
    bool has = obj.hasattr("missing");
    benchmark::DoNotOptimize(has);
  }
}
BENCHMARK(BM_localbag_hasattr_miss);

// ---- call("squared"): the walkthrough's method, `return self.number ** 2`, number in the dict. ----

void BM_localbag_call_method(benchmark::State& state) {
  localbag::Registry registry;
  registry.define(ClassSpec("MyLocal")
                      .attr("number", 2)
                      .method("squared", [](LocalObject& self, Args) -> Value {
                        const int n = self.get<int>("number");
                        return n * n;
                      }));
  LocalObject obj = registry.instantiate("MyLocal");
  fill(obj, bench::attr_names(8));
  for (auto _ : state) {
    Value v = obj.call("squared");
    benchmark::DoNotOptimize(v);
  }
  if (obj.call("squared").get<int>() != 42 * 42) state.SkipWithError("wrong method result");
}
BENCHMARK(BM_localbag_call_method);

}  // namespace
