// SPDX-License-Identifier: MIT
// The Python Cookbook's LazyConnection (recipe 12.6) against a loopback HTTP server: each thread
// gets its own socket and the full response; entering twice in one thread fails; exit, thread
// exit and object death each close the socket and remove the attribute.

#include <gtest/gtest.h>

#include <barrier>
#include <cstdint>
#include <string>
#include <thread>

#include <localbag/localbag.hpp>

#include "lazy_connection.hpp"
#include "loopback_http_server.hpp"
#include "socket.hpp"

namespace localbag::examples {
namespace {

// What one thread of the recipe saw.
struct Fetch {
  int fd = -1;
  std::uint16_t local_port = 0;
  const Socket* socket = nullptr;  // the Socket object in this thread's dict
  bool sock_while_connected = false;
  bool sock_after_exit = true;
  std::string response;
  std::string error;
};

std::string request_for(const Address& at) {
  return "GET /index.html HTTP/1.0\r\nHost: " + at.host + ":" + std::to_string(at.port) +
         "\r\n\r\n";
}

// The recipe's `test(conn)`, with two meeting points on `gate` (shared with the main thread):
// once every thread is connected, so that all sockets are open at once (no fd can be recycled),
// and once the main thread has looked at its own view of `conn.local`.
Fetch fetch_index(LazyConnection& conn, std::barrier<>& gate) {
  Fetch out;
  bool arrived = false;
  try {
    {
      LazyConnection::With with(conn);
      Socket& s = with.socket();
      out.fd = s.fd();
      out.local_port = s.local_address().port;
      out.socket = &s;
      out.sock_while_connected = conn.local().hasattr("sock");
      gate.arrive_and_wait();  // everyone connected
      arrived = true;
      gate.arrive_and_wait();  // the main thread has checked it sees no socket
      s.send_all(request_for(conn.address()));
      out.response = s.recv_all();
    }
    out.sock_after_exit = conn.local().hasattr("sock");
  } catch (const std::exception& e) {
    if (!arrived) gate.arrive_and_drop();  // never leave the others waiting
    out.error = e.what();
  }
  return out;
}

TEST(Cookbook, TwoThreadsShareOneConnectionWithASocketEach) {
  LoopbackHttpServer server(2, sample_page(300));
  LazyConnection conn(server.address());
  std::barrier gate(3);
  Fetch a, b;
  std::thread t1([&] { a = fetch_index(conn, gate); });
  std::thread t2([&] { b = fetch_index(conn, gate); });
  gate.arrive_and_wait();
  const bool main_sees_sock = conn.local().hasattr("sock");
  gate.arrive_and_wait();
  t1.join();
  t2.join();

  ASSERT_EQ(a.error, "");
  ASSERT_EQ(b.error, "");
  EXPECT_TRUE(a.sock_while_connected);
  EXPECT_TRUE(b.sock_while_connected);
  EXPECT_FALSE(main_sees_sock) << "a thread's socket leaked into the main thread's view";
  // Own sockets: both were open at once, so equal fds or ports would mean one shared socket.
  EXPECT_NE(a.fd, b.fd);
  EXPECT_NE(a.local_port, b.local_port);
  EXPECT_NE(a.socket, b.socket);
  // The full response, to the byte.
  EXPECT_EQ(a.response.size(), server.response().size());
  EXPECT_EQ(b.response.size(), server.response().size());
  EXPECT_EQ(a.response, server.response());
  EXPECT_EQ(b.response, server.response());
  EXPECT_FALSE(a.sock_after_exit);
  EXPECT_FALSE(b.sock_after_exit);
  EXPECT_FALSE(conn.local().hasattr("sock"));
  const LoopbackHttpServer::Stats stats = server.wait();
  EXPECT_EQ(stats.ok, 2u);
  EXPECT_EQ(stats.timed_out, 0u);
}

TEST(Cookbook, EnteringTwiceInOneThreadThrowsAndKeepsTheFirstSocket) {
  LoopbackHttpServer server(1, sample_page(40));
  LazyConnection conn(server.address());
  Socket& s = conn.enter();
  const int fd = s.fd();
  try {
    conn.enter();
    ADD_FAILURE() << "a second enter in the same thread did not throw";
  } catch (const localbag::Error& e) {
    EXPECT_STREQ(e.python_type(), "RuntimeError");
    EXPECT_STREQ(e.what(), "Already connected");
    EXPECT_EQ(e.to_string(), "RuntimeError: Already connected");
  }
  LocalObject local = conn.local();  // a second handle to the same object
  ASSERT_TRUE(local.hasattr("sock"));
  EXPECT_EQ(local.ref<Socket>("sock").fd(), fd);
  EXPECT_EQ(&local.ref<Socket>("sock"), &s);
  // The first socket still works.
  s.send_all(request_for(server.address()));
  EXPECT_EQ(s.recv_all(), server.response());
  conn.exit();
  EXPECT_FALSE(conn.local().hasattr("sock"));
  EXPECT_EQ(local.find("sock"), nullptr);
  EXPECT_EQ(server.wait().ok, 1u);
}

TEST(Cookbook, ExitClosesTheSocketAndRemovesTheAttribute) {
  LoopbackHttpServer server(2, sample_page(10));
  LazyConnection conn(server.address());
  conn.enter();
  EXPECT_TRUE(conn.local().hasattr("sock"));
  conn.exit();
  EXPECT_FALSE(conn.local().hasattr("sock"));
  // Python: `self.local.sock.close()` with no sock is an AttributeError.
  EXPECT_THROW(conn.exit(), localbag::AttributeError);
  // After exit the thread may connect again, with a new socket.
  conn.enter();
  EXPECT_TRUE(conn.local().hasattr("sock"));
  conn.exit();
  EXPECT_FALSE(conn.local().hasattr("sock"));
  // The server saw each socket closed (EOF), not left open until its timeout.
  const LoopbackHttpServer::Stats stats = server.wait();
  EXPECT_EQ(stats.no_request, 2u);
  EXPECT_EQ(stats.timed_out, 0u);
}

TEST(Cookbook, ThreadExitClosesASocketItNeverExited) {
  LoopbackHttpServer server(1, sample_page(10));
  LazyConnection conn(server.address());
  std::string error;
  bool connected = false;
  std::thread t([&] {
    try {
      conn.enter();  // no exit(): the thread's dict, and the Socket in it, die with the thread
      connected = conn.local().hasattr("sock");
    } catch (const std::exception& e) {
      error = e.what();
    }
  });
  t.join();
  ASSERT_EQ(error, "");
  EXPECT_TRUE(connected);
  EXPECT_FALSE(conn.local().hasattr("sock"));
  const LoopbackHttpServer::Stats stats = server.wait();
  EXPECT_EQ(stats.no_request, 1u) << "the socket was not closed when its thread exited";
  EXPECT_EQ(stats.timed_out, 0u);
}

TEST(Cookbook, DestroyingTheConnectionClosesTheSocketsOfLiveThreads) {
  LoopbackHttpServer server(1, sample_page(10));
  {
    LazyConnection conn(server.address());
    conn.enter();  // never exited; this thread lives on
  }
  const LoopbackHttpServer::Stats stats = server.wait();
  EXPECT_EQ(stats.no_request, 1u) << "the socket was not closed when its object died";
  EXPECT_EQ(stats.timed_out, 0u);
}

}  // namespace
}  // namespace localbag::examples
