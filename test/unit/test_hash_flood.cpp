// SPDX-License-Identifier: MIT
// Hash flooding. A Dict of more than 16 entries finds names through an open-addressing index
// (linear probing, home bucket = hash & mask), so names chosen to share home buckets make every
// insert and lookup walk one long cluster: quadratic work from attribute names taken from data.
// The name hash is keyed by a secret chosen per process (detail::hash_key()), so names chosen
// offline against one key collide under that key only.
//
// The colliding names are found here by brute force under a fixed key, then the cost of
// inserting them is counted as probes of a simulated index of 2^17 buckets (the size of a real
// Dict's index at 60,000 entries): enormous under the fixed key, ordinary under the process's.
// No time is measured anywhere.

#include <gtest/gtest.h>

#include <charconv>
#include <cstdint>
#include <numeric>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "localbag/dict.hpp"
#include "localbag/key.hpp"
#include "localbag/local_object.hpp"
#include "test_support.hpp"

namespace localbag {
namespace {

using test::numbered;

constexpr std::uint64_t kFixedKey = 0x1234;
constexpr std::size_t kNames = 60'000;
constexpr std::uint32_t kBuckets = 1u << 17;  // index capacity of a Dict of 60,000 entries
constexpr std::uint32_t kMask = kBuckets - 1;
constexpr std::uint32_t kWindow = 1024;  // every colliding name's home bucket is below this

// kNames names "n<counter>" whose hashes under kFixedKey all have their home bucket in
// [0, kWindow) of a kBuckets table: what an attacker who knew the key would send. About 128
// candidates per name, 7.7 million hashes in all (0.3 s in the normal build). They fill one
// cluster of 60,000 buckets, as 60,000 names with one home bucket would.
const std::vector<std::string>& colliding_names() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> out;
    out.reserve(kNames);
    char buffer[24] = {'n'};
    for (std::uint64_t counter = 0; out.size() < kNames; ++counter) {
      const auto end = std::to_chars(buffer + 1, buffer + sizeof buffer, counter).ptr;
      const std::string_view name(buffer, static_cast<std::size_t>(end - buffer));
      if ((detail::hash_name_keyed(name, kFixedKey) & kMask) < kWindow) out.emplace_back(name);
    }
    return out;
  }();
  return names;
}

// Ordinary attribute names: "a0", "a1", ...
std::vector<std::string> ordinary_names() {
  std::vector<std::string> out;
  out.reserve(kNames);
  for (std::size_t i = 0; i < kNames; ++i) out.push_back(numbered("a", static_cast<long long>(i)));
  return out;
}

// The total number of buckets examined to insert `names`, in order, into an empty linear-probing
// table of kBuckets buckets, home bucket = hash & kMask (each insert examines its home bucket and
// every occupied bucket after it up to the first free one; a later successful lookup of the same
// name examines as many). The next free bucket at or after each bucket is kept in a union-find
// forest, so counting costs O(n) whatever the probe lengths are.
std::uint64_t probes_to_insert(const std::vector<std::string>& names, std::uint64_t key) {
  std::vector<std::uint32_t> next_free(kBuckets);
  std::iota(next_free.begin(), next_free.end(), 0u);
  const auto find = [&](std::uint32_t b) {
    std::uint32_t root = b;
    while (next_free[root] != root) root = next_free[root];
    while (next_free[b] != root) b = std::exchange(next_free[b], root);
    return root;
  };
  std::uint64_t probes = 0;
  for (const std::string& name : names) {
    const auto home = static_cast<std::uint32_t>(detail::hash_name_keyed(name, key) & kMask);
    const std::uint32_t slot = find(home);
    probes += ((slot - home) & kMask) + 1;
    next_free[slot] = find((slot + 1) & kMask);  // occupied: its next free is the next one's
  }
  return probes;
}

TEST(HashFlood, TheHashIsKeyedByANonzeroProcessKey) {
  EXPECT_NE(detail::hash_key(), 0u);
  EXPECT_EQ(detail::hash_key(), detail::hash_key());
  for (std::string_view name : {"", "a", "number", "a much longer attribute name", "n123456"}) {
    EXPECT_EQ(detail::hash_name(name), detail::hash_name_keyed(name, detail::hash_key())) << name;
    EXPECT_EQ(Key(name).hash(), detail::hash_name_keyed(name, detail::hash_key())) << name;
    EXPECT_NE(detail::hash_name_keyed(name, kFixedKey), detail::hash_name_keyed(name, kFixedKey + 1))
        << name;
    EXPECT_NE(detail::hash_name_keyed(name, 1), detail::hash_name_keyed(name, 2)) << name;
    const std::uint64_t top = std::uint64_t{1} << 63;
    EXPECT_EQ(detail::hash_name_keyed(name, kFixedKey) & top, top) << name;  // never 0
  }
}

TEST(HashFlood, NamesChosenAgainstAFixedKeyCollideUnderThatKey) {
  const std::vector<std::string>& flood = colliding_names();
  ASSERT_EQ(flood.size(), kNames);
  const std::uint64_t flooded = probes_to_insert(flood, kFixedKey);
  const std::uint64_t ordinary = probes_to_insert(ordinary_names(), kFixedKey);
  // One cluster of 60,000: about 60,000^2 / 2 probes, against about 2 per name.
  EXPECT_GT(flooded, std::uint64_t{1000} * ordinary)
      << "flooded " << flooded << " probes, ordinary " << ordinary;
  EXPECT_GT(flooded, std::uint64_t{kNames} * kNames / 4);
  RecordProperty("probes_flooded_fixed_key", std::to_string(flooded));
  RecordProperty("probes_ordinary_fixed_key", std::to_string(ordinary));
}

TEST(HashFlood, TheSameNamesCostOrdinaryProbesUnderTheProcessKey) {
  const std::vector<std::string>& flood = colliding_names();
  const std::uint64_t flooded = probes_to_insert(flood, detail::hash_key());
  const std::uint64_t ordinary = probes_to_insert(ordinary_names(), detail::hash_key());
  EXPECT_LE(flooded, 3 * ordinary) << "flooded " << flooded << " probes, ordinary " << ordinary;
  RecordProperty("probes_flooded_process_key", std::to_string(flooded));
  RecordProperty("probes_ordinary_process_key", std::to_string(ordinary));
}

TEST(HashFlood, CollidingNamesRoundTripInADict) {
  const std::vector<std::string>& flood = colliding_names();
  Dict d;
  for (std::size_t i = 0; i < flood.size(); ++i) d.set(flood[i], static_cast<int>(i));
  ASSERT_EQ(d.size(), flood.size());
  for (std::size_t i = 0; i < flood.size(); ++i) {
    ASSERT_EQ(d.get<int>(flood[i]), static_cast<int>(i)) << flood[i];
  }
  EXPECT_FALSE(d.contains("n"));
  EXPECT_EQ(d.keys().back(), flood.back());
}

TEST(HashFlood, CollidingNamesRoundTripInALocalObject) {
  const std::vector<std::string>& flood = colliding_names();
  LocalObject obj;
  for (std::size_t i = 0; i < flood.size(); ++i) obj.setattr(flood[i], static_cast<int>(i));
  ASSERT_EQ(obj.dict().size(), flood.size());
  for (std::size_t i = 0; i < flood.size(); ++i) {
    ASSERT_EQ(obj.get<int>(flood[i]), static_cast<int>(i)) << flood[i];
  }
  for (std::size_t i = 0; i < flood.size(); i += 2) obj.delattr(flood[i]);
  EXPECT_EQ(obj.dict().size(), flood.size() / 2);
  for (std::size_t i = 1; i < flood.size(); i += 2) {
    ASSERT_EQ(obj.get<int>(flood[i]), static_cast<int>(i)) << flood[i];
  }
}

}  // namespace
}  // namespace localbag
