// SPDX-License-Identifier: MIT
#include "localbag/context.hpp"

#include "runtime.hpp"

namespace localbag {

Context::Context() : state_(detail::new_context()) {}

Context Context::copy_current() { return Context(detail::copy_current_context()); }

Context::Context(const Context& other) noexcept : state_(other.state_) {
  if (state_ != nullptr) state_->holds.fetch_add(2, std::memory_order_relaxed);
}

Context& Context::operator=(const Context& other) noexcept {
  Context copy(other);
  return *this = std::move(copy);
}

Context& Context::operator=(Context&& other) noexcept {
  if (this != &other) {
    detail::ContextHead* old = std::exchange(state_, std::exchange(other.state_, nullptr));
    if (old != nullptr) detail::drop_holds(static_cast<detail::ContextState*>(old), 2);
  }
  return *this;
}

Context::~Context() {
  if (state_ != nullptr) detail::drop_holds(static_cast<detail::ContextState*>(state_), 2);
}

bool Context::entered() const noexcept {
  return state_ != nullptr && (state_->holds.load(std::memory_order_relaxed) & 1) != 0;
}

void release_this_thread() noexcept { detail::release_thread_context(); }

}  // namespace localbag
