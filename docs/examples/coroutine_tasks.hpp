// SPDX-License-Identifier: MIT
#pragma once
// Per-task state for C++20 coroutines: a small `Task` whose promise carries a localbag::Context,
// and a pool of threads that resumes each task inside its context, on whichever thread is free.
// Thread-local state would follow the thread, not the task; the context follows the task.
//
// Used by docs/examples/coroutine_tasks.cpp (1,000 tasks, each checking its own state after
// every migration) and by the demo's third part.

#include <condition_variable>
#include <coroutine>
#include <cstddef>
#include <deque>
#include <exception>
#include <mutex>
#include <thread>
#include <utility>
#include <vector>

#include <localbag/localbag.hpp>

namespace localbag::examples {

class ThreadPool;

// A fire-and-forget coroutine whose state lives in its own Context. It starts suspended; start()
// hands it to a pool, which resumes it inside the context (ThreadPool::run_one), so every
// LocalObject the body touches resolves to the task's dicts on every thread it runs on. The frame
// destroys itself when the body ends (final_suspend never suspends); the context, held by the
// scope the pool entered, dies when that resume returns.
class Task {
 public:
  struct promise_type {
    Context context;  // an empty context: each object's init runs at the task's first access
    Task get_return_object() {
      return Task(std::coroutine_handle<promise_type>::from_promise(*this));
    }
    std::suspend_always initial_suspend() noexcept { return {}; }
    std::suspend_never final_suspend() noexcept { return {}; }
    void return_void() noexcept {}
    void unhandled_exception() noexcept { std::terminate(); }
  };

  Task(Task&& other) noexcept : handle_(std::exchange(other.handle_, nullptr)) {}
  Task(const Task&) = delete;
  Task& operator=(const Task&) = delete;
  ~Task() {
    if (handle_) handle_.destroy();  // never started
  }

  // Queues the task's first resume on `pool`.
  void start(ThreadPool& pool) &&;

 private:
  explicit Task(std::coroutine_handle<promise_type> handle) : handle_(handle) {}
  std::coroutine_handle<promise_type> handle_;
};

// Threads that resume queued tasks, each inside its own context.
class ThreadPool {
 public:
  explicit ThreadPool(std::size_t threads) {
    for (std::size_t i = 0; i < threads; ++i) {
      workers_.emplace_back([this] {
        while (run_one()) {
        }
      });
    }
  }
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;
  // Runs what is queued, then joins the threads.
  ~ThreadPool() {
    {
      const std::lock_guard lock(mutex_);
      stopping_ = true;
    }
    ready_.notify_all();
    for (std::thread& t : workers_) t.join();
  }

  // Queues `handle` to be resumed on any of the pool's threads.
  void post(std::coroutine_handle<Task::promise_type> handle) {
    {
      const std::lock_guard lock(mutex_);
      queue_.push_back(handle);
    }
    ready_.notify_one();
  }

  // `co_await pool.reschedule()`: suspends the task and queues it again, so the rest of the body
  // runs on whichever thread takes it next, perhaps another one. It is queued only once this
  // thread has left its context (run_one): a context is entered on one thread at a time, and
  // another thread could otherwise take the task while this one still has it entered.
  static auto reschedule() {
    struct Awaiter {
      bool await_ready() const noexcept { return false; }
      void await_suspend(std::coroutine_handle<Task::promise_type> h) noexcept { requeue = h; }
      void await_resume() const noexcept {}
    };
    return Awaiter{};
  }

 private:
  // Resumes one queued task inside its context; false when stopping with nothing queued.
  bool run_one() {
    std::coroutine_handle<Task::promise_type> handle;
    {
      std::unique_lock lock(mutex_);
      ready_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
      if (queue_.empty()) return false;
      handle = queue_.front();
      queue_.pop_front();
    }
    {
      // The scope enters the task's context for this resume and leaves it when the task next
      // suspends (or ends). The queue's mutex orders this enter after the leave of the thread
      // that queued the task: the handoff a context needs to move between threads.
      const Context::Scope entered(handle.promise().context);
      handle.resume();
    }
    if (requeue) post(std::exchange(requeue, nullptr));
    return true;
  }

  // The task this thread's last resume asked to requeue (reschedule), posted after leaving.
  static inline thread_local std::coroutine_handle<Task::promise_type> requeue;

  std::mutex mutex_;
  std::condition_variable ready_;
  std::deque<std::coroutine_handle<Task::promise_type>> queue_;
  bool stopping_ = false;
  std::vector<std::thread> workers_;
};

inline void Task::start(ThreadPool& pool) && { pool.post(std::exchange(handle_, nullptr)); }

// What run_tasks saw.
struct TaskReport {
  int tasks = 0;
  int resumes = 0;              // every resume of every task after its first
  int migrations = 0;           // resumes on another thread than the task's previous one
  int wrong_state = 0;          // resumes that found something other than the task's own state
  int inits = 0;                // times the shared object's init ran (once per task's context)
  bool main_untouched = false;  // the calling thread's own dict never saw a task's attribute
};

// Runs `tasks` coroutines on a pool of `threads`; each one sets its own attributes on one shared
// LocalObject, then reschedules itself `steps` times and checks after every resume that it still
// sees its own values, whichever thread it now runs on.
TaskReport run_tasks(int tasks, int steps, int threads);

}  // namespace localbag::examples
