// SPDX-License-Identifier: MIT
#pragma once
// Helpers of the config suite (test/config/): a temporary directory per test, removed at its
// end; writing a file in place, by an atomic rename, and swapping a symlink; counting this
// process's threads; waiting for a condition with a deadline; a snapshot of everything a
// configuration shows, to check that a failed reload changed nothing; the sample document of
// <localbag/config.hpp>.

#include <gtest/gtest.h>
#include <stdlib.h>

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

#include "localbag/config.hpp"
#include "localbag/repr.hpp"

namespace localbag::config_test {

namespace fs = std::filesystem;

// The sample of <localbag/config.hpp>, with one value of every JSON kind in `defaults`.
inline constexpr std::string_view kSample = R"({
  "defaults": {"timeout": 30, "greeting": "hello", "features": {"beta": false, "ratio": 0.5},
               "hosts": ["a", "b"], "nothing": null, "enabled": true},
  "service": {"__base__": "defaults", "timeout": 10},
  "service.eu": {"__base__": "service", "greeting": "hallo"}
}
)";

// A fresh directory under $TMPDIR (or /tmp), removed with everything in it at the end of the
// test.
class TempDir {
 public:
  TempDir() {
    const char* tmp = std::getenv("TMPDIR");
    std::string pattern = (tmp != nullptr && *tmp != '\0') ? tmp : "/tmp";
    pattern += "/localbag-config-XXXXXX";
    if (::mkdtemp(pattern.data()) == nullptr) {
      ADD_FAILURE() << "mkdtemp failed for " << pattern;
    }
    path_ = pattern;
  }
  ~TempDir() {
    std::error_code ignored;
    fs::remove_all(path_, ignored);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const fs::path& path() const noexcept { return path_; }
  fs::path operator/(std::string_view name) const { return path_ / name; }

 private:
  fs::path path_;
};

// Writes `text` to `path`, truncating the file in place (the same inode).
inline void write_file(const fs::path& path, std::string_view text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(text.data(), static_cast<std::streamsize>(text.size()));
  out.close();
  ASSERT_TRUE(out) << "cannot write " << path;
}

// Writes `text` to a file beside `path` and renames it over `path`: an atomic replacement.
inline void write_atomically(const fs::path& path, std::string_view text) {
  fs::path tmp = path;
  tmp += ".tmp";
  write_file(tmp, text);
  fs::rename(tmp, path);
}

// Makes `link` a symlink to `target` by renaming a new symlink over it: an atomic swap.
inline void swap_symlink(const fs::path& link, const fs::path& target, bool directory = false) {
  fs::path tmp = link;
  tmp += ".tmp";
  std::error_code ignored;
  fs::remove(tmp, ignored);
  if (directory) {
    fs::create_directory_symlink(target, tmp);
  } else {
    fs::create_symlink(target, tmp);
  }
  fs::rename(tmp, link);
}

// The number of threads of this process (entries of /proc/self/task).
inline int count_threads() {
  int n = 0;
  for ([[maybe_unused]] const auto& entry : fs::directory_iterator("/proc/self/task")) ++n;
  return n;
}

// Polls `done` every 2 ms until it holds or `timeout` passes; returns its last result.
inline bool wait_until(const std::function<bool()>& done,
                       std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!done()) {
    if (std::chrono::steady_clock::now() >= deadline) return done();
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  return true;
}

// Runs `f` on a new thread and waits for it.
template <class F>
void on_new_thread(F&& f) {
  std::thread t(std::forward<F>(f));
  t.join();
}

// The ConfigError `f` throws, or nullopt (with a test failure) when it throws none.
template <class F>
std::optional<ConfigError> config_error(F&& f) {
  try {
    std::forward<F>(f)();
  } catch (const ConfigError& e) {
    return e;
  } catch (const std::exception& e) {
    ADD_FAILURE() << "expected a ConfigError, got another exception: " << e.what();
    return std::nullopt;
  }
  ADD_FAILURE() << "expected a ConfigError, none was thrown";
  return std::nullopt;
}

// Python's repr of `obj.name` as this thread sees it, or "<absent>".
inline std::string shown(const LocalObject& obj, std::string_view name) {
  if (!obj.hasattr(name)) return "<absent>";
  return repr(obj.getattr(name));
}

// Everything `config` shows for its classes, as text: for each class of its registry, its base,
// its own attributes and, for every attribute along its chain, what the class and its object
// show on this thread. Two equal snapshots mean nothing visible changed.
inline std::string snapshot(Config& config) {
  std::string out;
  for (const std::string& name : config.registry().names()) {
    const ClassRef cls = config.cls(name);
    out += name + " <- " + (cls->base() ? cls->base()->name() : std::string("-")) + ": ";
    out += repr(cls->own_attrs()) + "\n";
    std::set<std::string> attrs;
    for (const Class* c = cls.get(); c != nullptr; c = c->base().get()) {
      for (const std::string& key : c->own_attrs().keys()) attrs.insert(key);
    }
    const LocalObject obj = config.object(name);
    for (const std::string& attr : attrs) {
      out += "  " + attr + " = " + repr(cls->getattr(attr)) + " / " + shown(obj, attr) + "\n";
    }
  }
  return out;
}

// Expects `error` to be set, of Python type `python_type`, for `file`, and its what() to start
// with its place: `file:line:column: ` (or `file: ` without a line).
inline void expect_config_error(const std::optional<ConfigError>& error,
                                std::string_view python_type, const std::string& file) {
  ASSERT_TRUE(error.has_value());
  EXPECT_EQ(std::string(error->python_type()), python_type) << error->what();
  EXPECT_EQ(error->file(), file) << error->what();
  std::string place = error->file();
  if (error->line() > 0) {
    // Appended piece by piece: g++ 12 -O3 warns falsely (-Wrestrict) on ":" + std::string.
    place += ':';
    place += std::to_string(error->line());
    place += ':';
    place += std::to_string(error->column());
  }
  place += ": ";
  EXPECT_EQ(std::string(error->what()).substr(0, place.size()), place) << error->what();
}

}  // namespace localbag::config_test
