// SPDX-License-Identifier: MIT
#pragma once
// The test support library of the unit and stress suites (test/support/), in namespace
// localbag::test:
//   error_matchers.hpp    EXPECT_LB_ERROR, the check of a localbag error and its message
//   instance_tracker.hpp  Tracked values recording their lives in a Ledger: live counts, and the
//                         thread that destroyed each value (destroyed_on, live_tracked)
//   value_types.hpp       value types with a fixed C++ name (MoveOnly)
//   worker_thread.hpp     WorkerThread: runs functions on one other thread, in order
// and numbered(), below. Test files bring what they use into their namespace with
// using-declarations (`using test::numbered;`).

#include <string>
#include <string_view>

#include "error_matchers.hpp"
#include "instance_tracker.hpp"
#include "value_types.hpp"

namespace localbag::test {

// "prefix" + number, built by appending (GCC 12 warns, wrongly, on `"literal" + std::string`
// at -O3: -Wrestrict).
inline std::string numbered(std::string_view prefix, long long n) {
  std::string s(prefix);
  s += std::to_string(n);
  return s;
}

}  // namespace localbag::test
