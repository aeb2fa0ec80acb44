// SPDX-License-Identifier: MIT
/// config-server: a loopback HTTP server whose workers read their settings from a
/// `localbag::Config` that its watcher reloads from `config.json` while they serve
/// (localbag/config.hpp).
///
///     BUILD/docs/examples/config-server                       # checks every response
///     BUILD/docs/examples/config-server --without-read-scope  # some responses mix versions
///
/// The file defines class `server`, whose base is `defaults`. Every version v of the file
/// derives all its values from v: `server.version` v and `server.greeting` "hello #v" are the
/// class's own, `timeout` 1000 + v and `features` {"beta": v is even} are inherited from
/// `defaults`. So each response shows which version it read, and whether every value it used
/// comes from that one version, across the base chain.
///
/// 4 workers serve HTTP/1.0 requests on 127.0.0.1, one per connection. Each request runs in a
/// `localbag::Context` of its own: `GET /?id=7&timeout=150&greeting=hey` overrides those two for
/// that request only (`setattr` on the one `server` object, inside the request's context), never
/// for the next request, the worker's thread or another worker. The worker reads its settings
/// inside one `localbag::ReadScope`, with some work between the reads, as a handler would do: a
/// reload landing meanwhile is seen by the next request, never by half of this one.
///
/// Meanwhile the main thread rewrites the file 20 times, in place and by renaming a new file
/// over it in turn, and waits each time until the watcher has loaded the new version and a
/// response has shown it. A subscriber (`Config::subscribe`) shows what a reload changed.
/// The client checks every response; the program exits with status 1 when one is inconsistent,
/// stale or failed, when an override leaked, or when too few versions were served.

#include "config_server.hpp"

#include <poll.h>
#include <sys/socket.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <deque>
#include <exception>
#include <filesystem>
#include <map>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <stop_token>
#include <string>
#include <string_view>
#include <system_error>
#include <thread>
#include <vector>

#include <localbag/config.hpp>
#include <localbag/localbag.hpp>

#include "socket.hpp"

namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
using localbag::examples::Address;
using localbag::examples::Report;
using localbag::examples::Request;
using localbag::examples::Settings;
using localbag::examples::Socket;

constexpr int kWorkers = 4;
constexpr int kRewrites = 20;              // versions 2 .. 21 after the first
constexpr int kInFlight = 4;               // connections the client keeps open at once
constexpr auto kClientPause = 1ms;         // between two batches: a client, not a load test
constexpr auto kVersionLife = 25ms;        // how long each version serves, at least
constexpr auto kLoadDeadline = 3s;         // for the watcher to load a version
constexpr auto kServedDeadline = 2s;       // for a response to show a version
constexpr auto kSocketTimeout = 2s;        // every send and receive
constexpr auto kWorkBetweenReads = 200us;  // a handler's work between two of its reads
constexpr auto kWatchdog = 30s;            // the whole run

// The attribute names, each hashed once (a function-local static: built after the library).
struct Keys {
  localbag::Key version{"version"}, timeout{"timeout"}, greeting{"greeting"}, features{"features"};
};
const Keys& keys() {
  static const Keys k;
  return k;
}

// The subscriber's and the error handler's tallies. Guarded by `mutex`.
struct Updates {
  std::mutex mutex;
  int updates = 0, changes = 0, refused = 0;

  void changed(const localbag::ConfigUpdate& update) {
    const std::lock_guard lock(mutex);
    changes += static_cast<int>(update.changes.size());
    if (++updates > 1) return;
    // The first one in full: `server` lists what it inherits from `defaults` too.
    std::printf("subscriber: load %llu of %s changed %zu attributes:\n",
                static_cast<unsigned long long>(update.version), update.source.c_str(),
                update.changes.size());
    const auto text = [](const std::optional<localbag::Value>& v) {
      return v ? localbag::repr(*v) : std::string("(none)");
    };
    for (const localbag::ConfigChange& c : update.changes) {
      std::printf("  %s.%s: %s -> %s\n", c.cls.c_str(), c.attr.c_str(), text(c.old_value).c_str(),
                  text(c.new_value).c_str());
    }
  }
  void failed(const localbag::ConfigError& error) {
    const std::lock_guard lock(mutex);
    if (++refused == 1) std::printf("on_error (the old version stays): %s\n", error.what());
  }
};

// The server: an accept loop queues connections, kWorkers workers serve one each.
class Server {
 public:
  Server(localbag::Config& config, bool read_scope, Report& report)
      : config_(config),
        read_scope_(read_scope),
        report_(report),
        listener_(Socket::listen(Address{"127.0.0.1", 0}, 64)),
        address_(listener_.local_address()) {
    for (int i = 0; i < kWorkers; ++i) threads_.emplace_back([this, i] { work(i); });
    threads_.emplace_back([this] { accept_loop(); });
  }
  ~Server() { stop(); }
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  const Address& address() const noexcept { return address_; }

  // Serves what is queued, then joins every thread.
  void stop() {
    {
      const std::lock_guard lock(mutex_);
      stopping_ = true;
    }
    cv_.notify_all();
    for (std::thread& t : threads_) {
      if (t.joinable()) t.join();
    }
  }

 private:
  void accept_loop() {
    for (;;) {
      {
        const std::lock_guard lock(mutex_);
        if (stopping_) return;
      }
      pollfd fd{listener_.fd(), POLLIN, 0};
      if (::poll(&fd, 1, 20) <= 0) continue;  // look at stopping_ every 20 ms
      Socket client(::accept4(listener_.fd(), nullptr, nullptr, SOCK_CLOEXEC));
      if (!client.is_open()) continue;
      {
        const std::lock_guard lock(mutex_);
        queue_.push_back(std::move(client));
      }
      cv_.notify_one();
    }
  }

  void work(int worker) {
    localbag::LocalObject server = config_.object("server");  // this thread's own handle
    for (;;) {
      Socket client;
      {
        std::unique_lock lock(mutex_);
        cv_.wait(lock, [&] { return !queue_.empty() || stopping_; });
        if (queue_.empty()) return;
        client = std::move(queue_.front());
        queue_.pop_front();
      }
      try {
        serve(server, worker, client);
      } catch (const std::exception& e) {
        report_.problem(&Report::failed, "worker " + std::to_string(worker) + ": " + e.what());
      }
      // The overrides lived in the request's context: this thread's own dict never saw them.
      if (const localbag::Dict* own = server.peek_dict();
          own != nullptr && (own->contains(keys().timeout) || own->contains(keys().greeting))) {
        report_.problem(&Report::leaked, "an override reached worker " + std::to_string(worker) +
                                             "'s own dict: " + localbag::repr(*own));
      }
    }
  }

  void serve(localbag::LocalObject& server, int worker, Socket& client) {
    client.set_timeout(kSocketTimeout);
    std::string head;
    while (head.find("\r\n\r\n") == std::string::npos) {
      if (head.size() > 8192) throw std::runtime_error("request header too long");
      std::string chunk = client.recv(4096);
      if (chunk.empty()) return;  // the client went away
      head += chunk;
    }
    const std::optional<Request> request = localbag::examples::parse_request(head);
    if (!request) {
      client.send_all(localbag::examples::http_response("400 Bad Request", ""));
      return;
    }
    Settings used;
    {
      // Per-request state: a context of its own, entered on this worker for this request.
      const localbag::Context request_context;
      const localbag::Context::Scope entered(request_context);
      if (request->timeout) server.setattr(keys().timeout, *request->timeout);
      if (request->greeting) server.setattr(keys().greeting, *request->greeting);
      used = read_settings(server);
    }  // leaving it: the overrides go with the context
    // The timeout the request runs with bounds the rest of it.
    client.set_timeout(std::chrono::milliseconds(used.timeout));
    client.send_all(localbag::examples::http_response(
        "200 OK", localbag::examples::response_body(request->id, worker, used)));
  }

  // Every setting of one request, from one version of the configuration.
  Settings read_settings(const localbag::LocalObject& server) const {
    std::optional<localbag::ReadScope> consistent;
    if (read_scope_) consistent.emplace();
    Settings s;
    s.version = server.get<std::int64_t>(keys().version);
    std::this_thread::sleep_for(kWorkBetweenReads);  // a reload may land here
    s.timeout = server.get<std::int64_t>(keys().timeout);
    s.greeting = server.get<std::string>(keys().greeting);
    s.beta = server.get<localbag::Dict>(keys().features).get<bool>("beta");
    return s;
  }

  localbag::Config& config_;
  const bool read_scope_;
  Report& report_;
  Socket listener_;
  Address address_;
  std::mutex mutex_;  // guards queue_ and stopping_
  std::condition_variable cv_;
  std::deque<Socket> queue_;
  bool stopping_ = false;
  std::vector<std::thread> threads_;
};

// The client: batches of kInFlight requests, until asked to stop.
void run_client(std::stop_token stop, const Address& address, Report& report,
                const std::atomic<std::int64_t>& loaded, const std::atomic<std::int64_t>& written) {
  struct Pending {
    Request request;
    std::int64_t oldest;
    Socket socket;
  };
  for (int id = 1; !stop.stop_requested();) {
    std::vector<Pending> batch;
    for (int i = 0; i < kInFlight; ++i, ++id) {
      Pending p{localbag::examples::make_request(id), loaded.load(), Socket()};
      try {
        p.socket = Socket::connect(address);
        p.socket.set_timeout(kSocketTimeout);
        p.socket.send_all("GET " + p.request.target() + " HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n");
        batch.push_back(std::move(p));
      } catch (const std::exception& e) {
        report.problem(&Report::failed, "request " + std::to_string(id) + ": " + e.what());
      }
    }
    for (Pending& p : batch) {
      try {
        const std::string response = p.socket.recv_all();
        localbag::examples::check(report, p.request, p.oldest, written.load(), response);
      } catch (const std::exception& e) {
        report.problem(&Report::failed,
                       "request " + std::to_string(p.request.id) + ": " + e.what());
      }
    }
    std::this_thread::sleep_for(kClientPause);
  }
}

int run(bool read_scope) {
  const localbag::examples::Watchdog watchdog(kWatchdog);
  const localbag::examples::TempDir dir("config-server");
  const std::filesystem::path path = dir.path() / "config.json";
  localbag::examples::write_file(path, localbag::examples::config_document(1));
  std::printf("%s, version 1:\n%s", path.c_str(), localbag::examples::config_document(1).c_str());

  Updates updates;  // outlives the configuration, whose watcher calls it
  localbag::Config config(path);
  const localbag::Config::Subscription subscription =
      config.subscribe([&](const localbag::ConfigUpdate& u) { updates.changed(u); });
  const localbag::Config::Subscription errors =
      config.on_error([&](const localbag::ConfigError& e) { updates.failed(e); });
  config.watch();

  Report report;
  std::atomic<std::int64_t> loaded{1}, written{1};
  Server server(config, read_scope, report);
  std::printf("serving on 127.0.0.1:%u with %d workers%s\n", server.address().port, kWorkers,
              read_scope ? "" : ", reading WITHOUT a ReadScope");
  std::jthread client(
      [&](std::stop_token stop) { run_client(stop, server.address(), report, loaded, written); });

  // The main thread's view of the configuration: its implicit context has no overrides.
  const localbag::LocalObject settings = config.object("server");
  std::vector<double> load_ms;
  int not_loaded = 0, not_served = 0;
  if (!report.wait_served(1, kServedDeadline)) ++not_served;
  std::this_thread::sleep_for(kVersionLife);
  for (std::int64_t v = 2; v <= 1 + kRewrites; ++v) {
    written = v;
    const std::string text = localbag::examples::config_document(v);
    const Clock::time_point start = Clock::now();
    if (v % 2 == 0) {
      localbag::examples::write_file(path, text);  // in place: the watcher may read it half-done
    } else {
      localbag::examples::replace_file(path, text);  // a new file renamed over it
    }
    // Wait for the version itself: config.version() counts loads, not versions of the file.
    while (settings.get<std::int64_t>(keys().version) != v &&
           Clock::now() - start < kLoadDeadline) {
      std::this_thread::sleep_for(200us);
    }
    if (settings.get<std::int64_t>(keys().version) != v) {
      std::printf("!!! version %lld: not loaded within %lld s (config.version() %llu)\n",
                  static_cast<long long>(v), static_cast<long long>(kLoadDeadline.count()),
                  static_cast<unsigned long long>(config.version()));
      if (++not_loaded == 3) break;  // the watcher is not working: stop here
      continue;
    }
    load_ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - start).count());
    loaded = v;
    if (!report.wait_served(v, kServedDeadline)) ++not_served;
    std::this_thread::sleep_for(kVersionLife);
  }
  client.request_stop();
  client.join();
  server.stop();
  config.unwatch();

  std::sort(load_ms.begin(), load_ms.end());
  std::printf(
      "rewrites: %d (%d in place, %d renamed over it); loaded by the watcher in %.1f ms "
      "(median), %.1f ms at most; config.version() %llu\n",
      kRewrites, kRewrites / 2, kRewrites - kRewrites / 2,
      load_ms.empty() ? 0.0 : load_ms[load_ms.size() / 2], load_ms.empty() ? 0.0 : load_ms.back(),
      static_cast<unsigned long long>(config.version()));
  {
    const std::lock_guard lock(updates.mutex);
    std::printf("subscriber: %d updates, %d changed attributes; on_error: %d reloads refused\n",
                updates.updates, updates.changes, updates.refused);
  }
  const std::lock_guard lock(report.mutex);
  std::string seen, counts;
  for (const auto& [version, n] : report.per_version) {
    seen += std::string(" ") + std::to_string(version);
    counts += std::string(" ") + std::to_string(version) + std::string(":") + std::to_string(n);
  }
  std::printf("versions seen:%s\nresponses per version:%s\n", seen.c_str(), counts.c_str());
  std::printf(
      "responses: %d, %d with overrides; %d inconsistent, %d stale, %d leaked overrides, "
      "%d failed\n",
      report.responses, report.overridden, report.inconsistent, report.stale, report.leaked,
      report.failed);
  const int versions = 1 + kRewrites;
  bool ok = report.inconsistent == 0 && report.stale == 0 && report.leaked == 0 &&
            report.failed == 0 && not_loaded == 0;
  if (2 * static_cast<int>(report.per_version.size()) < versions) {
    std::printf("!!! only %zu of %d versions were served\n", report.per_version.size(), versions);
    ok = false;
  }
  if (not_served > 0) {
    std::printf("(%d versions showed in no response within %lld s)\n", not_served,
                static_cast<long long>(kServedDeadline.count()));
  }
  std::printf("%s\n", ok ? "all consistent" : "FAILED");
  return ok ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  const std::string_view option = argc > 1 ? argv[1] : "";
  if (argc > 2 || (argc == 2 && option != "--without-read-scope")) {
    std::fprintf(stderr, "usage: %s [--without-read-scope]\n", argv[0]);
    return 2;
  }
  try {
    return run(option.empty());
  } catch (const localbag::Error& e) {
    std::printf("!!! %s\n", e.to_string().c_str());
  } catch (const std::exception& e) {
    std::printf("!!! %s\n", e.what());
  }
  return 1;
}
