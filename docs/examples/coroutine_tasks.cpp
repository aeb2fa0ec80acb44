// SPDX-License-Identifier: MIT
#include "coroutine_tasks.hpp"

#include <algorithm>
#include <atomic>
#include <latch>
#include <mutex>
#include <set>
#include <thread>

namespace localbag::examples {
namespace {

struct Tally {
  std::atomic<int> resumes{0};
  std::atomic<int> migrations{0};
  std::atomic<int> wrong_state{0};
  std::latch finished;
  // Every pool thread's first resume waits here until each thread has made one, so that all
  // of them take tasks (on a loaded machine one thread could otherwise drain the whole queue
  // before another is scheduled, and no task would move).
  std::latch all_threads;
  std::mutex seen_mutex;
  std::set<std::thread::id> seen;
  Tally(int tasks, int threads) : finished(tasks), all_threads(threads) {}

  void first_resume_waits_for_every_thread() {
    {
      const std::lock_guard lock(seen_mutex);
      if (!seen.insert(std::this_thread::get_id()).second) return;
    }
    all_threads.arrive_and_wait();
  }
};

// One task: its own "task" and "steps" on the shared `request` object, checked after every
// resume. The object's init gave this task's context `steps = 0`.
Task worker(LocalObject request, int id, int steps, Tally& tally) {
  if (request.hasattr("task") || request.get<int>("steps") != 0) ++tally.wrong_state;
  request.setattr("task", id);
  std::thread::id last = std::this_thread::get_id();
  for (int step = 1; step <= steps; ++step) {
    co_await ThreadPool::reschedule();
    tally.first_resume_waits_for_every_thread();
    ++tally.resumes;
    if (std::this_thread::get_id() != last) ++tally.migrations;
    last = std::this_thread::get_id();
    if (request.get<int>("task") != id || request.get<int>("steps") != step - 1) {
      ++tally.wrong_state;
    }
    request.setattr("steps", step);
  }
  tally.finished.count_down();
}

}  // namespace

TaskReport run_tasks(int tasks, int steps, int threads) {
  std::atomic<int> inits{0};
  Registry registry;
  registry.define(ClassSpec("Request").init([&inits](LocalObject& self, Args, const Dict&) {
    ++inits;
    self.setattr("steps", 0);
  }));
  const LocalObject request = registry.instantiate("Request");  // init runs here, for this thread
  inits = 0;
  Tally tally(tasks, std::min(threads, tasks));  // a task per thread is there to wait
  {
    ThreadPool pool(static_cast<std::size_t>(threads));
    for (int id = 0; id < tasks; ++id) worker(request, id, steps, tally).start(pool);
    tally.finished.wait();
  }
  TaskReport report;
  report.tasks = tasks;
  report.resumes = tally.resumes;
  report.migrations = tally.migrations;
  report.wrong_state = tally.wrong_state;
  report.inits = inits;
  report.main_untouched = !request.hasattr("task") && request.get<int>("steps") == 0;
  return report;
}

}  // namespace localbag::examples
