// SPDX-License-Identifier: MIT
// Lifetime: a destructor ledger proves that every stored value is destroyed exactly once, on the
// exiting thread at thread exit and on the destroying thread at object death; ids are recycled
// without stale values; destructors that touch other objects during thread exit; move-only values.

#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>
#include <functional>
#include <latch>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "localbag/class.hpp"
#include "localbag/local_object.hpp"
#include "localbag/registry.hpp"
#include "localbag/repr.hpp"
#include "localbag/stats.hpp"
#include "test_support.hpp"

namespace localbag {
namespace {

// Every Tracked instance is recorded at construction and destruction, with its address. The
// instance that owns a tag (the original, or whatever it was moved into) records the thread that
// destroyed it.
using test::default_ledger;
using test::destroyed_on;
using test::Ids;
using test::live_tracked;
using test::Tracked;

class Lifetime : public ::testing::Test {
 protected:
  void SetUp() override {
    default_ledger().forget_entries();  // each test uses tags from 0 again
    live_at_start_ = live_tracked();
  }
  void TearDown() override {
    EXPECT_EQ(live_tracked(), live_at_start_) << "values leaked";
    EXPECT_EQ(default_ledger().bad_destructions(), 0) << "values destroyed twice";
  }
  long live_at_start_ = 0;
};

TEST_F(Lifetime, ThreadExitDestroysOnExitingThread) {
  LocalObject a;
  LocalObject b;
  a.setattr("v", Tracked(1));
  std::thread::id worker;
  std::thread t([&] {
    worker = std::this_thread::get_id();
    a.setattr("v", Tracked(2));
    a.setattr("v", Tracked(3));  // replaces 2, on this thread
    b.dict().set("v", Tracked(4));
  });
  t.join();
  EXPECT_EQ(destroyed_on(2), Ids{worker});
  EXPECT_EQ(destroyed_on(3), Ids{worker});
  EXPECT_EQ(destroyed_on(4), Ids{worker});
  EXPECT_TRUE(destroyed_on(1).empty());  // main's value lives on with the object
  EXPECT_EQ(a.ref<Tracked>("v").tag(), 1);
}

TEST_F(Lifetime, ObjectDeathDestroysEveryThreadsDictOnDestroyingThread) {
  constexpr int kThreads = 16;
  std::optional<LocalObject> obj(std::in_place);
  obj->setattr("v", Tracked(100));
  std::latch stored(kThreads);
  std::latch destroyed(1);
  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; ++i) {
    threads.emplace_back([&, i] {
      obj->setattr("v", Tracked(i));  // through main's handle: main stays the last owner
      stored.count_down();
      destroyed.wait();  // still alive while the object dies
    });
  }
  stored.wait();
  obj.reset();
  const Ids main_only{std::this_thread::get_id()};
  for (int i = 0; i < kThreads; ++i) EXPECT_EQ(destroyed_on(i), main_only) << i;
  EXPECT_EQ(destroyed_on(100), main_only);
  destroyed.count_down();
  for (auto& t : threads) t.join();
  for (int i = 0; i < kThreads; ++i) EXPECT_EQ(destroyed_on(i).size(), 1u) << i;
}

TEST_F(Lifetime, ObjectDeathOnAWorkerDestroysMainsValuesThere) {
  std::optional<LocalObject> obj(std::in_place);
  obj->setattr("v", Tracked(5));
  std::thread::id worker;
  std::thread t([&worker, only = std::move(*obj)]() mutable {
    worker = std::this_thread::get_id();
    only.setattr("w", Tracked(6));
    LocalObject last = std::move(only);
  });  // `last` dies inside the thread: the object dies there
  obj.reset();
  t.join();
  EXPECT_EQ(destroyed_on(5), Ids{worker});
  EXPECT_EQ(destroyed_on(6), Ids{worker});
}

TEST_F(Lifetime, OverwriteDeleteClearPop) {
  LocalObject obj;
  const Ids me{std::this_thread::get_id()};
  obj.setattr("a", Tracked(10));
  obj.setattr("a", Tracked(11));
  EXPECT_EQ(destroyed_on(10), me);
  obj.delattr("a");
  EXPECT_EQ(destroyed_on(11), me);
  obj.setattr("b", Tracked(12));
  obj.setattr("c", Tracked(13));
  obj.dict().clear();
  EXPECT_EQ(destroyed_on(12), me);
  EXPECT_EQ(destroyed_on(13), me);
  obj.setattr("d", Tracked(14));
  { Value popped = obj.dict().pop("d"); }
  EXPECT_EQ(destroyed_on(14), me);
  obj.setattr("e", Tracked(15));
  Value copy = obj.getattr("e");  // a copy, not the owner
  copy.reset();
  EXPECT_TRUE(destroyed_on(15).empty());
}

// A worker checks every new object: its dict holds only what init put there, never a dead
// object's values, even though object ids are recycled.
TEST_F(Lifetime, RecycledIdsNeverShowStaleValues) {
  constexpr int kRounds = 1000;
  std::atomic<int> worker_inits{0};
  const std::thread::id main_id = std::this_thread::get_id();
  Registry r;
  ClassRef cls = r.define(ClassSpec("Churn").init([&](LocalObject& self, Args, const Dict&) {
    if (std::this_thread::get_id() != main_id) ++worker_inits;
    self.setattr("inited", true);
  }));
  std::mutex m;
  std::condition_variable cv;
  LocalObject* job = nullptr;
  int job_round = 0;
  bool quit = false;
  std::thread worker([&] {
    for (;;) {
      std::unique_lock lock(m);
      cv.wait(lock, [&] { return job != nullptr || quit; });
      if (job == nullptr) return;
      LocalObject& obj = *job;
      EXPECT_EQ(repr(obj.dict()), "{'inited': True}");
      EXPECT_FALSE(obj.hasattr("v"));
      obj.setattr("v", -1);
      obj.setattr("w", Tracked(job_round + 100000));
      job = nullptr;
      cv.notify_all();
    }
  });
  const std::uint32_t high_water_before = runtime_stats().id_high_water;
  for (int i = 0; i < kRounds; ++i) {
    LocalObject obj(cls);
    ASSERT_EQ(repr(obj.dict()), "{'inited': True}") << i;
    obj.setattr("v", i);
    obj.setattr("t", Tracked(i));
    {
      std::unique_lock lock(m);
      job = &obj;
      job_round = i;
      cv.notify_all();
      cv.wait(lock, [&] { return job == nullptr; });
    }
    ASSERT_EQ(obj.get<int>("v"), i);
  }
  {
    std::lock_guard lock(m);
    quit = true;
  }
  cv.notify_all();
  worker.join();
  EXPECT_EQ(worker_inits.load(), kRounds);
  const Ids me{main_id};
  for (int i = 0; i < kRounds; i += 37) {
    EXPECT_EQ(destroyed_on(i), me) << i;
    EXPECT_EQ(destroyed_on(100000 + i), me) << i;  // the worker's value died with its object
  }
  // One object alive at a time: ids are reused, the id space does not grow with churn.
  EXPECT_LE(runtime_stats().id_high_water, high_water_before + 64);
}

// Holds a handle to another object; its destructor reads and writes that object.
struct Toucher {
  Toucher(LocalObject o, std::atomic<int>* s) : other(std::move(o)), seen(s) {}
  Toucher(Toucher&& t) noexcept : other(std::move(t.other)), seen(t.seen), active(t.active) {
    t.active = false;
  }
  ~Toucher() {
    if (!active) return;
    seen->store(other.get<int>("number"));
    other.setattr("shared", 7);          // a slot: visible to every thread
    other.setattr("late", Tracked(77));  // a new per-thread value, during thread exit
  }
  LocalObject other;
  std::atomic<int>* seen;
  bool active = true;
};

TEST_F(Lifetime, DestructorTouchesAnotherObjectDuringThreadExit) {
  std::atomic<int> seen{-1};
  {
    Registry r;
    LocalObject target(r.define(ClassSpec("Target").attr("number", 5).slots({"shared"})));
    LocalObject holder;
    std::thread t([&] { holder.setattr("toucher", Toucher(target, &seen)); });
    t.join();
    EXPECT_EQ(seen.load(), 5);
    EXPECT_EQ(target.get<int>("shared"), 7);
    EXPECT_FALSE(target.hasattr("late"));  // that was the exiting thread's own
  }
  EXPECT_EQ(destroyed_on(77).size(), 1u);  // destroyed once, by thread exit or object death
}

// Holds the only handle to an object: destroying it kills that object.
struct Dropper {
  explicit Dropper(LocalObject o) : victim(std::move(o)) {}
  Dropper(Dropper&& d) noexcept : victim(std::move(d.victim)) {}
  LocalObject victim;
};

TEST_F(Lifetime, DestructorDropsLastHandleDuringThreadExit) {
  LocalObject holder;
  std::optional<LocalObject> victim(std::in_place);
  victim->setattr("m", Tracked(88));
  std::thread::id worker;
  std::thread t([&, v = std::move(*victim)]() mutable {
    worker = std::this_thread::get_id();
    v.setattr("w", Tracked(89));
    holder.setattr("dropper", Dropper(std::move(v)));
  });
  victim.reset();
  t.join();
  EXPECT_EQ(destroyed_on(88), Ids{worker});
  EXPECT_EQ(destroyed_on(89), Ids{worker});
}

TEST_F(Lifetime, MoveOnlyUniquePtrValues) {
  const Ids me{std::this_thread::get_id()};
  std::thread::id worker;
  {
    LocalObject obj;
    obj.setattr("p", std::make_unique<Tracked>(300));
    std::thread t([&] {
      worker = std::this_thread::get_id();
      obj.setattr("p", std::make_unique<Tracked>(301));
      EXPECT_EQ(obj.ref<std::unique_ptr<Tracked>>("p")->tag(), 301);
    });
    t.join();
    EXPECT_EQ(destroyed_on(301), Ids{worker});
    obj.setattr("q", std::make_unique<Tracked>(302));
    obj.delattr("q");
    EXPECT_EQ(destroyed_on(302), me);
    std::unique_ptr<Tracked> taken = std::move(obj.ref<std::unique_ptr<Tracked>>("p"));
    EXPECT_TRUE(destroyed_on(300).empty());
    obj.setattr("r", std::make_unique<Tracked>(303));
    taken.reset();
    EXPECT_EQ(destroyed_on(300), me);
  }
  EXPECT_EQ(destroyed_on(303), me);
}

TEST_F(Lifetime, ClassAttributesAndInitArgumentsReleased) {
  {
    Registry r;
    ClassRef cls = r.define(
        ClassSpec("Holder")
            .attr("t", Tracked(400))
            .init([](LocalObject& self, Args args, const Dict&) { self.setattr("arg", args[0]); }));
    LocalObject obj(cls, {Value(Tracked(401))});
    std::thread t([&] {
      EXPECT_EQ(obj.get<Tracked>("t").tag(), 400);
      EXPECT_EQ(obj.ref<Tracked>("arg").tag(), 401);
    });
    t.join();
    EXPECT_GT(live_tracked(), live_at_start_);
  }
  EXPECT_EQ(live_tracked(), live_at_start_);
}

TEST_F(Lifetime, RuntimeCountersReturnToBaseline) {
  LocalObject warm;  // this thread is registered with the runtime before the baseline
  warm.setattr("x", 1);
  const RuntimeStats before = runtime_stats();
  {
    std::vector<LocalObject> objs(10);
    std::latch touched(3);
    std::latch release(1);
    std::vector<std::thread> threads;
    for (int i = 0; i < 3; ++i) {
      threads.emplace_back([&] {
        for (LocalObject& o : objs) o.setattr("v", 1);
        touched.count_down();
        release.wait();
      });
    }
    touched.wait();
    const RuntimeStats during = runtime_stats();
    EXPECT_EQ(during.live_objects, before.live_objects + 10);
    EXPECT_GE(during.live_records, before.live_records + 30);
    EXPECT_LE(during.live_records, before.live_records + 40);
    EXPECT_EQ(during.live_threads, before.live_threads + 3);
    release.count_down();
    for (auto& t : threads) t.join();
  }
  const RuntimeStats after = runtime_stats();
  EXPECT_EQ(after.live_objects, before.live_objects);
  EXPECT_EQ(after.live_records, before.live_records);
  EXPECT_EQ(after.live_threads, before.live_threads);
}

// A method that drops the last handle to the object it runs on, as a session that removes itself
// from a table on close. Python keeps `self` alive until the method returns; so must call().
// (Before the fix, ASan reports a heap-use-after-free in LocalObject::call here.)
TEST_F(Lifetime, MethodDropsTheLastHandleOfItsObject) {
  std::optional<LocalObject> session;
  bool alive_during_call = false;
  Registry r;
  ClassRef cls =
      r.define(ClassSpec("Session").method("close", [&](LocalObject& self, Args) -> Value {
        const int kept = self.ref<Tracked>("t").tag();
        session.reset();  // the only handle: `self` must not be touched after this
        alive_during_call = destroyed_on(90).empty();
        return kept;
      }));
  session.emplace(cls);
  session->setattr("t", Tracked(90));
  const Value result = session->call("close");
  EXPECT_EQ(result.get<int>(), 90);
  EXPECT_TRUE(alive_during_call) << "the object died while its method was running";
  EXPECT_FALSE(session.has_value());
  EXPECT_EQ(destroyed_on(90), Ids{std::this_thread::get_id()});
}


// A method's `self` keeps the object alive while the method runs. The tests below are the ways
// a method can make its lifetime visible: by keeping `self` after dropping the object's last
// handle, handing it to another thread, assigning to it, nesting calls, and throwing. Each ends
// with no object, record or value left behind.
class MethodSelf : public Lifetime {
 protected:
  void SetUp() override {
    Lifetime::SetUp();
    before_ = runtime_stats();
  }
  void TearDown() override {
    const RuntimeStats after = runtime_stats();
    EXPECT_EQ(after.live_objects, before_.live_objects) << "objects leaked";
    EXPECT_EQ(after.live_records, before_.live_records) << "records leaked";
    Lifetime::TearDown();
  }
  // A class whose method `m` runs `body`.
  ClassRef define(std::function<Value(LocalObject&)> body) {
    return registry_.define(ClassSpec("Session").method(
        "m", [body = std::move(body)](LocalObject& self, Args) { return body(self); }));
  }
  RuntimeStats before_{};
  Registry registry_;
};

// The method drops the last handle, then keeps a copy of `self`: the object outlives the call
// in that copy (Python: the method stored `self` somewhere), and dies when the copy does.
TEST_F(MethodSelf, CopyAfterTheLastHandleKeepsTheObject) {
  std::optional<LocalObject> session;
  std::optional<LocalObject> kept;
  ClassRef cls = define([&](LocalObject& self) -> Value {
    session.reset();
    kept.emplace(self);
    return Value();
  });
  session.emplace(cls);
  session->setattr("t", Tracked(91));
  session->call("m");
  ASSERT_TRUE(kept.has_value());
  EXPECT_TRUE(destroyed_on(91).empty()) << "a kept copy of self did not keep the object";
  EXPECT_EQ(kept->ref<Tracked>("t").tag(), 91);
  EXPECT_EQ(kept->call("m").type_name(), "NoneType");  // still callable; stores itself again
  kept.reset();
  EXPECT_EQ(destroyed_on(91), Ids{std::this_thread::get_id()});
}

// The copy is made on another thread while the method waits for it, after the last handle was
// dropped, and that thread keeps it: the object lives until the other thread drops it there.
TEST_F(MethodSelf, CopyMadeOnAnotherThreadAfterTheLastHandle) {
  std::optional<LocalObject> session;
  std::optional<LocalObject> kept;
  std::thread::id dropped_on;
  ClassRef cls = define([&](LocalObject& self) -> Value {
    session.reset();
    std::thread([&] { kept.emplace(self); }).join();
    return Value();
  });
  session.emplace(cls);
  session->setattr("t", Tracked(92));
  session->call("m");
  EXPECT_TRUE(destroyed_on(92).empty());
  std::thread([&] {
    dropped_on = std::this_thread::get_id();
    kept.reset();  // the last reference: the object and this thread's values die here
  }).join();
  EXPECT_EQ(destroyed_on(92), Ids{dropped_on});
}

// A copy made while the handle still exists is an ordinary reference: dropping the handle
// later, or the copy first, each leaves the other working.
TEST_F(MethodSelf, CopyBeforeTheHandleIsDropped) {
  std::optional<LocalObject> kept;
  ClassRef cls = define([&](LocalObject& self) -> Value {
    kept.emplace(self);
    return Value();
  });
  {
    LocalObject session(cls);
    session.setattr("t", Tracked(93));
    session.call("m");
    EXPECT_TRUE(*kept == session);
  }
  EXPECT_TRUE(destroyed_on(93).empty());
  kept.reset();
  EXPECT_EQ(destroyed_on(93).size(), 1u);
}

// Assigning another object to `self` rebinds the method's name only, as in Python; the object
// the call runs on is unaffected, and the other object dies with `self` when the call returns.
TEST_F(MethodSelf, AssigningToSelf) {
  int other_number = 0;
  ClassRef cls = define([&](LocalObject& self) -> Value {
    LocalObject other(self.type());
    other.setattr("number", 8);
    self = other;
    other_number = self.get<int>("number");
    return Value();
  });
  LocalObject session(cls);
  session.setattr("number", 1);
  const std::uint64_t objects_before = runtime_stats().live_objects;
  session.call("m");
  EXPECT_EQ(other_number, 8);
  EXPECT_EQ(session.get<int>("number"), 1);
  EXPECT_EQ(runtime_stats().live_objects, objects_before) << "the other object leaked";
}

// An inner call of the same object drops its last handle; the outer method goes on using
// `self`, and the object dies when the outer call returns.
TEST_F(MethodSelf, NestedCallDropsTheLastHandle) {
  std::optional<LocalObject> session;
  bool alive_after_inner = false;
  int read_after_inner = 0;
  ClassRef cls = registry_.define(
      ClassSpec("Session")
          .method("inner",
                  [&](LocalObject&, Args) -> Value {
                    session.reset();
                    return Value();
                  })
          .method("outer", [&](LocalObject& self, Args) -> Value {
            self.call("inner");
            alive_after_inner = destroyed_on(94).empty();
            read_after_inner = self.ref<Tracked>("t").tag();
            return Value();
          }));
  session.emplace(cls);
  session->setattr("t", Tracked(94));
  session->call("outer");
  EXPECT_TRUE(alive_after_inner);
  EXPECT_EQ(read_after_inner, 94);
  EXPECT_EQ(destroyed_on(94), Ids{std::this_thread::get_id()});
}

// The method drops the last handle and throws: the object dies as the exception leaves the
// call, and the exception reaches the caller unchanged.
TEST_F(MethodSelf, ThrowAfterDroppingTheLastHandle) {
  std::optional<LocalObject> session;
  ClassRef cls = define([&](LocalObject&) -> Value {
    session.reset();
    throw std::runtime_error("closing failed");
  });
  session.emplace(cls);
  session->setattr("t", Tracked(95));
  EXPECT_THROW(session->call("m"), std::runtime_error);
  EXPECT_EQ(destroyed_on(95), Ids{std::this_thread::get_id()});
}

// Calls of two objects nested in each other: each object's last handle is dropped by the
// other's method, and each dies when its own call returns, not before.
TEST_F(MethodSelf, TwoObjectsDropEachOther) {
  std::optional<LocalObject> a;
  std::optional<LocalObject> b;
  bool a_alive_in_b = false;
  ClassRef cls = registry_.define(
      ClassSpec("Session")
          .method("drop_a",
                  [&](LocalObject& self, Args) -> Value {
                    a.reset();
                    b.reset();  // this object's own last handle too
                    a_alive_in_b = destroyed_on(96).empty();
                    return self.get<int>("n");
                  })
          .method("run", [&](LocalObject&, Args) -> Value { return b->call("drop_a"); }));
  a.emplace(cls);
  b.emplace(cls);
  a->setattr("t", Tracked(96));
  b->setattr("t", Tracked(97));
  b->setattr("n", 3);
  EXPECT_EQ(a->call("run").get<int>(), 3);
  EXPECT_TRUE(a_alive_in_b);
  EXPECT_EQ(destroyed_on(96).size(), 1u);
  EXPECT_EQ(destroyed_on(97).size(), 1u);
}

// Init that keeps a copy of `self` and then throws: construction fails, and the object lives on
// in the copy instead of leaking or dying under it.
TEST_F(MethodSelf, InitKeepsSelfAndThrows) {
  std::optional<LocalObject> kept;
  ClassRef cls = registry_.define(
      ClassSpec("Session").init([&](LocalObject& self, Args, const Dict&) {
        self.setattr("n", 5);
        if (!kept) {
          kept.emplace(self);
          throw std::runtime_error("init failed");
        }
      }));
  EXPECT_THROW(LocalObject{cls}, std::runtime_error);
  ASSERT_TRUE(kept.has_value());
  // Init failed in this thread, so its record was discarded; the next access runs it again.
  EXPECT_EQ(kept->get<int>("n"), 5);
  kept.reset();
}

}  // namespace
}  // namespace localbag
