// SPDX-License-Identifier: MIT
// The bad-input table of docs/reliability.md: each input behaves as Python's setattr/getattr on a
// threading.local. Where Python raises, the same exception class and wording, with all state
// unchanged (this thread's dict, the class, the registry, the runtime counters); where Python
// accepts, it works and round-trips.

#include <gtest/gtest.h>

#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "localbag/localbag.hpp"
#include "test_support.hpp"

namespace localbag {
namespace {

// Everything a failing operation must leave as it was.
struct Snapshot {
  std::string dict;         // repr of this thread's dict
  std::string class_attrs;  // repr of the class's own attributes
  std::vector<std::string> registry;
  RuntimeStats stats;

  static Snapshot of(LocalObject& obj, const Registry& registry) {
    return {repr(obj.dict()), repr(obj.type()->own_attrs()), registry.names(), runtime_stats()};
  }
  void expect_same_as(const Snapshot& before) const {
    EXPECT_EQ(dict, before.dict);
    EXPECT_EQ(class_attrs, before.class_attrs);
    EXPECT_EQ(registry, before.registry);
    EXPECT_EQ(stats.live_objects, before.stats.live_objects);
    EXPECT_EQ(stats.live_records, before.stats.live_records);
    EXPECT_EQ(stats.live_threads, before.stats.live_threads);
  }
};

// Runs `statement`, which must throw `ErrorType` with exactly `message`, and checks that
// `obj`'s state and `registry` are unchanged.
#define EXPECT_REJECTED(obj, registry, statement, ErrorType, message)                         \
  do {                                                                                        \
    const Snapshot before_ = Snapshot::of(obj, registry);                                     \
    EXPECT_LB_ERROR_AND(statement, ErrorType, message,                                        \
                        EXPECT_EQ(e.to_string(), std::string(#ErrorType ": ") + (message));); \
    Snapshot::of(obj, registry).expect_same_as(before_);                                      \
  } while (0)

class BadInput : public ::testing::Test {
 protected:
  BadInput() {
    cls = registry.define(ClassSpec("MyLocal")
                              .attr("number", 2)
                              .attr("color", "red")
                              .method("squared", [](LocalObject& self, Args) -> Value {
                                const int n = self.get<int>("number");
                                return n * n;
                              }));
    obj.emplace(cls);
    obj->setattr("mine", 1);
  }
  Registry registry;
  ClassRef cls;
  std::optional<LocalObject> obj;
};

// Python: setattr(l, '', 1); getattr(l, '') == 1. Accepted; round-trips.
TEST_F(BadInput, EmptyNameIsAcceptedAndRoundTrips) {
  obj->setattr("", 42);
  EXPECT_EQ(obj->get<int>(""), 42);
  EXPECT_TRUE(obj->hasattr(""));
  EXPECT_EQ(obj->dict().keys(), (std::vector<std::string>{"mine", ""}));
  EXPECT_EQ(repr(obj->dict()), "{'mine': 1, '': 42}");
  obj->delattr("");
  EXPECT_FALSE(obj->hasattr(""));
  EXPECT_REJECTED(*obj, registry, obj->delattr(""), AttributeError,
                  "'MyLocal' object has no attribute ''");
}

TEST_F(BadInput, OneMebibyteNameIsAcceptedAndRoundTrips) {
  std::string name(1 << 20, 'n');
  name.back() = 'z';
  obj->setattr(name, std::string("big"));
  EXPECT_EQ(obj->get<std::string>(name), "big");
  std::string almost = name;
  almost.back() = 'y';  // same length, one byte differs
  EXPECT_FALSE(obj->hasattr(almost));
  EXPECT_EQ(obj->dict().keys().back(), name);
  obj->delattr(name);
  EXPECT_FALSE(obj->hasattr(name));
}

TEST_F(BadInput, NameWithEmbeddedNulIsAcceptedAndRoundTrips) {
  const std::string name("a\0b", 3);
  obj->setattr(name, 7);
  EXPECT_EQ(obj->get<int>(name), 7);
  EXPECT_FALSE(obj->hasattr("a"));  // not truncated at the NUL
  EXPECT_FALSE(obj->hasattr(std::string("a\0c", 3)));
  EXPECT_EQ(obj->dict().keys().back(), name);
  EXPECT_EQ(repr(obj->dict()), "{'mine': 1, 'a\\x00b': 7}");  // Python's repr of the key
  obj->delattr(name);
  EXPECT_FALSE(obj->hasattr(name));
}

TEST_F(BadInput, UnknownClassName) {
  EXPECT_REJECTED(*obj, registry, registry.get("Nope"), NameError, "name 'Nope' is not defined");
  EXPECT_REJECTED(*obj, registry, (void)registry.instantiate("Nope"), NameError,
                  "name 'Nope' is not defined");
  EXPECT_EQ(registry.find("Nope"), nullptr);
}

TEST_F(BadInput, DuplicateClassDefinition) {
  EXPECT_REJECTED(*obj, registry, registry.define(ClassSpec("MyLocal").attr("number", 3)),
                  ValueError, "class 'MyLocal' is already defined");
  EXPECT_REJECTED(*obj, registry, registry.define(ClassSpec("local")), ValueError,
                  "class 'local' is already defined");
  EXPECT_EQ(obj->get<int>("number"), 2);  // the first definition stands
  EXPECT_EQ(registry.get("MyLocal"), cls);
}

TEST_F(BadInput, UnknownBase) {
  EXPECT_REJECTED(*obj, registry, registry.define(ClassSpec("Child").base("Base")), NameError,
                  "name 'Base' is not defined");
  EXPECT_FALSE(registry.contains("Child"));
}

TEST_F(BadInput, SlotConflictingWithAClassAttribute) {
  EXPECT_REJECTED(*obj, registry, registry.define(ClassSpec("Slotted").attr("x", 1).slots({"x"})),
                  ValueError, "'x' in __slots__ conflicts with class variable");
  EXPECT_REJECTED(*obj, registry,
                  registry.define(ClassSpec("Slotted2")
                                      .method("x", [](LocalObject&, Args) { return Value(); })
                                      .slots({"y", "x"})),
                  ValueError, "'x' in __slots__ conflicts with class variable");
  EXPECT_FALSE(registry.contains("Slotted"));
  EXPECT_FALSE(registry.contains("Slotted2"));
  // And later, through the class: a slot cannot become a class attribute.
  const ClassRef slotted = registry.define(ClassSpec("Slotted3").slots({"x"}));
  LocalObject s(slotted);
  EXPECT_REJECTED(s, registry, slotted->setattr("x", 5), ValueError,
                  "'x' in __slots__ conflicts with class variable");
  EXPECT_FALSE(slotted->hasattr("x"));
}

TEST_F(BadInput, WrongTypeInGet) {
  EXPECT_REJECTED(*obj, registry, (void)obj->get<std::string>("mine"), TypeError,
                  "'MyLocal' object attribute 'mine' is int, not str");
  EXPECT_REJECTED(*obj, registry, (void)obj->get<int>("color"), TypeError,
                  "'MyLocal' object attribute 'color' is str, not int");  // a class default
  EXPECT_REJECTED(*obj, registry, (void)obj->get<double>("__dict__"), TypeError,
                  "'MyLocal' object attribute '__dict__' is dict, not double");
  EXPECT_EQ(obj->try_get<std::string>("mine"), std::nullopt);
  EXPECT_FALSE(obj->dict().contains("color"));  // reading a default never copies it in
}

TEST_F(BadInput, SetattrAndDelattrOfDunderDict) {
  EXPECT_REJECTED(*obj, registry, obj->setattr("__dict__", Dict{}), AttributeError,
                  "'MyLocal' object attribute '__dict__' is read-only");
  EXPECT_REJECTED(*obj, registry, obj->setattr("__dict__", 5), AttributeError,
                  "'MyLocal' object attribute '__dict__' is read-only");
  EXPECT_REJECTED(*obj, registry, obj->delattr("__dict__"), AttributeError,
                  "'MyLocal' object attribute '__dict__' is read-only");
  EXPECT_EQ(obj->get<Dict>("__dict__").keys(), std::vector<std::string>{"mine"});
}

// Python: l.__dict__['__dict__'] = 1 is allowed, but `l.__dict__` stays the dict itself and
// `del l.__dict__` still raises: the attribute is handled before the dict is consulted.
TEST_F(BadInput, DunderDictKeyInsideTheDictDoesNotShadowTheAttribute) {
  obj->dict().set("__dict__", 1);
  EXPECT_REJECTED(*obj, registry, obj->delattr("__dict__"), AttributeError,
                  "'MyLocal' object attribute '__dict__' is read-only");
  EXPECT_EQ(obj->getattr("__dict__").type_name(), "dict");
}

TEST_F(BadInput, ArgumentsWithoutInit) {
  const auto objects = runtime_stats().live_objects;
  EXPECT_REJECTED(*obj, registry, (void)LocalObject(cls, {Value(1)}), TypeError,
                  "Initialization arguments are not supported");
  EXPECT_REJECTED(*obj, registry, (void)LocalObject(cls, {}, Dict{{"color", "blue"}}), TypeError,
                  "Initialization arguments are not supported");
  EXPECT_REJECTED(*obj, registry, (void)registry.instantiate("local", {Value(1)}), TypeError,
                  "Initialization arguments are not supported");
  EXPECT_EQ(runtime_stats().live_objects, objects);
}

TEST_F(BadInput, CallOfAMissingMethod) {
  EXPECT_REJECTED(*obj, registry, obj->call("cubed"), AttributeError,
                  "'MyLocal' object has no attribute 'cubed'");
  EXPECT_EQ(obj->call("squared").get<int>(), 4);
}

TEST_F(BadInput, CallOfANonCallableAttribute) {
  EXPECT_REJECTED(*obj, registry, obj->call("mine"), TypeError, "'int' object is not callable");
  EXPECT_REJECTED(*obj, registry, obj->call("color"), TypeError, "'str' object is not callable");
  EXPECT_REJECTED(*obj, registry, obj->call("__dict__"), TypeError,
                  "'dict' object is not callable");
  obj->setattr("squared", 3);  // this thread's int shadows the method
  EXPECT_REJECTED(*obj, registry, obj->call("squared", 1), TypeError,
                  "'int' object is not callable");
}

TEST_F(BadInput, DelattrOfAMissingAttribute) {
  EXPECT_REJECTED(*obj, registry, obj->delattr("ghost"), AttributeError,
                  "'MyLocal' object has no attribute 'ghost'");
  LocalObject plain;
  EXPECT_REJECTED(plain, registry, plain.delattr("ghost"), AttributeError,
                  "'local' object has no attribute 'ghost'");
}

// Python: `del l.number` where `number` is only a class attribute raises AttributeError, and
// the class attribute stays.
TEST_F(BadInput, DelattrOfANameThatExistsOnlyAsAClassDefault) {
  EXPECT_REJECTED(*obj, registry, obj->delattr("number"), AttributeError,
                  "'MyLocal' object has no attribute 'number'");
  EXPECT_EQ(obj->get<int>("number"), 2);
  EXPECT_EQ(cls->getattr("number").get<int>(), 2);
  EXPECT_REJECTED(*obj, registry, obj->delattr("squared"), AttributeError,
                  "'MyLocal' object has no attribute 'squared'");
  // Another thread has its own view of the same: it never set `number` either.
  std::thread([&] {
    EXPECT_REJECTED(*obj, registry, obj->delattr("number"), AttributeError,
                    "'MyLocal' object has no attribute 'number'");
  }).join();
}

}  // namespace
}  // namespace localbag
