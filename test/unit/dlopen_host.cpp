// SPDX-License-Identifier: MIT
// Loads dlopen_module (argv[1]) with dlopen into this process, which is not linked with
// localbag, and runs its check: dlopen must succeed although liblocalbag.so's TLS uses the
// initial-exec model (glibc fails such a dlopen with "cannot allocate memory in static TLS
// block" when its reserve is exhausted).
#include <dlfcn.h>

#include <cstdio>

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s MODULE\n", argv[0]);
    return 2;
  }
  void* module = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
  if (module == nullptr) {
    std::fprintf(stderr, "dlopen failed: %s\n", dlerror());
    return 1;
  }
  using Check = int (*)();
  auto check = reinterpret_cast<Check>(dlsym(module, "localbag_dlopen_check"));
  if (check == nullptr) {
    std::fprintf(stderr, "dlsym failed: %s\n", dlerror());
    return 1;
  }
  const int result = check();
  std::printf("localbag_dlopen_check() = %d (0: per-thread values right on both threads)\n",
              result);
  return result == 0 ? 0 : 1;
}
