// SPDX-License-Identifier: MIT
// Differential fuzz target: bytes decode into operations over a few classes, objects and three real
// worker threads driven in lockstep (define, instantiate, get/set/del/has, ref, find, dict ops,
// class default changes, calls, thread exit, object destroy). Each operation runs on the library
// (on its worker thread) and on the plain model in fuzz_model.hpp; the outcomes (results and exact
// error texts), the Probe values alive and made/destroyed per thread, and the runtime's counts of
// objects and dicts must all agree, or the target aborts. LOCALBAG_FUZZ_TRACE=1 prints every
// operation and outcome.

#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>
#include <vector>

#include "fuzz_session.hpp"
#include "localbag/localbag.hpp"

namespace lbfuzz {

using localbag::Args;
using localbag::Dict;
using localbag::LocalObject;
using localbag::Value;

constexpr int kMaxOps = 200;  // operations per input

void init_fn(LocalObject& self, Args args, const Dict& kwargs) {
  self.setattr("inited", args.empty() ? Value(1) : args[0]);
  if (const Value* c = kwargs.find("color")) self.setattr("color", *c);
  if (auto fail = self.try_get<int>("fail"); fail && *fail == 1) {
    throw localbag::ValueError("init refused");
  }
}

Session::Session(const std::uint8_t* data, std::size_t size)
    : in_(data, size), trace_(std::getenv("LOCALBAG_FUZZ_TRACE") != nullptr) {}

void Session::run() {
  for (long& n : m_.net) n = 0;
  for (int w = 0; w <= kThreads; ++w) g_made[w] = g_destroyed[w] = 0;
  base_ = localbag::runtime_stats();
  for (int w = 0; w < kThreads; ++w) workers_[w].start(w);
  for (op_ = 0; op_ < kMaxOps && !in_.empty(); ++op_) step();
  for (int c = 0; c < kCells; ++c) {  // the end: drop every object on worker 0, then exit all
    const int at = c;
    exec(
        0, "final destroy", [&] { return cells_[at].reset(), ok(); },
        [&] { return m_.release_cell(at, 0), ok(); });
  }
  for (int w = 0; w < kThreads; ++w) {
    workers_[w].stop();
    m_.thread_exit(w);
  }
  check_counts("the end");
  const localbag::RuntimeStats now = localbag::runtime_stats();
  if (g_live.load() != 0 || now.live_threads != base_.live_threads) {
    fail("the end", "leftovers: probes=" + std::to_string(g_live.load()) +
                        " threads=" + std::to_string(now.live_threads));
  }
}

void Session::fail(const std::string& what, const std::string& detail) {
  std::fprintf(stderr, "localbag-fuzz: DIVERGENCE at op %d (%s): %s\n", op_, what.c_str(),
               detail.c_str());
  std::fflush(stderr);
  std::abort();
}
void Session::check_counts(const std::string& what) {
  const localbag::RuntimeStats s = localbag::runtime_stats();
  if (g_live.load() != m_.live_probes()) {
    fail(what, "probes alive " + std::to_string(g_live.load()) + ", model " +
                   std::to_string(m_.live_probes()));
  }
  for (int w = 0; w <= kThreads; ++w) {
    if (g_made[w] - g_destroyed[w] != m_.net[w]) {
      fail(what, "probes made minus destroyed on thread " + std::to_string(w) + ": " +
                     std::to_string(g_made[w] - g_destroyed[w]) + ", model " +
                     std::to_string(m_.net[w]));
    }
  }
  if (s.live_objects - base_.live_objects != static_cast<std::uint64_t>(m_.live_objects()) ||
      s.live_records - base_.live_records != static_cast<std::uint64_t>(m_.live_dicts())) {
    fail(what, "runtime counts objects=" + std::to_string(s.live_objects - base_.live_objects) +
                   " dicts=" + std::to_string(s.live_records - base_.live_records) + ", model " +
                   std::to_string(m_.live_objects()) + " and " + std::to_string(m_.live_dicts()));
  }
}

void Session::step() {
  const int op = in_.byte() % 28;
  const int t = in_.byte() % kThreads;
  if (op == 0) return define(t);
  if (op == 1) return instantiate(t);
  if (op >= 20 && op <= 22) return class_op(t, op);
  if (op == 23) {
    workers_[t].stop();
    workers_[t].start(t);
    m_.thread_exit(t);
    return check_counts("thread " + std::to_string(t) + " exit");
  }
  if (op == 27) return registry_op(t);
  const int c = in_.byte() % kCells;
  if (m_.cells[c] < 0) return;  // an empty cell: nothing to do
  if (op == 24) {
    return exec(
        t, "destroy cell " + std::to_string(c), [&] { return cells_[c].reset(), ok(); },
        [&] { return m_.release_cell(c, t), ok(); });
  }
  if (op == 25) return copy_cell(t, c);
  object_op(t, op, c);
}

}  // namespace lbfuzz

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  lbfuzz::Session session(data, size);
  session.run();
  return 0;
}
