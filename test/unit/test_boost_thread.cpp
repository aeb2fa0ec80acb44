// SPDX-License-Identifier: MIT
// boost::thread: isolation, per-thread init and cleanup at thread exit on the exiting thread;
// and a boost::thread_specific_ptr cleanup that is a std::thread's first use of localbag, during
// its exit. Built only when Boost.Thread is found.

#include <gtest/gtest.h>

#include <boost/thread/thread.hpp>
#include <boost/thread/tss.hpp>

#include <atomic>
#include <cstdint>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "localbag/class.hpp"
#include "localbag/local_object.hpp"
#include "localbag/registry.hpp"
#include "localbag/repr.hpp"
#include "localbag/stats.hpp"
#include "test_support.hpp"

namespace localbag {
namespace {

using test::destroyed_on;
using test::destroyed_once;
using test::live_tracked;
using test::Tracked;

TEST(BoostThread, ExitDestroysValuesOnTheExitingThread) {
  LocalObject one;
  LocalObject two;
  one.setattr("v", Tracked(0));
  std::thread::id worker;
  boost::thread t([&] {
    worker = std::this_thread::get_id();
    one.setattr("v", Tracked(1));
    two.dict().set("v", Tracked(2));
  });
  t.join();
  EXPECT_EQ(destroyed_on(1), std::vector<std::thread::id>{worker});
  EXPECT_EQ(destroyed_on(2), std::vector<std::thread::id>{worker});
  EXPECT_TRUE(destroyed_on(0).empty());
  EXPECT_EQ(one.ref<Tracked>("v").tag(), 0);
  EXPECT_FALSE(two.hasattr("v"));
}

TEST(BoostThread, IsolationAndInitPerThread) {
  std::atomic<int> inits{0};
  Registry r;
  LocalObject obj(
      r.define(ClassSpec("BoostInit").init([&](LocalObject& self, Args, const Dict& kw) {
        ++inits;
        self.dict().update(kw);
      })),
      {}, Dict{{"color", "red"}});
  obj.setattr("number", -1);
  constexpr int kThreads = 16;
  boost::thread_group group;
  for (int i = 0; i < kThreads; ++i) {
    group.create_thread([&obj, i] {
      EXPECT_EQ(repr(obj.dict()), "{'color': 'red'}");
      obj.setattr("number", i);
      boost::this_thread::yield();
      EXPECT_EQ(obj.get<int>("number"), i);
    });
  }
  group.join_all();
  EXPECT_EQ(inits.load(), kThreads + 1);
  EXPECT_EQ(obj.get<int>("number"), -1);
}

TEST(BoostThread, ObjectDiesWhileBoostThreadsStillRun) {
  std::optional<LocalObject> obj(std::in_place);
  std::atomic<int> stored{0};
  std::atomic<bool> release{false};
  boost::thread_group group;
  for (int i = 0; i < 4; ++i) {
    group.create_thread([&, i] {
      obj->setattr("v", Tracked(100 + i));
      ++stored;
      while (!release.load()) boost::this_thread::yield();
    });
  }
  while (stored.load() < 4) boost::this_thread::yield();
  obj.reset();
  for (int i = 0; i < 4; ++i) {
    EXPECT_EQ(destroyed_on(100 + i), std::vector<std::thread::id>{std::this_thread::get_id()});
  }
  release = true;
  group.join_all();
  for (int i = 0; i < 4; ++i) EXPECT_EQ(destroyed_on(100 + i).size(), 1u);
}

// A boost::thread_specific_ptr's cleanup runs from Boost's pthread key destructor when a
// std::thread exits, after every thread_local destructor; here it is the thread's first use of
// localbag. The value it stores must be destroyed once and the thread's state must go with the
// thread (test_late_exit.cpp has the raw pthread key and thread_local cases).
LocalObject* tss_target = nullptr;

void store_during_exit(int* tag) {
  tss_target->setattr("late", Tracked(*tag));
  delete tag;
}

TEST(BoostThread, FirstTouchFromAThreadSpecificPtrCleanupOnAStdThread) {
  LocalObject shared;
  tss_target = &shared;
  const long tracked_before = live_tracked();
  const std::uint64_t threads_before = runtime_stats().live_threads;
  boost::thread_specific_ptr<int> tss(&store_during_exit);
  constexpr int kThreads = 100;
  constexpr int kFirstTag = 23000;
  for (int i = 0; i < kThreads; ++i) {
    std::thread([&tss, i] { tss.reset(new int(kFirstTag + i)); }).join();
  }
  EXPECT_EQ(destroyed_once(kFirstTag, kThreads), kThreads) << "values destroyed exactly once";
  EXPECT_EQ(live_tracked(), tracked_before) << "values stored during exit were never destroyed";
  EXPECT_EQ(runtime_stats().live_threads, threads_before) << "thread states outlived threads";
  tss_target = nullptr;
}

}  // namespace
}  // namespace localbag
