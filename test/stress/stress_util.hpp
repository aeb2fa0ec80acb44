// SPDX-License-Identifier: MIT
#pragma once
// Shared helpers of the stress suite: the localbag names used unqualified, the seed
// (LOCALBAG_SEED), the scale (LOCALBAG_STRESS_SCALE), a collector of failures seen on worker
// threads, the figures each test prints, the runtime counters' leak check, and the ledger of
// value constructions and destructions by thread (from the test support library).

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "instance_tracker.hpp"
#include "localbag/localbag.hpp"

namespace lbstress {

// The localbag names the stress tests use unqualified.
using localbag::Args;
using localbag::AttributeError;
using localbag::ClassRef;
using localbag::ClassSpec;
using localbag::Dict;
using localbag::Key;
using localbag::List;
using localbag::LocalObject;
using localbag::Registry;
using localbag::Value;

// The seed of every random choice: LOCALBAG_SEED when set, else a fixed default, so that a run
// is reproducible (thread scheduling aside) and a failing seed can be replayed.
inline std::uint64_t seed() {
  static const std::uint64_t value = [] {
    const char* env = std::getenv("LOCALBAG_SEED");
    return env != nullptr && *env != '\0' ? std::strtoull(env, nullptr, 0) : 20240917ull;
  }();
  return value;
}

// LOCALBAG_STRESS_SCALE (default 1) multiplies every count; the TSan job sets 0.25.
inline double scale() {
  static const double value = [] {
    const char* env = std::getenv("LOCALBAG_STRESS_SCALE");
    const double s = env != nullptr && *env != '\0' ? std::strtod(env, nullptr) : 1.0;
    return std::clamp(s > 0 ? s : 1.0, 0.01, 100.0);
  }();
  return value;
}

// `n` scaled, at least `minimum`.
inline std::uint64_t scaled(std::uint64_t n, std::uint64_t minimum = 1) {
  return std::max<std::uint64_t>(minimum,
                                 static_cast<std::uint64_t>(static_cast<double>(n) * scale()));
}

// A seed for one stream of random numbers (one thread, one round): splitmix64 of the run's seed.
inline std::uint64_t stream_seed(std::uint64_t stream) {
  std::uint64_t z = seed() + 0x9e3779b97f4a7c15ull * (stream + 1);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

inline void print_header(const char* test) {
  std::printf("[stress] %s: seed=%llu (LOCALBAG_SEED) scale=%g (LOCALBAG_STRESS_SCALE)\n", test,
              static_cast<unsigned long long>(seed()), scale());
  std::fflush(stdout);
}

// Figures, one line per test, for docs/reliability.md.
inline void print_figures(const char* test, const std::string& figures) {
  std::printf("[figures] %s: %s\n", test, figures.c_str());
  std::fflush(stdout);
}

// Failures seen on other threads: counted, and the first few kept for the report.
class Failures {
 public:
  void add(std::string message) {
    count_.fetch_add(1, std::memory_order_relaxed);
    std::lock_guard lock(mutex_);
    if (first_.size() < 10) first_.push_back(std::move(message));
  }
  std::uint64_t count() const { return count_.load(); }
  std::string report() const {
    std::lock_guard lock(mutex_);
    std::string out = std::to_string(count()) + " failure(s)";
    for (const std::string& m : first_) out += "\n  " + m;
    return out;
  }

 private:
  std::atomic<std::uint64_t> count_{0};
  mutable std::mutex mutex_;
  std::vector<std::string> first_;
};

// Checks that the runtime is back where it was: no object, no (thread, object) dict and no
// thread state left behind by the test.
inline void expect_runtime_back_to(const localbag::RuntimeStats& before) {
  const localbag::RuntimeStats now = localbag::runtime_stats();
  EXPECT_EQ(now.live_objects, before.live_objects) << "LocalObjects leaked";
  EXPECT_EQ(now.live_records, before.live_records) << "per-thread dicts leaked";
  EXPECT_EQ(now.live_threads, before.live_threads) << "thread states leaked";
}

// Registers the calling thread with the runtime (its state lives until it exits), so that a
// baseline taken afterwards does not count it.
inline localbag::RuntimeStats baseline() {
  { localbag::LocalObject touch; }
  return localbag::runtime_stats();
}

// ---- The destructor ledger (test/support/instance_tracker.hpp) ------------------------------

using localbag::test::Copies;
using localbag::test::Ledger;
using localbag::test::thread_serial;
using localbag::test::Tracked;

// A ledger with room for `values` values, every one with an entry of its own: a copy is a new
// value, and a moved-from Tracked records nothing.
inline localbag::test::LedgerOptions own_entries(int values) {
  return {.entries = values, .copies = Copies::kOwnEntry, .check_addresses = false};
}

// Every value the ledger handed a tag to was destroyed, exactly once.
inline void expect_each_destroyed_once(const Ledger& ledger) {
  for (int id = 0; id < ledger.size(); ++id) {
    ASSERT_EQ(ledger.at(id).destroyed.load(), 1u) << "value " << id;
  }
}

}  // namespace lbstress
