// SPDX-License-Identifier: MIT
#include "asio_connections.hpp"

#include <atomic>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <utility>  // before Boost.Asio: 1.74's awaitable.hpp uses std::exchange without it
#include <vector>

#include <boost/asio.hpp>
#include <localbag/localbag.hpp>

namespace localbag::examples {
namespace {

namespace asio = boost::asio;
using asio::awaitable;
using asio::use_awaitable;
using asio::ip::tcp;

// A value whose destruction is counted: the per-connection state's witness.
struct StateWitness {
  std::atomic<int>* destroyed;
  explicit StateWitness(std::atomic<int>& counter) : destroyed(&counter) {}
  StateWitness(const StateWitness&) = delete;
  StateWitness& operator=(const StateWitness&) = delete;
  StateWitness(StateWitness&& other) noexcept
      : destroyed(std::exchange(other.destroyed, nullptr)) {}
  StateWitness& operator=(StateWitness&&) = delete;
  ~StateWitness() {
    if (destroyed != nullptr) ++*destroyed;
  }
};

struct Server {
  tcp::acceptor acceptor;
  LocalObject connection;  // one object; each connection's context has its own dict
  std::atomic<int>* destroyed;
  std::mutex threads_mutex;
  std::set<std::thread::id> threads;

  void saw_thread() {
    const std::lock_guard lock(threads_mutex);
    threads.insert(std::this_thread::get_id());
  }
};

// One connection: "login NAME" once, then "request" lines, each answered with the connection's
// own user, request number and byte count, all read from and written to `server.connection`
// inside this connection's context.
awaitable<void> session(Server& server, tcp::socket socket) {
  const Context context;  // this connection's: dies with the coroutine frame
  std::string buffer;
  for (;;) {
    std::size_t n = 0;
    try {
      n = co_await asio::async_read_until(socket, asio::dynamic_buffer(buffer), '\n',
                                          use_awaitable);
    } catch (const boost::system::system_error&) {
      break;  // the client closed the connection
    }
    const std::string line = buffer.substr(0, n - 1);
    buffer.erase(0, n);
    const std::string reply = context.run([&] {
      server.saw_thread();
      LocalObject& conn = server.connection;
      conn.setattr("bytes", conn.get<int>("bytes") + static_cast<int>(n));
      if (line.rfind("login ", 0) == 0) {
        conn.setattr("user", line.substr(6));
        conn.setattr("witness", StateWitness(*server.destroyed));
        return std::string("welcome ") + line.substr(6) + "\n";
      }
      const int request = conn.get<int>("requests") + 1;
      conn.setattr("requests", request);
      return "user=" + conn.get<std::string>("user") + " request=" + std::to_string(request) +
             " bytes=" + std::to_string(conn.get<int>("bytes")) + "\n";
    });
    co_await asio::async_write(socket, asio::buffer(reply), use_awaitable);
  }
}

awaitable<void> accept_all(Server& server, int connections) {
  for (int i = 0; i < connections; ++i) {
    tcp::socket socket = co_await server.acceptor.async_accept(use_awaitable);
    asio::co_spawn(server.acceptor.get_executor(), session(server, std::move(socket)),
                   asio::detached);
  }
}

struct ClientTally {
  std::atomic<int> replies{0};
  std::atomic<int> wrong{0};
};

// One client: logs in as user<id>, sends `requests` requests and checks every reply: its own
// user, its own request count, and the bytes it has sent so far on this connection.
awaitable<void> client(tcp::endpoint at, int id, int requests, ClientTally& tally) {
  tcp::socket socket(co_await asio::this_coro::executor);
  co_await socket.async_connect(at, use_awaitable);
  const std::string user = "user" + std::to_string(id);
  std::string buffer;
  const std::string login = "login " + user + "\n";
  int sent = static_cast<int>(login.size());
  co_await asio::async_write(socket, asio::buffer(login), use_awaitable);
  std::size_t n =
      co_await asio::async_read_until(socket, asio::dynamic_buffer(buffer), '\n', use_awaitable);
  if (buffer.substr(0, n) != "welcome " + user + "\n") ++tally.wrong;
  buffer.erase(0, n);
  for (int r = 1; r <= requests; ++r) {
    const std::string request = "request\n";
    sent += static_cast<int>(request.size());
    co_await asio::async_write(socket, asio::buffer(request), use_awaitable);
    n = co_await asio::async_read_until(socket, asio::dynamic_buffer(buffer), '\n', use_awaitable);
    const std::string expected =
        "user=" + user + " request=" + std::to_string(r) + " bytes=" + std::to_string(sent) + "\n";
    if (buffer.substr(0, n) != expected) ++tally.wrong;
    ++tally.replies;
    buffer.erase(0, n);
  }
  socket.shutdown(tcp::socket::shutdown_send);
  // Wait for the server to close its side: the session has ended, and its context with it.
  try {
    co_await asio::async_read_until(socket, asio::dynamic_buffer(buffer), '\n', use_awaitable);
  } catch (const boost::system::system_error&) {
  }
}

}  // namespace

ConnectionReport run_connections(int connections, int requests, int server_threads) {
  std::atomic<int> inits{0};
  std::atomic<int> destroyed{0};
  Registry registry;
  registry.define(ClassSpec("Connection").init([&inits](LocalObject& self, Args, const Dict&) {
    ++inits;
    self.setattr("requests", 0);
    self.setattr("bytes", 0);
    self.setattr("user", std::string("anonymous"));
  }));

  asio::io_context server_io;
  Server server{tcp::acceptor(server_io, tcp::endpoint(asio::ip::address_v4::loopback(), 0)),
                registry.instantiate("Connection"),
                &destroyed,
                {},
                {}};
  inits = 0;  // the constructor's init, for this thread
  const tcp::endpoint at = server.acceptor.local_endpoint();
  asio::co_spawn(server_io, accept_all(server, connections), asio::detached);

  asio::io_context client_io;
  ClientTally tally;
  for (int id = 0; id < connections; ++id) {
    asio::co_spawn(client_io, client(at, id, requests, tally), asio::detached);
  }

  std::vector<std::thread> threads;
  for (int i = 0; i < server_threads; ++i) threads.emplace_back([&] { server_io.run(); });
  client_io.run();                          // until every client is done
  for (std::thread& t : threads) t.join();  // the server runs out of work once all sessions end

  ConnectionReport report;
  report.connections = connections;
  report.replies = tally.replies;
  report.wrong_replies = tally.wrong;
  report.inits = inits;
  report.states_destroyed = destroyed;
  report.server_threads_used = static_cast<int>(server.threads.size());
  return report;
}

}  // namespace localbag::examples
