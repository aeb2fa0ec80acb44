// SPDX-License-Identifier: MIT
// Unit tests for <localbag/class.hpp>: ClassSpec, the root class `local`, class attributes along
// the base chain, runtime changes, slots, and exact error texts. Each test uses its own Registry.

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "localbag/class.hpp"
#include "localbag/error.hpp"
#include "localbag/local_object.hpp"
#include "localbag/registry.hpp"
#include "localbag/repr.hpp"
#include "test_support.hpp"

namespace localbag {
namespace {

Value squared(LocalObject& self, Args) {
  const int n = self.get<int>("number");
  return n * n;
}

TEST(Class, RootClassIsLocal) {
  const ClassRef& local = Class::local();
  ASSERT_NE(local, nullptr);
  EXPECT_EQ(local->name(), "local");
  EXPECT_EQ(local->base(), nullptr);
  EXPECT_FALSE(local->has_init());
  EXPECT_TRUE(local->slots().empty());
  EXPECT_TRUE(local->is_subclass_of(*local));
  EXPECT_TRUE(local->own_attrs().empty());
  EXPECT_EQ(Class::local(), local);  // the same class every time
  EXPECT_FALSE(local->hasattr("number"));
}

TEST(Class, DefineSetsNameBaseAndAttrs) {
  Registry r;
  ClassRef cls = r.define(ClassSpec("MyLocal").attr("number", 2).attr("initialized", false));
  EXPECT_EQ(cls->name(), "MyLocal");
  EXPECT_EQ(cls->base(), Class::local());
  EXPECT_TRUE(cls->is_subclass_of(*Class::local()));
  EXPECT_FALSE(Class::local()->is_subclass_of(*cls));
  EXPECT_FALSE(cls->has_init());
  EXPECT_EQ(cls->getattr("number").get<int>(), 2);
  EXPECT_FALSE(cls->getattr("initialized").get<bool>());
  EXPECT_TRUE(cls->hasattr("number"));
  EXPECT_FALSE(cls->hasattr("color"));
  EXPECT_EQ(repr(cls->own_attrs()), "{'number': 2, 'initialized': False}");
}

TEST(Class, LaterAttrReplacesEarlier) {
  Registry r;
  ClassRef cls = r.define(ClassSpec("C")
                              .attr("a", 1)
                              .attr("b", 2)
                              .attr("a", "one")
                              .method("b", squared)
                              .method("m", squared)
                              .attr("m", 3));
  EXPECT_EQ(cls->getattr("a").get<std::string>(), "one");
  EXPECT_TRUE(cls->getattr("b").holds<Function>());
  EXPECT_EQ(cls->getattr("m").get<int>(), 3);
  EXPECT_EQ(cls->own_attrs().keys(), (std::vector<std::string>{"a", "b", "m"}));
}

TEST(Class, MethodIsAFunctionAttribute) {
  Registry r;
  ClassRef cls = r.define(ClassSpec("MyLocal").attr("number", 2).method("squared", squared));
  Value m = cls->getattr("squared");
  ASSERT_TRUE(m.holds<Function>());
  EXPECT_EQ(m.get<Function>().qualname, "MyLocal.squared");
  EXPECT_EQ(repr(m), "<function MyLocal.squared>");
  EXPECT_TRUE(cls->own_attrs().contains("squared"));
  ClassRef sub = r.define(ClassSpec("Sub").base("MyLocal"));
  EXPECT_EQ(repr(sub->getattr("squared")), "<function MyLocal.squared>");
  EXPECT_FALSE(sub->own_attrs().contains("squared"));
}

TEST(Class, AttributesAlongBaseChain) {
  Registry r;
  ClassRef a = r.define(ClassSpec("A").attr("x", 1).attr("y", 1));
  ClassRef b = r.define(ClassSpec("B").base("A").attr("y", 2));
  ClassRef c = r.define(ClassSpec("C").base(b).attr("z", 3));
  EXPECT_EQ(c->base(), b);
  EXPECT_EQ(b->base(), a);
  EXPECT_TRUE(c->is_subclass_of(*a));
  EXPECT_TRUE(c->is_subclass_of(*Class::local()));
  EXPECT_FALSE(a->is_subclass_of(*c));
  EXPECT_EQ(c->getattr("x").get<int>(), 1);
  EXPECT_EQ(c->getattr("y").get<int>(), 2);
  EXPECT_EQ(c->getattr("z").get<int>(), 3);
  EXPECT_EQ(a->getattr("y").get<int>(), 1);
  EXPECT_FALSE(a->hasattr("z"));
  EXPECT_EQ(repr(c->own_attrs()), "{'z': 3}");
}

TEST(Class, GetattrMissingThrows) {
  Registry r;
  ClassRef cls = r.define(ClassSpec("MyLocal"));
  EXPECT_LB_ERROR(cls->getattr("x"), AttributeError, "type object 'MyLocal' has no attribute 'x'");
  EXPECT_LB_ERROR(Class::local()->getattr("x"), AttributeError,
                  "type object 'local' has no attribute 'x'");
}

TEST(Class, SetattrVisibleToSubclassesUnlessShadowed) {
  Registry r;
  ClassRef base = r.define(ClassSpec("Base").attr("number", 2));
  ClassRef plain = r.define(ClassSpec("Plain").base("Base"));
  ClassRef own = r.define(ClassSpec("Own").base("Base").attr("number", 3));
  base->setattr("number", 5);
  EXPECT_EQ(base->getattr("number").get<int>(), 5);
  EXPECT_EQ(plain->getattr("number").get<int>(), 5);
  EXPECT_EQ(own->getattr("number").get<int>(), 3);
  base->setattr("fresh", "new");  // a brand new class attribute
  EXPECT_EQ(plain->getattr("fresh").get<std::string>(), "new");
  plain->setattr("number", 7);
  EXPECT_EQ(plain->getattr("number").get<int>(), 7);
  EXPECT_EQ(base->getattr("number").get<int>(), 5);
}

TEST(Class, SetattrSeenByObjects) {
  Registry r;
  ClassRef cls = r.define(ClassSpec("MyLocal").attr("number", 2));
  LocalObject obj(cls);
  LocalObject shadowing(cls);
  shadowing.setattr("number", 9);
  EXPECT_EQ(obj.get<int>("number"), 2);
  cls->setattr("number", 4);
  EXPECT_EQ(obj.get<int>("number"), 4);
  EXPECT_EQ(shadowing.get<int>("number"), 9);
  cls->setattr("number", "text");
  EXPECT_EQ(obj.get<std::string>("number"), "text");
}

TEST(Class, DelattrOwnOnly) {
  Registry r;
  ClassRef base = r.define(ClassSpec("Base").attr("x", 1));
  ClassRef sub = r.define(ClassSpec("Sub").base("Base").attr("x", 2));
  sub->delattr("x");
  EXPECT_EQ(sub->getattr("x").get<int>(), 1);  // the base's shows through
  EXPECT_LB_ERROR(sub->delattr("x"), AttributeError, "type object 'Sub' has no attribute 'x'");
  EXPECT_EQ(base->getattr("x").get<int>(), 1);
  base->delattr("x");
  EXPECT_FALSE(sub->hasattr("x"));
  EXPECT_LB_ERROR(base->delattr("x"), AttributeError, "type object 'Base' has no attribute 'x'");
}

TEST(Class, SetattrOfSlotNameThrows) {
  Registry r;
  ClassRef cls = r.define(ClassSpec("Slotted").slots({"x"}).attr("y", 1));
  EXPECT_LB_ERROR(cls->setattr("x", 1), ValueError,
                  "'x' in __slots__ conflicts with class variable");
  EXPECT_FALSE(cls->own_attrs().contains("x"));
  EXPECT_EQ(repr(cls->own_attrs()), "{'y': 1}");
}

TEST(Class, SetattrOfMoveOnlyThrows) {
  Registry r;
  ClassRef cls = r.define(ClassSpec("C").attr("p", 1));
  EXPECT_LB_ERROR(cls->setattr("p", Value(test::MoveOnly(1))), TypeError,
                  "cannot copy 'localbag::test::MoveOnly' object");
  EXPECT_EQ(cls->getattr("p").get<int>(), 1);
}

TEST(Class, SlotsBasesFirst) {
  Registry r;
  ClassRef a = r.define(ClassSpec("A").slots({"a1", "a2"}));
  ClassRef b = r.define(ClassSpec("B").base("A").slots({"b1"}));
  EXPECT_EQ(a->slots(), (std::vector<std::string>{"a1", "a2"}));
  EXPECT_EQ(b->slots(), (std::vector<std::string>{"a1", "a2", "b1"}));
}

TEST(Class, HasInitInherited) {
  Registry r;
  ClassRef a = r.define(ClassSpec("A").init([](LocalObject&, Args, const Dict&) {}));
  ClassRef b = r.define(ClassSpec("B").base("A"));
  ClassRef c = r.define(ClassSpec("C"));
  EXPECT_TRUE(a->has_init());
  EXPECT_TRUE(b->has_init());
  EXPECT_FALSE(c->has_init());
}

TEST(Class, BaseFromAnotherRegistry) {
  Registry plugin;
  Registry host;
  ClassRef base = plugin.define(ClassSpec("PluginBase").attr("from", "plugin"));
  ClassRef sub = host.define(ClassSpec("HostSub").base(base));
  EXPECT_EQ(sub->base(), base);
  EXPECT_EQ(sub->getattr("from").get<std::string>(), "plugin");
  EXPECT_FALSE(host.contains("PluginBase"));
}

TEST(Class, ClassOutlivesRegistry) {
  ClassRef cls;
  {
    Registry r;
    cls = r.define(ClassSpec("Survivor").attr("n", 1).method("squared", squared));
  }
  EXPECT_EQ(cls->name(), "Survivor");
  LocalObject obj(cls);
  obj.setattr("number", 3);
  EXPECT_EQ(obj.call("squared").get<int>(), 9);
  EXPECT_EQ(obj.get<int>("n"), 1);
}

TEST(Class, OwnAttrsIsACopy) {
  Registry r;
  ClassRef cls = r.define(ClassSpec("C").attr("n", 1));
  Dict attrs = cls->own_attrs();
  attrs.set("n", 100);
  attrs.set("extra", 1);
  EXPECT_EQ(cls->getattr("n").get<int>(), 1);
  EXPECT_FALSE(cls->hasattr("extra"));
}

TEST(ClassSpec, NameAccessor) {
  ClassSpec spec("Named");
  EXPECT_EQ(spec.name(), "Named");
  ClassSpec& same = spec.attr("a", 1);
  EXPECT_EQ(&same, &spec);
}

TEST(Class, RootClassIsImmutable) {
  const ClassRef& root = Class::local();
  EXPECT_LB_ERROR(root->setattr("x", 1), TypeError,
                  "cannot set 'x' attribute of immutable type 'local'");
  EXPECT_LB_ERROR(root->delattr("x"), TypeError,
                  "cannot delete 'x' attribute of immutable type 'local'");
  EXPECT_FALSE(root->hasattr("x"));
  EXPECT_TRUE(root->own_attrs().empty());
}

}  // namespace
}  // namespace localbag
