#pragma once
// Helpers shared by the unit tests: the EXPECT_LB_ERROR check of a localbag error, the
// numbered() name builder, value types with a fixed C++ name (lbtest::MoveOnly, lbtest::Counted),
// and the destructor ledger of the thread-exit tests (Tracked, destroyed_on). Test files bring
// what they use into their namespace with using-declarations (`using test::numbered;`).

#include <gtest/gtest.h>

#include <exception>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

// Runs `statement`, which must throw `ErrorType` (a localbag error class, named as at the call
// site) with exactly `message` as what() and "ErrorType" as python_type(). Any further arguments
// are statements run after those two checks, with `e` naming the caught exception.
#define EXPECT_LB_ERROR_AND(statement, ErrorType, message, ...)             \
  do {                                                                      \
    try {                                                                   \
      statement;                                                            \
      ADD_FAILURE() << "expected " #ErrorType " from: " #statement;         \
    } catch (const ErrorType& e) {                                          \
      EXPECT_EQ(std::string(e.what()), std::string(message));               \
      EXPECT_STREQ(e.python_type(), #ErrorType);                            \
      __VA_ARGS__                                                           \
    } catch (const std::exception& e) {                                     \
      ADD_FAILURE() << #statement " threw another exception: " << e.what(); \
    }                                                                       \
  } while (0)

#define EXPECT_LB_ERROR(statement, ErrorType, message) \
  EXPECT_LB_ERROR_AND(statement, ErrorType, message, )

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
// How many of the tags first, first + 1, ..., first + n - 1 were destroyed exactly once.
inline int destroyed_once(int first, int n) {
  int once = 0;
  for (int tag = first; tag < first + n; ++tag) once += destroyed_on(tag).size() == 1 ? 1 : 0;
  return once;
}
inline int live_tracked() {
  std::lock_guard lock(ledger.mutex);
  return ledger.live;
}

}  // namespace localbag::test
