// SPDX-License-Identifier: MIT
#pragma once
/// \file
/// `Socket`: a move-only owner of one TCP socket file descriptor, the C++ stand-in for Python's
/// `socket.socket` in the Cookbook recipe. Being move-only, it is exactly the kind of value a
/// `localbag::Value` can hold but `std::any` cannot.
///
/// IPv4 numeric addresses only (`127.0.0.1`): the examples run without DNS or internet.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace localbag::examples {

/// Python's `(host, port)` address tuple.
struct Address {
  std::string host;
  std::uint16_t port = 0;
};

/// A connected (or listening) TCP socket; closes its descriptor when destroyed. Every blocking
/// call is bounded by the socket's timeout, so nothing waits forever.
class Socket {
 public:
  /// The timeout every socket made here starts with.
  static constexpr std::chrono::milliseconds kDefaultTimeout{5000};

  /// An empty socket (no descriptor).
  Socket() noexcept = default;
  /// Takes ownership of `fd`.
  explicit Socket(int fd) noexcept : fd_(fd) {}
  Socket(const Socket&) = delete;
  Socket& operator=(const Socket&) = delete;
  Socket(Socket&& other) noexcept : fd_(other.release()) {}
  Socket& operator=(Socket&& other) noexcept;
  ~Socket() { close(); }

  /// `socket(AF_INET, SOCK_STREAM)` + `connect(address)`. Throws `std::system_error`.
  static Socket connect(const Address& address);
  /// A listening socket bound to `address` (port 0: the kernel picks a free one).
  static Socket listen(const Address& address, int backlog);

  int fd() const noexcept { return fd_; }
  bool is_open() const noexcept { return fd_ >= 0; }
  /// `s.getsockname()`, and `s.getpeername()` (empty host when not connected).
  Address local_address() const;
  Address peer_address() const;

  /// Bounds every later send and receive (`s.settimeout(seconds)`).
  void set_timeout(std::chrono::milliseconds timeout);
  /// `s.sendall(data)`. Throws `std::system_error` (including on timeout).
  void send_all(std::string_view data);
  /// `s.recv(size)`: at most `size` bytes; empty at end of stream. Throws on error or timeout.
  std::string recv(std::size_t size);
  /// `b''.join(iter(partial(s.recv, 8192), b''))`: everything until the peer closes.
  std::string recv_all();

  /// `s.close()`; closing twice is harmless.
  void close() noexcept;
  /// Gives up ownership of the descriptor and returns it.
  int release() noexcept {
    const int fd = fd_;
    fd_ = -1;
    return fd;
  }

 private:
  int fd_ = -1;
};

/// Python's repr of a socket, found by `localbag::repr` through argument-dependent lookup:
/// `<socket fd=5, laddr=('127.0.0.1', 41234), raddr=('127.0.0.1', 38101)>`.
std::string localbag_repr(const Socket& socket);

}  // namespace localbag::examples
