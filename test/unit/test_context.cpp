// SPDX-License-Identifier: MIT
// Contexts: an entered context's dicts take the place of the thread's for every access, init runs
// once per (context, object), scopes nest, a context is entered on one thread at a time and
// moves between threads, copy_current. Lifetime is in test_context_lifetime.cpp.

#include <gtest/gtest.h>

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
#include "first_accesses.hpp"
#include "test_support.hpp"


namespace localbag {
namespace {

TEST_F(Contexts, EnteredContextHasItsOwnDicts) {
  LocalObject obj;
  obj.setattr("v", 1);
  obj.setattr("implicit_only", true);
  Context ctx;
  {
    const Context::Scope entered(ctx);
    EXPECT_FALSE(obj.hasattr("v"));
    EXPECT_TRUE(obj.dict().empty());
    EXPECT_EQ(obj.find("v"), nullptr);
    EXPECT_EQ(obj.try_get<int>("v"), std::nullopt);
    EXPECT_THROW(obj.get<int>("v"), AttributeError);
    EXPECT_THROW(obj.delattr("implicit_only"), AttributeError);
    obj.setattr("v", 2);
    obj.dict().set("w", 3);
    EXPECT_EQ(obj.get<int>("v"), 2);
    EXPECT_EQ(obj.getattr("w").get<int>(), 3);
    EXPECT_EQ(obj.ref<int>("v"), 2);
    EXPECT_EQ(repr(obj.getattr("__dict__")), "{'v': 2, 'w': 3}");
    obj.delattr("w");
    EXPECT_EQ(obj.dict().keys(), (std::vector<std::string>{"v"}));
  }
  EXPECT_EQ(repr(obj.dict()), "{'v': 1, 'implicit_only': True}");
  ctx.run([&] { EXPECT_EQ(repr(obj.dict()), "{'v': 2}"); });
  EXPECT_EQ(ctx.run([&] { return obj.get<int>("v"); }), 2);
  // run returns what f returns, a reference included: here one into the context's dict.
  int& in_ctx = ctx.run([&]() -> int& { return obj.ref<int>("v"); });
  in_ctx = 5;
  EXPECT_EQ(ctx.run([&] { return obj.get<int>("v"); }), 5);
  EXPECT_EQ(obj.get<int>("v"), 1);
}

TEST_F(Contexts, InitRunsOncePerContextOnAnyFirstAccess) {
  int inits = 0;
  Registry r;
  ClassRef cls = r.define(ClassSpec("Counted")
                              .attr("number", 2)
                              .init([&](LocalObject& self, Args, const Dict&) {
                                ++inits;
                                self.setattr("from_init", 1);
                              })
                              .method("m", [](LocalObject&, Args) -> Value { return 3; }));
  LocalObject obj(cls);
  ASSERT_EQ(inits, 1);  // the implicit context's, at construction
  const std::vector<test::Access> accesses = test::first_accesses();
  int expected = 1;
  for (const auto& [kind, access] : accesses) {
    Context ctx;
    ctx.run([&, &kind = kind, &access = access] {
      access(obj);
      EXPECT_EQ(inits, ++expected) << kind;
      // Later accesses of every kind do not run init again.
      obj.setattr("later", 1);
      (void)obj.get<int>("later");
      (void)obj.hasattr("from_init");
      (void)obj.dict();
      (void)obj.call("m");
      EXPECT_EQ(inits, expected) << kind;
    });
    ctx.run([&] { EXPECT_TRUE(obj.hasattr("later")); });  // entering again finds the dict
    EXPECT_EQ(inits, expected) << kind;
  }
  EXPECT_EQ(obj.get<int>("from_init"), 1);
  EXPECT_FALSE(obj.hasattr("later"));
  EXPECT_EQ(inits, expected);
}

TEST_F(Contexts, ObjectMadeInAScopeIsInitialisedThere) {
  int inits = 0;
  Registry r;
  ClassRef cls = r.define(ClassSpec("Made").init(
      [&](LocalObject& self, Args, const Dict&) { self.setattr("n", ++inits); }));
  Context ctx;
  std::optional<LocalObject> obj;
  ctx.run([&] { obj.emplace(cls); });
  EXPECT_EQ(inits, 1);
  EXPECT_EQ(obj->get<int>("n"), 2);  // the implicit context's first access
  ctx.run([&] { EXPECT_EQ(obj->get<int>("n"), 1); });
  EXPECT_EQ(inits, 2);
}

struct InitFailed {};

TEST_F(Contexts, InitThatThrowsInAContextLeavesNoDict) {
  bool fail = false;
  int tag = 0;
  Registry r;
  ClassRef cls = r.define(ClassSpec("Failing").init([&](LocalObject& self, Args, const Dict&) {
    self.setattr("partial", Tracked(tag++));
    if (fail) throw InitFailed{};
    self.setattr("ok", true);
  }));
  LocalObject obj(cls);  // Tracked(0), in main's own dict
  fail = true;
  Context ctx;
  const std::uint64_t records = runtime_stats().live_records;
  ctx.run([&] {
    EXPECT_THROW(obj.get<bool>("ok"), InitFailed);  // Tracked(1), destroyed with the dict
    EXPECT_EQ(runtime_stats().live_records, records);
    EXPECT_EQ(destroyed_on(1), me_);
    fail = false;
    EXPECT_TRUE(obj.get<bool>("ok"));  // the next access runs init again: Tracked(2)
    EXPECT_EQ(obj.ref<Tracked>("partial").tag(), 2);
  });
  EXPECT_EQ(runtime_stats().live_records, records + 1);
  EXPECT_EQ(obj.ref<Tracked>("partial").tag(), 0);
}

TEST_F(Contexts, ScopesNest) {
  LocalObject obj;
  obj.setattr("where", "implicit");
  Context a;
  Context b;
  {
    const Context::Scope in_a(a);
    obj.setattr("where", "a");
    {
      const Context::Scope in_b(b);
      EXPECT_FALSE(obj.hasattr("where"));
      obj.setattr("where", "b");
      EXPECT_TRUE(a.entered());
      EXPECT_TRUE(b.entered());
    }
    EXPECT_FALSE(b.entered());
    EXPECT_EQ(obj.get<std::string>("where"), "a");
  }
  EXPECT_FALSE(a.entered());
  EXPECT_EQ(obj.get<std::string>("where"), "implicit");
  const std::string seen = a.run([&] {
    std::string inner = b.run([&] { return obj.get<std::string>("where"); });
    return inner + "/" + obj.get<std::string>("where");
  });
  EXPECT_EQ(seen, "b/a");
  b.run([&] {
    a.run([&] { EXPECT_EQ(obj.get<std::string>("where"), "a"); });
    EXPECT_EQ(obj.get<std::string>("where"), "b");
  });
  // An exception leaves the scope too.
  EXPECT_THROW(a.run([]() -> int { throw std::runtime_error("out"); }), std::runtime_error);
  EXPECT_FALSE(a.entered());
  EXPECT_EQ(obj.get<std::string>("where"), "implicit");
}

TEST_F(Contexts, EnteringItAgainOnThisThreadThrowsAndChangesNothing) {
  LocalObject obj;
  obj.setattr("where", "implicit");
  Context a;
  const Context a_too = a;  // another handle to the same context
  Context b;
  {
    const Context::Scope in_a(a);
    obj.setattr("where", "a");
    EXPECT_LB_ERROR(const Context::Scope again(a_too), RuntimeError, kEnteredHere);
    EXPECT_TRUE(a.entered());
    EXPECT_EQ(obj.get<std::string>("where"), "a");
    {
      const Context::Scope in_b(b);
      obj.setattr("where", "b");
      EXPECT_LB_ERROR(a.run([] {}), RuntimeError, kEnteredHere);
      EXPECT_EQ(obj.get<std::string>("where"), "b");
      obj.setattr("still", 1);  // b is still the one written
    }
    EXPECT_EQ(obj.get<std::string>("where"), "a");
    EXPECT_FALSE(obj.hasattr("still"));
  }
  EXPECT_FALSE(a.entered());
  EXPECT_EQ(obj.get<std::string>("where"), "implicit");
  b.run([&] { EXPECT_EQ(obj.get<int>("still"), 1); });
  a.run([&] { EXPECT_EQ(obj.get<std::string>("where"), "a"); });  // once left, enterable
}

TEST_F(Contexts, EnteringItWhileEnteredOnAnotherThreadThrows) {
  LocalObject obj;
  obj.setattr("where", "main");
  Context ctx;
  Context other;
  std::latch entered(1);
  std::latch tried(1);
  std::thread t([&] {
    const Context::Scope in(ctx);
    obj.setattr("where", "worker");
    obj.setattr("t", Tracked(1));
    entered.count_down();
    tried.wait();
  });
  entered.wait();
  EXPECT_TRUE(ctx.entered());
  EXPECT_LB_ERROR(const Context::Scope in(ctx), RuntimeError, kEnteredElsewhere);
  EXPECT_LB_ERROR(ctx.run([] {}), RuntimeError, kEnteredElsewhere);
  EXPECT_EQ(obj.get<std::string>("where"), "main");  // still the implicit context
  obj.setattr("after", 1);
  other.run([&] {
    EXPECT_LB_ERROR(const Context::Scope in(ctx), RuntimeError, kEnteredElsewhere);
    EXPECT_FALSE(obj.hasattr("where"));  // still `other`
    obj.setattr("where", "other");
  });
  tried.count_down();
  t.join();  // the worker left, then exited: the context's dicts stay with it
  EXPECT_FALSE(ctx.entered());
  EXPECT_TRUE(destroyed_on(1).empty());
  EXPECT_EQ(obj.get<int>("after"), 1);
  ctx.run([&] {
    EXPECT_EQ(obj.get<std::string>("where"), "worker");
    EXPECT_EQ(obj.ref<Tracked>("t").tag(), 1);
    EXPECT_FALSE(obj.hasattr("after"));
  });
  other.run([&] { EXPECT_EQ(obj.get<std::string>("where"), "other"); });
}

TEST_F(Contexts, DictsMoveWithTheContextFromThreadToThread) {
  LocalObject a;
  LocalObject b;
  std::optional<Context> ctx(std::in_place);
  std::thread([&] {
    ctx->run([&] {
      a.setattr("t", Tracked(1));
      a.setattr("n", 1);
    });
  }).join();
  EXPECT_TRUE(destroyed_on(1).empty());
  std::thread::id second;
  std::thread([&] {
    second = std::this_thread::get_id();
    ctx->run([&] {
      EXPECT_EQ(a.ref<Tracked>("t").tag(), 1);
      a.setattr("n", a.get<int>("n") + 1);
      a.setattr("t", Tracked(2));  // replaces 1, here
      b.setattr("t", Tracked(3));
    });
  }).join();
  EXPECT_EQ(destroyed_on(1), Ids{second});
  ctx->run([&] {
    EXPECT_EQ(a.get<int>("n"), 2);
    EXPECT_EQ(b.ref<Tracked>("t").tag(), 3);
  });
  EXPECT_FALSE(a.hasattr("n"));
  ctx.reset();  // the last handle: the dicts die here
  EXPECT_EQ(destroyed_on(2), me_);
  EXPECT_EQ(destroyed_on(3), me_);
}

// Nothing but the scopes orders the two threads: each enters when the other has left (retrying
// while it is entered) and reads what the other wrote, in the context and in plain memory. TSan
// reports a race if entering does not synchronise with the last leave.
TEST_F(Contexts, EnteringSynchronisesWithTheLastLeave) {
  constexpr int kTurns = 300;
  LocalObject obj;
  Context ctx;
  ctx.run([&] { obj.setattr("turns", 0); });
  long plain = 0;  // not atomic: the scopes are its only synchronisation
  auto play = [&] {
    for (int i = 0; i < kTurns; ++i) {
      for (;;) {
        try {
          const Context::Scope in(ctx);
          const int turns = obj.get<int>("turns");
          EXPECT_EQ(turns, plain);
          obj.setattr("turns", turns + 1);
          obj.setattr(test::numbered("turn", turns), Tracked(turns));
          ++plain;
          break;
        } catch (const RuntimeError&) {
          std::this_thread::yield();
        }
      }
    }
  };
  std::thread t1(play);
  std::thread t2(play);
  t1.join();
  t2.join();
  EXPECT_EQ(plain, 2 * kTurns);
  ctx.run([&] { EXPECT_EQ(obj.get<int>("turns"), 2 * kTurns); });
  ctx = Context();  // every turn's value dies here, once
  for (int turn = 0; turn < 2 * kTurns; ++turn) EXPECT_EQ(destroyed_on(turn), me_) << turn;
}

TEST_F(Contexts, CopyCurrentCopiesEveryDictOfTheImplicitContext) {
  int inits = 0;
  Registry r;
  ClassRef cls = r.define(ClassSpec("Counted").init([&](LocalObject& self, Args, const Dict&) {
    ++inits;
    self.setattr("from_init", true);
  }));
  LocalObject counted(cls);
  LocalObject plain;
  std::optional<LocalObject> untouched;  // made in another context: main has no dict for it
  Context().run([&] { untouched.emplace(cls); });
  ASSERT_EQ(inits, 2);
  counted.setattr("n", 1);
  plain.setattr("t", Tracked(1));
  plain.setattr("nested", Dict{{"k", 1}});
  plain.setattr("list", List{Value(1)});
  const long copies = default_ledger().copies();
  const RuntimeStats s0 = runtime_stats();
  Context copy = Context::copy_current();
  EXPECT_FALSE(copy.entered());
  EXPECT_EQ(default_ledger().copies(), copies + 1);  // values are copied by copy construction
  EXPECT_EQ(runtime_stats().live_contexts, s0.live_contexts + 1);
  EXPECT_EQ(runtime_stats().live_records, s0.live_records + 3);  // warm_, counted, plain
  copy.run([&] {
    EXPECT_EQ(repr(counted.dict()), "{'from_init': True, 'n': 1}");
    EXPECT_EQ(inits, 2);  // counted was initialised here by the copy
    EXPECT_EQ(plain.ref<Tracked>("t").tag(), 1);
    EXPECT_FALSE(plain.ref<Tracked>("t").owner());  // a copy
    EXPECT_EQ(repr(untouched->dict()), "{'from_init': True}");
    EXPECT_EQ(inits, 3);  // untouched was not: its init ran now
    EXPECT_EQ(warm_.get<int>("x"), 1);
    counted.setattr("n", 2);
    plain.ref<Dict>("nested").set("k", 2);
    plain.ref<List>("list").push_back(Value(2));
    plain.setattr("only_in_copy", 1);
  });
  EXPECT_EQ(counted.get<int>("n"), 1);
  EXPECT_EQ(repr(plain.getattr("nested")), "{'k': 1}");
  EXPECT_EQ(plain.ref<List>("list").size(), 1u);
  EXPECT_FALSE(plain.hasattr("only_in_copy"));
  EXPECT_TRUE(plain.ref<Tracked>("t").owner());
  counted.setattr("n", 3);
  plain.delattr("t");
  EXPECT_EQ(destroyed_on(1), me_);
  copy.run([&] {
    EXPECT_EQ(counted.get<int>("n"), 2);
    EXPECT_TRUE(plain.hasattr("t"));
  });
}

TEST_F(Contexts, CopyCurrentInsideAScopeCopiesThatContext) {
  LocalObject obj;
  obj.setattr("where", "implicit");
  Context a;
  Context copy = a.run([&] {
    obj.setattr("where", "a");
    return Context::copy_current();
  });
  EXPECT_FALSE(copy == a);
  copy.run([&] {
    EXPECT_EQ(obj.get<std::string>("where"), "a");
    obj.setattr("where", "copy");
  });
  a.run([&] { EXPECT_EQ(obj.get<std::string>("where"), "a"); });
  // Nested: the innermost scope's context is the one copied.
  Context second = a.run([&] { return copy.run([] { return Context::copy_current(); }); });
  second.run([&] { EXPECT_EQ(obj.get<std::string>("where"), "copy"); });
  // A copy of a context with no dicts has none.
  Context empty = Context().run([] { return Context::copy_current(); });
  empty.run([&] {
    EXPECT_FALSE(obj.hasattr("where"));
    EXPECT_FALSE(warm_.hasattr("x"));
  });
  EXPECT_EQ(live_contexts(), before_.live_contexts + 4);
}

TEST_F(Contexts, CopyCurrentRefusesAMoveOnlyValueAndCreatesNothing) {
  std::vector<LocalObject> objs(4);
  objs[0].setattr("t", Tracked(1));
  objs[1].setattr("m", MoveOnly(5));  // copied after objs[0]: that copy must be undone
  objs[2].setattr("t", Tracked(2));
  objs[3].setattr("p", std::make_unique<int>(7));
  const RuntimeStats s0 = runtime_stats();
  const long live = live_tracked();
  auto expect_nothing_created = [&](const char* what) {
    const RuntimeStats now = runtime_stats();
    EXPECT_EQ(now.live_contexts, s0.live_contexts) << what;
    EXPECT_EQ(now.live_records, s0.live_records) << what;
    EXPECT_EQ(now.table_bytes, s0.table_bytes) << what;
    EXPECT_EQ(live_tracked(), live) << what;
  };
  EXPECT_LB_ERROR(auto copy = Context::copy_current(), TypeError,
                  "cannot copy 'localbag::test::MoveOnly' object");
  expect_nothing_created("MoveOnly");
  objs[1].delattr("m");
  try {
    auto copy = Context::copy_current();
    ADD_FAILURE() << "a std::unique_ptr was copied";
  } catch (const TypeError& e) {
    const std::string what = e.what();
    EXPECT_EQ(what.rfind("cannot copy 'std::unique_ptr<int", 0), 0u) << what;
  }
  expect_nothing_created("unique_ptr");
  objs[3].delattr("p");
  Dict nested;
  nested.set("deep", MoveOnly(6));
  objs[2].setattr("nested", std::move(nested));
  EXPECT_LB_ERROR(auto copy = Context::copy_current(), TypeError,
                  "cannot copy 'localbag::test::MoveOnly' object");
  expect_nothing_created("MoveOnly in a nested dict");
  // In an explicit context: the error changes nothing there either.
  Context ctx;
  ctx.run([&] {
    objs[0].setattr("m", MoveOnly(7));
    EXPECT_LB_ERROR(auto copy = Context::copy_current(), TypeError,
                    "cannot copy 'localbag::test::MoveOnly' object");
    EXPECT_TRUE(ctx.entered());
    EXPECT_EQ(objs[0].ref<MoveOnly>("m").value, 7);
  });
  EXPECT_EQ(runtime_stats().live_contexts, s0.live_contexts + 1);
  objs[2].delattr("nested");
  EXPECT_EQ(Context::copy_current().run([&] { return objs[2].ref<Tracked>("t").tag(); }), 2);
}

}  // namespace
}  // namespace localbag
