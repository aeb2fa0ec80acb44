// SPDX-License-Identifier: MIT
// C++20 coroutines with per-task state: 1,001 tasks on a 2-thread pool, resumed on either thread,
// each checking after every resume that it still sees its own attributes; and each task's
// context, with its dicts, gone when the task ends.

#include <gtest/gtest.h>

#include <localbag/localbag.hpp>

#include "coroutine_tasks.hpp"

namespace localbag::examples {
namespace {

TEST(CoroutineTasks, EachTaskKeepsItsOwnStateAcrossMigrations) {
  const RuntimeStats before = runtime_stats();
  // An odd number of tasks: two threads that take turns at the queue exactly (as they can on an
  // idle 2-core machine) would otherwise resume every task on the same thread each time round
  // (an even queue splits into the even places and the odd ones), and no task would move. With
  // an odd number, each round shifts every task to the other thread's turn; and run_tasks makes
  // both threads take tasks (a starved thread would otherwise leave all to the other).
  const TaskReport report = run_tasks(1001, 10, 2);
  EXPECT_EQ(report.tasks, 1001);
  EXPECT_EQ(report.resumes, 10'010);
  EXPECT_EQ(report.wrong_state, 0);
  EXPECT_EQ(report.inits, 1001) << "init runs once per (task context, object)";
  EXPECT_TRUE(report.main_untouched);
  // Two threads take tasks from one queue: some resumes must land on the other thread, or the
  // test would not have tested a migration.
  EXPECT_GT(report.migrations, 0);
  const RuntimeStats after = runtime_stats();
  EXPECT_EQ(after.live_contexts, before.live_contexts) << "a task's context outlived the task";
  EXPECT_EQ(after.live_records, before.live_records) << "a task's dict outlived the task";
  EXPECT_EQ(after.live_objects, before.live_objects);
}

}  // namespace
}  // namespace localbag::examples
