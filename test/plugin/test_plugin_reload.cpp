// SPDX-License-Identifier: MIT
// Unloading and reloading plugin A while threads run, following the sequence docs/plugins.md
// gives the host: workers call into the plugin holding a shared lock; to unload, the host has
// every worker drop the plugin's values in each place it used (its own dict, each context it
// enters), waits until all of them stand outside plugin code, calls plugin_stop, unloads, checks
// that the library left the address space, loads the other version and lets them go on. Workers
// exit and are replaced all along, some before an unload and some right after one. Then: threads,
// objects and contexts that hold builtin values the plugin stored end after it is gone.
#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>
#include <cstdio>
#include <exception>
#include <latch>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <string>
#include <thread>
#include <vector>

#include "localbag/class.hpp"
#include "localbag/context.hpp"
#include "localbag/dict.hpp"
#include "localbag/local_object.hpp"
#include "localbag/plugin.hpp"
#include "localbag/registry.hpp"
#include "localbag/value.hpp"
#include "plugin_api.hpp"
#include "plugin_test_util.hpp"

namespace localbag {
namespace {

using plugin_test::mapped;
using plugin_test::plugin_a_path;
using plugin_test::PluginA;
using plugin_test::unload_completes;

constexpr int kWorkers = 8;
constexpr int kRounds = 20;               // unload/reload rounds while the workers run
constexpr long kCallsPerRound = 144;      // plugin_work calls the workers make between unloads
constexpr int kIterationsBeforeExit = 4;  // for the workers that exit while the plugin runs

// What plugin_work stored last in one place (a thread's dict or a context) for one object.
struct Stored {
  int count = 0;  // 0: nothing stored yet
  int version = 0;
};

// The builtin values of the last plugin_work call in the current place, `stored`, read back;
// with `plugin_values` whether the plugin's own values (token, greeter) must be there too.
void expect_stored(LocalObject& object, const Stored& stored, bool plugin_values) {
  if (stored.count == 0) return;
  EXPECT_EQ(object.get<int>("count"), stored.count);
  EXPECT_EQ(object.get<int>("version"), stored.version);
  EXPECT_EQ(object.get<std::string>("label"), plugin_api::label_for(stored.version, stored.count));
  EXPECT_EQ(object.get<std::string>("greeting"), plugin_api::greeting_for(stored.version));
  const List history = object.get<List>("history");
  ASSERT_EQ(history.size(), 3u);
  EXPECT_EQ(history[0].get<int>(), stored.version);
  EXPECT_EQ(history[1].get<int>(), stored.count);
  EXPECT_EQ(history[2].get<int>(), 2 * stored.count);
  EXPECT_EQ(object.get<Bytes>("raw").data, plugin_api::raw_for(stored.version));
  EXPECT_EQ(object.find("token") != nullptr, plugin_values);
  EXPECT_EQ(object.find("greeter") != nullptr, plugin_values);
  if (plugin_values) {
    EXPECT_EQ(object.getattr("token").type_name(), "plugin_a::Token");
    EXPECT_TRUE(object.getattr("greeter").holds<LocalObject>());
  }
}

// The host's side of the reload test: the plugin, the lock workers hold while in plugin code,
// and the handshake by which they drop its values and wait while it is replaced.
class Reloader {
 public:
  explicit Reloader(std::vector<LocalObject> objects) : objects_(std::move(objects)) {}

  // One worker slot: runs workers one after another until the test stops.
  void supervise() {
    for (;;) {
      {
        const std::lock_guard lock(mutex_);
        if (stopping_) return;
      }
      std::thread worker([this] {
        try {
          work(next_worker_.fetch_add(1));
        } catch (const std::exception& e) {
          ADD_FAILURE() << "a worker threw: " << e.what();
        }
      });
      worker.join();
    }
  }

  // Loads `version`, starts it and publishes its entry points; the caller holds plugin_lock_
  // exclusively or no worker runs. False, after a test failure, when it is not that version.
  bool load(int version) {
    plugin_.emplace(plugin_a_path(version));
    EXPECT_EQ(plugin_->version(), version);
    if (plugin_->version() != version) return false;
    plugin_->start();
    work_fn_ = plugin_->work;
    forget_fn_ = plugin_->forget;
    version_ = version;
    return true;
  }

  // Waits for the workers to make progress, has them drop the plugin's values and stand
  // outside plugin code, then unloads (checking the library is unmapped) and, unless `last`,
  // loads the other version. Returns false, after a test failure, when the round failed.
  bool round(bool last) {
    {
      std::unique_lock lock(mutex_);
      if (stopping_) return false;  // an earlier round failed: the workers are gone
      changed_.wait(lock, [&] { return calls_this_round_ >= kCallsPerRound; });
      draining_ = true;
      stopping_ = last;
      drain_.store(true, std::memory_order_release);
      changed_.wait(lock, [&] { return parked_ == live_; });
    }
    bool ok = true;
    {
      const std::unique_lock exclusive(plugin_lock_);
      try {
        ok = replace(last);
      } catch (const std::exception& e) {
        ADD_FAILURE() << "replacing the plugin threw: " << e.what();
        ok = false;
      }
    }
    {
      const std::lock_guard lock(mutex_);
      draining_ = false;
      drain_.store(false, std::memory_order_release);
      calls_this_round_ = 0;
      ++generation_;
      if (!ok) stopping_ = true;
    }
    changed_.notify_all();
    return ok;
  }

  // The host's own probe object, used from this (the reloading) thread.
  void probe() {
    plugin_->work(objects_.front());
    ++probe_stored_.count;
    probe_stored_.version = version_;
    expect_stored(objects_.front(), probe_stored_, true);
    LocalObject global = Registry::global().instantiate("PluginGlobal");
    EXPECT_EQ(global.call("version").get<int>(), version_);
  }

  int unloads() const { return unloads_; }
  int refusals() const { return refusals_; }
  int mapped_after_unload() const { return mapped_after_unload_; }
  int workers_started() const { return next_worker_.load(); }
  long calls() const { return calls_.load(); }

 private:
  // An unload tried too early, under plugin_lock_ with the workers parked: the probe's dict
  // (this thread's) and the plugin's statics still hold its values and objects. Refused,
  // naming them, and nothing changes.
  void refuse_early() {
    try {
      (void)plugin_->plugin.unload();
      ADD_FAILURE() << "an unload before the workers forgot completed";
    } catch (const PluginInUseError& e) {
      const PluginUsage& usage = e.usage();
      const PluginUsage::ValueUse* tokens = plugin_test::find_value(usage, "plugin_a::Token");
      const PluginUsage::ClassUse* greeter = plugin_test::find_class(usage, "Greeter");
      EXPECT_NE(tokens, nullptr) << usage.to_string();
      ASSERT_NE(greeter, nullptr) << usage.to_string();
      EXPECT_GE(greeter->objects, static_cast<std::size_t>(plugin_api::kGreetersAtStart));
      ++refusals_;
    }
    EXPECT_TRUE(plugin_->plugin.loaded());
    EXPECT_TRUE(Registry::global().contains("PluginGlobal"));
    EXPECT_EQ(plugin_->version(), version_);
  }

  // Under plugin_lock_ held exclusively, every worker parked: unload and load the other one.
  bool replace(bool last) {
    refuse_early();
    plugin_->forget(objects_.front());
    plugin_->stop();
    const std::string path = plugin_->plugin.path();
    const int old_version = version_;
    try {
      if (!plugin_->plugin.unload()) {
        ADD_FAILURE() << "unload() returned false: the library stayed mapped";
      }
    } catch (const PluginInUseError& e) {
      ADD_FAILURE() << "unload refused: " << e.to_string();
      return false;
    }
    ++unloads_;
    if (mapped(path)) ++mapped_after_unload_;
    EXPECT_FALSE(Registry::global().contains("PluginGlobal"));
    // The builtin values the unloaded version stored here still read.
    expect_stored(objects_.front(), probe_stored_, false);
    plugin_.reset();
    if (last) return true;
    if (!load(3 - old_version)) return false;
    probe();
    return true;
  }

  void work(int number) {
    const bool exits_after_reload = number % 2 == 0;
    int generation = 0;
    {
      std::unique_lock lock(mutex_);
      if (stopping_) return;
      ++live_;
      generation = generation_;
    }
    struct Leave {
      Reloader& r;
      ~Leave() {
        {
          const std::lock_guard lock(r.mutex_);
          --r.live_;
        }
        r.changed_.notify_all();
      }
    } leave{*this};
    std::vector<LocalObject> objects = objects_;
    std::vector<Context> contexts(2);
    // stored[place][object]: place 0 is this thread's dict, place 1 + i is contexts[i].
    std::vector<std::vector<Stored>> stored(1 + contexts.size(),
                                            std::vector<Stored>(objects.size()));
    // Runs f(place) in each place: this thread's dict, then each context entered.
    const auto in_each_place = [&](auto&& f) {
      f(0);
      for (std::size_t c = 0; c < contexts.size(); ++c) {
        const Context::Scope entered(contexts[c]);
        f(1 + c);
      }
    };
    const auto forget_everywhere = [&] {
      const std::shared_lock shared(plugin_lock_);
      in_each_place([&](std::size_t) {
        for (LocalObject& object : objects) forget_fn_(object);
      });
    };
    int iterations = 0;
    for (;;) {
      if (drain_.load(std::memory_order_acquire)) {
        forget_everywhere();
        bool stop = false;
        {
          std::unique_lock lock(mutex_);
          ++parked_;
          changed_.notify_all();
          changed_.wait(lock, [&] { return generation_ != generation; });
          --parked_;
          generation = generation_;
          stop = stopping_;
        }
        // The version that stored these values may be gone: its builtin values still read.
        in_each_place([&](std::size_t place) {
          for (std::size_t o = 0; o < objects.size(); ++o) {
            expect_stored(objects[o], stored[place][o], false);
          }
        });
        // Exits with those values in its dicts (the thread's exit destroys them) and in its
        // contexts (destroyed here, as the function returns).
        if (stop || (exits_after_reload && iterations > 0)) return;
        continue;
      }
      if (!exits_after_reload && iterations == kIterationsBeforeExit) {
        forget_everywhere();  // exits while the plugin runs
        return;
      }
      long calls = 0;
      {
        const std::shared_lock shared(plugin_lock_);
        const int version = version_;
        in_each_place([&](std::size_t place) {
          for (std::size_t o = 0; o < objects.size(); ++o) {
            work_fn_(objects[o]);
            ++calls;
            Stored& s = stored[place][o];
            ++s.count;  // plugin_work adds one to the count any version stored
            s.version = version;
            expect_stored(objects[o], s, true);
          }
        });
      }
      ++iterations;
      calls_.fetch_add(calls);
      {
        const std::lock_guard lock(mutex_);
        calls_this_round_ += calls;
      }
      changed_.notify_all();
    }
  }

  std::vector<LocalObject> objects_;
  std::optional<PluginA> plugin_;
  std::shared_mutex plugin_lock_;          // shared while in plugin code, exclusive to replace it
  plugin_api::WorkFn* work_fn_ = nullptr;  // written under plugin_lock_ held exclusively
  plugin_api::ForgetFn* forget_fn_ = nullptr;  // likewise
  int version_ = 0;                            // likewise

  std::mutex mutex_;
  std::condition_variable changed_;
  std::atomic<bool> drain_{false};  // draining_, read without the mutex between calls
  bool draining_ = false;
  bool stopping_ = false;
  int generation_ = 0;
  int live_ = 0;
  int parked_ = 0;
  long calls_this_round_ = 0;

  Stored probe_stored_;
  int unloads_ = 0;
  int refusals_ = 0;
  int mapped_after_unload_ = 0;
  std::atomic<int> next_worker_{0};
  std::atomic<long> calls_{0};
};

TEST(PluginReload, UnloadAndReloadWhileThreadsRun) {
  ASSERT_FALSE(plugin_a_path(1).empty()) << "PLUGIN_A_V1 is not set";
  ASSERT_FALSE(plugin_a_path(2).empty()) << "PLUGIN_A_V2 is not set";
  Registry host_registry;
  const ClassRef host_class = host_registry.define(
      ClassSpec("HostState")
          .attr("limit", 10)
          .init([](LocalObject& self, Args, const Dict&) { self.setattr("host_init", true); })
          .method("twice",
                  [](LocalObject& self, Args) -> Value { return 2 * self.get<int>("limit"); }));
  // The probe (the first) and the workers' objects: the host's class, and plain objects.
  std::vector<LocalObject> objects{LocalObject(host_class), LocalObject(host_class),
                                   LocalObject(host_class), LocalObject(), LocalObject()};
  std::optional<Reloader> reloader;
  reloader.emplace(objects);
  ASSERT_TRUE(reloader->load(1));
  reloader->probe();
  std::vector<std::thread> slots;
  for (int i = 0; i < kWorkers; ++i) slots.emplace_back([&] { reloader->supervise(); });
  int rounds = 0;
  for (int r = 0; r < kRounds; ++r) {
    if (!reloader->round(false)) break;
    ++rounds;
  }
  const bool last_ok = reloader->round(true);  // the workers stop; the last version unloads
  for (std::thread& t : slots) t.join();
  std::printf(
      "reload rounds completed: %d, unloads: %d, early unloads refused: %d, mapped after "
      "unload: %d, worker threads started: %d, plugin_work calls: %ld\n",
      rounds, reloader->unloads(), reloader->refusals(), reloader->mapped_after_unload(),
      reloader->workers_started(), reloader->calls());
  EXPECT_EQ(rounds, kRounds);
  EXPECT_EQ(reloader->refusals(), kRounds + 1);
  EXPECT_TRUE(last_ok);
  EXPECT_EQ(reloader->unloads(), kRounds + 1);
  EXPECT_EQ(reloader->mapped_after_unload(), 0);
  EXPECT_GT(reloader->workers_started(), kWorkers);  // workers were replaced
  // The host's objects die after the last unload, holding the builtin values in the dicts of
  // this thread (the probe's); the workers' contexts and threads are gone already.
  reloader.reset();
  EXPECT_EQ(objects.front().get<int>("version"), 1 + kRounds % 2);  // the last loaded
  EXPECT_TRUE(objects.front().get<bool>("host_init"));
  objects.clear();
}

// Threads, objects and contexts holding builtin values that the plugin stored end after the
// unload, in every order: an object dies while a thread that used it lives, the thread exits,
// a context dies before the objects it has dicts for, another after them.
TEST(PluginReload, ThreadsObjectsAndContextsEndAfterTheUnload) {
  const std::string path = plugin_a_path(2);
  ASSERT_FALSE(path.empty()) << "PLUGIN_A_V2 is not set";
  std::optional<PluginA> a;
  a.emplace(path);
  a->start();
  Registry host_registry;
  const ClassRef host_class = host_registry.define(ClassSpec("HostState").attr("limit", 10));
  std::optional<LocalObject> dies_while_thread_lives(LocalObject{host_class});
  std::optional<LocalObject> dies_after_thread(LocalObject{host_class});
  std::optional<LocalObject> dies_last(LocalObject{});
  std::optional<Context> dies_first(Context{});
  std::optional<Context> dies_after_objects(Context{});
  std::latch forgotten(1);
  std::latch unloaded(1);
  std::latch object_dead(1);
  std::thread thread([&] {
    for (LocalObject* o : {&*dies_while_thread_lives, &*dies_after_thread, &*dies_last}) {
      a->work(*o);
      dies_first->run([&] { a->work(*o); });
      dies_after_objects->run([&] { a->work(*o); });
      a->forget(*o);
      dies_first->run([&] { a->forget(*o); });
      dies_after_objects->run([&] { a->forget(*o); });
    }
    forgotten.count_down();
    unloaded.wait();
    const Stored first{1, 2};
    expect_stored(*dies_after_thread, first, false);
    dies_first->run([&] { expect_stored(*dies_last, first, false); });
    object_dead.wait();
    // Exits now, with builtin values of the unloaded plugin in its dicts.
  });
  forgotten.wait();
  a->stop();
  EXPECT_TRUE(a->plugin.usage().empty()) << a->plugin.usage().to_string();
  EXPECT_TRUE(unload_completes(a->plugin));
  EXPECT_FALSE(mapped(path));
  a.reset();
  unloaded.count_down();
  dies_while_thread_lives.reset();  // destroys the thread's dict for it, here
  object_dead.count_down();
  thread.join();
  dies_first.reset();
  const Stored first{1, 2};
  dies_after_objects->run([&] { expect_stored(*dies_after_thread, first, false); });
  dies_after_thread.reset();
  dies_last.reset();
  dies_after_objects.reset();
}

}  // namespace
}  // namespace localbag
