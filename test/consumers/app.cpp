// SPDX-License-Identifier: MIT
// The one program every consumer project of test/consumers/ builds against an installed or
// subproject localbag: one shared LocalObject, two threads that each set and read their own
// value of "x" while main holds its own. Prints what each thread saw; exits 1 on any mismatch.
#include <localbag/localbag.hpp>

#include <atomic>
#include <barrier>
#include <cstdio>
#include <string>
#include <thread>

namespace {

std::atomic<int> failures{0};

void check(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "mismatch: %s\n", what);
    ++failures;
  }
}

}  // namespace

int main() {
  localbag::LocalObject data;  // Python: data = threading.local()
  data.setattr("x", std::string("main"));

  // Both threads set their value before either reads, so a shared dict would show up as the
  // other thread's value.
  std::barrier both_set(2);
  auto worker = [&both_set](localbag::LocalObject obj, std::string mine, std::string* seen) {
    check(!obj.hasattr("x"), "a new thread starts with an empty dict");
    obj.setattr("x", mine);
    both_set.arrive_and_wait();
    *seen = obj.get<std::string>("x");
    check(*seen == mine, "each thread reads the value it set");
  };
  std::string seen1, seen2;
  std::thread t1(worker, data, "one", &seen1);
  std::thread t2(worker, data, "two", &seen2);
  t1.join();
  t2.join();

  check(data.get<std::string>("x") == "main", "main keeps its own value");
  std::printf("thread 1: x = %s, thread 2: x = %s, main: x = %s\n", seen1.c_str(), seen2.c_str(),
              data.get<std::string>("x").c_str());
  return failures == 0 ? 0 : 1;
}
