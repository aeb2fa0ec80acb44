// SPDX-License-Identifier: MIT
// Stress: id recycling. Objects are destroyed and recreated in a tight loop, so their ids (the
// index of every thread's table) are reused at once, while long-lived reader threads keep
// taking fresh handles and using them through pre-hashed keys. Every object stores its own
// serial (per thread through init, and in a slot shared by all threads): no thread may ever
// see a dead object's value, and a fresh object must never show an attribute a thread set on
// a dead one that had the same id.

#include <gtest/gtest.h>

#include <atomic>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "localbag/localbag.hpp"
#include "stress_util.hpp"

namespace lbstress {
namespace {

constexpr int kCells = 4;    // few cells: ids come back within a few creations
constexpr int kReaders = 6;  // long-lived threads whose tables keep entries for dead objects

struct Cell {
  std::mutex mutex;
  std::optional<LocalObject> object;
  long serial = 0;
};

TEST(StressRecycling, NoThreadSeesADeadObjectsValues) {
  print_header("id-recycling");
  const localbag::RuntimeStats before = baseline();
  const std::uint64_t target = scaled(200'000, 1000);
  Registry registry;
  const ClassRef plain = registry.define(ClassSpec("Serial")
                                             .attr("default_only", 1)
                                             .init([](LocalObject& self, Args args, const Dict&) {
                                               self.setattr("serial", args[0].get<long>());
                                             }));
  const ClassRef slotted = registry.define(ClassSpec("Slotted").base("Serial").slots({"owner"}));

  Cell cells[kCells];
  std::atomic<long> next_serial{1};
  std::atomic<std::uint64_t> created{0}, reads{0}, fresh_seen{0}, destroyed_by_readers{0};
  std::atomic<bool> stop{false};
  std::atomic<std::uint64_t> reads_so_far{0};  // paces the creator: readers keep up with it
  std::atomic<int> empty_cells{0};
  std::atomic<int> readers_running{kReaders};
  Failures failures;

  auto make = [&](long serial) {
    LocalObject obj(serial % 2 == 0 ? slotted : plain, {Value(serial)});
    if (serial % 2 == 0) obj.setattr("owner", serial);  // the slot: same for every thread
    created.fetch_add(1, std::memory_order_relaxed);
    return obj;
  };
  for (int i = 0; i < kCells; ++i) {
    cells[i].serial = next_serial.fetch_add(1);
    cells[i].object = make(cells[i].serial);
  }

  auto reader = [&](int index) {
    static const Key kSerial("serial"), kMine("mine_and_only_mine"), kOwner("owner");
    std::mt19937_64 rng(stream_seed(static_cast<std::uint64_t>(index)));
    long last_serial[kCells] = {};
    std::uint64_t n = 0;
    while (!stop.load(std::memory_order_relaxed)) {
      const int c = static_cast<int>(rng() % kCells);
      std::optional<LocalObject> obj;
      long serial;
      {
        std::lock_guard lock(cells[c].mutex);
        obj = cells[c].object;
        serial = cells[c].serial;
        if (obj && rng() % 32 == 0) {  // this reader may now be the one that destroys it
          cells[c].object.reset();
          empty_cells.fetch_add(1);
          destroyed_by_readers.fetch_add(1, std::memory_order_relaxed);
        }
      }
      if (!obj) continue;
      ++n;
      reads_so_far.fetch_add(1, std::memory_order_relaxed);
      const bool fresh = serial != last_serial[c];
      last_serial[c] = serial;
      if (fresh) {  // this thread has not touched this object before: only init's value
        const localbag::Dict& d = obj->dict();
        if (d.size() != 1 || d.try_get<long>(kSerial) == nullptr) {
          failures.add("fresh object shows a stale attribute: " + localbag::repr(d));
        }
        if (obj->hasattr(kMine)) failures.add("fresh object has a dead object's attribute");
        fresh_seen.fetch_add(1, std::memory_order_relaxed);
        obj->setattr(kMine, serial);
      }
      if (obj->get<long>(kSerial) != serial) failures.add("serial of another object");
      if (auto mine = obj->try_get<long>(kMine); !mine || *mine != serial) {
        failures.add("own attribute lost or from another object");
      }
      if (serial % 2 == 0 && obj->get<long>(kOwner) != serial) failures.add("slot of another");
      if (obj->get<int>("default_only") != 1) failures.add("class default");
    }
    reads.fetch_add(n);
  };

  std::vector<std::thread> readers;
  for (int i = 0; i < kReaders; ++i) {
    readers.emplace_back([&, i] {
      try {
        reader(i);
      } catch (const std::exception& e) {
        failures.add(std::string("reader: ") + e.what());
      }
      readers_running.fetch_sub(1);
    });
  }
  // The creator: replace a random cell's object, again and again.
  std::mt19937_64 rng(stream_seed(999));
  while (created.load() < target) {
    const long serial = next_serial.fetch_add(1);
    LocalObject fresh = make(serial);
    if (fresh.dict().size() != 1) failures.add("creator: fresh object has stale attributes");
    int pick = static_cast<int>(rng() % kCells);
    for (int i = 0; i < kCells && empty_cells.load() > 0; ++i) {  // refill an empty cell first
      std::lock_guard lock(cells[i].mutex);
      if (!cells[i].object) pick = i;
    }
    Cell& cell = cells[pick];
    std::optional<LocalObject> old;
    {
      std::lock_guard lock(cell.mutex);
      if (!cell.object) empty_cells.fetch_sub(1);
      old = std::exchange(cell.object, std::move(fresh));
      cell.serial = serial;
    }
    old.reset();  // the old object dies here unless a reader still holds it
    // At least one read per two creations, so that reads interleave with the recycling (while
    // some cell holds an object to read).
    while (reads_so_far.load(std::memory_order_relaxed) < created.load() / 2 &&
           readers_running.load() > 0 && empty_cells.load() < kCells) {
      std::this_thread::yield();
    }
  }
  stop.store(true);
  for (std::thread& t : readers) t.join();
  for (Cell& cell : cells) cell.object.reset();

  EXPECT_EQ(failures.count(), 0u) << failures.report();
  const std::uint32_t ids = localbag::runtime_stats().id_high_water - before.id_high_water;
  // At most kCells + kReaders + 1 objects are alive at once: ids must be reused constantly,
  // otherwise this test would not exercise recycling at all.
  EXPECT_LE(ids, 2u * (kCells + kReaders + 2));
  EXPECT_GT(fresh_seen.load(), 0u);
  print_figures(
      "id-recycling",
      "objects created=" + std::to_string(created.load()) + " ids used=" + std::to_string(ids) +
          " reader threads=" + std::to_string(kReaders) + " reads=" + std::to_string(reads.load()) +
          " released by readers=" + std::to_string(destroyed_by_readers.load()) +
          " first touches checked=" + std::to_string(fresh_seen.load()));
  expect_runtime_back_to(before);
}

}  // namespace
}  // namespace lbstress
