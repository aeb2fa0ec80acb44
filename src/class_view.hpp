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
#include "localbag/detail/tls.hpp"
#include "localbag/detail/view_ref.hpp"

namespace localbag::detail {

// The class's current view's attributes, taken into `ref` first when the class changed since it
// took its view. If a method running on this thread was found in the view `ref` held (it is
// pinned), that view is kept until the outermost call returns.
const Dict& current_view(ViewRef& ref, ClassState& state);

// Drops the record's reference to its view (in the record's destructor).
void release_view(ViewRef& ref) noexcept;

// The views the method calls running on this thread were found in, and the ones of those that
// a record replaced meanwhile, kept until the outermost call returns. Plain data, so `__thread`.
// Only the outermost kSlots calls' views are recorded; while calls are nested deeper than that,
// every view a record replaces is kept (as if pinned) until the outermost call returns.
struct ViewPins {
  static constexpr std::uint32_t kSlots = 8;
  std::uint32_t count;            // method calls in progress on this thread
  const Dict* pinned[kSlots];     // pinned[i]: the view call i's method was found in, or nullptr
  std::vector<ViewPtr>* retired;  // replaced pinned views
  // ReadScopes alive on this thread, and view_sequence() when the outermost began: a record
  // keeps a view superseded after that (its reads in the scope may have seen it).
  std::uint32_t read_scopes;
  std::uint64_t read_since;

  bool is_pinned(const Dict* view) const noexcept {
    if (count > kSlots) return true;
    for (std::uint32_t i = 0; i < count; ++i) {
      if (pinned[i] == view) return true;
    }
    return false;
  }
};
extern LOCALBAG_TLS ViewPins tls_view_pins;

// Keeps the view a method was found in alive while the method runs, should its record replace
// it (the class changed).
class ViewPin {
 public:
  // `view`: the class view the method about to run was found in, or nullptr (a callable from
  // the thread's own dict, copied out).
  explicit ViewPin(const Dict* view) noexcept {
    ViewPins& pins = tls_view_pins;
    if (pins.count < ViewPins::kSlots) pins.pinned[pins.count] = view;
    ++pins.count;
  }
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
