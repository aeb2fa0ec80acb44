// SPDX-License-Identifier: MIT
// Registry::remove (Python's `del X`) and Registry::redefine (`class X` run again), which a
// plugin unload relies on to free the names of the classes it defined: the name moves, the
// classes live on in their objects and subclasses.
#include <gtest/gtest.h>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "error_matchers.hpp"
#include "localbag/class.hpp"
#include "localbag/error.hpp"
#include "localbag/local_object.hpp"
#include "localbag/registry.hpp"
#include "localbag/value.hpp"

namespace localbag {
namespace {

// A class `name` whose method `which` returns `tag`, and whose attribute `n` is `tag` too.
ClassSpec tagged(const std::string& name, int tag) {
  return std::move(ClassSpec(name).attr("n", tag).method(
      "which", [tag](LocalObject&, Args) -> Value { return tag; }));
}

TEST(RegistryRemove, RemovedNameCanBeDefinedAgain) {
  Registry registry;
  const ClassRef first = registry.define(tagged("Thing", 1));
  LocalObject old_object(first);
  registry.remove("Thing");
  EXPECT_FALSE(registry.contains("Thing"));
  EXPECT_EQ(registry.find("Thing"), nullptr);
  EXPECT_EQ(registry.size(), 0u);
  EXPECT_TRUE(registry.names().empty());
  EXPECT_LB_ERROR(registry.get("Thing"), NameError, "name 'Thing' is not defined");
  EXPECT_LB_ERROR(registry.instantiate("Thing"), NameError, "name 'Thing' is not defined");
  // The class lives on in its object.
  EXPECT_EQ(old_object.type(), first);
  EXPECT_EQ(old_object.call("which").get<int>(), 1);
  EXPECT_EQ(old_object.get<int>("n"), 1);

  const ClassRef second = registry.define(tagged("Thing", 2));
  EXPECT_NE(second, first);
  EXPECT_EQ(registry.get("Thing"), second);
  EXPECT_EQ(registry.instantiate("Thing").call("which").get<int>(), 2);
  EXPECT_EQ(old_object.call("which").get<int>(), 1);
  EXPECT_EQ(registry.names(), std::vector<std::string>{"Thing"});
}

TEST(RegistryRemove, SubclassKeepsItsRemovedBase) {
  Registry registry;
  registry.define(tagged("Base", 1));
  registry.define(ClassSpec("Sub").base("Base").attr("own", 5));
  registry.remove("Base");
  LocalObject sub = registry.instantiate("Sub");
  EXPECT_EQ(sub.call("which").get<int>(), 1);
  EXPECT_EQ(sub.get<int>("n"), 1);
  ASSERT_NE(sub.type()->base(), nullptr);
  EXPECT_EQ(sub.type()->base()->name(), "Base");
  // A new Base is another class: Sub still derives from the old one.
  const ClassRef new_base = registry.define(tagged("Base", 2));
  EXPECT_FALSE(sub.type()->is_subclass_of(*new_base));
  EXPECT_EQ(sub.call("which").get<int>(), 1);
  // A subclass defined now by name takes the new one.
  EXPECT_EQ(registry.define(ClassSpec("Sub2").base("Base")).get()->base(), new_base);
}

TEST(RegistryRemove, LocalIsTypeError) {
  Registry registry;
  EXPECT_LB_ERROR(registry.remove("local"), TypeError, "cannot remove 'local'");
  EXPECT_TRUE(registry.contains("local"));
  EXPECT_LB_ERROR(Registry::global().remove("local"), TypeError, "cannot remove 'local'");
  EXPECT_TRUE(Registry::global().contains("local"));
}

TEST(RegistryRemove, UnknownNameIsNameError) {
  Registry registry;
  registry.define(ClassSpec("Known"));
  EXPECT_LB_ERROR(registry.remove("X"), NameError, "name 'X' is not defined");
  EXPECT_LB_ERROR(registry.remove(""), NameError, "name '' is not defined");
  registry.remove("Known");
  EXPECT_LB_ERROR(registry.remove("Known"), NameError, "name 'Known' is not defined");
  // A name is removed from its own registry only.
  Registry other;
  other.define(ClassSpec("Elsewhere"));
  EXPECT_LB_ERROR(registry.remove("Elsewhere"), NameError, "name 'Elsewhere' is not defined");
  EXPECT_TRUE(other.contains("Elsewhere"));
}

TEST(RegistryRemove, GlobalRegistryFreesTheName) {
  Registry& global = Registry::global();
  const ClassRef first = global.define(tagged("RegistryRemoveGlobal", 1));
  EXPECT_LB_ERROR(global.define(tagged("RegistryRemoveGlobal", 2)), ValueError,
                  "class 'RegistryRemoveGlobal' is already defined");
  global.remove("RegistryRemoveGlobal");
  const ClassRef second = global.define(tagged("RegistryRemoveGlobal", 2));
  EXPECT_EQ(global.instantiate("RegistryRemoveGlobal").call("which").get<int>(), 2);
  EXPECT_EQ(LocalObject(first).call("which").get<int>(), 1);
  global.remove("RegistryRemoveGlobal");
  EXPECT_FALSE(global.contains("RegistryRemoveGlobal"));
}

TEST(RegistryRedefine, ReplacesTheClassAndOldObjectsKeepTheirs) {
  Registry registry;
  const ClassRef first = registry.define(tagged("Thing", 1));
  LocalObject old_object(first);
  old_object.setattr("mine", 10);
  const ClassRef second = registry.redefine(tagged("Thing", 2));
  EXPECT_NE(second, first);
  EXPECT_EQ(registry.get("Thing"), second);
  EXPECT_EQ(registry.size(), 1u);
  // The old object keeps its class: its methods and attributes still work.
  EXPECT_EQ(old_object.type(), first);
  EXPECT_EQ(old_object.call("which").get<int>(), 1);
  EXPECT_EQ(old_object.get<int>("n"), 1);
  EXPECT_EQ(old_object.get<int>("mine"), 10);
  // Changing the old class changes its objects only.
  first->setattr("n", 11);
  EXPECT_EQ(old_object.get<int>("n"), 11);
  LocalObject new_object = registry.instantiate("Thing");
  EXPECT_EQ(new_object.get<int>("n"), 2);
  EXPECT_EQ(new_object.call("which").get<int>(), 2);
  EXPECT_EQ(new_object.type(), second);
  EXPECT_FALSE(first->is_subclass_of(*second));
}

TEST(RegistryRedefine, NewNameIsDefined) {
  Registry registry;
  const ClassRef defined = registry.redefine(tagged("Fresh", 3));
  EXPECT_EQ(registry.get("Fresh"), defined);
  EXPECT_EQ(registry.instantiate("Fresh").call("which").get<int>(), 3);
}

TEST(RegistryRedefine, ErrorsChangeNothing) {
  Registry registry;
  const ClassRef first = registry.define(tagged("Thing", 1));
  EXPECT_LB_ERROR(registry.redefine(ClassSpec("local")), ValueError,
                  "class 'local' is already defined");
  EXPECT_LB_ERROR(registry.redefine(ClassSpec("Thing").base("Missing")), NameError,
                  "name 'Missing' is not defined");
  EXPECT_EQ(registry.get("Thing"), first);
  EXPECT_LB_ERROR(registry.redefine(ClassSpec("Thing").attr("x", 1).slots({"x"})), ValueError,
                  "'x' in __slots__ conflicts with class variable");
  EXPECT_EQ(registry.get("Thing"), first);
  EXPECT_EQ(registry.size(), 1u);
  EXPECT_EQ(registry.instantiate("Thing").call("which").get<int>(), 1);
}

TEST(RegistryRedefine, SubclassKeepsTheReplacedBase) {
  Registry registry;
  registry.define(tagged("Base", 1));
  const ClassRef sub = registry.define(ClassSpec("Sub").base("Base"));
  registry.redefine(tagged("Base", 2));
  EXPECT_EQ(LocalObject(sub).call("which").get<int>(), 1);
  // A class may be redefined on top of itself: its base by name is the current one.
  const ClassRef sub2 = registry.redefine(ClassSpec("Sub").base("Base"));
  EXPECT_EQ(LocalObject(sub2).call("which").get<int>(), 2);
  EXPECT_EQ(LocalObject(sub).call("which").get<int>(), 1);
}

// One thread redefines a class and removes and defines it again while another instantiates it
// by name and calls it: every object it gets answers as one of the versions, consistently.
TEST(RegistryRedefine, WhileAnotherThreadInstantiates) {
  Registry registry;
  registry.define(tagged("Moving", 0));
  constexpr int kVersions = 200;
  std::atomic<bool> done{false};
  std::atomic<int> seen{0};
  std::thread reader([&] {
    int last = 0;
    while (!done.load(std::memory_order_acquire)) {
      const ClassRef cls = registry.find("Moving");
      if (cls == nullptr) continue;  // between a remove and its define
      LocalObject object(cls);
      const int which = object.call("which").get<int>();
      EXPECT_EQ(object.get<int>("n"), which);
      EXPECT_GE(which, last);  // versions only go forward
      last = which;
      seen.fetch_add(1, std::memory_order_relaxed);
    }
  });
  for (int v = 1; v <= kVersions; ++v) {
    if (v % 2 == 0) {
      registry.redefine(tagged("Moving", v));
    } else {
      registry.remove("Moving");
      registry.define(tagged("Moving", v));
    }
  }
  done.store(true, std::memory_order_release);
  reader.join();
  EXPECT_EQ(registry.instantiate("Moving").call("which").get<int>(), kVersions);
  EXPECT_EQ(registry.size(), 1u);
}

}  // namespace
}  // namespace localbag
