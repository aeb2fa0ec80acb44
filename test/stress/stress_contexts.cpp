// SPDX-License-Identifier: MIT
// Stress: contexts migrating between threads. A pool of worker threads takes tasks from one
// queue; each task owns a context, and each turn it gets (on whichever worker takes it) it
// enters the context, checks and bumps its own counter on a few of the shared objects, and
// leaves. Meanwhile the objects die and are replaced (their ids come back at once), workers
// exit after a quota of turns and new ones start, tasks end (their contexts dropped, sometimes
// while still entered), and copy_current copies a task's context into a new task while other
// workers kill objects it holds dicts for. Every value is in the destructor ledger: each is
// destroyed exactly once, and none while a dict still holds it.

#include <gtest/gtest.h>

#include <array>
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "localbag/localbag.hpp"
#include "stress_util.hpp"

namespace lbstress {
namespace {

using localbag::Context;

constexpr int kCells = 16;     // shared objects, each replaced now and then
constexpr int kTouch = 4;      // cells a turn touches
constexpr int kWorkers = 4;    // on two cores: tasks are taken up by whichever is running
constexpr int kTasks = 48;     // tasks alive, about
constexpr int kMaxTasks = 64;  // with the copies that became tasks
// Tracked values one turn may make at most: kTouch inits, a replacement's init, a nested
// context's init, the implicit context's value, and a copy of every dict the task's context
// holds (for the objects in the cells and those other workers keep alive with their handles).
constexpr int kValuesPerTurn = kTouch + 3 + kCells + kWorkers * kTouch + 4;

Ledger* g_ledger = nullptr;
std::atomic<std::uint64_t> g_inits{0};

// What a task last saw in its dict for a cell's object: the object's serial (0: none yet) and
// the count it left there.
struct Seen {
  long serial = 0;
  long count = 0;
};

struct Task {
  std::optional<Context> context;
  std::array<Seen, kCells> seen{};
  int turns_left = 0;
  std::uint32_t last_thread = 0;  // thread_serial() of its previous turn
};

struct Cell {
  std::mutex mutex;
  std::optional<LocalObject> object;
  long serial = 0;
};

struct Workload {
  Registry registry;
  ClassRef plain;    // objects with an even serial
  ClassRef slotted;  // odd serials: "owner", a slot, holds the serial for every context
  std::array<Cell, kCells> cells;
  std::atomic<long> next_serial{1};

  std::mutex queue_mutex;
  std::condition_variable queue_cv;
  std::deque<std::unique_ptr<Task>> queue;  // guarded by queue_mutex
  bool stop = false;                        // guarded by queue_mutex
  std::atomic<int> live_tasks{0};

  std::uint64_t turn_target = 0;
  std::uint64_t quota = 0;  // turns a worker takes before it exits
  std::atomic<std::uint64_t> turns{0}, migrations{0}, copies{0}, children{0}, finished{0},
      dropped_entered{0}, replaced{0}, nested{0};
  std::atomic<bool> out_of_room{false};
  Failures failures;

  std::unique_ptr<Task> new_task(std::mt19937_64& rng) {
    auto task = std::make_unique<Task>();
    task->context.emplace();
    task->turns_left = 5 + static_cast<int>(rng() % 60);
    live_tasks.fetch_add(1);
    return task;
  }
  void push(std::unique_ptr<Task> task) {
    {
      std::lock_guard lock(queue_mutex);
      queue.push_back(std::move(task));
    }
    queue_cv.notify_one();
  }
  // The next task, or nullptr once the run stops.
  std::unique_ptr<Task> pop() {
    std::unique_lock lock(queue_mutex);
    queue_cv.wait(lock, [&] { return stop || !queue.empty(); });
    if (stop) return nullptr;
    std::unique_ptr<Task> task = std::move(queue.front());
    queue.pop_front();
    return task;
  }
  void stop_all() {
    {
      std::lock_guard lock(queue_mutex);
      stop = true;
    }
    queue_cv.notify_all();
  }

  // Replaces cell `c`'s object with a new one, whose init runs in this thread's current
  // context. The old object dies when its last handle goes: here, or on a worker holding it.
  void replace(int c) {
    const long serial = next_serial.fetch_add(1);
    LocalObject fresh(serial % 2 != 0 ? slotted : plain, {Value(serial)});
    if (serial % 2 != 0) fresh.setattr("owner", serial);
    std::optional<LocalObject> old;
    {
      std::lock_guard lock(cells[c].mutex);
      old = std::exchange(cells[c].object, std::move(fresh));
      cells[c].serial = serial;
    }
    replaced.fetch_add(1, std::memory_order_relaxed);
  }
};

// The objects a turn touches: handles taken from the cells, with the serials they had then.
struct Touched {
  std::array<int, kTouch> cell{};
  std::array<std::optional<LocalObject>, kTouch> object;
  std::array<long, kTouch> serial{};
  std::array<int, kTouch> tag{};  // the tag of the value in the task's dict
};

void fail(Workload& run, const Task& task, int c, long serial, const std::string& what) {
  run.failures.add("cell " + std::to_string(c) + " object " + std::to_string(serial) +
                   " (task saw " + std::to_string(task.seen[c].serial) + "): " + what);
}

// In the task's context: its dict for the object is its own (the object's serial, not a dead
// one's), holds the count the task left (0 for an object it has not touched: init ran here),
// and a live value; then the count goes up.
void touch(Workload& run, Task& task, Touched& touched, int i) {
  const int c = touched.cell[i];
  const long serial = touched.serial[i];
  LocalObject& obj = *touched.object[i];
  const long in_dict = obj.get<long>("serial");
  if (in_dict != serial) {
    return fail(run, task, c, serial, "a dict of object " + std::to_string(in_dict));
  }
  Seen& seen = task.seen[c];
  const long expected = seen.serial == serial ? seen.count : 0;
  const long count = obj.get<long>("count");
  if (count != expected) {
    fail(run, task, c, serial,
         "count " + std::to_string(count) + ", expected " + std::to_string(expected));
  }
  if (serial % 2 != 0 && obj.get<long>("owner") != serial) {
    fail(run, task, c, serial, "the slot holds " + std::to_string(obj.get<long>("owner")));
  }
  const int tag = obj.ref<Tracked>("t").tag();
  if (g_ledger->at(tag).destroyed.load() != 0) fail(run, task, c, serial, "its value died");
  touched.tag[i] = tag;
  obj.setattr("count", count + 1);
  seen = {serial, count + 1};
}

// Inside the task's scope: copies the task's context (while other workers kill objects it has
// dicts for), checks the copy through a nested scope, and makes it a task of its own when there
// is room (else the copy dies here, never entered).
void copy_task(Workload& run, Task& task, Touched& touched, std::mt19937_64& rng) {
  Context copy = Context::copy_current();
  run.copies.fetch_add(1, std::memory_order_relaxed);
  copy.run([&] {
    for (int i = 0; i < kTouch; ++i) {
      const int c = touched.cell[i];
      if (task.seen[c].serial != touched.serial[i]) continue;  // a newer object in that cell
      LocalObject& obj = *touched.object[i];
      if (obj.get<long>("count") != task.seen[c].count) {
        fail(run, task, c, touched.serial[i], "the copy has another count");
      }
      const Tracked& value = obj.ref<Tracked>("t");
      if (!value.owner() || value.tag() == touched.tag[i]) {
        fail(run, task, c, touched.serial[i], "the copy shares the task's value");
      }
    }
  });
  if (run.live_tasks.load() >= kMaxTasks) return;
  auto child = std::make_unique<Task>();
  child->context.emplace(std::move(copy));
  child->seen = task.seen;
  child->turns_left = 5 + static_cast<int>(rng() % 60);
  run.live_tasks.fetch_add(1);
  run.children.fetch_add(1, std::memory_order_relaxed);
  run.push(std::move(child));
}

void turn(Workload& run, Task& task, std::mt19937_64& rng) {
  const std::uint32_t me = thread_serial();
  if (task.last_thread != 0 && task.last_thread != me) {
    run.migrations.fetch_add(1, std::memory_order_relaxed);
  }
  task.last_thread = me;
  Touched touched;
  for (int i = 0; i < kTouch; ++i) {
    const int c = static_cast<int>(rng() % kCells);
    std::lock_guard lock(run.cells[c].mutex);
    touched.cell[i] = c;
    touched.object[i] = run.cells[c].object;
    touched.serial[i] = run.cells[c].serial;
  }
  const bool room = g_ledger->size() + 2 * kWorkers * kValuesPerTurn < g_ledger->options().entries;
  if (!room) run.out_of_room = true;
  {
    const Context::Scope entered(*task.context);
    for (int i = 0; i < kTouch; ++i) touch(run, task, touched, i);
    if (room && rng() % 24 == 0) copy_task(run, task, touched, rng);
    if (rng() % 32 == 0) {  // a context of its own, nested, gone at once
      run.nested.fetch_add(1, std::memory_order_relaxed);
      Context().run([&] {
        LocalObject& obj = *touched.object[0];
        if (obj.get<long>("count") != 0 || obj.get<long>("serial") != touched.serial[0]) {
          fail(run, task, touched.cell[0], touched.serial[0], "a new context is not empty");
        }
      });
    }
    if (rng() % 16 == 0) run.replace(static_cast<int>(rng() % kCells));  // init in the task's
    if (rng() % 4 == 0) {
      for (auto& obj : touched.object) obj.reset();  // objects may die inside the scope
    }
    if (task.turns_left == 1 && rng() % 2 == 0) {
      task.context.reset();  // the scope holds it; leaving destroys it
      run.dropped_entered.fetch_add(1, std::memory_order_relaxed);
    }
  }
  if (touched.object[0] && rng() % 8 == 0) {  // this thread's own dict: dies at its exit
    touched.object[0]->setattr("implicit", Tracked(*g_ledger));
  }
  if (rng() % 16 == 0) run.replace(static_cast<int>(rng() % kCells));  // init in the implicit
  --task.turns_left;
}

void work(Workload& run, std::uint64_t stream) {
  std::mt19937_64 rng(stream_seed(stream));
  for (std::uint64_t n = 0; n < run.quota; ++n) {
    std::unique_ptr<Task> task = run.pop();
    if (!task) return;
    turn(run, *task, rng);
    if (run.turns.fetch_add(1) + 1 >= run.turn_target || run.out_of_room.load()) run.stop_all();
    if (task->turns_left > 0) {
      run.push(std::move(task));
      continue;
    }
    task.reset();  // its context dies here, on this thread, unless it died at its leave
    run.finished.fetch_add(1, std::memory_order_relaxed);
    if (run.live_tasks.fetch_sub(1) - 1 < kTasks) run.push(run.new_task(rng));
  }
}

TEST(StressContexts, TasksMigrateWhileObjectsAndThreadsComeAndGo) {
  print_header("contexts");
  const localbag::RuntimeStats before = baseline();
  const std::uint64_t turns = scaled(200'000, 2000);
  Ledger ledger(own_entries(static_cast<int>(turns * 5 + 20'000)));
  g_ledger = &ledger;
  std::uint64_t threads_started = 0;
  {
    Workload run;
    run.turn_target = turns;
    run.quota = scaled(2000, 200);
    run.plain = run.registry.define(
        ClassSpec("Counter").init([](LocalObject& self, Args args, const Dict&) {
          g_inits.fetch_add(1, std::memory_order_relaxed);
          self.setattr("serial", args[0]);
          self.setattr("count", 0L);
          self.setattr("t", Tracked(*g_ledger));
        }));
    run.slotted = run.registry.define(ClassSpec("SlottedCounter").base("Counter").slots({"owner"}));
    for (int c = 0; c < kCells; ++c) run.replace(c);
    std::mt19937_64 rng(stream_seed(0));
    for (int t = 0; t < kTasks; ++t) run.push(run.new_task(rng));

    // Workers exit after their quota; each is replaced until the run stops.
    std::mutex exits_mutex;
    std::condition_variable exits_cv;
    std::vector<int> exited;
    std::vector<std::thread> pool(kWorkers);
    auto start = [&](int slot) {
      const std::uint64_t stream = ++threads_started;
      pool[slot] = std::thread([&, slot, stream] {
        work(run, stream);
        {
          std::lock_guard lock(exits_mutex);
          exited.push_back(slot);
        }
        exits_cv.notify_one();
      });
    };
    for (int slot = 0; slot < kWorkers; ++slot) start(slot);
    for (int running = kWorkers; running > 0;) {
      int slot = 0;
      {
        std::unique_lock lock(exits_mutex);
        exits_cv.wait(lock, [&] { return !exited.empty(); });
        slot = exited.back();
        exited.pop_back();
      }
      pool[slot].join();
      --running;
      bool stopping = false;
      {
        std::lock_guard lock(run.queue_mutex);
        stopping = run.stop;
      }
      if (!stopping) {
        start(slot);
        ++running;
      }
    }
    ASSERT_EQ(run.failures.count(), 0u) << run.failures.report();
    EXPECT_GT(run.migrations.load(), 0u) << "no task was resumed on another thread";
    EXPECT_GT(run.copies.load(), 0u);
    EXPECT_FALSE(run.out_of_room.load()) << "the ledger ran out of entries: the run stopped early";
    const localbag::RuntimeStats during = localbag::runtime_stats();
    EXPECT_EQ(during.live_contexts, before.live_contexts + run.queue.size());
    print_figures("contexts",
                  "turns=" + std::to_string(run.turns.load()) +
                      " threads=" + std::to_string(threads_started) +
                      " tasks finished=" + std::to_string(run.finished.load()) +
                      " migrations=" + std::to_string(run.migrations.load()) +
                      " copies=" + std::to_string(run.copies.load()) +
                      " copies made tasks=" + std::to_string(run.children.load()) +
                      " dropped while entered=" + std::to_string(run.dropped_entered.load()) +
                      " nested=" + std::to_string(run.nested.load()) +
                      " objects replaced=" + std::to_string(run.replaced.load()) +
                      " inits=" + std::to_string(g_inits.load()) +
                      " values tracked=" + std::to_string(ledger.size()));
    // The tasks left in the queue and the cells' objects die here, on the main thread.
  }
  ASSERT_NO_FATAL_FAILURE(expect_each_destroyed_once(ledger));
  EXPECT_EQ(ledger.live(), 0);
  g_ledger = nullptr;
  expect_runtime_back_to(before);
  EXPECT_EQ(localbag::runtime_stats().live_contexts, before.live_contexts) << "contexts leaked";
}

}  // namespace
}  // namespace lbstress
