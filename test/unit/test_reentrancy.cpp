// SPDX-License-Identifier: MIT
// User code that re-enters localbag from the middle of an operation: a value's destructor that
// writes to the dict it is being removed from, an init that drops the last handle of the object
// it initialises, a class attribute's destructor that uses its class, and hasattr of __dict__
// when the dict holds values that cannot be copied. Each case once crashed, deadlocked or threw.

#include <gtest/gtest.h>

#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <utility>

#include "localbag/localbag.hpp"
#include "test_support.hpp"

namespace localbag {
namespace {

using test::numbered;

// Runs `on_destroy` from its destructor once armed; larger than a Value's inline buffer, so it
// lives behind a pointer as most user types do.
struct Hook {
  explicit Hook(std::function<void()> f) : on_destroy(std::move(f)) {}
  Hook(const Hook&) = default;  // a copy (a class keeps copies) runs the hook too
  Hook(Hook&& other) noexcept : on_destroy(std::exchange(other.on_destroy, nullptr)) {}
  ~Hook() {
    if (on_destroy) std::exchange(on_destroy, nullptr)();
  }
  std::function<void()> on_destroy;
  char pad[64] = {};
};

TEST(Reentrancy, OverwrittenValueDestructorGrowsTheSameDict) {
  Dict d;
  d.set("x", Hook{[&d] {
          for (int i = 0; i < 20; ++i) d.set(numbered("k", i), i);  // reallocates, indexes
        }});
  d.set("x", 1);  // the Hook dies here, after "x" already holds 1
  EXPECT_EQ(d.get<int>("x"), 1);
  EXPECT_EQ(d.size(), 21u);
  EXPECT_EQ(d.get<int>("k19"), 19);
}

TEST(Reentrancy, OverwrittenValueDestructorErasesItsOwnKey) {
  Dict d;
  d.set("x", Hook{[&d] {
          EXPECT_EQ(d.get<int>("x"), 2);  // already replaced when the old value dies
          EXPECT_TRUE(d.erase("x"));
        }});
  d.set("x", 2);
  EXPECT_EQ(repr(d), "{}");  // as in Python: the destructor's `del d['x']` wins
}

TEST(Reentrancy, UpdateDestroysReplacedValuesAfterTheDictIsWhole) {
  Dict d;
  d.set("a", Hook{[&d] {
          EXPECT_EQ(d.get<int>("b"), 20);  // the whole update is visible already
          d.set("c", 3);
        }});
  d.update(Dict{{"a", 10}, {"b", 20}});
  EXPECT_EQ(repr(d), "{'a': 10, 'b': 20, 'c': 3}");
}

TEST(Reentrancy, MoveAssignedDictDestroysOldValuesAfterTakingTheNewOnes) {
  Dict d;
  d.set("old", Hook{[&d] { EXPECT_EQ(d.get<int>("new"), 1); }});
  d = Dict{{"new", 1}};
  EXPECT_EQ(repr(d), "{'new': 1}");
}

TEST(Reentrancy, ValueDestructorWritesThroughTheObjectWhileBeingReplaced) {
  LocalObject obj;
  obj.setattr("x", Hook{[&obj] {
                for (int i = 0; i < 20; ++i) obj.setattr(numbered("k", i), i);
              }});
  obj.setattr("x", 1);
  EXPECT_EQ(obj.get<int>("x"), 1);
  EXPECT_EQ(obj.dict().size(), 21u);
}

// The only handle of an object lives in `holder`; init, on a second thread's first access,
// rebinds it to a fresh object. As with Python's `self`, the access that ran init completes on
// the object it initialised, and that object dies when the access is done.
class DropInInit : public ::testing::Test {
 protected:
  void SetUp() override {
    cls_ = registry_.define(ClassSpec("Dropper").init([this](LocalObject&, Args, const Dict&) {
      if (++inits_ == 2) holder_ = LocalObject();
    }));
    holder_ = LocalObject(cls_);
    baseline_ = runtime_stats();
  }
  void TearDown() override {
    holder_ = LocalObject();
    const RuntimeStats now = runtime_stats();
    EXPECT_EQ(now.live_objects, baseline_.live_objects);  // the dropped object is gone
  }
  Registry registry_;
  ClassRef cls_;
  int inits_ = 0;
  LocalObject holder_;
  RuntimeStats baseline_{};
};

TEST_F(DropInInit, Setattr) {
  std::thread([this] { holder_.setattr("x", std::string(100, 'a')); }).join();
  EXPECT_EQ(inits_, 2);
  EXPECT_EQ(holder_.type()->name(), "local");  // the holder now refers to the new object
  EXPECT_FALSE(holder_.hasattr("x"));
}

TEST_F(DropInInit, Getattr) {
  std::thread([this] {
    EXPECT_THROW(holder_.getattr("x"), AttributeError);  // looked up on the initialised object
  }).join();
  EXPECT_EQ(inits_, 2);
}

TEST_F(DropInInit, Dict) {
  std::thread([this] {
    Dict& d = holder_.dict();  // the initialised object is unreachable: the holder's new one
    d.set("y", 1);
    EXPECT_EQ(holder_.get<int>("y"), 1);
  }).join();
  EXPECT_EQ(inits_, 2);
}

TEST(Reentrancy, ClassAttributeDestructorUsesItsClass) {
  Registry registry;
  ClassRef cls = registry.define(ClassSpec("Config"));
  bool ran = false;
  cls->setattr("hook", Hook{[&] {
                 ran = true;
                 EXPECT_TRUE(cls->hasattr("p"));  // takes the class lock: must not deadlock
                 EXPECT_EQ(cls->getattr("p").get<int>(), 1);
               }});
  // The class keeps copies of the Hook (its own attributes and one snapshot); the copies'
  // destructors run when a change displaces them, after the lock is released.
  cls->setattr("p", 1);
  cls->setattr("hook", 0);
  cls->delattr("hook");
  EXPECT_TRUE(ran);
  EXPECT_EQ(cls->getattr("p").get<int>(), 1);
  EXPECT_FALSE(cls->hasattr("hook"));
}

TEST(Reentrancy, HasattrOfDunderDictWithMoveOnlyValues) {
  LocalObject obj;
  obj.setattr("p", std::make_unique<int>(5));
  EXPECT_TRUE(obj.hasattr("__dict__"));  // Python: True; no copy of the dict is made
  std::thread([&obj] { EXPECT_TRUE(obj.hasattr("__dict__")); }).join();
  EXPECT_THROW(obj.getattr("__dict__"), TypeError);  // getattr copies: documented
  EXPECT_EQ(*obj.ref<std::unique_ptr<int>>("p"), 5);
}

}  // namespace
}  // namespace localbag
