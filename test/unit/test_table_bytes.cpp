// SPDX-License-Identifier: MIT
// Per-thread table memory (RuntimeStats::table_bytes). Object ids are reused lowest first, and a
// thread's record table stays proportional to the objects it touched: after a burst of objects
// is created and destroyed, a fresh thread that touches one object, new or surviving with an id
// near the top of the burst, adds at most 4 KiB of table. (The same two figures are the
// benchmark counters table_bytes_after_burst and table_bytes_high_id, test/bench/ratios.py.)
//
// kBurst is smaller than the benchmark's 1,000,000 to keep the ASan stage quick: the property
// does not depend on the size, only on ids far above what the fresh thread touches.

#include <gtest/gtest.h>

#include <cstdint>
#include <latch>
#include <optional>
#include <thread>
#include <utility>
#include <vector>

#include "localbag/local_object.hpp"
#include "localbag/stats.hpp"

namespace localbag {
namespace {

constexpr std::size_t kBurst = 200'000;
constexpr std::uint64_t kTableLimit = 4096;

// The table bytes a fresh thread adds by touching `objects`, measured while it is alive.
std::uint64_t table_bytes_of_fresh_thread(std::vector<LocalObject*> objects) {
  const std::uint64_t before = runtime_stats().table_bytes;
  std::latch touched(1);
  std::latch measured(1);
  std::thread t([&] {
    for (LocalObject* obj : objects) obj->setattr("t", 1);
    touched.count_down();
    measured.wait();
  });
  touched.wait();
  const std::uint64_t during = runtime_stats().table_bytes;
  measured.count_down();
  t.join();
  EXPECT_EQ(runtime_stats().table_bytes, before) << "the thread's table outlived the thread";
  return during - before;
}

// Creates kBurst objects at once (each touched by this thread, as a constructor does), then
// destroys them all but the one at `keep` (none when `keep` is kBurst). Returns the survivor.
std::optional<LocalObject> burst(std::size_t keep = kBurst) {
  std::vector<LocalObject> objects(kBurst);
  for (LocalObject& obj : objects) obj.setattr("v", 1);
  std::optional<LocalObject> survivor;
  if (keep < kBurst) survivor.emplace(objects[keep]);
  objects.clear();  // destroyed first to last
  return survivor;
}

TEST(TableBytes, AFreshThreadTouchingANewObjectAfterABurstAddsLittle) {
  burst();
  const RuntimeStats after_burst = runtime_stats();
  LocalObject fresh;
  // The new object took a recycled id: the lowest free one, so no new id was handed out.
  EXPECT_EQ(runtime_stats().id_high_water, after_burst.id_high_water);
  EXPECT_LE(table_bytes_of_fresh_thread({&fresh}), kTableLimit);
}

TEST(TableBytes, AFreshThreadTouchingOnlyAHighIdAddsLittle) {
  // The survivor was created near the end of the burst: its id is near kBurst.
  std::optional<LocalObject> survivor = burst(kBurst - 10);
  ASSERT_TRUE(survivor.has_value());
  EXPECT_LE(table_bytes_of_fresh_thread({&*survivor}), kTableLimit);
  // And a new object made now still gets a low id: a fresh thread touching it adds little too.
  const RuntimeStats before = runtime_stats();
  LocalObject fresh;
  EXPECT_EQ(runtime_stats().id_high_water, before.id_high_water);
  EXPECT_LE(table_bytes_of_fresh_thread({&fresh}), kTableLimit);
}

// A fresh thread touching 100 objects whose ids are spread over the whole burst: its table grows
// with the number of objects it touched (at most 64 bytes each beyond the 4 KiB), not with the
// highest id.
TEST(TableBytes, ATableGrowsWithWhatTheThreadTouchedNotWithTheHighestId) {
  constexpr std::size_t kSpread = 100;
  std::vector<LocalObject> survivors;
  {
    std::vector<LocalObject> objects(kBurst);
    for (std::size_t i = 0; i < kSpread; ++i) {
      survivors.push_back(objects[(i + 1) * (kBurst / kSpread) - 1]);
    }
  }
  std::vector<LocalObject*> touch;
  for (LocalObject& obj : survivors) touch.push_back(&obj);
  EXPECT_LE(table_bytes_of_fresh_thread(touch), kTableLimit + 64 * kSpread);
}

// Ids come back lowest first: after a burst, objects made one after another take the lowest
// free ids, and making fewer objects than the burst had never raises the high-water mark.
TEST(TableBytes, IdsAreReusedLowestFirst) {
  burst();
  const std::uint32_t high_water = runtime_stats().id_high_water;
  std::vector<LocalObject> again(1000);
  EXPECT_EQ(runtime_stats().id_high_water, high_water);
  std::vector<LocalObject*> touch;
  for (LocalObject& obj : again) touch.push_back(&obj);
  // 1,000 objects on the lowest ids: a dense table of at most 1,024 entries (8 KiB).
  EXPECT_LE(table_bytes_of_fresh_thread(touch), 1024 * sizeof(void*));
}

}  // namespace
}  // namespace localbag
