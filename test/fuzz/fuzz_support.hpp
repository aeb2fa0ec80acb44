// SPDX-License-Identifier: MIT
#pragma once
// The fuzz target's machinery: the Probe value (counted per thread), the lockstep workers, the
// byte reader, and the conversion of model values to library values.

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

#include "fuzz_model.hpp"
#include "localbag/localbag.hpp"

namespace lbfuzz {

// Which worker the current thread is (kThreads: the driver or any other thread).
inline thread_local int t_worker = kThreads;

// Probe counters: constructions and destructions per thread, and the number alive.
inline std::atomic<long> g_made[kThreads + 1];
inline std::atomic<long> g_destroyed[kThreads + 1];
inline std::atomic<long> g_live{0};

// A value that counts where it is made and destroyed (copies and moves included).
struct Probe {
  explicit Probe(int p) : payload(p) { made(); }
  Probe(const Probe& o) : payload(o.payload) { made(); }
  Probe(Probe&& o) noexcept : payload(o.payload) { made(); }
  Probe& operator=(const Probe&) = delete;
  ~Probe() {
    g_destroyed[t_worker].fetch_add(1, std::memory_order_relaxed);
    g_live.fetch_sub(1, std::memory_order_relaxed);
  }
  static void made() {
    g_made[t_worker].fetch_add(1, std::memory_order_relaxed);
    g_live.fetch_add(1, std::memory_order_relaxed);
  }
  int payload;
};
inline std::string localbag_repr(const Probe& p) {
  return "Probe(" + std::to_string(p.payload) + ")";
}

// A real thread that runs the tasks handed to it, one at a time, while the driver waits: the
// sequence of operations across threads is exactly the input's.
class Worker {
 public:
  void start(int index) {
    quit_ = false;
    thread_ = std::thread([this, index] {
      t_worker = index;
      std::unique_lock lock(mutex_);
      for (;;) {
        cv_.wait(lock, [this] { return task_ != nullptr || quit_; });
        if (task_ == nullptr) break;
        lock.unlock();
        (*task_)();
        lock.lock();
        task_ = nullptr;
        cv_.notify_all();
      }
    });
  }
  // Runs `task` on this worker and waits for it.
  void run(const std::function<void()>& task) {
    std::unique_lock lock(mutex_);
    task_ = &task;
    cv_.notify_all();
    cv_.wait(lock, [this] { return task_ == nullptr; });
  }
  // The thread returns: its thread-exit cleanup has run when this returns.
  void stop() {
    {
      std::lock_guard lock(mutex_);
      quit_ = true;
      cv_.notify_all();
    }
    thread_.join();
  }

 private:
  std::thread thread_;
  std::mutex mutex_;
  std::condition_variable cv_;
  const std::function<void()>* task_ = nullptr;
  bool quit_ = false;
};

// The fuzz input, read a byte at a time; zeros once exhausted.
class Input {
 public:
  Input(const std::uint8_t* data, std::size_t size) : p_(data), n_(size) {}
  bool empty() const { return n_ == 0; }
  int byte() {
    if (n_ == 0) return 0;
    --n_;
    return *p_++;
  }

 private:
  const std::uint8_t* p_;
  std::size_t n_;
};

// A value from one byte: None, small ints (1 makes init fail when read as `fail`), strings,
// probes; `probe` false maps probes to ints (class attributes hold no probes).
inline MVal decode_value(int b, bool probe = true) {
  MVal v;
  switch (b % 5) {
    case 0:
      break;
    case 1:
      v.kind = MVal::kInt;
      v.i = (b / 5) % 4 == 3 ? 42 : (b / 5) % 4;
      break;
    case 2:
      v.kind = MVal::kStr;
      v.i = (b / 5) % kStringCount;
      break;
    case 3:
      v.kind = probe ? MVal::kProbe : MVal::kInt;
      v.i = (b / 5) % 4;
      break;
    default:
      v.kind = MVal::kInt;
      v.i = b;
      break;
  }
  return v;
}

inline localbag::Value real(const MVal& v) {
  switch (v.kind) {
    case MVal::kNone:
      return {};
    case MVal::kInt:
      return v.i;
    case MVal::kStr:
      return kStrings[v.i];
    case MVal::kProbe:
      return Probe(v.i);
    case MVal::kFunc:
      break;
  }
  return {};
}

}  // namespace lbfuzz
