// SPDX-License-Identifier: MIT
// C++20 coroutines with per-task state: 1,000 tasks on a 2-thread pool, resumed on either thread,
// each checking after every resume that it still sees its own attributes; and each task's
// context, with its dicts, gone when the task ends.

#include <gtest/gtest.h>

#include <localbag/localbag.hpp>

#include "coroutine_tasks.hpp"

namespace localbag::examples {
namespace {

TEST(CoroutineTasks, EachTaskKeepsItsOwnStateAcrossMigrations) {
  const RuntimeStats before = runtime_stats();
  const TaskReport report = run_tasks(1000, 10, 2);
  EXPECT_EQ(report.tasks, 1000);
  EXPECT_EQ(report.resumes, 10'000);
  EXPECT_EQ(report.wrong_state, 0);
  EXPECT_EQ(report.inits, 1000) << "init runs once per (task context, object)";
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
