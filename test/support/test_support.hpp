#pragma once
// Helpers shared by the unit tests: the EXPECT_LB_ERROR check of a localbag error
// (error_matchers.hpp), the numbered() name builder, value types with a fixed C++ name
// (lbtest::MoveOnly), and the instance trackers (instance_tracker.hpp: Tracked,
// Ledger, destroyed_on). Test files bring what they use into their namespace with
// using-declarations (`using test::numbered;`).

#include <string>
#include <string_view>

#include "error_matchers.hpp"
#include "instance_tracker.hpp"

// Value types of several tests, in a namespace of their own: the name "lbtest::MoveOnly" appears
// in expected error texts.
namespace lbtest {

// Move-only: a Value holding one cannot be copied.
struct MoveOnly {
  explicit MoveOnly(int v) : value(v) {}
  MoveOnly(MoveOnly&&) noexcept = default;
  MoveOnly(const MoveOnly&) = delete;
  int value;
};

}  // namespace lbtest

namespace localbag::test {

// "prefix" + number, built by appending (GCC 12 warns, wrongly, on `"literal" + std::string`
// at -O3: -Wrestrict).
inline std::string numbered(std::string_view prefix, long long n) {
  std::string s(prefix);
  s += std::to_string(n);
  return s;
}

}  // namespace localbag::test
