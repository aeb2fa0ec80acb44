// SPDX-License-Identifier: MIT
// Plugin::usage() reads the dicts of explicit contexts that no thread has entered, marking each
// while it reads (ContextHead::kScanned): an enter on another thread meanwhile waits for the
// read to end, and a context whose last handle goes meanwhile is retired by the reader. These
// tests race usage() against threads that enter, fill, leave and drop contexts; they run in
// the stress suite too, so that ThreadSanitizer checks the protocol.

#include <gtest/gtest.h>

#include <atomic>
#include <cstddef>
#include <latch>
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
  // The worker runs at least kRounds rounds, and on until this thread has asked kReports times:
  // which of the two is faster depends on the machine.
  constexpr int kRounds = 300;
  constexpr std::size_t kReports = 1000;
  std::atomic<std::size_t> reports{0};
  std::atomic<bool> done{false};
  std::atomic<int> rounds_done{0};

  // One context kept across rounds (entered, filled and left again and again), and one fresh
  // context per round whose handle is dropped at once after it is left: both may be read by
  // usage() at any moment.
  Context kept;             // outlives the unload: its builtin values are read, then die, after it
  std::latch reporting(1);  // the worker starts once this thread is about to ask
  std::thread worker([&] {
    reporting.wait();
    for (int i = 0; i < kRounds || reports.load(std::memory_order_relaxed) < kReports; ++i) {
      {
        // The plugin's values go into `kept` once; later rounds only enter it, set and read, so
        // that the worker spends most of its time elsewhere and usage() finds `kept` entered
        // nowhere (plugin_work takes a registry's lock, which usage() holds while it reads).
        const Context::Scope scope(kept);
        if (i == 0) a.work(host);
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

  std::size_t with_kept_context = 0;
  reporting.count_down();
  do {
    const PluginUsage usage = a.plugin.usage();
    reports.fetch_add(1, std::memory_order_relaxed);
    if (find_place(usage, {"context"}) != nullptr) ++with_kept_context;
    // usage() takes every registry's lock and the runtime mutex, neither of them fair: let the
    // worker have them between two reports, or it may wait for most of the run.
    std::this_thread::yield();
  } while (!done.load(std::memory_order_acquire));
  worker.join();
  const int rounds = rounds_done.load();
  EXPECT_GE(rounds, kRounds);
  EXPECT_GE(reports.load(), kReports);
  std::printf("usage() reports during %d rounds: %zu, %zu of them found a context's values\n",
              rounds, reports.load(), with_kept_context);

  a.stop();
  EXPECT_TRUE(a.plugin.usage().empty()) << a.plugin.usage().to_string();
  EXPECT_TRUE(unload_completes(a.plugin));
  EXPECT_FALSE(mapped(plugin_a_path(1)));
  // The builtin values the plugin left in the kept context are the host's: read after the
  // unload, then destroyed with the context (ASan checks that nothing reaches the plugin).
  kept.run([&] {
    EXPECT_EQ(host.get<int>("round"), rounds - 1);
    EXPECT_EQ(host.get<int>("count"), 1);
    EXPECT_EQ(host.get<std::string>("label"), plugin_api::label_for(1, 1));
    EXPECT_EQ(host.get<List>("history").size(), 3u);
    EXPECT_EQ(host.find("token"), nullptr);
  });
}

}  // namespace
}  // namespace localbag::plugin_test
