// SPDX-License-Identifier: MIT
#pragma once
// What the localbag cases and their baselines share, so that both do the same work: the
// attribute names of a dict of N entries (the looked-up name "number" always inserted LAST,
// the worst position for a linear scan), and the hand-rolled map a user would write instead.

#include <any>
#include <chrono>
#include <string>
#include <unordered_map>
#include <vector>

namespace bench {

// The 8 attribute names of the 8-entry cases, in insertion order. Mixed lengths, as real
// attribute names are; two have the same length as "number", so a scan compares bytes too.
inline const std::vector<std::string>& names8() {
  static const std::vector<std::string> names = {"color", "socket", "widgets", "initialized",
                                                 "depth", "buffer", "retries", "number"};
  return names;
}

// The names of a dict of `n` entries, "number" last: for n > 8, fillers `field_00`... come
// first, then the 8 names above; for n < 8, the last n of them.
inline std::vector<std::string> attr_names(int n) {
  const std::vector<std::string>& base = names8();
  std::vector<std::string> out;
  for (int i = 0; i < n - 8; ++i) {
    out.push_back("field_" + std::to_string(100 + i).substr(1));
  }
  const int from = n >= 8 ? 0 : 8 - n;
  out.insert(out.end(), base.begin() + from, base.end());
  return out;
}

// The value stored under attribute name i of attr_names(): "number" holds 42.
inline int value_for(const std::string& name, int i) { return name == "number" ? 42 : i; }

// What a user writes by hand: one map of type-erased values per thread.
using AnyMap = std::unordered_map<std::string, std::any>;

inline AnyMap make_map(int n) {
  AnyMap map;
  int i = 0;
  for (const std::string& name : attr_names(n)) map.emplace(name, value_for(name, i++));
  return map;
}

using Clock = std::chrono::steady_clock;

inline double seconds_between(Clock::time_point from, Clock::time_point to) {
  return std::chrono::duration<double>(to - from).count();
}

}  // namespace bench
