// SPDX-License-Identifier: MIT
// Cleanup at thread exit, for std::thread and raw pthreads: every value a thread stored is
// destroyed exactly once, on that thread; also when the last handle lives in thread_local
// storage, when the creating thread exits first, when a destructor creates objects during the
// exit, when a thread exit races an object's death, and at process exit with threads alive.

#include <gtest/gtest.h>
#include <pthread.h>

#include <atomic>
#include <future>
#include <latch>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "localbag/class.hpp"
#include "localbag/local_object.hpp"
#include "localbag/registry.hpp"
#include "test_support.hpp"

namespace localbag {
namespace {

using test::destroyed_on;
using test::Ids;
using test::live_tracked;
using test::Tracked;

TEST(ThreadExit, StdThreadExitDestroysItsValuesOnItself) {
  LocalObject one;
  LocalObject two;
  one.setattr("t", Tracked(4));
  std::thread::id worker;
  std::thread t([&] {
    worker = std::this_thread::get_id();
    one.setattr("t", Tracked(1));
    two.setattr("t", Tracked(2));
    one.dict().set("u", Tracked(3));
  });
  t.join();
  for (int tag : {1, 2, 3}) {
    EXPECT_EQ(destroyed_on(tag), std::vector<std::thread::id>{worker}) << tag;
  }
  EXPECT_TRUE(destroyed_on(4).empty());
  EXPECT_FALSE(two.hasattr("t"));
  EXPECT_EQ(one.ref<Tracked>("t").tag(), 4);
}

struct PthreadJob {
  LocalObject* objs;
  int count;
  std::thread::id id;
};

void* pthread_body(void* arg) {
  auto* job = static_cast<PthreadJob*>(arg);
  job->id = std::this_thread::get_id();
  for (int i = 0; i < job->count; ++i) job->objs[i].setattr("p", Tracked(700 + i));
  return nullptr;
}

TEST(ThreadExit, RawPthreadExitDestroysItsValuesOnItself) {
  LocalObject objs[3];
  PthreadJob job{objs, 3, {}};
  pthread_t thread;
  ASSERT_EQ(pthread_create(&thread, nullptr, pthread_body, &job), 0);
  ASSERT_EQ(pthread_join(thread, nullptr), 0);
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(destroyed_on(700 + i), std::vector<std::thread::id>{job.id}) << i;
    EXPECT_FALSE(objs[i].hasattr("p"));
  }
}

TEST(ThreadExit, ThreadTouchingManyObjectsCleansAll) {
  std::vector<LocalObject> objs(200);
  std::thread::id worker;
  std::thread t([&] {
    worker = std::this_thread::get_id();
    for (int i = 0; i < 200; ++i) objs[i].setattr("v", Tracked(1000 + i));
  });
  t.join();
  for (int i = 0; i < 200; ++i) {
    ASSERT_EQ(destroyed_on(1000 + i), std::vector<std::thread::id>{worker}) << i;
  }
}

TEST(ThreadExit, ThreadExitRacingObjectDeath) {
  const long live_before = live_tracked();
  for (int round = 0; round < 100; ++round) {
    std::optional<LocalObject> obj(std::in_place);
    constexpr int kThreads = 4;
    std::latch stored(kThreads);
    std::latch go(1);
    std::vector<std::thread> threads;
    for (int i = 0; i < kThreads; ++i) {
      threads.emplace_back([&, i, mine = *obj]() mutable {
        mine.setattr("v", Tracked(10000 + round * 10 + i));
        stored.count_down();
        go.wait();
      });  // `mine` dies with the thread's lambda, racing with the others
    }
    obj->setattr("v", Tracked(10000 + round * 10 + 9));
    stored.wait();
    obj.reset();
    go.count_down();
    for (auto& t : threads) t.join();
    for (int i : {0, 1, 2, 3, 9}) {
      ASSERT_EQ(destroyed_on(10000 + round * 10 + i).size(), 1u) << round << " " << i;
    }
  }
  EXPECT_EQ(live_tracked(), live_before);
}

TEST(ThreadExit, ThreadLocalHandleIsTheLastOwner) {
  std::thread::id worker;
  std::optional<LocalObject> obj(std::in_place);
  obj->setattr("m", Tracked(50));
  std::thread t([&worker, o = std::move(*obj)]() mutable {
    worker = std::this_thread::get_id();
    thread_local std::optional<LocalObject> keeper;
    keeper.emplace(std::move(o));
    keeper->setattr("w", Tracked(51));
  });  // keeper's destructor (object death) and the runtime's exit cleanup both run at exit
  obj.reset();
  t.join();
  EXPECT_EQ(destroyed_on(50), Ids{worker});
  EXPECT_EQ(destroyed_on(51), Ids{worker});
}

TEST(ThreadExit, CreatorExitsObjectLivesOn) {
  std::atomic<int> next_tag{60};
  Registry r;
  ClassRef cls = r.define(ClassSpec("Created").init([&](LocalObject& self, Args args, const Dict&) {
    self.setattr("arg", args[0]);
    self.setattr("t", Tracked(next_tag++));
  }));
  std::optional<LocalObject> handed;
  std::thread::id creator;
  std::thread t([&] {
    creator = std::this_thread::get_id();
    LocalObject obj(cls, {Value(7)});  // init: tag 60
    obj.setattr("c", Tracked(70));
    handed = obj;
  });
  t.join();
  EXPECT_EQ(destroyed_on(60), Ids{creator});
  EXPECT_EQ(destroyed_on(70), Ids{creator});
  EXPECT_EQ(handed->get<int>("arg"), 7);  // init runs here with the original args: tag 61
  EXPECT_EQ(handed->ref<Tracked>("t").tag(), 61);
  handed.reset();
  EXPECT_EQ(destroyed_on(61), Ids{std::this_thread::get_id()});
}

// During thread exit, its destructor makes a new object (dropped at once) and stores a value in
// a long-lived one (creating a dict for the exiting thread in the middle of its cleanup).
struct Maker {
  explicit Maker(LocalObject* keep) : kept(keep) {}
  Maker(Maker&& m) noexcept : kept(m.kept) { m.kept = nullptr; }
  ~Maker() {
    if (kept == nullptr) return;
    LocalObject fresh;
    fresh.setattr("z", Tracked(80));
    kept->setattr("late", Tracked(81));
  }
  LocalObject* kept;
};

TEST(ThreadExit, DestructorCreatesValuesDuringExit) {
  std::thread::id worker;
  {
    LocalObject holder;
    LocalObject kept;
    std::thread t([&] {
      worker = std::this_thread::get_id();
      holder.setattr("maker", Maker(&kept));
    });
    t.join();
    EXPECT_EQ(destroyed_on(80), Ids{worker});
    EXPECT_FALSE(kept.hasattr("late"));
  }
  EXPECT_EQ(destroyed_on(81).size(), 1u);  // once: at the thread's exit or at kept's death
}

// Threads and objects still alive when the process exits: a detached thread blocked forever
// holds values in a static object and in its own. The assertion is a clean exit of this binary.
LocalObject& static_object() {
  static LocalObject obj;
  return obj;
}

TEST(ThreadExit, ProcessExitWithThreadsAndObjectsAlive) {
  static_object().setattr("main", std::string(100, 'm'));
  // Never set or freed (a static keeps it reachable): the thread waits forever.
  static auto* never = new std::promise<void>();
  std::promise<void> stored;
  std::future<void> stored_future = stored.get_future();
  std::thread([done = std::move(stored), f = never->get_future(), obj = static_object()]() mutable {
    LocalObject own;
    own.setattr("v", std::string(100, 'o'));
    obj.setattr("v", std::string(100, 't'));
    done.set_value();
    f.wait();
  }).detach();
  stored_future.wait();
  EXPECT_EQ(static_object().get<std::string>("main"), std::string(100, 'm'));
}

// As above, with the runtime's exit cleanup registered before the thread_local (the thread used
// another object first), so the thread_local's destructor runs after that cleanup.
TEST(ThreadExit, ThreadLocalHandleDestroyedAfterRuntimeCleanup) {
  std::thread::id worker;
  LocalObject first;
  std::optional<LocalObject> obj(std::in_place);
  obj->setattr("m", Tracked(52));
  std::thread t([&, o = std::move(*obj)]() mutable {
    worker = std::this_thread::get_id();
    first.setattr("f", Tracked(53));
    thread_local std::optional<LocalObject> keeper;
    keeper.emplace(std::move(o));
    keeper->setattr("w", Tracked(54));
  });
  obj.reset();
  t.join();
  for (int tag : {52, 53, 54}) EXPECT_EQ(destroyed_on(tag), Ids{worker}) << tag;
}

// A thread_local whose destructor stores a value after the runtime's cleanup already ran for the
// thread: that late value is still destroyed, once, on the exiting thread.
struct LateWriter {
  LocalObject* target = nullptr;
  ~LateWriter() {
    if (target != nullptr) target->setattr("late", Tracked(55));
  }
};

TEST(ThreadExit, ThreadLocalDestructorWritesAfterCleanup) {
  LocalObject target;
  std::thread::id worker;
  std::thread t([&] {
    worker = std::this_thread::get_id();
    thread_local LateWriter writer;  // constructed first: destroyed after the runtime's cleanup
    writer.target = &target;
    target.setattr("early", Tracked(56));
  });
  t.join();
  EXPECT_EQ(destroyed_on(56), Ids{worker});
  EXPECT_EQ(destroyed_on(55), Ids{worker});
  EXPECT_FALSE(target.hasattr("late"));
}

}  // namespace
}  // namespace localbag
