// SPDX-License-Identifier: MIT
// Config's change callbacks: what a subscriber learns (every changed attribute as the class's
// objects show it, with old and new values, by class then name), when it runs (after a reload
// that changed something, on the reloading thread, in order), that it runs outside every lock
// (it reads the configuration, defines classes, subscribes, unsubscribes itself, and another
// thread does the same meanwhile), that Subscription::reset() waits for a running callback and
// none runs afterwards, and that a callback's exception goes to the error handlers.

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <future>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "config_test_util.hpp"
#include "localbag/config.hpp"
#include "localbag/error.hpp"
#include "localbag/registry.hpp"
#include "localbag/repr.hpp"
#include "test_support.hpp"

namespace localbag {
namespace {

using config_test::kSample;
using config_test::TempDir;
using config_test::wait_until;
using config_test::write_file;
using namespace std::chrono_literals;

constexpr std::string_view kSample2 = R"({
  "defaults": {"timeout": 40, "greeting": "hello", "features": {"beta": true},
               "hosts": ["c"], "nothing": null, "enabled": true},
  "service": {"__base__": "defaults", "timeout": 10},
  "service.eu": {"__base__": "service", "greeting": "servus"}
}
)";

std::string opt_repr(const std::optional<Value>& v) { return v ? repr(*v) : "-"; }

// One line per change: `class.attr: old -> new` ("-" for none).
std::vector<std::string> lines(const ConfigUpdate& update) {
  std::vector<std::string> out;
  for (const ConfigChange& c : update.changes) {
    out.push_back(c.cls + "." + c.attr + ": " + opt_repr(c.old_value) + " -> " +
                  opt_repr(c.new_value));
  }
  return out;
}

TEST(ConfigCallbacks, ASubscriberLearnsEveryChangeAsObjectsShowIt) {
  TempDir dir;
  const auto path = dir / "config.json";
  write_file(path, kSample);
  Config config(path);
  std::vector<ConfigUpdate> updates;
  Config::Subscription sub = config.subscribe([&](const ConfigUpdate& u) { updates.push_back(u); });
  EXPECT_TRUE(static_cast<bool>(sub));
  write_file(path, kSample2);
  ASSERT_TRUE(config.reload());
  ASSERT_EQ(updates.size(), 1u);
  EXPECT_EQ(updates[0].version, 2u);
  EXPECT_EQ(updates[0].source, path.string());
  // service's own timeout hides defaults' change; service.eu's greeting is its own.
  EXPECT_EQ(lines(updates[0]), (std::vector<std::string>{
                                   "defaults.features: {'beta': False, 'ratio': 0.5} -> "
                                   "{'beta': True}",
                                   "defaults.hosts: ['a', 'b'] -> ['c']",
                                   "defaults.timeout: 30 -> 40",
                                   "service.features: {'beta': False, 'ratio': 0.5} -> "
                                   "{'beta': True}",
                                   "service.hosts: ['a', 'b'] -> ['c']",
                                   "service.eu.features: {'beta': False, 'ratio': 0.5} -> "
                                   "{'beta': True}",
                                   "service.eu.greeting: 'hallo' -> 'servus'",
                                   "service.eu.hosts: ['a', 'b'] -> ['c']",
                               }));
}

TEST(ConfigCallbacks, AddedAndRemovedAttributesIncludingInheritedOnes) {
  Config config(Dict{{"base", Dict{{"gone", 1}, {"kept", 2}}},
                     {"sub", Dict{{"__base__", "base"}, {"own", 3}}}});
  std::vector<std::string> seen;
  std::uint64_t version = 0;
  std::string source;
  Config::Subscription sub = config.subscribe([&](const ConfigUpdate& u) {
    seen = lines(u);
    version = u.version;
    source = u.source;
  });
  ASSERT_TRUE(config.reload(Dict{{"base", Dict{{"kept", 2}, {"new", "n"}}},
                                 {"sub", Dict{{"__base__", "base"}, {"own", 3}, {"gone", 9}}}}));
  EXPECT_EQ(version, 2u);
  EXPECT_EQ(source, "<dict>");
  EXPECT_EQ(seen, (std::vector<std::string>{
                      "base.gone: 1 -> -",
                      "base.new: - -> 'n'",
                      "sub.gone: 1 -> 9",  // was inherited, now its own
                      "sub.new: - -> 'n'",
                  }));
}

TEST(ConfigCallbacks, ChangesAreOrderedByClassThenName) {
  Config config(Dict{{"b", Dict{{"z", 1}, {"a", 1}}}, {"a", Dict{{"y", 1}, {"b", 1}}}});
  std::vector<std::pair<std::string, std::string>> order;
  Config::Subscription sub = config.subscribe([&](const ConfigUpdate& u) {
    for (const ConfigChange& c : u.changes) order.emplace_back(c.cls, c.attr);
  });
  ASSERT_TRUE(
      config.reload(Dict{{"b", Dict{{"z", 2}, {"a", 2}}}, {"a", Dict{{"y", 2}, {"b", 2}}}}));
  EXPECT_EQ(order, (std::vector<std::pair<std::string, std::string>>{
                       {"a", "b"}, {"a", "y"}, {"b", "a"}, {"b", "z"}}));
}

TEST(ConfigCallbacks, ValuesCompareAsPythonsEquality) {
  Config config(Dict{{"c", Dict{{"x", std::int64_t{30}}, {"y", 1}, {"l", List{Value(1)}}}}});
  std::vector<std::string> seen;
  Config::Subscription sub = config.subscribe([&](const ConfigUpdate& u) { seen = lines(u); });
  // 30 == 30.0 and [1] == [1.0]: no change there.
  ASSERT_TRUE(config.reload(Dict{{"c", Dict{{"x", 30.0}, {"y", 2}, {"l", List{Value(1.0)}}}}}));
  EXPECT_EQ(seen, (std::vector<std::string>{"c.y: 1 -> 2"}));
}

TEST(ConfigCallbacks, OnlyReloadsThatChangeSomethingCallThem) {
  TempDir dir;
  const auto path = dir / "config.json";
  write_file(path, kSample);
  Config config(path);
  int calls = 0;
  Config::Subscription sub = config.subscribe([&](const ConfigUpdate&) { ++calls; });
  EXPECT_FALSE(config.reload());  // unchanged
  write_file(path, "{ nope");
  EXPECT_THROW(config.reload(), ConfigError);  // failed
  EXPECT_EQ(calls, 0);
  write_file(path, kSample2);
  EXPECT_TRUE(config.reload());
  EXPECT_EQ(calls, 1);
}

TEST(ConfigCallbacks, RunOnTheReloadingThreadInOrder) {
  Config config(Dict{{"c", Dict{{"x", 1}}}});
  std::mutex mutex;
  std::vector<std::string> log;
  std::vector<std::thread::id> threads;
  auto record = [&](std::string what) {
    std::lock_guard lock(mutex);
    log.push_back(std::move(what));
    threads.push_back(std::this_thread::get_id());
  };
  Config::Subscription first = config.subscribe([&](const ConfigUpdate&) { record("first"); });
  Config::Subscription second = config.subscribe([&](const ConfigUpdate&) { record("second"); });
  Config::Subscription third = config.subscribe([&](const ConfigUpdate&) { record("third"); });
  std::thread::id reloader;
  std::thread t([&] {
    reloader = std::this_thread::get_id();
    EXPECT_TRUE(config.reload(Dict{{"c", Dict{{"x", 2}}}}));
    // Every callback has run when reload returns.
    std::lock_guard lock(mutex);
    EXPECT_EQ(log.size(), 3u);
  });
  t.join();
  EXPECT_EQ(log, (std::vector<std::string>{"first", "second", "third"}));
  for (const std::thread::id& id : threads) EXPECT_EQ(id, reloader);
}

TEST(ConfigCallbacks, RunOutsideEveryLock) {
  TempDir dir;
  const auto path = dir / "config.json";
  write_file(path, kSample);
  Config config(path);
  LocalObject eu = config.object("service.eu");
  Registry scratch;
  int self_calls = 0;
  int later_calls = 0;
  std::vector<Config::Subscription> added;
  auto self = std::make_shared<Config::Subscription>();
  std::thread helper;
  bool helper_finished_in_time = false;
  *self = config.subscribe([&](const ConfigUpdate& u) {
    ++self_calls;
    // The new configuration is in place, and every part of it can be read.
    EXPECT_EQ(config.version(), u.version);
    EXPECT_FALSE(config.last_error().has_value());
    EXPECT_EQ(config.cls("service.eu")->getattr("greeting").get<std::string>(), "servus");
    EXPECT_EQ(config.object("service.eu").get<std::string>("greeting"), "servus");
    EXPECT_EQ(eu.get<int>("timeout"), 10);
    EXPECT_EQ(config.registry().names().size(), 3u);
    // Classes can be defined and changed (the class and registry mutexes are free), objects
    // made (the runtime mutex is free).
    const ClassRef cls = scratch.define(ClassSpec("Scratch").attr("n", 1));
    cls->setattr("n", 2);
    LocalObject obj(cls);
    EXPECT_EQ(obj.get<int>("n"), 2);
    // Subscribing from a callback works; unsubscribing itself too.
    added.push_back(config.subscribe([&](const ConfigUpdate&) { ++later_calls; }));
    // Another thread can do the same while this callback runs: no lock of the configuration
    // is held here.
    std::promise<void> done;
    std::future<void> finished = done.get_future();
    helper = std::thread([&, done = std::move(done)]() mutable {
      EXPECT_EQ(config.object("service.eu").get<std::string>("greeting"), "servus");
      EXPECT_EQ(config.cls("defaults")->getattr("timeout").get<std::int64_t>(), 40);
      EXPECT_GE(config.version(), 2u);
      EXPECT_FALSE(config.watching());
      Config::Subscription other = config.subscribe([](const ConfigUpdate&) {});
      other.reset();
      done.set_value();
    });
    helper_finished_in_time = finished.wait_for(10s) == std::future_status::ready;
    self->reset();
    EXPECT_FALSE(static_cast<bool>(*self));
  });
  write_file(path, kSample2);
  ASSERT_TRUE(config.reload());
  if (helper.joinable()) helper.join();
  EXPECT_TRUE(helper_finished_in_time) << "another thread waited for the running callback";
  EXPECT_EQ(self_calls, 1);
  ASSERT_EQ(added.size(), 1u);
  const int later_before = later_calls;  // whether it ran in the round it was added is open
  ASSERT_TRUE(config.reload(Dict{{"defaults", Dict{{"timeout", 1}}},
                                 {"service", Dict{{"__base__", "defaults"}}},
                                 {"service.eu", Dict{{"__base__", "service"}}}}));
  EXPECT_EQ(self_calls, 1);                  // it unsubscribed itself
  EXPECT_EQ(later_calls, later_before + 1);  // the one it added runs on the next reload
}

TEST(ConfigCallbacks, ACallbackMayReload) {
  Config config(Dict{{"c", Dict{{"x", 1}}}});
  std::mutex mutex;
  std::vector<std::uint64_t> versions;
  std::vector<int> values;
  Config::Subscription sub = config.subscribe([&](const ConfigUpdate& u) {
    {
      std::lock_guard lock(mutex);
      versions.push_back(u.version);
      values.push_back(u.changes.at(0).new_value->as<int>());
    }
    if (u.version == 2) config.reload(Dict{{"c", Dict{{"x", 3}}}});
  });
  // On a thread of its own, with a deadline: a callback that reloads must not deadlock.
  std::promise<void> done;
  std::future<void> finished = done.get_future();
  std::thread reloader([&] {
    config.reload(Dict{{"c", Dict{{"x", 2}}}});
    done.set_value();
  });
  const bool in_time = finished.wait_for(10s) == std::future_status::ready;
  EXPECT_TRUE(in_time) << "a reload from a callback deadlocked";
  if (!in_time) {
    reloader.detach();
    return;
  }
  reloader.join();
  EXPECT_TRUE(wait_until([&] {
    std::lock_guard lock(mutex);
    return versions.size() == 2;
  }));
  std::lock_guard lock(mutex);
  EXPECT_EQ(versions, (std::vector<std::uint64_t>{2, 3}));
  EXPECT_EQ(values, (std::vector<int>{2, 3}));
  EXPECT_EQ(config.version(), 3u);
  EXPECT_EQ(config.object("c").get<int>("x"), 3);
}

TEST(ConfigCallbacks, OneAtATimeInVersionOrderWhenReloadsRace) {
  Config config(Dict{{"c", Dict{{"x", 0}}}});
  std::atomic<int> inside{0};
  std::atomic<int> overlaps{0};
  std::vector<std::uint64_t> versions;  // written by one callback at a time, if they are
  std::mutex mutex;
  Config::Subscription sub = config.subscribe([&](const ConfigUpdate& u) {
    if (inside.fetch_add(1) != 0) overlaps.fetch_add(1);
    {
      std::lock_guard lock(mutex);
      versions.push_back(u.version);
    }
    std::this_thread::yield();
    inside.fetch_sub(1);
  });
  std::vector<std::thread> reloaders;
  for (int t = 0; t < 3; ++t) {
    reloaders.emplace_back([&, t] {
      for (int i = 1; i <= 200; ++i) config.reload(Dict{{"c", Dict{{"x", t * 1000 + i}}}});
    });
  }
  for (std::thread& t : reloaders) t.join();
  EXPECT_EQ(overlaps.load(), 0);
  std::lock_guard lock(mutex);
  EXPECT_EQ(config.version(), 601u);
  EXPECT_TRUE(std::is_sorted(versions.begin(), versions.end()));
  EXPECT_EQ(std::adjacent_find(versions.begin(), versions.end()), versions.end());
  EXPECT_EQ(versions.size(), 600u);  // every reload changed x
}

TEST(ConfigCallbacks, ACallbackMayUnsubscribeALaterOne) {
  Config config(Dict{{"c", Dict{{"x", 0}}}});
  Config::Subscription second;
  int first_calls = 0;
  int second_calls = 0;
  Config::Subscription first = config.subscribe([&](const ConfigUpdate&) {
    ++first_calls;
    second.reset();  // before it ran: it must not run in this round either
  });
  second = config.subscribe([&](const ConfigUpdate&) { ++second_calls; });
  ASSERT_TRUE(config.reload(Dict{{"c", Dict{{"x", 1}}}}));
  ASSERT_TRUE(config.reload(Dict{{"c", Dict{{"x", 2}}}}));
  EXPECT_EQ(first_calls, 2);
  EXPECT_EQ(second_calls, 0);
}

TEST(ConfigCallbacks, SubscriptionHandles) {
  Config config(Dict{{"c", Dict{{"x", 0}}}});
  int a_calls = 0;
  int b_calls = 0;
  Config::Subscription a = config.subscribe([&](const ConfigUpdate&) { ++a_calls; });
  Config::Subscription moved(std::move(a));
  EXPECT_FALSE(static_cast<bool>(a));  // NOLINT(bugprone-use-after-move): moved-from is empty
  EXPECT_TRUE(static_cast<bool>(moved));
  ASSERT_TRUE(config.reload(Dict{{"c", Dict{{"x", 1}}}}));
  EXPECT_EQ(a_calls, 1);  // moving keeps the subscription
  // Assigning over a subscription ends it.
  moved = config.subscribe([&](const ConfigUpdate&) { ++b_calls; });
  ASSERT_TRUE(config.reload(Dict{{"c", Dict{{"x", 2}}}}));
  EXPECT_EQ(a_calls, 1);
  EXPECT_EQ(b_calls, 1);
  {
    Config::Subscription dropped = config.subscribe([&](const ConfigUpdate&) { ++a_calls; });
  }
  moved.reset();
  EXPECT_FALSE(static_cast<bool>(moved));
  moved.reset();  // twice is fine
  ASSERT_TRUE(config.reload(Dict{{"c", Dict{{"x", 3}}}}));
  EXPECT_EQ(a_calls, 1);
  EXPECT_EQ(b_calls, 1);
  Config::Subscription empty;
  EXPECT_FALSE(static_cast<bool>(empty));
  empty.reset();
}

TEST(ConfigCallbacks, ASubscriptionMayOutliveItsConfiguration) {
  int calls = 0;
  Config::Subscription sub;
  Config::Subscription errors;
  {
    Config config(Dict{{"c", Dict{{"x", 0}}}});
    sub = config.subscribe([&](const ConfigUpdate&) { ++calls; });
    errors = config.on_error([&](const ConfigError&) { ++calls; });
  }
  sub.reset();
  errors.reset();
  EXPECT_EQ(calls, 0);
}

TEST(ConfigCallbacks, ResetWaitsForTheRunningCallbackAndNoneRunsAfter) {
  Config config(Dict{{"c", Dict{{"x", 0}}}});
  std::mutex mutex;
  std::condition_variable cv;
  bool entered = false;
  bool release = false;
  std::atomic<bool> finished{false};
  std::atomic<int> calls{0};
  Config::Subscription sub = config.subscribe([&](const ConfigUpdate&) {
    calls.fetch_add(1);
    std::unique_lock lock(mutex);
    entered = true;
    cv.notify_all();
    cv.wait_for(lock, 10s, [&] { return release; });
    finished.store(true);
  });
  std::thread reloader([&] { EXPECT_TRUE(config.reload(Dict{{"c", Dict{{"x", 1}}}})); });
  {
    std::unique_lock lock(mutex);
    ASSERT_TRUE(cv.wait_for(lock, 10s, [&] { return entered; }));
  }
  std::atomic<bool> reset_returned{false};
  bool finished_when_reset_returned = false;
  std::thread resetter([&] {
    sub.reset();
    finished_when_reset_returned = finished.load();
    reset_returned.store(true);
  });
  // reset() must not return while the callback runs. (A broken reset may return late enough to
  // pass this; the check after the join cannot be passed that way.)
  std::this_thread::sleep_for(50ms);
  EXPECT_FALSE(reset_returned.load());
  {
    std::lock_guard lock(mutex);
    release = true;
  }
  cv.notify_all();
  resetter.join();
  reloader.join();
  EXPECT_TRUE(finished_when_reset_returned);
  EXPECT_TRUE(config.reload(Dict{{"c", Dict{{"x", 2}}}}));
  EXPECT_EQ(calls.load(), 1);
}

TEST(ConfigCallbacks, NoCallbackStartsAfterResetReturnsWhileReloadsRun) {
  Config config(Dict{{"c", Dict{{"x", 0}}}});
  std::atomic<bool> stop{false};
  std::atomic<int> late{0};
  std::atomic<long> calls{0};
  std::thread reloader([&] {
    for (int i = 1; !stop.load(); ++i) config.reload(Dict{{"c", Dict{{"x", i}}}});
  });
  for (int round = 0; round < 500; ++round) {
    auto reset_done = std::make_shared<std::atomic<bool>>(false);
    auto round_calls = std::make_shared<std::atomic<int>>(0);
    Config::Subscription sub =
        config.subscribe([&calls, &late, reset_done, round_calls](const ConfigUpdate&) {
          if (reset_done->load()) late.fetch_add(1);
          calls.fetch_add(1);
          round_calls->fetch_add(1);
          std::this_thread::yield();
          if (reset_done->load()) late.fetch_add(1);
        });
    // Reset while the reloader is calling it, once it has run at least once.
    if (!wait_until([&] { return round_calls->load() > 0; })) {
      ADD_FAILURE() << "the callback never ran";
      break;
    }
    if (round % 2 == 0) std::this_thread::yield();
    sub.reset();
    reset_done->store(true);
  }
  stop.store(true);
  reloader.join();
  EXPECT_EQ(late.load(), 0) << "a callback ran after its Subscription::reset() returned";
  std::printf("[figures] callbacks around reset: %ld\n", calls.load());
}

TEST(ConfigCallbacks, AnExceptionGoesToTheErrorHandlersAndTheReloadStands) {
  Config config(Dict{{"c", Dict{{"x", 0}}}});
  std::vector<std::string> errors;
  int after = 0;
  Config::Subscription on_error =
      config.on_error([&](const ConfigError& e) { errors.push_back(e.what()); });
  Config::Subscription thrower = config.subscribe(
      [&](const ConfigUpdate&) { throw std::runtime_error("callback failed: boom"); });
  Config::Subscription next = config.subscribe([&](const ConfigUpdate&) { ++after; });
  bool changed = false;
  EXPECT_NO_THROW(changed = config.reload(Dict{{"c", Dict{{"x", 1}}}}));
  EXPECT_TRUE(changed);
  EXPECT_EQ(config.version(), 2u);
  EXPECT_EQ(config.object("c").get<int>("x"), 1);
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_NE(errors[0].find("callback failed: boom"), std::string::npos) << errors[0];
  EXPECT_EQ(after, 1) << "the subscriber after the one that threw did not run";
}

TEST(ConfigCallbacks, ErrorHandlersAreForTheWatcherNotForReload) {
  TempDir dir;
  const auto path = dir / "config.json";
  write_file(path, kSample);
  Config config(path);
  int errors = 0;
  Config::Subscription sub = config.on_error([&](const ConfigError&) { ++errors; });
  write_file(path, "{");
  EXPECT_THROW(config.reload(), ConfigError);  // a call to reload throws instead
  EXPECT_EQ(errors, 0);
}

}  // namespace
}  // namespace localbag
