// SPDX-License-Identifier: MIT
// Stress: the destructor ledger and destroy-while-exiting. Every value stored in a thread's dict
// is recorded in a ledger when it is made and when it is destroyed, with the thread it happened
// on. The docs promise: when a thread exits, its values are destroyed on that thread; when an
// object dies, every thread's values for it are destroyed on the thread that dropped the last
// reference; every value exactly once. The race test makes threads exit at the very moment an
// object they touched is destroyed, thousands of times.

#include <gtest/gtest.h>

#include <barrier>
#include <latch>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "localbag/localbag.hpp"
#include "stress_util.hpp"

namespace lbstress {
namespace {

Ledger* g_ledger = nullptr;

// A class whose init stores a tracked value in every thread, and with a slot.
ClassRef tracked_class(Registry& registry) {
  return registry.define(ClassSpec("Tracking")
                             .init([](LocalObject& self, Args, const Dict&) {
                               self.setattr("from_init", Tracked(*g_ledger));
                             })
                             .slots({"shared"}));
}

int id_of(LocalObject& obj, const char* name) { return obj.ref<Tracked>(name).tag(); }

// Stores tracked values in `obj` for this thread (plain, in a list, in a nested dict, and one
// overwritten at once) and returns the ids of those that stay.
std::vector<int> store_values(LocalObject& obj, Ledger& ledger) {
  std::vector<int> ids;
  obj.setattr("v", Tracked(ledger));
  const int overwritten = id_of(obj, "v");
  obj.setattr("v", Tracked(ledger));  // the first one dies here, on this thread
  if (ledger.at(overwritten).destroyed.load() != 1) ADD_FAILURE() << "overwrite did not destroy";
  ids.push_back(id_of(obj, "v"));
  obj.setattr("list", List{});
  obj.ref<List>("list").emplace_back(Tracked(ledger));
  ids.push_back(obj.ref<List>("list").back().get<Tracked>().tag());
  Dict nested;
  nested.set("t", Tracked(ledger));
  ids.push_back(nested.get<Tracked>("t").tag());
  obj.setattr("nested", std::move(nested));
  if (obj.find("from_init") != nullptr) ids.push_back(id_of(obj, "from_init"));
  return ids;
}

void expect_destroyed_once_on(const Ledger& ledger, const std::vector<int>& ids,
                              std::uint32_t thread, const char* what) {
  for (int id : ids) {
    EXPECT_EQ(ledger.at(id).destroyed.load(), 1u) << what << ": value " << id;
    EXPECT_EQ(ledger.at(id).destroyed_on.load(), thread) << what << ": value " << id;
  }
}

TEST(StressLedger, ThreadExitDestroysOnTheExitingThread) {
  print_header("ledger/thread-exit");
  const localbag::RuntimeStats before = baseline();
  const int threads = static_cast<int>(scaled(1000, 16));
  Ledger ledger(own_entries(threads * 40 + 1000));
  g_ledger = &ledger;
  {
    Registry registry;
    std::vector<LocalObject> objects{LocalObject(), LocalObject(tracked_class(registry)),
                                     LocalObject(), LocalObject(registry.get("Tracking"))};
    std::vector<int> main_ids;
    for (LocalObject& obj : objects) {
      for (int id : store_values(obj, ledger)) main_ids.push_back(id);
    }
    for (int batch = 0; batch < threads / 8; ++batch) {
      std::vector<std::thread> pool;
      std::vector<std::vector<int>> ids(8);
      std::vector<std::uint32_t> threads_of(8);
      for (int t = 0; t < 8; ++t) {
        pool.emplace_back([&, t, objects] {
          threads_of[t] = thread_serial();
          std::vector<LocalObject> mine = objects;
          for (LocalObject& obj : mine) {
            for (int id : store_values(obj, ledger)) ids[t].push_back(id);
          }
          for (int id : ids[t]) {  // still alive while the thread runs
            if (ledger.at(id).destroyed.load() != 0) ADD_FAILURE() << "destroyed too early";
          }
        });
      }
      for (std::thread& t : pool) t.join();
      for (int t = 0; t < 8; ++t) {
        expect_destroyed_once_on(ledger, ids[t], threads_of[t], "thread exit");
      }
      for (int id : main_ids) ASSERT_EQ(ledger.at(id).destroyed.load(), 0u);
    }
    objects.clear();  // the main thread's values die with the objects, here
    expect_destroyed_once_on(ledger, main_ids, thread_serial(), "object death (main)");
  }
  ASSERT_NO_FATAL_FAILURE(expect_each_destroyed_once(ledger));
  print_figures("ledger/thread-exit", "threads=" + std::to_string(threads / 8 * 8) +
                                          " values tracked=" + std::to_string(ledger.size()));
  g_ledger = nullptr;
  expect_runtime_back_to(before);
}

TEST(StressLedger, ObjectDeathDestroysOnTheDestroyingThread) {
  print_header("ledger/object-death");
  const localbag::RuntimeStats before = baseline();
  const int rounds = static_cast<int>(scaled(200, 10));
  Ledger ledger(own_entries(rounds * 6 * 12 + 1000));
  g_ledger = &ledger;
  Registry registry;
  const ClassRef cls = tracked_class(registry);
  for (int round = 0; round < rounds; ++round) {
    std::optional<LocalObject> doomed(LocalObject{cls});
    LocalObject survivor;
    std::vector<std::vector<int>> ids(6);
    std::vector<int> slot_ids(6);
    std::latch stored(6), destroyed(1);
    std::vector<std::thread> pool;
    for (int t = 0; t < 6; ++t) {
      pool.emplace_back([&, t, obj = doomed, survivor]() mutable {
        ids[t] = store_values(*obj, ledger);
        Tracked shared(ledger);
        slot_ids[t] = shared.tag();
        obj->setattr("shared", std::move(shared));  // the slot: each thread replaces it in turn
        survivor.setattr("x", t);
        obj.reset();  // drop this thread's reference: only the destroyer's is left
        stored.count_down();
        destroyed.wait();  // stay alive while the object dies
      });
    }
    stored.wait();
    ids.push_back({doomed->ref<Tracked>("from_init").tag()});  // the main thread's own value
    // The destroyer is the main thread, or on odd rounds a thread of its own.
    std::uint32_t destroyer = thread_serial();
    if (round % 2 == 0) {
      doomed.reset();
    } else {
      std::thread([&] {
        destroyer = thread_serial();
        doomed.reset();
      }).join();
    }
    for (const auto& v : ids) expect_destroyed_once_on(ledger, v, destroyer, "death");
    for (int id : slot_ids) EXPECT_EQ(ledger.at(id).destroyed.load(), 1u) << "slot";
    destroyed.count_down();
    for (std::thread& t : pool) t.join();
    for (const auto& v : ids) expect_destroyed_once_on(ledger, v, destroyer, "death");
  }
  ASSERT_NO_FATAL_FAILURE(expect_each_destroyed_once(ledger));
  print_figures("ledger/object-death", "rounds=" + std::to_string(rounds) +
                                           " threads=" + std::to_string(rounds * 6) +
                                           " values tracked=" + std::to_string(ledger.size()));
  g_ledger = nullptr;
  expect_runtime_back_to(before);
}

// Threads exit at the moment an object they touched dies. Each of its values must be destroyed
// exactly once, on its own thread (the exit won) or on the destroying thread (the death won).
TEST(StressLifetime, DestroyWhileExiting) {
  print_header("destroy-while-exiting");
  const localbag::RuntimeStats before = baseline();
  const int rounds = static_cast<int>(scaled(5000, 50));
  constexpr int kThreads = 6;
  Ledger ledger(own_entries(rounds * kThreads * 12 + 1000));
  g_ledger = &ledger;
  Registry registry;
  const ClassRef cls = tracked_class(registry);
  std::uint64_t exit_won = 0, death_won = 0;
  int helpers = 0;  // destroyer threads of mode 1
  for (int round = 0; round < rounds; ++round) {
    const int mode = round % 3;  // 0: main destroys, 1: a helper destroys, 2: worker 0 does
    std::optional<LocalObject> doomed(LocalObject{cls});
    LocalObject survivor;
    std::vector<std::vector<int>> doomed_ids(kThreads), survivor_ids(kThreads);
    std::vector<std::uint32_t> threads_of(kThreads + 1);
    std::barrier barrier(kThreads + (mode == 1 ? 2 : 1));
    std::vector<std::thread> pool;
    for (int t = 0; t < kThreads; ++t) {
      pool.emplace_back([&, t, obj = std::optional<LocalObject>(*doomed), survivor]() mutable {
        threads_of[t] = thread_serial();
        doomed_ids[t] = store_values(*obj, ledger);
        survivor_ids[t] = store_values(survivor, ledger);
        if (!(mode == 2 && t == 0)) obj.reset();
        barrier.arrive_and_wait();
        obj.reset();  // worker 0 in mode 2: the last reference dies here, then the thread exits
      });
    }
    std::thread helper;
    if (mode == 2) {
      doomed.reset();  // worker 0 holds the only reference now
      barrier.arrive_and_wait();
      threads_of[kThreads] = threads_of[0];
    } else if (mode == 1) {
      ++helpers;
      helper = std::thread([&, obj = std::move(doomed)]() mutable {
        threads_of[kThreads] = thread_serial();
        barrier.arrive_and_wait();
        obj.reset();
      });
      barrier.arrive_and_wait();
    } else {
      barrier.arrive_and_wait();
      threads_of[kThreads] = thread_serial();
      doomed.reset();
    }
    for (std::thread& t : pool) t.join();
    if (helper.joinable()) helper.join();
    for (int t = 0; t < kThreads; ++t) {
      for (int id : doomed_ids[t]) {
        const Ledger::Entry& e = ledger.at(id);
        ASSERT_EQ(e.destroyed.load(), 1u) << "round " << round << " value " << id;
        const std::uint32_t on = e.destroyed_on.load();
        ASSERT_TRUE(on == threads_of[t] || on == threads_of[kThreads])
            << "round " << round << ": destroyed on thread " << on << ", owner " << threads_of[t]
            << ", destroyer " << threads_of[kThreads];
        (on == threads_of[t] ? exit_won : death_won) += 1;
      }
      expect_destroyed_once_on(ledger, survivor_ids[t], threads_of[t], "survivor at exit");
    }
  }
  ASSERT_NO_FATAL_FAILURE(expect_each_destroyed_once(ledger));
  print_figures("destroy-while-exiting", "rounds=" + std::to_string(rounds) + " threads=" +
                                             std::to_string(rounds * kThreads + helpers) +
                                             " objects=" + std::to_string(rounds * 2) +
                                             " values tracked=" + std::to_string(ledger.size()) +
                                             " destroyed by exit=" + std::to_string(exit_won) +
                                             " destroyed by death=" + std::to_string(death_won));
  g_ledger = nullptr;
  expect_runtime_back_to(before);
}

}  // namespace
}  // namespace lbstress
