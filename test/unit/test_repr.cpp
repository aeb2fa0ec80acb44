// SPDX-License-Identifier: MIT
// Unit tests for <localbag/repr.hpp>: Python's repr() for every kind of value.

#include <gtest/gtest.h>

#include <climits>
#include <cmath>
#include <cstdint>
#include <limits>
#include <memory>
#include <string>
#include <string_view>

#include "localbag/class.hpp"
#include "localbag/dict.hpp"
#include "localbag/repr.hpp"
#include "localbag/value.hpp"

namespace localbag::test {
struct Widget {
  int size = 0;
};
struct Gadget {
  int id = 0;
};
// Found by argument-dependent lookup.
std::string localbag_repr(const Gadget& g) { return "Gadget(" + std::to_string(g.id) + ")"; }
}  // namespace localbag::test

namespace localbag {
namespace {

TEST(Repr, Scalars) {
  EXPECT_EQ(repr(Value(42)), "42");
  EXPECT_EQ(repr(Value(-7)), "-7");
  EXPECT_EQ(repr(Value(0)), "0");
  EXPECT_EQ(repr(Value(true)), "True");
  EXPECT_EQ(repr(Value(false)), "False");
  EXPECT_EQ(repr(Value()), "None");
  EXPECT_EQ(repr(Value(None{})), "None");
}

TEST(Repr, IntegerLimits) {
  EXPECT_EQ(repr(Value(INT_MIN)), "-2147483648");
  EXPECT_EQ(repr(Value(LLONG_MIN)), "-9223372036854775808");
  EXPECT_EQ(repr(Value(LLONG_MAX)), "9223372036854775807");
  EXPECT_EQ(repr(Value(ULLONG_MAX)), "18446744073709551615");
  EXPECT_EQ(repr(Value(std::uint8_t{200})), "200");
  EXPECT_EQ(repr(Value(std::int16_t{-300})), "-300");
  EXPECT_EQ(repr(Value(123456789L)), "123456789");
}

TEST(Repr, FloatsLikePython) {
  EXPECT_EQ(repr(Value(2.0)), "2.0");
  EXPECT_EQ(repr(Value(1e16)), "1e+16");
  EXPECT_EQ(repr(Value(1e15)), "1000000000000000.0");
  EXPECT_EQ(repr(Value(0.1)), "0.1");
  EXPECT_EQ(repr(Value(0.1 + 0.2)), "0.30000000000000004");
  EXPECT_EQ(repr(Value(1.5)), "1.5");
  EXPECT_EQ(repr(Value(-0.0)), "-0.0");
  EXPECT_EQ(repr(Value(0.0)), "0.0");
  EXPECT_EQ(repr(Value(1e-05)), "1e-05");
  EXPECT_EQ(repr(Value(0.0001)), "0.0001");
  EXPECT_EQ(repr(Value(123456789.0)), "123456789.0");
  EXPECT_EQ(repr(Value(1.7976931348623157e308)), "1.7976931348623157e+308");
  EXPECT_EQ(repr(Value(5e-324)), "5e-324");
  EXPECT_EQ(repr(Value(std::numeric_limits<double>::infinity())), "inf");
  EXPECT_EQ(repr(Value(-std::numeric_limits<double>::infinity())), "-inf");
  EXPECT_EQ(repr(Value(std::nan(""))), "nan");
}

TEST(Repr, StringsQuotedLikePython) {
  EXPECT_EQ(repr(Value("red")), "'red'");
  EXPECT_EQ(repr(Value("")), "''");
  EXPECT_EQ(repr(Value("it's")), "\"it's\"");
  EXPECT_EQ(repr(Value("say \"hi\"")), "'say \"hi\"'");
  EXPECT_EQ(repr(Value("both ' and \"")), "'both \\' and \"'");
  EXPECT_EQ(repr(Value("back\\slash")), "'back\\\\slash'");
  EXPECT_EQ(repr(Value("a\nb\tc\rd")), "'a\\nb\\tc\\rd'");
  EXPECT_EQ(repr(Value("\x01")), "'\\x01'");
  EXPECT_EQ(repr(Value("\x7f")), "'\\x7f'");
  EXPECT_EQ(repr(Value(std::string("a\0b", 3))), "'a\\x00b'");
}

TEST(Repr, Containers) {
  EXPECT_EQ(repr(Value(List{})), "[]");
  EXPECT_EQ(repr(Value(List{1, "a", true, Value()})), "[1, 'a', True, None]");
  EXPECT_EQ(repr(Value(List{List{}, 11})), "[[], 11]");
  EXPECT_EQ(repr(Value(Tuple{List{1, 2}})), "(1, 2)");
  EXPECT_EQ(repr(Value(Tuple{List{"color", "red"}})), "('color', 'red')");
  EXPECT_EQ(repr(Value(Tuple{})), "()");
  EXPECT_EQ(repr(Value(Tuple{List{Value(1)}})), "(1,)");
  EXPECT_EQ(repr(Value(Dict{})), "{}");
  EXPECT_EQ(repr(Value(Dict{{"number", 42}})), "{'number': 42}");
  EXPECT_EQ(repr(Value(Dict{{"a", List{1}}, {"b", Dict{{"c", 2.0}}}})),
            "{'a': [1], 'b': {'c': 2.0}}");
}

TEST(Repr, DictOverloadKeepsInsertionOrder) {
  Dict d;
  d.set("z", 1);
  d.set("a", "x");
  d.set("it's", None{});
  EXPECT_EQ(repr(d), "{'z': 1, 'a': 'x', \"it's\": None}");
  d.set("z", 2);
  EXPECT_EQ(repr(d), "{'z': 2, 'a': 'x', \"it's\": None}");
}

TEST(Repr, ItemsOfADict) {
  Dict d{{"color", "red"}, {"initialized", true}};
  EXPECT_EQ(repr(Value(d.items())), "[('color', 'red'), ('initialized', True)]");
  EXPECT_EQ(repr(Value(List{Value(d.items()), 11})),
            "[[('color', 'red'), ('initialized', True)], 11]");
}

TEST(Repr, OtherTypesAndUserRepr) {
  EXPECT_EQ(repr(Value(test::Widget{3})), "<localbag::test::Widget object>");
  EXPECT_EQ(repr(Value(test::Gadget{5})), "Gadget(5)");
  EXPECT_EQ(repr(Value(List{test::Gadget{1}, test::Widget{}})),
            "[Gadget(1), <localbag::test::Widget object>]");
  EXPECT_EQ(repr(test::Gadget{6}), "Gadget(6)");
}

TEST(Repr, FunctionShowsQualname) {
  Function f{"MyLocal.squared", [](LocalObject&, Args) -> Value { return 4; }};
  EXPECT_EQ(repr(Value(f)), "<function MyLocal.squared>");
}

TEST(Repr, DirectOnObjects) {
  EXPECT_EQ(repr(42), "42");
  EXPECT_EQ(repr(std::string("x")), "'x'");
  EXPECT_EQ(repr("lit"), "'lit'");
  // repr(std::string_view) does not compile (repr.hpp binds the view to const std::string&):
  // reported; wrapped in a Value it works.
  EXPECT_EQ(repr(Value(std::string_view("v"))), "'v'");
  EXPECT_EQ(repr(List{1, 2}), "[1, 2]");
  EXPECT_EQ(repr(true), "True");
  EXPECT_EQ(repr(2.5), "2.5");
}

TEST(Repr, AppendAppends) {
  std::string out = "x = ";
  repr_append(out, Value("red"));
  EXPECT_EQ(out, "x = 'red'");
  repr_append(out, Value(List{}));
  EXPECT_EQ(out, "x = 'red'[]");
}

TEST(Repr, MoveOnlyValueReprWithoutCopy) {
  Value v(std::make_unique<test::Widget>());
  const std::string text = repr(v);
  EXPECT_EQ(text.front(), '<');
  EXPECT_NE(text.find("unique_ptr"), std::string::npos) << text;
  EXPECT_EQ(text.substr(text.size() - 8), " object>") << text;
}

}  // namespace
}  // namespace localbag
