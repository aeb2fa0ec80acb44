// SPDX-License-Identifier: MIT
// Aliasing inside one Dict: the argument of an operation is, or lives in, a value of the dict
// being changed (`d.update(std::move(d.get<Dict>("sub")))`, `d.set("x", d.at("y"))`,
// `obj.setattr("new", *obj.find("y"))`). Each operation is run at every size where inserting
// reallocates the entries (1, 2, 4, 8, 16, 32, 64: capacities double from 1) or builds or grows
// the index (17, 33, 65), and on the sizes around them, and the result is compared with the same
// operation done on an independent copy of the argument. Under ASan (stage 2 of CI) a
// reference into storage that the operation reallocated or freed is a heap-use-after-free.

#include <gtest/gtest.h>

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "localbag/localbag.hpp"
#include "test_support.hpp"

namespace localbag {
namespace {

using test::numbered;

const std::vector<std::size_t>& sizes() {
  static const std::vector<std::size_t> s = {2,  3,  4,  5,  7,  8,  9,  15, 16, 17,
                                             18, 31, 32, 33, 34, 63, 64, 65, 66};
  return s;
}

// A value that lives on the heap (40 characters: no short-string storage), so that reading it
// after its storage was freed is an ASan report, not a lucky read.
std::string long_text(std::string_view tag) {
  std::string s(tag);
  s.resize(40, '.');
  return s;
}

// The sub-dict stored under "sub": a new key, and keys the outer dict also has ("y", "sub").
Dict sub_dict() {
  return Dict{{"a", long_text("sub a")}, {"y", long_text("sub y")}, {"sub", 5}};
}

// A dict of exactly `n` entries (n >= 2): "y" (a heap string), "sub" (sub_dict()), then fillers.
Dict filled(std::size_t n) {
  Dict d;
  d.set("y", long_text("outer y"));
  d.set("sub", sub_dict());
  for (std::size_t i = 2; i < n; ++i) d.set(numbered("f", static_cast<long long>(i)), long_text("f"));
  return d;
}

TEST(Aliasing, SetFromAValueOfTheSameDict) {
  for (std::size_t n : sizes()) {
    Dict d = filled(n);
    d.set("x", d.at("y"));
    Dict expected = filled(n);
    expected.set("x", long_text("outer y"));
    ASSERT_EQ(repr(d), repr(expected)) << n;
    // A typed value read from the dict (the template overload, a new key and the in-place one).
    d.set("s", d.get<std::string>("y"));
    d.set("y", d.get<std::string>("x"));
    EXPECT_EQ(d.get<std::string>("s"), long_text("outer y")) << n;
    EXPECT_EQ(d.get<std::string>("y"), long_text("outer y")) << n;
  }
}

TEST(Aliasing, SetMovedFromAValueOfTheSameDict) {
  for (std::size_t n : sizes()) {
    Dict d = filled(n);
    d.set("x", std::move(d.at("y")));
    EXPECT_EQ(d.get<std::string>("x"), long_text("outer y")) << n;
    EXPECT_TRUE(d.at("y").is_none()) << n;  // a moved-from Value is None
    EXPECT_EQ(d.size(), n + 1) << n;
    Dict e = filled(n);
    e.set("x", std::move(e.get<std::string>("y")));
    EXPECT_EQ(e.get<std::string>("x"), long_text("outer y")) << n;
  }
}

TEST(Aliasing, SetdefaultFromAValueOfTheSameDict) {
  for (std::size_t n : sizes()) {
    Dict d = filled(n);
    Value& v = d.setdefault("new", d.at("y"));
    EXPECT_EQ(v.get<std::string>(), long_text("outer y")) << n;
    EXPECT_EQ(&v, d.find("new")) << n;
    EXPECT_EQ(d.setdefault("y", d.at("new")).get<std::string>(), long_text("outer y")) << n;
    Dict expected = filled(n);
    expected.set("new", long_text("outer y"));
    EXPECT_EQ(repr(d), repr(expected)) << n;
  }
}

// Python: d.update(d['sub']); here also with the sub-dict moved from: its items move into `d`,
// "sub" among them (replacing the sub-dict itself), and what is left where the sub-dict was is
// replaced, so no value is lost or read after being freed.
TEST(Aliasing, UpdateFromASubDictOfTheSameDict) {
  for (std::size_t n : sizes()) {
    Dict expected = filled(n);
    expected.update(sub_dict());
    Dict copied = filled(n);
    copied.update(copied.get<Dict>("sub"));
    ASSERT_EQ(repr(copied), repr(expected)) << n;
    Dict moved = filled(n);
    moved.update(std::move(moved.get<Dict>("sub")));
    ASSERT_EQ(repr(moved), repr(expected)) << n;
  }
}

// Python: d = d['sub'] and d['sub'] = d (the latter makes a cycle in Python; here a copy).
TEST(Aliasing, AssignBetweenADictAndItsSubDict) {
  for (std::size_t n : sizes()) {
    Dict d = filled(n);
    d = d.get<Dict>("sub");
    ASSERT_EQ(repr(d), repr(sub_dict())) << n;
    Dict m = filled(n);
    m = std::move(m.get<Dict>("sub"));
    ASSERT_EQ(repr(m), repr(sub_dict())) << n;
    Dict p = filled(n);
    p.get<Dict>("sub") = p;
    Dict expected = filled(n);
    expected.set("sub", filled(n));
    ASSERT_EQ(repr(p), repr(expected)) << n;
  }
}

// The same through a LocalObject: the value comes from this thread's own dict (find, ref) and a
// new attribute is set, which inserts into that dict.
TEST(Aliasing, SetattrFromThisThreadsOwnDict) {
  for (std::size_t n : sizes()) {
    LocalObject obj;
    obj.dict() = filled(n);
    obj.setattr("new", *obj.find("y"));
    obj.setattr("copy", obj.ref<Dict>("sub"));
    obj.setattr("text", obj.ref<std::string>("y"));
    Dict expected = filled(n);
    expected.set("new", long_text("outer y"));
    expected.set("copy", sub_dict());
    expected.set("text", long_text("outer y"));
    ASSERT_EQ(repr(obj.dict()), repr(expected)) << n;

    LocalObject moved;
    moved.dict() = filled(n);
    moved.setattr("new", std::move(*moved.find("y")));
    moved.setattr("taken", std::move(moved.ref<Dict>("sub")));
    EXPECT_EQ(moved.get<std::string>("new"), long_text("outer y")) << n;
    EXPECT_EQ(repr(moved.get<Dict>("taken")), repr(sub_dict())) << n;
    EXPECT_EQ(moved.dict().size(), n + 2) << n;

    LocalObject updated;
    updated.dict() = filled(n);
    updated.dict().update(std::move(updated.ref<Dict>("sub")));
    Dict merged = filled(n);
    merged.update(sub_dict());
    ASSERT_EQ(repr(updated.dict()), repr(merged)) << n;
  }
}

}  // namespace
}  // namespace localbag
