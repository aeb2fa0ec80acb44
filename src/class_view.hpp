// SPDX-License-Identifier: MIT
#pragma once
// Internal: a record's hold on its class's view. The fast path reads the view through a `ViewRef`
// in the record's head; `ViewHold` keeps that view alive, `current_view` takes the new one when
// the class changed, and `ViewPin` keeps the view a running method was found in alive until the
// method returns.

#include <cstdint>
#include <memory>
#include <vector>

#include "class_state.hpp"
#include "localbag/detail/view_ref.hpp"

namespace localbag::detail {

struct ViewHold {
  std::shared_ptr<const ClassView> view;  // the ViewRef beside it points into it
  // Views replaced while a method call was running on this thread; freed when it returns.
  std::unique_ptr<std::vector<std::shared_ptr<const ClassView>>> retired;
  std::uint32_t pins = 0;  // method calls in progress on this thread
};

// The class's current view, taken into `ref` and `hold` first when the class changed since they
// took theirs.
const ClassView& current_view(ViewRef& ref, ViewHold& hold, ClassState& state);

// Keeps the views of `hold` alive while a method runs.
class ViewPin {
 public:
  explicit ViewPin(ViewHold& hold) noexcept : hold_(hold) { ++hold_.pins; }
  ~ViewPin() {
    if (--hold_.pins == 0 && hold_.retired) hold_.retired.reset();
  }
  ViewPin(const ViewPin&) = delete;
  ViewPin& operator=(const ViewPin&) = delete;

 private:
  ViewHold& hold_;
};

}  // namespace localbag::detail
