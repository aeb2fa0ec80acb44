// SPDX-License-Identifier: MIT
// Unit tests for the two additions of <localbag/class.hpp> that a configuration reload rests on:
// ReadScope (reads of one object in a scope never straddle a class change; the change shows when
// the outermost scope ends; a record stale before the scope shows the current view at its first
// read in it) and Class::replace_attrs (several classes' own attributes replaced as one change,
// the old ones handed back, subclasses and overrides as for setattr, errors with nothing
// changed, in Python's words).

#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "localbag/class.hpp"
#include "localbag/context.hpp"
#include "localbag/error.hpp"
#include "localbag/key.hpp"
#include "localbag/local_object.hpp"
#include "localbag/registry.hpp"
#include "localbag/repr.hpp"
#include "test_support.hpp"
#include "worker_thread.hpp"

namespace localbag {
namespace {

// Runs `f` on a new thread and waits for it: a change "made on another thread".
void elsewhere(const std::function<void()>& f) {
  std::thread t(f);
  t.join();
}

using Worker = test::WorkerThread;

ClassRef pair_class(Registry& r, const char* name = "Pair") {
  return r.define(ClassSpec(name).attr("a", 1).attr("b", 1));
}

void set_both(const ClassRef& cls, int v) {
  cls->setattr("a", v);
  cls->setattr("b", v);
}

// ---- ReadScope ----------------------------------------------------------------------------

TEST(ReadScope, TwoReadsNeverStraddleASetattrOnAnotherThread) {
  Registry r;
  const ClassRef cls = pair_class(r);
  LocalObject obj(cls);
  {
    const ReadScope consistent;
    EXPECT_EQ(obj.get<int>("a"), 1);
    elsewhere([&] { set_both(cls, 2); });
    EXPECT_EQ(obj.get<int>("b"), 1);  // the view of the first read
    EXPECT_EQ(obj.get<int>("a"), 1);
    EXPECT_EQ(cls->getattr("a").get<int>(), 2);  // the class itself has changed
  }
  EXPECT_EQ(obj.get<int>("a"), 2);  // seen once the scope ended
  EXPECT_EQ(obj.get<int>("b"), 2);
}

TEST(ReadScope, ChangesOnTheSameThreadWaitForTheScopeToEnd) {
  Registry r;
  const ClassRef cls = pair_class(r);
  LocalObject obj(cls);
  {
    const ReadScope consistent;
    EXPECT_EQ(obj.get<int>("a"), 1);
    set_both(cls, 2);
    EXPECT_EQ(obj.get<int>("b"), 1);
  }
  EXPECT_EQ(obj.get<int>("b"), 2);
}

TEST(ReadScope, ManyChangesDuringAScopeShowAsTheLastOne) {
  Registry r;
  const ClassRef cls = pair_class(r);
  LocalObject obj(cls);
  {
    const ReadScope consistent;
    EXPECT_EQ(obj.get<int>("a"), 1);
    elsewhere([&] {
      for (int v = 2; v <= 100; ++v) set_both(cls, v);
    });
    EXPECT_EQ(obj.get<int>("a"), 1);
    EXPECT_EQ(obj.get<int>("b"), 1);
  }
  EXPECT_EQ(obj.get<int>("a"), 100);
  EXPECT_EQ(obj.get<int>("b"), 100);
}

TEST(ReadScope, ReadsAtTheScopesStartAgreeWhateverTheTiming) {
  Registry r;
  const ClassRef cls = pair_class(r);
  LocalObject obj(cls);
  EXPECT_EQ(obj.get<int>("a"), 1);  // the record holds the first view
  const ReadScope consistent;
  elsewhere([&] { set_both(cls, 2); });  // after the scope began, before its first read
  const int a = obj.get<int>("a");       // either version may show, then the same one
  EXPECT_TRUE(a == 1 || a == 2) << a;
  EXPECT_EQ(obj.get<int>("b"), a);
  EXPECT_EQ(obj.get<int>("a"), a);
}

TEST(ReadScope, NestedScopesEndAtTheOutermost) {
  Registry r;
  const ClassRef cls = pair_class(r);
  LocalObject obj(cls);
  {
    const ReadScope outer;
    EXPECT_EQ(obj.get<int>("a"), 1);
    {
      const ReadScope inner;
      elsewhere([&] { set_both(cls, 2); });
      EXPECT_EQ(obj.get<int>("a"), 1);
    }
    EXPECT_EQ(obj.get<int>("b"), 1);  // the inner scope's end does not count
    {
      const ReadScope again;
      EXPECT_EQ(obj.get<int>("b"), 1);
    }
  }
  EXPECT_EQ(obj.get<int>("a"), 2);
  {
    const ReadScope next;  // a new outermost scope takes the current view
    EXPECT_EQ(obj.get<int>("b"), 2);
  }
}

TEST(ReadScope, ARecordStaleBeforeTheScopeShowsTheCurrentViewAtItsFirstRead) {
  Registry r;
  const ClassRef cls = pair_class(r);
  LocalObject obj(cls);
  EXPECT_EQ(obj.get<int>("a"), 1);
  elsewhere([&] { set_both(cls, 2); });  // no read of obj since
  {
    const ReadScope consistent;
    EXPECT_EQ(obj.get<int>("a"), 2);
    EXPECT_EQ(obj.get<int>("b"), 2);
  }
  // The same when the change was made on this thread, and for a second scope after another.
  set_both(cls, 3);
  {
    const ReadScope consistent;
    EXPECT_EQ(obj.get<int>("b"), 3);
  }
  set_both(cls, 4);
  {
    const ReadScope consistent;
    EXPECT_EQ(obj.get<int>("a"), 4);
    elsewhere([&] { set_both(cls, 5); });
    EXPECT_EQ(obj.get<int>("b"), 4);
  }
  EXPECT_EQ(obj.get<int>("b"), 5);
}

TEST(ReadScope, AStaleRecordAfterAnEarlierScopeShowsTheCurrentView) {
  Registry r;
  const ClassRef cls = pair_class(r);
  LocalObject obj(cls);
  {
    const ReadScope first;
    EXPECT_EQ(obj.get<int>("a"), 1);
    elsewhere([&] { set_both(cls, 2); });
    EXPECT_EQ(obj.get<int>("a"), 1);
  }
  // No read between the scopes: the record still holds view 1, superseded before this scope.
  {
    const ReadScope second;
    EXPECT_EQ(obj.get<int>("a"), 2);
    EXPECT_EQ(obj.get<int>("b"), 2);
  }
}

TEST(ReadScope, AnObjectFirstReadInTheScope) {
  Registry r;
  const ClassRef cls = pair_class(r);
  set_both(cls, 7);
  LocalObject obj(cls);
  const ReadScope consistent;
  EXPECT_EQ(obj.get<int>("a"), 7);
  elsewhere([&] { set_both(cls, 8); });
  EXPECT_EQ(obj.get<int>("b"), 7);
}

TEST(ReadScope, OnAFreshThread) {
  Registry r;
  const ClassRef cls = pair_class(r);
  LocalObject obj(cls);
  std::mutex m;
  std::condition_variable cv;
  int step = 0;
  std::thread reader([&] {
    const ReadScope consistent;  // before this thread ever touched localbag
    EXPECT_EQ(obj.get<int>("a"), 1);
    {
      std::unique_lock lock(m);
      step = 1;
      cv.notify_all();
      cv.wait(lock, [&] { return step == 2; });
    }
    EXPECT_EQ(obj.get<int>("b"), 1);
  });
  {
    std::unique_lock lock(m);
    cv.wait(lock, [&] { return step == 1; });
  }
  set_both(cls, 2);
  EXPECT_EQ(obj.get<int>("a"), 2);  // this thread, in no scope, sees it at once
  {
    std::lock_guard lock(m);
    step = 2;
  }
  cv.notify_all();
  reader.join();
}

TEST(ReadScope, OtherThreadsAreNotHeldBack) {
  Registry r;
  const ClassRef cls = pair_class(r);
  LocalObject obj(cls);
  Worker worker;
  std::optional<ReadScope> held;
  worker.run([&] {
    held.emplace();  // begun and ended on the worker
    EXPECT_EQ(obj.get<int>("a"), 1);
  });
  set_both(cls, 2);
  EXPECT_EQ(obj.get<int>("a"), 2);
  elsewhere([&] { EXPECT_EQ(obj.get<int>("b"), 2); });
  worker.run([&] {
    EXPECT_EQ(obj.get<int>("b"), 1);
    held.reset();
    EXPECT_EQ(obj.get<int>("b"), 2);
  });
}

TEST(ReadScope, InsideAnEnteredContext) {
  Registry r;
  const ClassRef cls = pair_class(r);
  LocalObject obj(cls);
  Context ctx;
  {
    const Context::Scope entered(ctx);
    obj.setattr("own", "ctx");
    const ReadScope consistent;
    EXPECT_EQ(obj.get<int>("a"), 1);
    elsewhere([&] { set_both(cls, 2); });
    EXPECT_EQ(obj.get<int>("b"), 1);
    EXPECT_EQ(obj.get<std::string>("own"), "ctx");
  }
  const Context::Scope entered(ctx);
  EXPECT_EQ(obj.get<int>("a"), 2);
}

TEST(ReadScope, ASubclassObjectKeepsItsInheritedView) {
  Registry r;
  const ClassRef base = pair_class(r, "Base");
  const ClassRef sub = r.define(ClassSpec("Sub").base("Base").attr("s", 1));
  LocalObject obj(sub);
  {
    const ReadScope consistent;
    EXPECT_EQ(obj.get<int>("a"), 1);
    elsewhere([&] {
      set_both(base, 2);
      sub->setattr("s", 2);
    });
    EXPECT_EQ(obj.get<int>("b"), 1);
    EXPECT_EQ(obj.get<int>("s"), 1);
  }
  EXPECT_EQ(obj.get<int>("a") + obj.get<int>("b") + obj.get<int>("s"), 6);
}

TEST(ReadScope, ThisThreadsOwnValuesAreSeenAtOnce) {
  Registry r;
  const ClassRef cls = pair_class(r);
  LocalObject obj(cls);
  const ReadScope consistent;
  EXPECT_EQ(obj.get<int>("a"), 1);
  elsewhere([&] { set_both(cls, 2); });
  obj.setattr("a", 5);
  EXPECT_EQ(obj.get<int>("a"), 5);
  obj.delattr("a");
  EXPECT_EQ(obj.get<int>("a"), 1);  // the class value of the scope's view shows again
}

TEST(ReadScope, AddedAndDeletedAttributesWaitForTheScope) {
  Registry r;
  const ClassRef cls = pair_class(r);
  LocalObject obj(cls);
  static const Key b_key("b");
  {
    const ReadScope consistent;
    EXPECT_EQ(obj.get<int>(b_key), 1);
    elsewhere([&] {
      cls->setattr("z", 26);
      cls->delattr("b");
    });
    EXPECT_FALSE(obj.hasattr("z"));
    EXPECT_FALSE(obj.try_get<int>("z").has_value());
    EXPECT_LB_ERROR(obj.getattr("z"), AttributeError, "'Pair' object has no attribute 'z'");
    EXPECT_TRUE(obj.hasattr("b"));
    EXPECT_EQ(obj.get<int>(b_key), 1);
  }
  EXPECT_EQ(obj.get<int>("z"), 26);
  EXPECT_FALSE(obj.hasattr(b_key));
}

TEST(ReadScope, AReplaceAttrsOnAnotherThreadWaitsForTheScope) {
  Registry r;
  const ClassRef base = pair_class(r, "Base");
  const ClassRef sub = r.define(ClassSpec("Sub").base("Base").attr("s", 1));
  LocalObject obj(sub);
  {
    const ReadScope consistent;
    EXPECT_EQ(obj.get<int>("s"), 1);
    elsewhere([&] {
      std::vector<Class::AttrsChange> changes(2);
      changes[0] = {base, Dict{{"a", 2}, {"b", 2}}};
      changes[1] = {sub, Dict{{"s", 2}}};
      Class::replace_attrs(changes);
    });
    EXPECT_EQ(obj.get<int>("a"), 1);
    EXPECT_EQ(obj.get<int>("b"), 1);
  }
  EXPECT_EQ(obj.get<int>("a") + obj.get<int>("b") + obj.get<int>("s"), 6);
}

TEST(ReadScope, ConcurrentReadersSeeOneVersionPerScope) {
  Registry r;
  const ClassRef base = pair_class(r, "Base");
  const ClassRef sub = r.define(ClassSpec("Sub").base("Base").attr("s", 1));
  LocalObject obj(sub);
  std::atomic<bool> done{false};
  std::atomic<long> mixed{0};
  std::atomic<long> reads{0};
  std::vector<std::thread> readers;
  for (int i = 0; i < 2; ++i) {
    readers.emplace_back([&] {
      long n = 0;
      while (!done.load(std::memory_order_acquire)) {
        const ReadScope consistent;
        const int a = obj.get<int>("a");
        const int s = obj.get<int>("s");
        const int b = obj.get<int>("b");
        if (a != b || a != s) mixed.fetch_add(1);
        ++n;
      }
      reads.fetch_add(n);
    });
  }
  for (int v = 2; v <= 2000; ++v) {
    std::vector<Class::AttrsChange> changes(2);
    changes[0] = {base, Dict{{"a", v}, {"b", v}}};
    changes[1] = {sub, Dict{{"s", v}}};
    Class::replace_attrs(changes);
  }
  done.store(true, std::memory_order_release);
  for (std::thread& t : readers) t.join();
  EXPECT_EQ(mixed.load(), 0);
  EXPECT_GT(reads.load(), 0);
  EXPECT_EQ(obj.get<int>("s"), 2000);
}

// ---- Class::replace_attrs -----------------------------------------------------------------

TEST(ReplaceAttrs, ReplacesSeveralClassesAndHandsBackTheOldAttributes) {
  Registry r;
  const ClassRef a = r.define(ClassSpec("A").attr("a", 1).attr("x", 1));
  const ClassRef b = r.define(ClassSpec("B").attr("b", 1));
  const ClassRef sub = r.define(ClassSpec("SubA").base("A").attr("s", 1));
  LocalObject sub_obj(sub);
  LocalObject b_obj(b);
  EXPECT_EQ(sub_obj.get<int>("x"), 1);
  std::vector<Class::AttrsChange> changes(2);
  changes[0] = {a, Dict{{"a", 2}, {"y", "new"}}};
  changes[1] = {b, Dict{{"b", 2}}};
  Class::replace_attrs(changes);
  EXPECT_EQ(repr(a->own_attrs()), "{'a': 2, 'y': 'new'}");
  EXPECT_EQ(repr(b->own_attrs()), "{'b': 2}");
  EXPECT_EQ(repr(changes[0].attrs), "{'a': 1, 'x': 1}");  // what was replaced
  EXPECT_EQ(repr(changes[1].attrs), "{'b': 1}");
  EXPECT_EQ(changes[0].cls, a);
  // Subclasses see the inherited values at once; removed attributes are gone.
  EXPECT_EQ(sub_obj.get<int>("a"), 2);
  EXPECT_EQ(sub_obj.get<std::string>("y"), "new");
  EXPECT_FALSE(sub_obj.hasattr("x"));
  EXPECT_FALSE(sub->hasattr("x"));
  EXPECT_EQ(sub_obj.get<int>("s"), 1);
  EXPECT_EQ(repr(sub->own_attrs()), "{'s': 1}");
  EXPECT_EQ(b_obj.get<int>("b"), 2);
  elsewhere([&] {
    EXPECT_EQ(sub_obj.get<int>("a"), 2);
    EXPECT_FALSE(sub_obj.hasattr("x"));
  });
}

TEST(ReplaceAttrs, ABaseAndItsSubclassInOneChange) {
  Registry r;
  const ClassRef base = r.define(ClassSpec("Base").attr("v", 1).attr("w", 1));
  const ClassRef mid = r.define(ClassSpec("Mid").base("Base").attr("v", 10));
  const ClassRef leaf = r.define(ClassSpec("Leaf").base("Mid"));
  LocalObject obj(leaf);
  EXPECT_EQ(obj.get<int>("v"), 10);
  // Listed subclass first: the order of the span does not matter.
  std::vector<Class::AttrsChange> changes(2);
  changes[0] = {mid, Dict{{"m", 3}}};
  changes[1] = {base, Dict{{"v", 2}, {"w", 2}}};
  Class::replace_attrs(changes);
  EXPECT_EQ(obj.get<int>("v"), 2);  // Mid no longer hides it
  EXPECT_EQ(obj.get<int>("w"), 2);
  EXPECT_EQ(obj.get<int>("m"), 3);
  EXPECT_EQ(repr(changes[0].attrs), "{'v': 10}");
}

TEST(ReplaceAttrs, OverridesStay) {
  Registry r;
  const ClassRef cls = pair_class(r);
  LocalObject obj(cls);
  Worker worker;
  worker.run([&] { obj.setattr("a", 9); });
  Context ctx;
  ctx.run([&] { obj.setattr("b", 8); });
  std::vector<Class::AttrsChange> changes(1);
  changes[0] = {cls, Dict{{"b", 2}}};
  Class::replace_attrs(changes);
  worker.run([&] {
    EXPECT_EQ(obj.get<int>("a"), 9);
    EXPECT_EQ(obj.get<int>("b"), 2);
  });
  ctx.run([&] {
    EXPECT_EQ(obj.get<int>("b"), 8);
    EXPECT_FALSE(obj.hasattr("a"));
  });
  EXPECT_FALSE(obj.hasattr("a"));
  EXPECT_EQ(obj.get<int>("b"), 2);
}

TEST(ReplaceAttrs, EmptyChanges) {
  Registry r;
  const ClassRef cls = pair_class(r);
  LocalObject obj(cls);
  std::vector<Class::AttrsChange> none;
  Class::replace_attrs(none);
  EXPECT_EQ(obj.get<int>("a"), 1);
  std::vector<Class::AttrsChange> clear(1);
  clear[0].cls = cls;
  Class::replace_attrs(clear);
  EXPECT_TRUE(cls->own_attrs().empty());
  EXPECT_FALSE(obj.hasattr("a"));
  EXPECT_EQ(repr(clear[0].attrs), "{'a': 1, 'b': 1}");
}

TEST(ReplaceAttrs, MethodsAreAttributesToo) {
  Registry r;
  const ClassRef cls = r.define(ClassSpec("M").attr("n", 3).method(
      "twice", [](LocalObject& self, Args) -> Value { return 2 * self.get<int>("n"); }));
  LocalObject obj(cls);
  EXPECT_EQ(obj.call("twice").get<int>(), 6);
  Dict attrs = cls->own_attrs();
  attrs.set("n", 5);
  std::vector<Class::AttrsChange> keep(1);
  keep[0] = {cls, std::move(attrs)};
  Class::replace_attrs(keep);
  EXPECT_EQ(obj.call("twice").get<int>(), 10);
  std::vector<Class::AttrsChange> drop(1);
  drop[0] = {cls, Dict{{"n", 1}}};
  Class::replace_attrs(drop);
  EXPECT_LB_ERROR(obj.call("twice"), AttributeError, "'M' object has no attribute 'twice'");
}

// The attributes of every class of the test, as text: equal before and after a refused change.
std::string state(const std::vector<ClassRef>& classes, const LocalObject& obj) {
  std::string out;
  for (const ClassRef& c : classes) out += c->name() + repr(c->own_attrs()) + ";";
  return out + repr(obj.getattr("a")) + repr(obj.getattr("b"));
}

TEST(ReplaceAttrs, ErrorsChangeNothing) {
  Registry r;
  const ClassRef a = r.define(ClassSpec("A").attr("a", 1).attr("b", 1));
  const ClassRef slotted = r.define(ClassSpec("Slotted").slots({"s"}).attr("t", 1));
  const ClassRef under_slots = r.define(ClassSpec("UnderSlots").base("Slotted"));
  const std::vector<ClassRef> all = {a, slotted, under_slots};
  LocalObject obj(a);
  const std::string before = state(all, obj);
  // Each list starts with a valid change of A, which must not happen either.
  auto valid = [&] { return Class::AttrsChange{a, Dict{{"a", 2}, {"b", 2}}}; };

  {
    std::vector<Class::AttrsChange> changes = {valid(), {Class::local(), Dict{{"x", 1}}}};
    EXPECT_LB_ERROR(Class::replace_attrs(changes), TypeError,
                    "cannot set '__dict__' attribute of immutable type 'local'");
    EXPECT_EQ(state(all, obj), before);
  }
  {
    std::vector<Class::AttrsChange> changes = {valid(), {slotted, Dict{{"t", 2}, {"s", 1}}}};
    EXPECT_LB_ERROR(Class::replace_attrs(changes), ValueError,
                    "'s' in __slots__ conflicts with class variable");
    EXPECT_EQ(state(all, obj), before);
  }
  {
    // A slot a base declares.
    std::vector<Class::AttrsChange> changes = {valid(), {under_slots, Dict{{"s", 1}}}};
    EXPECT_LB_ERROR(Class::replace_attrs(changes), ValueError,
                    "'s' in __slots__ conflicts with class variable");
    EXPECT_EQ(state(all, obj), before);
  }
  {
    std::vector<Class::AttrsChange> changes = {valid(), {a, Dict{{"a", 3}}}};
    EXPECT_LB_ERROR(Class::replace_attrs(changes), ValueError,
                    "class 'A' appears twice in one change");
    EXPECT_EQ(state(all, obj), before);
  }
  {
    Dict move_only;
    move_only.set("p", Value(test::MoveOnly(1)));
    std::vector<Class::AttrsChange> changes(2);
    changes[0] = valid();
    changes[1] = {slotted, std::move(move_only)};
    EXPECT_LB_ERROR(Class::replace_attrs(changes), TypeError,
                    "cannot copy 'localbag::test::MoveOnly' object");
    EXPECT_EQ(state(all, obj), before);
  }
  {
    std::vector<Class::AttrsChange> changes = {valid(), {slotted, Dict{{"__dict__", Dict{}}}}};
    EXPECT_LB_ERROR(Class::replace_attrs(changes), AttributeError,
                    "attribute '__dict__' of 'type' objects is not writable");
    EXPECT_EQ(state(all, obj), before);
  }
  // And the valid change alone goes through.
  std::vector<Class::AttrsChange> changes = {valid()};
  Class::replace_attrs(changes);
  EXPECT_EQ(obj.get<int>("a") + obj.get<int>("b"), 4);
}

}  // namespace
}  // namespace localbag
