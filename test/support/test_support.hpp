#pragma once
// Helpers shared by the unit tests: the EXPECT_LB_ERROR check of a localbag error
// (error_matchers.hpp), the numbered() name builder, value types with a fixed C++ name
// (lbtest::MoveOnly, lbtest::Counted), and the destructor ledger of the thread-exit tests (Tracked, destroyed_on). Test files bring
// what they use into their namespace with using-declarations (`using test::numbered;`).

#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "error_matchers.hpp"

// Value types of several tests, in a namespace of their own: the name "lbtest::MoveOnly" appears
// in expected error texts.
namespace lbtest {

// Move-only: a Value holding one cannot be copied.
struct MoveOnly {
  explicit MoveOnly(int v) : value(v) {}
  MoveOnly(MoveOnly&&) noexcept = default;
  MoveOnly(const MoveOnly&) = delete;
  int value;
};

// Counts live instances to prove each is destroyed exactly once.
struct Counted {
  static inline int live = 0;
  explicit Counted(int v) : value(v) { ++live; }
  Counted(const Counted& o) : value(o.value) { ++live; }
  Counted(Counted&& o) noexcept : value(o.value) { ++live; }
  ~Counted() { --live; }
  int value;
};

}  // namespace lbtest

namespace localbag::test {

// "prefix" + number, built by appending (GCC 12 warns, wrongly, on `"literal" + std::string`
// at -O3: -Wrestrict).
inline std::string numbered(std::string_view prefix, long long n) {
  std::string s(prefix);
  s += std::to_string(n);
  return s;
}

// ---- The destructor ledger of the thread-exit tests ------------------------------------------

using Ids = std::vector<std::thread::id>;

// The threads on which the owner of `tag` was destroyed, from any ledger with a `mutex` and a
// `destroyed` map from tag to threads.
template <class LedgerType>
std::vector<std::thread::id> destroyed_on(LedgerType& ledger, int tag) {
  std::lock_guard lock(ledger.mutex);
  auto it = ledger.destroyed.find(tag);
  return it == ledger.destroyed.end() ? std::vector<std::thread::id>{} : it->second;
}

// Records, for each tag, the threads on which its owning instance was destroyed.
struct Ledger {
  std::mutex mutex;
  std::map<int, std::vector<std::thread::id>> destroyed;
  int live = 0;
};
inline Ledger ledger;

// A tagged value. The instance that owns the tag (the original, or whatever it was moved into)
// records the thread that destroyed it in `ledger`; copies do not own it.
struct Tracked {
  explicit Tracked(int t) : tag(t), owner(true) { add(); }
  Tracked(const Tracked& o) : tag(o.tag), owner(false) { add(); }
  Tracked(Tracked&& o) noexcept : tag(o.tag), owner(o.owner) {
    o.owner = false;
    add();
  }
  ~Tracked() {
    std::lock_guard lock(ledger.mutex);
    --ledger.live;
    if (owner) ledger.destroyed[tag].push_back(std::this_thread::get_id());
  }
  static void add() {
    std::lock_guard lock(ledger.mutex);
    ++ledger.live;
  }
  int tag;
  bool owner;
};

inline std::vector<std::thread::id> destroyed_on(int tag) { return destroyed_on(ledger, tag); }
inline int live_tracked() {
  std::lock_guard lock(ledger.mutex);
  return ledger.live;
}

}  // namespace localbag::test
