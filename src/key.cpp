// SPDX-License-Identifier: MIT
#include "localbag/key.hpp"

#include <sys/random.h>

#include <chrono>
#include <cstring>

namespace localbag::detail {
namespace {

__extension__ typedef unsigned __int128 u128;

// 64x64 -> 128 multiply, folded: the mixing step of the hash.
inline std::uint64_t fold_mul(std::uint64_t a, std::uint64_t b) noexcept {
  const u128 r = static_cast<u128>(a) * b;
  return static_cast<std::uint64_t>(r) ^ static_cast<std::uint64_t>(r >> 64);
}

inline std::uint64_t load64(const char* p) noexcept {
  std::uint64_t v;
  std::memcpy(&v, p, 8);
  return v;
}

constexpr std::uint64_t kSeed = 0x9e3779b97f4a7c15ull;
constexpr std::uint64_t kMul1 = 0xbf58476d1ce4e5b9ull;
constexpr std::uint64_t kMul2 = 0x94d049bb133111ebull;

}  // namespace

std::uint64_t hash_key() noexcept {
  // A function-local static, not a namespace-scope one: a static Key built during another
  // translation unit's static initialization must already see the final key.
  static const std::uint64_t key = [] {
    std::uint64_t k = 0;
    if (getrandom(&k, sizeof k, GRND_NONBLOCK) != static_cast<ssize_t>(sizeof k)) {
      // No entropy yet (early boot): the clock and an address are still unknown offline.
      k = static_cast<std::uint64_t>(
              std::chrono::steady_clock::now().time_since_epoch().count()) ^
          reinterpret_cast<std::uintptr_t>(&k);
    }
    return fold_mul(k ^ kSeed, kMul2) | 1;
  }();
  return key;
}

std::uint64_t hash_name(std::string_view name) noexcept {
  return hash_name_keyed(name, hash_key());
}

std::uint64_t hash_name_keyed(std::string_view name, std::uint64_t key) noexcept {
  const char* p = name.data();
  std::size_t n = name.size();
  std::uint64_t h = key ^ kSeed ^ fold_mul(n + kMul2, kMul1 ^ key);
  while (n >= 8) {
    h = fold_mul(h ^ load64(p), kMul1);
    p += 8;
    n -= 8;
  }
  if (n > 0) {  // 1 to 7 bytes left: two overlapping 4-byte loads, or three single bytes
    std::uint64_t tail;
    if (n >= 4) {
      std::uint32_t a;
      std::uint32_t b;
      std::memcpy(&a, p, 4);
      std::memcpy(&b, p + n - 4, 4);
      tail = (std::uint64_t{a} << 32) | b;
    } else {
      tail = (std::uint64_t{static_cast<unsigned char>(p[0])} << 16) |
             (std::uint64_t{static_cast<unsigned char>(p[n / 2])} << 8) |
             static_cast<unsigned char>(p[n - 1]);
    }
    h = fold_mul(h ^ tail ^ (std::uint64_t{n} << 56), kMul2);
  }
  h = fold_mul(h ^ key, kMul1 ^ kSeed);
  return h | (std::uint64_t{1} << 63);  // never 0: 0 means "not hashed" / an erased entry
}

}  // namespace localbag::detail
