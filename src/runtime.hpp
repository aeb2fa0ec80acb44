// SPDX-License-Identifier: MIT
#pragma once
// Internal: the runtime. Who owns a context's record for an object, and how it is destroyed when
// the context dies (its thread exits, or its last handle goes), when the object dies, or both at
// once. See docs/design.md.
//
// A Record is one (context, object) pair. It is linked into two intrusive lists, its object's
// and its context's, and published in its context's table at the object's id. All linking, unlinking,
// table growth and table clearing happen under one mutex (runtime_mutex()). Whoever unlinks a
// record (the exiting thread or the object's destroyer) owns it and destroys it after releasing
// the mutex, so values' destructors never run under a lock and may use other LocalObjects.

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <vector>

#include <boost/intrusive/list.hpp>

#include "class_state.hpp"
#include "class_view.hpp"
#include "localbag/class.hpp"
#include "localbag/detail/function_ref.hpp"
#include "localbag/detail/records.hpp"
#include "localbag/dict.hpp"
#include "localbag/value.hpp"
#include "locked.hpp"

namespace localbag {
class Registry;
}  // namespace localbag

namespace localbag::detail {

using AutoUnlinkHook =
    boost::intrusive::list_member_hook<boost::intrusive::link_mode<boost::intrusive::auto_unlink>>;

struct ContextState;

struct Record : RecordHead {
  Record() = default;
  Record(const Record&) = delete;
  Record& operator=(const Record&) = delete;
  ~Record() { release_view(view); }
  std::uint32_t context_index = 0;  // its ContextState: Runtime::context_by_index, under the mutex
  std::uint32_t object_id = 0;
  AutoUnlinkHook by_object;  // in ObjectState::records
  AutoUnlinkHook by_context;  // in ContextState::records
};
// A touched (object, context) pair costs sizeof(Record) before its entries: docs/performance.md.
// glibc's malloc gives a request of 57 to 72 bytes the same 72 usable bytes (an 80-byte chunk).
static_assert(sizeof(Record) <= 72, "a record grew: check the bytes-per-pair figure");

template <AutoUnlinkHook Record::*Hook>
using RecordList =
    boost::intrusive::list<Record, boost::intrusive::member_hook<Record, AutoUnlinkHook, Hook>,
                           boost::intrusive::constant_time_size<false>>;
using ObjectRecords = RecordList<&Record::by_object>;
using ContextRecords = RecordList<&Record::by_context>;

// Guards every record list, every context's table, the list of contexts and the object id free
// list.
std::mutex& runtime_mutex();

// The runtime mutex held, as a token (see locked.hpp). A thread that finds it taken counts
// itself as waiting until it has it, so that a cleanup working in batches (thread exit, object
// death) can hand the mutex over between batches instead of retaking it at once: std::mutex is
// not fair, and without the handoff a waiter that the kernel wakes a little late finds the
// mutex taken again, batch after batch, for the whole cleanup (docs/design.md, "Thread exit").
class [[nodiscard]] RuntimeLock {
 public:
  RuntimeLock();
  ~RuntimeLock();
  RuntimeLock(const RuntimeLock&) = delete;
  RuntimeLock& operator=(const RuntimeLock&) = delete;
};

// Called by a batched cleanup between two batches, without the mutex: when another thread is
// waiting for it, returns only after some waiter has taken it.
void let_waiters_in() noexcept;

// Takes the runtime mutex, counted as a waiter while it is taken (RuntimeLock, and fork()'s
// prepare handler, which must not wait out a whole cleanup either).
void lock_runtime_mutex() noexcept;

// One entry of a context's sparse record table: an object id (kNoId when unused) and the record.
// The id is written only by the owner, under the runtime mutex; the record is cleared by an
// object's destroyer under that mutex while the owner may be reading it, hence atomic.
struct SparseRecord {
  static constexpr std::uint32_t kNoId = 0xffffffffu;
  std::uint32_t id = kNoId;
  std::atomic<RecordHead*> record{nullptr};
};

// Where records live: a thread's implicit context, or an explicit `Context`. A record names its
// context by index (Runtime::context_by_index). The table fields mirror what `tls_table` holds
// on the thread where the context is current; only that thread changes them (under the mutex),
// and other threads only clear entries in them (under the mutex, at object death).
struct ContextState : ContextHead {
  ContextRecords records;                     // guarded by runtime_mutex()
  std::uint64_t record_count = 0;             // records.size(); guarded
  std::atomic<RecordHead*>* table = nullptr;  // == tls_table.records where current; guarded
  std::uint32_t capacity = 0;                 // == tls_table.size where current; guarded
  SparseRecord* sparse = nullptr;             // == tls_table.sparse where current; guarded
  std::uint32_t sparse_capacity = 0;          // 0 or a power of two; guarded
  std::uint32_t sparse_used = 0;              // entries with an id, live or cleared; guarded
  boost::intrusive::list_member_hook<> in_runtime;  // in the runtime's list of contexts
  std::uint32_t index = 0;  // what its records hold to name it; set under the runtime mutex
  bool implicit = false;    // a thread's own context (it dies with the thread)

  // While a copy reads this context's dicts (copy_current), records that an object's death
  // unlinks go to `deferred` instead of being destroyed; the copier destroys them. Guarded.
  std::uint32_t copying = 0;
  ContextRecords deferred;
  ContextState* retire_next = nullptr;  // scan_dicts' list of contexts it retires
};

// Slot values shared by all threads (`__slots__`), guarded by their own mutex. fork() takes
// every such mutex first (see fork_lock below), so a child never inherits one locked.
struct SharedSlots {
  explicit SharedSlots(std::size_t n);
  ~SharedSlots();
  SharedSlots(const SharedSlots&) = delete;
  SharedSlots& operator=(const SharedSlots&) = delete;
  std::mutex mutex;
  std::vector<Value> values;
  std::vector<bool> present;
  boost::intrusive::list_member_hook<> in_fork_list;
};

// A registry's mutex, registered for its lifetime so that fork() takes it first and a child
// never inherits it locked.
void register_for_fork(std::shared_mutex& registry_mutex, Registry& registry);
void unregister_for_fork(std::shared_mutex& registry_mutex) noexcept;

// Every live registry, each one's mutex held for writing while this lives (taken in the order
// fork() takes them, with the list's own mutex first, so that no registry comes or goes):
// Plugin::unload() reads and changes them all at once (src/plugin/).
class [[nodiscard]] AllRegistries {
 public:
  AllRegistries();
  ~AllRegistries();
  AllRegistries(const AllRegistries&) = delete;
  AllRegistries& operator=(const AllRegistries&) = delete;
  const std::vector<Registry*>& registries() const noexcept;
};

// What a LocalObject handle points to: the head the fast path reads, and everything else.
struct ObjectState : ObjectHead {
  ObjectState(ClassRef cls, std::vector<Value> args, Dict kwargs);
  ~ObjectState();
  ObjectState(const ObjectState&) = delete;
  ObjectState& operator=(const ObjectState&) = delete;

  ClassRef cls;
  ClassState* class_state;  // of `cls`, cached
  std::vector<Value> args;
  Dict kwargs;
  std::unique_ptr<SharedSlots> shared;  // when the class has slots
  ObjectRecords records;                // guarded by runtime_mutex()
};

// The current context's record for `object`, or nullptr before its first access there.
inline Record* this_thread_record(const ObjectState& object) noexcept {
  return static_cast<Record*>(this_thread_record_head(object));
}

// Creates and publishes the current context's (empty) record for `object`. Init has not run.
Record& attach(ObjectState& object);
// Unpublishes and destroys a record just attached (an init that threw).
void discard(Record& record) noexcept;

// ---- What Plugin::usage() reads (src/plugin/) ---------------------------------------------

// A dict a scan may read: the object's (nullptr when unknown), and whose.
struct ScannedDict {
  const ObjectState* object;
  const Dict* dict;
  const ContextState* context;
  bool this_thread;  // the calling thread's own context, or one entered on it
};
// The contexts a scan could not read: other threads' own, and explicit ones entered on other
// threads (their dicts are theirs alone).
struct ScanSkipped {
  std::size_t threads = 0;
  std::size_t entered = 0;
};
// Calls `visit`, under the runtime mutex, for every dict the calling thread may read without
// racing the dict's owner: those of its own context and of contexts entered on it, and those of
// explicit contexts entered nowhere (an enter meanwhile waits until the scan is over, in
// enter_slow). `visit` must run no user code and take no lock.
ScanSkipped scan_dicts(FunctionRef<void(const ScannedDict&)> visit);

// ---- Explicit contexts (src/context.cpp, the public side: localbag/context.hpp) --------------

// A new explicit context, empty, with one handle.
ContextState* new_context();
// A new explicit context holding a copy of every dict of the calling thread's current context.
// Throws (and creates nothing) when a value cannot be copied.
ContextState* copy_current_context();
// Ends the calling thread's implicit context now, as its exit would (release_this_thread).
void release_thread_context() noexcept;
// Drops `n` of `context`'s holds (2 for a handle, 1 for a leave); the last one retires it, on
// the calling thread.
void drop_holds(ContextState* context, std::uint64_t n) noexcept;

}  // namespace localbag::detail
