// SPDX-License-Identifier: MIT
// Unit tests for <localbag/key.hpp>: Key (a pre-hashed name) and Name (a borrowed one), and
// that a Key is accepted wherever a name is.

#include <gtest/gtest.h>

#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <string_view>

#include "localbag/dict.hpp"
#include "localbag/key.hpp"
#include "localbag/local_object.hpp"
#include "test_support.hpp"

namespace localbag {
namespace {

using test::numbered;

constexpr std::uint64_t kTopBit = std::uint64_t{1} << 63;

TEST(Key, HoldsTextAndHash) {
  Key k{"number"};
  EXPECT_EQ(k.text(), "number");
  EXPECT_EQ(k.hash(), detail::hash_name("number"));
  EXPECT_NE(k.hash(), 0u);
  EXPECT_EQ(k.hash() & kTopBit, kTopBit);
}

TEST(Key, HashNeverZeroTopBitSet) {
  for (int i = 0; i < 2000; ++i) {
    const std::string name = numbered("n", i);
    const std::uint64_t h = detail::hash_name(name);
    ASSERT_EQ(h & kTopBit, kTopBit) << name;
  }
  EXPECT_EQ(detail::hash_name("") & kTopBit, kTopBit);
}

TEST(Key, HashIsDeterministicAndSpreads) {
  EXPECT_EQ(detail::hash_name("color"), detail::hash_name(std::string("color")));
  std::set<std::uint64_t> hashes;
  for (int i = 0; i < 5000; ++i) hashes.insert(detail::hash_name(numbered("attr_", i)));
  // A 63-bit hash of 5000 distinct names: a collision here means a broken hash.
  EXPECT_EQ(hashes.size(), 5000u);
}

TEST(Key, Equality) {
  EXPECT_TRUE(Key{"a"} == Key{"a"});
  EXPECT_FALSE(Key{"a"} == Key{"b"});
  EXPECT_FALSE(Key{"a"} == Key{"aa"});
  Key copy = Key{"copied"};
  EXPECT_TRUE(copy == Key{"copied"});
  EXPECT_EQ(copy.text(), "copied");
}

TEST(Key, EmbeddedNulAndEmpty) {
  const std::string_view with_nul("a\0b", 3);
  Key k{with_nul};
  EXPECT_EQ(k.text().size(), 3u);
  EXPECT_EQ(k.text(), with_nul);
  EXPECT_FALSE(k == Key{"a"});
  EXPECT_NE(k.hash(), Key{"a"}.hash());
  Key empty{""};
  EXPECT_TRUE(empty.text().empty());
  EXPECT_EQ(empty.hash(), detail::hash_name(""));
}

TEST(Key, KeyOwnsItsText) {
  std::string source = "temporary";
  Key k{source};
  source.assign("overwritten");
  EXPECT_EQ(k.text(), "temporary");
  EXPECT_EQ(k.hash(), detail::hash_name("temporary"));
}

TEST(Name, ConvertsFromEveryStringKind) {
  const std::string s = "number";
  const std::string_view sv = "number";
  const Key k{"number"};
  const Name from_literal("number");
  const Name from_string(s);
  const Name from_view(sv);
  const Name from_key(k);
  EXPECT_EQ(from_literal.text(), "number");
  EXPECT_EQ(from_string.text(), "number");
  EXPECT_EQ(from_view.text(), "number");
  EXPECT_EQ(from_key.text(), "number");
  EXPECT_EQ(from_literal.known_hash(), 0u);
  EXPECT_EQ(from_string.known_hash(), 0u);
  EXPECT_EQ(from_key.known_hash(), k.hash());
  EXPECT_EQ(from_literal.hash(), k.hash());
  EXPECT_EQ(from_view.hash(), k.hash());
}

TEST(Key, AcceptedByDict) {
  static const Key kNumber{"number"};
  Dict d;
  d.set(kNumber, 42);
  EXPECT_TRUE(d.contains("number"));
  EXPECT_TRUE(d.contains(kNumber));
  EXPECT_EQ(d.get<int>(kNumber), 42);
  d.set("number", 43);
  EXPECT_EQ(d.size(), 1u);
  EXPECT_EQ(d.get<int>(kNumber), 43);
  EXPECT_TRUE(d.erase(kNumber));
  EXPECT_FALSE(d.contains("number"));
}

TEST(Key, AcceptedByDictInIndexedMode) {
  Dict d;
  for (int i = 0; i < 50; ++i) d.set(numbered("k", i), i);
  for (int i = 0; i < 50; ++i) {
    const Key k{numbered("k", i)};
    ASSERT_NE(d.find(k), nullptr) << i;
    EXPECT_EQ(d.get<int>(k), i);
  }
  EXPECT_EQ(d.find(Key{"k50"}), nullptr);
}

TEST(Key, AcceptedByLocalObject) {
  static const Key kColor{"color"};
  LocalObject obj;
  obj.setattr(kColor, std::string("red"));
  EXPECT_TRUE(obj.hasattr(kColor));
  EXPECT_TRUE(obj.hasattr("color"));
  EXPECT_EQ(obj.get<std::string>("color"), "red");
  EXPECT_EQ(obj.get<std::string>(kColor), "red");
  EXPECT_EQ(obj.try_get<std::string>(kColor), std::optional<std::string>("red"));
  EXPECT_EQ(obj.getattr(kColor).get<std::string>(), "red");
  EXPECT_EQ(obj.ref<std::string>(kColor), "red");
  ASSERT_NE(obj.find(kColor), nullptr);
  obj.delattr(kColor);
  EXPECT_FALSE(obj.hasattr("color"));
  EXPECT_FALSE(obj.hasattr(kColor));
}

TEST(Key, LongAndNulNamesOnLocalObject) {
  const std::string huge(1 << 20, 'x');
  const Key kHuge{huge};
  const Key kNul{std::string_view("a\0b", 3)};
  LocalObject obj;
  obj.setattr(kHuge, 1);
  obj.setattr(kNul, 2);
  obj.setattr("a", 3);
  EXPECT_EQ(obj.get<int>(huge), 1);
  EXPECT_EQ(obj.get<int>(kNul), 2);
  EXPECT_EQ(obj.get<int>("a"), 3);
  EXPECT_EQ(obj.dict().size(), 3u);
}

}  // namespace
}  // namespace localbag
