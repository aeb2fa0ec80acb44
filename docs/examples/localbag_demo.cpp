// SPDX-License-Identifier: MIT
/// localbag-demo: Python's `threading.local`, in C++, in three parts.
///
/// 1. The docstring of CPython's `_threading_local` module, replayed step by step: every `>>>`
///    line is printed with the C++ that runs it beside it, then the value in Python's repr, so
///    the output reads like the docstring and shows the same values.
/// 2. The Python Cookbook's recipe 12.6, `LazyConnection`: one connection object shared by two
///    threads, each of which gets its own socket, against a loopback HTTP server the demo starts
///    itself (no internet needed).
/// 3. Per-task state for C++20 coroutines (docs/examples/coroutine_tasks.hpp): 1,000 tasks on two
///    threads, each in its own `localbag::Context`, resumed on either thread; every task still
///    sees its own attributes after every move, as `contextvars` gives asyncio tasks theirs.
///
/// It checks every value it prints against the docstring (and the recipe's invariants) and
/// exits with status 1 if one differs, so it doubles as a test.

#include <algorithm>
#include <barrier>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <iostream>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <localbag/localbag.hpp>

#include "coroutine_tasks.hpp"
#include "lazy_connection.hpp"
#include "loopback_http_server.hpp"
#include "socket.hpp"

namespace {

using localbag::Args;
using localbag::ClassSpec;
using localbag::Dict;
using localbag::List;
using localbag::LocalObject;
using localbag::Registry;
using localbag::repr;
using localbag::Tuple;
using localbag::Value;
using localbag::examples::Address;
using localbag::examples::LazyConnection;
using localbag::examples::LoopbackHttpServer;
using localbag::examples::Socket;

// Prints the session: Python input lines (with the C++ as a trailing comment) and the values,
// and counts every value that differs from what it should be.
class Console {
 public:
  void in(std::string_view python, std::string_view cpp = {}) { line(">>> ", python, cpp); }
  void more(std::string_view python, std::string_view cpp = {}) { line("... ", python, cpp); }
  void note(std::string_view text) { std::cout << "# " << text << '\n'; }
  void out(const std::string& value, std::string_view expected) {
    std::cout << value << '\n';
    check(value == expected, "expected " + std::string(expected));
  }
  void traceback(const std::string& last_line, std::string_view expected) {
    std::cout << "Traceback (most recent call last):\n  ...\n";
    out(last_line, expected);
  }
  void check(bool ok, const std::string& what) {
    if (!ok) {
      ++mismatches_;
      std::cout << "# !!! MISMATCH: " << what << '\n';
    }
  }
  int mismatches() const { return mismatches_; }

 private:
  static constexpr std::size_t kCommentColumn = 48;
  void line(std::string_view prompt, std::string_view python, std::string_view cpp) {
    std::string text(prompt);
    text += python;
    if (!cpp.empty()) {
      text.resize(std::max(text.size() + 2, kCommentColumn), ' ');
      text += "# ";
      text += cpp;
    }
    std::cout << text << '\n';
  }
  int mismatches_ = 0;
};

// `items.sort()` on a list of (key, value) tuples: by key, as keys are unique.
bool by_key(const Value& a, const Value& b) {
  return a.get<Tuple>().items.at(0).get<std::string>() <
         b.get<Tuple>().items.at(0).get<std::string>();
}

// Runs `f(mydata)` on a new thread, printing the docstring's three lines for it.
template <class F>
void run_in_thread(Console& py, F& f, const LocalObject& mydata) {
  py.in("thread = threading.Thread(target=f)", "std::thread thread(f, mydata);");
  std::thread thread(f, mydata);  // the thread gets its own handle: nothing can dangle
  py.in("thread.start()");
  py.in("thread.join()", "thread.join();");
  thread.join();
}

void walkthrough(Console& py) {
  py.note("Part 1: the docstring of _threading_local, replayed in C++.");
  py.in("mydata = local()", "LocalObject mydata;");
  LocalObject mydata;
  py.in("mydata.number = 42", "mydata.setattr(\"number\", 42);");
  mydata.setattr("number", 42);
  py.in("mydata.number", "mydata.get<int>(\"number\")");
  py.out(repr(mydata.get<int>("number")), "42");
  py.in("mydata.__dict__", "mydata.dict()");
  py.out(repr(mydata.dict()), "{'number': 42}");
  py.in("mydata.__dict__.setdefault('widgets', [])",
        "mydata.dict().setdefault(\"widgets\", List{})");
  py.out(repr(mydata.dict().setdefault("widgets", List{})), "[]");
  py.in("mydata.widgets", "mydata.getattr(\"widgets\")");
  py.out(repr(mydata.getattr("widgets")), "[]");

  py.in("log = []", "List log;");
  List log;
  py.in("def f():", "auto f = [&log](LocalObject mydata) {");
  py.more("    items = mydata.__dict__.items()", "  List items = mydata.dict().items();");
  py.more("    items.sort()", "  std::sort(items.begin(), items.end(), by_key);");
  py.more("    log.append(items)", "  log.emplace_back(std::move(items));");
  py.more("    mydata.number = 11", "  mydata.setattr(\"number\", 11);");
  py.more("    log.append(mydata.number)", "  log.push_back(mydata.getattr(\"number\"));};");
  auto f = [&log](LocalObject mydata) {
    List items = mydata.dict().items();
    std::sort(items.begin(), items.end(), by_key);
    log.emplace_back(std::move(items));
    mydata.setattr("number", 11);
    log.push_back(mydata.getattr("number"));
  };
  py.in("import threading");
  run_in_thread(py, f, mydata);
  py.in("log", "repr(log)");
  py.out(repr(log), "[[], 11]");
  py.in("mydata.number");
  py.out(repr(mydata.getattr("number")), "42");

  py.in("class MyLocal(local):", "Registry::global().define(ClassSpec(\"MyLocal\")");
  py.more("    number = 2", "  .attr(\"number\", 2)");
  py.more("    initialized = False", "  .attr(\"initialized\", false)");
  py.more("    def __init__(self, **kw):", "  .init([](LocalObject& self, Args, const Dict& kw) {");
  py.more("        if self.initialized:", "    if (self.get<bool>(\"initialized\"))");
  py.more("            raise SystemError('__init__ called too many times')",
          "throw Error(\"SystemError\", ...);");
  py.more("        self.initialized = True", "    self.setattr(\"initialized\", true);");
  py.more("        self.__dict__.update(kw)", "    self.dict().update(kw); })");
  py.more("    def squared(self):", "  .method(\"squared\", [](LocalObject& self, Args) {");
  py.more("        return self.number ** 2",
          "    int n = self.get<int>(\"number\"); return n * n; }));");
  Registry::global().define(
      ClassSpec("MyLocal")
          .attr("number", 2)
          .attr("initialized", false)
          .init([](LocalObject& self, Args args, const Dict& kw) {
            // `**kw` only: Python rejects positional arguments the same way.
            if (!args.empty()) {
              throw localbag::TypeError("MyLocal.__init__() takes 1 positional argument but " +
                                        std::to_string(args.size() + 1) + " were given");
            }
            if (self.get<bool>("initialized")) {
              throw localbag::Error("SystemError", "__init__ called too many times");
            }
            self.setattr("initialized", true);
            self.dict().update(kw);
          })
          .method("squared", [](LocalObject& self, Args) -> Value {
            const int n = self.get<int>("number");
            return n * n;
          }));

  py.in("mydata = MyLocal(color='red')",
        "mydata = Registry::global().instantiate(\"MyLocal\", {}, Dict{{\"color\", \"red\"}});");
  mydata = Registry::global().instantiate("MyLocal", {}, Dict{{"color", "red"}});
  py.in("mydata.number", "mydata.get<int>(\"number\")");
  py.out(repr(mydata.get<int>("number")), "2");
  py.in("mydata.color", "mydata.get<std::string>(\"color\")");
  py.out(repr(mydata.get<std::string>("color")), "'red'");
  py.in("del mydata.color", "mydata.delattr(\"color\");");
  mydata.delattr("color");
  py.in("mydata.squared()", "mydata.call(\"squared\")");
  py.out(repr(mydata.call("squared")), "4");
  py.in("log = []", "log.clear();");
  log.clear();
  run_in_thread(py, f, mydata);
  py.in("log");
  py.out(repr(log), "[[('color', 'red'), ('initialized', True)], 11]");
  py.in("mydata.number");
  py.out(repr(mydata.getattr("number")), "2");
  py.in("mydata.color", "mydata.getattr(\"color\")");
  const char* const no_color = "AttributeError: 'MyLocal' object has no attribute 'color'";
  try {
    py.out(repr(mydata.getattr("color")), no_color);
  } catch (const localbag::AttributeError& e) {
    py.traceback(e.to_string(), no_color);
  }

  py.in("class MyLocal(local):", "Registry second;  second.define(ClassSpec(\"MyLocal\")");
  py.more("    __slots__ = 'number'", "  .slots({\"number\"}));");
  // A registry cannot rebind a name as Python can: this MyLocal goes in a second registry.
  const char* const taken = "ValueError: class 'MyLocal' is already defined";
  try {
    Registry::global().define(ClassSpec("MyLocal").slots({"number"}));
    py.check(false, "redefining MyLocal should raise " + std::string(taken));
  } catch (const localbag::ValueError& e) {
    py.note("(Registry::global() refuses to rebind the name -- " + e.to_string() + " --");
    py.note(" so this MyLocal is defined in a second Registry.)");
    py.check(e.to_string() == taken, "expected " + std::string(taken));
  }
  Registry second;
  second.define(ClassSpec("MyLocal").slots({"number"}));
  py.in("mydata = MyLocal()", "mydata = second.instantiate(\"MyLocal\");");
  mydata = second.instantiate("MyLocal");
  py.in("mydata.number = 42", "mydata.setattr(\"number\", 42);");
  mydata.setattr("number", 42);
  py.in("mydata.color = 'red'", "mydata.setattr(\"color\", \"red\");");
  mydata.setattr("color", "red");
  run_in_thread(py, f, mydata);
  py.in("mydata.number", "mydata.get<int>(\"number\")");
  py.out(repr(mydata.get<int>("number")), "11");
  py.in("del mydata", "{ LocalObject last = std::move(mydata); }");
  { const LocalObject last = std::move(mydata); }  // every thread's dict for it dies here
}

// What one thread of the recipe saw.
struct Fetch {
  int fd = -1;
  std::uint16_t local_port = 0;
  std::size_t bytes = 0;
  std::string error;
};

// The recipe's `test(conn)`. Both threads wait for each other once connected, so both sockets
// are open at the same time and the kernel cannot hand the second thread a recycled fd.
Fetch test(LazyConnection& conn, std::barrier<>& both_connected, std::mutex& print) {
  Fetch out;
  bool arrived = false;
  try {
    std::string resp;
    {
      LazyConnection::With with(conn);  // with conn as s:
      Socket& s = with.socket();
      out.fd = s.fd();
      out.local_port = s.local_address().port;
      both_connected.arrive_and_wait();
      arrived = true;
      s.send_all("GET /index.html HTTP/1.0\r\n");
      s.send_all("Host: " + conn.address().host + ":" + std::to_string(conn.address().port) +
                 "\r\n");
      s.send_all("\r\n");
      resp = s.recv_all();
    }
    out.bytes = resp.size();
    const std::lock_guard lock(print);
    std::cout << "Got " << resp.size() << " bytes\n";
  } catch (const std::exception& e) {
    if (!arrived) both_connected.arrive_and_drop();  // never leave the other thread waiting
    out.error = e.what();
  }
  return out;
}

void cookbook(Console& py) {
  std::cout << '\n';
  py.note("Part 2: Python Cookbook recipe 12.6, LazyConnection: one socket per thread.");
  constexpr std::size_t kThreads = 2;
  // One connection for the main thread's `Already connected` check, one per thread.
  LoopbackHttpServer server(kThreads + 1, localbag::examples::sample_page(200));
  const Address& at = server.address();
  const std::string address = "('" + at.host + "', " + std::to_string(at.port) + ")";
  py.note("A loopback HTTP/1.0 server stands in for www.python.org: " + address + ", " +
          std::to_string(server.response().size()) + " bytes per response.");
  py.in("conn = LazyConnection(" + address + ")", "LazyConnection conn(server.address());");
  LazyConnection conn(at);

  py.in("s = conn.__enter__()", "Socket& s = conn.enter();");
  Socket& s = conn.enter();
  py.in("s", "repr(s)");
  std::cout << repr(s) << '\n';
  py.in("conn.__enter__()", "conn.enter();");
  const char* const already = "RuntimeError: Already connected";
  try {
    conn.enter();
    py.out("(no error)", already);
  } catch (const localbag::Error& e) {
    py.traceback(e.to_string(), already);
  }
  py.in("conn.__exit__(None, None, None)", "conn.exit();");
  conn.exit();
  py.in("hasattr(conn.local, 'sock')", "conn.local().hasattr(\"sock\")");
  py.out(repr(conn.local().hasattr("sock")), "False");

  py.in("def test(conn):", "Fetch test(LazyConnection& conn, ...) {");
  py.more("    with conn as s:", "  { LazyConnection::With with(conn);");
  py.more("        s.send(b'GET /index.html HTTP/1.0\\r\\n')", "    s.send_all(...); ...");
  py.more("        s.send(b'Host: 127.0.0.1\\r\\n')");
  py.more("        s.send(b'\\r\\n')");
  py.more("        resp = b''.join(iter(partial(s.recv, 8192), b''))",
          "    resp = s.recv_all(); }");
  py.more("    print('Got {} bytes'.format(len(resp)))", "  std::cout << ...; }");
  py.in("t1 = threading.Thread(target=test, args=(conn,))", "std::thread t1(test, ...);");
  py.in("t2 = threading.Thread(target=test, args=(conn,))", "std::thread t2(test, ...);");
  py.in("t1.start(); t2.start(); t1.join(); t2.join()", "t1.join(); t2.join();");
  std::barrier both_connected(static_cast<std::ptrdiff_t>(kThreads));
  std::mutex print;
  std::vector<Fetch> fetched(kThreads);
  std::vector<std::thread> threads;
  for (std::size_t i = 0; i < kThreads; ++i) {
    threads.emplace_back([&, i] { fetched[i] = test(conn, both_connected, print); });
  }
  for (std::thread& t : threads) t.join();

  for (std::size_t i = 0; i < kThreads; ++i) {
    const Fetch& f = fetched[i];
    py.note("t" + std::to_string(i + 1) + "'s own socket: fd " + std::to_string(f.fd) +
            ", local port " + std::to_string(f.local_port) +
            (f.error.empty() ? "" : ", error: " + f.error));
    py.check(f.error.empty() && f.bytes == server.response().size(),
             "t" + std::to_string(i + 1) + " should get the full " +
                 std::to_string(server.response().size()) + " bytes");
  }
  const bool distinct =
      fetched[0].fd != fetched[1].fd && fetched[0].local_port != fetched[1].local_port;
  py.note(std::string("two sockets, one per thread (distinct fds and ports): ") +
          (distinct ? "True" : "False"));
  py.check(distinct, "each thread should have had its own socket");
  py.in("hasattr(conn.local, 'sock')", "conn.local().hasattr(\"sock\")");
  py.out(repr(conn.local().hasattr("sock")), "False");

  const LoopbackHttpServer::Stats stats = server.wait();
  py.note("server: " + std::to_string(stats.ok) + " pages served, " +
          std::to_string(stats.no_request) + " connection closed without a request");
  py.check(
      stats.ok == kThreads && stats.no_request == 1 && stats.not_found == 0 && stats.timed_out == 0,
      "the server should serve one page per thread and see the first socket closed");
}

void coroutines(Console& py) {
  py.note("");
  py.note("Part 3: per-task state for C++20 coroutines, each task in its own Context.");
  py.note("1,000 tasks share one LocalObject; each sets its own 'task' and 'steps', then");
  py.note("reschedules itself 10 times onto a pool of 2 threads and checks its state after");
  py.note("every resume. The pool enters the task's context around each resume:");
  py.note("    const Context::Scope entered(handle.promise().context); handle.resume();");
  const localbag::examples::TaskReport r = localbag::examples::run_tasks(1000, 10, 2);
  py.note(std::to_string(r.tasks) + " tasks, " + std::to_string(r.resumes) + " resumes, " +
          std::to_string(r.migrations) + " of them on another thread than the one before");
  py.note(std::to_string(r.wrong_state) + " resumes saw another task's state; init ran " +
          std::to_string(r.inits) + " times (once per task); the main thread's own dict " +
          (r.main_untouched ? "was never touched" : "WAS TOUCHED"));
  py.check(r.tasks == 1000 && r.resumes == 10'000 && r.wrong_state == 0 && r.inits == 1000 &&
               r.main_untouched,
           "every task should see only its own state, and init run once per task");
}

}  // namespace

int main() {
  Console py;
  std::cout << "# localbag-demo: Python's threading.local in C++. Each >>> line is the Python;\n"
               "# the comment beside it is the C++ this demo runs for it.\n";
  try {
    walkthrough(py);
    cookbook(py);
    coroutines(py);
  } catch (const localbag::Error& e) {
    std::cout << "# !!! unexpected " << e.to_string() << '\n';
    return 2;
  } catch (const std::exception& e) {
    std::cout << "# !!! unexpected error: " << e.what() << '\n';
    return 2;
  }
  if (py.mismatches() != 0) {
    std::cout << "# !!! " << py.mismatches() << " value(s) differ from the expected ones\n";
    return 1;
  }
  return 0;
}
