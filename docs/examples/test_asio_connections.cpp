// SPDX-License-Identifier: MIT
// Boost.Asio with per-connection state: 100 concurrent connections to a loopback server whose
// io_context runs on 2 threads; each connection's coroutine reads and writes its own attributes
// on one shared LocalObject through its own Context. No reply may carry another connection's
// state, init runs once per connection, and each connection's state is destroyed when it ends.

#include <gtest/gtest.h>

#include <localbag/localbag.hpp>

#include "asio_connections.hpp"

namespace localbag::examples {
namespace {

TEST(AsioConnections, EachConnectionSeesOnlyItsOwnState) {
  const RuntimeStats before = runtime_stats();
  const ConnectionReport report = run_connections(100, 20, 2);
  EXPECT_EQ(report.connections, 100);
  EXPECT_EQ(report.replies, 100 * 20);
  EXPECT_EQ(report.wrong_replies, 0);
  EXPECT_EQ(report.inits, 100) << "init runs once per (connection context, object)";
  EXPECT_EQ(report.states_destroyed, 100) << "a connection's state outlived it";
  const RuntimeStats after = runtime_stats();
  EXPECT_EQ(after.live_contexts, before.live_contexts);
  EXPECT_EQ(after.live_records, before.live_records);
  EXPECT_EQ(after.live_objects, before.live_objects);
  RecordProperty("server_threads_used", report.server_threads_used);
}

}  // namespace
}  // namespace localbag::examples
