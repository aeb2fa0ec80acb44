// SPDX-License-Identifier: MIT
#pragma once
// The part of the runtime that inline code reads: the table of records of the context current
// on this thread, indexed by object id, and what entering and leaving a context (a scope, in
// localbag/context.hpp) reads and writes. A record is what one (context, object) pair owns: the
// context's dict for the object and the class view it reads. The rest of the runtime
// (ownership, cleanup) lives in src/runtime.hpp.
//
// Only the thread where a context is current reads its table without a lock. Other threads
// write an entry (to nullptr, when the object dies) only under the runtime mutex, and the table
// grows only under that mutex, on that thread, so the unlocked reads race with nothing; entries
// are atomics so that the cross-thread store on object death is well defined. A context moves to
// another thread only through a leave and an enter, which synchronise (ContextHead::holds).

#include <atomic>
#include <cstdint>

#include "localbag/detail/tls.hpp"
#include "localbag/detail/view_ref.hpp"
#include "localbag/dict.hpp"

namespace localbag::detail {

// What the fast path reads of a record: the thread's attributes, and the class view this thread
// last took (kept alive by the rest of the record).
struct RecordHead {
  Dict dict;
  ViewRef view;
};

// A context's records, indexed by object id (tls_table: the current context's): a dense array
// for the ids up to `size`, which the inline fast path reads, and, for ids above it that the
// context touched, a small hash map that only out-of-line code reads (runtime.cpp). The dense part grows only as far as the number of
// records the thread holds justifies, so a thread's table stays proportional to what it touched
// even when it touches an object with a high id. Plain data so that it can be `__thread`: no
// dynamic initialization, no TLS wrapper call on access.
struct SparseRecord;
struct RecordTable {
  std::atomic<RecordHead*>* records;
  std::uint32_t size;
  std::uint32_t sparse_mask;  // sparse capacity - 1, or 0 when there is no sparse part
  SparseRecord* sparse;
};

extern LOCALBAG_TLS RecordTable tls_table;

// What entering a context (localbag/context.hpp) reads and writes, inline: the rest of the
// context is src/runtime.hpp's ContextState.
struct ContextHead {
  // The handles (2 each) and the scope that has the context entered (bit 0). Entering sets
  // bit 0 (an atomic or, acquire); finding it set means the context is entered elsewhere, and
  // nothing changed. Leaving subtracts it (acquire and release). That pairing orders all that a
  // context's dicts saw before a leave, on one thread, before the next enter, on any thread:
  // the whole of a migration's synchronisation. Whoever brings it to 0 retires the context.
  std::atomic<std::uint64_t> holds{2};
  // Set in `holds` while another thread reads the context's dicts (Plugin::usage(), under the
  // runtime mutex, only while the context is entered nowhere): an enter that finds it waits
  // until the read is over (enter_slow), and the hold keeps the context from retiring meanwhile.
  static constexpr std::uint64_t kScanned = std::uint64_t{1} << 63;
  // What tls_table holds while this context is current: written by the thread where it is
  // current, under the runtime mutex (src/runtime.cpp, publish_table).
  RecordTable published{};
};

// One entered scope, in the chain of the scopes entered on its thread, innermost first: its
// context, and the scope it is nested in.
struct ScopeLink {
  ContextHead* context;
  ScopeLink* outer;
};

// The innermost scope entered on this thread, or nullptr when the thread's implicit context is
// current.
extern LOCALBAG_TLS ScopeLink* tls_scope;
// This thread's implicit context, or nullptr before the thread's first access.
extern LOCALBAG_TLS ContextHead* tls_implicit;

// The table of the context that is current on this thread once the scope `link` has left.
inline RecordTable table_after(const ScopeLink& link) noexcept {
  if (link.outer != nullptr) return link.outer->context->published;
  const ContextHead* implicit = tls_implicit;
  return implicit != nullptr ? implicit->published : RecordTable{};
}

// Out of line (src/runtime.cpp), for the scope's inline enter and leave: destroys a context whose
// holds reached 0, with its dicts, on the calling thread; throws the RuntimeError of a context
// already entered; aborts on a scope left on a thread where it is not the innermost one.
void retire_context(ContextHead* context) noexcept;
// An enter that found bit 0 or kScanned set in `before` (the value its atomic or read): throws
// the RuntimeError of a context already entered, or waits until the scan is over.
void enter_slow(const ContextHead& context, std::uint64_t before);
[[noreturn]] void abort_scope_misuse() noexcept;

// This thread's record for an id at or above the dense size, or nullptr.
RecordHead* sparse_record_head(std::uint32_t id) noexcept;

// The head of a shared object: what the fast path needs to find this thread's record, and the
// count of the LocalObject handles that own it (src/local_object.cpp, "References").
struct ObjectHead {
  std::uint32_t id = 0;
  std::atomic<std::uint32_t> refs{1};
  bool dict_first = true;  // false when the class has slots: they are checked before the dict
  // The attributes of the class's current view: replaced (release) on every class change.
  const std::atomic<const Dict*>* class_view = nullptr;
};

// Out of line (src/local_object.cpp), for LocalObject's inline destruction: destroys the object
// whose last reference was dropped.
void release_last(ObjectHead* object) noexcept;

// One more owning reference to `object`, taken through a handle that owns one.
inline void add_reference(ObjectHead& object) noexcept {
  object.refs.fetch_add(1, std::memory_order_relaxed);
}
// Drops an owning reference; the last one destroys the object (release_last).
inline void drop_reference(ObjectHead* object) noexcept {
  if (object->refs.fetch_sub(1, std::memory_order_acq_rel) == 1) release_last(object);
}

// This thread's record for the object, or nullptr before the thread's first access (init).
inline RecordHead* this_thread_record_head(const ObjectHead& object) noexcept {
  const RecordTable& table = tls_table;
  if (object.id < table.size) return table.records[object.id].load(std::memory_order_relaxed);
  return sparse_record_head(object.id);
}

// This thread's dict for the object, or nullptr before the thread's first access (init).
inline Dict* this_thread_dict(const ObjectHead& object) noexcept {
  RecordHead* record = this_thread_record_head(object);
  return record != nullptr ? &record->dict : nullptr;
}

// What the lock-free lookup found: a value, a definite absence (value == nullptr, definite), or
// nothing definite (the caller takes the full lookup: first access, slots, a changed class).
struct FastLookup {
  const Value* value = nullptr;
  bool definite = false;
};

}  // namespace localbag::detail
