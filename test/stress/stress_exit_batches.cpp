// SPDX-License-Identifier: MIT
// Stress: thread exit and object death in batches. A thread that exits with thousands of
// records, and an object that dies with many, unlink them a batch at a time and release the
// runtime mutex between batches, so that other threads' creates, first accesses and destroys are
// never held up for long (BM_localbag_stall_behind_exit). Between two batches everything may
// change: other threads attach records, objects that the exiting thread touched die (and take
// their records from under it), and new objects reuse the dead ones' ids.
//
// Each round, threads with kObjects records each exit at the moment this thread destroys the
// objects they touched, while churn threads create, first-access and destroy objects of their
// own and first-access the same objects through handles of their own (so some of those objects
// die on a churn thread). Every value an exiting thread stored is destroyed exactly once, on
// the exiting thread or on the thread that dropped the object's last handle; every value the
// churn threads stored, exactly once in all.

#include <gtest/gtest.h>

#include <atomic>
#include <cstdint>
#include <latch>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "localbag/localbag.hpp"
#include "stress_util.hpp"

namespace lbstress {
namespace {

constexpr int kObjects = 1500;  // records per exiting thread: about six batches
constexpr int kExiting = 2;
constexpr int kChurn = 2;  // churn_serial[0], [1] below

TEST(StressExitBatches, ThreadsWithManyRecordsExitWhileOthersChurn) {
  print_header("exit-batches");
  const localbag::RuntimeStats before = baseline();
  const int rounds = static_cast<int>(scaled(40, 4));
  Ledger ledger(own_entries(rounds * kExiting * (kObjects + kObjects / 10) + 100));
  Ledger churned;  // counts only: the churn threads' values
  Failures failures;
  std::atomic<std::uint64_t> churn_ops{0};
  std::uint64_t exit_won = 0, death_won = 0;

  for (int round = 0; round < rounds; ++round) {
    std::vector<LocalObject> pool(kObjects);
    std::vector<std::vector<int>> tags(kExiting);
    std::vector<std::uint32_t> exiting_serial(kExiting);
    std::vector<std::uint32_t> churn_serial(kChurn);
    std::latch stored(kExiting);
    std::latch go(1);
    std::atomic<bool> stop{false};

    std::vector<std::thread> churn;
    for (int c = 0; c < kChurn; ++c) {
      // Every seventh pool object, by handles of the churn thread's own.
      std::vector<LocalObject> mine;
      for (int i = c; i < kObjects; i += 7) mine.push_back(pool[static_cast<std::size_t>(i)]);
      churn.emplace_back([&, c, mine = std::move(mine)]() mutable {
        churn_serial[c] = thread_serial();
        std::mt19937_64 rng(stream_seed(static_cast<std::uint64_t>(round) * 16 + c));
        std::size_t next = 0;
        while (!stop.load(std::memory_order_relaxed)) {
          {
            LocalObject fresh;  // create + first access, then destroy
            fresh.setattr("v", Tracked(churned));
            fresh.setattr("n", static_cast<int>(rng() % 1000));
          }
          if (next < mine.size()) {  // a first access to a pool object
            LocalObject& obj = mine[next++];
            obj.setattr("c", Tracked(churned));
            if (obj.ref<Tracked>("c").moved_from()) failures.add("churn: moved-from value");
          }
          if (rng() % 64 == 0 && !mine.empty()) mine.pop_back();  // may be the last handle
          churn_ops.fetch_add(1, std::memory_order_relaxed);
        }
      });
    }

    std::vector<std::thread> exiting;
    for (int t = 0; t < kExiting; ++t) {
      exiting.emplace_back([&, t] {
        exiting_serial[t] = thread_serial();
        for (int i = 0; i < kObjects; ++i) {
          LocalObject& obj = pool[static_cast<std::size_t>(i)];
          obj.setattr("e", Tracked(ledger));
          tags[t].push_back(obj.ref<Tracked>("e").tag());
          if (i % 10 == 0) {
            List list;
            list.emplace_back(Tracked(ledger));  // no copy: one tag
            obj.setattr("l", std::move(list));
            tags[t].push_back(obj.ref<List>("l").front().get<Tracked>().tag());
          }
        }
        stored.count_down();
        go.wait();
      });  // exits with kObjects records: its cleanup runs in batches
    }
    stored.wait();
    const std::uint32_t destroyer = thread_serial();
    go.count_down();
    pool.clear();  // the objects die while the threads that touched them exit
    for (std::thread& t : exiting) t.join();
    stop = true;
    for (std::thread& t : churn) t.join();

    for (int t = 0; t < kExiting; ++t) {
      for (int tag : tags[t]) {
        const Ledger::Entry& e = ledger.at(tag);
        ASSERT_EQ(e.destroyed.load(), 1u) << "round " << round << " value " << tag;
        const std::uint32_t on = e.destroyed_on.load();
        if (on == exiting_serial[t]) {
          ++exit_won;
        } else {
          ++death_won;  // on this thread, or on a churn thread that held the last handle
          ASSERT_TRUE(on == destroyer || on == churn_serial[0] || on == churn_serial[1])
              << "round " << round << ": value " << tag << " destroyed on thread " << on;
        }
      }
    }
  }
  ASSERT_NO_FATAL_FAILURE(expect_each_destroyed_once(ledger));
  EXPECT_EQ(churned.live(), 0) << "churn values not destroyed, or destroyed twice";
  EXPECT_EQ(failures.count(), 0u) << failures.report();
  print_figures("exit-batches",
                "rounds=" + std::to_string(rounds) + " exiting threads=" +
                    std::to_string(rounds * kExiting) + " records each=" +
                    std::to_string(kObjects) + " values tracked=" + std::to_string(ledger.size()) +
                    " destroyed by exit=" + std::to_string(exit_won) + " destroyed by death=" +
                    std::to_string(death_won) + " churn ops=" + std::to_string(churn_ops.load()) +
                    " churn values=" + std::to_string(churned.constructed()));
  expect_runtime_back_to(before);
}

}  // namespace
}  // namespace lbstress
