// SPDX-License-Identifier: MIT
#pragma once
/// \file
/// The Python Cookbook's `LazyConnection` (recipe 12.6) in C++: one connection object shared by
/// every thread, and behind it one socket per thread, kept in a `localbag::LocalObject`.
///
///     LazyConnection conn({"127.0.0.1", port});    // conn = LazyConnection(('127.0.0.1', port))
///     // in each thread:
///     {
///       LazyConnection::With with(conn);             // with conn as s:
///       with.socket().send_all("GET / HTTP/1.0\r\n\r\n");
///       std::string resp = with.socket().recv_all();
///     }                                              // __exit__: close, del self.local.sock

#include <utility>

#include <localbag/localbag.hpp>

#include "socket.hpp"

namespace localbag::examples {

/// A lazily opened connection to `address`, usable from many threads at once: each thread that
/// enters gets (and owns) its own socket, stored as this thread's `sock` attribute.
class LazyConnection {
 public:
  explicit LazyConnection(Address address) : address_(std::move(address)) {}

  /// `__enter__`: connects this thread's socket and returns it. Throws
  /// `RuntimeError: Already connected` when this thread has one already, or
  /// `std::system_error` when the connection fails; both leave this thread's state unchanged.
  Socket& enter() {
    if (local_.hasattr("sock")) throw localbag::Error("RuntimeError", "Already connected");
    local_.setattr("sock", Socket::connect(address_));  // the Value owns the move-only Socket
    return local_.ref<Socket>("sock");
  }

  /// `__exit__`: closes this thread's socket and forgets it. `AttributeError` when this thread
  /// has none. A thread that exits without calling it still has its socket closed: the thread's
  /// dict, and the Socket in it, are destroyed when the thread ends.
  void exit() {
    local_.ref<Socket>("sock").close();
    local_.delattr("sock");
  }

  /// `self.address`.
  const Address& address() const noexcept { return address_; }
  /// `self.local`: the per-thread state (in each thread, a `sock` while connected).
  const localbag::LocalObject& local() const noexcept { return local_; }

  /// `with conn as s:` -- enters on construction, exits on destruction (also on an exception).
  class With {
   public:
    explicit With(LazyConnection& conn) : conn_(conn), socket_(conn.enter()) {}
    ~With() {
      try {
        conn_.exit();
      } catch (...) {  // a destructor must not throw; the socket is gone either way
      }
    }
    With(const With&) = delete;
    With& operator=(const With&) = delete;

    /// `s`: this thread's socket, valid until the end of the `with` block.
    Socket& socket() const noexcept { return socket_; }

   private:
    LazyConnection& conn_;
    Socket& socket_;
  };

 private:
  // Both members are set once and never reassigned, so every thread may use them at once:
  // `address_` is only read, and `LocalObject` is safe to call from any thread.
  const Address address_;
  localbag::LocalObject local_;
};

}  // namespace localbag::examples
