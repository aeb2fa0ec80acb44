// SPDX-License-Identifier: MIT
#pragma once
// Internal: what a Config and a subscription hold (config.cpp, check.cpp, subscribers.cpp).

#include <atomic>
#include <filesystem>
#include <functional>
#include <list>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "document.hpp"
#include "localbag/config.hpp"
#include "watcher.hpp"

namespace localbag {

namespace cfg = detail::config;

// A subscriber: a callback, and what lets `reset` wait for a running call.
struct Config::Subscription::State {
  std::function<void(const ConfigUpdate&)> on_update;
  std::function<void(const ConfigError&)> on_error;
  std::mutex running;  // held while the callback runs
  std::atomic<std::thread::id> runner{};
  std::atomic<bool> active{true};
  std::weak_ptr<Config::State> owner;
};

struct Config::State {
  // Fixed at construction.
  std::filesystem::path path;
  std::string source;  // path as given, or "<dict>"
  bool from_file = false;
  ConfigSchema schema;
  const Registry* bases = nullptr;
  Registry registry;

  // One reload at a time; guards everything below it up to `version`.
  std::mutex reload_mutex;
  struct Known {
    ClassRef cls;
    std::string base;
    Dict own;        // what the class defines itself, as last loaded
    Dict effective;  // own merged along the base chain within the document
  };
  std::map<std::string, Known, std::less<>> known;
  cfg::FileIdentity loaded;  // what the last reload read (or tried to)
  std::string loaded_text;   // the text it read
  bool read_failed = false;  // the last read failed
  std::atomic<std::uint64_t> version{0};

  std::mutex objects_mutex;
  std::map<std::string, LocalObject, std::less<>> objects;

  mutable std::mutex error_mutex;
  std::optional<ConfigError> last_error;

  // Subscribers, and the changes and errors waiting to be delivered to them, in order.
  struct Delivery {
    std::optional<ConfigUpdate> update;  // a change, or
    std::optional<ConfigError> error;    // an error
  };
  std::mutex subscribers_mutex;
  std::vector<std::shared_ptr<Subscription::State>> subscribers;
  std::list<Delivery> pending;  // a list: a prepared item is spliced in without allocating
  bool delivering = false;      // a thread is in deliver()

  std::mutex watch_mutex;
  std::unique_ptr<cfg::FileWatcher> watcher;

  bool load(cfg::Document doc, bool first);
  std::string read();
  std::optional<ConfigError> attempt(const std::function<cfg::Document()>& document, bool& changed);
  void deliver();
  void call(Subscription::State& s, const Delivery& item);
  void queue(Delivery item);
  void report(const ConfigError& error);
  void watched_change();
};

}  // namespace localbag
