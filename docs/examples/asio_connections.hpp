// SPDX-License-Identifier: MIT
#pragma once
// Per-connection state for a Boost.Asio server: each connection's coroutine (`co_spawn`,
// `awaitable`) has its own localbag::Context, and every LocalObject access it makes runs inside
// that context, whichever of the io_context's threads resumed it. The state of a connection (its
// user, its request counter, the bytes it sent) lives on one shared LocalObject, as it would on a
// `threading.local` in a threaded server, and is destroyed when the connection ends.
//
// A Context::Scope must not be held across a `co_await`: the coroutine may resume on another
// thread. The session enters its context for each step between two suspensions (`Context::run`),
// which is also what orders one step's writes before the next step's reads on another thread.

#include <cstdint>

namespace localbag::examples {

// What run_connections saw.
struct ConnectionReport {
  int connections = 0;
  int replies = 0;              // replies the clients checked
  int wrong_replies = 0;        // replies that carried another connection's user or count
  int inits = 0;                // the shared object's init ran (once per connection)
  int states_destroyed = 0;     // per-connection state objects destroyed when connections ended
  int server_threads_used = 0;  // server threads that ran some connection's step (1 or 2)
};

// Starts a loopback server on an io_context driven by `server_threads` threads and
// `connections` clients at once (on a client io_context of their own); each client logs in as
// its own user and sends `requests` requests, checking that every reply is about itself. Returns
// after every connection has ended on both sides.
ConnectionReport run_connections(int connections, int requests, int server_threads);

}  // namespace localbag::examples
