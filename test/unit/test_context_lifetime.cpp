// SPDX-License-Identifier: MIT
// Contexts' lifetime: handles and scopes, the destructor ledger, destructors that use other
// objects while a context dies, slots, class attributes, recycled ids, an object dying during
// copy_current, and the abort of a scope left on the wrong thread.

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <latch>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "localbag/class.hpp"
#include "localbag/context.hpp"
#include "localbag/error.hpp"
#include "localbag/local_object.hpp"
#include "localbag/registry.hpp"
#include "localbag/repr.hpp"
#include "localbag/stats.hpp"
#include "context_fixture.hpp"
#include "test_support.hpp"


namespace localbag {
namespace {

TEST_F(Contexts, LastHandleDestroysTheDictsOnItsThread) {
  LocalObject obj;
  std::optional<Context> ctx(std::in_place);
  ctx->run([&] { obj.setattr("t", Tracked(1)); });
  std::optional<Context> copy = ctx;
  std::latch dropped(1);
  std::thread::id worker;
  std::thread t([&worker, &dropped, held = *ctx]() mutable {
    worker = std::this_thread::get_id();
    dropped.wait();
    held = Context();  // the last handle: the old context dies here
  });
  ctx.reset();
  copy.reset();
  EXPECT_TRUE(destroyed_on(1).empty());
  EXPECT_EQ(live_contexts(), before_.live_contexts + 1);
  dropped.count_down();
  t.join();
  EXPECT_EQ(destroyed_on(1), Ids{worker});
}

TEST_F(Contexts, AScopeHoldsItsContext) {
  LocalObject obj;
  std::optional<Context> ctx(std::in_place);
  {
    const Context::Scope in(*ctx);
    obj.setattr("t", Tracked(1));
    ctx.reset();  // no handle left: the scope holds it
    EXPECT_EQ(live_contexts(), before_.live_contexts + 1);
    EXPECT_TRUE(destroyed_on(1).empty());
    EXPECT_EQ(obj.ref<Tracked>("t").tag(), 1);  // still entered, still its dict
    obj.setattr("u", Tracked(2));
  }
  EXPECT_EQ(destroyed_on(1), me_);
  EXPECT_EQ(destroyed_on(2), me_);
  EXPECT_EQ(live_contexts(), before_.live_contexts);
  EXPECT_FALSE(obj.hasattr("t"));
  // On another thread: the handle goes on main, the leave there destroys the dicts.
  ctx.emplace();
  std::latch entered(1);
  std::latch dropped(1);
  std::thread::id worker;
  std::thread t([&] {
    worker = std::this_thread::get_id();
    const Context::Scope in(*ctx);
    obj.setattr("t", Tracked(3));
    entered.count_down();
    dropped.wait();
    EXPECT_EQ(obj.ref<Tracked>("t").tag(), 3);
  });
  entered.wait();
  ctx.reset();
  EXPECT_TRUE(destroyed_on(3).empty());
  dropped.count_down();
  t.join();
  EXPECT_EQ(destroyed_on(3), Ids{worker});
}

TEST_F(Contexts, ObjectDeathDestroysItsDictsInEveryContext) {
  std::optional<LocalObject> obj(std::in_place);
  LocalObject survivor;
  Context idle;
  obj->setattr("t", Tracked(0));
  idle.run([&] {
    obj->setattr("t", Tracked(1));
    survivor.setattr("s", Tracked(10));
  });
  Context copy = idle.run([] { return Context::copy_current(); });
  Context busy;
  std::latch entered(1);
  std::latch died(1);
  std::thread t([&] {
    const Context::Scope in(busy);
    obj->setattr("t", Tracked(2));
    entered.count_down();
    died.wait();
    survivor.setattr("s", Tracked(11));  // still entered: it goes on without the object's dict
    EXPECT_EQ(survivor.ref<Tracked>("s").tag(), 11);
  });
  entered.wait();
  const RuntimeStats s0 = runtime_stats();
  const long live = live_tracked();
  obj.reset();
  EXPECT_EQ(runtime_stats().live_records, s0.live_records - 4);  // main, idle, copy, busy
  EXPECT_EQ(live_tracked(), live - 4);
  for (int tag = 0; tag <= 2; ++tag) EXPECT_EQ(destroyed_on(tag), me_) << tag;
  died.count_down();
  t.join();
  idle.run([&] { EXPECT_EQ(survivor.ref<Tracked>("s").tag(), 10); });
  copy.run([&] { EXPECT_FALSE(survivor.ref<Tracked>("s").owner()); });
  busy.run([&] { EXPECT_EQ(survivor.ref<Tracked>("s").tag(), 11); });
  EXPECT_TRUE(destroyed_on(10).empty());
  EXPECT_TRUE(destroyed_on(11).empty());
}

TEST_F(Contexts, MovedFromHandle) {
  LocalObject obj;
  Context a;
  a.run([&] { obj.setattr("v", 1); });
  Context b(std::move(a));
  EXPECT_FALSE(a.entered());
  EXPECT_LB_ERROR(const Context::Scope in(a), RuntimeError, kMovedFrom);
  EXPECT_LB_ERROR(a.run([] {}), RuntimeError, kMovedFrom);
  EXPECT_FALSE(obj.hasattr("v"));  // the failed entry changed nothing
  Context c(a);                    // a copy of a moved-from handle is empty too
  EXPECT_LB_ERROR(c.run([] {}), RuntimeError, kMovedFrom);
  EXPECT_TRUE(a == c);
  a = b;
  a.run([&] { EXPECT_EQ(obj.get<int>("v"), 1); });
  c = std::move(b);
  EXPECT_TRUE(c == a);
  Context d;
  d = std::move(b);  // from a moved-from one: d's own context dies
  EXPECT_LB_ERROR(d.run([] {}), RuntimeError, kMovedFrom);
  EXPECT_EQ(live_contexts(), before_.live_contexts + 1);
}

TEST_F(Contexts, HandlesAreCountedReferences) {
  LocalObject obj;
  Context a;
  const Context b = a;
  EXPECT_TRUE(a == b);
  Context c;
  EXPECT_FALSE(a == c);
  c.run([&] { obj.setattr("t", Tracked(1)); });
  EXPECT_EQ(live_contexts(), before_.live_contexts + 2);
  c = a;  // c's old context had no other handle: it dies here, with its dict
  EXPECT_EQ(destroyed_on(1), me_);
  EXPECT_TRUE(c == a);
  EXPECT_EQ(live_contexts(), before_.live_contexts + 1);
  Context& alias = c;
  c = alias;  // self-assignment keeps it
  c = std::move(alias);
  EXPECT_TRUE(c == a);
  a.run([&] { obj.setattr("v", 1); });
  b.run([&] {
    EXPECT_EQ(obj.get<int>("v"), 1);  // one context, three handles
    EXPECT_TRUE(a.entered());
    EXPECT_TRUE(c.entered());
  });
  EXPECT_FALSE(a.entered());
  std::latch in(1);
  std::latch out(1);
  std::thread t([&] {
    const Context::Scope s(b);
    in.count_down();
    out.wait();
  });
  in.wait();
  EXPECT_TRUE(a.entered());
  out.count_down();
  t.join();
  EXPECT_FALSE(a.entered());
  // Handles copied and dropped on many threads at once: the context dies once, with the last.
  std::optional<Context> shared(std::in_place);
  shared->run([&] { obj.setattr("t", Tracked(2)); });
  std::vector<std::thread> threads;
  std::latch start(9);
  for (int i = 0; i < 8; ++i) {
    threads.emplace_back([&start, mine = *shared] {
      start.arrive_and_wait();
      for (int k = 0; k < 200; ++k) {
        std::vector<Context> copies(8, mine);
        const Context moved = std::move(copies.back());
      }
    });
  }
  shared.reset();
  start.arrive_and_wait();
  for (std::thread& th : threads) th.join();
  ASSERT_EQ(destroyed_on(2).size(), 1u);
  EXPECT_NE(destroyed_on(2), me_);
}

// Its destructor uses another object, makes and enters a context of its own, drops the last
// handle of a context (whose dicts die within) and the last handle of an object.
struct Toucher {
  Toucher(LocalObject o, Context c, LocalObject v)
      : other(std::move(o)), held(std::move(c)), victim(std::move(v)) {}
  Toucher(Toucher&& t) noexcept
      : other(std::move(t.other)),
        held(std::move(t.held)),
        victim(std::move(t.victim)),
        active(std::exchange(t.active, false)) {}
  ~Toucher() {
    if (!active) return;
    other.setattr("count", other.try_get<int>("count").value_or(0) + 1);
    Context().run([&] { other.setattr("count", 100); });
    held.reset();
    victim.reset();
  }
  LocalObject other;
  std::optional<Context> held;
  std::optional<LocalObject> victim;
  bool active = true;
};

TEST_F(Contexts, DestructorsRunWhenAContextDiesMayUseOtherObjects) {
  LocalObject holder;
  LocalObject other;
  // Puts a Toucher in `ctx`'s dict for `in`; its context holds Tracked(tag), its victim
  // Tracked(tag + 1) in `ctx` and Tracked(tag + 2) in main's implicit context.
  auto arm = [&](const Context& ctx, LocalObject& in, int tag) {
    Context inner;
    inner.run([&] { other.setattr("t", Tracked(tag)); });
    LocalObject victim;
    victim.setattr("t", Tracked(tag + 2));
    ctx.run([&] {
      victim.setattr("t", Tracked(tag + 1));
      in.setattr("toucher", Toucher(other, std::move(inner), std::move(victim)));
    });
  };
  auto expect_died_on = [&](int tag, const Ids& thread) {
    for (int i = tag; i < tag + 3; ++i) EXPECT_EQ(destroyed_on(i), thread) << i;
  };
  {  // the last handle, dropped outside any scope
    Context ctx;
    arm(ctx, holder, 0);
  }
  EXPECT_EQ(other.get<int>("count"), 1);  // the destructor wrote main's own dict
  expect_died_on(0, me_);
  {  // the scope that holds it, leaving
    std::optional<Context> ctx(std::in_place);
    arm(*ctx, holder, 10);
    const Context::Scope in(*ctx);
    ctx.reset();
  }
  EXPECT_EQ(other.get<int>("count"), 2);
  expect_died_on(10, me_);
  {  // while another context is entered: the destructor writes that one's dict
    Context around;
    Context ctx;
    arm(ctx, holder, 20);
    around.run([&] { ctx = Context(); });
    EXPECT_EQ(other.get<int>("count"), 2);
    around.run([&] { EXPECT_EQ(other.get<int>("count"), 1); });
    expect_died_on(20, me_);
  }
  {  // on another thread
    Context ctx;
    arm(ctx, holder, 30);
    std::thread::id worker;
    std::thread([&worker, held = std::move(ctx)]() mutable {
      worker = std::this_thread::get_id();
      held = Context();
    }).join();
    expect_died_on(30, Ids{worker});
  }
  {  // the object holding the Toucher dies: object death runs the destructor
    Context ctx;
    std::optional<LocalObject> doomed(std::in_place);
    arm(ctx, *doomed, 40);
    doomed.reset();
    expect_died_on(40, me_);
    EXPECT_EQ(other.get<int>("count"), 3);
  }
}

TEST_F(Contexts, SlotsAreSharedByEveryContext) {
  Registry r;
  LocalObject obj(r.define(ClassSpec("Slotted").slots({"shared"})));
  Context a;
  Context b;
  a.run([&] {
    obj.setattr("shared", 1);
    obj.setattr("own", "a");
  });
  EXPECT_EQ(obj.get<int>("shared"), 1);
  EXPECT_FALSE(obj.hasattr("own"));
  std::thread([&] {
    b.run([&] {
      EXPECT_EQ(obj.get<int>("shared"), 1);
      obj.setattr("shared", 2);
    });
  }).join();
  a.run([&] {
    EXPECT_EQ(obj.get<int>("shared"), 2);
    EXPECT_EQ(obj.get<std::string>("own"), "a");
  });
  Context copy = a.run([] { return Context::copy_current(); });
  obj.setattr("shared", 3);
  copy.run([&] {
    EXPECT_EQ(obj.get<int>("shared"), 3);
    EXPECT_EQ(obj.get<std::string>("own"), "a");
    obj.delattr("shared");
  });
  EXPECT_FALSE(obj.hasattr("shared"));
  b.run([&] { EXPECT_FALSE(obj.hasattr("shared")); });
}

TEST_F(Contexts, ClassAttributesAndMethodsInContexts) {
  Registry r;
  ClassRef cls = r.define(ClassSpec("Squares")
                              .attr("number", 2)
                              .method("squared", [](LocalObject& self, Args) -> Value {
                                const int n = self.get<int>("number");
                                return n * n;
                              }));
  LocalObject obj(cls);
  Context a;
  Context b;
  a.run([&] {
    EXPECT_EQ(obj.get<int>("number"), 2);
    EXPECT_EQ(obj.call("squared").get<int>(), 4);
    obj.setattr("number", 3);
    EXPECT_EQ(obj.call("squared").get<int>(), 9);
  });
  EXPECT_EQ(obj.call("squared").get<int>(), 4);
  b.run([&] { EXPECT_EQ(obj.get<int>("number"), 2); });  // b has taken the class's view
  Context copy = b.run([] { return Context::copy_current(); });
  cls->setattr("number", 5);
  EXPECT_EQ(obj.get<int>("number"), 5);
  b.run([&] { EXPECT_EQ(obj.call("squared").get<int>(), 25); });
  copy.run([&] { EXPECT_EQ(obj.get<int>("number"), 5); });
  a.run([&] { EXPECT_EQ(obj.get<int>("number"), 3); });  // its own value wins
  // A change while the context is entered on another thread, seen at its next read there.
  std::latch entered(1);
  std::latch changed(1);
  std::thread t([&] {
    b.run([&] {
      EXPECT_EQ(obj.get<int>("number"), 5);
      entered.count_down();
      changed.wait();
      EXPECT_EQ(obj.get<int>("number"), 6);
      EXPECT_EQ(obj.call("squared").get<int>(), 36);
    });
  });
  entered.wait();
  r.get("Squares")->setattr("number", 6);
  changed.count_down();
  t.join();
  cls->delattr("number");
  b.run([&] {
    EXPECT_LB_ERROR(obj.get<int>("number"), AttributeError,
                    "'Squares' object has no attribute 'number'");
  });
  copy.run([&] { EXPECT_FALSE(obj.hasattr("number")); });
  a.run([&] { EXPECT_EQ(obj.call("squared").get<int>(), 9); });
}

// An object dies while a context holds its dict; the next object (most likely with the same
// id) starts empty in that context. After a while, a thousand objects push the ids past the
// dense part of the context's table.
TEST_F(Contexts, RecycledIdsStartEmptyInAContext) {
  constexpr int kRounds = 200;
  int inits = 0;
  Registry r;
  ClassRef cls = r.define(ClassSpec("Fresh").init([&](LocalObject& self, Args, const Dict&) {
    ++inits;
    self.setattr("inited", true);
  }));
  Context ctx;
  std::vector<LocalObject> fillers;
  std::uint32_t high_water = runtime_stats().id_high_water;
  for (int round = 0; round < kRounds; ++round) {
    if (round == kRounds / 2) {
      fillers.resize(1000);
      high_water = runtime_stats().id_high_water;
    }
    {
      LocalObject obj(cls);
      auto use = [&] {
        EXPECT_EQ(repr(obj.dict()), "{'inited': True}") << round;
        obj.setattr("v", round);
        obj.setattr("t", Tracked(round));
      };
      if (round % 2 == 0) {
        ctx.run(use);
      } else {
        std::thread([&] { ctx.run(use); }).join();
      }
    }
    ASSERT_EQ(destroyed_on(round), me_) << round;
  }
  EXPECT_EQ(inits, 2 * kRounds);  // once on main, once in the context, every round
  EXPECT_LE(runtime_stats().id_high_water, high_water + 2) << "ids were not recycled";
  ctx.run([&] {
    LocalObject last(cls);
    EXPECT_EQ(repr(last.dict()), "{'inited': True}");
  });
}

TEST_F(Contexts, ContextTablesAreFreedWithTheContext) {
  std::vector<LocalObject> objs(300);
  for (LocalObject& o : objs) o.setattr("v", 0);  // main's table covers them before the baseline
  const RuntimeStats s0 = runtime_stats();
  {
    Context ctx;
    ctx.run([&] {
      for (LocalObject& o : objs) o.setattr("v", 1);
    });
    const Context copy = ctx.run([] { return Context::copy_current(); });
    const RuntimeStats s1 = runtime_stats();
    EXPECT_GT(s1.table_bytes, s0.table_bytes);
    EXPECT_EQ(s1.live_records, s0.live_records + 2 * objs.size());
    EXPECT_EQ(s1.live_contexts, s0.live_contexts + 2);
  }
  const RuntimeStats s2 = runtime_stats();
  EXPECT_EQ(s2.table_bytes, s0.table_bytes);
  EXPECT_EQ(s2.live_records, s0.live_records);
  EXPECT_EQ(s2.live_contexts, s0.live_contexts);
}

// Once armed, its next copy constructor stops at a gate: a copy_current that copies it waits
// there until the test opens the gate.
struct Gate {
  struct Latches {
    std::atomic<bool> armed{false};
    std::latch copying{1};
    std::latch open{1};
  };
  explicit Gate(std::shared_ptr<Latches> l) : latches(std::move(l)) {}
  Gate(const Gate& other) : latches(other.latches) {
    if (!latches->armed.exchange(false)) return;
    latches->copying.count_down();
    latches->open.wait();
  }
  Gate(Gate&&) noexcept = default;
  std::shared_ptr<Latches> latches;
};

// An object dies on another thread while copy_current is copying the dicts; the victim's dict
// is touched before the gate's (its copy is made before the death) or after it (not yet).
TEST_F(Contexts, ObjectDyingWhileCopyCurrentRunsIsDestroyedOnce) {
  for (const bool victim_first : {false, true}) {
    SCOPED_TRACE(victim_first ? "victim copied first" : "victim copied after the gate");
    const int tag = victim_first ? 10 : 0;
    auto latches = std::make_shared<Gate::Latches>();
    LocalObject gate;
    std::optional<LocalObject> victim(std::in_place);
    Context other;
    if (victim_first) victim->setattr("t", Tracked(tag));
    gate.setattr("g", Gate(latches));
    if (!victim_first) victim->setattr("t", Tracked(tag));
    other.run([&] { victim->setattr("t", Tracked(tag + 1)); });
    const RuntimeStats s0 = runtime_stats();
    const long live = live_tracked();
    latches->armed = true;
    std::thread::id killer_id;
    std::thread killer([&] {
      killer_id = std::this_thread::get_id();
      latches->copying.wait();
      victim.reset();  // while the copy waits at the gate
      // The dict of `other`, which no copy is reading, died at once, here.
      EXPECT_EQ(destroyed_on(tag + 1), Ids{killer_id});
      latches->open.count_down();
    });
    const Context copy = Context::copy_current();
    if (latches->armed.exchange(false)) {  // never copied: let the killer go on regardless
      ADD_FAILURE() << "copy_current did not copy the gate's value";
      latches->copying.count_down();
    }
    killer.join();
    // Main's dict for the victim: destroyed once, by the killer or by the copy that kept it.
    const Ids ids = destroyed_on(tag);
    ASSERT_EQ(ids.size(), 1u);
    EXPECT_TRUE(ids[0] == me_[0] || ids[0] == killer_id);
    EXPECT_EQ(live_tracked(), live - 2) << "a copy of the victim's value outlived it";
    const RuntimeStats s1 = runtime_stats();
    EXPECT_EQ(s1.live_records, s0.live_records - 2 + 2);  // victim's two gone; warm_, gate copied
    EXPECT_EQ(s1.live_contexts, s0.live_contexts + 1);
    copy.run([&] { EXPECT_TRUE(gate.hasattr("g")); });
    LocalObject fresh;  // most likely the victim's id: it starts empty in the copy
    copy.run([&] { EXPECT_TRUE(fresh.dict().empty()); });
  }
}

// A scope must be left on its own thread, innermost first; otherwise the process aborts.
// A scope held by a thread_local outlives the thread's own cleanup (the implicit context's
// retirement): until it leaves, the context stays current, so a later thread_local destructor
// still reads and writes the context's dicts, not an empty table that would run init again and
// replace the context's dict.
struct LateReader {
  LocalObject* obj = nullptr;
  std::atomic<int>* saw = nullptr;
  ~LateReader() {
    if (obj != nullptr) *saw = obj->hasattr("x") && obj->get<int>("x") == 7 ? 1 : 2;
  }
};

TEST_F(Contexts, AThreadLocalScopeKeepsItsContextCurrentThroughThreadExit) {
  std::atomic<int> inits{0};
  Registry registry;
  registry.define(
      ClassSpec("Counted").init([&inits](LocalObject&, Args, const Dict&) { ++inits; }));
  LocalObject obj = registry.instantiate("Counted");
  const Context context;
  std::atomic<int> saw{0};
  std::thread([&] {
    // Constructed in this order, destroyed in the reverse: the thread's cleanup (registered at
    // its first access, below), then the reader, then the scope.
    thread_local std::unique_ptr<Context::Scope> scope;
    thread_local LateReader reader;
    obj.setattr("y", 1);  // the implicit context's first access
    scope = std::make_unique<Context::Scope>(context);
    obj.setattr("x", 7);  // in the context
    reader.obj = &obj;
    reader.saw = &saw;
  }).join();
  EXPECT_EQ(saw, 1) << "the context's dict was not current, or was replaced, after thread exit";
  EXPECT_EQ(inits, 3) << "construction, the implicit context, the context: once each";
  context.run([&] { EXPECT_EQ(obj.get<int>("x"), 7); });
}

// fork() while another thread has a context entered: that thread does not exist in the child,
// so its scope's hold is dropped there and the context can be entered; the forking thread's own
// scope stays entered. The child reports through its exit status.
TEST_F(Contexts, ForkReleasesContextsEnteredByVanishedThreads) {
  LocalObject obj;
  const Context theirs;
  const Context mine;
  std::latch entered(1);
  std::latch forked(1);
  std::thread other([&] {
    const Context::Scope scope(theirs);
    obj.setattr("x", 1);
    entered.count_down();
    forked.wait();
  });
  entered.wait();
  int status = 0;
  {
    const Context::Scope scope(mine);
    obj.setattr("x", 2);
    const pid_t pid = fork();
    if (pid == 0) {
      int code = 0;
      try {
        if (theirs.entered()) code = 10;
        theirs.run([&] {
          if (obj.get<int>("x") != 1) code = 11;
        });
        if (!mine.entered() || obj.get<int>("x") != 2) code = 12;
      } catch (...) {
        code = 13;
      }
      _exit(code);
    }
    ASSERT_GT(pid, 0);
    forked.count_down();
    ASSERT_EQ(waitpid(pid, &status, 0), pid);
  }
  other.join();
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0) << "10: still entered, 11: wrong dict, 12: own scope lost";
}

TEST(ContextsDeathTest, AScopeLeftOutOfOrderAborts) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_DEATH(
      {
        Context a;
        Context b;
        auto outer = std::make_unique<Context::Scope>(a);
        const Context::Scope inner(b);
        outer.reset();
      },
      "not the innermost one entered");
  EXPECT_DEATH(
      {
        Context a;
        std::unique_ptr<Context::Scope> scope;
        std::thread([&] { scope = std::make_unique<Context::Scope>(a); }).join();
        scope.reset();
      },
      "not the innermost one entered");
}

}  // namespace
}  // namespace localbag
