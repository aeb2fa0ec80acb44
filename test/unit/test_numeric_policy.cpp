// SPDX-License-Identifier: MIT
// Unit tests for the numeric policy (docs/python.md): Value::as<T> and LocalObject::get<T>
// convert between integer types with Python's range errors, any number to a float, and a value
// of another language through its builtin equivalent; Bytes; release_this_thread.

#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <string>
#include <thread>

#include "localbag/localbag.hpp"
#include "test_support.hpp"

namespace localbag::test {
// A value of "another language": converts to a builtin value only through to_builtin, as a
// Python object held by the binding does.
struct Foreign {
  Value builtin;
  bool wide = false;  // a number beyond 64 bits, of sign `sign` and value `value`
  int sign = 1;
  double value = -1e30;
};
}  // namespace localbag::test

namespace localbag::detail {
template <>
struct PythonType<test::Foreign> {
  static std::string name() { return "foreign"; }
  static void repr(std::string& out, const test::Foreign&) { out += "<foreign>"; }
  static Value to_builtin(const test::Foreign& f) { return f.builtin; }
  static bool number(const test::Foreign& f, Number& out) {
    if (!f.wide) return false;
    out.kind = Number::Kind::kWide;
    out.i = f.sign;
    out.f = f.value;
    return true;
  }
};
}  // namespace localbag::detail

namespace localbag {
namespace {

template <class E, class F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const E& e) {
    return e.what();
  }
  return "(no error)";
}

TEST(NumericPolicy, IntegersConvertWithinRange) {
  const Value v(std::int64_t{42});
  EXPECT_EQ(v.as<int>(), 42);
  EXPECT_EQ(v.as<short>(), 42);
  EXPECT_EQ(v.as<unsigned>(), 42u);
  EXPECT_EQ(v.as<std::int64_t>(), 42);
  EXPECT_EQ(Value(42).as<long>(), 42L);
  EXPECT_EQ(Value(std::uint64_t{7}).as<int>(), 7);
  EXPECT_EQ(Value(std::numeric_limits<int>::min()).as<long long>(),
            std::numeric_limits<int>::min());
}

TEST(NumericPolicy, OutOfRangeIsOverflowErrorInPythonsWords) {
  const Value big(std::int64_t{1} << 40);
  EXPECT_EQ(error_of<OverflowError>([&] { big.as<int>(); }),
            "Python int too large to convert to C int");
  EXPECT_EQ(error_of<OverflowError>([&] { Value(-1).as<unsigned>(); }),
            "can't convert negative int to unsigned");
  EXPECT_EQ(
      error_of<OverflowError>([&] { Value(std::numeric_limits<std::uint64_t>::max()).as<long>(); }),
      "Python int too large to convert to C long");
  EXPECT_EQ(error_of<OverflowError>([&] { Value(std::int64_t{-40000}).as<short>(); }),
            "Python int too large to convert to C short");
  try {
    big.as<int>();
  } catch (const Error& e) {
    EXPECT_STREQ(e.python_type(), "OverflowError");
  }
}

TEST(NumericPolicy, FloatsAndIntegers) {
  EXPECT_DOUBLE_EQ(Value(3).as<double>(), 3.0);
  EXPECT_DOUBLE_EQ(Value(std::uint64_t{5}).as<double>(), 5.0);
  EXPECT_FLOAT_EQ(Value(2.5).as<float>(), 2.5f);
  EXPECT_EQ(error_of<TypeError>([] { Value(2.5).as<int>(); }),
            "'float' object cannot be interpreted as an integer");
}

TEST(NumericPolicy, BoolAndStringsAreNotNumbers) {
  EXPECT_EQ(error_of<TypeError>([] { Value(true).as<int>(); }), "Value holds bool, not int");
  EXPECT_EQ(error_of<TypeError>([] { Value("7").as<int>(); }), "Value holds str, not int");
  EXPECT_EQ(error_of<TypeError>([] { Value(7).as<std::string>(); }), "Value holds int, not str");
  EXPECT_EQ(Value("x").as<std::string>(), "x");
  EXPECT_TRUE(Value(true).as<bool>());
}

TEST(NumericPolicy, ForeignValuesConvertThroughTheirBuiltinEquivalent) {
  const Value n(test::Foreign{Value(std::int64_t{1} << 40)});
  EXPECT_EQ(n.as<std::int64_t>(), std::int64_t{1} << 40);
  EXPECT_DOUBLE_EQ(n.as<double>(), 1099511627776.0);
  EXPECT_EQ(error_of<OverflowError>([&] { n.as<int>(); }),
            "Python int too large to convert to C int");
  const Value wide(test::Foreign{Value(), true, -1});
  EXPECT_EQ(error_of<OverflowError>([&] { wide.as<long>(); }),
            "Python int too large to convert to C long");
  EXPECT_EQ(error_of<OverflowError>([&] { wide.as<unsigned>(); }),
            "can't convert negative int to unsigned");
  EXPECT_DOUBLE_EQ(wide.as<double>(), -1e30);
  const Value huge(test::Foreign{Value(), true, 1, std::numeric_limits<double>::infinity()});
  EXPECT_EQ(error_of<OverflowError>([&] { huge.as<double>(); }),
            "int too large to convert to float");
  const Value s(test::Foreign{Value("red")});
  EXPECT_EQ(s.as<std::string>(), "red");
  EXPECT_EQ(error_of<TypeError>([&] { s.as<int>(); }), "Value holds str, not int");
  const Value l(test::Foreign{Value(List{Value(1), Value("a")})});
  EXPECT_EQ(l.as<List>().size(), 2u);
  // Held exactly, a foreign value is itself.
  EXPECT_TRUE(n.holds<test::Foreign>());
}

TEST(NumericPolicy, LocalObjectGetAppliesThePolicy) {
  LocalObject obj;
  obj.setattr("n", std::int64_t{5});
  obj.setattr("big", std::int64_t{1} << 40);
  obj.setattr("f", test::Foreign{Value(std::int64_t{9})});
  obj.setattr("s", "text");
  EXPECT_EQ(obj.get<int>("n"), 5);
  EXPECT_EQ(obj.get<double>("n"), 5.0);
  EXPECT_EQ(obj.get<int>("f"), 9);
  EXPECT_EQ(error_of<OverflowError>([&] { obj.get<int>("big"); }),
            "Python int too large to convert to C int");
  EXPECT_EQ(error_of<TypeError>([&] { obj.get<int>("s"); }),
            "'local' object attribute 's' is str, not int");
  obj.setattr("fs", test::Foreign{Value("text")});  // named by what it is in its language
  EXPECT_EQ(error_of<TypeError>([&] { obj.get<int>("fs"); }),
            "'local' object attribute 'fs' is str, not int");
  // The slow path (a class attribute) converts the same way.
  auto cls = Registry().define(ClassSpec("Conf").attr("timeout", std::int64_t{30}));
  LocalObject conf(cls);
  EXPECT_EQ(conf.get<int>("timeout"), 30);
  EXPECT_EQ(conf.get<unsigned short>("timeout"), 30);
  // Every integer type reads a std::int64_t (the inline conversion covers the standard integer
  // types; bool and the character types take the general one), with the same range checks.
  EXPECT_EQ(obj.get<unsigned char>("n"), 5);
  EXPECT_EQ(obj.get<char>("n"), 5);
  EXPECT_EQ(obj.get<char32_t>("n"), U'\x05');
  EXPECT_EQ(obj.get<wchar_t>("n"), L'\x05');
  EXPECT_EQ(error_of<OverflowError>([&] { obj.get<char>("big"); }),
            "Python int too large to convert to C char");
  obj.setattr("negative", std::int64_t{-1});
  EXPECT_EQ(error_of<OverflowError>([&] { obj.get<unsigned>("negative"); }),
            "can't convert negative int to unsigned");
  EXPECT_EQ(obj.get<long long>("negative"), -1);
}

TEST(Bytes, IsPythonsBytes) {
  const Value b(Bytes{std::string("a'\x01\xff", 4)});
  EXPECT_EQ(b.type_name(), "bytes");
  EXPECT_EQ(repr(b), "b\"a'\\x01\\xff\"");
  EXPECT_EQ(repr(Value(Bytes{"plain"})), "b'plain'");
  EXPECT_EQ(b.as<Bytes>().data.size(), 4u);
  EXPECT_EQ(error_of<TypeError>([&] { b.as<std::string>(); }), "Value holds bytes, not str");
}

TEST(ReleaseThisThread, EndsTheThreadsStateNowAndStartsAfresh) {
  test::Ledger ledger;
  int inits = 0;
  auto cls = Registry().define(ClassSpec("Counted").init([&](LocalObject& self, Args, const Dict&) {
    ++inits;
    self.setattr("first", true);
  }));
  LocalObject obj(cls);  // init 1, on this thread
  std::thread([&] {
    obj.setattr("tracked", test::Tracked(ledger, 1));  // init 2
    EXPECT_EQ(ledger.live(), 1);
    release_this_thread();
    EXPECT_EQ(ledger.live(), 0);           // destroyed here, now
    EXPECT_FALSE(obj.hasattr("tracked"));  // a fresh state: init 3
    obj.setattr("tracked", test::Tracked(ledger, 2));
  }).join();
  EXPECT_EQ(ledger.live(), 0);  // the fresh state ended with the thread
  EXPECT_EQ(inits, 3);
  EXPECT_TRUE(obj.get<bool>("first"));
  release_this_thread();                // this thread too; nothing left behind, nothing twice
  EXPECT_TRUE(obj.get<bool>("first"));  // init 4
  EXPECT_EQ(inits, 4);
}

}  // namespace
}  // namespace localbag
