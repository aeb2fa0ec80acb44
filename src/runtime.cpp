#include "runtime.hpp"

#include <pthread.h>

#include <bit>
#include <cstdio>
#include <cstdlib>

#include "localbag/stats.hpp"

namespace localbag::detail {

// The fast path's table: plain data, so no TLS wrapper and no dynamic initialization.
__thread ThreadTable tls_table;

namespace {

// The process-wide bookkeeping. Leaked on purpose: threads may still exit, and objects still
// die, while static destructors run at process exit.
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
    std::lock_guard lock(runtime().mutex);
    ++runtime().live_threads;
  }
  tls_thread = state.release();
  return *tls_thread;
}

// Makes this thread's table hold index `id`. Called with the runtime mutex held, by the owner.
void reserve_table(ThreadState& thread, std::uint32_t id) {
  if (id < thread.capacity) return;
  const std::uint32_t capacity = std::bit_ceil(std::max<std::uint32_t>(16, id + 1));
  auto* fresh = new std::atomic<SlotHead*>[capacity];
  for (std::uint32_t i = 0; i < capacity; ++i) {
    fresh[i].store(i < thread.capacity ? thread.table[i].load(std::memory_order_relaxed) : nullptr,
                   std::memory_order_relaxed);
  }
  delete[] thread.table;
  thread.table = fresh;
  thread.capacity = capacity;
  tls_table.slots = fresh;
  tls_table.size = capacity;
}

// Unlinks `slot` from its object's list, its thread's list and its thread's table. Runtime mutex
// held.
void unlink_locked(Slot& slot) noexcept {
  slot.by_object.unlink();
  slot.by_thread.unlink();
  slot.thread->table[slot.object_id].store(nullptr, std::memory_order_relaxed);
  --runtime().live_records;
}

constexpr int kPrefetchDistance = 8;

void prefetch_object_neighbours(Slot& slot) noexcept {
  const auto at = ObjectSlots::s_iterator_to(slot);
  __builtin_prefetch(std::next(at).pointed_node(), 1);
  __builtin_prefetch(std::prev(at).pointed_node(), 1);
}

// Destroys in reverse order of first touch, as C++ destroys in reverse order of construction;
// freeing the newest allocation first also lets the allocator merge each chunk into the free
// space above it instead of re-binning it, which keeps the per-slot cost flat for large N.
template <class List>
void destroy_all(List& taken) noexcept {
  while (!taken.empty()) {
    Slot& slot = taken.back();
    taken.pop_back();
    delete &slot;  // runs the values' destructors; they may use other LocalObjects
  }
}

void thread_exit(ThreadState* thread) noexcept {
  if (thread == nullptr) return;
  for (;;) {
    ThreadSlots taken;
    {
      std::lock_guard lock(runtime().mutex);
      if (thread->slots.empty()) {
        // Nothing links to this thread any more: no other thread will read its table.
        delete[] thread->table;
        --runtime().live_threads;
        break;
      }
      // Unlinking touches each slot's neighbours in its object's list, which live in memory
      // the objects' creators wrote; prefetching them a few slots ahead overlaps those misses.
      auto ahead = thread->slots.begin();
      for (int i = 0; i < kPrefetchDistance && ahead != thread->slots.end(); ++i) ++ahead;
      while (!thread->slots.empty()) {
        if (ahead != thread->slots.end()) {
          prefetch_object_neighbours(*ahead);
          ++ahead;
        }
        Slot& slot = thread->slots.front();
        unlink_locked(slot);
        taken.push_back(slot);
      }
    }
    destroy_all(taken);  // may attach new slots to this thread: loop until none are left
  }
  if (tls_thread == thread) {
    tls_thread = nullptr;
    tls_table.slots = nullptr;
    tls_table.size = 0;
  }
  delete thread;
}

}  // namespace

ObjectCore::ObjectCore(ClassRef cls_in, std::vector<Value> args_in, Dict kwargs_in)
    : cls(std::move(cls_in)),
      state(cls->state_.get()),
      args(std::move(args_in)),
      kwargs(std::move(kwargs_in)) {
  class_generation = &state->generation;
  if (!state->slots.empty()) {
    shared = std::make_unique<SharedSlots>(state->slots.size());
    dict_first = false;
  }
  Runtime& rt = runtime();
  std::lock_guard lock(rt.mutex);
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

ObjectCore::~ObjectCore() {
  ObjectSlots taken;
  {
    Runtime& rt = runtime();
    std::lock_guard lock(rt.mutex);
    while (!slots.empty()) {
      Slot& slot = slots.front();
      unlink_locked(slot);
      taken.push_back(slot);
    }
    rt.free_ids.push_back(id);  // capacity reserved at creation: cannot throw
    --rt.live_objects;
  }
  destroy_all(taken);  // on this (the destroying) thread, outside the lock
}

Slot& attach(ObjectCore& object) {
  ThreadState& thread = this_thread_state();
  auto slot = std::make_unique<Slot>();
  slot->thread = &thread;
  slot->object_id = object.id;
  {
    Runtime& rt = runtime();
    std::lock_guard lock(rt.mutex);
    reserve_table(thread, object.id);
    object.slots.push_back(*slot);
    thread.slots.push_back(*slot);
    thread.table[object.id].store(slot.get(), std::memory_order_relaxed);
    ++rt.live_records;
  }
  return *slot.release();
}

void discard(Slot& slot) noexcept {
  {
    std::lock_guard lock(runtime().mutex);
    unlink_locked(slot);
  }
  delete &slot;
}

const ClassView& current_view(Slot& slot, ClassState& state) {
  const std::uint64_t generation = state.generation.load(std::memory_order_acquire);
  if (slot.defaults_generation != generation || slot.view == nullptr) {
    std::shared_ptr<const ClassView> fresh;
    std::uint64_t fresh_generation;
    {
      std::lock_guard lock(class_mutex());
      fresh = state.view;
      fresh_generation = state.generation.load(std::memory_order_relaxed);
    }
    if (slot.pins > 0 && slot.view != nullptr) {
      // A method found in the old snapshot may still be running on this thread: keep it.
      if (!slot.retired)
        slot.retired = std::make_unique<std::vector<std::shared_ptr<const ClassView>>>();
      slot.retired->push_back(std::move(slot.view));
    }
    slot.view = std::move(fresh);
    slot.defaults = &slot.view->attrs;
    slot.defaults_generation = fresh_generation;
  }
  return *slot.view;
}

}  // namespace localbag::detail

namespace localbag {

RuntimeStats runtime_stats() noexcept {
  detail::Runtime& rt = detail::runtime();
  std::lock_guard lock(rt.mutex);
  return {rt.live_objects, rt.live_threads, rt.live_records, rt.next_id};
}

}  // namespace localbag
