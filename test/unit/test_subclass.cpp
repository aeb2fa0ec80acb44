// SPDX-License-Identifier: MIT
// The typed C++ subclass pattern: `class MyLocal : public localbag::LocalObject` backed by a
// registered class, with typed member functions; its method and init receive `LocalObject& self`
// and wrap it as a MyLocal.

#include <gtest/gtest.h>

#include <string>
#include <thread>
#include <vector>

#include "localbag/class.hpp"
#include "localbag/error.hpp"
#include "localbag/local_object.hpp"
#include "localbag/registry.hpp"
#include "localbag/repr.hpp"

namespace example {

const localbag::ClassRef& my_class();

class MyLocal : public localbag::LocalObject {
 public:
  MyLocal() : LocalObject(my_class()) {}
  explicit MyLocal(localbag::Dict kwargs) : LocalObject(my_class(), {}, std::move(kwargs)) {}
  // Wraps an existing object of class MyLocal (or a subclass): TypeError otherwise.
  explicit MyLocal(const LocalObject& other) : LocalObject(other, *my_class()) {}

  int number() const { return get<int>("number"); }
  void set_number(int n) { setattr("number", n); }
  bool initialized() const { return get<bool>("initialized"); }
  std::string color() const { return get<std::string>("color"); }
  int squared() { return call("squared").get<int>(); }

 protected:
  // For C++ subclasses of MyLocal backed by a subclass of the registered class.
  MyLocal(localbag::ClassRef cls, const LocalObject& other) : LocalObject(other, *cls) {}
  explicit MyLocal(const localbag::ClassRef& cls) : LocalObject(cls) {}
};

const localbag::ClassRef& my_class() {
  static const localbag::ClassRef cls = localbag::Registry::global().define(
      localbag::ClassSpec("MyLocal")
          .attr("number", 2)
          .attr("initialized", false)
          .init([](localbag::LocalObject& self, localbag::Args, const localbag::Dict& kw) {
            MyLocal me(self);
            if (me.initialized()) throw localbag::Error("SystemError", "init ran twice");
            me.setattr("initialized", true);
            me.dict().update(kw);
          })
          .method("squared", [](localbag::LocalObject& self, localbag::Args) -> localbag::Value {
            const MyLocal me(self);
            return me.number() * me.number();
          }));
  return cls;
}

const localbag::ClassRef& special_class();

// A second level: C++ class Special derives from MyLocal, registered class Special from MyLocal.
class Special : public MyLocal {
 public:
  Special() : MyLocal(special_class()) {}
  explicit Special(const LocalObject& other) : MyLocal(special_class(), other) {}
  std::string tag() const { return get<std::string>("tag"); }
};

const localbag::ClassRef& special_class() {
  static const localbag::ClassRef cls = localbag::Registry::global().define(
      localbag::ClassSpec("Special").base(my_class()).attr("tag", "special"));
  return cls;
}

}  // namespace example

namespace localbag {
namespace {

using example::MyLocal;
using example::Special;

TEST(Subclass, TypedAccessors) {
  MyLocal mydata;
  EXPECT_EQ(mydata.type(), example::my_class());
  EXPECT_EQ(mydata.type()->name(), "MyLocal");
  EXPECT_EQ(mydata.number(), 2);
  EXPECT_TRUE(mydata.initialized());
  EXPECT_EQ(mydata.squared(), 4);
  mydata.set_number(6);
  EXPECT_EQ(mydata.number(), 6);
  EXPECT_EQ(mydata.squared(), 36);
  EXPECT_EQ(repr(mydata.dict()), "{'initialized': True, 'number': 6}");
}

TEST(Subclass, KwargsAndErrorsUseTheClassName) {
  MyLocal mydata(Dict{{"color", "red"}});
  EXPECT_EQ(mydata.color(), "red");
  mydata.delattr("color");
  try {
    (void)mydata.color();
    ADD_FAILURE() << "no AttributeError";
  } catch (const AttributeError& e) {
    EXPECT_STREQ(e.what(), "'MyLocal' object has no attribute 'color'");
  }
}

TEST(Subclass, WrappingKeepsIdentity) {
  MyLocal mydata;
  LocalObject plain_handle = mydata;  // slicing copies the handle, not the object
  EXPECT_TRUE(plain_handle == mydata);
  MyLocal again(plain_handle);
  EXPECT_TRUE(again == mydata);
  again.set_number(9);
  EXPECT_EQ(mydata.number(), 9);
}

TEST(Subclass, WrappingAnotherClassIsTypeError) {
  LocalObject plain;
  EXPECT_THROW(MyLocal wrong(plain), TypeError);
  Registry r;
  LocalObject unrelated(r.define(ClassSpec("MyLocal")));  // same name, another class
  EXPECT_THROW(MyLocal wrong(unrelated), TypeError);
  MyLocal base_object;
  EXPECT_THROW(Special wrong(base_object), TypeError);  // a base is not a subclass
}

TEST(Subclass, SecondLevel) {
  Special s;
  EXPECT_EQ(s.type()->name(), "Special");
  EXPECT_TRUE(s.type()->is_subclass_of(*example::my_class()));
  EXPECT_EQ(s.tag(), "special");
  EXPECT_EQ(s.number(), 2);
  EXPECT_TRUE(s.initialized());  // MyLocal's init is inherited
  EXPECT_EQ(s.squared(), 4);
  MyLocal as_base(s);  // a Special is a MyLocal
  EXPECT_TRUE(as_base == s);
  Special back(as_base);
  EXPECT_EQ(back.tag(), "special");
}

TEST(Subclass, PerThreadInitAndValues) {
  MyLocal mydata(Dict{{"color", "red"}});
  mydata.set_number(42);
  std::vector<std::thread> threads;
  std::vector<int> squares(8);
  for (int i = 0; i < 8; ++i) {
    threads.emplace_back([&, i, handle = mydata] {
      MyLocal mine(handle);
      EXPECT_TRUE(mine.initialized());
      EXPECT_EQ(mine.color(), "red");  // init ran here with the original kwargs
      EXPECT_EQ(mine.number(), 2);     // main's 42 is not visible
      mine.set_number(i);
      squares[i] = mine.squared();
    });
  }
  for (auto& t : threads) t.join();
  for (int i = 0; i < 8; ++i) EXPECT_EQ(squares[i], i * i);
  EXPECT_EQ(mydata.number(), 42);
}

TEST(Subclass, RegisteredGlobally) {
  (void)example::my_class();
  (void)example::special_class();
  EXPECT_EQ(Registry::global().get("MyLocal"), example::my_class());
  LocalObject by_name = Registry::global().instantiate("MyLocal");
  MyLocal typed(by_name);
  EXPECT_EQ(typed.squared(), 4);
}

}  // namespace
}  // namespace localbag
