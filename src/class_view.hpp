// SPDX-License-Identifier: MIT
#pragma once
// Internal: a record's view of its class. The fast path reads the view through the `ViewRef` in
// the record's head, which also keeps it alive; `current_view` takes the new one when the class
// changed, and `ViewPin` keeps every view a running method may have been found in alive until the
// method returns.

#include <cstdint>
#include <memory>
#include <utility>
#include <vector>

#include "class_state.hpp"
#include "localbag/detail/view_ref.hpp"

namespace localbag::detail {

// The class's current view's attributes, taken into `ref` first when the class changed since it
// took its view. While a method call runs on this thread (a ViewPin exists), the view `ref`
// held is kept until the outermost call returns: the method may have been found in it.
const Dict& current_view(ViewRef& ref, ClassState& state);

// Drops the record's reference to its view (in the record's destructor).
void release_view(ViewRef& ref) noexcept;

// Views replaced on this thread while a method call was running; plain data, so `__thread`.
struct ViewPins {
  std::uint32_t count;  // method calls in progress on this thread
  std::vector<ViewPtr>* retired;
};
extern __thread ViewPins tls_view_pins;

// Keeps the views replaced on this thread alive while a method runs.
class ViewPin {
 public:
  ViewPin() noexcept { ++tls_view_pins.count; }
  ~ViewPin() {
    if (--tls_view_pins.count == 0 && tls_view_pins.retired != nullptr) {
      std::unique_ptr<std::vector<ViewPtr>> retired(
          std::exchange(tls_view_pins.retired, nullptr));
    }  // the views (and their values) are destroyed here, with nothing pinned any more
  }
  ViewPin(const ViewPin&) = delete;
  ViewPin& operator=(const ViewPin&) = delete;
};

}  // namespace localbag::detail
