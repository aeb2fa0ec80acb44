// SPDX-License-Identifier: MIT
// Stress: re-entrancy. Values whose destructors read and write other LocalObjects and create new
// ones, run during thread exit and during object death (and again from the values those
// destructors store); an init that creates and uses other LocalObjects; an init that throws on
// every Nth call; a value that holds its own object and writes to it while being destroyed.

#include <gtest/gtest.h>

#include <atomic>
#include <latch>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "localbag/localbag.hpp"
#include "stress_util.hpp"

namespace lbstress {
namespace {

struct Context {
  Registry registry;
  ClassRef plain;    // init: init_value = args[0]
  ClassRef nesting;  // init creates and uses other objects
  ClassRef flaky;    // init throws on every Nth call
  ClassRef closer;   // a method that drops the last reference to its own object
  std::vector<LocalObject> side;
  Ledger* ledger = nullptr;
  int flaky_every = 7;
  std::atomic<std::uint64_t> destructor_runs{0}, objects_made{0}, init_calls{0}, init_throws{0};
  Failures failures;
};
Context* g = nullptr;

thread_local int t_last_partial = 0;  // tag of the value the last flaky init stored
thread_local int t_flaky_inits = 0;
thread_local std::optional<LocalObject> t_holder;  // the only reference a thread holds

// A value whose destructor works with other LocalObjects. At depth > 0 it also stores new
// Reentrant values (depth - 1) in a side object and in a fresh object, so destruction goes on
// from inside destruction.
class Reentrant {
 public:
  explicit Reentrant(int depth) : tracked_(*g->ledger), depth_(depth) {}
  Reentrant(Reentrant&&) noexcept = default;
  Reentrant(const Reentrant&) = default;
  ~Reentrant() {
    if (tracked_.moved_from()) return;
    try {
      LocalObject fresh(g->plain, {Value(depth_)});
      g->objects_made.fetch_add(1);
      fresh.setattr("x", depth_);
      if (fresh.get<int>("x") != depth_ || fresh.get<int>("init_value") != depth_) {
        g->failures.add("fresh object in a destructor");
      }
      if (depth_ > 0) fresh.setattr("inner", Reentrant(depth_ - 1));  // dies with `fresh`
      if (!g->side.empty()) {  // empty while the side objects themselves are being destroyed
        LocalObject& side = g->side[static_cast<std::size_t>(depth_) % g->side.size()];
        const int count = side.try_get<int>("count").value_or(0);
        side.setattr("count", count + 1);
        if (side.get<int>("count") != count + 1) g->failures.add("side object lost a write");
        if (depth_ > 0) side.setattr("chain", Reentrant(depth_ - 1));  // destroys older chain
      }
      g->destructor_runs.fetch_add(1);
    } catch (const std::exception& e) {
      g->failures.add(std::string("exception in a destructor: ") + e.what());
    }
  }

 private:
  Tracked tracked_;
  int depth_;
};

// A value holding its own object: at thread exit it writes to that object (re-creating this
// thread's dict for it while it is being torn down), and may hold its last reference.
class SelfRef {
 public:
  explicit SelfRef(LocalObject self) : self_(std::move(self)), tracked_(*g->ledger) {}
  SelfRef(SelfRef&&) noexcept = default;
  SelfRef(const SelfRef&) = default;
  ~SelfRef() {
    if (tracked_.moved_from()) return;
    try {
      self_->setattr("written_while_dying", 1);
      if (!self_->hasattr("written_while_dying")) g->failures.add("SelfRef write lost");
    } catch (const std::exception& e) {
      g->failures.add(std::string("exception in SelfRef: ") + e.what());
    }
  }

 private:
  std::optional<LocalObject> self_;
  Tracked tracked_;
};

void setup(Context& ctx, Ledger& ledger) {
  ctx.ledger = &ledger;
  ctx.plain =
      ctx.registry.define(ClassSpec("Plain").init([](LocalObject& self, Args args, const Dict&) {
        self.setattr("init_value", args.empty() ? -1 : args[0].get<int>());
      }));
  ctx.nesting =
      ctx.registry.define(ClassSpec("Nesting").init([](LocalObject& self, Args, const Dict&) {
        LocalObject helper(g->plain, {Value(7)});
        g->objects_made.fetch_add(1);
        helper.setattr("y", 1);
        self.setattr("helper_value", helper.get<int>("init_value") + helper.get<int>("y"));
        g->side[0].setattr("touched_by_init", true);
        self.setattr("child", helper);  // a LocalObject as a value: lives in this thread's dict
        self.setattr("r", Reentrant(1));
      }));
  ctx.flaky = ctx.registry.define(ClassSpec("Flaky").init([](LocalObject& self, Args, const Dict&) {
    ++t_flaky_inits;
    const std::uint64_t n = g->init_calls.fetch_add(1);
    Tracked partial(*g->ledger);
    t_last_partial = partial.tag();
    self.setattr("partial", std::move(partial));
    if (n % static_cast<std::uint64_t>(g->flaky_every) == 0) {
      g->init_throws.fetch_add(1);
      throw std::runtime_error("flaky init");
    }
    self.setattr("ok", true);
  }));
  ctx.closer =
      ctx.registry.define(ClassSpec("Closer").method("close", [](LocalObject& self, Args) -> Value {
        self.setattr("r", Reentrant(1));
        t_holder.reset();              // maybe the last reference: `self` must keep it alive
        self.setattr("closed", true);  // as Python's `self` does
        return self.get<bool>("closed");
      }));
  for (int i = 0; i < 3; ++i) ctx.side.emplace_back(ctx.plain, std::vector<Value>{Value(i)});
}

// The work of one thread on the shared objects; returns with values stored in all of them.
void touch_all(std::vector<LocalObject> objects, int depth, bool self_refs) {
  for (LocalObject& obj : objects) {
    obj.setattr("r", Reentrant(depth));
    if (self_refs) obj.setattr("self", SelfRef(obj));
    if (obj.type() == g->nesting && obj.get<int>("helper_value") != 8) {
      g->failures.add("nesting init");
    }
  }
}

TEST(StressReentrancy, DestructorsAndInitsThatUseOtherObjects) {
  print_header("reentrancy");
  const localbag::RuntimeStats before = baseline();
  const int threads = static_cast<int>(scaled(2400, 24));
  Ledger ledger(own_entries(threads * 400 + 10000));
  Context ctx;
  g = &ctx;
  setup(ctx, ledger);
  std::uint64_t flaky_threads = 0;
  {
    // 1. Thread exit: every value's destructor runs on the exiting thread, re-entering.
    std::vector<LocalObject> shared{LocalObject(ctx.plain, {Value(1)}), LocalObject(ctx.nesting),
                                    LocalObject()};
    for (int batch = 0; batch < threads / 3 / 8; ++batch) {
      std::vector<std::thread> pool;
      for (int t = 0; t < 8; ++t) pool.emplace_back(touch_all, shared, 2, true);
      for (std::thread& t : pool) t.join();
    }
    // 2. Object death while the threads that filled it are alive: destructors run here. On odd
    // rounds each thread also stores a value holding the object, so it dies during the last
    // thread's exit instead, from inside that thread's cleanup.
    for (int round = 0; round < threads / 3 / 8; ++round) {
      std::optional<LocalObject> doomed(LocalObject(ctx.nesting));
      std::latch filled(8), died(1);
      std::vector<std::thread> pool;
      for (int t = 0; t < 8; ++t) {
        pool.emplace_back([&, obj = doomed, self_refs = round % 2 == 1] {
          touch_all({*obj}, 2, self_refs);
          filled.count_down();
          died.wait();
        });
      }
      filled.wait();
      doomed.reset();
      died.count_down();
      for (std::thread& t : pool) t.join();
    }
    // 3. Init that throws on every Nth call, in the constructor and on first access.
    std::vector<std::thread> pool;
    std::atomic<std::uint64_t> constructor_throws{0};
    for (int t = 0; t < threads / 3; ++t) {
      pool.emplace_back([&] {
        for (int i = 0; i < 3; ++i) {
          try {
            LocalObject made(ctx.flaky);
            if (!made.get<bool>("ok")) ctx.failures.add("flaky: constructed without ok");
          } catch (const std::runtime_error&) {
            constructor_throws.fetch_add(1);
            if (ledger.at(t_last_partial).destroyed.load() != 1) {
              ctx.failures.add("flaky: partial value of a failed constructor survived");
            }
          }
        }
      });
      if (pool.size() == 8) {
        for (std::thread& th : pool) th.join();
        pool.clear();
      }
    }
    for (std::thread& th : pool) th.join();
    pool.clear();
    std::optional<LocalObject> made;
    while (!made) {
      try {
        made.emplace(ctx.flaky);
      } catch (const std::runtime_error&) {
      }
    }
    LocalObject flaky_shared = *made;
    for (int t = 0; t < threads / 3; ++t) {
      pool.emplace_back([&] {
        t_flaky_inits = 0;
        int failures = 0;
        for (;;) {
          try {
            (void)flaky_shared.hasattr("ok");  // the first access runs init
            break;
          } catch (const std::runtime_error&) {
            ++failures;
            if (ledger.at(t_last_partial).destroyed.load() != 1) {
              ctx.failures.add("flaky: partial value of a failed init survived");
            }
          }
        }
        if (t_flaky_inits != failures + 1) ctx.failures.add("flaky: init ran an extra time");
        if (flaky_shared.dict().keys() != std::vector<std::string>{"partial", "ok"}) {
          ctx.failures.add("flaky: leftovers from a failed init");
        }
      });
      if (pool.size() == 8) {
        for (std::thread& th : pool) th.join();
        pool.clear();
      }
      ++flaky_threads;
    }
    for (std::thread& th : pool) th.join();
    pool.clear();
    EXPECT_GT(constructor_throws.load(), 0u);
    // 4. A method that drops the last reference to its own object while it runs; the object
    //    dies when the call returns, in whichever thread lets go last.
    for (int round = 0; round < threads / 3 / 8; ++round) {
      std::optional<LocalObject> obj(LocalObject{ctx.closer});
      for (int t = 0; t < 8; ++t) {
        pool.emplace_back([&ctx, copy = *obj]() mutable {
          t_holder = std::move(copy);  // the thread's only reference
          if (!t_holder->call("close").get<bool>()) ctx.failures.add("close");
          if (t_holder) ctx.failures.add("close did not drop the reference");
        });
      }
      obj.reset();
      for (std::thread& th : pool) th.join();
      pool.clear();
    }
  }
  {
    std::vector<LocalObject> dying = std::move(ctx.side);  // g->side is empty from here on
    ctx.side.clear();
  }  // values stored by destructors in the side objects die here, on main
  EXPECT_EQ(ctx.failures.count(), 0u) << ctx.failures.report();
  ASSERT_NO_FATAL_FAILURE(expect_each_destroyed_once(ledger));
  EXPECT_GT(ctx.init_throws.load(), 0u);
  print_figures(
      "reentrancy",
      "threads=" + std::to_string(threads / 3 / 8 * 8 * 3 + threads / 3 * 2) +
          " reentrant destructor runs=" + std::to_string(ctx.destructor_runs.load()) +
          " objects made inside destructors and inits=" + std::to_string(ctx.objects_made.load()) +
          " values tracked=" + std::to_string(ledger.size()) +
          " init calls=" + std::to_string(ctx.init_calls.load()) +
          " init throws=" + std::to_string(ctx.init_throws.load()));
  ctx.plain.reset();
  ctx.nesting.reset();
  ctx.flaky.reset();
  ctx.closer.reset();
  g = nullptr;
  expect_runtime_back_to(before);
}

}  // namespace
}  // namespace lbstress
