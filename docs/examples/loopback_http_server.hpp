// SPDX-License-Identifier: MIT
#pragma once
/// \file
/// `LoopbackHttpServer`: a tiny HTTP/1.0 server on 127.0.0.1, standing in for www.python.org in
/// the Cookbook recipe (the examples run without internet). It answers `GET /index.html` with a
/// fixed page, serves a fixed number of connections one at a time on a background thread, and
/// then stops.

#include <atomic>
#include <chrono>
#include <cstddef>
#include <string>
#include <thread>

#include "socket.hpp"

namespace localbag::examples {

/// Serves exactly `connections` connections, in the order they arrive, then stops. It stops
/// early when no connection arrives for `idle_timeout` or when destroyed, so a client that
/// never comes cannot hang the program.
class LoopbackHttpServer {
 public:
  /// What became of the connections served so far.
  struct Stats {
    std::size_t ok = 0;          // `GET /index.html`, answered with the page
    std::size_t not_found = 0;   // another request, answered with 404
    std::size_t no_request = 0;  // the client closed before sending a whole request
    std::size_t timed_out = 0;   // the client sent nothing more for the socket timeout
  };

  /// Starts listening on 127.0.0.1 with a port the kernel picks, and starts serving.
  LoopbackHttpServer(std::size_t connections, std::string body,
                     std::chrono::milliseconds idle_timeout = std::chrono::seconds(10));
  /// Stops serving (at once if idle) and joins the serving thread.
  ~LoopbackHttpServer();
  LoopbackHttpServer(const LoopbackHttpServer&) = delete;
  LoopbackHttpServer& operator=(const LoopbackHttpServer&) = delete;

  /// `('127.0.0.1', port)`.
  const Address& address() const noexcept { return address_; }
  /// The full response to `GET /index.html`, headers included: what a client reads to EOF.
  const std::string& response() const noexcept { return response_; }

  /// Blocks until every connection is served (or the server stopped early), then returns the
  /// final stats.
  Stats wait();

 private:
  void serve() noexcept;
  void serve_one(Socket client) noexcept;

  Socket listener_;
  Address address_;
  std::string response_;
  std::size_t connections_;
  std::chrono::milliseconds idle_timeout_;
  int wake_fd_ = -1;  // an eventfd: written by the destructor to stop an idle server
  Stats stats_;       // written by the serving thread only, read after it is joined
  std::thread thread_;
};

/// A fixed HTML page of about `lines` lines, large enough to arrive in several `recv` calls.
std::string sample_page(std::size_t lines);

}  // namespace localbag::examples
