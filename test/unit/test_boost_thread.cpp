// SPDX-License-Identifier: MIT
// boost::thread: isolation, per-thread init and cleanup at thread exit on the exiting thread.
// Built only when Boost.Thread is found.

#include <gtest/gtest.h>

#include <boost/thread/thread.hpp>

#include <atomic>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "localbag/class.hpp"
#include "localbag/local_object.hpp"
#include "localbag/registry.hpp"
#include "localbag/repr.hpp"
#include "test_support.hpp"

namespace localbag {
namespace {

using test::destroyed_on;
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

}  // namespace
}  // namespace localbag
