#pragma once
// The part of the thread runtime that the inline fast path reads: this thread's table of slots,
// indexed by object id. The rest of the runtime (ownership, cleanup) lives in src/runtime.hpp.
//
// Only the owning thread reads its table without a lock. Other threads write an entry (to
// nullptr, when the object dies) only under the runtime mutex, and the owner grows its table only
// under that mutex, so the owner's unlocked reads race with nothing; entries are atomics so that
// the cross-thread store on object death is well defined.

#include <atomic>
#include <cstdint>

#include "localbag/dict.hpp"

namespace localbag::detail {

// What one (thread, object) pair owns that the fast path needs: the thread's attributes, and
// this thread's snapshot of the class attributes with the class generation it was taken at.
struct SlotHead {
  Dict dict;
  const Dict* defaults = nullptr;
  std::uint64_t defaults_generation = 0;  // class generations start at 1: 0 is never current
};

// This thread's slots, indexed by object id. Plain data so that it can be `__thread`: no
// dynamic initialization, no TLS wrapper call on access.
struct ThreadTable {
  std::atomic<SlotHead*>* slots;
  std::uint32_t size;
};

extern __thread ThreadTable tls_table;

// The immutable head of a shared object: what the fast path needs to find this thread's dict.
struct ObjectHead {
  std::uint32_t id = 0;
  bool dict_first = true;  // false when the class has slots: they are checked before the dict
  const std::atomic<std::uint64_t>* class_generation = nullptr;  // bumped on every class change
};

// This thread's slot for the object, or nullptr before the thread's first access (init).
inline SlotHead* this_thread_slot_head(const ObjectHead& object) noexcept {
  const ThreadTable& table = tls_table;
  if (object.id < table.size) return table.slots[object.id].load(std::memory_order_relaxed);
  return nullptr;
}

// This thread's dict for the object, or nullptr before the thread's first access (init).
inline Dict* this_thread_dict(const ObjectHead& object) noexcept {
  SlotHead* slot = this_thread_slot_head(object);
  return slot != nullptr ? &slot->dict : nullptr;
}

// What the lock-free lookup found: a value, a definite absence (value == nullptr, definite), or
// nothing definite (the caller takes the full lookup: first access, slots, a changed class).
struct FastLookup {
  const Value* value = nullptr;
  bool definite = false;
};

// A non-owning reference to a callable, for visiting a value under whatever lock guards it.
template <class Signature>
class FunctionRef;
template <class R, class... A>
class FunctionRef<R(A...)> {
 public:
  template <class F>
  FunctionRef(F&& f) noexcept  // NOLINT(google-explicit-constructor)
      : object_(const_cast<void*>(static_cast<const void*>(&f))), call_([](void* o, A... a) -> R {
          return (*static_cast<std::remove_reference_t<F>*>(o))(std::forward<A>(a)...);
        }) {}
  R operator()(A... a) const { return call_(object_, std::forward<A>(a)...); }

 private:
  void* object_;
  R (*call_)(void*, A...);
};

}  // namespace localbag::detail
