// SPDX-License-Identifier: MIT
// Stress: thread churn. Thousands of short-lived threads (at most ~32 alive) each touch a random
// subset of shared objects with get/set/del/dict/call and exit, while other threads create and
// destroy objects (200,000 at scale 1; 4,000 threads) and change class defaults and slot values.
// Every result a worker sees is checked against what it did itself (its own dict is private to it)
// and the set of values other threads may have put in class defaults and slots.

#include <gtest/gtest.h>

#include <atomic>
#include <deque>
#include <map>
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

constexpr int kCells = 16;
constexpr int kMaxWorkers = 24;  // + 2 creators + 1 mutator + main: at most 28 threads alive
const char* const kNames[] = {"a", "b", "c", "color", "number", "an_attribute_with_a_long_name"};

struct Cell {
  std::mutex mutex;
  std::optional<LocalObject> object;
  long serial = 0;
  bool derived = false;
};

struct Shared {
  Registry registry;
  ClassRef base, derived;
  Cell cells[kCells];
  std::atomic<long> next_serial{1};
  std::atomic<std::uint64_t> objects_created{0}, ops{0}, class_changes{0}, slot_changes{0};
  std::atomic<std::uint64_t> threads_started{0};
  std::atomic<bool> workers_done{false};
  Failures failures;
};

bool allowed_color(const std::string& c) {
  return c == "red" || (c.size() == 2 && c[0] == 'c' && c[1] >= '0' && c[1] <= '7');
}

void define_classes(Shared& s) {
  s.base = s.registry.define(ClassSpec("Base")
                                 .attr("color", "red")
                                 .attr("number", 2)
                                 .method("squared",
                                         [](LocalObject& self, Args) -> Value {
                                           const int n = self.get<int>("number");
                                           return n * n;
                                         })
                                 .init([](LocalObject& self, Args args, const Dict&) {
                                   self.setattr("serial", args[0].get<long>());
                                   self.setattr("initialized", true);
                                 }));
  s.derived = s.registry.define(ClassSpec("Derived")
                                    .base("Base")
                                    .attr("kind", "derived")
                                    .slots({"shared"})
                                    .method("bump", [](LocalObject& self, Args) -> Value {
                                      const int hits = self.try_get<int>("hits").value_or(0) + 1;
                                      self.setattr("hits", hits);
                                      return hits;
                                    }));
}

LocalObject make_object(Shared& s, bool derived, long serial) {
  s.objects_created.fetch_add(1, std::memory_order_relaxed);
  return LocalObject(derived ? s.derived : s.base, {Value(serial)});
}

// What one worker thread knows of its own dict for one object: keys in insertion order.
struct OwnModel {
  std::vector<std::pair<std::string, int>> items;
  int* find(const std::string& k) {
    for (auto& [key, v] : items) {
      if (key == k) return &v;
    }
    return nullptr;
  }
  void set(const std::string& k, int v) {
    if (int* p = find(k)) {
      *p = v;
    } else {
      items.emplace_back(k, v);
    }
  }
  void erase(const std::string& k) {
    std::erase_if(items, [&](const auto& kv) { return kv.first == k; });
  }
};

class Worker {
 public:
  Worker(Shared& s, std::uint64_t index) : s_(s), rng_(stream_seed(index)), index_(index) {}

  void run() {
    const int touched = 1 + static_cast<int>(rng_() % 5);
    for (int t = 0; t < touched; ++t) {
      Cell& cell = s_.cells[rng_() % kCells];
      std::optional<LocalObject> obj;
      long serial;
      bool derived;
      {
        std::lock_guard lock(cell.mutex);
        if (!cell.object) continue;
        obj = cell.object;
        serial = cell.serial;
        derived = cell.derived;
      }
      try {
        exercise(*obj, serial, derived);
      } catch (const std::exception& e) {
        fail(std::string("unexpected exception: ") + e.what());
      }
    }
    s_.ops.fetch_add(ops_, std::memory_order_relaxed);
  }

 private:
  void fail(const std::string& what) {
    s_.failures.add("worker " + std::to_string(index_) + ": " + what);
  }
  void check(bool ok, const char* what) {
    if (!ok) fail(what);
  }

  template <class F>
  void expect_missing(LocalObject& obj, const std::string& name, F&& op) {
    const std::string want = "'" + obj.type()->name() + "' object has no attribute '" + name + "'";
    try {
      op();
      fail("no AttributeError for " + name);
    } catch (const AttributeError& e) {
      if (e.what() != want) fail(std::string("wrong message: ") + e.what());
    }
  }

  void exercise(LocalObject& obj, long serial, bool derived) {
    auto [it, first_touch] = models_.try_emplace(serial);
    OwnModel& own = it->second;  // what this thread set, beyond init's serial and initialized
    if (first_touch) {           // the first access runs init: the dict holds exactly what init set
      const std::vector<std::string> keys = obj.dict().keys();
      check(keys == std::vector<std::string>{"serial", "initialized"}, "init keys");
    }
    check(obj.get<long>("serial") == serial, "serial of another object");
    const int n_ops = 8 + static_cast<int>(rng_() % 40);
    for (int i = 0; i < n_ops; ++i, ++ops_) {
      const std::string name = kNames[rng_() % std::size(kNames)];
      switch (rng_() % 9) {
        case 0:
        case 1: {  // set
          const int v = static_cast<int>(rng_() % 1000);
          obj.setattr(name, v);
          own.set(name, v);
          break;
        }
        case 2: {  // get
          if (const int* mine = own.find(name)) {
            check(obj.get<int>(name) == *mine, "own value");
          } else if (name == "color") {
            check(allowed_color(obj.get<std::string>(name)), "class default color");
          } else if (name == "number") {
            const int n = obj.get<int>(name);
            check(n >= 2 && n <= 9, "class default number");
          } else {
            expect_missing(obj, name, [&] { (void)obj.get<int>(name); });
          }
          break;
        }
        case 3: {  // del
          if (own.find(name) != nullptr) {
            obj.delattr(name);
            own.erase(name);
            check(obj.hasattr(name) == (name == "color" || name == "number"), "hasattr after del");
          } else {
            expect_missing(obj, name, [&] { obj.delattr(name); });
          }
          break;
        }
        case 4: {  // dict: compare, and sometimes write through it
          Dict& d = obj.dict();
          check(d.size() == own.items.size() + 2, "dict size");
          for (const auto& [key, v] : own.items) {
            const int* p = d.try_get<int>(key);
            check(p != nullptr && *p == v, "dict value");
          }
          if (rng_() % 2 == 0) {
            const int v = static_cast<int>(rng_() % 1000);
            d.set(name, v);
            own.set(name, v);
          }
          break;
        }
        case 5: {  // call
          const int r = obj.call("squared").get<int>();
          if (const int* mine = own.find("number")) {
            check(r == *mine * *mine, "squared of own number");
          } else {
            check(
                r == 4 || r == 9 || r == 16 || r == 25 || r == 36 || r == 49 || r == 64 || r == 81,
                "squared of a class default");
          }
          break;
        }
        case 6: {  // the __dict__ copy
          const Value copy = obj.getattr("__dict__");
          check(copy.get<Dict>().size() == own.items.size() + 2, "__dict__ copy size");
          break;
        }
        case 7: {  // a method that writes the caller's own dict
          if (!derived) break;
          const int* hits = own.find("hits");
          const int want = (hits != nullptr ? *hits : 0) + 1;
          check(obj.call("bump").get<int>() == want, "bump");
          own.set("hits", want);
          break;
        }
        default: {  // the slot every thread shares
          if (!derived) break;
          if (rng_() % 2 == 0) {
            obj.setattr("shared", static_cast<int>(rng_() % 1000));
          } else if (auto v = obj.try_get<int>("shared")) {
            check(*v >= 0 && *v < 1000, "slot value");
          }
          break;
        }
      }
    }
    check(obj.get<long>("serial") == serial, "serial at the end");
  }

  Shared& s_;
  std::mt19937_64 rng_;
  std::uint64_t index_;
  std::uint64_t ops_ = 0;
  std::map<long, OwnModel> models_;  // by object serial
};

// Creates and destroys objects, keeping pace with the workers, until the target is reached.
void creator(Shared& s, int index, std::uint64_t target, std::uint64_t threads) {
  std::mt19937_64 rng(stream_seed(1'000'000 + index));
  for (;;) {
    const std::uint64_t made = s.objects_created.load();
    if (made >= target && s.workers_done.load()) break;
    const std::uint64_t pace = target * (s.threads_started.load() + threads / 10) / threads;
    if (made >= pace && !s.workers_done.load()) {
      std::this_thread::yield();
      continue;
    }
    if (rng() % 4 == 0) {  // replace a shared object: the old one dies wherever its last user is
      const bool derived = rng() % 2 == 0;
      const long serial = s.next_serial.fetch_add(1);
      LocalObject fresh = make_object(s, derived, serial);
      if (fresh.get<long>("serial") != serial || fresh.dict().size() != 2) {
        s.failures.add("creator: fresh object not as init left it");
      }
      Cell& cell = s.cells[rng() % kCells];
      std::optional<LocalObject> old;  // dies after the lock: wherever its last user is
      {
        std::lock_guard lock(cell.mutex);
        old = std::exchange(cell.object, std::move(fresh));
        cell.serial = serial;
        cell.derived = derived;
      }
    } else {  // a short-lived object, used once
      LocalObject temp = make_object(s, rng() % 2 == 0, s.next_serial.fetch_add(1));
      temp.setattr("color", "blue");
      if (temp.get<std::string>("color") != "blue") s.failures.add("creator: temp object");
    }
  }
}

// Changes class defaults (seen by every thread not shadowing them) and slot values.
void mutator(Shared& s) {
  std::mt19937_64 rng(stream_seed(2'000'000));
  while (!s.workers_done.load()) {
    switch (rng() % 3) {
      case 0:
        s.base->setattr("color", "c" + std::to_string(rng() % 8));
        s.class_changes.fetch_add(1, std::memory_order_relaxed);
        break;
      case 1:
        s.base->setattr("number", 2 + static_cast<int>(rng() % 8));
        s.class_changes.fetch_add(1, std::memory_order_relaxed);
        break;
      default: {
        Cell& cell = s.cells[rng() % kCells];
        std::optional<LocalObject> obj;
        {
          std::lock_guard lock(cell.mutex);
          if (cell.derived) obj = cell.object;
        }
        if (!obj) break;
        if (rng() % 4 == 0) {
          if (obj->hasattr("shared")) obj->delattr("shared");  // only this thread deletes it
        } else {
          obj->setattr("shared", static_cast<int>(rng() % 1000));
        }
        s.slot_changes.fetch_add(1, std::memory_order_relaxed);
      }
    }
    std::this_thread::yield();
  }
}

// Runs `body`, recording any exception as a failure.
template <class F>
void guarded(Failures& failures, const char* who, F&& body) {
  try {
    body();
  } catch (const std::exception& e) {
    failures.add(std::string(who) + ": unexpected exception: " + e.what());
  }
}

TEST(StressChurn, ThreadsAndObjectsChurnTogether) {
  print_header("churn");
  const localbag::RuntimeStats before = baseline();
  const std::uint64_t total_threads = scaled(4000, 40);
  const std::uint64_t target_objects = scaled(200'000, 1000);
  std::uint64_t objects_at_end = 0;
  {
    Shared s;
    define_classes(s);
    for (int i = 0; i < kCells; ++i) {
      s.cells[i].derived = i % 2 == 1;
      s.cells[i].serial = s.next_serial.fetch_add(1);
      s.cells[i].object = make_object(s, s.cells[i].derived, s.cells[i].serial);
    }
    std::vector<std::thread> helpers;
    for (int c = 0; c < 2; ++c) {
      helpers.emplace_back([&, c] {
        guarded(s.failures, "creator", [&] { creator(s, c, target_objects, total_threads); });
      });
    }
    helpers.emplace_back([&] { guarded(s.failures, "mutator", [&] { mutator(s); }); });

    std::deque<std::thread> workers;
    for (std::uint64_t i = 0; i < total_threads; ++i) {
      if (workers.size() >= kMaxWorkers) {
        workers.front().join();
        workers.pop_front();
      }
      s.threads_started.fetch_add(1);
      workers.emplace_back([&s, i] { Worker(s, i).run(); });
    }
    for (std::thread& t : workers) t.join();
    s.workers_done.store(true);
    for (std::thread& t : helpers) t.join();
    for (Cell& cell : s.cells) cell.object.reset();

    EXPECT_EQ(s.failures.count(), 0u) << s.failures.report();
    objects_at_end = s.objects_created.load();
    EXPECT_GE(objects_at_end, target_objects);
    const std::uint32_t ids = localbag::runtime_stats().id_high_water - before.id_high_water;
    // Ids are recycled: far fewer ids than objects (at most ~200 objects are alive at once).
    EXPECT_LE(ids, 512u) << "object ids are not recycled";
    print_figures("churn", "threads churned=" + std::to_string(total_threads) +
                               " objects created=" + std::to_string(objects_at_end) +
                               " operations=" + std::to_string(s.ops.load()) +
                               " class default changes=" + std::to_string(s.class_changes.load()) +
                               " slot changes=" + std::to_string(s.slot_changes.load()) +
                               " ids used=" + std::to_string(ids));
  }
  expect_runtime_back_to(before);
}

}  // namespace
}  // namespace lbstress
