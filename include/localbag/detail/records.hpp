// SPDX-License-Identifier: MIT
#pragma once
// The part of the runtime that the inline fast path reads: this thread's table of records,
// indexed by object id. A record is what one (thread, object) pair owns: the thread's dict for
// the object and the class view it reads. The rest of the runtime (ownership, cleanup) lives in
// src/runtime.hpp.
//
// Only the owning thread reads its table without a lock. Other threads write an entry (to
// nullptr, when the object dies) only under the runtime mutex, and the owner grows its table only
// under that mutex, so the owner's unlocked reads race with nothing; entries are atomics so that
// the cross-thread store on object death is well defined.

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

// This thread's records, indexed by object id: a dense array for the ids up to `size`, which the
// inline fast path reads, and, for ids above it that the thread touched, a small hash map that
// only out-of-line code reads (runtime.cpp). The dense part grows only as far as the number of
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

// This thread's record for an id at or above the dense size, or nullptr.
RecordHead* sparse_record_head(std::uint32_t id) noexcept;

// The immutable head of a shared object: what the fast path needs to find this thread's record.
struct ObjectHead {
  std::uint32_t id = 0;
  bool dict_first = true;  // false when the class has slots: they are checked before the dict
  // The attributes of the class's current view: replaced (release) on every class change.
  const std::atomic<const Dict*>* class_view = nullptr;
};

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
