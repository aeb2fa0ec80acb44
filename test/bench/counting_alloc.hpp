// SPDX-License-Identifier: MIT
#pragma once
// A counting global allocator for the benchmark binary. The bench replaces the global
// `operator new` / `operator delete` (counting_alloc.cpp); while counting is on in a thread,
// every allocation and deallocation made by that thread is recorded. Bytes are the sizes
// malloc really reserved (`malloc_usable_size`), so `net_bytes` is the heap growth the counted
// code caused, allocator rounding included; `requested_bytes` is what was asked for.

#include <cstdint>

namespace bench {

struct AllocCounts {
  std::int64_t net_bytes = 0;        // usable bytes allocated minus usable bytes freed
  std::int64_t requested_bytes = 0;  // sum of the sizes passed to operator new
  std::int64_t allocations = 0;
  std::int64_t deallocations = 0;
};

// Starts counting in the calling thread, from zero.
void start_counting() noexcept;
// Stops counting in the calling thread and returns what was counted since start_counting().
AllocCounts stop_counting() noexcept;

}  // namespace bench
