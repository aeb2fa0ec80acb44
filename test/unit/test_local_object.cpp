// SPDX-License-Identifier: MIT
// Unit tests for <localbag/local_object.hpp> in one thread: attribute access, lookup order
// (slots, then this thread's dict, then the class chain), every error text, and that each failing
// operation leaves the state unchanged. Threads are covered by test_threads.cpp.

#include <gtest/gtest.h>

#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "localbag/class.hpp"
#include "localbag/error.hpp"
#include "localbag/local_object.hpp"
#include "localbag/registry.hpp"
#include "localbag/repr.hpp"
#include "test_support.hpp"

namespace localbag {
namespace {

class LocalObjectTest : public ::testing::Test {
 protected:
  LocalObjectTest() {
    my_local_ = registry_.define(ClassSpec("MyLocal")
                                     .attr("number", 2)
                                     .attr("initialized", false)
                                     .method("squared",
                                             [](LocalObject& self, Args) -> Value {
                                               const int n = self.get<int>("number");
                                               return n * n;
                                             })
                                     .method("add",
                                             [](LocalObject& self, Args args) -> Value {
                                               int sum = self.get<int>("number");
                                               for (const Value& a : args) sum += a.get<int>();
                                               return sum;
                                             })
                                     .method("mark", [](LocalObject& self, Args) -> Value {
                                       self.setattr("marked", true);
                                       return {};
                                     }));
    slotted_ = registry_.define(ClassSpec("Slotted").slots({"number"}).attr("other", 1));
  }
  // Everything this thread can observe about an object, to compare before/after an error.
  static std::string state(const LocalObject& obj) {
    return repr(obj.dict()) + " | " + repr(obj.type()->own_attrs());
  }

  Registry registry_;
  ClassRef my_local_;
  ClassRef slotted_;
};

TEST_F(LocalObjectTest, PlainObjectIsOfClassLocal) {
  LocalObject obj;
  EXPECT_EQ(obj.type(), Class::local());
  EXPECT_EQ(obj.type()->name(), "local");
  EXPECT_TRUE(obj.dict().empty());
}

TEST_F(LocalObjectTest, SetAndGet) {
  LocalObject obj;
  obj.setattr("number", 42);
  EXPECT_EQ(obj.get<int>("number"), 42);
  EXPECT_TRUE(obj.hasattr("number"));
  obj.setattr("number", 43);
  EXPECT_EQ(obj.get<int>("number"), 43);
  obj.setattr("color", "red");  // stored as std::string
  EXPECT_EQ(obj.get<std::string>("color"), "red");
  obj.setattr("v", Value(List{1}));
  EXPECT_EQ(repr(obj.getattr("v")), "[1]");
  EXPECT_EQ(repr(obj.dict()), "{'number': 43, 'color': 'red', 'v': [1]}");
}

TEST_F(LocalObjectTest, MissingAttributeErrors) {
  LocalObject plain;
  plain.setattr("number", 42);
  const std::string before = state(plain);
  EXPECT_LB_ERROR(plain.get<int>("color"), AttributeError,
                  "'local' object has no attribute 'color'");
  EXPECT_LB_ERROR(plain.getattr("color"), AttributeError,
                  "'local' object has no attribute 'color'");
  EXPECT_LB_ERROR(plain.delattr("color"), AttributeError,
                  "'local' object has no attribute 'color'");
  EXPECT_LB_ERROR(plain.call("color"), AttributeError, "'local' object has no attribute 'color'");
  EXPECT_EQ(state(plain), before);
  LocalObject mine(my_local_);
  EXPECT_LB_ERROR(mine.get<std::string>("color"), AttributeError,
                  "'MyLocal' object has no attribute 'color'");
  try {
    mine.getattr("color");
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.to_string(), "AttributeError: 'MyLocal' object has no attribute 'color'");
  }
}

TEST_F(LocalObjectTest, WrongTypeErrors) {
  LocalObject mine(my_local_);
  mine.setattr("label", "x");
  const std::string before = state(mine);
  EXPECT_LB_ERROR(mine.get<std::string>("number"), TypeError,
                  "'MyLocal' object attribute 'number' is int, not str");  // class attribute
  EXPECT_LB_ERROR(mine.get<int>("label"), TypeError,
                  "'MyLocal' object attribute 'label' is str, not int");  // own attribute
  EXPECT_LB_ERROR(mine.get<bool>("number"), TypeError,
                  "'MyLocal' object attribute 'number' is int, not bool");
  EXPECT_LB_ERROR(mine.get<List>("squared"), TypeError,
                  "'MyLocal' object attribute 'squared' is function, not list");
  mine.setattr("nothing", None{});
  EXPECT_LB_ERROR(mine.get<long>("nothing"), TypeError,
                  "'MyLocal' object attribute 'nothing' is NoneType, not long");
  EXPECT_LB_ERROR(mine.ref<double>("label"), TypeError,
                  "'MyLocal' object attribute 'label' is str, not double");
  mine.delattr("nothing");
  EXPECT_EQ(state(mine), before);
}

TEST_F(LocalObjectTest, TryGet) {
  LocalObject mine(my_local_);
  mine.setattr("label", "x");
  EXPECT_EQ(mine.try_get<int>("number"), std::optional<int>(2));
  EXPECT_EQ(mine.try_get<std::string>("label"), std::optional<std::string>("x"));
  EXPECT_EQ(mine.try_get<std::string>("number"), std::nullopt);
  EXPECT_EQ(mine.try_get<int>("missing"), std::nullopt);
}

TEST_F(LocalObjectTest, GetattrReturnsCopies) {
  LocalObject obj;
  obj.setattr("items", List{1, 2});
  Value copy = obj.getattr("items");
  copy.get<List>().push_back(3);
  EXPECT_EQ(obj.get<List>("items").size(), 2u);
  Value d = obj.getattr("__dict__");
  ASSERT_TRUE(d.holds<Dict>());
  EXPECT_EQ(repr(d), "{'items': [1, 2]}");
  d.get<Dict>().set("extra", 1);
  EXPECT_FALSE(obj.hasattr("extra"));
  LocalObject mine(my_local_);
  EXPECT_EQ(mine.getattr("number").get<int>(), 2);
  EXPECT_EQ(repr(mine.getattr("squared")), "<function MyLocal.squared>");
}

TEST_F(LocalObjectTest, RefIsIntoOwnDictOnly) {
  LocalObject mine(my_local_);
  mine.setattr("count", 1);
  mine.ref<int>("count") += 10;
  EXPECT_EQ(mine.get<int>("count"), 11);
  const std::string before = state(mine);
  EXPECT_LB_ERROR(mine.ref<int>("number"), AttributeError,
                  "'MyLocal' object has no per-thread attribute 'number'");
  EXPECT_LB_ERROR(mine.ref<int>("x"), AttributeError,
                  "'MyLocal' object has no per-thread attribute 'x'");
  EXPECT_EQ(state(mine), before);
  EXPECT_EQ(mine.find("number"), nullptr);
  ASSERT_NE(mine.find("count"), nullptr);
  EXPECT_EQ(mine.find("count")->get<int>(), 11);
}

TEST_F(LocalObjectTest, DictIsThisThreadsAttributes) {
  LocalObject obj;
  Dict& d = obj.dict();
  EXPECT_EQ(&d, &obj.dict());
  d.set("number", 42);
  EXPECT_EQ(obj.get<int>("number"), 42);
  obj.setattr("color", "red");
  EXPECT_TRUE(d.contains("color"));
  d.erase("number");
  EXPECT_FALSE(obj.hasattr("number"));
  EXPECT_EQ(repr(obj.dict().setdefault("widgets", List{})), "[]");
  EXPECT_EQ(repr(obj.getattr("widgets")), "[]");
  const LocalObject& cobj = obj;
  EXPECT_EQ(&cobj.dict(), &d);
}

TEST_F(LocalObjectTest, DunderDictIsReadOnly) {
  LocalObject plain;
  plain.setattr("number", 1);
  LocalObject mine(my_local_);
  const std::string before_plain = state(plain);
  const std::string before_mine = state(mine);
  EXPECT_LB_ERROR(plain.setattr("__dict__", Dict{}), AttributeError,
                  "'local' object attribute '__dict__' is read-only");
  EXPECT_LB_ERROR(mine.setattr("__dict__", 1), AttributeError,
                  "'MyLocal' object attribute '__dict__' is read-only");
  EXPECT_LB_ERROR(mine.delattr("__dict__"), AttributeError,
                  "'MyLocal' object attribute '__dict__' is read-only");
  EXPECT_LB_ERROR(mine.setattr(Key{"__dict__"}, 1), AttributeError,
                  "'MyLocal' object attribute '__dict__' is read-only");
  EXPECT_EQ(state(plain), before_plain);
  EXPECT_EQ(state(mine), before_mine);
}

TEST_F(LocalObjectTest, DelattrOwnShowsClassValueAgain) {
  LocalObject mine(my_local_);
  mine.setattr("number", 5);
  EXPECT_EQ(mine.get<int>("number"), 5);
  mine.delattr("number");
  EXPECT_EQ(mine.get<int>("number"), 2);
  const std::string before = state(mine);
  // Only on the class: Python refuses `del obj.number`.
  EXPECT_LB_ERROR(mine.delattr("number"), AttributeError,
                  "'MyLocal' object has no attribute 'number'");
  EXPECT_EQ(state(mine), before);
  EXPECT_EQ(mine.get<int>("number"), 2);
  EXPECT_EQ(my_local_->getattr("number").get<int>(), 2);
}

TEST_F(LocalObjectTest, CallMethods) {
  LocalObject mine(my_local_);
  EXPECT_EQ(mine.call("squared").get<int>(), 4);
  mine.setattr("number", 7);
  EXPECT_EQ(mine.call("squared").get<int>(), 49);
  EXPECT_EQ(mine.call("add", 1, 2).get<int>(), 10);
  const std::vector<Value> args{Value(100)};
  EXPECT_EQ(mine.call("add", Args(args)).get<int>(), 107);
  EXPECT_TRUE(mine.call("mark").is_none());
  EXPECT_TRUE(mine.get<bool>("marked"));  // self was this object
}

TEST_F(LocalObjectTest, CallErrors) {
  LocalObject mine(my_local_);
  mine.setattr("label", "text");
  const std::string before = state(mine);
  EXPECT_LB_ERROR(mine.call("number"), TypeError, "'int' object is not callable");
  EXPECT_LB_ERROR(mine.call("label"), TypeError, "'str' object is not callable");
  EXPECT_LB_ERROR(mine.call("nope"), AttributeError, "'MyLocal' object has no attribute 'nope'");
  EXPECT_EQ(state(mine), before);
  // A method's own exception reaches the caller unchanged.
  Registry r;
  LocalObject thrower(r.define(ClassSpec("Thrower").method(
      "boom", [](LocalObject&, Args) -> Value { throw std::logic_error("boom"); })));
  EXPECT_THROW(thrower.call("boom"), std::logic_error);
}

TEST_F(LocalObjectTest, LookupOrderDictBeforeClassChain) {
  ClassRef sub = registry_.define(ClassSpec("Sub").base("MyLocal").attr("initialized", true));
  LocalObject obj(sub);
  EXPECT_EQ(obj.get<int>("number"), 2);          // from MyLocal
  EXPECT_TRUE(obj.get<bool>("initialized"));     // Sub shadows MyLocal
  EXPECT_EQ(obj.call("squared").get<int>(), 4);  // inherited method
  obj.setattr("number", 3);                      // own dict shadows the class
  EXPECT_EQ(obj.get<int>("number"), 3);
  EXPECT_EQ(obj.call("squared").get<int>(), 9);
  EXPECT_EQ(obj.type(), sub);
}

TEST_F(LocalObjectTest, SlotsBeforeDict) {
  LocalObject obj(slotted_);
  EXPECT_FALSE(obj.hasattr("number"));  // unset slot
  EXPECT_LB_ERROR(obj.get<int>("number"), AttributeError,
                  "'Slotted' object has no attribute 'number'");
  obj.setattr("number", 42);
  EXPECT_EQ(obj.get<int>("number"), 42);
  EXPECT_FALSE(obj.dict().contains("number"));  // a slot is not in the per-thread dict
  EXPECT_EQ(obj.find("number"), nullptr);
  // Even with the name forced into this thread's dict, the slot wins.
  obj.dict().set("number", 99);
  EXPECT_EQ(obj.get<int>("number"), 42);
  EXPECT_EQ(obj.getattr("number").get<int>(), 42);
  EXPECT_EQ(obj.try_get<int>("number"), std::optional<int>(42));
  EXPECT_LB_ERROR(obj.get<std::string>("number"), TypeError,
                  "'Slotted' object attribute 'number' is int, not str");
  EXPECT_LB_ERROR(obj.ref<int>("other"), AttributeError,
                  "'Slotted' object has no per-thread attribute 'other'");
}

TEST_F(LocalObjectTest, SlotDelete) {
  LocalObject obj(slotted_);
  EXPECT_LB_ERROR(obj.delattr("number"), AttributeError,
                  "'Slotted' object has no attribute 'number'");
  obj.setattr("number", 1);
  obj.delattr("number");
  EXPECT_FALSE(obj.hasattr("number"));
  EXPECT_LB_ERROR(obj.getattr("number"), AttributeError,
                  "'Slotted' object has no attribute 'number'");
  obj.setattr("color", "red");  // not a slot: per-thread
  EXPECT_EQ(repr(obj.dict()), "{'color': 'red'}");
  EXPECT_EQ(repr(obj.getattr("__dict__")), "{'color': 'red'}");
}

TEST_F(LocalObjectTest, SlotsArePerObject) {
  LocalObject a(slotted_);
  LocalObject b(slotted_);
  a.setattr("number", 1);
  b.setattr("number", 2);
  EXPECT_EQ(a.get<int>("number"), 1);
  EXPECT_EQ(b.get<int>("number"), 2);
}

TEST_F(LocalObjectTest, HandleSemantics) {
  LocalObject a;
  LocalObject b = a;
  EXPECT_TRUE(a == b);
  b.setattr("shared", 1);
  EXPECT_EQ(a.get<int>("shared"), 1);
  EXPECT_EQ(&a.dict(), &b.dict());
  LocalObject c;
  EXPECT_FALSE(a == c);
  EXPECT_FALSE(c.hasattr("shared"));
  c = a;
  EXPECT_TRUE(c == a);
  EXPECT_EQ(c.get<int>("shared"), 1);
  LocalObject d = std::move(c);
  EXPECT_TRUE(d == a);
}

TEST_F(LocalObjectTest, ConstructorRunsInit) {
  Registry r;
  ClassRef cls = r.define(ClassSpec("Init").init([](LocalObject& self, Args args, const Dict& kw) {
    self.setattr("n_args", static_cast<int>(args.size()));
    self.dict().update(kw);
  }));
  LocalObject obj(cls, {1, 2, 3}, Dict{{"color", "red"}});
  EXPECT_EQ(repr(obj.dict()), "{'n_args': 3, 'color': 'red'}");
}

TEST_F(LocalObjectTest, ConstructorThrowsWhenInitThrows) {
  Registry r;
  ClassRef cls = r.define(ClassSpec("Bad").init([](LocalObject& self, Args, const Dict&) {
    self.setattr("partial", 1);
    throw ValueError("bad init");
  }));
  EXPECT_LB_ERROR(LocalObject obj(cls), ValueError, "bad init");
}

TEST_F(LocalObjectTest, ArgumentsWithoutInit) {
  EXPECT_LB_ERROR(LocalObject obj(my_local_, {1}), TypeError,
                  "Initialization arguments are not supported");
  EXPECT_LB_ERROR(LocalObject obj(Class::local(), {}, Dict{{"k", 1}}), TypeError,
                  "Initialization arguments are not supported");
  LocalObject fine(my_local_, {}, Dict{});
  EXPECT_EQ(fine.get<int>("number"), 2);
}

TEST_F(LocalObjectTest, MoveOnlyValues) {
  LocalObject obj;
  obj.setattr("p", std::make_unique<int>(5));
  EXPECT_EQ(*obj.ref<std::unique_ptr<int>>("p"), 5);
  *obj.ref<std::unique_ptr<int>>("p") = 6;
  EXPECT_TRUE(obj.hasattr("p"));
  const std::string before = repr(obj.dict());
  EXPECT_THROW(obj.getattr("p"), TypeError);
  EXPECT_THROW(obj.getattr("__dict__"), TypeError);
  EXPECT_EQ(repr(obj.dict()), before);
  EXPECT_EQ(*obj.ref<std::unique_ptr<int>>("p"), 6);
  obj.delattr("p");
  EXPECT_FALSE(obj.hasattr("p"));
}

TEST_F(LocalObjectTest, HasattrCoversAllSources) {
  LocalObject mine(my_local_);
  EXPECT_TRUE(mine.hasattr("number"));   // class attribute
  EXPECT_TRUE(mine.hasattr("squared"));  // method
  EXPECT_FALSE(mine.hasattr("color"));
  mine.setattr("color", "red");
  EXPECT_TRUE(mine.hasattr("color"));
  EXPECT_FALSE(LocalObject().hasattr("number"));
}

// `__dict__` is a data descriptor in Python: even a key "__dict__" forced into this thread's dict
// never shadows it, and it stays read-only.
TEST_F(LocalObjectTest, DunderDictNeverShadowedByAKey) {
  LocalObject obj;
  EXPECT_TRUE(obj.hasattr("__dict__"));
  obj.dict().set("__dict__", 1);
  EXPECT_TRUE(obj.getattr("__dict__").holds<Dict>());
  EXPECT_EQ(obj.get<Dict>("__dict__").size(), 1u);
  EXPECT_LB_ERROR(obj.get<int>("__dict__"), TypeError,
                  "'local' object attribute '__dict__' is dict, not int");
  EXPECT_LB_ERROR(obj.delattr("__dict__"), AttributeError,
                  "'local' object attribute '__dict__' is read-only");
  EXPECT_EQ(repr(obj.dict()), "{'__dict__': 1}");
}

// A method that replaces and deletes class attributes, itself included, while it runs.
TEST_F(LocalObjectTest, MethodReplacesItselfWhileRunning) {
  Registry r;
  ClassRef cls = r.define(
      ClassSpec("SelfModifying")
          .attr("n", 1)
          .method("other", [](LocalObject& self, Args) -> Value { return self.get<int>("n"); })
          .method("run", [](LocalObject& self, Args) -> Value {
            const std::string before = self.type()->name();
            self.type()->setattr("run", 5);  // replace this very method
            self.type()->setattr("n", 2);
            const int seen = self.call("other").get<int>();  // refreshes the class snapshot
            self.type()->delattr("other");
            return before + ":" + std::to_string(seen);
          }));
  LocalObject obj(cls);
  EXPECT_EQ(obj.call("run").get<std::string>(), "SelfModifying:2");
  EXPECT_EQ(obj.get<int>("run"), 5);
  EXPECT_FALSE(obj.hasattr("other"));
  EXPECT_LB_ERROR(obj.call("run"), TypeError, "'int' object is not callable");
}

// A long-running method keeps alive the view it was found in, and only that one: a view the
// thread replaces meanwhile for another class is freed at once (a serve_forever method must not
// keep every configuration its thread ever read).
TEST_F(LocalObjectTest, RunningMethodKeepsOnlyTheViewItCameFrom) {
  Registry r;
  auto first = std::make_shared<int>(1);
  const std::weak_ptr<int> first_watch = first;
  ClassRef config = r.define(ClassSpec("Config").attr("value", Value(std::move(first))));
  LocalObject cfg(config);
  EXPECT_EQ(*cfg.get<std::shared_ptr<int>>("value"), 1);  // this thread takes Config's view
  bool freed_during_call = false;
  ClassRef server = r.define(ClassSpec("Server").method("serve", [&](LocalObject&, Args) -> Value {
    config->setattr("value", Value(std::make_shared<int>(2)));  // a reload
    EXPECT_EQ(*cfg.get<std::shared_ptr<int>>("value"), 2);       // the thread takes the new view
    freed_during_call = first_watch.expired();
    return None{};
  }));
  LocalObject srv(server);
  srv.call("serve");
  EXPECT_TRUE(freed_during_call) << "a view that no running method came from was kept";
  EXPECT_TRUE(first_watch.expired());
}

}  // namespace
}  // namespace localbag
