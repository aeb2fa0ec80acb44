// SPDX-License-Identifier: MIT
// Unit tests for <localbag/value.hpp>: storage, typed access, copies of move-only values,
// Python type names and exact error texts.

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <string_view>
#include <typeinfo>
#include <utility>

#include "localbag/class.hpp"
#include "localbag/dict.hpp"
#include "localbag/error.hpp"
#include "localbag/value.hpp"
#include "test_support.hpp"

namespace localbag::test {
// Larger than the inline buffer: stored on the heap.
struct Big {
  char bytes[100] = {};
  int tag = 0;
};
}  // namespace localbag::test

namespace localbag {
namespace {

using test::Ledger;
using test::Tracked;

TEST(Value, DefaultIsNone) {
  Value v;
  EXPECT_TRUE(v.is_none());
  EXPECT_TRUE(v.holds<None>());
  EXPECT_FALSE(v.holds<int>());
  EXPECT_TRUE(v.type() == typeid(None));
  EXPECT_EQ(v.type_name(), "NoneType");
  EXPECT_TRUE(v.copyable());
  EXPECT_TRUE(Value(None{}).is_none());
}

TEST(Value, IntRoundTrip) {
  Value v(42);
  EXPECT_FALSE(v.is_none());
  EXPECT_TRUE(v.holds<int>());
  EXPECT_FALSE(v.holds<long>());
  EXPECT_FALSE(v.holds<unsigned>());
  EXPECT_EQ(v.get<int>(), 42);
  ASSERT_NE(v.try_get<int>(), nullptr);
  EXPECT_EQ(*v.try_get<int>(), 42);
  EXPECT_EQ(v.try_get<long>(), nullptr);
  EXPECT_EQ(v.type_name(), "int");
  v.get<int>() = 43;
  EXPECT_EQ(v.get<int>(), 43);
}

TEST(Value, PythonTypeNames) {
  EXPECT_EQ(Value(true).type_name(), "bool");
  EXPECT_EQ(Value(std::string("x")).type_name(), "str");
  EXPECT_EQ(Value(5L).type_name(), "long");
  EXPECT_EQ(Value(2.5).type_name(), "double");
  EXPECT_EQ(Value(List{}).type_name(), "list");
  EXPECT_EQ(Value(Tuple{}).type_name(), "tuple");
  EXPECT_EQ(Value(Dict{}).type_name(), "dict");
  EXPECT_EQ(Value(Function{"C.f", nullptr}).type_name(), "function");
  EXPECT_EQ(Value(test::MoveOnly(1)).type_name(), "localbag::test::MoveOnly");
}

TEST(Value, StringLikeIsStoredAsStdString) {
  const char* pointer = "ptr";
  std::string_view view = "view";
  Value literal("red");
  Value from_pointer(pointer);
  Value from_view(view);
  EXPECT_TRUE(literal.holds<std::string>());
  EXPECT_TRUE(from_pointer.holds<std::string>());
  EXPECT_TRUE(from_view.holds<std::string>());
  EXPECT_EQ(literal.get<std::string>(), "red");
  EXPECT_EQ(from_pointer.get<std::string>(), "ptr");
  EXPECT_EQ(from_view.get<std::string>(), "view");
  EXPECT_FALSE(literal.holds<const char*>());
}

TEST(Value, LongStringAndBigTypeOutOfLine) {
  const std::string long_text(1000, 'z');
  Value s(long_text);
  EXPECT_EQ(s.get<std::string>(), long_text);
  test::Big big;
  big.tag = 7;
  big.bytes[99] = 'q';
  Value b(big);
  Value copy(b);
  copy.get<test::Big>().tag = 8;
  EXPECT_EQ(b.get<test::Big>().tag, 7);
  EXPECT_EQ(copy.get<test::Big>().tag, 8);
  Value moved(std::move(b));
  EXPECT_TRUE(b.is_none());  // NOLINT(bugprone-use-after-move): documented to leave None
  EXPECT_EQ(moved.get<test::Big>().tag, 7);
  EXPECT_EQ(moved.get<test::Big>().bytes[99], 'q');
}

TEST(Value, CopyIsIndependent) {
  Value a(std::string("alpha"));
  Value b(a);
  b.get<std::string>() += "!";
  EXPECT_EQ(a.get<std::string>(), "alpha");
  EXPECT_EQ(b.get<std::string>(), "alpha!");
  Value c;
  c = a;
  EXPECT_EQ(c.get<std::string>(), "alpha");
}

TEST(Value, MoveLeavesNone) {
  Value a(std::string("moved text that is longer than fifteen characters"));
  Value b(std::move(a));
  EXPECT_TRUE(a.is_none());  // NOLINT(bugprone-use-after-move)
  EXPECT_EQ(b.get<std::string>(), "moved text that is longer than fifteen characters");
  Value c(1);
  c = std::move(b);
  EXPECT_TRUE(b.is_none());  // NOLINT(bugprone-use-after-move)
  EXPECT_TRUE(c.holds<std::string>());
}

TEST(Value, WrongTypeGetThrowsTypeError) {
  Value v(42);
  EXPECT_LB_ERROR(v.get<std::string>(), TypeError, "Value holds int, not str");
  EXPECT_LB_ERROR(v.get<double>(), TypeError, "Value holds int, not double");
  Value none;
  EXPECT_LB_ERROR(none.get<int>(), TypeError, "Value holds NoneType, not int");
  Value s("x");
  EXPECT_LB_ERROR(s.get<bool>(), TypeError, "Value holds str, not bool");
  EXPECT_LB_ERROR(s.get<List>(), TypeError, "Value holds str, not list");
  const Value cv(1.5);
  EXPECT_LB_ERROR(cv.get<int>(), TypeError, "Value holds double, not int");
  // The failed access changed nothing.
  EXPECT_EQ(v.get<int>(), 42);
  EXPECT_EQ(cv.get<double>(), 1.5);
}

TEST(Value, MoveOnlyStoredAndMoved) {
  Value v(std::make_unique<int>(5));
  EXPECT_FALSE(v.copyable());
  ASSERT_TRUE(v.holds<std::unique_ptr<int>>());
  EXPECT_EQ(*v.get<std::unique_ptr<int>>(), 5);
  Value w(std::move(v));
  EXPECT_TRUE(v.is_none());  // NOLINT(bugprone-use-after-move)
  EXPECT_EQ(*w.get<std::unique_ptr<int>>(), 5);
}

TEST(Value, CopyOfMoveOnlyThrowsAndLeavesTargetUnchanged) {
  Value v(test::MoveOnly(9));
  EXPECT_FALSE(v.copyable());
  EXPECT_LB_ERROR(Value copy(v), TypeError, "cannot copy 'localbag::test::MoveOnly' object");
  Value target(std::string("keep me"));
  EXPECT_LB_ERROR(target = v, TypeError, "cannot copy 'localbag::test::MoveOnly' object");
  EXPECT_EQ(target.get<std::string>(), "keep me");
  EXPECT_EQ(v.get<test::MoveOnly>().value, 9);
}

TEST(Value, CopyOfUniquePtrNamesItsType) {
  Value v(std::make_unique<int>(1));
  try {
    Value copy(v);
    ADD_FAILURE() << "copy of a unique_ptr did not throw";
  } catch (const TypeError& e) {
    const std::string what = e.what();
    EXPECT_EQ(what.rfind("cannot copy 'std::unique_ptr<int", 0), 0u) << what;
    ASSERT_GE(what.size(), 8u);
    EXPECT_EQ(what.substr(what.size() - 8), "' object") << what;
  }
}

TEST(Value, EmplaceReplaces) {
  Ledger counted;
  Value v(Tracked(counted, 1));
  EXPECT_EQ(counted.live(), 1);
  std::string& s = v.emplace<std::string>(3, 'a');
  EXPECT_EQ(s, "aaa");
  EXPECT_EQ(counted.live(), 0);
  EXPECT_EQ(v.get<std::string>(), "aaa");
  v.emplace<Tracked>(counted, 2);
  EXPECT_EQ(counted.live(), 1);
  EXPECT_EQ(v.get<Tracked>().tag(), 2);
}

TEST(Value, EveryObjectDestroyedExactlyOnce) {
  Ledger counted;
  {
    Value a(Tracked(counted, 1));
    Value b(a);
    Value c(std::move(a));
    Value d;
    d = b;
    swap(c, d);
    EXPECT_EQ(counted.live(), 3);
    b.reset();
    EXPECT_TRUE(b.is_none());
    EXPECT_EQ(counted.live(), 2);
  }
  EXPECT_EQ(counted.live(), 0);
}

TEST(Value, Swap) {
  Value a(1);
  Value b(std::string("two"));
  swap(a, b);
  EXPECT_EQ(a.get<std::string>(), "two");
  EXPECT_EQ(b.get<int>(), 1);
  Value none;
  swap(a, none);
  EXPECT_TRUE(a.is_none());
  EXPECT_EQ(none.get<std::string>(), "two");
}

TEST(Value, ContainersHoldValues) {
  Value list(List{1, "a", List{}});
  ASSERT_TRUE(list.holds<List>());
  const List& l = list.get<List>();
  ASSERT_EQ(l.size(), 3u);
  EXPECT_EQ(l[0].get<int>(), 1);
  EXPECT_EQ(l[1].get<std::string>(), "a");
  EXPECT_TRUE(l[2].get<List>().empty());
  Value tuple(Tuple{{std::string("color"), std::string("red")}});
  ASSERT_EQ(tuple.get<Tuple>().items.size(), 2u);
  EXPECT_EQ(tuple.get<Tuple>().items[1].get<std::string>(), "red");
  Value dict(Dict{{"number", 42}});
  EXPECT_EQ(dict.get<Dict>().get<int>("number"), 42);
}

TEST(Value, ConstAccess) {
  const Value v(7);
  EXPECT_EQ(v.get<int>(), 7);
  EXPECT_EQ(*v.try_get<int>(), 7);
  EXPECT_EQ(v.try_get<std::string>(), nullptr);
}

}  // namespace
}  // namespace localbag
