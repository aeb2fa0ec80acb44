// SPDX-License-Identifier: MIT
#pragma once
// Internal: the thread that watches a configuration file with inotify (Config::watch).

#include <sys/stat.h>

#include <ctime>
#include <filesystem>
#include <functional>
#include <map>
#include <thread>

namespace localbag::detail::config {

// What identifies the content a path leads to: the file it resolves to and its last change.
// A write changes the size or the modification time, a rename or a symlink swap the inode.
struct FileIdentity {
  dev_t device = 0;
  ino_t inode = 0;
  off_t size = -1;
  timespec modified{};
  timespec changed{};

  static FileIdentity of(const struct stat& st) noexcept;
  // The identity of what `path` leads to now (symlinks followed); size -1 when it cannot be
  // stat()ed.
  static FileIdentity at(const std::filesystem::path& path) noexcept;
  friend bool operator==(const FileIdentity& a, const FileIdentity& b) noexcept;
};

// Watches the directories that decide what `path` leads to: its own directory, the directory of
// the file it resolves to, and the directory holding each symlink on the way (a directory
// symlink swapped by rename, as Envoy deploys). After each batch of events it calls `changed`,
// which compares identities and reloads. Runs a thread from construction to destruction.
class FileWatcher {
 public:
  // `OSError` (as a ConfigError of `source`) when inotify cannot be set up.
  FileWatcher(std::filesystem::path path, std::string source, std::function<void()> changed);
  ~FileWatcher();  // stops the thread and joins it
  FileWatcher(const FileWatcher&) = delete;
  FileWatcher& operator=(const FileWatcher&) = delete;

  std::thread::id thread_id() const noexcept { return thread_.get_id(); }

 private:
  int add_watches();
  void run() noexcept;

  std::filesystem::path path_;
  std::function<void()> changed_;
  int inotify_fd_ = -1;
  int stop_fd_ = -1;                                  // an eventfd the destructor writes
  std::map<int, std::filesystem::path> directories_;  // watch descriptor -> directory
  std::thread thread_;
};

}  // namespace localbag::detail::config
