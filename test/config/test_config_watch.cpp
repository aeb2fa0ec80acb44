// SPDX-License-Identifier: MIT
// Config's watcher: no thread until watch(), one while watching, none after unwatch() or the
// configuration's end; a reload on an in-place rewrite, an atomic rename over the file, a
// symlink swap of the file, and a symlink swap of a directory on the path (as Envoy deploys
// runtime files), following the new target afterwards; a bad file goes to the error handlers
// and changes nothing. Every wait has a deadline of 10 s; no test sleeps for what it asserts,
// except to show that nothing happens after unwatch().

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "config_test_util.hpp"
#include "localbag/config.hpp"
#include "localbag/error.hpp"
#include "test_support.hpp"

namespace localbag {
namespace {

namespace fs = std::filesystem;
using config_test::count_threads;
using config_test::snapshot;
using config_test::swap_symlink;
using config_test::TempDir;
using config_test::wait_until;
using config_test::write_atomically;
using config_test::write_file;
using namespace std::chrono_literals;

// Version `v` of a one-class document: both attributes hold v.
std::string doc(int v) {
  const std::string n = std::to_string(v);
  std::string text = "{\"c\": {\"x\": ";
  text += n;
  text += ", \"y\": \"v";
  text += n;
  text += "\"}}\n";
  return text;
}

// Whether `config` shows version `v` of doc() on this thread.
bool shows(Config& config, int v) {
  LocalObject c = config.object("c");
  return c.get<int>("x") == v && c.get<std::string>("y") == std::string("v") + std::to_string(v);
}

// Errors the watcher reported, and the threads subscribers ran on.
struct Reports {
  std::mutex mutex;
  std::vector<ConfigError> errors;
  std::vector<std::thread::id> threads;
  std::size_t error_count() {
    std::lock_guard lock(mutex);
    return errors.size();
  }
};

Config::Subscription report_errors(Config& config, Reports& reports) {
  return config.on_error([&reports](const ConfigError& e) {
    std::lock_guard lock(reports.mutex);
    reports.errors.push_back(e);
  });
}

// First in the file: the process has no thread left over from other tests.
TEST(ConfigWatch, OneThreadWhileWatchingAndNoneOtherwise) {
  TempDir dir;
  const fs::path path = dir / "config.json";
  write_file(path, doc(1));
  // A sanitizer's runtime may start a thread of its own with the first thread: start one first.
  // (A joined thread may still be listed for a moment: let it go before counting.)
  std::thread([] {}).join();
  std::this_thread::sleep_for(20ms);
  const int base = count_threads();
  {
    Config config(path);
    EXPECT_FALSE(config.watching());
    // No thread unless started (a thread that appears late would still be counted here).
    std::this_thread::sleep_for(20ms);
    EXPECT_EQ(count_threads(), base);
    config.watch();
    EXPECT_TRUE(config.watching());
    EXPECT_EQ(count_threads(), base + 1);
    config.watch();  // already watching: nothing more
    EXPECT_TRUE(config.watching());
    EXPECT_EQ(count_threads(), base + 1);
    config.unwatch();
    EXPECT_FALSE(config.watching());
    EXPECT_TRUE(wait_until([&] { return count_threads() == base; })) << count_threads();
    config.unwatch();  // not watching: nothing
    EXPECT_FALSE(config.watching());
    config.watch();  // again
    EXPECT_TRUE(config.watching());
    EXPECT_EQ(count_threads(), base + 1);
  }
  // The destructor stopped it.
  EXPECT_TRUE(wait_until([&] { return count_threads() == base; })) << count_threads();
}

TEST(ConfigWatch, InPlaceRewrite) {
  TempDir dir;
  const fs::path path = dir / "config.json";
  write_file(path, doc(1));
  Config config(path);
  Reports reports;
  std::atomic<int> updates{0};
  std::mutex mutex;
  std::vector<std::thread::id> threads;
  Config::Subscription sub = config.subscribe([&](const ConfigUpdate&) {
    updates.fetch_add(1);
    std::lock_guard lock(mutex);
    threads.push_back(std::this_thread::get_id());
  });
  config.watch();
  for (int v = 2; v <= 4; ++v) {
    write_file(path, doc(v));  // truncated and written: the same inode
    ASSERT_TRUE(wait_until([&] { return shows(config, v); })) << "version " << v << " not seen";
  }
  // The values show as soon as they are published; the version and the callbacks follow.
  EXPECT_TRUE(wait_until([&] { return config.version() >= 4 && updates.load() >= 3; }))
      << config.version() << " " << updates.load();
  // The last reload read the whole file: no error stands.
  EXPECT_TRUE(wait_until([&] { return !config.last_error().has_value(); }));
  config.unwatch();
  std::lock_guard lock(mutex);
  for (const std::thread::id& id : threads) EXPECT_NE(id, std::this_thread::get_id());
}

TEST(ConfigWatch, AtomicRenameOverTheFile) {
  TempDir dir;
  const fs::path path = dir / "config.json";
  write_file(path, doc(1));
  Config config(path);
  config.watch();
  for (int v = 2; v <= 4; ++v) {
    write_atomically(path, doc(v));
    ASSERT_TRUE(wait_until([&] { return shows(config, v); })) << "version " << v << " not seen";
  }
  // The file that replaced the watched one is watched in turn: an in-place write to it counts.
  write_file(path, doc(5));
  EXPECT_TRUE(wait_until([&] { return shows(config, 5); }));
  EXPECT_FALSE(config.last_error().has_value());
}

TEST(ConfigWatch, SymlinkSwapOfTheFile) {
  TempDir dir;
  write_file(dir / "v1.json", doc(1));
  write_file(dir / "v2.json", doc(2));
  const fs::path path = dir / "config.json";
  fs::create_symlink("v1.json", path);
  Config config(path);
  EXPECT_TRUE(shows(config, 1));
  config.watch();
  swap_symlink(path, "v2.json");
  ASSERT_TRUE(wait_until([&] { return shows(config, 2); }));
  // The new target is the one followed now.
  write_file(dir / "v2.json", doc(3));
  EXPECT_TRUE(wait_until([&] { return shows(config, 3); }));
  // And back to a new target again.
  write_file(dir / "v4.json", doc(4));
  swap_symlink(path, "v4.json");
  EXPECT_TRUE(wait_until([&] { return shows(config, 4); }));
  EXPECT_EQ(config.path(), path);
  EXPECT_FALSE(config.last_error().has_value());
}

TEST(ConfigWatch, DirectorySymlinkSwapAsEnvoyDeploys) {
  TempDir dir;
  const fs::path root = dir.path();
  fs::create_directory(root / "v1");
  fs::create_directory(root / "v2");
  write_file(root / "v1" / "config.json", doc(1));
  write_file(root / "v2" / "config.json", doc(2));
  fs::create_directory_symlink("v1", root / "current");
  const fs::path path = root / "current" / "config.json";
  Config config(path);
  EXPECT_TRUE(shows(config, 1));
  config.watch();
  swap_symlink(root / "current", "v2", true);  // current.tmp -> v2, renamed over current
  ASSERT_TRUE(wait_until([&] { return shows(config, 2); }));
  // The file in the new directory is the one followed now.
  write_file(root / "v2" / "config.json", doc(3));
  ASSERT_TRUE(wait_until([&] { return shows(config, 3); }));
  // A third deployment.
  fs::create_directory(root / "v3");
  write_file(root / "v3" / "config.json", doc(4));
  swap_symlink(root / "current", "v3", true);
  EXPECT_TRUE(wait_until([&] { return shows(config, 4); }));
  EXPECT_FALSE(config.last_error().has_value());
}

// The path is a symlink whose target runs through another symlink, in another directory:
// /app/config.json -> /srv/current/config.json, /srv/current -> v1. The swap of current happens
// in /srv, which only the resolution of the first symlink's target leads to.
TEST(ConfigWatch, ASwapInsideASymlinksTargetIsFollowed) {
  TempDir dir;
  const fs::path app = dir.path() / "app";
  const fs::path srv = dir.path() / "srv";
  fs::create_directories(app);
  fs::create_directories(srv / "v1");
  fs::create_directories(srv / "v2");
  write_file(srv / "v1" / "config.json", doc(1));
  write_file(srv / "v2" / "config.json", doc(2));
  fs::create_directory_symlink("v1", srv / "current");
  fs::create_symlink(srv / "current" / "config.json", app / "config.json");
  Config config(app / "config.json");
  config.watch();
  swap_symlink(srv / "current", "v2", true);
  EXPECT_TRUE(wait_until([&] { return shows(config, 2); }));
  EXPECT_FALSE(config.last_error().has_value());
}

// Two in-place writes of the same size, at once: the second is loaded although the file's
// timestamps may not move between them (the watcher compares the text).
TEST(ConfigWatch, QuickWritesOfOneSizeAreAllLoaded) {
  TempDir dir;
  const fs::path path = dir / "config.json";
  write_file(path, doc(1));
  Config config(path);
  config.watch();
  for (int v = 2; v <= 9; ++v) write_file(path, doc(v));  // every text the same size
  EXPECT_TRUE(wait_until([&] { return shows(config, 9); }));
}

TEST(ConfigWatch, ABadFileGoesToTheErrorHandlersAndChangesNothing) {
  TempDir dir;
  const fs::path path = dir / "config.json";
  write_file(path, doc(1));
  Config config(path);
  Reports reports;
  Config::Subscription errors = report_errors(config, reports);
  config.watch();
  const std::string before = snapshot(config);
  const std::uint64_t version = config.version();
  write_atomically(path, "{\"c\": {\n  \"x\": 2\n  \"y\": \"v2\"}}\n");  // line 3, column 3
  ASSERT_TRUE(wait_until([&] { return reports.error_count() > 0; })) << "no error reported";
  {
    std::lock_guard lock(reports.mutex);
    const ConfigError& e = reports.errors.front();
    EXPECT_STREQ(e.python_type(), "JSONDecodeError") << e.what();
    EXPECT_EQ(e.file(), path.string());
    EXPECT_EQ(e.line(), 3) << e.what();
    EXPECT_EQ(e.column(), 3) << e.what();
  }
  EXPECT_EQ(snapshot(config), before);
  EXPECT_EQ(config.version(), version);
  const std::optional<ConfigError> last = config.last_error();
  ASSERT_TRUE(last.has_value());
  EXPECT_STREQ(last->python_type(), "JSONDecodeError");

  // A structure error goes the same way.
  const std::size_t seen = reports.error_count();
  write_atomically(path, R"({"c": 5})");
  ASSERT_TRUE(wait_until([&] { return reports.error_count() > seen; }));
  {
    std::lock_guard lock(reports.mutex);
    EXPECT_STREQ(reports.errors.back().python_type(), "ValueError");
  }
  EXPECT_EQ(snapshot(config), before);
  EXPECT_EQ(config.version(), version);

  // A good file again: loaded, the error cleared.
  write_atomically(path, doc(3));
  ASSERT_TRUE(wait_until([&] { return shows(config, 3); }));
  EXPECT_TRUE(wait_until([&] { return !config.last_error().has_value(); }));
  EXPECT_TRUE(wait_until([&] { return config.version() > version; }));
}

TEST(ConfigWatch, AFileRemovedAndCreatedAgain) {
  TempDir dir;
  const fs::path path = dir / "config.json";
  write_file(path, doc(1));
  Config config(path);
  config.watch();
  fs::remove(path);
  write_file(path, doc(2));
  EXPECT_TRUE(wait_until([&] { return shows(config, 2); }));
  write_file(path, doc(3));
  EXPECT_TRUE(wait_until([&] { return shows(config, 3); }));
}

TEST(ConfigWatch, ManyQuickChangesEndAtTheLastOne) {
  TempDir dir;
  const fs::path path = dir / "config.json";
  write_file(path, doc(0));
  Config config(path);
  config.watch();
  for (int v = 1; v <= 30; ++v) write_atomically(path, doc(v));
  EXPECT_TRUE(wait_until([&] { return shows(config, 30); }));
}

TEST(ConfigWatch, NothingRunsAfterUnwatch) {
  TempDir dir;
  const fs::path path = dir / "config.json";
  write_file(path, doc(1));
  Config config(path);
  std::atomic<int> calls{0};
  Config::Subscription sub = config.subscribe([&](const ConfigUpdate&) { calls.fetch_add(1); });
  config.watch();
  write_atomically(path, doc(2));
  ASSERT_TRUE(wait_until([&] { return shows(config, 2); }));
  ASSERT_TRUE(wait_until([&] { return calls.load() >= 1; }));
  config.unwatch();
  const int calls_then = calls.load();
  const std::uint64_t version = config.version();
  write_atomically(path, doc(3));
  write_file(path, doc(4));
  // Showing an absence needs a wait: nothing may change in it.
  std::this_thread::sleep_for(300ms);
  EXPECT_TRUE(shows(config, 2));
  EXPECT_EQ(config.version(), version);
  EXPECT_EQ(calls.load(), calls_then);
  // reload() still works by hand.
  EXPECT_TRUE(config.reload());
  EXPECT_TRUE(shows(config, 4));
}

TEST(ConfigWatch, SubscribersRunOnTheWatcherAndMayNotUnwatch) {
  TempDir dir;
  const fs::path path = dir / "config.json";
  write_file(path, doc(1));
  Config config(path);
  std::mutex mutex;
  std::optional<std::thread::id> ran_on;
  std::optional<std::string> unwatch_error;
  Config::Subscription sub = config.subscribe([&](const ConfigUpdate&) {
    std::string error = "no error";
    try {
      config.unwatch();  // it would wait for itself
    } catch (const RuntimeError& e) {
      error = std::string(e.python_type()) + ": " + e.what();
    } catch (const std::exception& e) {
      error = std::string("another exception: ") + e.what();
    }
    std::lock_guard lock(mutex);
    ran_on = std::this_thread::get_id();
    unwatch_error = error;
  });
  config.watch();
  write_atomically(path, doc(2));
  ASSERT_TRUE(wait_until([&] {
    std::lock_guard lock(mutex);
    return unwatch_error.has_value();
  }));
  {
    std::lock_guard lock(mutex);
    EXPECT_EQ(unwatch_error->rfind("RuntimeError: ", 0), 0u) << *unwatch_error;
    EXPECT_NE(*ran_on, std::this_thread::get_id());
  }
  EXPECT_TRUE(config.watching());  // the refused unwatch changed nothing
  write_atomically(path, doc(3));
  EXPECT_TRUE(wait_until([&] { return shows(config, 3); }));
  config.unwatch();
  EXPECT_FALSE(config.watching());
}

TEST(ConfigWatch, ACallbackThatThrowsOnTheWatcherGoesToTheErrorHandlers) {
  TempDir dir;
  const fs::path path = dir / "config.json";
  write_file(path, doc(1));
  Config config(path);
  Reports reports;
  Config::Subscription errors = report_errors(config, reports);
  Config::Subscription sub =
      config.subscribe([](const ConfigUpdate&) { throw std::runtime_error("subscriber failed"); });
  config.watch();
  write_atomically(path, doc(2));
  ASSERT_TRUE(wait_until([&] { return reports.error_count() > 0; }));
  EXPECT_TRUE(shows(config, 2));  // the reload stands
  std::lock_guard lock(reports.mutex);
  EXPECT_NE(std::string(reports.errors.front().what()).find("subscriber failed"), std::string::npos)
      << reports.errors.front().what();
}

TEST(ConfigWatch, DestroyedWhileChangesArrive) {
  TempDir dir;
  const fs::path path = dir / "config.json";
  write_file(path, doc(1));
  const int base = count_threads();
  for (int round = 0; round < 20; ++round) {
    Config config(path);
    std::atomic<int> calls{0};
    Config::Subscription sub = config.subscribe([&](const ConfigUpdate&) { calls.fetch_add(1); });
    config.watch();
    write_atomically(path, doc(round % 2 == 0 ? 2 : 1));
    // Destroyed with a change in flight, possibly while its subscriber runs.
  }
  EXPECT_TRUE(wait_until([&] { return count_threads() == base; })) << count_threads();
}

}  // namespace
}  // namespace localbag
