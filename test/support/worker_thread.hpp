// SPDX-License-Identifier: MIT
#pragma once
// WorkerThread: one thread that runs the functions given to `run`, one at a time and in order,
// and lives (keeping its dicts) between them: for tests that act on another thread at a chosen
// point of the test's own sequence.

#include <condition_variable>
#include <functional>
#include <mutex>
#include <thread>
#include <utility>

namespace localbag::test {

class WorkerThread {
 public:
  WorkerThread() : thread_([this] { loop(); }) {}
  ~WorkerThread() {
    {
      std::lock_guard lock(mutex_);
      stop_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }
  WorkerThread(const WorkerThread&) = delete;
  WorkerThread& operator=(const WorkerThread&) = delete;

  // Runs `f` on the worker and waits until it returned.
  void run(std::function<void()> f) {
    std::unique_lock lock(mutex_);
    job_ = std::move(f);
    cv_.notify_all();
    cv_.wait(lock, [&] { return !job_; });
  }

 private:
  void loop() {
    std::unique_lock lock(mutex_);
    while (true) {
      cv_.wait(lock, [&] { return stop_ || static_cast<bool>(job_); });
      if (job_) {
        job_();
        job_ = nullptr;
        cv_.notify_all();
        continue;
      }
      if (stop_) return;
    }
  }

  std::mutex mutex_;
  std::condition_variable cv_;
  std::function<void()> job_;
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace localbag::test
