// SPDX-License-Identifier: MIT
#include "watcher.hpp"

#include <poll.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include "document.hpp"

namespace localbag::detail::config {

namespace fs = std::filesystem;

FileIdentity FileIdentity::of(const struct stat& st) noexcept {
  FileIdentity id;
  id.device = st.st_dev;
  id.inode = st.st_ino;
  id.size = st.st_size;
  id.modified = st.st_mtim;
  id.changed = st.st_ctim;
  return id;
}

FileIdentity FileIdentity::at(const fs::path& path) noexcept {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return {};
  return of(st);
}

bool operator==(const FileIdentity& a, const FileIdentity& b) noexcept {
  return a.device == b.device && a.inode == b.inode && a.size == b.size &&
         a.modified.tv_sec == b.modified.tv_sec && a.modified.tv_nsec == b.modified.tv_nsec &&
         a.changed.tv_sec == b.changed.tv_sec && a.changed.tv_nsec == b.changed.tv_nsec;
}

namespace {
// What a directory event may mean for the watched path: a file written and closed, renamed in
// or out, deleted, its attributes changed (a touch), a symlink made. A file merely created is
// still being written; its IN_CLOSE_WRITE follows.
constexpr std::uint32_t kDirectoryEvents = IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM |
                                           IN_DELETE | IN_ATTRIB | IN_CREATE | IN_DELETE_SELF |
                                           IN_MOVE_SELF;

[[noreturn]] void fail_os(const std::string& source, const char* what, int error) {
  fail("OSError", source, {},
       std::string(what) + ": [Errno " + std::to_string(error) + "] " + std::strerror(error));
}
}  // namespace

FileWatcher::FileWatcher(fs::path path, std::string source, std::function<void()> changed)
    : path_(fs::absolute(std::move(path)).lexically_normal()), changed_(std::move(changed)) {
  inotify_fd_ = ::inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
  if (inotify_fd_ < 0) fail_os(source, "inotify_init1", errno);
  stop_fd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (stop_fd_ < 0) {
    const int error = errno;
    ::close(inotify_fd_);
    fail_os(source, "eventfd", error);
  }
  int error = 0;
  try {
    error = add_watches();
  } catch (...) {
    ::close(inotify_fd_);
    ::close(stop_fd_);
    throw;
  }
  if (error != 0) {
    ::close(inotify_fd_);
    ::close(stop_fd_);
    fail_os(source, ("inotify_add_watch " + path_.parent_path().string()).c_str(), error);
  }
  try {
    thread_ = std::thread([this] { run(); });
  } catch (...) {
    ::close(inotify_fd_);
    ::close(stop_fd_);
    throw;
  }
}

FileWatcher::~FileWatcher() {
  const std::uint64_t one = 1;
  [[maybe_unused]] const ssize_t written = ::write(stop_fd_, &one, sizeof one);
  thread_.join();
  ::close(inotify_fd_);
  ::close(stop_fd_);
}

// The path's directory; every directory that holds a symlink met while resolving the path,
// through the symlinks' own targets (whose swap changes where the path leads); the directory of
// the file it leads to. Adding a directory watched already changes nothing (inotify returns the
// same watch). Returns errno of watching the path's own directory, or 0.
int FileWatcher::add_watches() {
  std::vector<fs::path> dirs{path_.parent_path()};
  std::error_code ec;
  // Resolves the path component by component, as the kernel does; a symlink's target replaces
  // it and is resolved in turn.
  const fs::path relative = path_.relative_path();
  const std::vector<fs::path> parts(relative.begin(), relative.end());
  std::vector<fs::path> todo(parts.rbegin(), parts.rend());  // a stack: the next part last
  fs::path resolved = path_.root_path();
  for (int hops = 0; !todo.empty();) {
    const fs::path part = std::move(todo.back());
    todo.pop_back();
    if (part == ".") continue;
    if (part == "..") {
      resolved = resolved.parent_path();
      continue;
    }
    const fs::path next = resolved / part;
    if (hops < 40 && fs::is_symlink(fs::symlink_status(next, ec))) {
      ++hops;
      dirs.push_back(resolved);  // the directory holding the symlink
      const fs::path target = fs::read_symlink(next, ec);
      if (ec) {
        resolved = next;
        continue;
      }
      if (target.is_absolute()) resolved = target.root_path();
      const fs::path target_relative = target.relative_path();
      const std::vector<fs::path> target_parts(target_relative.begin(), target_relative.end());
      todo.insert(todo.end(), target_parts.rbegin(), target_parts.rend());  // first part next
      continue;
    }
    resolved = next;
  }
  dirs.push_back(resolved.parent_path());
  int error = 0;
  for (std::size_t i = 0; i < dirs.size(); ++i) {
    if (dirs[i].empty()) continue;
    const int wd = ::inotify_add_watch(inotify_fd_, dirs[i].c_str(), kDirectoryEvents);
    if (wd < 0) {
      if (i == 0) error = errno;
      continue;
    }
    try {
      directories_[wd] = dirs[i];
    } catch (...) {  // out of memory: IN_CREATE in that directory counts as a change
    }
  }
  return error;
}

void FileWatcher::run() noexcept {
  alignas(inotify_event) char buffer[16 * 1024];
  try {
    changed_();  // a change made before the watches were set
  } catch (...) {
  }
  for (;;) {
    pollfd fds[2] = {{inotify_fd_, POLLIN, 0}, {stop_fd_, POLLIN, 0}};
    if (::poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      return;
    }
    if (fds[1].revents != 0) return;
    bool relevant = false;
    for (;;) {  // every event queued now: one check for the batch
      const ssize_t n = ::read(inotify_fd_, buffer, sizeof buffer);
      if (n <= 0) break;
      for (ssize_t at = 0; at < n;) {
        const auto* event = reinterpret_cast<const inotify_event*>(buffer + at);
        at += static_cast<ssize_t>(sizeof(inotify_event) + event->len);
        if ((event->mask & IN_IGNORED) != 0) {  // the directory is gone: so is its watch
          directories_.erase(event->wd);
          relevant = true;
          continue;
        }
        if ((event->mask & IN_CREATE) != 0 && event->len > 0) {
          // A symlink is complete when created; a regular file is not until closed (its
          // IN_CLOSE_WRITE follows).
          const auto dir = directories_.find(event->wd);
          struct stat st {};
          relevant = relevant || dir == directories_.end() ||
                     ::lstat((dir->second / event->name).c_str(), &st) != 0 || !S_ISREG(st.st_mode);
        } else if ((event->mask & (kDirectoryEvents | IN_Q_OVERFLOW)) != 0) {
          relevant = true;
        }
      }
    }
    if (!relevant) continue;
    try {
      add_watches();  // a swap may have led the path through other directories
    } catch (...) {
      // Out of memory: the watches already set stay; the next event tries again.
    }
    try {
      changed_();
    } catch (...) {
      // Config's callback reports its own errors; nothing may escape the thread.
    }
  }
}

}  // namespace localbag::detail::config
