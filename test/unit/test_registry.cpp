// SPDX-License-Identifier: MIT
// Unit tests for <localbag/registry.hpp>: define/find/get/instantiate, exact error texts with
// the registry unchanged after each, independent registries, the global one, and concurrent use.

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "localbag/class.hpp"
#include "localbag/error.hpp"
#include "localbag/local_object.hpp"
#include "localbag/registry.hpp"
#include "localbag/repr.hpp"
#include "test_support.hpp"

namespace localbag {
namespace {

using test::numbered;

using Names = std::vector<std::string>;

// Records the arguments init receives in this thread's dict.
void record_args(LocalObject& self, Args args, const Dict& kwargs) {
  self.setattr("args", repr(Value(List(args.begin(), args.end()))));
  self.setattr("kwargs", repr(kwargs));
}

TEST(Registry, NewRegistryKnowsOnlyLocal) {
  Registry r;
  EXPECT_EQ(r.size(), 0u);
  EXPECT_TRUE(r.names().empty());
  EXPECT_TRUE(r.contains("local"));
  EXPECT_EQ(r.find("local"), Class::local());
  EXPECT_EQ(r.get("local"), Class::local());
  EXPECT_EQ(r.find("MyLocal"), nullptr);
  EXPECT_FALSE(r.contains("MyLocal"));
}

TEST(Registry, DefineFindGetNames) {
  Registry r;
  ClassRef b = r.define(ClassSpec("Beta"));
  ClassRef a = r.define(ClassSpec("Alpha").base("Beta"));
  EXPECT_EQ(r.size(), 2u);
  EXPECT_EQ(r.names(), (Names{"Alpha", "Beta"}));
  EXPECT_EQ(r.find("Alpha"), a);
  EXPECT_EQ(r.get("Beta"), b);
  EXPECT_TRUE(r.contains("Alpha"));
  EXPECT_EQ(a->base(), b);
}

TEST(Registry, DuplicateIsValueErrorAndUnchanged) {
  Registry r;
  ClassRef first = r.define(ClassSpec("MyLocal").attr("number", 2));
  EXPECT_LB_ERROR(r.define(ClassSpec("MyLocal").attr("number", 3)), ValueError,
                  "class 'MyLocal' is already defined");
  EXPECT_EQ(r.get("MyLocal"), first);
  EXPECT_EQ(r.get("MyLocal")->getattr("number").get<int>(), 2);
  EXPECT_EQ(r.size(), 1u);
  EXPECT_LB_ERROR(r.define(ClassSpec("local")), ValueError, "class 'local' is already defined");
  EXPECT_EQ(r.get("local"), Class::local());
  EXPECT_EQ(r.size(), 1u);
}

TEST(Registry, UnknownBaseIsNameErrorAndUnchanged) {
  Registry r;
  EXPECT_LB_ERROR(r.define(ClassSpec("MyLocal").base("Base")), NameError,
                  "name 'Base' is not defined");
  EXPECT_FALSE(r.contains("MyLocal"));
  EXPECT_EQ(r.size(), 0u);
  // The name is still free.
  EXPECT_EQ(r.define(ClassSpec("MyLocal"))->name(), "MyLocal");
}

TEST(Registry, UnknownNameIsNameError) {
  Registry r;
  EXPECT_LB_ERROR(r.get("Missing"), NameError, "name 'Missing' is not defined");
  EXPECT_LB_ERROR(r.instantiate("Missing"), NameError, "name 'Missing' is not defined");
  EXPECT_EQ(r.size(), 0u);
}

TEST(Registry, SlotConflictIsValueErrorAndUnchanged) {
  Registry r;
  EXPECT_LB_ERROR(r.define(ClassSpec("S").attr("x", 1).slots({"x"})), ValueError,
                  "'x' in __slots__ conflicts with class variable");
  EXPECT_LB_ERROR(r.define(ClassSpec("S")
                               .slots({"a", "sq"})
                               .method("sq", [](LocalObject&, Args) -> Value { return {}; })),
                  ValueError, "'sq' in __slots__ conflicts with class variable");
  EXPECT_FALSE(r.contains("S"));
  EXPECT_EQ(r.size(), 0u);
}

TEST(Registry, MoveOnlyClassAttrIsTypeErrorAndUnchanged) {
  Registry r;
  ClassSpec spec("Holder");
  spec.attr("p", Value(test::MoveOnly(1)));
  EXPECT_LB_ERROR(r.define(std::move(spec)), TypeError,
                  "cannot copy 'localbag::test::MoveOnly' object");
  EXPECT_FALSE(r.contains("Holder"));
  EXPECT_EQ(r.size(), 0u);
}

TEST(Registry, InstantiatePassesArgsAndKwargs) {
  Registry r;
  r.define(ClassSpec("WithInit").init(record_args));
  LocalObject obj = r.instantiate("WithInit", {1, "a"}, Dict{{"color", "red"}});
  EXPECT_EQ(obj.type()->name(), "WithInit");
  EXPECT_EQ(obj.get<std::string>("args"), "[1, 'a']");
  EXPECT_EQ(obj.get<std::string>("kwargs"), "{'color': 'red'}");
  LocalObject bare = r.instantiate("WithInit");
  EXPECT_EQ(bare.get<std::string>("args"), "[]");
  EXPECT_EQ(bare.get<std::string>("kwargs"), "{}");
}

TEST(Registry, ArgumentsWithoutInitAreTypeError) {
  Registry r;
  r.define(ClassSpec("NoInit").attr("n", 1));
  r.define(ClassSpec("NoInitSub").base("NoInit"));
  EXPECT_LB_ERROR(r.instantiate("NoInit", {1}), TypeError,
                  "Initialization arguments are not supported");
  EXPECT_LB_ERROR(r.instantiate("NoInitSub", {}, Dict{{"k", 1}}), TypeError,
                  "Initialization arguments are not supported");
  EXPECT_LB_ERROR(r.instantiate("local", {1}), TypeError,
                  "Initialization arguments are not supported");
  EXPECT_EQ(r.instantiate("NoInitSub").get<int>("n"), 1);
  EXPECT_EQ(r.instantiate("local").type(), Class::local());
}

TEST(Registry, InheritedInitAcceptsArguments) {
  Registry r;
  r.define(ClassSpec("Base").init(record_args));
  r.define(ClassSpec("Derived").base("Base"));
  LocalObject obj = r.instantiate("Derived", {2.0}, Dict{{"k", true}});
  EXPECT_EQ(obj.get<std::string>("args"), "[2.0]");
  EXPECT_EQ(obj.get<std::string>("kwargs"), "{'k': True}");
}

TEST(Registry, RegistriesAreIndependent) {
  Registry one;
  Registry two;
  ClassRef a = one.define(ClassSpec("Same").attr("who", "one"));
  ClassRef b = two.define(ClassSpec("Same").attr("who", "two"));
  EXPECT_NE(a, b);
  EXPECT_EQ(one.instantiate("Same").get<std::string>("who"), "one");
  EXPECT_EQ(two.instantiate("Same").get<std::string>("who"), "two");
  EXPECT_FALSE(Registry::global().contains("Same"));
}

TEST(Registry, ObjectsOutliveRegistry) {
  std::optional<LocalObject> obj;
  {
    Registry r;
    r.define(ClassSpec("Temp").attr("n", 7).init(record_args));
    obj = r.instantiate("Temp", {5});
  }
  EXPECT_EQ(obj->get<int>("n"), 7);
  EXPECT_EQ(obj->type()->name(), "Temp");
  std::string args_in_thread;
  std::thread t([&] { args_in_thread = obj->get<std::string>("args"); });  // init runs here
  t.join();
  EXPECT_EQ(args_in_thread, "[5]");
}

TEST(Registry, GlobalIsOneProcessWideRegistry) {
  Registry& g = Registry::global();
  EXPECT_EQ(&g, &Registry::global());
  Registry* from_thread = nullptr;
  std::thread t([&] { from_thread = &Registry::global(); });
  t.join();
  EXPECT_EQ(from_thread, &g);
  ClassRef cls = g.define(ClassSpec("RegistryTest_GlobalClass").attr("n", 1));
  EXPECT_EQ(g.get("RegistryTest_GlobalClass"), cls);
  EXPECT_TRUE(g.contains("local"));
  EXPECT_LB_ERROR(g.define(ClassSpec("RegistryTest_GlobalClass")), ValueError,
                  "class 'RegistryTest_GlobalClass' is already defined");
}

TEST(Registry, ConcurrentDefinesOfOneNameExactlyOneWins) {
  Registry r;
  constexpr int kThreads = 8;
  std::atomic<int> won{0};
  std::atomic<int> lost{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; ++i) {
    threads.emplace_back([&, i] {
      try {
        r.define(ClassSpec("Contested").attr("who", i));
        ++won;
      } catch (const ValueError& e) {
        if (std::string(e.what()) == "class 'Contested' is already defined") ++lost;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(won.load(), 1);
  EXPECT_EQ(lost.load(), kThreads - 1);
  EXPECT_EQ(r.size(), 1u);
}

TEST(Registry, ConcurrentDefinesOfDistinctNames) {
  Registry r;
  constexpr int kThreads = 8;
  constexpr int kPerThread = 50;
  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; ++i) {
    threads.emplace_back([&, i] {
      for (int j = 0; j < kPerThread; ++j) {
        const std::string name = numbered("C", i).append(numbered("_", j));
        r.define(ClassSpec(name).attr("n", i * 1000 + j));
        EXPECT_TRUE(r.contains(name));
        (void)r.names();
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(r.size(), static_cast<std::size_t>(kThreads * kPerThread));
  EXPECT_EQ(r.get("C3_7")->getattr("n").get<int>(), 3007);
  const Names names = r.names();
  EXPECT_TRUE(std::is_sorted(names.begin(), names.end()));
}

}  // namespace
}  // namespace localbag
