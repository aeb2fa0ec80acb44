// SPDX-License-Identifier: MIT
#pragma once
// The fuzz session: one input's run, the library side (a registry, object handles, workers)
// beside the model, and the comparison of every operation's outcome.

#include <cstdint>
#include <cstdio>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "fuzz_model.hpp"
#include "fuzz_support.hpp"
#include "localbag/localbag.hpp"

namespace lbfuzz {

void init_fn(localbag::LocalObject& self, localbag::Args args, const localbag::Dict& kwargs);

class Session {
 public:
  Session(const std::uint8_t* data, std::size_t size);
  void run();

 private:
  [[noreturn]] void fail(const std::string& what, const std::string& detail);
  void check_counts(const std::string& what);

  // Runs `real` on worker `t` (exceptions become their text) and `model`, and compares.
  template <class Real, class Expected>
  void exec(int t, const std::string& what, Real&& real, Expected&& model) {
    std::string got;
    const std::function<void()> task = [&] {
      try {
        got = real();
      } catch (const localbag::Error& e) {
        got = e.to_string();
      } catch (const std::exception& e) {
        got = std::string("unexpected exception: ") + e.what();
      }
    };
    workers_[t].run(task);
    const std::string want = model();
    const std::string label = "thread " + std::to_string(t) + " " + what;
    if (trace_) std::fprintf(stderr, "op %d: %s -> %s\n", op_, label.c_str(), got.c_str());
    if (got != want) fail(label, "library gave [" + got + "], model [" + want + "]");
    check_counts(label);
  }

  // ---- decoding helpers ----
  int name() { return in_.byte() % kNameCount; }
  int class_name_index() { return in_.byte() % 6; }
  std::string describe(const MVal& v) { return v.repr(); }
  localbag::LocalObject& obj(int c) { return *cells_[c]; }

  void step();

  void define(int t);
  void instantiate(int t);
  void class_op(int t, int op);
  void registry_op(int t);
  void copy_cell(int t, int c);
  void object_op(int t, int op, int c);
  void dict_op(int t, int op, int c);
  std::string model_call(int o, int t, int n, const std::vector<MVal>& args);

  Input in_;
  bool trace_;
  int op_ = 0;
  Model m_;
  localbag::Registry registry_;
  std::optional<localbag::LocalObject> cells_[kCells];
  Worker workers_[kThreads];
  localbag::RuntimeStats base_{};
};

}  // namespace lbfuzz
