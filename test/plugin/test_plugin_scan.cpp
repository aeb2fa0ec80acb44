// SPDX-License-Identifier: MIT
// Plugin::usage() reads the dicts of explicit contexts that no thread has entered, marking each
// while it reads (ContextHead::kScanned): an enter on another thread meanwhile waits for the
// read to end, and a context whose last handle goes meanwhile is retired by the reader. These
// tests race usage() against threads that enter, fill, leave and drop contexts; they run in
// the stress suite too, so that ThreadSanitizer checks the protocol.

#include <gtest/gtest.h>

#include <atomic>
#include <cstddef>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "localbag/context.hpp"
#include "localbag/local_object.hpp"
#include "plugin_test_util.hpp"

namespace localbag::plugin_test {
namespace {

TEST(PluginScan, UsageRacesEntersAndDroppedContexts) {
  PluginA a(plugin_a_path(1));
  a.start();
  LocalObject host;
  constexpr int kRounds = 300;
  std::atomic<bool> done{false};
  std::atomic<int> rounds_done{0};

  // One context kept across rounds (entered, filled and left again and again), and one fresh
  // context per round whose handle is dropped at once after it is left: both may be read by
  // usage() at any moment.
  Context kept;  // outlives the unload: its builtin values are read, then die, after it
  std::thread worker([&] {
    for (int i = 0; i < kRounds; ++i) {
      {
        const Context::Scope scope(kept);
        a.work(host);
        host.setattr("round", i);
        EXPECT_EQ(host.get<int>("round"), i);
      }
      {
        Context fresh;
        {
          const Context::Scope scope(fresh);
          a.work(host);
        }
        {
          // A second enter of the same context: it may find a reader's mark and wait.
          const Context::Scope scope(fresh);
          a.forget(host);
          EXPECT_EQ(host.find("token"), nullptr);
        }
      }  // the last handle: the context dies here, or in a reader that holds its mark
      rounds_done.fetch_add(1, std::memory_order_release);
    }
    {
      const Context::Scope scope(kept);
      a.forget(host);
    }
    done.store(true, std::memory_order_release);
  });

  std::size_t reports = 0;
  std::size_t with_kept_context = 0;
  while (!done.load(std::memory_order_acquire)) {
    const PluginUsage usage = a.plugin.usage();
    ++reports;
    if (find_place(usage, {"context"}) != nullptr) ++with_kept_context;
  }
  worker.join();
  EXPECT_EQ(rounds_done.load(), kRounds);
  EXPECT_GT(reports, 0u);
  std::printf("usage() reports during %d rounds: %zu, %zu of them found a context's values\n",
              kRounds, reports, with_kept_context);

  a.stop();
  EXPECT_TRUE(a.plugin.usage().empty()) << a.plugin.usage().to_string();
  EXPECT_TRUE(unload_completes(a.plugin));
  EXPECT_FALSE(mapped(plugin_a_path(1)));
  // The builtin values the plugin left in the kept context are the host's: read after the
  // unload, then destroyed with the context (ASan checks that nothing reaches the plugin).
  kept.run([&] {
    EXPECT_EQ(host.get<int>("round"), kRounds - 1);
    EXPECT_EQ(host.get<int>("count"), kRounds);
    EXPECT_EQ(host.get<std::string>("label"), plugin_api::label_for(1, kRounds));
    EXPECT_EQ(host.get<List>("history").size(), 3u);
    EXPECT_EQ(host.find("token"), nullptr);
  });
}

}  // namespace
}  // namespace localbag::plugin_test
