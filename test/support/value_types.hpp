// SPDX-License-Identifier: MIT
#pragma once
// Value types with a fixed C++ name: the name appears in the expected error texts
// ("cannot copy 'localbag::test::MoveOnly' object").

namespace localbag::test {

// Move-only (move-constructible and move-assignable): a Value holding one cannot be copied.
struct MoveOnly {
  explicit MoveOnly(int v) : value(v) {}
  MoveOnly(MoveOnly&&) noexcept = default;
  MoveOnly& operator=(MoveOnly&&) noexcept = default;
  MoveOnly(const MoveOnly&) = delete;
  MoveOnly& operator=(const MoveOnly&) = delete;
  int value;
};

}  // namespace localbag::test
