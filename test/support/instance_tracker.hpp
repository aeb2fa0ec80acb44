// SPDX-License-Identifier: MIT
#pragma once
// Instance trackers, in the manner of abseil's absl/container/internal/test_instance_tracker.h:
// Tracked values record their lives in a Ledger.
//
// A Ledger counts every instance made (from a tag, by a copy, by a move) and destroyed. It can
// also keep one entry per tag, the destructor ledger of the lifetime, thread-exit and stress
// tests: the thread that made the tag's owner, and how often and on which threads that owner was
// destroyed. The owner of a tag is the instance made from it, or whatever it was moved into;
// LedgerOptions::copies says whether a copy shares its original's tag (without owning it) or gets
// a tag and entry of its own.
//
// Recording takes no lock, so that the stress suite can make and destroy values on many threads
// at once; only LedgerOptions::check_addresses, and the rare second destruction of one tag's
// owner, take the ledger's mutex.

#include <atomic>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

namespace localbag::test {

using Ids = std::vector<std::thread::id>;

// A number naming the calling thread: 1, 2, ... in the order threads first ask. Unlike a
// std::thread::id, never reused by a later thread. Safe to call during thread exit.
inline std::uint32_t thread_serial() {
  static std::atomic<std::uint32_t> next{1};
  thread_local std::uint32_t serial = 0;  // constant-initialised: no guard, no destructor
  if (serial == 0) serial = next.fetch_add(1);
  return serial;
}

// What a copy of a Tracked value is in its ledger.
enum class Copies {
  // The copy carries its original's tag but does not own it: only the owner records its
  // destruction in the tag's entry. For tests that name each value by a tag they choose.
  kShareTag,
  // The copy is a new value: it owns a fresh tag with an entry of its own.
  kOwnEntry,
};

struct LedgerOptions {
  // Tags 0 .. entries - 1 have an entry; 0 keeps the counts only.
  int entries = 0;
  Copies copies = Copies::kShareTag;
  // Remembers the address of every live instance (under the ledger's mutex), to catch an
  // instance destroyed twice, or destroyed without having been constructed.
  bool check_addresses = false;
};

class Tracked;

class Ledger {
 public:
  // The record of one tag. Threads are thread_serial() numbers, 0 for none yet.
  struct Entry {
    std::atomic<std::uint32_t> made_on{0};        // the thread that made the tag's owner
    std::atomic<std::uint32_t> destroyed{0};      // how many times an owner of the tag died
    std::atomic<std::uint32_t> destroyed_on{0};   // the thread of the first of those deaths
    std::atomic<std::thread::id> destroyed_by{};  // the same thread, as a std::thread::id
  };

  explicit Ledger(LedgerOptions options = {})
      : options_(options), entries_(static_cast<std::size_t>(options.entries)) {}
  Ledger(const Ledger&) = delete;
  Ledger& operator=(const Ledger&) = delete;

  const LedgerOptions& options() const { return options_; }

  // ---- Counts of instances (since the ledger was made) ----
  long constructed() const { return constructed_.load(); }  // made from a tag
  long copies() const { return copies_.load(); }            // made by copy construction
  long moves() const { return moves_.load(); }              // made by move construction
  long destroyed() const { return destroyed_.load(); }
  long live() const { return constructed() + copies() + moves() - destroyed(); }
  // Destructions at an address where no instance was alive: an instance destroyed twice, or one
  // never constructed. Counted with check_addresses only.
  long bad_destructions() const { return bad_destructions_.load(); }

  // ---- Entries ----
  // A fresh tag: 0, 1, 2, ... (aborts when the entries are used up).
  int next_tag() {
    const int tag = next_tag_.fetch_add(1);
    if (options_.entries > 0 && tag >= options_.entries) {
      std::fprintf(stderr, "Ledger: all %d entries used\n", options_.entries);
      std::abort();
    }
    return tag;
  }
  // The number of tags next_tag() handed out: they are 0 .. size() - 1.
  int size() const { return next_tag_.load(); }
  const Entry& at(int tag) const { return entries_[checked(tag)]; }
  // The threads on which an owner of `tag` was destroyed, in order: empty while it lives, one
  // thread once it died (more is a bug, or a tag given to two values).
  Ids destroyers(int tag) const {
    const Entry& e = at(tag);
    if (e.destroyed.load() == 0) return {};
    Ids out{e.destroyed_by.load()};
    std::lock_guard lock(mutex_);
    if (auto it = later_destroyers_.find(tag); it != later_destroyers_.end()) {
      out.insert(out.end(), it->second.begin(), it->second.end());
    }
    return out;
  }
  // Forgets every entry and the bad destructions, and starts next_tag() at 0 again, so that
  // the next test can use the same tags; the counts of instances go on. Call it while no other
  // thread uses the ledger.
  void forget_entries() {
    for (Entry& e : entries_) {
      e.made_on.store(0);
      e.destroyed.store(0);
      e.destroyed_on.store(0);
      e.destroyed_by.store(std::thread::id{});
    }
    std::lock_guard lock(mutex_);
    later_destroyers_.clear();
    bad_destructions_.store(0);
    next_tag_.store(0);
  }

 private:
  friend class Tracked;

  std::size_t checked(int tag) const {
    if (tag < 0 || tag >= options_.entries) {
      std::fprintf(stderr, "Ledger: tag %d outside its %d entries\n", tag, options_.entries);
      std::abort();
    }
    return static_cast<std::size_t>(tag);
  }
  // An instance is made at `self`; `counter` says how.
  void add(const void* self, std::atomic<long>& counter) {
    counter.fetch_add(1, std::memory_order_relaxed);
    if (options_.check_addresses) {
      std::lock_guard lock(mutex_);
      live_addresses_.insert(self);
    }
  }
  // The instance at `self` is destroyed.
  void remove(const void* self) {
    if (options_.check_addresses) {
      std::lock_guard lock(mutex_);
      if (live_addresses_.erase(self) == 0) bad_destructions_.fetch_add(1);
    }
    destroyed_.fetch_add(1, std::memory_order_relaxed);
  }
  // An owner of `tag` is made on this thread.
  void opened(int tag) {
    if (options_.entries > 0) entries_[checked(tag)].made_on.store(thread_serial());
  }
  // An owner of `tag` is destroyed on this thread.
  void closed(int tag) {
    if (options_.entries == 0) return;
    Entry& e = entries_[checked(tag)];
    std::thread::id none{};
    if (e.destroyed_by.compare_exchange_strong(none, std::this_thread::get_id())) {
      e.destroyed_on.store(thread_serial());
    } else {
      std::lock_guard lock(mutex_);
      later_destroyers_[tag].push_back(std::this_thread::get_id());
    }
    e.destroyed.fetch_add(1);
  }

  const LedgerOptions options_;
  std::vector<Entry> entries_;
  std::atomic<int> next_tag_{0};
  std::atomic<long> constructed_{0}, copies_{0}, moves_{0}, destroyed_{0}, bad_destructions_{0};
  mutable std::mutex mutex_;
  std::set<const void*> live_addresses_;  // with check_addresses
  std::map<int, Ids> later_destroyers_;   // destroyers after the first, by tag
};

// The ledger of values made from a tag alone (Tracked(int)), one per test binary: tags
// 0 .. 2^17 - 1, copies share their tag, addresses checked. Never destroyed, so that values that
// die during process exit still find it.
inline Ledger& default_ledger() {
  static Ledger* const ledger = new Ledger(
      LedgerOptions{.entries = 1 << 17, .copies = Copies::kShareTag, .check_addresses = true});
  return *ledger;
}

// A value that records its construction, copies, moves and destruction in a Ledger, and owns a
// tag there (see Copies for what a copy owns). A moved-from Tracked owns nothing.
class Tracked {
 public:
  // The owner of `tag` in `ledger`.
  Tracked(Ledger& ledger, int tag) : ledger_(&ledger), tag_(tag), state_(State::kOwner) {
    ledger.add(this, ledger.constructed_);
    ledger.opened(tag);
  }
  // The owner of a fresh tag (Ledger::next_tag) in `ledger`.
  explicit Tracked(Ledger& ledger) : Tracked(ledger, ledger.next_tag()) {}
  // The owner of `tag` in default_ledger().
  explicit Tracked(int tag) : Tracked(default_ledger(), tag) {}

  Tracked(const Tracked& other) : ledger_(other.ledger_), tag_(other.tag_), state_(State::kCopy) {
    ledger_->add(this, ledger_->copies_);
    if (other.moved_from()) {
      state_ = State::kMovedFrom;
    } else if (ledger_->options().copies == Copies::kOwnEntry) {
      tag_ = ledger_->next_tag();
      state_ = State::kOwner;
      ledger_->opened(tag_);
    }
  }
  Tracked(Tracked&& other) noexcept
      : ledger_(other.ledger_), tag_(other.tag_), state_(other.state_) {
    ledger_->add(this, ledger_->moves_);
    other.state_ = State::kMovedFrom;
  }
  Tracked& operator=(const Tracked&) = delete;
  Tracked& operator=(Tracked&&) = delete;
  ~Tracked() {
    if (state_ == State::kOwner) ledger_->closed(tag_);
    ledger_->remove(this);
  }

  int tag() const { return tag_; }
  bool owner() const { return state_ == State::kOwner; }
  bool moved_from() const { return state_ == State::kMovedFrom; }
  Ledger& ledger() const { return *ledger_; }

 private:
  enum class State : unsigned char { kOwner, kCopy, kMovedFrom };
  Ledger* ledger_;
  int tag_;
  State state_;
};

// ---- The default ledger, as the thread-exit tests read it ----

// The threads on which the owner of `tag` (made by Tracked(tag)) was destroyed.
inline Ids destroyed_on(int tag) { return default_ledger().destroyers(tag); }
// Tracked instances alive in the default ledger.
inline long live_tracked() { return default_ledger().live(); }
// How many of the tags first, first + 1, ..., first + n - 1 (made by Tracked(tag)) had their
// owner destroyed exactly once.
inline int destroyed_once(int first, int n) {
  int once = 0;
  for (int tag = first; tag < first + n; ++tag) {
    once += default_ledger().at(tag).destroyed.load() == 1 ? 1 : 0;
  }
  return once;
}

}  // namespace localbag::test
