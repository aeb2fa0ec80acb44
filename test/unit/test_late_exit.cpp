// SPDX-License-Identifier: MIT
// A thread whose first use of localbag happens during its own exit: from a pthread key
// destructor (a C library's per-thread cleanup) and from the destructor of a thread_local built
// before the thread touched localbag. The value stored that late must still be destroyed, once,
// and the thread's state must not outlive the thread (RuntimeStats::live_threads back to where
// it was). The boost::thread_specific_ptr case is in test_boost_thread.cpp (needs Boost.Thread).

#include <gtest/gtest.h>
#include <pthread.h>

#include <cstdint>
#include <thread>
#include <vector>

#include "localbag/local_object.hpp"
#include "localbag/stats.hpp"
#include "test_support.hpp"

namespace localbag {
namespace {

using test::destroyed_once;
using test::live_tracked;
using test::Tracked;

constexpr int kThreads = 100;

// ---- (a) first touch from a pthread key destructor ------------------------------------------

LocalObject* key_target = nullptr;

// Runs at thread exit, after every thread_local destructor: the thread's first localbag access.
void late_key_destructor(void* value) {
  const auto tag = static_cast<int>(reinterpret_cast<std::intptr_t>(value));
  key_target->setattr("late", Tracked(tag));
}

struct KeyJob {
  pthread_key_t key;
  int tag;
};

void* set_key_only(void* arg) {  // touches nothing of localbag
  const auto* job = static_cast<const KeyJob*>(arg);
  pthread_setspecific(job->key, reinterpret_cast<void*>(static_cast<std::intptr_t>(job->tag)));
  return nullptr;
}

TEST(LateExit, FirstTouchFromAPthreadKeyDestructor) {
  LocalObject shared;
  key_target = &shared;
  const long tracked_before = live_tracked();
  const std::uint64_t threads_before = runtime_stats().live_threads;
  pthread_key_t key;
  ASSERT_EQ(pthread_key_create(&key, &late_key_destructor), 0);
  constexpr int kFirstTag = 20000;
  std::vector<KeyJob> jobs;
  jobs.reserve(kThreads);
  for (int i = 0; i < kThreads; ++i) jobs.push_back({key, kFirstTag + i});
  // Half raw pthreads, half std::threads: both run key destructors after thread_locals.
  for (int i = 0; i < kThreads; ++i) {
    if (i % 2 == 0) {
      pthread_t t;
      ASSERT_EQ(pthread_create(&t, nullptr, &set_key_only, &jobs[i]), 0);
      ASSERT_EQ(pthread_join(t, nullptr), 0);
    } else {
      std::thread([&jobs, i] { set_key_only(&jobs[i]); }).join();
    }
  }
  ASSERT_EQ(pthread_key_delete(key), 0);
  EXPECT_EQ(destroyed_once(kFirstTag, kThreads), kThreads) << "values destroyed exactly once";
  EXPECT_EQ(live_tracked(), tracked_before) << "values stored during exit were never destroyed";
  EXPECT_EQ(runtime_stats().live_threads, threads_before) << "thread states outlived threads";
  EXPECT_FALSE(shared.hasattr("late"));  // every thread's dict went with its thread
  key_target = nullptr;
}

// ---- (b) first touch from a thread_local's destructor ---------------------------------------

LocalObject* tl_target = nullptr;

// Built before the thread touches localbag, so its destructor is the thread's first access.
struct LateToucher {
  int tag = -1;
  ~LateToucher() {
    if (tag >= 0) tl_target->setattr("late", Tracked(tag));
  }
};

TEST(LateExit, FirstTouchFromAThreadLocalDestructor) {
  LocalObject shared;
  tl_target = &shared;
  const long tracked_before = live_tracked();
  const std::uint64_t threads_before = runtime_stats().live_threads;
  constexpr int kFirstTag = 21000;
  for (int i = 0; i < kThreads; ++i) {
    std::thread([i] {
      thread_local LateToucher toucher;
      toucher.tag = kFirstTag + i;
    }).join();
  }
  EXPECT_EQ(destroyed_once(kFirstTag, kThreads), kThreads) << "values destroyed exactly once";
  EXPECT_EQ(live_tracked(), tracked_before) << "values stored during exit were never destroyed";
  EXPECT_EQ(runtime_stats().live_threads, threads_before) << "thread states outlived threads";
  tl_target = nullptr;
}

// The same, when the thread did use localbag before (its cleanup is registered after the
// thread_local, so it runs first) and the thread_local's destructor comes back afterwards.
TEST(LateExit, TouchAgainFromAThreadLocalDestructorAfterTheCleanup) {
  LocalObject shared;
  tl_target = &shared;
  const long tracked_before = live_tracked();
  const std::uint64_t threads_before = runtime_stats().live_threads;
  constexpr int kFirstTag = 22000;
  for (int i = 0; i < kThreads; ++i) {
    std::thread([i, &shared] {
      thread_local LateToucher toucher;
      toucher.tag = kFirstTag + i;
      shared.setattr("early", Tracked(kFirstTag + kThreads + i));
    }).join();
  }
  EXPECT_EQ(destroyed_once(kFirstTag, 2 * kThreads), 2 * kThreads);
  EXPECT_EQ(live_tracked(), tracked_before);
  EXPECT_EQ(runtime_stats().live_threads, threads_before);
  tl_target = nullptr;
}

}  // namespace
}  // namespace localbag
