// SPDX-License-Identifier: MIT
#pragma once
/// \file
/// Counters of the thread runtime, for tests, leak checks and monitoring.

#include "localbag/detail/require_cxx20.hpp"  // first: a clear error before C++20

#include <cstdint>

namespace localbag {

/// A consistent snapshot of the runtime's counters.
struct RuntimeStats {
  std::uint64_t live_objects;   ///< LocalObjects alive now
  std::uint64_t live_threads;   ///< threads whose implicit context exists: they touched an
                                ///< object outside every `Context`, and have not exited
  std::uint64_t live_records;   ///< (context, object) dicts alive now, every thread's and
                                ///< every explicit `Context`'s
  std::uint32_t id_high_water;  ///< object ids ever handed out; ids are recycled below it,
                                ///< the lowest free one first
  std::uint64_t table_bytes;    ///< bytes of every live context's record table (dense + sparse)
  std::uint64_t live_contexts;  ///< explicit `Context`s alive now (a handle or a scope holds them)
};

/// The counters now. Takes the runtime mutex: not for hot paths.
RuntimeStats runtime_stats() noexcept;

}  // namespace localbag
