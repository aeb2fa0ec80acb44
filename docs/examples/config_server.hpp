// SPDX-License-Identifier: MIT
#pragma once
/// \file
/// What config-server (config_server.cpp) stands on: each version of its configuration file, its
/// requests and responses and the checks of them, the two ways it writes the file (in place,
/// and by a rename), its temporary directory and its watchdog.

#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <thread>

namespace localbag::examples {

/// The settings a request used, or what one version of the file gives class `server`.
struct Settings {
  std::int64_t version = 0;
  std::int64_t timeout = 0;  // milliseconds
  std::string greeting;
  bool beta = false;
};

/// What version `v` of the file gives class `server`: every value derives from `v`.
inline Settings settings_of(std::int64_t v) {
  return {v, 1000 + v, "hello #" + std::to_string(v), v % 2 == 0};
}

/// Version `v` of config.json. Class `server` defines `version` and `greeting` itself and
/// inherits `timeout` and `features` from its base, `defaults` (whose `greeting` it overrides).
inline std::string config_document(std::int64_t v) {
  const Settings s = settings_of(v);
  return "{\n  \"defaults\": {\"timeout\": " + std::to_string(s.timeout) +
         ", \"greeting\": \"hello\", \"features\": {\"beta\": " + (s.beta ? "true" : "false") +
         "}},\n  \"server\": {\"__base__\": \"defaults\", \"version\": " + std::to_string(v) +
         ", \"greeting\": \"" + s.greeting + "\"}\n}\n";
}

/// `version 3, timeout 1003, greeting 'hello #3', beta true`.
inline std::string describe(const Settings& s) {
  return "version " + std::to_string(s.version) + ", timeout " + std::to_string(s.timeout) +
         ", greeting '" + s.greeting + "', beta " + (s.beta ? "true" : "false");
}

/// A decimal integer that is the whole of `text`.
inline std::optional<std::int64_t> parse_integer(std::string_view text) {
  std::int64_t n = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), n);
  if (error != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return n;
}

/// A request: `GET /?id=ID[&timeout=MS][&greeting=TEXT]`, TEXT letters, digits and '-'; a
/// timeout or a greeting overrides that setting for this request only.
struct Request {
  int id = 0;
  std::optional<std::int64_t> timeout;
  std::optional<std::string> greeting;

  /// `/?id=3&timeout=103`.
  std::string target() const {
    std::string out = "/?id=" + std::to_string(id);
    if (timeout) out += "&timeout=" + std::to_string(*timeout);
    if (greeting) out += "&greeting=" + *greeting;
    return out;
  }
};

/// The request an HTTP request's head asks for; nullopt when it is not one of those.
inline std::optional<Request> parse_request(std::string_view head) {
  constexpr std::string_view kStart = "GET /?";
  if (!head.starts_with(kStart)) return std::nullopt;
  const std::size_t end = head.find(' ', kStart.size());
  if (end == std::string_view::npos || head.substr(end + 1, 7) != "HTTP/1.") return std::nullopt;
  std::string_view query = head.substr(kStart.size(), end - kStart.size());
  Request r;
  bool has_id = false;
  while (!query.empty()) {
    const std::string_view item = query.substr(0, query.find('&'));
    query.remove_prefix(std::min(query.size(), item.size() + 1));
    const std::size_t eq = item.find('=');
    if (eq == std::string_view::npos) return std::nullopt;
    const std::string_view name = item.substr(0, eq), value = item.substr(eq + 1);
    if (name == "greeting") {
      if (value.empty() || value.find_first_not_of("abcdefghijklmnopqrstuvwxyz"
                                                   "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-") !=
                               std::string_view::npos) {
        return std::nullopt;
      }
      r.greeting = std::string(value);
      continue;
    }
    const std::optional<std::int64_t> n = parse_integer(value);
    if (!n || *n < 1 || *n > 60000) return std::nullopt;
    if (name == "id") {
      r.id = static_cast<int>(*n);
      has_id = true;
    } else if (name == "timeout") {
      r.timeout = *n;
    } else {
      return std::nullopt;
    }
  }
  if (!has_id) return std::nullopt;
  return r;
}

/// An HTTP/1.0 response, the connection closed after it.
inline std::string http_response(std::string_view status, std::string_view body) {
  std::string out = "HTTP/1.0 ";
  out += status;
  out += "\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: ";
  out += std::to_string(body.size());
  out += "\r\nConnection: close\r\n\r\n";
  out += body;
  return out;
}

/// The body answering request `id`: a `name value` line for it, the worker, and each setting.
inline std::string response_body(int id, int worker, const Settings& s) {
  return "id " + std::to_string(id) + "\nworker " + std::to_string(worker) + "\nversion " +
         std::to_string(s.version) + "\ntimeout " + std::to_string(s.timeout) + "\ngreeting " +
         s.greeting + "\nbeta " + (s.beta ? "true" : "false") + "\n";
}

/// The settings in a whole response (status line, headers, body); nullopt unless it is a
/// 200 answering request `id` with every setting.
inline std::optional<Settings> parse_response(std::string_view response, int id) {
  const std::size_t body_at = response.find("\r\n\r\n");
  if (!response.starts_with("HTTP/1.0 200 ") || body_at == std::string_view::npos) {
    return std::nullopt;
  }
  std::string_view body = response.substr(body_at + 4);
  Settings s;
  unsigned seen = 0;  // a bit per line
  while (!body.empty()) {
    const std::size_t eol = body.find('\n');
    if (eol == std::string_view::npos) return std::nullopt;
    const std::string_view line = body.substr(0, eol);
    body.remove_prefix(eol + 1);
    const std::size_t space = line.find(' ');
    if (space == std::string_view::npos) return std::nullopt;
    const std::string_view name = line.substr(0, space), value = line.substr(space + 1);
    const std::optional<std::int64_t> n = parse_integer(value);
    if (name == "id" && n == id) {
      seen |= 1;
    } else if (name == "worker" && n) {
      seen |= 2;
    } else if (name == "version" && n) {
      s.version = *n;
      seen |= 4;
    } else if (name == "timeout" && n) {
      s.timeout = *n;
      seen |= 8;
    } else if (name == "greeting") {
      s.greeting = std::string(value);
      seen |= 16;
    } else if (name == "beta" && (value == "true" || value == "false")) {
      s.beta = value == "true";
      seen |= 32;
    } else {
      return std::nullopt;
    }
  }
  if (seen != 63) return std::nullopt;
  return s;
}

/// What the client saw, and what went wrong anywhere. Guarded by `mutex`.
struct Report {
  std::mutex mutex;
  std::condition_variable served_cv;
  std::map<std::int64_t, int> per_version;  // responses per file version
  int responses = 0, overridden = 0;
  int inconsistent = 0, stale = 0, leaked = 0, failed = 0;
  std::size_t problems = 0;

  /// Counts one problem in `counter` and prints the first few.
  void problem(int Report::*counter, const std::string& what) {
    const std::lock_guard lock(mutex);
    ++(this->*counter);
    if (++problems <= 10) std::printf("!!! %s\n", what.c_str());
  }
  /// Waits until a response showed version `v`, or the deadline.
  bool wait_served(std::int64_t v, std::chrono::milliseconds deadline) {
    std::unique_lock lock(mutex);
    return served_cv.wait_for(lock, deadline, [&] { return per_version.contains(v); });
  }
};

/// Request `id`: every third overrides `timeout`, every fifth `greeting`.
inline Request make_request(int id) {
  Request r;
  r.id = id;
  if (id % 3 == 0) r.timeout = 100 + id % 100;
  if (id % 5 == 0) r.greeting = "hey-" + std::to_string(id);
  return r;
}

/// Checks one response: its values all come from one version, one no older than the newest
/// loaded before the request was sent and no newer than the file's; overrides exactly as asked.
inline void check(Report& report, const Request& request, std::int64_t oldest, std::int64_t newest,
                  const std::string& response) {
  const std::string id = "request " + std::to_string(request.id);
  const std::optional<Settings> got = parse_response(response, request.id);
  if (!got) {
    report.problem(&Report::failed, id + ": unexpected response: " + response);
    return;
  }
  Settings want = settings_of(got->version);
  if (request.timeout) want.timeout = *request.timeout;
  if (request.greeting) want.greeting = *request.greeting;
  if (got->timeout != want.timeout || got->greeting != want.greeting || got->beta != want.beta) {
    report.problem(&Report::inconsistent, id + " (" + request.target() + ") read " +
                                              describe(*got) + ", expected " + describe(want));
  } else if (got->version < oldest || got->version > newest) {
    report.problem(&Report::stale, id + " read version " + std::to_string(got->version) +
                                       ", sent when " + std::to_string(oldest) +
                                       " was loaded and " + std::to_string(newest) + " written");
  }
  const std::lock_guard lock(report.mutex);
  ++report.responses;
  if (request.timeout || request.greeting) ++report.overridden;
  if (++report.per_version[got->version] == 1) report.served_cv.notify_all();
}

/// Writes `text` over `path` in place, as an editor saving in place does: truncated, then
/// written with one call. A reader may find it empty in between.
inline void write_file(const std::filesystem::path& path, std::string_view text) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) throw std::system_error(errno, std::generic_category(), "open " + path.string());
  while (!text.empty()) {
    const ssize_t n = ::write(fd, text.data(), text.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const int error = errno;
      ::close(fd);
      throw std::system_error(error, std::generic_category(), "write " + path.string());
    }
    text.remove_prefix(static_cast<std::size_t>(n));
  }
  if (::close(fd) != 0) {
    throw std::system_error(errno, std::generic_category(), "close " + path.string());
  }
}

/// Replaces `path` atomically, as deploy tools do: writes `text` to a new file beside it and
/// renames that over it. A reader finds the old file or the new one.
inline void replace_file(const std::filesystem::path& path, std::string_view text) {
  std::filesystem::path temporary = path;
  temporary += ".new";
  write_file(temporary, text);
  std::filesystem::rename(temporary, path);
}

/// Ends the process (status 1) when it outlives `limit`: a demo that doubles as a test must not
/// hang. Disarmed when destroyed.
class Watchdog {
 public:
  explicit Watchdog(std::chrono::seconds limit)
      : thread_([this, limit] {
          std::unique_lock lock(mutex_);
          if (!cv_.wait_for(lock, limit, [&] { return done_; })) {
            std::printf("!!! timed out after %lld s\n", static_cast<long long>(limit.count()));
            std::fflush(stdout);
            std::_Exit(1);
          }
        }) {}
  ~Watchdog() {
    {
      const std::lock_guard lock(mutex_);
      done_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }
  Watchdog(const Watchdog&) = delete;
  Watchdog& operator=(const Watchdog&) = delete;

 private:
  std::mutex mutex_;
  std::condition_variable cv_;
  bool done_ = false;
  std::thread thread_;
};

/// A new directory `PREFIX.XXXXXX` in the temporary directory; removed, with what it holds,
/// when destroyed.
class TempDir {
 public:
  explicit TempDir(const std::string& prefix) {
    std::string name = (std::filesystem::temp_directory_path() / (prefix + ".XXXXXX")).string();
    if (::mkdtemp(name.data()) == nullptr) {
      throw std::system_error(errno, std::generic_category(), "mkdtemp");
    }
    path_ = name;
  }
  ~TempDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const noexcept { return path_; }

 private:
  std::filesystem::path path_;
};

}  // namespace localbag::examples
