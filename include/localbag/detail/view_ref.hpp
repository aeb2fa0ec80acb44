// SPDX-License-Identifier: MIT
#pragma once
// What a record reads of its class's view (the class attributes merged along the base chain):
// the view's attributes. The fast path compares their address with the one the class publishes
// for its current view (ObjectHead::class_view); src/class_view.hpp takes new views.

#include <cstdint>

#include "localbag/dict.hpp"

namespace localbag::detail {

struct ViewRef {
  // The view's attributes. The record owns one reference to the view (src/class_state.hpp's
  // ClassView counts its own references), so that the view outlives every class change until
  // this record takes the next one; as the record keeps it alive, no newer view can have the
  // same address, which is what the fast path compares.
  const Dict* attrs = nullptr;
};

}  // namespace localbag::detail
