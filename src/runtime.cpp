// SPDX-License-Identifier: MIT
#include "runtime.hpp"

#include <pthread.h>

#include <algorithm>
#include <bit>
#include <cassert>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <functional>
#include <thread>
#include <utility>

#include <boost/intrusive/circular_list_algorithms.hpp>

#include "localbag/detail/throw.hpp"
#include "localbag/stats.hpp"

namespace localbag::detail {

// The fast path's table: plain data, so no TLS wrapper and no dynamic initialization.
LOCALBAG_TLS RecordTable tls_table;
LOCALBAG_TLS ScopeLink* tls_scope;
LOCALBAG_TLS ContextHead* tls_implicit;

namespace {

using ContextList = boost::intrusive::list<
    ContextState, boost::intrusive::member_hook<ContextState, boost::intrusive::list_member_hook<>,
                                                &ContextState::in_runtime>>;
using SharedSlotsList = boost::intrusive::list<
    SharedSlots, boost::intrusive::member_hook<SharedSlots, boost::intrusive::list_member_hook<>,
                                               &SharedSlots::in_fork_list>>;

// The process-wide bookkeeping, guarded by `mutex`. Leaked on purpose: threads may still exit,
// and objects still die, while static destructors run at process exit.
struct Runtime {
  Runtime();
  std::mutex mutex;
  // Object ids: a min-heap, so the lowest free id is reused first and ids (and with them the
  // dense tables) stay as low as the number of objects alive allows. Capacity always >=
  // next_id: returning an id never allocates.
  std::vector<std::uint32_t> free_ids;
  std::uint32_t next_id = 0;
  // The object of each id in use (nullptr for a free one): what a scan of dicts reports
  // (scan_dicts). Its size follows free_ids' capacity.
  std::vector<const ObjectState*> object_by_id;
  std::uint64_t live_objects = 0;
  std::uint64_t live_threads = 0;
  std::uint64_t live_contexts = 0;  // explicit ones
  std::uint64_t live_records = 0;
  std::uint64_t table_bytes = 0;
  ContextList contexts;  // every ContextState not yet destroyed, implicit and explicit
  // A record names its context by index (4 bytes, not a pointer): the context of index i, or
  // nullptr; indexes of retired contexts are reused, last freed first.
  std::vector<ContextState*> context_by_index;
  std::vector<std::uint32_t> free_context_indexes;  // capacity >= context_by_index.size()

  // The handoff between batches (RuntimeLock, let_waiters_in): how many threads are blocked
  // taking the mutex, and how many times one of them has got it.
  std::atomic<std::uint32_t> waiting{0};
  std::atomic<std::uint32_t> handoffs{0};

  // What fork() must take before it copies the process: guarded by `fork_list_mutex`, which is
  // held with the runtime mutex only by the fork handlers and by AllRegistries' holders (taken
  // first, in the order fork_prepare takes them).
  std::mutex fork_list_mutex;
  std::vector<std::shared_mutex*> registry_mutexes;
  std::vector<Registry*> registries;  // registry_mutexes[i] is registries[i]'s
  SharedSlotsList shared_slots;
};

// Marks every copy of the runtime: Plugin refuses a plugin that carries one of its own
// (src/plugin/plugin.cpp reads the section from the file before loading it).
[[gnu::used, gnu::section(".localbag_runtime")]] const char kRuntimeMarker[] = "localbag runtime";

Runtime& runtime() {
  static Runtime* const instance = new Runtime;
  return *instance;
}

LOCALBAG_TLS ContextState* tls_thread;  // this thread's implicit context, once it has one
// The copies (copy_current_context) this thread is making, innermost first: a value's copy
// constructor may copy a context again, or fork().
struct CopyMark {
  const ContextState* source;
  const CopyMark* outer;
};
LOCALBAG_TLS const CopyMark* tls_copies;
LOCALBAG_TLS bool tls_guard_done;  // this thread's thread_local guard has already run

void thread_exit(ContextState* thread) noexcept;
pthread_key_t exit_key();

// Runs the thread-exit cleanup when the thread's C++ thread_local objects are destroyed: for
// std::thread, boost::thread, raw pthreads, and the main thread at exit(). Registered at the
// thread's first touch, so the values die before the thread_locals constructed before that
// touch, in C++'s reverse order of construction.
struct ThreadGuard {
  ~ThreadGuard() {
    if (ContextState* thread = tls_thread) {
      pthread_setspecific(exit_key(), nullptr);  // cleaned here: the key has nothing left to do
      thread_exit(thread);
    }
    tls_guard_done = true;
  }
};
thread_local ThreadGuard guard;

// Every thread state is also registered with this pthread key, whose destructor runs after all
// thread_local destructors. It cleans up a thread whose first touch came too late for the
// guard: inside a pthread key destructor (a C library's per-thread cleanup, a
// boost::thread_specific_ptr on a std::thread), or after the guard ran. glibc runs key
// destructors again while a destructor sets a key, so a touch from another key's destructor is
// cleaned up in the next round. (A first touch inside a pthread key destructor still registers
// the guard, after glibc ran the thread's thread_local destructors: glibc keeps that 32-byte
// node and never runs it, docs/reliability.md.)
void exit_key_destructor(void* state) { thread_exit(static_cast<ContextState*>(state)); }

pthread_key_t exit_key() {
  static const pthread_key_t key = [] {
    pthread_key_t k;
    if (pthread_key_create(&k, &exit_key_destructor) != 0) {
      std::fputs("localbag: pthread_key_create failed\n", stderr);
      std::abort();
    }
    return k;
  }();
  return key;
}

// Gives `state` an index and lists it; may throw bad_alloc, having changed nothing.
void register_context(ContextState& state) {
  Runtime& rt = runtime();
  const RuntimeLock held;
  if (!rt.free_context_indexes.empty()) {
    state.index = rt.free_context_indexes.back();
    rt.free_context_indexes.pop_back();
    rt.context_by_index[state.index] = &state;
  } else {
    // Room for every index to be returned later, so that returning one never allocates.
    if (rt.free_context_indexes.capacity() <= rt.context_by_index.size()) {
      rt.free_context_indexes.reserve(std::max<std::size_t>(16, rt.context_by_index.size() * 2));
    }
    state.index = static_cast<std::uint32_t>(rt.context_by_index.size());
    rt.context_by_index.push_back(&state);
  }
  rt.contexts.push_back(state);
  ++(state.implicit ? rt.live_threads : rt.live_contexts);
}

ContextState& this_thread_state() {
  if (tls_thread != nullptr) return *tls_thread;
  auto state = std::make_unique<ContextState>();
  if (pthread_setspecific(exit_key(), state.get()) != 0) throw std::bad_alloc();
  try {
    if (!tls_guard_done) {
      [[maybe_unused]] ThreadGuard* g = &guard;  // odr-use: constructs it, registers its destructor
    }
    state->implicit = true;
    register_context(*state);
  } catch (...) {
    pthread_setspecific(exit_key(), nullptr);  // the state is freed: the key must not keep it
    throw;
  }
  tls_thread = state.release();
  tls_implicit = tls_thread;
  return *tls_thread;
}

// The context the calling thread's accesses resolve to now.
ContextState& current_context() {
  return tls_scope != nullptr ? static_cast<ContextState&>(*tls_scope->context)
                             : this_thread_state();
}

// ---- Record tables --------------------------------------------------------------------------

constexpr std::uint32_t kDenseMin = 512;  // ids below this are always dense: 4 KiB at most

RecordTable table_of(const ContextState& context) noexcept {
  return {context.table, context.capacity,
          context.sparse_capacity == 0 ? 0 : context.sparse_capacity - 1, context.sparse};
}

// Updates `context.published` after a change to its table, and `tls_table` too when `context` is the
// one current on this thread (a copy fills a context that is not current yet).
void publish_table(ContextState& context) noexcept {
  context.published = table_of(context);
  const ContextHead* current = tls_scope != nullptr ? tls_scope->context : tls_thread;
  if (&context == current) tls_table = context.published;
}

std::uint32_t sparse_home(std::uint32_t id, std::uint32_t mask) noexcept {
  return (id * 0x9e3779b9u) >> 7 & mask;  // spreads consecutive ids
}

// The sparse entry for `id`, or nullptr.
SparseRecord* sparse_find(SparseRecord* sparse, std::uint32_t mask, std::uint32_t id) noexcept {
  if (sparse == nullptr) return nullptr;
  for (std::uint32_t i = sparse_home(id, mask);; i = (i + 1) & mask) {
    if (sparse[i].id == id) return &sparse[i];
    if (sparse[i].id == SparseRecord::kNoId) return nullptr;
  }
}

// The table entry of `id` in `thread`'s table, or nullptr when it has none.
std::atomic<RecordHead*>* entry_of(ContextState& thread, std::uint32_t id) noexcept {
  if (id < thread.capacity) return &thread.table[id];
  const std::uint32_t mask = thread.sparse_capacity - 1;
  SparseRecord* e = sparse_find(thread.sparse, mask, id);
  return e != nullptr ? &e->record : nullptr;
}

// Table arrays replaced or freed under the runtime mutex, deleted after it is released: a free
// can make malloc consolidate and give memory back to the kernel, which takes milliseconds after
// a large cleanup, and must not happen while other threads wait for the mutex. Declared before
// the RuntimeLock, so that it is destroyed after it.
struct RetiredTables {
  std::atomic<RecordHead*>* table = nullptr;
  SparseRecord* sparse = nullptr;
  RetiredTables() = default;
  RetiredTables(const RetiredTables&) = delete;
  RetiredTables& operator=(const RetiredTables&) = delete;
  ~RetiredTables() {
    delete[] table;
    delete[] sparse;
  }
};

// Arrays for a table that must grow, allocated (and zeroed) before the runtime mutex is taken:
// the allocation can take milliseconds (page faults, a kernel lock shared with every thread's
// mmap and munmap), and must not happen while other threads wait for the mutex.
struct TableSpares {
  std::unique_ptr<std::atomic<RecordHead*>[]> table;
  std::uint32_t table_capacity = 0;
  std::unique_ptr<SparseRecord[]> sparse;
  std::uint32_t sparse_capacity = 0;
  // What the last reserve_entry found missing; 0 when nothing.
  std::uint32_t want_table = 0;
  std::uint32_t want_sparse = 0;

  // Called without the mutex.
  void allocate() {
    if (want_table != 0 && want_table != table_capacity) {
      table = std::make_unique<std::atomic<RecordHead*>[]>(want_table);  // value-initialised
      table_capacity = want_table;
    }
    if (want_sparse != 0 && want_sparse != sparse_capacity) {
      sparse = std::make_unique<SparseRecord[]>(want_sparse);
      sparse_capacity = want_sparse;
    }
    want_table = want_sparse = 0;
  }
};

std::uint32_t sparse_capacity_for(std::uint32_t entries) noexcept {
  return std::bit_ceil(std::max<std::uint32_t>(16, entries * 2));
}

// Rebuilds the sparse part into `spares.sparse` (of sparse_capacity_for(entries) entries),
// keeping only entries that still hold a record and whose id the dense part does not cover.
void rebuild_sparse(const RuntimeLock&, ContextState& thread, TableSpares& spares,
                    RetiredTables& retired) noexcept {
  const std::uint32_t capacity = spares.sparse_capacity;
  SparseRecord* fresh = spares.sparse.get();
  std::uint32_t used = 0;
  for (std::uint32_t i = 0; i < thread.sparse_capacity; ++i) {
    const SparseRecord& old = thread.sparse[i];
    RecordHead* record = old.record.load(std::memory_order_relaxed);
    if (old.id == SparseRecord::kNoId || record == nullptr) continue;
    if (old.id < thread.capacity) {
      thread.table[old.id].store(record, std::memory_order_relaxed);  // now dense
      continue;
    }
    std::uint32_t j = sparse_home(old.id, capacity - 1);
    while (fresh[j].id != SparseRecord::kNoId) j = (j + 1) & (capacity - 1);
    fresh[j].id = old.id;
    fresh[j].record.store(record, std::memory_order_relaxed);
    ++used;
  }
  Runtime& rt = runtime();
  rt.table_bytes -= std::uint64_t{thread.sparse_capacity} * sizeof(SparseRecord);
  rt.table_bytes += std::uint64_t{capacity} * sizeof(SparseRecord);
  assert(retired.sparse == nullptr);
  retired.sparse = thread.sparse;
  thread.sparse = spares.sparse.release();
  spares.sparse_capacity = 0;
  thread.sparse_capacity = capacity;
  thread.sparse_used = used;
}

// Makes room for `id` in `thread`'s table and returns its entry. Called on the thread where the
// context is current, or by the copy that fills a new context no one can reach yet. The
// dense part grows to cover `id` only while it stays within 8 entries per record the thread
// holds (or kDenseMin); other ids go to the sparse part. Returns nullptr, having set
// `spares.want_*`, when it needs a larger array than `spares` holds: the caller allocates it
// without the mutex and calls again.
std::atomic<RecordHead*>* reserve_entry(const RuntimeLock& held, ContextState& thread,
                                        std::uint32_t id, TableSpares& spares,
                                        RetiredTables& retired) noexcept {
  if (id < thread.capacity) return &thread.table[id];
  const std::uint64_t wanted = std::bit_ceil(std::max<std::uint64_t>(16, std::uint64_t{id} + 1));
  const std::uint64_t allowed = std::max<std::uint64_t>(kDenseMin, 8 * (thread.record_count + 1));
  if (wanted <= allowed) {
    const auto capacity = static_cast<std::uint32_t>(wanted);
    const std::uint32_t sparse_wanted =
        thread.sparse_used > 0 ? sparse_capacity_for(thread.sparse_used) : 0;
    if (spares.table_capacity != capacity || spares.sparse_capacity != sparse_wanted) {
      spares.want_table = capacity;
      spares.want_sparse = sparse_wanted;
      return nullptr;
    }
    std::atomic<RecordHead*>* fresh = spares.table.get();
    for (std::uint32_t i = 0; i < thread.capacity; ++i) {
      fresh[i].store(thread.table[i].load(std::memory_order_relaxed), std::memory_order_relaxed);
    }
    Runtime& rt = runtime();
    rt.table_bytes += (std::uint64_t{capacity} - thread.capacity) * sizeof(std::atomic<void*>);
    retired.table = thread.table;
    thread.table = spares.table.release();
    spares.table_capacity = 0;
    thread.capacity = capacity;
    if (thread.sparse_used > 0) rebuild_sparse(held, thread, spares, retired);  // moves ids
    publish_table(thread);
    return &thread.table[id];
  }
  if (SparseRecord* e = sparse_find(thread.sparse, thread.sparse_capacity - 1, id)) {
    return &e->record;  // an id this thread touched before, cleared since
  }
  if ((thread.sparse_used + 1) * 2 > thread.sparse_capacity) {
    const std::uint32_t sparse_wanted = sparse_capacity_for(thread.sparse_used + 1);
    if (spares.sparse_capacity != sparse_wanted) {
      spares.want_sparse = sparse_wanted;
      return nullptr;
    }
    rebuild_sparse(held, thread, spares, retired);
  }
  const std::uint32_t mask = thread.sparse_capacity - 1;
  std::uint32_t i = sparse_home(id, mask);
  while (thread.sparse[i].id != SparseRecord::kNoId) i = (i + 1) & mask;
  thread.sparse[i].id = id;
  ++thread.sparse_used;
  publish_table(thread);
  return &thread.sparse[i].record;
}

void free_tables(const RuntimeLock&, ContextState& thread, RetiredTables& retired) noexcept {
  runtime().table_bytes -= std::uint64_t{thread.capacity} * sizeof(std::atomic<void*>) +
                           std::uint64_t{thread.sparse_capacity} * sizeof(SparseRecord);
  retired.table = thread.table;
  retired.sparse = thread.sparse;
  thread.table = nullptr;
  thread.sparse = nullptr;
  thread.capacity = thread.sparse_capacity = thread.sparse_used = 0;
}

// Unlinks `record` from its object's list, its thread's list and its thread's table.
void unlink(const RuntimeLock&, Record& record) noexcept {
  record.by_object.unlink();
  record.by_context.unlink();
  ContextState& thread = *runtime().context_by_index[record.context_index];  // its context
  --thread.record_count;
  std::atomic<RecordHead*>* entry = entry_of(thread, record.object_id);
  assert(entry != nullptr);
  entry->store(nullptr, std::memory_order_relaxed);
  --runtime().live_records;
}

// ---- The runtime mutex ---------------------------------------------------------------------

// Polls `done` for up to 2 ms; returns whether it became true. One batch holds the runtime
// mutex for far less than that (tens of microseconds), while a thread that sleeps on the mutex
// can take a millisecond or more to be woken again (a virtual machine whose other vCPU idles): a
// waiter that spins is served within a batch, one that sleeps is not. It does not yield: the
// holder runs on another CPU, and a yield would only hand this one to an unrelated thread.
template <class Done>
bool spin_until(Done done) noexcept {
  const auto start = std::chrono::steady_clock::now();
  for (unsigned i = 1;; ++i) {
    if (done()) return true;
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
    if (i % 64 == 0 && std::chrono::steady_clock::now() - start > std::chrono::milliseconds(2)) {
      return false;
    }
  }
}

// ---- Cleanup ------------------------------------------------------------------------------

// At most this many records are unlinked per hold of the runtime mutex, so that a thread
// exiting with (or an object dying with) any number of records never holds up another thread's
// create, destroy or first access for more than one batch (docs/design.md, "Thread exit").
constexpr int kBatch = 256;
constexpr int kPrefetchDistance = 8;

void prefetch_object_neighbours(Record& record) noexcept {
  const auto at = ObjectRecords::s_iterator_to(record);
  __builtin_prefetch(std::next(at).pointed_node(), 1);
  __builtin_prefetch(std::prev(at).pointed_node(), 1);
}

// Moves up to kBatch records, newest first, from `from` into `taken`, keeping their order, so
// that destroy_all destroys the newest first. `unlink` removes each from `from`.
template <class List>
void take_batch(const RuntimeLock& held, List& from, List& taken) noexcept {
  auto ahead = from.rbegin();
  for (int i = 0; i < kPrefetchDistance && ahead != from.rend(); ++i) ++ahead;
  for (int n = 0; n < kBatch && !from.empty(); ++n) {
    if (ahead != from.rend()) {
      prefetch_object_neighbours(*ahead);
      ++ahead;
    }
    Record& record = from.back();
    unlink(held, record);
    taken.push_front(record);
  }
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

// Destroys `thread`'s records in batches (its values' destructors run on the calling thread),
// then the context. A destructor that touches an object attaches a new record to the context
// current on this thread, which for a thread's exit is that thread's: the loop takes that one
// too. (An explicit context being retired has no handle left, so it cannot be current.)
void retire_records(ContextState* thread) noexcept {
  for (bool first = true;; first = false) {
    if (!first) let_waiters_in();
    ContextRecords taken;
    RetiredTables retired;
    {
      const RuntimeLock held;
      if (thread->records.empty()) {
        // Nothing links to this thread any more: no other thread will read its table.
        free_tables(held, *thread, retired);
        Runtime& rt = runtime();
        rt.context_by_index[thread->index] = nullptr;
        assert(rt.free_context_indexes.size() < rt.free_context_indexes.capacity());
        rt.free_context_indexes.push_back(thread->index);  // reserved: cannot throw
        rt.contexts.erase(ContextList::s_iterator_to(*thread));
        --(thread->implicit ? rt.live_threads : rt.live_contexts);
        break;
      }
      take_batch(held, thread->records, taken);
    }
    destroy_all(taken);
  }
  delete thread;
}

void thread_exit(ContextState* thread) noexcept {
  if (thread == nullptr) return;
  retire_records(thread);
  if (tls_thread == thread) {
    tls_thread = nullptr;
    tls_implicit = nullptr;
    // A scope still entered (a thread_local one, say) keeps its context current.
    tls_table = tls_scope != nullptr ? tls_scope->context->published : RecordTable{};
  }
}

// ---- fork() ---------------------------------------------------------------------------------
// prepare takes every mutex localbag has, in the one order they nest (registries, classes,
// slot values, runtime), so the child never inherits one that a vanished thread held; parent and
// child release them. The child then retires every other thread's state, on the forking thread,
// as CPython clears the other thread states of a forked child: their values' destructors run
// there, before fork() returns in the child.

void fork_prepare() noexcept {
  Runtime& rt = runtime();
  rt.fork_list_mutex.lock();
  for (std::shared_mutex* m : rt.registry_mutexes) m->lock();
  class_mutex().lock();
  for (SharedSlots& s : rt.shared_slots) s.mutex.lock();
  lock_runtime_mutex();  // counted, so a batched cleanup lets fork() in between two batches
}

// Parent and child release what fork_prepare took. A registry mutex is a pthread rwlock, which
// glibc unlocks as the writer only for the thread id that locked it, and the forking thread has
// a new id in the child: there it is built afresh instead (no other thread exists to hold it).
void fork_release(bool in_child) noexcept {
  Runtime& rt = runtime();
  rt.mutex.unlock();
  for (SharedSlots& s : rt.shared_slots) s.mutex.unlock();
  class_mutex().unlock();
  for (auto it = rt.registry_mutexes.rbegin(); it != rt.registry_mutexes.rend(); ++it) {
    if (in_child) {
      ::new (static_cast<void*>(*it)) std::shared_mutex;
    } else {
      (*it)->unlock();
    }
  }
  rt.fork_list_mutex.unlock();
}

void fork_parent() noexcept { fork_release(false); }

// Whether one of the scopes entered on this thread has `context` entered.
bool entered_here(const ContextHead& context) noexcept {
  for (const ScopeLink* s = tls_scope; s != nullptr; s = s->outer) {
    if (s->context == &context) return true;
  }
  return false;
}

void fork_child() noexcept {
  fork_release(true);
  runtime().waiting.store(0);  // threads that were waiting do not exist in the child
  // Explicit contexts that vanished threads had entered will never be left by them: their scopes'
  // holds go, and such a context can be entered here.
  // A copy that a vanished thread was making will not finish: the records it deferred are
  // destroyed here. A context a vanished thread was retiring (no holds left) is retired here.
  std::vector<ContextState*> vanished;
  std::vector<ContextState*> abandoned;
  ContextRecords deferred;
  {
    const RuntimeLock held;
    for (ContextState& c : runtime().contexts) {
      if (c.implicit && &c != tls_thread) vanished.push_back(&c);
      if (!c.implicit && c.holds.load() == 0) vanished.push_back(&c);
      if (!c.implicit && (c.holds.load() & 1) != 0 && !entered_here(c)) abandoned.push_back(&c);
      // Only the forking thread's own copies (fork() called by a value's copy constructor) go on.
      c.copying = 0;
      for (const CopyMark* m = tls_copies; m != nullptr; m = m->outer) c.copying += m->source == &c;
      if (c.copying == 0) deferred.splice(deferred.end(), c.deferred);
    }
  }
  destroy_all(deferred);
  for (ContextState* c : vanished) retire_records(c);
  for (ContextState* c : abandoned) drop_holds(c, 1);
}

Runtime::Runtime() {
  if (pthread_atfork(&fork_prepare, &fork_parent, &fork_child) != 0) {
    std::fputs("localbag: pthread_atfork failed\n", stderr);
    std::abort();
  }
}

}  // namespace

std::mutex& runtime_mutex() { return runtime().mutex; }

// Takes the runtime mutex as a counted waiter when it is taken (see RuntimeLock).
void lock_runtime_mutex() noexcept {
  Runtime& rt = runtime();
  if (rt.mutex.try_lock()) return;
  // Order matters for let_waiters_in: `waiting` drops before `handoffs` moves, so a cleanup
  // that read `handoffs` before it saw this thread waiting always sees `handoffs` move.
  rt.waiting.fetch_add(1);
  // Spin first (spin_until says why). std::mutex::lock throws only on a broken mutex (EINVAL,
  // EDEADLK): this function is noexcept, so that terminates rather than leave `waiting` high.
  if (!spin_until([&] { return rt.mutex.try_lock(); })) rt.mutex.lock();
  rt.waiting.fetch_sub(1);
  rt.handoffs.fetch_add(1);
  rt.handoffs.notify_all();
}

RuntimeLock::RuntimeLock() {
  // Threads already waiting go first: std::mutex is not fair, and a thread that takes it again
  // and again (a loop of object deaths) would otherwise keep a waiter out indefinitely.
  if (runtime().waiting.load(std::memory_order_relaxed) != 0) let_waiters_in();
  lock_runtime_mutex();
}

RuntimeLock::~RuntimeLock() { runtime().mutex.unlock(); }

void let_waiters_in() noexcept {
  Runtime& rt = runtime();
  const std::uint32_t seen = rt.handoffs.load();
  if (rt.waiting.load() == 0) return;
  // A waiter spins (see RuntimeLock), so the handoff usually takes well under a microsecond.
  if (spin_until([&] { return rt.handoffs.load() != seen; })) return;
  rt.handoffs.wait(seen);  // until a waiter has taken the mutex
}

RecordHead* sparse_record_head(std::uint32_t id) noexcept {
  const RecordTable& table = tls_table;
  SparseRecord* e = sparse_find(table.sparse, table.sparse_mask, id);
  return e != nullptr ? e->record.load(std::memory_order_relaxed) : nullptr;
}

void register_for_fork(std::shared_mutex& registry_mutex, Registry& registry) {
  Runtime& rt = runtime();
  std::lock_guard lock(rt.fork_list_mutex);
  rt.registries.reserve(rt.registries.size() + 1);
  rt.registry_mutexes.push_back(&registry_mutex);
  rt.registries.push_back(&registry);  // reserved: cannot throw
}

void unregister_for_fork(std::shared_mutex& registry_mutex) noexcept {
  Runtime& rt = runtime();
  std::lock_guard lock(rt.fork_list_mutex);
  for (std::size_t i = 0; i < rt.registry_mutexes.size(); ++i) {
    if (rt.registry_mutexes[i] == &registry_mutex) {
      rt.registry_mutexes.erase(rt.registry_mutexes.begin() + static_cast<std::ptrdiff_t>(i));
      rt.registries.erase(rt.registries.begin() + static_cast<std::ptrdiff_t>(i));
      break;
    }
  }
}

AllRegistries::AllRegistries() {
  Runtime& rt = runtime();
  rt.fork_list_mutex.lock();
  for (std::shared_mutex* m : rt.registry_mutexes) m->lock();  // in fork_prepare's order
}

AllRegistries::~AllRegistries() {
  Runtime& rt = runtime();
  for (auto it = rt.registry_mutexes.rbegin(); it != rt.registry_mutexes.rend(); ++it) {
    (*it)->unlock();
  }
  rt.fork_list_mutex.unlock();
}

const std::vector<Registry*>& AllRegistries::registries() const noexcept {
  return runtime().registries;
}

SharedSlots::SharedSlots(std::size_t n) : values(n), present(n, false) {
  Runtime& rt = runtime();
  std::lock_guard lock(rt.fork_list_mutex);
  rt.shared_slots.push_back(*this);
}

SharedSlots::~SharedSlots() {
  Runtime& rt = runtime();
  std::lock_guard lock(rt.fork_list_mutex);
  rt.shared_slots.erase(SharedSlotsList::s_iterator_to(*this));
}

ObjectState::ObjectState(ClassRef cls_in, std::vector<Value> args_in, Dict kwargs_in)
    : cls(std::move(cls_in)),
      class_state(&ClassAccess::state(*cls)),
      args(std::move(args_in)),
      kwargs(std::move(kwargs_in)) {
  class_view = &class_state->current;
  if (!class_state->slots.empty()) {
    shared = std::make_unique<SharedSlots>(class_state->slots.size());
    dict_first = false;
  }
  Runtime& rt = runtime();
  // A new id may need a longer object_by_id and more free_ids capacity (so that the id's
  // release never allocates). Both are allocated here, without the runtime mutex, and tried
  // again if another object took the room meanwhile; what they replace is freed after the lock.
  std::vector<std::uint32_t> ids_room;
  std::vector<const ObjectState*> objects_room;
  for (;;) {
    std::size_t want_ids = 0;
    std::size_t want_objects = 0;
    {
      const RuntimeLock held;
      if (rt.free_ids.empty()) {
        if (rt.object_by_id.size() <= rt.next_id) {
          want_objects = std::max<std::size_t>(64, 2 * rt.object_by_id.size());
        }
        if (rt.free_ids.capacity() <= rt.next_id) {
          want_ids = std::max<std::size_t>(64, std::size_t{rt.next_id} * 2);
        }
      }
      if (objects_room.size() >= want_objects && ids_room.capacity() >= want_ids) {
        if (want_objects != 0) {
          std::copy(rt.object_by_id.begin(), rt.object_by_id.end(), objects_room.begin());
          objects_room.swap(rt.object_by_id);
        }
        if (want_ids != 0) ids_room.swap(rt.free_ids);  // both empty: nothing to copy
        if (!rt.free_ids.empty()) {
          std::pop_heap(rt.free_ids.begin(), rt.free_ids.end(), std::greater<>{});
          id = rt.free_ids.back();
          rt.free_ids.pop_back();
        } else {
          id = rt.next_id++;
        }
        assert(id < rt.object_by_id.size() && rt.next_id <= rt.free_ids.capacity());
        rt.object_by_id[id] = this;
        ++rt.live_objects;
        class_state->objects.fetch_add(1, std::memory_order_relaxed);  // nothing below throws
        break;
      }
    }
    if (want_objects > objects_room.size()) objects_room.assign(want_objects, nullptr);
    if (want_ids > ids_room.capacity()) ids_room.reserve(want_ids);
  }
}

namespace {

// Moves the records of `taken` whose context a copy is reading (copy_current_context) to that
// context's `deferred` list: the copier destroys them when it is done.
void defer_copied(const RuntimeLock&, ObjectRecords& taken) noexcept {
  Runtime& rt = runtime();
  for (auto it = taken.begin(); it != taken.end();) {
    ContextState& context = *rt.context_by_index[it->context_index];
    if (context.copying == 0) {
      ++it;
      continue;
    }
    Record& record = *it;
    it = taken.erase(it);
    context.deferred.push_back(record);
  }
}

}  // namespace

ObjectState::~ObjectState() {
  Runtime& rt = runtime();
  for (bool done = false, first = true; !done; first = false) {
    if (!first) let_waiters_in();
    ObjectRecords taken;
    {
      const RuntimeLock held;
      take_batch(held, records, taken);
      defer_copied(held, taken);
      if (records.empty()) {
        assert(rt.free_ids.size() < rt.free_ids.capacity());  // reserved when handed out
        rt.free_ids.push_back(id);
        std::push_heap(rt.free_ids.begin(), rt.free_ids.end(), std::greater<>{});
        rt.object_by_id[id] = nullptr;
        --rt.live_objects;
        done = true;
      }
    }
    destroy_all(taken);  // on this (the destroying) thread, outside the lock
  }
  // Release: a Plugin::usage() that reads 0 sees every record of the object destroyed.
  class_state->objects.fetch_sub(1, std::memory_order_release);
}

Record& attach(ObjectState& object) {
  ContextState& thread = current_context();
  auto record = std::make_unique<Record>();
  record->context_index = thread.index;
  record->object_id = object.id;
  TableSpares spares;
  for (;;) {
    spares.allocate();  // without the mutex; nothing the first time round
    RetiredTables retired;
    const RuntimeLock held;
    std::atomic<RecordHead*>* entry = reserve_entry(held, thread, object.id, spares, retired);
    if (entry == nullptr) continue;  // a spare is missing; the table may change meanwhile
    object.records.push_back(*record);
    thread.records.push_back(*record);
    ++thread.record_count;
    entry->store(record.get(), std::memory_order_relaxed);
    ++runtime().live_records;
    break;
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

// ---- Explicit contexts ------------------------------------------------------------------------

ContextState* new_context() {
  auto context = std::make_unique<ContextState>();
  register_context(*context);
  return context.release();
}

void drop_holds(ContextState* context, std::uint64_t n) noexcept {
  if (context->holds.fetch_sub(n, std::memory_order_acq_rel) == n) retire_records(context);
}

void retire_context(ContextHead* context) noexcept {
  retire_records(static_cast<ContextState*>(context));
}

void enter_slow(const ContextHead& context, std::uint64_t before) {
  if ((before & 1) != 0) {
    // Read the chain of this thread's scopes: the context's own word says only that it is
    // entered.
    throw_context_entered(entered_here(context) ? "on this thread" : "on another thread");
  }
  // Entered, while another thread reads its dicts under the runtime mutex (scan_dicts): a read
  // of pointers, no user code, so it ends soon.
  while ((context.holds.load(std::memory_order_acquire) & ContextHead::kScanned) != 0) {
    std::this_thread::yield();
  }
}

ScanSkipped scan_dicts(FunctionRef<void(const ScannedDict&)> visit) {
  Runtime& rt = runtime();
  ScanSkipped skipped;
  ContextState* to_retire = nullptr;  // a list through ContextState::retire_next
  {
    const RuntimeLock held;
    for (ContextState& c : rt.contexts) {
      bool this_thread = false;
      bool marked = false;
      if (c.implicit) {
        this_thread = &c == tls_thread;
        if (!this_thread) {
          ++skipped.threads;
          continue;
        }
      } else if (entered_here(c)) {
        this_thread = true;
      } else {
        const std::uint64_t before =
            c.holds.fetch_or(ContextHead::kScanned, std::memory_order_acquire);
        if ((before & 1) != 0 || before == 0) {  // entered elsewhere, or retiring
          c.holds.fetch_and(~ContextHead::kScanned, std::memory_order_relaxed);
          if ((before & 1) != 0) ++skipped.entered;
          continue;
        }
        marked = true;
      }
      for (const Record& r : c.records) {
        const ObjectState* object =
            r.object_id < rt.object_by_id.size() ? rt.object_by_id[r.object_id] : nullptr;
        visit(ScannedDict{object, &r.dict, &c, this_thread});
      }
      if (marked) {
        const std::uint64_t after =
            c.holds.fetch_and(~ContextHead::kScanned, std::memory_order_acq_rel) &
            ~ContextHead::kScanned;
        if (after == 0) {  // its last handle went during the scan: it retires here
          c.retire_next = to_retire;
          to_retire = &c;
        }
      }
    }
  }
  while (to_retire != nullptr) {
    ContextState* c = std::exchange(to_retire, to_retire->retire_next);
    retire_records(c);
  }
  return skipped;
}

void abort_scope_misuse() noexcept {
  // A scope destroyed on another thread than the one it entered on (held across a co_await that
  // resumed elsewhere), or out of order: this thread's table would be wrong from here on.
  std::fputs("localbag: a Context::Scope was left on a thread where it is not the innermost "
             "one entered (held across a suspension that resumed on another thread?)\n",
             stderr);
  std::abort();
}

namespace {

using ObjectAlgorithms = boost::intrusive::circular_list_algorithms<ObjectRecords::node_traits>;

// Links `copy` into its object's list beside `source` (a record of the same object) and into
// `context`'s list and table. Returns false, linking nothing, when `source` was unlinked (its
// object died).
bool link_copy(ContextState& context, Record& source, Record& copy) {
  TableSpares spares;
  for (;;) {
    spares.allocate();
    RetiredTables retired;
    const RuntimeLock held;
    if (!source.by_object.is_linked()) return false;
    std::atomic<RecordHead*>* entry =
        reserve_entry(held, context, source.object_id, spares, retired);
    if (entry == nullptr) continue;
    ObjectAlgorithms::link_after(ObjectRecords::value_traits::to_node_ptr(source),
                                 ObjectRecords::value_traits::to_node_ptr(copy));
    context.records.push_back(copy);
    ++context.record_count;
    entry->store(&copy, std::memory_order_relaxed);
    ++runtime().live_records;
    return true;
  }
}

// Ends a copy of `source`: returns the records an object's death left to the copier.
void end_copy(ContextState& source, ContextRecords& deferred) noexcept {
  const RuntimeLock held;
  if (--source.copying == 0) deferred.splice(deferred.end(), source.deferred);
}

}  // namespace

ContextState* copy_current_context() {
  ContextState& source = current_context();
  ContextState* fresh = new_context();
  // The source's records, listed under the mutex; while `copying` is set, an object's death
  // leaves them to this function instead of destroying them, so they stay readable.
  std::vector<Record*> sources;
  try {
    for (;;) {
      std::size_t want = 0;
      {
        const RuntimeLock held;
        want = source.record_count;
        if (sources.capacity() >= want) {
          for (Record& r : source.records) sources.push_back(&r);
          ++source.copying;
          break;
        }
      }
      sources.reserve(want);
    }
  } catch (...) {
    drop_holds(fresh, 2);
    throw;
  }
  ContextRecords deferred;
  std::exception_ptr failed;
  const CopyMark mark{&source, tls_copies};
  tls_copies = &mark;
  for (Record* from : sources) {
    // The copy starts without a class view: its first get takes the class's current one.
    try {
      auto copy = std::make_unique<Record>();
      copy->dict = from->dict;  // TypeError for a value that cannot be copied
      copy->context_index = fresh->index;
      copy->object_id = from->object_id;
      if (link_copy(*fresh, *from, *copy)) copy.release();
    } catch (...) {
      failed = std::current_exception();
      break;
    }
  }
  tls_copies = mark.outer;
  end_copy(source, deferred);
  destroy_all(deferred);
  if (failed) {
    drop_holds(fresh, 2);  // destroys the copies made so far, here
    std::rethrow_exception(failed);
  }
  return fresh;
}

void release_thread_context() noexcept {
  ContextState* thread = tls_thread;
  if (thread == nullptr) return;
  pthread_setspecific(exit_key(), nullptr);  // the key must not clean it up again at exit
  thread_exit(thread);
}

}  // namespace localbag::detail

namespace localbag {

RuntimeStats runtime_stats() noexcept {
  detail::Runtime& rt = detail::runtime();
  const detail::RuntimeLock held;
  return {rt.live_objects, rt.live_threads, rt.live_records, rt.next_id, rt.table_bytes,
          rt.live_contexts};
}

}  // namespace localbag
