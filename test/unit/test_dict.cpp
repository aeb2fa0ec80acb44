// SPDX-License-Identifier: MIT
// Unit tests for <localbag/dict.hpp>: insertion order, Python dict operations, exact KeyError and
// TypeError texts, the strong guarantee, and a model check across the linear/indexed switch.

#include <gtest/gtest.h>

#include <algorithm>
#include <memory>
#include <random>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "localbag/dict.hpp"
#include "localbag/error.hpp"
#include "localbag/repr.hpp"
#include "localbag/value.hpp"
#include "test_support.hpp"

namespace localbag {
namespace {

using test::Ledger;
using test::numbered;
using test::Tracked;

using Keys = std::vector<std::string>;

TEST(Dict, EmptyDict) {
  Dict d;
  EXPECT_TRUE(d.empty());
  EXPECT_EQ(d.size(), 0u);
  EXPECT_FALSE(d.contains("x"));
  EXPECT_EQ(d.find("x"), nullptr);
  EXPECT_TRUE(d.keys().empty());
  EXPECT_TRUE(d.items().empty());
  EXPECT_TRUE(d.begin() == d.end());
}

TEST(Dict, InitializerListKeepsOrder) {
  Dict d{{"color", "red"}, {"number", 42}, {"flag", true}};
  EXPECT_EQ(d.size(), 3u);
  EXPECT_EQ(d.keys(), (Keys{"color", "number", "flag"}));
  EXPECT_EQ(d.get<std::string>("color"), "red");
  EXPECT_EQ(d.get<int>("number"), 42);
  EXPECT_TRUE(d.get<bool>("flag"));
}

TEST(Dict, SetExistingKeepsPositionReinsertMovesToEnd) {
  Dict d;
  d.set("a", 1);
  d.set("b", 2);
  d.set("c", 3);
  d.set("a", std::string("one"));  // existing key, another type: same place
  EXPECT_EQ(d.keys(), (Keys{"a", "b", "c"}));
  EXPECT_EQ(d.get<std::string>("a"), "one");
  EXPECT_TRUE(d.erase("a"));
  d.set("a", 10);
  EXPECT_EQ(d.keys(), (Keys{"b", "c", "a"}));
  EXPECT_EQ(d.get<int>("a"), 10);
}

TEST(Dict, SetStoresAndReplacesInPlace) {
  Dict d;
  d.set("n", 5);
  Value* v = d.find("n");
  ASSERT_NE(v, nullptr);
  EXPECT_EQ(v->get<int>(), 5);
  v->get<int>() = 6;
  EXPECT_EQ(d.get<int>("n"), 6);
  d.set("n", Value(7));
  EXPECT_EQ(d.find("n"), v);  // replacing keeps the entry where it was
  EXPECT_EQ(d.get<int>("n"), 7);
}

TEST(Dict, AtAndGetMissingThrowKeyError) {
  Dict d{{"number", 42}};
  EXPECT_LB_ERROR(d.at("x"), KeyError, "'x'");
  EXPECT_LB_ERROR(d.get<int>("x"), KeyError, "'x'");
  EXPECT_LB_ERROR(d.at("it's"), KeyError, "\"it's\"");
  EXPECT_LB_ERROR(d.at(""), KeyError, "''");
  const Dict& cd = d;
  EXPECT_LB_ERROR(cd.at("color"), KeyError, "'color'");
  EXPECT_EQ(d.size(), 1u);
  EXPECT_EQ(d.at("number").get<int>(), 42);
}

TEST(Dict, GetWrongTypeThrowsTypeError) {
  Dict d{{"x", 1}, {"s", "text"}};
  EXPECT_LB_ERROR(d.get<std::string>("x"), TypeError, "dict value 'x' is int, not str");
  EXPECT_LB_ERROR(d.get<int>("s"), TypeError, "dict value 's' is str, not int");
  EXPECT_LB_ERROR(d.get<List>("s"), TypeError, "dict value 's' is str, not list");
  EXPECT_EQ(d.get<int>("x"), 1);
  EXPECT_EQ(d.try_get<std::string>("x"), nullptr);
  ASSERT_NE(d.try_get<int>("x"), nullptr);
  EXPECT_EQ(*d.try_get<int>("x"), 1);
}

TEST(Dict, PopAndErase) {
  Dict d{{"a", 1}, {"b", 2}};
  Value popped = d.pop("a");
  EXPECT_EQ(popped.get<int>(), 1);
  EXPECT_EQ(d.keys(), (Keys{"b"}));
  EXPECT_LB_ERROR(d.pop("a"), KeyError, "'a'");
  EXPECT_EQ(d.keys(), (Keys{"b"}));
  EXPECT_FALSE(d.erase("a"));
  EXPECT_TRUE(d.erase("b"));
  EXPECT_TRUE(d.empty());
}

TEST(Dict, SetdefaultKeepsExisting) {
  Dict d{{"number", 42}};
  EXPECT_EQ(d.setdefault("number", 7).get<int>(), 42);
  EXPECT_EQ(d.get<int>("number"), 42);
  Value& widgets = d.setdefault("widgets", List{});
  EXPECT_TRUE(widgets.get<List>().empty());
  widgets.get<List>().push_back(1);
  EXPECT_EQ(d.get<List>("widgets").size(), 1u);
  EXPECT_TRUE(d.setdefault("nothing").is_none());
  EXPECT_EQ(d.keys(), (Keys{"number", "widgets", "nothing"}));
}

TEST(Dict, UpdateCopiesAndKeepsPositions) {
  Dict d{{"a", 1}, {"b", 2}};
  const Dict other{{"b", 20}, {"c", 30}};
  d.update(other);
  EXPECT_EQ(d.keys(), (Keys{"a", "b", "c"}));
  EXPECT_EQ(d.get<int>("b"), 20);
  EXPECT_EQ(d.get<int>("c"), 30);
  EXPECT_EQ(other.size(), 2u);
}

TEST(Dict, UpdateByMoveEmptiesSource) {
  Dict d{{"a", 1}};
  Dict other;
  other.set("p", std::make_unique<int>(3));
  other.set("a", 2);
  d.update(std::move(other));
  EXPECT_TRUE(other.empty());  // NOLINT(bugprone-use-after-move): documented to be emptied
  EXPECT_EQ(d.keys(), (Keys{"a", "p"}));
  EXPECT_EQ(*d.get<std::unique_ptr<int>>("p"), 3);
  EXPECT_EQ(d.get<int>("a"), 2);
}

TEST(Dict, UpdateWithMoveOnlyIsStrong) {
  Dict d{{"a", 1}, {"b", 2}};
  Dict other;
  other.set("b", 99);
  other.set("z", 100);
  other.set("m", test::MoveOnly(1));
  EXPECT_LB_ERROR(d.update(other), TypeError, "cannot copy 'localbag::test::MoveOnly' object");
  EXPECT_EQ(d.keys(), (Keys{"a", "b"}));
  EXPECT_EQ(d.get<int>("b"), 2);
  EXPECT_FALSE(d.contains("z"));
}

TEST(Dict, CopyIsDeepAndMoveOnlyCopyThrows) {
  Dict d{{"s", "text"}, {"l", List{1}}};
  Dict copy(d);
  copy.get<std::string>("s") += "!";
  copy.get<List>("l").push_back(2);
  EXPECT_EQ(d.get<std::string>("s"), "text");
  EXPECT_EQ(d.get<List>("l").size(), 1u);
  Dict assigned;
  assigned.set("old", 1);
  assigned = d;
  EXPECT_EQ(assigned.keys(), (Keys{"s", "l"}));
  d.set("m", test::MoveOnly(2));
  EXPECT_LB_ERROR(Dict bad(d), TypeError, "cannot copy 'localbag::test::MoveOnly' object");
  EXPECT_LB_ERROR(assigned = d, TypeError, "cannot copy 'localbag::test::MoveOnly' object");
  EXPECT_EQ(assigned.keys(), (Keys{"s", "l"}));
  Dict moved(std::move(d));
  EXPECT_EQ(moved.keys(), (Keys{"s", "l", "m"}));
  EXPECT_EQ(moved.get<test::MoveOnly>("m").value, 2);
}

TEST(Dict, ItemsAreTuplesInOrder) {
  Dict d{{"color", "red"}, {"initialized", true}};
  List items = d.items();
  ASSERT_EQ(items.size(), 2u);
  const Tuple& first = items[0].get<Tuple>();
  ASSERT_EQ(first.items.size(), 2u);
  EXPECT_EQ(first.items[0].get<std::string>(), "color");
  EXPECT_EQ(first.items[1].get<std::string>(), "red");
  EXPECT_EQ(repr(Value(items)), "[('color', 'red'), ('initialized', True)]");
  // Items are copies.
  items[0].get<Tuple>().items[1].get<std::string>() = "blue";
  EXPECT_EQ(d.get<std::string>("color"), "red");
  d.set("m", test::MoveOnly(3));
  EXPECT_LB_ERROR(d.items(), TypeError, "cannot copy 'localbag::test::MoveOnly' object");
  EXPECT_EQ(d.keys(), (Keys{"color", "initialized", "m"}));
}

TEST(Dict, IterationInOrderAndMutable) {
  Dict d{{"a", 1}, {"b", 2}, {"c", 3}};
  std::string order;
  for (auto [key, value] : d) {
    order += key;
    value.get<int>() *= 10;
  }
  EXPECT_EQ(order, "abc");
  const Dict& cd = d;
  int sum = 0;
  for (auto item : cd) sum += item.value.get<int>();
  EXPECT_EQ(sum, 60);
}

TEST(Dict, ClearDestroysValues) {
  Ledger counted;
  Dict d;
  for (int i = 0; i < 20; ++i) d.set(numbered("k", i), Tracked(counted, i));
  EXPECT_EQ(counted.live(), 20);
  d.set("k3", 0);  // overwrite destroys the old value
  EXPECT_EQ(counted.live(), 19);
  EXPECT_TRUE(d.erase("k4"));
  EXPECT_EQ(counted.live(), 18);
  { Value v = d.pop("k5"); }
  EXPECT_EQ(counted.live(), 17);
  d.clear();
  EXPECT_TRUE(d.empty());
  EXPECT_EQ(counted.live(), 0);
  d.set("again", 1);
  EXPECT_EQ(d.keys(), (Keys{"again"}));
}

TEST(Dict, DestructorDestroysEachValueOnce) {
  Ledger counted;
  {
    Dict d;
    for (int i = 0; i < 100; ++i) d.set(std::to_string(i), Tracked(counted, i));
    Dict copy(d);
    EXPECT_EQ(counted.live(), 200);
  }
  EXPECT_EQ(counted.live(), 0);
}

TEST(Dict, OddNames) {
  Dict d;
  const std::string_view nul("a\0b", 3);
  const std::string huge(1 << 20, 'h');
  d.set("", 0);
  d.set(nul, 1);
  d.set("a", 2);
  d.set(huge, 3);
  EXPECT_EQ(d.size(), 4u);
  EXPECT_EQ(d.get<int>(""), 0);
  EXPECT_EQ(d.get<int>(nul), 1);
  EXPECT_EQ(d.get<int>("a"), 2);
  EXPECT_EQ(d.get<int>(huge), 3);
  EXPECT_FALSE(d.contains(std::string_view("a\0c", 3)));
  EXPECT_FALSE(d.contains(std::string_view(huge).substr(1)));
}

// Random operations against a simple ordered model: with `names` names, a dict that stays below
// the fingerprint scan's limit (64 entries; erased entries stay behind until compaction or a
// reallocation) or crosses to the hash index and back (tombstones and compaction).
void check_against_ordered_model(int names, std::uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<std::pair<std::string, int>> model;
  auto model_find = [&](const std::string& k) {
    return std::find_if(model.begin(), model.end(), [&](const auto& p) { return p.first == k; });
  };
  Dict d;
  for (int step = 0; step < 20000; ++step) {
    const std::string key = numbered("key", static_cast<int>(rng() % names));
    const int value = static_cast<int>(rng() % 1000);
    switch (rng() % 10) {
      case 0:
      case 1:
      case 2:
      case 3: {
        d.set(key, value);
        auto it = model_find(key);
        if (it == model.end()) {
          model.emplace_back(key, value);
        } else {
          it->second = value;
        }
        break;
      }
      case 4:
      case 5: {
        const bool erased = d.erase(key);
        auto it = model_find(key);
        ASSERT_EQ(erased, it != model.end()) << "step " << step;
        if (it != model.end()) model.erase(it);
        break;
      }
      case 6: {
        Value& v = d.setdefault(key, value);
        auto it = model_find(key);
        if (it == model.end()) {
          model.emplace_back(key, value);
          it = model.end() - 1;
        }
        ASSERT_EQ(v.get<int>(), it->second) << "step " << step;
        break;
      }
      case 7: {
        auto it = model_find(key);
        if (it == model.end()) {
          EXPECT_THROW(d.pop(key), KeyError);
        } else {
          ASSERT_EQ(d.pop(key).get<int>(), it->second);
          model.erase(it);
        }
        break;
      }
      case 8: {
        auto it = model_find(key);
        const Value* v = d.find(Key{key});
        ASSERT_EQ(v != nullptr, it != model.end()) << "step " << step;
        if (v != nullptr) {
          ASSERT_EQ(v->get<int>(), it->second);
        }
        break;
      }
      default:
        if (rng() % 200 == 0) {
          d.clear();
          model.clear();
        }
        break;
    }
    ASSERT_EQ(d.size(), model.size()) << "step " << step;
    if (step % 97 == 0) {
      Keys expected;
      for (const auto& p : model) expected.push_back(p.first);
      ASSERT_EQ(d.keys(), expected) << "step " << step;
      for (const auto& p : model) ASSERT_EQ(d.get<int>(p.first), p.second) << p.first;
    }
  }
}

TEST(Dict, MatchesOrderedModelBelowTheScanLimit) { check_against_ordered_model(40, 12345); }

TEST(Dict, MatchesOrderedModelAcrossTheIndexThreshold) { check_against_ordered_model(150, 777); }

// Names a small dict's fingerprint scan must tell apart: the same first 7 bytes and length
// (one tag), and pairs whose fingerprints are equal (found by search: 1 in 128 pairs).
TEST(Dict, FingerprintScanTellsNamesApart) {
  Dict d;
  for (int i = 0; i < 60; ++i) d.set(numbered("field_", 100 + i), i);
  for (int i = 0; i < 60; ++i) ASSERT_EQ(d.get<int>(numbered("field_", 100 + i)), i) << i;
  EXPECT_FALSE(d.contains("field_99"));
  EXPECT_FALSE(d.contains("field_1000"));

  std::vector<std::string> same_fp;
  const std::string first = "a0";
  const auto fp = [](const std::string& s) { return detail::name_fingerprint(Name(s).tag(), s); };
  for (int i = 1; same_fp.size() < 5 && i < 100000; ++i) {
    const std::string name = numbered("a", i);
    if (fp(name) == fp(first)) same_fp.push_back(name);
  }
  ASSERT_EQ(same_fp.size(), 5u);
  Dict c;
  c.set(first, -1);
  for (std::size_t i = 0; i < same_fp.size(); ++i) c.set(same_fp[i], static_cast<int>(i));
  EXPECT_EQ(c.get<int>(first), -1);
  for (std::size_t i = 0; i < same_fp.size(); ++i) EXPECT_EQ(c.get<int>(same_fp[i]), static_cast<int>(i));
  EXPECT_TRUE(c.erase(same_fp[2]));
  EXPECT_FALSE(c.contains(same_fp[2]));
  EXPECT_EQ(c.get<int>(same_fp[3]), 3);
}

// Erasing in the middle of a small dict keeps order and size; re-inserting goes to the end;
// erasing the last entry leaves nothing behind, and many erasures compact.
TEST(Dict, SmallDictErasureKeepsOrder) {
  Dict d;
  for (int i = 0; i < 10; ++i) d.set(numbered("k", i), i);
  EXPECT_TRUE(d.erase("k3"));
  EXPECT_TRUE(d.erase("k9"));
  EXPECT_FALSE(d.erase("k3"));
  EXPECT_EQ(d.size(), 8u);
  d.set("k3", 33);
  EXPECT_EQ(d.keys(), (Keys{"k0", "k1", "k2", "k4", "k5", "k6", "k7", "k8", "k3"}));
  for (int round = 0; round < 1000; ++round) {
    d.set("fresh", round);
    ASSERT_TRUE(d.erase("fresh"));
  }
  for (int i = 0; i < 9; ++i) {
    if (i != 3) {
      EXPECT_TRUE(d.erase(numbered("k", i))) << i;
    }
  }
  EXPECT_EQ(d.keys(), (Keys{"k3"}));
  EXPECT_EQ(d.get<int>("k3"), 33);
}

// A dict with erased entries in its middle, small and indexed, copied and merged: the copy
// and the merge see only the live entries, in order.
TEST(Dict, CopyAndUpdateOfADictWithErasedEntries) {
  for (int n : {10, 64, 100}) {
    Dict d;
    for (int i = 0; i < n; ++i) d.set(numbered("k", i), i);
    Keys expected;
    for (int i = 0; i < n; ++i) {
      if (i % 3 == 1) {
        ASSERT_TRUE(d.erase(numbered("k", i)));
      } else {
        expected.push_back(numbered("k", i));
      }
    }
    const Dict copy(d);
    EXPECT_EQ(copy.keys(), expected) << n;
    EXPECT_EQ(copy.size(), expected.size()) << n;
    Dict merged{{"first", 0}};
    merged.update(d);
    Keys merged_keys{"first"};
    merged_keys.insert(merged_keys.end(), expected.begin(), expected.end());
    EXPECT_EQ(merged.keys(), merged_keys) << n;
    Dict moved_into{{"first", 0}};
    moved_into.update(Dict(d));
    EXPECT_EQ(moved_into.keys(), merged_keys) << n;
    for (const std::string& k : expected) ASSERT_EQ(copy.get<int>(k), merged.get<int>(k)) << k;
  }
}

// pop() by a name that views a string held in the very value being popped (`d.pop(d[k])`):
// the value moves out, and the name must not be read again.
TEST(Dict, PopByANameThatViewsThePoppedValue) {
  Dict d;
  d.set("a", 1);
  d.set("k", std::string("k"));
  d.set("z", 2);
  const Value out = d.pop(d.get<std::string>("k"));
  EXPECT_EQ(out.get<std::string>(), "k");
  EXPECT_EQ(d.keys(), (Keys{"a", "z"}));
  EXPECT_FALSE(d.contains("k"));
}

TEST(Dict, LargeDictAllFoundAfterHalfErased) {
  Dict d;
  for (int i = 0; i < 5000; ++i) d.set(numbered("n", i), i);
  for (int i = 0; i < 5000; i += 2) ASSERT_TRUE(d.erase(numbered("n", i)));
  EXPECT_EQ(d.size(), 2500u);
  for (int i = 0; i < 5000; ++i) {
    const Value* v = d.find(numbered("n", i));
    if (i % 2 == 0) {
      ASSERT_EQ(v, nullptr) << i;
    } else {
      ASSERT_NE(v, nullptr) << i;
      ASSERT_EQ(v->get<int>(), i);
    }
  }
  const Keys keys = d.keys();
  ASSERT_EQ(keys.size(), 2500u);
  EXPECT_EQ(keys.front(), "n1");
  EXPECT_EQ(keys.back(), "n4999");
}

}  // namespace
}  // namespace localbag
