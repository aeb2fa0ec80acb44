// SPDX-License-Identifier: MIT
// Unit tests for <localbag/key.hpp>: Key (a pre-hashed name) and Name (a borrowed one), that a
// Key is accepted wherever a name is, and that gets never write to a Key shared by threads.

#include <gtest/gtest.h>

#include <array>
#include <cstdint>
#include <cstring>
#include <optional>
#include <semaphore>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

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

// The bytes of a Key: a get may read them, never write them.
std::array<unsigned char, sizeof(Key)> bytes_of(const Key& key) {
  std::array<unsigned char, sizeof(Key)> out;
  std::memcpy(out.data(), static_cast<const void*>(&key), sizeof(Key));
  return out;
}

// One Key shared by two threads whose dicts hold "number" at different positions (0 and 5 of
// 8): no get writes to the Key, neither alternately nor concurrently. A position cached in the
// Key and rewritten by every get that found the name elsewhere would make threads with mixed
// layouts fight over its cache line (BM_localbag_get_key_mixed_layouts).
TEST(Key, GetsByThreadsWithDifferentLayoutsNeverWriteTheKey) {
  static const Key number("number");
  constexpr int kGets = 1000;
  LocalObject obj;
  const std::vector<std::string> others = {"color", "socket", "widgets", "depth", "buffer",
                                           "retries", "initialized"};
  const auto fill = [&](std::size_t position) {
    obj.dict().clear();
    for (std::size_t i = 0; i < others.size(); ++i) {
      if (i == position) obj.setattr(number, 42);
      obj.setattr(others[i], static_cast<int>(i));
    }
    if (position >= others.size()) obj.setattr(number, 42);
  };
  const auto gets = [&] {
    for (int i = 0; i < kGets; ++i) ASSERT_EQ(obj.get<int>(number), 42);
  };
  std::binary_semaphore to_other(0);
  std::binary_semaphore to_main(0);
  int phases_left = 2;  // the other thread's gets: alone, then beside this thread's
  std::thread other([&] {
    fill(5);
    EXPECT_EQ(obj.get<int>(number), 42);
    to_main.release();
    while (phases_left-- > 0) {
      to_other.acquire();
      gets();
      to_main.release();
    }
  });
  fill(0);
  EXPECT_EQ(obj.get<int>(number), 42);
  to_main.acquire();  // both dicts filled, each read once
  const auto before = bytes_of(number);
  gets();  // this thread alone
  EXPECT_TRUE(bytes_of(number) == before) << "a get on this thread wrote the Key";
  to_other.release();  // the other thread alone
  to_main.acquire();
  EXPECT_TRUE(bytes_of(number) == before) << "a get on the other thread wrote the Key";
  gets();  // this thread again, after the other
  EXPECT_TRUE(bytes_of(number) == before) << "alternating gets wrote the Key";
  to_other.release();  // both at once
  gets();
  to_main.acquire();
  other.join();
  EXPECT_TRUE(bytes_of(number) == before) << "concurrent gets wrote the Key";
  EXPECT_EQ(obj.dict().keys().front(), "number");  // this thread's layout is still its own
}

}  // namespace
}  // namespace localbag
