// SPDX-License-Identifier: MIT
#pragma once
// What a record reads of its class's view (the class attributes merged along the base chain):
// the view's attributes, and the class generation the view was taken at. The fast path compares
// that generation with the class's; src/class_view.hpp keeps the view alive and takes new ones.

#include <cstdint>

#include "localbag/dict.hpp"

namespace localbag::detail {

struct ViewRef {
  const Dict* attrs = nullptr;
  std::uint64_t generation = 0;  // class generations start at 1: 0 is never current
};

}  // namespace localbag::detail
