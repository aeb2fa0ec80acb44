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

// ---- nullptr and null strings ----

// Python: l.x = None. C++'s nullptr is None wherever a value is taken.
TEST_F(BadInput, NullptrIsNone) {
  obj->setattr("x", nullptr);
  EXPECT_TRUE(obj->getattr("x").is_none());
  EXPECT_TRUE(obj->hasattr("x"));
  obj->setattr("mine", nullptr);  // replaces an int
  EXPECT_TRUE(obj->getattr("mine").is_none());
  EXPECT_EQ(repr(obj->dict()), "{'mine': None, 'x': None}");
  EXPECT_TRUE(Value(nullptr).is_none());
  Dict d;
  d.set("x", nullptr);
  d.set("s", std::string("text"));
  d.set("s", nullptr);  // replaces a str
  EXPECT_EQ(repr(d), "{'x': None, 's': None}");
  std::thread([&] {  // a first access that is a set: the out-of-line path
    obj->setattr("y", nullptr);
    EXPECT_TRUE(obj->getattr("y").is_none());
  }).join();
}

// C++ only: a null `const char*` is not a str (nor None); it is refused before anything changes.
TEST_F(BadInput, NullCharPointerIsRefused) {
  const char* null_text = nullptr;
  char* null_chars = nullptr;
  const char* const kNull = "expected a str, got a null 'const char*'";
  EXPECT_REJECTED(*obj, registry, obj->setattr("x", null_text), TypeError, kNull);
  EXPECT_REJECTED(*obj, registry, obj->setattr("x", null_chars), TypeError, kNull);
  EXPECT_REJECTED(*obj, registry, obj->dict().set("x", null_text), TypeError, kNull);
  EXPECT_REJECTED(*obj, registry, obj->dict().setdefault("x", null_text), TypeError, kNull);
  EXPECT_REJECTED(*obj, registry, (void)Value(null_text), TypeError, kNull);
  EXPECT_REJECTED(*obj, registry, cls->setattr("number", null_text), TypeError, kNull);
  EXPECT_FALSE(obj->hasattr("x"));
  EXPECT_EQ(obj->get<int>("number"), 2);
  // Over a str: the in-place string assignment of Dict::set must refuse it too.
  obj->setattr("s", std::string("kept"));
  EXPECT_REJECTED(*obj, registry, obj->setattr("s", null_text), TypeError, kNull);
  EXPECT_REJECTED(*obj, registry, obj->dict().set("s", null_text), TypeError, kNull);
  EXPECT_EQ(obj->get<std::string>("s"), "kept");
  Dict d{{"s", "kept"}};
  EXPECT_LB_ERROR(d.set("s", null_text), TypeError, kNull);
  EXPECT_EQ(repr(d), "{'s': 'kept'}");
  // A thread's first access that is such a set: refused before the thread's dict exists.
  std::thread([&] {
    const RuntimeStats before = runtime_stats();
    EXPECT_LB_ERROR(obj->setattr("x", null_text), TypeError, kNull);
    EXPECT_EQ(runtime_stats().live_records, before.live_records);
    EXPECT_TRUE(obj->dict().empty());
  }).join();
}

// ---- __slots__ names ----

// Python: class X(local): __slots__ = ('1x',)  ->  TypeError: __slots__ must be identifiers
TEST_F(BadInput, SlotsMustBeIdentifiers) {
  for (const char* bad : {"1x", "", "a b", "a-b", "x.y", "9"}) {
    EXPECT_REJECTED(*obj, registry, registry.define(ClassSpec("Slotted").slots({bad})),
                    TypeError, "__slots__ must be identifiers");
  }
  EXPECT_REJECTED(*obj, registry, registry.define(ClassSpec("Slotted").slots({"ok", "1x"})),
                  TypeError, "__slots__ must be identifiers");
  EXPECT_FALSE(registry.contains("Slotted"));
  const ClassRef ok = registry.define(ClassSpec("Slotted").slots({"_ok", "ok9", "_"}));
  LocalObject s(ok);
  s.setattr("_ok", 1);
  s.setattr("ok9", 2);
  EXPECT_EQ(s.get<int>("_ok") + s.get<int>("ok9"), 3);
  EXPECT_EQ(ok->slots(), (std::vector<std::string>{"_ok", "ok9", "_"}));
}

// ---- __dict__ of a class ----

// Python: MyLocal.__dict__ = 1 / del MyLocal.__dict__  ->  AttributeError
TEST_F(BadInput, ClassDunderDictIsNotWritable) {
  const char* const kText = "attribute '__dict__' of 'type' objects is not writable";
  EXPECT_REJECTED(*obj, registry, cls->setattr("__dict__", 1), AttributeError, kText);
  EXPECT_REJECTED(*obj, registry, cls->setattr("__dict__", Dict{}), AttributeError, kText);
  EXPECT_REJECTED(*obj, registry, cls->delattr("__dict__"), AttributeError, kText);
  EXPECT_EQ(obj->get<int>("number"), 2);
  EXPECT_EQ(obj->getattr("__dict__").type_name(), "dict");
}

// ---- __class__ ----

// Python: l.__class__ is type(l); hasattr(l, '__class__').
TEST_F(BadInput, DunderClassIsTheClass) {
  const Value v = obj->getattr("__class__");
  EXPECT_EQ(v.get<ClassRef>(), obj->type());
  EXPECT_EQ(v.type_name(), "type");
  EXPECT_EQ(obj->get<ClassRef>("__class__"), cls);
  EXPECT_TRUE(obj->hasattr("__class__"));
  EXPECT_FALSE(obj->dict().contains("__class__"));  // reading it puts nothing in the dict
  LocalObject plain;
  EXPECT_EQ(plain.getattr("__class__").get<ClassRef>(), Class::local());
  EXPECT_TRUE(plain.hasattr("__class__"));
  std::thread([&] { EXPECT_EQ(obj->get<ClassRef>("__class__"), cls); }).join();
}

// Python: del l.__class__  ->  TypeError: can't delete __class__ attribute
TEST_F(BadInput, DunderClassCannotBeDeleted) {
  EXPECT_REJECTED(*obj, registry, obj->delattr("__class__"), TypeError,
                  "can't delete __class__ attribute");
  LocalObject plain;
  EXPECT_REJECTED(plain, registry, plain.delattr("__class__"), TypeError,
                  "can't delete __class__ attribute");
  EXPECT_EQ(obj->type(), cls);
}

// Python: l.__class__ = 1  ->  TypeError: __class__ must be set to a class, not 'int' object
TEST_F(BadInput, DunderClassMustBeSetToAClass) {
  EXPECT_REJECTED(*obj, registry, obj->setattr("__class__", 1), TypeError,
                  "__class__ must be set to a class, not 'int' object");
  EXPECT_REJECTED(*obj, registry, obj->setattr("__class__", "MyLocal"), TypeError,
                  "__class__ must be set to a class, not 'str' object");
  EXPECT_REJECTED(*obj, registry, obj->setattr("__class__", nullptr), TypeError,
                  "__class__ must be set to a class, not 'NoneType' object");
  EXPECT_EQ(obj->type(), cls);
}

// Python: threading.local().__class__ = Sub  ->  TypeError: __class__ assignment only supported
// for mutable types or ModuleType subclasses (`local` is an immutable type). For an object of
// a subclass CPython allows it between compatible classes; localbag refuses it (a documented
// difference): an object's class is fixed.
TEST_F(BadInput, DunderClassAssignment) {
  const char* const kImmutable =
      "__class__ assignment only supported for mutable types or ModuleType subclasses";
  LocalObject plain;
  EXPECT_REJECTED(plain, registry, plain.setattr("__class__", cls), TypeError, kImmutable);
  EXPECT_REJECTED(plain, registry, plain.setattr("__class__", Class::local()), TypeError,
                  kImmutable);
  EXPECT_EQ(plain.type(), Class::local());
  const ClassRef other = registry.define(ClassSpec("Other").attr("number", 3));
  EXPECT_REJECTED(*obj, registry, obj->setattr("__class__", other), TypeError,
                  "__class__ assignment is not supported by localbag");
  EXPECT_REJECTED(*obj, registry, obj->setattr("__class__", Class::local()), TypeError,
                  kImmutable);
  EXPECT_EQ(obj->type(), cls);
  EXPECT_EQ(obj->get<int>("number"), 2);
}

// Python: for an object of exactly `local`, _thread._local looks in the dict first, so a
// "__class__" key put into the dict is what l.__class__ returns; for a subclass object the
// descriptor wins. Either way the attribute still cannot be deleted.
TEST_F(BadInput, DunderClassKeyInsideTheDict) {
  LocalObject plain;
  plain.dict().set("__class__", 5);
  EXPECT_EQ(plain.getattr("__class__").get<int>(), 5);
  EXPECT_EQ(plain.get<int>("__class__"), 5);
  EXPECT_TRUE(plain.hasattr("__class__"));
  EXPECT_EQ(plain.type(), Class::local());
  EXPECT_REJECTED(plain, registry, plain.delattr("__class__"), TypeError,
                  "can't delete __class__ attribute");
  obj->dict().set("__class__", 5);
  EXPECT_EQ(obj->getattr("__class__").get<ClassRef>(), cls);
  EXPECT_EQ(obj->get<ClassRef>("__class__"), cls);
  EXPECT_REJECTED(*obj, registry, obj->delattr("__class__"), TypeError,
                  "can't delete __class__ attribute");
  EXPECT_EQ(obj->dict().get<int>("__class__"), 5);
}

}  // namespace
}  // namespace localbag
