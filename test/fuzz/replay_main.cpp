// SPDX-License-Identifier: MIT
// Replays fuzz inputs without libFuzzer: every regular file in each directory given (sorted by
// name), or each file given. A divergence aborts, so a failing input fails the test. Files
// whose names start with '.' or end in ".md" are skipped (a directory keeps a README).
//
//   localbag-fuzz-replay test/fuzz/corpus test/fuzz/regressions

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);

int main(int argc, char** argv) {
  namespace fs = std::filesystem;
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s DIR_OR_FILE...\n", argv[0]);
    return 2;
  }
  std::vector<fs::path> inputs;
  for (int i = 1; i < argc; ++i) {
    const fs::path arg(argv[i]);
    if (fs::is_directory(arg)) {
      for (const fs::directory_entry& e : fs::directory_iterator(arg)) {
        const std::string name = e.path().filename().string();
        if (!e.is_regular_file() || name.front() == '.' || e.path().extension() == ".md") continue;
        inputs.push_back(e.path());
      }
    } else if (fs::is_regular_file(arg)) {
      inputs.push_back(arg);
    } else {
      std::fprintf(stderr, "%s: no such file or directory\n", argv[i]);
      return 2;
    }
  }
  std::sort(inputs.begin(), inputs.end());
  std::size_t bytes = 0;
  for (const fs::path& p : inputs) {
    std::ifstream in(p, std::ios::binary);
    const std::vector<char> data((std::istreambuf_iterator<char>(in)),
                                 std::istreambuf_iterator<char>());
    std::fprintf(stderr, "replaying %s (%zu bytes)\n", p.string().c_str(), data.size());
    LLVMFuzzerTestOneInput(reinterpret_cast<const std::uint8_t*>(data.data()), data.size());
    bytes += data.size();
  }
  std::printf("[figures] fuzz-replay: %zu inputs (%zu bytes) replayed, no divergence\n",
              inputs.size(), bytes);
  return 0;
}
