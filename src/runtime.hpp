#pragma once
// Internal: the thread runtime. Who owns a thread's dict for an object, and how it is destroyed
// when the thread exits, when the object dies, or both at once. See docs/design.md.
//
// A Slot is one (thread, object) pair. It is linked into two intrusive lists, its object's and
// its thread's, and published in its thread's table at the object's id. All linking, unlinking,
// table growth and table clearing happen under one mutex (Runtime::mutex). Whoever unlinks a
// slot (the exiting thread or the object's destroyer) owns it and destroys it after releasing the
// mutex, so values' destructors never run under a lock and may use other LocalObjects.

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

#include <boost/intrusive/list.hpp>

#include "class_state.hpp"
#include "localbag/class.hpp"
#include "localbag/detail/thread_table.hpp"
#include "localbag/dict.hpp"
#include "localbag/value.hpp"

namespace localbag::detail {

using AutoUnlinkHook =
    boost::intrusive::list_member_hook<boost::intrusive::link_mode<boost::intrusive::auto_unlink>>;

struct ThreadState;

struct Slot : SlotHead {
  ThreadState* thread = nullptr;
  std::uint32_t object_id = 0;
  std::uint32_t pins = 0;    // method calls in progress on this thread (see retire())
  AutoUnlinkHook by_object;  // in ObjectCore::slots
  AutoUnlinkHook by_thread;  // in ThreadState::slots
  // Owns this thread's snapshot of the class attributes (SlotHead::defaults points into it).
  std::shared_ptr<const ClassView> view;
  // Snapshots replaced while a method call was running on this thread; freed when it returns.
  std::unique_ptr<std::vector<std::shared_ptr<const ClassView>>> retired;
};

template <AutoUnlinkHook Slot::*Hook>
using SlotList =
    boost::intrusive::list<Slot, boost::intrusive::member_hook<Slot, AutoUnlinkHook, Hook>,
                           boost::intrusive::constant_time_size<false>>;
using ObjectSlots = SlotList<&Slot::by_object>;
using ThreadSlots = SlotList<&Slot::by_thread>;

struct ThreadState {
  ThreadSlots slots;                        // guarded by the runtime mutex
  std::atomic<SlotHead*>* table = nullptr;  // == tls_table.slots of the owner; guarded
  std::uint32_t capacity = 0;               // == tls_table.size of the owner; guarded
};

// Slot values shared by all threads (`__slots__`), guarded by their own mutex.
struct SharedSlots {
  explicit SharedSlots(std::size_t n) : values(n), present(n, false) {}
  std::mutex mutex;
  std::vector<Value> values;
  std::vector<bool> present;
};

struct ObjectCore : ObjectHead {
  ObjectCore(ClassRef cls, std::vector<Value> args, Dict kwargs);
  ~ObjectCore();
  ObjectCore(const ObjectCore&) = delete;
  ObjectCore& operator=(const ObjectCore&) = delete;

  ClassRef cls;
  ClassState* state;  // cls->state_, cached
  std::vector<Value> args;
  Dict kwargs;
  std::unique_ptr<SharedSlots> shared;  // when the class has slots
  ObjectSlots slots;                    // guarded by the runtime mutex
};

// This thread's slot for `object`, or nullptr before its first access.
inline Slot* this_thread_slot(const ObjectCore& object) noexcept {
  const ThreadTable& table = tls_table;
  if (object.id < table.size) {
    return static_cast<Slot*>(table.slots[object.id].load(std::memory_order_relaxed));
  }
  return nullptr;
}

// Creates and publishes this thread's (empty) slot for `object`. Init has not run.
Slot& attach(ObjectCore& object);
// Unpublishes and destroys this thread's slot (an init that threw).
void discard(Slot& slot) noexcept;

// This thread's up-to-date snapshot of the object's class attributes.
const ClassView& current_view(Slot& slot, ClassState& state);

}  // namespace localbag::detail
