// SPDX-License-Identifier: MIT
#pragma once
// The fixture of the context tests (test_context.cpp, test_context_lifetime.cpp): every test ends
// with what it made gone (values in the ledger, contexts, dicts, objects, threads), and the
// RuntimeError texts of entering a context.

#include <gtest/gtest.h>

#include <cstdint>
#include <thread>

#include "localbag/local_object.hpp"
#include "localbag/stats.hpp"
#include "test_support.hpp"

namespace localbag {

// The owner of each Tracked tag records the thread that destroyed it; copies share the tag
// without owning it, and are counted in live_tracked().
using test::default_ledger;
using test::destroyed_on;
using test::Ids;
using test::live_tracked;
using test::MoveOnly;
using test::Tracked;

const char* const kEnteredHere = "cannot enter context: it is already entered on this thread";
const char* const kEnteredElsewhere =
    "cannot enter context: it is already entered on another thread";
const char* const kMovedFrom = "cannot enter a moved-from context";

// Every test ends with what it made gone: values, contexts, dicts, objects, threads.
class Contexts : public ::testing::Test {
 protected:
  void SetUp() override {
    default_ledger().forget_entries();  // each test uses tags from 0 again
    live_at_start_ = live_tracked();
    warm_.setattr("x", 1);  // this thread is registered with the runtime before the baseline
    before_ = runtime_stats();
  }
  void TearDown() override {
    EXPECT_EQ(live_tracked(), live_at_start_) << "values leaked";
    EXPECT_EQ(default_ledger().bad_destructions(), 0) << "values destroyed twice";
    const RuntimeStats after = runtime_stats();
    EXPECT_EQ(after.live_contexts, before_.live_contexts) << "contexts leaked";
    EXPECT_EQ(after.live_records, before_.live_records) << "dicts leaked";
    EXPECT_EQ(after.live_objects, before_.live_objects) << "objects leaked";
    EXPECT_EQ(after.live_threads, before_.live_threads) << "thread states leaked";
  }
  std::uint64_t live_contexts() const { return runtime_stats().live_contexts; }

  const Ids me_{std::this_thread::get_id()};
  LocalObject warm_;
  RuntimeStats before_{};
  long live_at_start_ = 0;
};

}  // namespace localbag
