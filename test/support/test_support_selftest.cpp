// SPDX-License-Identifier: MIT
// The test support library's own tests: the Ledger counts constructions, copies, moves and
// destructions, gives tags and ownership as its Copies option says, and records the thread that
// made and the threads that destroyed each tag's owner; EXPECT_LB_ERROR fails when it should.

#include <gtest/gtest-spi.h>
#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <new>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

#include "localbag/error.hpp"
#include "localbag/value.hpp"
#include "test_support.hpp"

namespace localbag {
namespace {

using test::Copies;
using test::Ids;
using test::Ledger;
using test::LedgerOptions;
using test::thread_serial;
using test::Tracked;

// ---- Counts ------------------------------------------------------------------------------------

TEST(Ledger, CountsConstructionsCopiesMovesAndDestructions) {
  Ledger ledger;
  {
    Tracked a(ledger, 1);
    EXPECT_EQ(ledger.constructed(), 1);
    EXPECT_EQ(ledger.live(), 1);
    Tracked b(a);
    EXPECT_EQ(ledger.copies(), 1);
    EXPECT_EQ(ledger.live(), 2);
    Tracked c(std::move(a));
    EXPECT_EQ(ledger.moves(), 1);
    EXPECT_EQ(ledger.live(), 3);  // a moved-from instance is still alive
    EXPECT_EQ(ledger.destroyed(), 0);
  }
  EXPECT_EQ(ledger.constructed(), 1);
  EXPECT_EQ(ledger.copies(), 1);
  EXPECT_EQ(ledger.moves(), 1);
  EXPECT_EQ(ledger.destroyed(), 3);
  EXPECT_EQ(ledger.live(), 0);
}

TEST(Ledger, CountsTheInstancesAValueMakes) {
  Ledger ledger;
  {
    Value v(Tracked(ledger, 1));  // the temporary, and the instance moved into the Value
    EXPECT_EQ(ledger.live(), 1);
    Value copy(v);
    EXPECT_EQ(ledger.live(), 2);
    EXPECT_EQ(ledger.copies(), 1);
    EXPECT_EQ(copy.get<Tracked>().tag(), 1);
  }
  EXPECT_EQ(ledger.live(), 0);
  EXPECT_EQ(ledger.destroyed(), ledger.constructed() + ledger.copies() + ledger.moves());
}

TEST(Ledger, LedgersCountApart) {
  Ledger one;
  Ledger two;
  Tracked a(one, 0);
  Tracked b(two, 0);
  Tracked c(two, 1);
  EXPECT_EQ(one.live(), 1);
  EXPECT_EQ(two.live(), 2);
  EXPECT_EQ(&c.ledger(), &two);
}

// ---- Tags and ownership ------------------------------------------------------------------------

TEST(Ledger, ShareTagCopiesCarryTheTagWithoutOwningIt) {
  Ledger ledger(LedgerOptions{.entries = 8});
  const Ids me{std::this_thread::get_id()};
  std::optional<Tracked> owner(std::in_place, ledger, 5);
  std::optional<Tracked> copy(*owner);
  EXPECT_TRUE(owner->owner());
  EXPECT_FALSE(copy->owner());
  EXPECT_FALSE(copy->moved_from());
  EXPECT_EQ(copy->tag(), 5);
  copy.reset();
  EXPECT_TRUE(ledger.destroyers(5).empty()) << "a copy recorded the tag's destruction";
  EXPECT_EQ(ledger.at(5).destroyed.load(), 0u);
  owner.reset();
  EXPECT_EQ(ledger.destroyers(5), me);
  EXPECT_EQ(ledger.at(5).destroyed.load(), 1u);
}

TEST(Ledger, AMoveTakesOwnershipAndLeavesNothingToRecord) {
  Ledger ledger(LedgerOptions{.entries = 8});
  std::optional<Tracked> original(std::in_place, ledger, 3);
  std::optional<Tracked> moved(std::move(*original));
  EXPECT_TRUE(original->moved_from());
  EXPECT_FALSE(original->owner());
  EXPECT_TRUE(moved->owner());
  EXPECT_EQ(moved->tag(), 3);
  original.reset();
  EXPECT_EQ(ledger.at(3).destroyed.load(), 0u) << "the moved-from instance recorded a death";
  moved.reset();
  EXPECT_EQ(ledger.at(3).destroyed.load(), 1u);
}

TEST(Ledger, OwnEntryCopiesGetFreshTags) {
  Ledger ledger(LedgerOptions{.entries = 8, .copies = Copies::kOwnEntry});
  {
    Tracked a(ledger);
    Tracked b(ledger);
    EXPECT_EQ(a.tag(), 0);
    EXPECT_EQ(b.tag(), 1);
    Tracked copy(a);
    EXPECT_EQ(copy.tag(), 2);
    EXPECT_TRUE(copy.owner());
    EXPECT_EQ(ledger.at(2).made_on.load(), thread_serial());
    Tracked moved(std::move(b));
    EXPECT_EQ(moved.tag(), 1);
    Tracked copy_of_moved_from(b);  // owns nothing, as its original
    EXPECT_TRUE(copy_of_moved_from.moved_from());
    EXPECT_EQ(ledger.size(), 3);
    for (int tag = 0; tag < 3; ++tag) EXPECT_EQ(ledger.at(tag).destroyed.load(), 0u) << tag;
  }
  EXPECT_EQ(ledger.size(), 3);
  for (int tag = 0; tag < 3; ++tag) EXPECT_EQ(ledger.at(tag).destroyed.load(), 1u) << tag;
}

TEST(Ledger, ForgetEntriesStartsTheTagsAgainAndKeepsTheCounts) {
  Ledger ledger(LedgerOptions{.entries = 4});
  Tracked kept(ledger, ledger.next_tag());
  { Tracked gone(ledger, 1); }
  EXPECT_EQ(ledger.at(1).destroyed.load(), 1u);
  ledger.forget_entries();
  EXPECT_EQ(ledger.at(1).destroyed.load(), 0u);
  EXPECT_TRUE(ledger.destroyers(1).empty());
  EXPECT_EQ(ledger.at(0).made_on.load(), 0u);
  EXPECT_EQ(ledger.size(), 0);
  EXPECT_EQ(ledger.next_tag(), 0);
  EXPECT_EQ(ledger.live(), 1);
}

// ---- Threads -----------------------------------------------------------------------------------

TEST(ThreadSerial, DiffersBetweenThreadsAndStaysWithOne) {
  const std::uint32_t mine = thread_serial();
  EXPECT_NE(mine, 0u);
  EXPECT_EQ(thread_serial(), mine);
  std::set<std::uint32_t> seen{mine};
  for (int i = 0; i < 4; ++i) {
    std::uint32_t theirs = 0;
    std::thread([&] { theirs = thread_serial(); }).join();
    EXPECT_TRUE(seen.insert(theirs).second) << "serial " << theirs << " given twice";
  }
}

TEST(Ledger, RecordsTheThreadsThatMakeAndDestroyAnOwner) {
  Ledger ledger(LedgerOptions{.entries = 8});
  std::optional<Tracked> value(std::in_place, ledger, 2);
  std::thread::id worker;
  std::uint32_t worker_serial = 0;
  std::thread([&] {
    worker = std::this_thread::get_id();
    worker_serial = thread_serial();
    value.reset();
  }).join();
  EXPECT_EQ(ledger.destroyers(2), Ids{worker});
  EXPECT_EQ(ledger.at(2).destroyed_on.load(), worker_serial);
  EXPECT_EQ(ledger.at(2).made_on.load(), thread_serial());
  EXPECT_NE(worker_serial, thread_serial());
}

TEST(Ledger, RecordsTheExitingThreadForAThreadLocalValue) {
  Ledger ledger(LedgerOptions{.entries = 8});
  std::thread::id worker;
  std::thread([&] {
    worker = std::this_thread::get_id();
    thread_local std::optional<Tracked> kept;
    kept.emplace(ledger, 6);
  }).join();  // `kept` dies during the thread's exit
  EXPECT_EQ(ledger.destroyers(6), Ids{worker});
  EXPECT_NE(ledger.at(6).destroyed_on.load(), thread_serial());
  EXPECT_EQ(ledger.live(), 0);
}

TEST(Ledger, ATagDestroyedTwiceListsBothThreads) {
  Ledger ledger(LedgerOptions{.entries = 8});
  std::optional<Tracked> first(std::in_place, ledger, 4);
  std::optional<Tracked> second(std::in_place, ledger, 4);  // a second owner of the same tag
  std::thread::id worker;
  first.reset();
  std::thread([&] {
    worker = std::this_thread::get_id();
    second.reset();
  }).join();
  EXPECT_EQ(ledger.at(4).destroyed.load(), 2u);
  EXPECT_EQ(ledger.destroyers(4), (Ids{std::this_thread::get_id(), worker}));
}

// A destruction where no instance was constructed, as a second destruction of one instance is:
// the bug check_addresses is there to catch. The instance is a copy of a live one's bytes.
TEST(Ledger, CheckAddressesCountsADestructionWithoutAConstruction) {
  Ledger ledger(LedgerOptions{.check_addresses = true});
  Tracked real(ledger, 0);
  alignas(Tracked) unsigned char bytes[sizeof(Tracked)];
  std::memcpy(bytes, static_cast<const void*>(&real), sizeof(Tracked));
  EXPECT_EQ(ledger.bad_destructions(), 0);
  std::launder(reinterpret_cast<Tracked*>(bytes))->~Tracked();
  EXPECT_EQ(ledger.bad_destructions(), 1);
}

TEST(DefaultLedger, ServesTrackedValuesMadeFromATag) {
  const long before = test::live_tracked();
  {
    Tracked value(90001);
    EXPECT_EQ(&value.ledger(), &test::default_ledger());
    EXPECT_EQ(test::live_tracked(), before + 1);
    EXPECT_TRUE(test::destroyed_on(90001).empty());
  }
  EXPECT_EQ(test::destroyed_on(90001), Ids{std::this_thread::get_id()});
  EXPECT_EQ(test::live_tracked(), before);
}

// ---- EXPECT_LB_ERROR ---------------------------------------------------------------------------

// A localbag error whose python_type() is not its C++ class name.
struct Misnamed : Error {
  Misnamed() : Error("SomethingElse", "message") {}
};

void throw_type_error() { throw TypeError("the message"); }

TEST(ExpectLbError, PassesOnTheRightErrorAndMessage) {
  EXPECT_LB_ERROR(throw_type_error(), TypeError, "the message");
  std::string seen;
  EXPECT_LB_ERROR_AND(throw_type_error(), TypeError, "the message", seen = e.what(););
  EXPECT_EQ(seen, "the message");
}

TEST(ExpectLbError, FailsOnAnotherMessage) {
  auto check = [] { EXPECT_LB_ERROR(throw_type_error(), TypeError, "another message"); };
  EXPECT_NONFATAL_FAILURE(check(), "another message");
}

TEST(ExpectLbError, FailsOnAnotherErrorClass) {
  auto check = [] { EXPECT_LB_ERROR(throw_type_error(), KeyError, "the message"); };
  EXPECT_NONFATAL_FAILURE(check(), "threw another exception: the message");
}

TEST(ExpectLbError, FailsWhenNothingIsThrown) {
  auto check = [] { EXPECT_LB_ERROR((void)0, TypeError, "the message"); };
  EXPECT_NONFATAL_FAILURE(check(), "expected TypeError from: (void)0");
}

TEST(ExpectLbError, FailsOnAnotherPythonType) {
  auto check = [] { EXPECT_LB_ERROR(throw Misnamed(), Misnamed, "message"); };
  EXPECT_NONFATAL_FAILURE(check(), "SomethingElse");
}

// ---- Value types and names ---------------------------------------------------------------------

TEST(ValueTypes, MoveOnlyMovesAndCannotBeCopied) {
  static_assert(std::is_nothrow_move_constructible_v<test::MoveOnly>);
  static_assert(std::is_nothrow_move_assignable_v<test::MoveOnly>);
  static_assert(!std::is_copy_constructible_v<test::MoveOnly>);
  static_assert(!std::is_copy_assignable_v<test::MoveOnly>);
  Value v(test::MoveOnly(7));
  EXPECT_FALSE(v.copyable());
  EXPECT_EQ(v.type_name(), "localbag::test::MoveOnly");
  EXPECT_EQ(v.get<test::MoveOnly>().value, 7);
}

TEST(Numbered, AppendsTheNumber) {
  EXPECT_EQ(test::numbered("k", 12), "k12");
  EXPECT_EQ(test::numbered("", -3), "-3");
  EXPECT_EQ(test::numbered("key_", 1LL << 40), "key_1099511627776");
}

}  // namespace
}  // namespace localbag
