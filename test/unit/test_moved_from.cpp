// SPDX-License-Identifier: MIT
// Moved-from values. A dict that grows, compacts or shifts its entries on erase moves its values;
// moving a value stored inline constructs the new one and destroys the old, so a user type's
// destructor would run in the middle of the dict's restructuring, on a moved-from instance. If
// that destructor uses the very object whose dict is being restructured (a logger writing to it,
// a cache reading it), it sees a dict half moved, or inserts into it and reallocates it again.
// The rule: a type with a non-trivial destructor is stored behind a pointer (moving it moves the
// pointer), unless its moved-from state is known to be inert (std::string, std::vector,
// std::unique_ptr, std::shared_ptr, localbag's own List, Dict, Tuple, Function).
//
// Scribe's destructor writes to the LocalObject that holds it, moved-from or not, and counts
// itself. Across inserts, erases, compaction and overwrites, the only destructor calls must be
// those of instances that held a value when they were destroyed: none from relocations.

#include <gtest/gtest.h>

#include <string>
#include <utility>
#include <vector>

#include "localbag/localbag.hpp"
#include "test_support.hpp"

namespace localbag {
namespace {

using test::numbered;

// 24 bytes, moves without throwing: before the rule, it was stored inline.
struct Scribe {
  static inline int destroyed_live = 0;        // held a value: a real destruction
  static inline int destroyed_moved_from = 0;  // a relocation's leftover
  Scribe(LocalObject o, int i) : owner(std::move(o)), id(i) {}
  Scribe(Scribe&& other) noexcept
      : owner(other.owner), id(other.id), live(std::exchange(other.live, false)) {}
  Scribe(const Scribe&) = delete;
  Scribe& operator=(const Scribe&) = delete;
  Scribe& operator=(Scribe&&) = delete;
  ~Scribe() {
    ++(live ? destroyed_live : destroyed_moved_from);
    owner.setattr("log", live ? id : -1000 - id);  // writes the dict that holds (or held) it
  }
  LocalObject owner;  // a handle of the object whose dict holds this Scribe
  int id;
  bool live = true;
};

// Constructs a Scribe in place in `obj`'s dict under `key`: no temporary Scribe is made.
void emplace_scribe(LocalObject& obj, const std::string& key, int id) {
  obj.dict().setdefault(key).emplace<Scribe>(obj, id);
}

class MovedFrom : public ::testing::Test {
 protected:
  MovedFrom() {
    Scribe::destroyed_live = 0;
    Scribe::destroyed_moved_from = 0;
    obj.setattr("log", 0);
  }
  ~MovedFrom() override { obj.dict().clear(); }  // Scribes hold obj: break the cycle
  // Every Scribe under keys s<first> .. s<first + n - 1> is there, with its id.
  void expect_scribes(int first, int n) {
    for (int i = first; i < first + n; ++i) {
      const Scribe* s = obj.dict().try_get<Scribe>(numbered("s", i));
      ASSERT_NE(s, nullptr) << i;
      EXPECT_EQ(s->id, i);
      EXPECT_TRUE(s->live);
    }
  }
  LocalObject obj;
};

TEST_F(MovedFrom, InsertsThatReallocateNeverRunADestructor) {
  for (int i = 0; i < 100; ++i) {
    emplace_scribe(obj, numbered("s", i), i);  // entries reallocate at 2, 3, 5, 9, 17, 33, 65
    obj.setattr(numbered("n", i), i);          // more growth, with Scribes to relocate
  }
  EXPECT_EQ(Scribe::destroyed_moved_from, 0) << "a relocation ran a moved-from destructor";
  EXPECT_EQ(Scribe::destroyed_live, 0);
  EXPECT_EQ(obj.get<int>("log"), 0);  // no destructor wrote
  EXPECT_EQ(obj.dict().size(), 201u);
  expect_scribes(0, 100);
}

TEST_F(MovedFrom, ShiftingEraseInASmallDictRunsOnlyTheErasedOnesDestructor) {
  for (int i = 0; i < 12; ++i) emplace_scribe(obj, numbered("s", i), i);  // linear: no index
  for (int i = 0; i < 6; ++i) {
    obj.delattr(numbered("s", i));  // the first: every later entry shifts down
    EXPECT_EQ(Scribe::destroyed_live, i + 1);
    EXPECT_EQ(obj.get<int>("log"), i);  // written by the erased one, after the dict was whole
  }
  EXPECT_EQ(Scribe::destroyed_moved_from, 0);
  expect_scribes(6, 6);
}

TEST_F(MovedFrom, CompactionOfALargeDictRunsOnlyTheErasedOnesDestructors) {
  for (int i = 0; i < 100; ++i) emplace_scribe(obj, numbered("s", i), i);
  for (int i = 0; i < 70; ++i) obj.delattr(numbered("s", i));  // dead outnumber live: compacts
  EXPECT_EQ(Scribe::destroyed_live, 70);
  EXPECT_EQ(Scribe::destroyed_moved_from, 0);
  EXPECT_EQ(obj.get<int>("log"), 69);
  EXPECT_EQ(obj.dict().size(), 31u);  // "log" and 30 Scribes
  expect_scribes(70, 30);
}

TEST_F(MovedFrom, OverwriteAndSetattrRunOneDestructorPerReplacedValue) {
  for (int i = 0; i < 20; ++i) emplace_scribe(obj, numbered("s", i), i);
  for (int i = 0; i < 20; ++i) {
    Value v;
    v.emplace<Scribe>(obj, 100 + i);
    obj.setattr(numbered("s", i), std::move(v));  // replaces Scribe i
  }
  EXPECT_EQ(Scribe::destroyed_live, 20);
  EXPECT_EQ(Scribe::destroyed_moved_from, 0);
  EXPECT_EQ(obj.get<int>("log"), 19);
  for (int i = 0; i < 20; ++i) EXPECT_EQ(obj.ref<Scribe>(numbered("s", i)).id, 100 + i);
}

TEST_F(MovedFrom, ClearRunsEachDestructorOnceAfterTheDictIsEmpty) {
  for (int i = 0; i < 40; ++i) emplace_scribe(obj, numbered("s", i), i);
  obj.dict().clear();
  EXPECT_EQ(Scribe::destroyed_live, 40);
  EXPECT_EQ(Scribe::destroyed_moved_from, 0);
  // Each destructor wrote "log" into the emptied dict: it holds that key alone.
  EXPECT_EQ(obj.dict().keys(), std::vector<std::string>{"log"});
}

// The types whose moved-from state is inert still move freely (the rule does not box them):
// their values survive every reallocation, and nothing is destroyed twice.
TEST_F(MovedFrom, InertTypesSurviveReallocation) {
  const long live_before = test::live_tracked();
  for (int i = 0; i < 100; ++i) {
    obj.setattr(numbered("s", i), std::string(30, static_cast<char>('a' + i % 26)));
    obj.setattr(numbered("l", i), List{Value(i)});
    obj.setattr(numbered("d", i), Dict{{"i", i}});
    obj.setattr(numbered("t", i), test::Tracked(30000 + i));
  }
  for (int i = 0; i < 100; ++i) {
    EXPECT_EQ(obj.get<std::string>(numbered("s", i)), std::string(30, static_cast<char>('a' + i % 26)));
    EXPECT_EQ(obj.ref<List>(numbered("l", i)).at(0).get<int>(), i);
    EXPECT_EQ(obj.ref<Dict>(numbered("d", i)).get<int>("i"), i);
    EXPECT_EQ(obj.ref<test::Tracked>(numbered("t", i)).tag(), 30000 + i);
  }
  obj.dict().clear();
  EXPECT_EQ(test::live_tracked(), live_before);
  EXPECT_EQ(test::destroyed_once(30000, 100), 100);
}

}  // namespace
}  // namespace localbag
