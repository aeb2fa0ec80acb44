// SPDX-License-Identifier: MIT
#include "runtime.hpp"

#include <pthread.h>

#include <bit>
#include <cassert>
#include <cstdio>
#include <cstdlib>

#include "localbag/stats.hpp"

namespace localbag::detail {

// The fast path's table: plain data, so no TLS wrapper and no dynamic initialization.
__thread RecordTable tls_table;

namespace {

// The process-wide bookkeeping, guarded by `mutex`. Leaked on purpose: threads may still exit,
// and objects still die, while static destructors run at process exit.
struct Runtime {
  std::mutex mutex;
  std::vector<std::uint32_t> free_ids;  // capacity always >= next_id: push_back never throws
  std::uint32_t next_id = 0;
  std::uint64_t live_objects = 0;
  std::uint64_t live_threads = 0;
  std::uint64_t live_records = 0;
};

Runtime& runtime() {
  static Runtime* const instance = new Runtime;
  return *instance;
}

__thread ThreadState* tls_thread;
__thread bool tls_guard_done;  // this thread's thread_local guard has already run

void thread_exit(ThreadState* thread) noexcept;

// Runs the thread-exit cleanup when the thread's C++ thread_local objects are destroyed:
// for std::thread, boost::thread, raw pthreads, and the main thread at exit().
struct ThreadGuard {
  ~ThreadGuard() {
    thread_exit(tls_thread);
    tls_guard_done = true;
  }
};
thread_local ThreadGuard guard;

// A thread that touches an object again after its guard ran (from another thread_local's
// destructor) gets a fresh state, cleaned up by this pthread key destructor, which runs after all
// thread_local destructors.
void backstop_destructor(void* state) { thread_exit(static_cast<ThreadState*>(state)); }

pthread_key_t backstop_key() {
  static const pthread_key_t key = [] {
    pthread_key_t k;
    if (pthread_key_create(&k, &backstop_destructor) != 0) {
      std::fputs("localbag: pthread_key_create failed\n", stderr);
      std::abort();
    }
    return k;
  }();
  return key;
}

ThreadState& this_thread_state() {
  if (tls_thread != nullptr) return *tls_thread;
  auto state = std::make_unique<ThreadState>();
  if (!tls_guard_done) {
    [[maybe_unused]] ThreadGuard* g = &guard;  // odr-use: constructs it, registers its destructor
  } else if (pthread_setspecific(backstop_key(), state.get()) != 0) {
    throw std::bad_alloc();
  }
  {
    const RuntimeLock held;
    ++runtime().live_threads;
  }
  tls_thread = state.release();
  return *tls_thread;
}

// Makes this thread's table hold index `id`. Called by the owner.
void reserve_table(const RuntimeLock&, ThreadState& thread, std::uint32_t id) {
  assert(&thread == tls_thread);
  if (id < thread.capacity) return;
  const std::uint32_t capacity = std::bit_ceil(std::max<std::uint32_t>(16, id + 1));
  auto* fresh = new std::atomic<RecordHead*>[capacity];
  for (std::uint32_t i = 0; i < capacity; ++i) {
    fresh[i].store(i < thread.capacity ? thread.table[i].load(std::memory_order_relaxed) : nullptr,
                   std::memory_order_relaxed);
  }
  delete[] thread.table;
  thread.table = fresh;
  thread.capacity = capacity;
  tls_table.records = fresh;
  tls_table.size = capacity;
}

// Unlinks `record` from its object's list, its thread's list and its thread's table.
void unlink(const RuntimeLock&, Record& record) noexcept {
  record.by_object.unlink();
  record.by_thread.unlink();
  record.thread->table[record.object_id].store(nullptr, std::memory_order_relaxed);
  --runtime().live_records;
}

constexpr int kPrefetchDistance = 8;

void prefetch_object_neighbours(Record& record) noexcept {
  const auto at = ObjectRecords::s_iterator_to(record);
  __builtin_prefetch(std::next(at).pointed_node(), 1);
  __builtin_prefetch(std::prev(at).pointed_node(), 1);
}

// Destroys in reverse order of first touch, as C++ destroys in reverse order of construction;
// freeing the newest allocation first also lets the allocator merge each chunk into the free
// space above it instead of re-binning it, which keeps the per-record cost flat for large N.
template <class List>
void destroy_all(List& taken) noexcept {
  while (!taken.empty()) {
    Record& record = taken.back();
    taken.pop_back();
    delete &record;  // runs the values' destructors; they may use other LocalObjects
  }
}

void thread_exit(ThreadState* thread) noexcept {
  if (thread == nullptr) return;
  for (;;) {
    ThreadRecords taken;
    {
      const RuntimeLock held;
      if (thread->records.empty()) {
        // Nothing links to this thread any more: no other thread will read its table.
        delete[] thread->table;
        --runtime().live_threads;
        break;
      }
      // Unlinking touches each record's neighbours in its object's list, which live in memory
      // the objects' creators wrote; prefetching them a few records ahead overlaps those misses.
      auto ahead = thread->records.begin();
      for (int i = 0; i < kPrefetchDistance && ahead != thread->records.end(); ++i) ++ahead;
      while (!thread->records.empty()) {
        if (ahead != thread->records.end()) {
          prefetch_object_neighbours(*ahead);
          ++ahead;
        }
        Record& record = thread->records.front();
        unlink(held, record);
        taken.push_back(record);
      }
    }
    destroy_all(taken);  // may attach new records to this thread: loop until none are left
  }
  if (tls_thread == thread) {
    tls_thread = nullptr;
    tls_table.records = nullptr;
    tls_table.size = 0;
  }
  delete thread;
}

}  // namespace

std::mutex& runtime_mutex() { return runtime().mutex; }

ObjectState::ObjectState(ClassRef cls_in, std::vector<Value> args_in, Dict kwargs_in)
    : cls(std::move(cls_in)),
      class_state(&ClassAccess::state(*cls)),
      args(std::move(args_in)),
      kwargs(std::move(kwargs_in)) {
  class_generation = &class_state->generation;
  if (!class_state->slots.empty()) {
    shared = std::make_unique<SharedSlots>(class_state->slots.size());
    dict_first = false;
  }
  Runtime& rt = runtime();
  const RuntimeLock held;
  if (!rt.free_ids.empty()) {
    id = rt.free_ids.back();
    rt.free_ids.pop_back();
  } else {
    if (rt.free_ids.capacity() <= rt.next_id) {
      rt.free_ids.reserve(std::max<std::size_t>(64, std::size_t{rt.next_id} * 2));
    }
    id = rt.next_id++;
  }
  ++rt.live_objects;
}

ObjectState::~ObjectState() {
  ObjectRecords taken;
  {
    Runtime& rt = runtime();
    const RuntimeLock held;
    while (!records.empty()) {
      Record& record = records.front();
      unlink(held, record);
      taken.push_back(record);
    }
    assert(rt.free_ids.size() < rt.free_ids.capacity());  // reserved when the id was handed out
    rt.free_ids.push_back(id);
    --rt.live_objects;
  }
  destroy_all(taken);  // on this (the destroying) thread, outside the lock
}

Record& attach(ObjectState& object) {
  ThreadState& thread = this_thread_state();
  auto record = std::make_unique<Record>();
  record->thread = &thread;
  record->object_id = object.id;
  {
    const RuntimeLock held;
    reserve_table(held, thread, object.id);
    object.records.push_back(*record);
    thread.records.push_back(*record);
    thread.table[object.id].store(record.get(), std::memory_order_relaxed);
    ++runtime().live_records;
  }
  return *record.release();
}

void discard(Record& record) noexcept {
  {
    const RuntimeLock held;
    unlink(held, record);
  }
  delete &record;
}

}  // namespace localbag::detail

namespace localbag {

RuntimeStats runtime_stats() noexcept {
  detail::Runtime& rt = detail::runtime();
  const detail::RuntimeLock held;
  return {rt.live_objects, rt.live_threads, rt.live_records, rt.next_id};
}

}  // namespace localbag
