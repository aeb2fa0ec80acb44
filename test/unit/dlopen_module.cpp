// SPDX-License-Identifier: MIT
// A shared module that uses localbag, loaded by dlopen_host.cpp with dlopen, as a Python
// extension module or a plugin is: liblocalbag.so (a dependency of this module) is then loaded
// by dlopen too, and its initial-exec TLS (localbag/detail/tls.hpp) comes from glibc's static
// TLS reserve. The check: per-thread values on the loading thread and on a new thread, through
// the inline fast path compiled into this position-independent module.
#include <localbag/localbag.hpp>

#include <string>
#include <thread>

extern "C" __attribute__((visibility("default"))) int localbag_dlopen_check() {
  localbag::LocalObject data;
  data.setattr("x", std::string("loader"));
  std::string seen_by_thread;
  std::thread([&] {
    seen_by_thread = data.hasattr("x") ? "x visible" : "no x";
    data.setattr("x", std::string("thread"));
    if (data.get<std::string>("x") != "thread") seen_by_thread = "wrong value";
  }).join();
  if (seen_by_thread != "no x") return 1;
  if (data.get<std::string>("x") != "loader") return 2;
  return 0;
}
