// SPDX-License-Identifier: MIT
// Contexts: a get inside an entered explicit context (the same path as a thread's own), entering
// and leaving one (against an uncontended std::mutex lock and unlock, bench_baselines.cpp), and a
// context's whole life with 0, 1 and 8 objects touched in it.

#include <benchmark/benchmark.h>

#include <string>
#include <vector>

#include <localbag/localbag.hpp>

#include "bench_common.hpp"

namespace {

using localbag::Context;
using localbag::LocalObject;

// ---- get<int>("number") in a dict of N entries, inside an entered explicit context. ----
// The same object layout as BM_localbag_get_string: the ratio to it is the cost of the context.

void BM_localbag_get_string_in_context(benchmark::State& state) {
  static auto* obj = new LocalObject();  // leaked, as shared_plain() in bench_localbag.cpp
  const Context context;
  const Context::Scope entered(context);
  int i = 0;
  for (const std::string& name : bench::attr_names(static_cast<int>(state.range(0)))) {
    obj->setattr(name, bench::value_for(name, i++));
  }
  for (auto _ : state) {
    int v = obj->get<int>("number");
    benchmark::DoNotOptimize(v);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_localbag_get_string_in_context)->Arg(8);

// ---- Context::Scope: enter an explicit context and leave it. ----

void BM_localbag_context_enter_leave(benchmark::State& state) {
  const Context context;
  for (auto _ : state) {
    const Context::Scope entered(context);
    benchmark::ClobberMemory();
  }
}
BENCHMARK(BM_localbag_context_enter_leave);

// ---- A context's life: create, enter, set one attribute on each of N objects, leave, destroy.
// The objects exist before (their ids are fixed); their dicts in the context are made on entry
// and destroyed with it, so the cost per object touched is that of a first access and its
// cleanup, and the rest is the context's own.

void BM_localbag_context_create_destroy(benchmark::State& state) {
  const auto touched = static_cast<std::size_t>(state.range(0));
  std::vector<LocalObject> objects(touched);
  const localbag::Key number("number");
  for (auto _ : state) {
    Context context;
    {
      const Context::Scope entered(context);
      for (LocalObject& obj : objects) obj.setattr(number, 1);
    }
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_localbag_context_create_destroy)->Arg(0)->Arg(1)->Arg(8);

}  // namespace
