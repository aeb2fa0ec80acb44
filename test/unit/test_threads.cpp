// SPDX-License-Identifier: MIT
// Threads: isolation across many threads, per-thread init (once, on any first access, with the
// original arguments, re-entrant, retried after a throw), class attributes changed at runtime,
// shared slots. Cleanup at thread exit is in test_thread_exit.cpp.

#include <gtest/gtest.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <latch>
#include <map>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "localbag/class.hpp"
#include "localbag/error.hpp"
#include "localbag/local_object.hpp"
#include "localbag/registry.hpp"
#include "localbag/repr.hpp"
#include "first_accesses.hpp"
#include "test_support.hpp"

namespace localbag {
namespace {

using test::live_tracked;  // values a failed init stored must be destroyed
using test::numbered;
using test::thread_serial;  // unique to each thread ever started, unlike std::thread::id
using test::Tracked;

// Counts init calls per thread.
struct InitCounter {
  std::mutex mutex;
  std::map<std::uint32_t, int> calls;
  void hit() {
    std::lock_guard lock(mutex);
    ++calls[thread_serial()];
  }
  int mine() {
    std::lock_guard lock(mutex);
    auto it = calls.find(thread_serial());
    return it == calls.end() ? 0 : it->second;
  }
  int threads() {
    std::lock_guard lock(mutex);
    return static_cast<int>(calls.size());
  }
};

TEST(Threads, IsolationAcross32Threads) {
  constexpr int kThreads = 32;
  LocalObject objs[4];
  for (LocalObject& o : objs) o.setattr("number", -1);
  std::latch all_set(kThreads);
  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; ++i) {
    threads.emplace_back([&, i] {
      for (int k = 0; k < 4; ++k) {
        objs[k].setattr("number", i * 10 + k);
        objs[k].setattr(numbered("only_", i), i);
      }
      all_set.arrive_and_wait();  // every thread has written before anyone reads
      for (int k = 0; k < 4; ++k) {
        EXPECT_EQ(objs[k].get<int>("number"), i * 10 + k);
        EXPECT_EQ(objs[k].dict().keys(),
                  (std::vector<std::string>{"number", numbered("only_", i)}));
      }
    });
  }
  for (auto& t : threads) t.join();
  for (LocalObject& o : objs) EXPECT_EQ(repr(o.dict()), "{'number': -1}");
}

TEST(Threads, InitOnceOnFirstAccessOfAnyKind) {
  InitCounter counter;
  Registry r;
  ClassRef cls = r.define(ClassSpec("Counted")
                              .attr("number", 2)
                              .init([&](LocalObject& self, Args, const Dict&) {
                                counter.hit();
                                self.setattr("from_init", 1);
                              })
                              .method("m", [](LocalObject&, Args) -> Value { return 3; }));
  LocalObject obj(cls);
  EXPECT_EQ(counter.mine(), 1);
  const std::vector<test::Access> accesses = test::first_accesses();
  for (const auto& [kind, access] : accesses) {
    std::thread t([&, kind = kind, access = access] {
      access(obj);
      EXPECT_EQ(counter.mine(), 1) << kind;
      // Later accesses of every kind do not run init again.
      obj.setattr("later", 1);
      (void)obj.get<int>("later");
      (void)obj.hasattr("from_init");
      (void)obj.dict();
      EXPECT_EQ(counter.mine(), 1) << kind;
    });
    t.join();
  }
  EXPECT_EQ(counter.threads(), static_cast<int>(accesses.size()) + 1);
  EXPECT_EQ(counter.mine(), 1);  // the constructing thread ran it once
  EXPECT_EQ(repr(obj.dict()), "{'from_init': 1}");
}

TEST(Threads, InitGetsOriginalArguments) {
  Registry r;
  ClassRef cls = r.define(ClassSpec("Args").init([](LocalObject& self, Args args, const Dict& kw) {
    self.setattr("args", repr(Value(List(args.begin(), args.end()))));
    self.setattr("k", kw.get<int>("k"));
    self.setattr("k17", kw.get<int>("k17"));  // a lookup in the (indexed) shared kwargs
    self.setattr("n_kw", static_cast<int>(kw.size()));
  }));
  std::optional<LocalObject> obj;
  {
    std::vector<Value> args{1, "a"};
    Dict kw{{"k", 3}};
    for (int i = 0; i < 20; ++i) kw.set(numbered("k", i), i * i);
    obj.emplace(cls, std::move(args), std::move(kw));
  }
  std::vector<std::thread> threads;
  for (int i = 0; i < 8; ++i) {
    threads.emplace_back([&] {
      EXPECT_EQ(obj->get<std::string>("args"), "[1, 'a']");
      EXPECT_EQ(obj->get<int>("k"), 3);
      EXPECT_EQ(obj->get<int>("k17"), 289);
      EXPECT_EQ(obj->get<int>("n_kw"), 21);
    });
  }
  for (auto& t : threads) t.join();
}

TEST(Threads, ReentrantInitUsesSelfFreely) {
  InitCounter counter;
  Registry r;
  ClassRef cls = r.define(ClassSpec("Reentrant")
                              .attr("base_value", 10)
                              .method("twice",
                                      [](LocalObject& self, Args a) -> Value {
                                        return self.get<int>("base_value") + 2 * a[0].get<int>();
                                      })
                              .init([&](LocalObject& self, Args, const Dict&) {
                                counter.hit();
                                self.setattr("a", 1);
                                const int a = self.get<int>("a");
                                self.dict().set("b", a + 1);
                                self.setattr("c", self.call("twice", 5).get<int>());
                                EXPECT_TRUE(self.hasattr("b"));
                                EXPECT_EQ(self.getattr("__dict__").get<Dict>().size(), 3u);
                                LocalObject copy = self;  // another handle to the same object
                                copy.setattr("d", copy.get<int>("c") + 1);
                                self.delattr("a");
                              }));
  LocalObject obj(cls);
  EXPECT_EQ(repr(obj.dict()), "{'b': 2, 'c': 20, 'd': 21}");
  std::vector<std::thread> threads;
  for (int i = 0; i < 8; ++i) {
    threads.emplace_back([&] {
      EXPECT_EQ(obj.get<int>("d"), 21);
      EXPECT_EQ(repr(obj.dict()), "{'b': 2, 'c': 20, 'd': 21}");
      EXPECT_EQ(counter.mine(), 1);
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(counter.threads(), 9);
}

TEST(Threads, InitThrowingIsRolledBackAndRetried) {
  InitCounter counter;
  const std::thread::id creator = std::this_thread::get_id();
  std::atomic<int> clean_entries{0};
  Registry r;
  ClassRef cls = r.define(ClassSpec("Flaky").init([&](LocalObject& self, Args, const Dict&) {
    counter.hit();
    if (self.dict().empty()) ++clean_entries;
    self.setattr("partial", Tracked(500));
    if (std::this_thread::get_id() != creator && counter.mine() == 1) {
      throw std::runtime_error("first init fails");
    }
    self.setattr("ready", true);
  }));
  LocalObject obj(cls);
  const long live_before = live_tracked();
  std::thread t([&] {
    EXPECT_THROW(obj.get<bool>("ready"), std::runtime_error);
    EXPECT_EQ(live_tracked(), live_before);  // the failed attempt's values are gone
    EXPECT_EQ(counter.mine(), 1);
    EXPECT_TRUE(obj.hasattr("ready"));  // next access: init again, succeeds
    EXPECT_EQ(counter.mine(), 2);
    EXPECT_EQ(obj.dict().size(), 2u);
    EXPECT_TRUE(obj.get<bool>("ready"));
    EXPECT_EQ(counter.mine(), 2);
  });
  t.join();
  EXPECT_EQ(clean_entries.load(), 3);  // creator, failed attempt, retry: each on an empty dict
}

TEST(Threads, ConstructorPropagatesInitException) {
  int attempts = 0;
  Registry r;
  ClassRef cls = r.define(ClassSpec("FailOnce").init([&](LocalObject& self, Args, const Dict&) {
    self.setattr("partial", Tracked(600));
    if (++attempts == 1) throw std::runtime_error("ctor init fails");
  }));
  const long live_before = live_tracked();
  EXPECT_THROW(LocalObject obj(cls), std::runtime_error);
  EXPECT_EQ(live_tracked(), live_before);
  LocalObject ok(cls);
  EXPECT_TRUE(ok.hasattr("partial"));
  EXPECT_EQ(attempts, 2);
}

TEST(Threads, ClassDefaultChangeSeenByOtherThreads) {
  Registry r;
  ClassRef base = r.define(ClassSpec("Defaults").attr("number", 2));
  r.define(ClassSpec("Plain").base("Defaults"));
  r.define(ClassSpec("Own").base("Defaults").attr("number", 3));
  LocalObject a(base);
  LocalObject b = r.instantiate("Plain");
  LocalObject c = r.instantiate("Own");
  LocalObject shadow(base);
  constexpr int kThreads = 4;
  std::latch first_read(kThreads + 1);
  std::latch changed(1);
  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; ++i) {
    threads.emplace_back([&] {
      EXPECT_EQ(a.get<int>("number"), 2);
      EXPECT_EQ(b.get<int>("number"), 2);
      EXPECT_EQ(c.get<int>("number"), 3);
      shadow.setattr("number", 7);
      first_read.count_down();
      changed.wait();
      EXPECT_EQ(a.get<int>("number"), 5);
      EXPECT_EQ(b.get<int>("number"), 5);
      EXPECT_EQ(c.get<int>("number"), 3);
      EXPECT_EQ(shadow.get<int>("number"), 7);
    });
  }
  first_read.arrive_and_wait();
  base->setattr("number", 5);
  changed.count_down();
  for (auto& t : threads) t.join();
  EXPECT_EQ(shadow.get<int>("number"), 5);  // this thread never shadowed it
}

TEST(Threads, ClassSetattrRaceFreeAgainstReaders) {
  Registry r;
  auto text_for = [](int n) { return std::to_string(n) + ":" + std::string(40, 'a' + n % 26); };
  ClassRef cls = r.define(ClassSpec("Racy").attr("text", text_for(0)));
  LocalObject obj(cls);
  constexpr int kWrites = 3000;
  std::atomic<bool> done{false};
  std::vector<std::thread> readers;
  for (int i = 0; i < 3; ++i) {
    readers.emplace_back([&] {
      int last = 0;
      bool final_pass = false;
      while (!final_pass) {
        final_pass = done.load();
        const std::string s = obj.get<std::string>("text");
        const int n = std::stoi(s.substr(0, s.find(':')));
        ASSERT_EQ(s, text_for(n));  // never torn
        ASSERT_GE(n, last);         // never goes back in time
        last = n;
      }
      EXPECT_EQ(last, kWrites);
    });
  }
  for (int n = 1; n <= kWrites; ++n) cls->setattr("text", text_for(n));
  done = true;
  for (auto& t : readers) t.join();
}

TEST(Threads, SlotsAreShared) {
  Registry r;
  ClassRef cls = r.define(ClassSpec("Shared").slots({"number"}));
  LocalObject obj(cls);
  std::thread([&] { obj.setattr("number", 11); }).join();
  EXPECT_EQ(obj.get<int>("number"), 11);
  obj.setattr("number", 12);
  constexpr int kThreads = 16;
  std::latch go(kThreads);
  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; ++i) {
    threads.emplace_back([&, i] {
      EXPECT_EQ(obj.get<int>("number"), 12);
      obj.setattr("mine", i);  // not a slot: per-thread
      go.arrive_and_wait();
      obj.setattr("number", 100 + i);
      EXPECT_EQ(obj.get<int>("mine"), i);
    });
  }
  for (auto& t : threads) t.join();
  const int final_value = obj.get<int>("number");
  EXPECT_GE(final_value, 100);
  EXPECT_LT(final_value, 100 + kThreads);
  EXPECT_FALSE(obj.hasattr("mine"));
  std::thread([&] { obj.delattr("number"); }).join();
  EXPECT_FALSE(obj.hasattr("number"));
}

// Init of A touches B, whose init touches A: A's dict exists while A's init runs, so neither init
// runs twice and nothing deadlocks.
TEST(Threads, InitsOfTwoObjectsTouchEachOther) {
  InitCounter a_inits;
  InitCounter b_inits;
  Registry r;
  std::optional<LocalObject> a;
  std::optional<LocalObject> b;
  ClassRef a_cls =
      r.define(ClassSpec("A").attr("x", 1).init([&](LocalObject& self, Args, const Dict&) {
        a_inits.hit();
        if (b) self.setattr("from_b", b->get<int>("y"));
      }));
  ClassRef b_cls =
      r.define(ClassSpec("B").attr("y", 2).init([&](LocalObject& self, Args, const Dict&) {
        b_inits.hit();
        if (a) self.setattr("from_a", a->get<int>("x"));
      }));
  a.emplace(a_cls);
  b.emplace(b_cls);
  std::vector<std::thread> threads;
  for (int i = 0; i < 4; ++i) {
    threads.emplace_back([&] {
      EXPECT_EQ(a->get<int>("from_b"), 2);  // runs A's init, which runs B's init
      EXPECT_EQ(b->get<int>("from_a"), 1);
      EXPECT_EQ(a_inits.mine(), 1);
      EXPECT_EQ(b_inits.mine(), 1);
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(a_inits.threads(), 5);
  EXPECT_EQ(b_inits.threads(), 5);
}

// Thread ids and TLS blocks are reused by the system: a new thread never sees an exited
// thread's values and always runs init afresh.
TEST(Threads, NewThreadsSeeFreshState) {
  std::atomic<int> inits{0};
  Registry r;
  LocalObject obj(r.define(ClassSpec("Fresh").init([&](LocalObject& self, Args, const Dict&) {
    ++inits;
    self.setattr("inited", true);
  })));
  for (int i = 0; i < 200; ++i) {
    std::thread([&, i] {
      EXPECT_EQ(repr(obj.dict()), "{'inited': True}") << i;
      obj.setattr("v", i);
    }).join();
  }
  EXPECT_EQ(inits.load(), 201);
  EXPECT_EQ(repr(obj.dict()), "{'inited': True}");
}

// Other threads call a method while this one keeps replacing it: every call runs a whole method,
// old or new, and never goes back to an older one.
TEST(Threads, MethodReplacedWhileOtherThreadsCallIt) {
  auto version = [](int n) {
    return Value(Function{"Hot.f", [n](LocalObject&, Args) -> Value { return n; }});
  };
  Registry r;
  ClassRef cls = r.define(ClassSpec("Hot").attr("f", version(0)));
  LocalObject obj(cls);
  constexpr int kVersions = 2000;
  std::atomic<bool> done{false};
  std::vector<std::thread> callers;
  for (int i = 0; i < 3; ++i) {
    callers.emplace_back([&] {
      int last = 0;
      bool final_pass = false;
      while (!final_pass) {
        final_pass = done.load();
        const int n = obj.call("f").get<int>();
        ASSERT_GE(n, last);
        last = n;
      }
      EXPECT_EQ(last, kVersions);
    });
  }
  for (int n = 1; n <= kVersions; ++n) cls->setattr("f", version(n));
  done = true;
  for (auto& t : callers) t.join();
}

}  // namespace
}  // namespace localbag
