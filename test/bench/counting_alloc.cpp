// SPDX-License-Identifier: MIT
// Replaces the global operator new/delete of the benchmark binary (and so of the libraries it
// loads, which resolve them here) with malloc-based versions that count in a thread when asked.
// When counting is off the only overhead is one thread-local flag test.

#include "counting_alloc.hpp"

#include <malloc.h>

#include <cstdlib>
#include <new>

namespace {

// Plain data in `__thread`: no dynamic initialization, so safe inside operator new at any time.
__thread bool tls_counting = false;
__thread bench::AllocCounts tls_counts;

void note_alloc(void* p, std::size_t requested) noexcept {
  if (tls_counting) {
    tls_counts.net_bytes += static_cast<std::int64_t>(malloc_usable_size(p));
    tls_counts.requested_bytes += static_cast<std::int64_t>(requested);
    ++tls_counts.allocations;
  }
}

void note_free(void* p) noexcept {
  if (tls_counting && p != nullptr) {
    tls_counts.net_bytes -= static_cast<std::int64_t>(malloc_usable_size(p));
    ++tls_counts.deallocations;
  }
}

void* allocate(std::size_t size) {
  for (;;) {
    if (void* p = std::malloc(size != 0 ? size : 1)) {
      note_alloc(p, size);
      return p;
    }
    std::new_handler handler = std::get_new_handler();
    if (handler == nullptr) throw std::bad_alloc();
    handler();
  }
}

void* allocate_aligned(std::size_t size, std::align_val_t align) {
  const auto a = static_cast<std::size_t>(align);
  const std::size_t rounded = ((size != 0 ? size : 1) + a - 1) / a * a;  // aligned_alloc rule
  for (;;) {
    if (void* p = std::aligned_alloc(a, rounded)) {
      note_alloc(p, size);
      return p;
    }
    std::new_handler handler = std::get_new_handler();
    if (handler == nullptr) throw std::bad_alloc();
    handler();
  }
}

void release(void* p) noexcept {
  note_free(p);
  std::free(p);
}

}  // namespace

namespace bench {

void start_counting() noexcept {
  tls_counts = AllocCounts{};
  tls_counting = true;
}

AllocCounts stop_counting() noexcept {
  tls_counting = false;
  return tls_counts;
}

}  // namespace bench

void* operator new(std::size_t size) { return allocate(size); }
void* operator new[](std::size_t size) { return allocate(size); }
void* operator new(std::size_t size, const std::nothrow_t&) noexcept {
  try {
    return allocate(size);
  } catch (...) {
    return nullptr;
  }
}
void* operator new[](std::size_t size, const std::nothrow_t&) noexcept {
  try {
    return allocate(size);
  } catch (...) {
    return nullptr;
  }
}
void* operator new(std::size_t size, std::align_val_t align) {
  return allocate_aligned(size, align);
}
void* operator new[](std::size_t size, std::align_val_t align) {
  return allocate_aligned(size, align);
}
void* operator new(std::size_t size, std::align_val_t align, const std::nothrow_t&) noexcept {
  try {
    return allocate_aligned(size, align);
  } catch (...) {
    return nullptr;
  }
}
void* operator new[](std::size_t size, std::align_val_t align, const std::nothrow_t&) noexcept {
  try {
    return allocate_aligned(size, align);
  } catch (...) {
    return nullptr;
  }
}

void operator delete(void* p) noexcept { release(p); }
void operator delete[](void* p) noexcept { release(p); }
void operator delete(void* p, std::size_t) noexcept { release(p); }
void operator delete[](void* p, std::size_t) noexcept { release(p); }
void operator delete(void* p, const std::nothrow_t&) noexcept { release(p); }
void operator delete[](void* p, const std::nothrow_t&) noexcept { release(p); }
void operator delete(void* p, std::align_val_t) noexcept { release(p); }
void operator delete[](void* p, std::align_val_t) noexcept { release(p); }
void operator delete(void* p, std::size_t, std::align_val_t) noexcept { release(p); }
void operator delete[](void* p, std::size_t, std::align_val_t) noexcept { release(p); }
void operator delete(void* p, std::align_val_t, const std::nothrow_t&) noexcept { release(p); }
void operator delete[](void* p, std::align_val_t, const std::nothrow_t&) noexcept { release(p); }
