// SPDX-License-Identifier: MIT
/// plugin-host: worker threads serve requests through two plugins, and the host hot-reloads one
/// of them while they do (localbag/plugin.hpp).
///
/// Run it by hand from a build directory (`meson test -C BUILD plugin-host` runs it too); the
/// paths have a slash, or `dlopen` would search the library path instead:
///
///     cd BUILD/docs/examples
///     ./plugin-host ./libgreeter-v1.so ./libgreeter-v2.so ./libcounter.so
///
/// The host defines class `Session` (class attributes `served = 0`, `style = "plain"`) and one
/// object of it, `session`, shared by every thread. A client thread queues requests (`greet
/// alice`, `greet bob loud`, `count plums`); 4 workers serve each through a plugin: the greeter
/// (plugin_greeter.cpp, built as version 1 and version 2) or the counter (plugin_counter.cpp),
/// which keep per-thread state in `session`. A `loud` request carries a per-request override:
/// it is served in a copy of the worker's context (`Context::copy_current()`) where
/// `session.style` is "loud", so the worker's own dict never sees the override, nor what the
/// plugin writes while it is in force.
///
/// Ownership. What a plugin stores in the host's objects is of two kinds:
///   - values of builtin types (numbers, str, bytes, list, dict, ...) never point into the
///     plugin: they are the host's and outlive it (the greeter's per-thread count goes on from
///     one version to the next);
///   - values of the plugin's own types, objects of its classes and the classes themselves hold
///     its code (their copy, destructor and methods are in the library): they must be gone
///     before it is unloaded. `Plugin::unload()` refuses with `PluginInUseError`, and a report
///     of what remains, while one is left. Only the plugin's classes in the host's registries
///     (here `Registry::global()`) need nothing: `unload()` removes them itself.
///
/// The unload sequence, at each reload of the greeter:
///   1. stop routing `greet` requests to it (they wait in the queue);
///   2. have every worker drop the greeter's values from its own dict, which only that thread
///      may touch: the host raises a drop epoch, each worker calls `greeter_forget(session)`
///      when it sees it, and the host waits until all have. A worker serves the request it holds
///      before it looks at the epoch, so then no worker is in the greeter or will enter it;
///   3. take the plugin lock exclusively (workers hold it shared while in plugin code; it
///      guards the greeter's entry points) and call `greeter_stop()`: the plugin drops its own
///      objects and registry;
///   4. `unload()`, load the other version, call its `greeter_start()`, resume routing.
/// The first reload also tries `unload()` after step 1, too early, and prints the refusal.
///
/// It checks that every response names the version that was loaded when it was served, that no
/// response of a version was served after that version's unload, and that the per-thread counts
/// add up; it exits with status 1 otherwise, so it doubles as a test.

#include <algorithm>
#include <atomic>
#include <cctype>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <deque>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <string>
#include <thread>
#include <vector>

#include <localbag/localbag.hpp>
#include <localbag/plugin.hpp>

#include "plugin_api.hpp"

namespace {

using localbag::ClassSpec;
using localbag::Context;
using localbag::LocalObject;
using localbag::Plugin;
using localbag::Registry;

constexpr int kWorkers = 4;
constexpr int kReloads = 6;              // v1 -> v2 -> v1 -> ...: 7 loads of the greeter
constexpr int kGreetsPerLoad = 400;      // greetings each load serves before the next reload
constexpr std::size_t kQueueLimit = 64;  // the client waits while this many are queued

// One load of the greeter. Written under the exclusive plugin lock, read under the shared one.
struct Greeter {
  int version = 0;
  int load = -1;  // 0 for the first load, then 1, 2, ...
  std::optional<Plugin> plugin;
  decltype(&greeter_handle) handle = nullptr;
  decltype(&greeter_forget) forget = nullptr;
  decltype(&greeter_stop) stop = nullptr;
};

// A served request, as the worker that served it recorded it.
struct Response {
  std::string request;
  std::string text;
  int load = -1;            // the greeter load that served it, if one did
  std::uint64_t stamp = 0;  // when, on the host's clock
};

bool is_greet(const std::string& request) { return request.starts_with("greet "); }
bool is_loud(const std::string& request) { return request.ends_with(" loud"); }

class Host {
 public:
  Host(std::vector<std::string> greeter_paths, const std::string& counter_path)
      : greeter_paths_(std::move(greeter_paths)), counter_(counter_path) {}

  int run() {
    counter_.function<decltype(counter_start)>("counter_start")();
    counter_handle_ = counter_.function<decltype(counter_handle)>("counter_handle");
    load_greeter(1);
    std::vector<std::thread> threads;
    for (int i = 0; i < kWorkers; ++i) threads.emplace_back([this, i] { work(i); });
    threads.emplace_back([this] { submit(); });
    try {
      for (int i = 1; i <= kReloads && failures_ == 0; ++i) {
        wait_for_greetings();
        reload(i);
      }
      wait_for_greetings();
    } catch (const localbag::Error& e) {
      check(false, e.to_string());  // then shut down in order
    }
    {
      std::lock_guard lock(mutex_);
      closing_ = true;
    }
    space_cv_.notify_all();
    work_cv_.notify_all();
    for (std::thread& t : threads) t.join();  // a thread's dicts die with it: the counter's values

    if (greeter_.plugin && greeter_.plugin->loaded()) {
      const bool greeter_unmapped = unload_greeter();
      counter_.function<decltype(counter_stop)>("counter_stop")();
      std::printf("at exit: unload() %s greeter v%d and %s the counter\n",
                  greeter_unmapped ? "unmapped" : "did not unmap", greeter_.version,
                  counter_.unload() ? "unmapped" : "did not unmap");
    }
    verify();
    return failures_ == 0 ? 0 : 1;
  }

 private:
  void check(bool ok, const std::string& what) {
    if (ok) return;
    std::lock_guard lock(print_mutex_);
    ++failures_;
    std::printf("!!! FAILED: %s\n", what.c_str());
  }

  // Loads greeter `version` (1 or 2). Under the exclusive plugin lock, or before workers start.
  void load_greeter(int version) {
    Greeter& g = greeter_;
    g.plugin.emplace(greeter_paths_[version - 1]);
    check(g.plugin->function<decltype(greeter_version)>("greeter_version")() == version,
          g.plugin->path() + " is greeter version " + std::to_string(version));
    g.version = version;
    g.load = static_cast<int>(load_versions_.size());
    g.handle = g.plugin->function<decltype(greeter_handle)>("greeter_handle");
    g.forget = g.plugin->function<decltype(greeter_forget)>("greeter_forget");
    g.stop = g.plugin->function<decltype(greeter_stop)>("greeter_stop");
    g.plugin->function<decltype(greeter_start)>("greeter_start")();
    load_versions_.push_back(version);
    // The class the greeter defined in the global registry: a look, not a reference kept.
    check(Registry::global().get("Greeter")->getattr("version").get<int>() == version,
          "Registry::global()'s Greeter is version " + std::to_string(version));
  }

  // Steps 3 and 4's unload: under the exclusive plugin lock, after every worker forgot.
  bool unload_greeter() {
    greeter_.stop();
    greeter_.handle = nullptr;
    const bool unmapped = greeter_.plugin->unload();  // PluginInUseError if something is left
    unloaded_at_.push_back(++clock_);
    check(!Registry::global().contains("Greeter"), "unload() removed Greeter from the registry");
    return unmapped;
  }

  void reload(int number) {
    const int from = greeter_.version;
    {  // 1. stop routing greetings to the greeter
      std::lock_guard lock(mutex_);
      routing_greeter_ = false;
    }
    if (number == 1) {  // too early: the workers' dicts still hold the greeter's values
      std::unique_lock exclusive(plugin_mutex_);
      try {
        (void)greeter_.plugin->unload();
        check(false, "an unload before the workers forgot is refused");
      } catch (const localbag::PluginInUseError& e) {
        // The error's text ends with its report, `e.usage().to_string()`: what holds the plugin.
        std::printf("reload 1: unload() before the workers forgot: %s\n", e.to_string().c_str());
        check(!e.usage().classes.empty() && !e.usage().values.empty(),
              "the report names the greeter's object and the workers' values");
      }
    }
    {  // 2. each worker drops the greeter's values from its own dict
      std::unique_lock lock(mutex_);
      drops_pending_ = kWorkers;
      ++drop_epoch_;
      work_cv_.notify_all();
      host_cv_.wait(lock, [&] { return drops_pending_ == 0; });
    }
    bool unmapped = false;
    {  // 3 and 4: stop, unload, load the other version
      std::unique_lock exclusive(plugin_mutex_);
      unmapped = unload_greeter();
      load_greeter(3 - from);
    }
    {
      std::lock_guard lock(mutex_);
      routing_greeter_ = true;
      greetings_this_load_ = 0;
    }
    work_cv_.notify_all();
    std::printf("reload %d: greeter v%d -> v%d, unload() %s the library\n", number, from, 3 - from,
                unmapped ? "unmapped" : "did not unmap");
  }

  void wait_for_greetings() {
    std::unique_lock lock(mutex_);
    host_cv_.wait(lock, [&] { return greetings_this_load_ >= kGreetsPerLoad || failures_ > 0; });
  }

  // The client: greetings (every third one loud) and counts, until the host closes.
  void submit() {
    const char* const names[] = {"alice", "bob", "carol", "dave", "erin"};
    const char* const items[] = {"apples", "pears", "plums"};
    for (unsigned i = 0;; ++i) {
      std::string request = i % 2 == 0 ? std::string("greet ") + names[i / 2 % 5]
                                       : std::string("count ") + items[i / 2 % 3];
      if (i % 6 == 0) request += " loud";
      std::unique_lock lock(mutex_);
      space_cv_.wait(lock, [&] { return queue_.size() < kQueueLimit || closing_; });
      if (closing_) return;
      queue_.push_back(std::move(request));
      ++submitted_;
      work_cv_.notify_one();
    }
  }

  void work(int index) {
    LocalObject session = session_;  // each thread its own handle
    const std::string me = "worker-" + std::to_string(index);
    session.setattr("worker", me);
    std::vector<Response>& log = logs_[index];
    std::uint64_t seen_epoch = 0;
    for (;;) {
      std::string request;
      bool drop = false;
      {
        std::unique_lock lock(mutex_);
        const auto routable = [&] {
          return std::find_if(queue_.begin(), queue_.end(), [&](const std::string& r) {
            return routing_greeter_ || !is_greet(r);
          });
        };
        work_cv_.wait(lock, [&] {
          return seen_epoch != drop_epoch_ || routable() != queue_.end() || closing_;
        });
        if (seen_epoch != drop_epoch_) {
          seen_epoch = drop_epoch_;
          drop = true;
        } else if (const auto it = routable(); it != queue_.end()) {
          request = std::move(*it);
          queue_.erase(it);
          space_cv_.notify_one();
        } else {
          break;  // closing, and nothing left to serve
        }
      }
      int greeted_by = -1;  // the greeter load that served the request, if one did
      try {
        if (drop) {
          const std::shared_lock in_plugin(plugin_mutex_);
          greeter_.forget(session);
        } else {
          greeted_by = log.emplace_back(serve(session, std::move(request))).load;
        }
      } catch (const localbag::Error& e) {
        check(false, me + ": " + e.to_string());
      }
      const std::lock_guard lock(mutex_);  // tell the host, which waits for drops and greetings
      if (drop) --drops_pending_;
      if (greeted_by >= 0) ++greetings_this_load_;
      host_cv_.notify_all();
    }
    // This thread's own dict: the builtin values the plugins stored stayed through every reload.
    const int served = session.get<int>("served");
    const int greeted = session.try_get<int>("greeter_count").value_or(0);
    const int counted = session.try_get<int>("counter_hits").value_or(0);
    const auto count = [&](auto pred) { return std::count_if(log.begin(), log.end(), pred); };
    check(served == std::ssize(log), me + ": session.served");
    check(greeted == count([](const Response& r) {
            return is_greet(r.request) && !is_loud(r.request);  // loud ones wrote to a copy
          }),
          me + ": session.greeter_count");
    check(counted == count([](const Response& r) { return !is_greet(r.request); }),
          me + ": session.counter_hits");
    summaries_[index] = me + ": served " + std::to_string(served) + ", greeter_count " +
                        std::to_string(greeted) + " (kept through every reload), counter_hits " +
                        std::to_string(counted);
  }

  Response serve(LocalObject& session, std::string request) {
    Response r;
    const std::size_t from = request.find(' ') + 1;
    const std::string arg = request.substr(from, request.find(' ', from) - from);
    {
      const std::shared_lock in_plugin(plugin_mutex_);
      if (!is_greet(request)) {
        counter_handle_(session, arg, r.text);
      } else if (greeter_.handle == nullptr) {
        check(false, "a greeting was routed while no greeter was loaded");
      } else if (is_loud(request)) {  // the override lives in a copy of this thread's context
        r.load = greeter_.load;
        const Context override_context = Context::copy_current();
        const Context::Scope entered(override_context);
        session.setattr("style", "loud");
        greeter_.handle(session, arg, r.text);
      } else {
        r.load = greeter_.load;
        greeter_.handle(session, arg, r.text);
      }
      r.stamp = ++clock_;
    }
    session.setattr("served", session.get<int>("served") + 1);
    r.request = std::move(request);
    return r;
  }

  void verify() {
    int by_version[3] = {0, 0, 0};
    int loud = 0;
    std::size_t total = 0;
    for (int w = 0; w < kWorkers; ++w) {
      std::printf("%s\n", summaries_[w].c_str());
      int hits = 0;
      for (const Response& r : logs_[w]) {
        ++total;
        if (!is_greet(r.request)) {
          const std::string expected =
              "count " + std::to_string(++hits) + " on worker-" + std::to_string(w) + " [counter]";
          check(r.text == expected, "'" + r.text + "' is '" + expected + "'");
        } else if (r.load >= 0) {  // (a greeting no greeter served was reported then)
          const int version = load_versions_.at(r.load);
          const std::string tag = " [greeter v" + std::to_string(version) + "]";
          check(r.text.ends_with(tag), "'" + r.text + "' comes from v" + std::to_string(version));
          check(r.stamp < unloaded_at_.at(r.load), "'" + r.text + "' came before its unload");
          const bool capitals = std::none_of(r.text.begin(), r.text.end() - tag.size(),
                                             [](unsigned char c) { return std::islower(c); });
          check(capitals == is_loud(r.request), "'" + r.text + "' answers '" + r.request + "'");
          ++by_version[version];
          loud += is_loud(r.request);
        }
      }
    }
    check(total == submitted_, "every request got one response");
    std::printf("served: greeter v1 %d, greeter v2 %d (%d of them loud), counter %zu\n",
                by_version[1], by_version[2], loud, total - by_version[1] - by_version[2]);
    std::printf("reloads: %d; %zu responses checked: %s\n", kReloads, total,
                failures_ == 0 ? "all consistent" : "INCONSISTENT");
  }

  std::vector<std::string> greeter_paths_;
  Plugin counter_;
  decltype(&counter_handle) counter_handle_ = nullptr;
  Greeter greeter_;
  std::vector<int> load_versions_;          // the version of each load
  std::vector<std::uint64_t> unloaded_at_;  // when each load's unload completed
  std::atomic<std::uint64_t> clock_{0};
  std::shared_mutex plugin_mutex_;  // shared: a worker in plugin code; exclusive: the reloader

  LocalObject session_{
      Registry::global().define(ClassSpec("Session").attr("served", 0).attr("style", "plain"))};
  std::vector<Response> logs_[kWorkers];  // each worker's own
  std::string summaries_[kWorkers];       // what each worker's dict held at the end

  std::mutex mutex_;  // guards what follows
  std::condition_variable work_cv_, space_cv_, host_cv_;
  std::deque<std::string> queue_;
  std::size_t submitted_ = 0;
  bool routing_greeter_ = true;
  bool closing_ = false;
  std::uint64_t drop_epoch_ = 0;
  int drops_pending_ = 0;
  int greetings_this_load_ = 0;

  std::mutex print_mutex_;
  std::atomic<int> failures_{0};
};

}  // namespace

int main(int argc, char** argv) {
  if (argc != 4) {
    std::fprintf(stderr, "usage: %s GREETER_V1.so GREETER_V2.so COUNTER.so\n", argv[0]);
    return 2;
  }
  try {
    Host host({argv[1], argv[2]}, argv[3]);
    return host.run();
  } catch (const localbag::Error& e) {
    std::printf("!!! %s\n", e.to_string().c_str());
    return 1;
  }
}
