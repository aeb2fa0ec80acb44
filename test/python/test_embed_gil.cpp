// SPDX-License-Identifier: MIT
// A C++ host embedding Python, and the GIL: Python values held in localbag dicts released on
// threads without the GIL (C++ threads, dying contexts, Python threads), and Py_FinalizeEx
// while C++ threads still use Python values (in a child process, this executable re-spawned:
// `test_embed_gil --shutdown-child DELAY_MS`). The sharing tests are test_embed_sharing.cpp's.
//
// main() initialises Python once; the tests run on the main thread holding the GIL, and release
// it (WithoutGil) around anything another thread does with Python.

// First, for <Python.h> (it sets macros the system headers read).
#include "embed_support.hpp"

#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <latch>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

extern char** environ;

namespace localbag {
namespace {

using embed_test::GilHeld;
using embed_test::Script;
using embed_test::start_python;
using embed_test::WithoutGil;
using python::from_python;

// ---- The GIL ------------------------------------------------------------------------------------

TEST(Gil, CppThreadReleasesValuesCopiedFromAnotherThread) {
  Script py;
  LocalObject obj;
  py.bind("obj", obj);
  ASSERT_EQ(py.run("obj.payload = Tracked()\n"
                   "obj.items = [Tracked(), 'x']\n"
                   "refs = [weakref.ref(obj.payload), weakref.ref(obj.items[0])]\n"),
            "");
  // Copies made here, holding the GIL; then this thread lets go of its own.
  Value payload = obj.getattr("payload");
  Value items = obj.getattr("items");
  ASSERT_EQ(py.run("del obj.payload, obj.items"), "");
  EXPECT_EQ(py.repr_of("[r() is not None for r in refs]"), "[True, True]");

  std::latch stored(1);
  std::latch go(1);
  std::size_t item_count = 0;
  std::string held_while_stored, here_while_stored;
  {
    const WithoutGil released;
    // A thread that never ran Python: the move takes no GIL, the copy and the conversion take
    // it themselves, and its exit releases everything it holds.
    std::thread worker([obj, payload = std::move(payload), items = std::move(items), &stored, &go,
                        &item_count]() mutable {
      obj.setattr("payload", std::move(payload));
      obj.setattr("items", items);
      item_count = obj.get<List>("items").size();
      stored.count_down();
      go.wait();
    });
    stored.wait();
    {
      const GilHeld gil;
      held_while_stored = py.repr_of("[r() is not None for r in refs]");
      here_while_stored = py.repr_of("hasattr(obj, 'payload'), hasattr(obj, 'items')");
    }
    go.count_down();
    worker.join();
  }
  EXPECT_EQ(item_count, 2U);
  EXPECT_EQ(held_while_stored, "[True, True]");
  EXPECT_EQ(here_while_stored, "(False, False)");
  EXPECT_EQ(py.repr_of("[r() is None for r in refs]"), "[True, True]");
}

TEST(Gil, ContextDyingWithoutGilReleasesItsValues) {
  Script py;
  LocalObject obj;
  py.bind("obj", obj);
  Context ctx;
  {
    const Context::Scope entered(ctx);
    ASSERT_EQ(py.run("obj.payload = Tracked()\n"
                     "ref = weakref.ref(obj.payload)\n"),
              "");
  }
  EXPECT_EQ(py.repr_of("ref() is not None, hasattr(obj, 'payload')"), "(True, False)");

  bool seen_in_context = false;
  std::string after_drop;
  {
    const WithoutGil released;
    std::thread([&obj, &py, &seen_in_context, &after_drop, ctx = std::move(ctx)]() mutable {
      {
        const Context::Scope entered(ctx);
        seen_in_context = obj.hasattr("payload");
      }
      { const Context last(std::move(ctx)); }  // the last handle: the dicts die here
      const GilHeld gil;
      after_drop = py.repr_of("ref() is None");
    }).join();
  }
  EXPECT_TRUE(seen_in_context);
  EXPECT_EQ(after_drop, "True");
}

TEST(Gil, PythonThreadReleasesValuesBeforeJoinReturns) {
  Script py;
  LocalObject obj;
  py.bind("obj", obj);
  ASSERT_EQ(py.run("refs = []\n"
                   "def work():\n"
                   "    obj.payload = Tracked()\n"
                   "    refs.append(weakref.ref(obj.payload))\n"
                   "thread = threading.Thread(target=work)\n"
                   "thread.start()\n"
                   "thread.join()\n"
                   "dead_after_join = refs[0]() is None\n"),
            "");
  EXPECT_EQ(py.repr_of("len(refs), dead_after_join, hasattr(obj, 'payload')"), "(1, True, False)");
  EXPECT_FALSE(obj.hasattr("payload"));
}

// ---- Shutdown -----------------------------------------------------------------------------------

constexpr int kShutdownThreads = 4;

// The child process: C++ threads copy, store, convert and drop Python values in a loop while
// the main thread finalizes Python, and go on for a while after. Exits 0 when every operation
// either worked or, once Python was finalizing, refused with RuntimeError; and a thread started
// after finalization is refused the Python __init__.
int shutdown_child(int delay_ms) {
  if (!start_python()) return 2;
  LocalObject shared;
  LocalObject made;
  LocalObject sub;
  Value payload, items, big;
  try {
    Script py;
    py.bind("obj", shared);
    const std::string error = py.run(
        "obj.payload = Tracked()\n"
        "obj.items = [Tracked(), 'two', 3.0]\n"
        "obj.big = 2**40\n"
        "made = localbag.local()\n"
        "made.payload = obj.payload\n"
        "class Sub(localbag.local):\n"
        "    def __init__(self, n=0):\n"
        "        self.n = n\n"
        "sub = Sub(n=5)\n");
    if (!error.empty()) throw std::runtime_error(error);
    made = from_python(py.get("made"));
    sub = from_python(py.get("sub"));
    payload = shared.getattr("payload");
    items = shared.getattr("items");
    big = shared.getattr("big");
  } catch (const std::exception& e) {
    std::fprintf(stderr, "shutdown child: setup failed: %s\n", e.what());
    return 2;
  }

  std::atomic<bool> finalized{false};
  std::atomic<int> unexpected{0};
  std::atomic<long> refused{0};
  std::latch started(kShutdownThreads);
  // One operation: it works, or Python is finalizing and it refuses.
  auto attempt = [&](auto&& operation) {
    try {
      if (!operation()) ++unexpected;
    } catch (const RuntimeError&) {
      ++refused;
    } catch (const std::exception& e) {
      if (unexpected++ == 0) std::fprintf(stderr, "shutdown child: %s\n", e.what());
    }
  };
  std::vector<std::thread> threads;
  {
    const WithoutGil released;
    for (int i = 0; i < kShutdownThreads; ++i) {
      // The captures copy Python values here, in the main thread; they die on the worker.
      threads.emplace_back([&, shared, made, sub, payload, items, big]() mutable {
        int after = 0;
        for (long round = 0;; ++round) {
          const bool finalizing = finalized.load();
          attempt([&] {
            Value copy = payload;
            shared.setattr("mine", std::move(copy));  // replaces, and releases, the last one
            return true;
          });
          attempt([&] {
            made.setattr("items", items);
            return made.get<List>("items").size() == 3;
          });
          attempt([&] { return big.as<std::int64_t>() == std::int64_t{1} << 40; });
          attempt([&] { return sub.get<int>("n") == 5; });
          attempt([&] {
            if (shared.hasattr("mine")) (void)repr(shared.getattr("mine"));
            return true;
          });
          if (round % 5 == 0 && shared.hasattr("mine")) shared.delattr("mine");
          if (round == 0) started.count_down();
          if (finalizing && ++after == 50) break;
        }
      });
    }
    started.wait();
    std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms));
  }
  const int finalize_rc = Py_FinalizeEx();
  finalized = true;

  // A thread whose first access comes after finalization: the Python __init__ cannot run.
  std::string late;
  std::thread([&] {
    try {
      (void)sub.get<int>("n");
      late = "no error";
    } catch (const RuntimeError& e) {
      late = e.what();
    } catch (const std::exception& e) {
      late = std::string("another error: ") + e.what();
    }
  }).join();
  for (std::thread& t : threads) t.join();

  const bool ok = finalize_rc == 0 && unexpected == 0 && refused > 0 &&
                  late == "cannot run __init__: the Python interpreter is finalizing";
  std::fprintf(stderr,
               "shutdown child (delay %d ms): finalize %d, unexpected %d, refused %ld, "
               "late thread: %s\n",
               delay_ms, finalize_rc, unexpected.load(), refused.load(), late.c_str());
  return ok ? 0 : 1;
}

TEST(Shutdown, FinalizeWhileCppThreadsUsePythonValues) {
  for (const int delay_ms : {0, 20, 100}) {
    SCOPED_TRACE("finalize " + std::to_string(delay_ms) + " ms after the threads started");
    std::string delay = std::to_string(delay_ms);
    std::string name = "test_embed_gil", flag = "--shutdown-child";
    char* argv[] = {name.data(), flag.data(), delay.data(), nullptr};
    pid_t pid = 0;
    ASSERT_EQ(posix_spawn(&pid, "/proc/self/exe", nullptr, nullptr, argv, environ), 0);
    int status = 0;
    bool exited = false;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (!exited && std::chrono::steady_clock::now() < deadline) {
      const pid_t r = waitpid(pid, &status, WNOHANG);
      ASSERT_NE(r, -1);
      exited = r == pid;
      if (!exited) std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    if (!exited) {
      kill(pid, SIGKILL);
      waitpid(pid, &status, 0);
      FAIL() << "the child did not exit within 20 s (deadlock in finalization?)";
    }
    ASSERT_TRUE(WIFEXITED(status)) << "the child died of signal " << WTERMSIG(status);
    EXPECT_EQ(WEXITSTATUS(status), 0);
  }
}

}  // namespace
}  // namespace localbag

int main(int argc, char** argv) {
  if (argc == 3 && std::string_view(argv[1]) == "--shutdown-child") {
    return localbag::shutdown_child(std::atoi(argv[2]));
  }
  return localbag::embed_test::run_all_tests(argc, argv);
}
