// SPDX-License-Identifier: MIT
#pragma once
/// \file
/// `Context`: a place where per-task state lives, entered on any thread.

#include "localbag/detail/require_cxx20.hpp"  // first: a clear error before C++20

#include <functional>
#include <utility>

#include "localbag/detail/records.hpp"
#include "localbag/detail/throw.hpp"

namespace localbag {

/// A place where per-task state lives: one dict per `LocalObject`, as a thread has.
///
/// Every thread has an implicit context of its own, which is what every access uses until a
/// `Context::Scope` enters an explicit one. While a context is entered on a thread, every
/// `LocalObject` read or written on that thread (get, set, del, has, `dict()`, `call`) resolves
/// to the context's dict for it; init runs once per (context, object). Leaving restores the
/// context entered before; scopes nest.
///
/// **One thread at a time.** A context is entered on at most one thread at a time: entering it
/// while it is entered (on another thread, or again on this one, as Python's `Context.run`
/// refuses) throws ``RuntimeError: cannot enter context: it is already entered ...`` and changes
/// nothing. Once its scope is left it may be entered on any thread. Entering synchronises with
/// the last leave (acquire and release), so a task that moves from thread to thread needs
/// nothing more than that its scope on one thread ends before its scope on the next begins.
///
/// **Handles.** `Context` is a counted handle: copies refer to the same context, and a scope
/// holds it while it is entered. When the last handle or scope goes, the context's dicts are
/// destroyed on that thread, exactly once. An object's death destroys its dicts in every
/// context. Copying and destroying handles is thread-safe, as for `std::shared_ptr`.
///
/// Python's `contextvars.copy_context().run(f)` is `Context::copy_current().run(f)`. Two
/// differences from Python: there, a `threading.local` stays per-thread inside `Context.run`,
/// while here every `LocalObject` follows the context (it behaves as a `ContextVar` would); and
/// `copy_context()` shares the value objects, while `copy_current()` copies them. A `Context`
/// stored in one of its own dicts keeps itself alive: as with a `LocalObject`, such a cycle is
/// never freed.
class Context {
 public:
  class Scope;

  /// A new context, with no dicts: each object's init runs at its first access in it.
  Context();

  /// A new context holding a copy of every dict of the calling thread's current context (its
  /// implicit one, or the explicit one entered), as `contextvars.copy_context()`. Objects
  /// touched there are initialised in the copy: their init does not run again. Values are
  /// copied by their copy constructors (a dict's copy is a new dict, as `Dict` copies are);
  /// a move-only value makes it throw ``TypeError: cannot copy 'T' object``, and no context is
  /// created. The copy starts with no scope: it is not entered. Called from inside an init, it
  /// copies the dict that init is filling, as it stands, and init does not run in the copy.
  [[nodiscard]] static Context copy_current();

  /// A second handle to the same context.
  Context(const Context& other) noexcept;
  /// Takes `other`'s handle, leaving `other` empty: it may only be destroyed or assigned to.
  Context(Context&& other) noexcept : state_(std::exchange(other.state_, nullptr)) {}
  /// Makes this a handle to `other`'s context, dropping the one it had.
  Context& operator=(const Context& other) noexcept;
  /// Takes `other`'s handle, dropping the one this had; `other` is left empty.
  Context& operator=(Context&& other) noexcept;
  /// Drops the handle; the last handle or scope to go destroys the context's dicts, here.
  ~Context();

  /// Runs `f()` with this context entered, and returns what it returns: `Context.run(f)`.
  template <class F>
  decltype(auto) run(F&& f) const;

  /// Whether a scope has this context entered now, on some thread. A snapshot: another thread
  /// may enter or leave it at any time.
  bool entered() const noexcept;

  /// Whether both handles refer to the same context.
  friend bool operator==(const Context& a, const Context& b) noexcept {
    return a.state_ == b.state_;
  }

 private:
  explicit Context(detail::ContextHead* state) noexcept : state_(state) {}
  detail::ContextHead* state_;
};

/// Enters a context on the calling thread for the scope's lifetime (RAII). The scope holds the
/// context: destroying every `Context` handle while it is entered does not destroy it. A scope
/// must be destroyed on the thread that created it, innermost first: one kept across a
/// coroutine suspension that resumes on another thread aborts the process with a message (enter
/// on every resume instead, as docs/examples/coroutine_tasks.cpp does).
class Context::Scope {
 public:
  /// Enters `context`; ``RuntimeError`` when it is entered anywhere (see `Context`).
  explicit Scope(const Context& context) : state_(context.state_) {
    if (state_ == nullptr) detail::throw_context_moved_from();
    // An atomic or (acquire): when bit 0 was already set, the context is entered elsewhere and
    // this changed nothing (enter_slow throws); when another thread is reading its dicts, this
    // entered it and enter_slow waits for the read to end.
    const std::uint64_t before = state_->holds.fetch_or(1, std::memory_order_acquire);
    if ((before & (1 | detail::ContextHead::kScanned)) != 0) detail::enter_slow(*state_, before);
    link_ = {state_, detail::tls_scope};
    detail::tls_scope = &link_;
    detail::tls_table = state_->published;
  }
  /// Leaves the context: the one entered before is current again.
  ~Scope() {
    if (detail::tls_scope != &link_) detail::abort_scope_misuse();
    detail::tls_scope = link_.outer;
    detail::tls_table = detail::table_after(link_);
    // Acquire and release: see detail::ContextHead::holds. The last hold retires the context.
    if (state_->holds.fetch_sub(1, std::memory_order_acq_rel) == 1) detail::retire_context(state_);
  }
  Scope(const Scope&) = delete;
  Scope& operator=(const Scope&) = delete;

 private:
  detail::ContextHead* state_;
  detail::ScopeLink link_;
};

template <class F>
decltype(auto) Context::run(F&& f) const {
  const Scope entered(*this);
  return std::invoke(std::forward<F>(f));
}

/// Ends the calling thread's own (implicit) context now, as the thread's exit would: its dicts
/// are destroyed here, exactly once, and the thread's next access starts afresh (init runs
/// again). A language runtime whose thread state ends before the OS thread does calls this
/// (the Python binding does, when a thread started by Python's `threading` ends). Scopes
/// entered on the thread are not affected. Never throws.
void release_this_thread() noexcept;

}  // namespace localbag
