// SPDX-License-Identifier: MIT
#pragma once
/// \file
/// Attribute names. Every lookup takes a `Name`, which converts implicitly from a string literal,
/// `std::string`, `std::string_view` or a `Key`. A `Key` is a name hashed once, for the fastest
/// repeated lookups of the same attribute.

#include "localbag/detail/require_cxx20.hpp"  // first: a clear error before C++20

#include <bit>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace localbag {

namespace detail {
/// The hash every Dict uses: `hash_name_keyed(name, hash_key())`. Never 0: bit 63 is always set,
/// so 0 can mean "not yet hashed".
std::uint64_t hash_name(std::string_view name) noexcept;
/// The hash of `name` under `key`. A set of names chosen to collide under one key does not
/// collide under another.
std::uint64_t hash_name_keyed(std::string_view name, std::uint64_t key) noexcept;
/// This process's secret hash key, chosen at random (getrandom) on first use, as CPython
/// randomises str hashes: names taken from data cannot be chosen offline to collide.
std::uint64_t hash_key() noexcept;

/// The tag of a name: its length (saturated at 255) in the top byte and its first 7 bytes below.
/// Two names of up to 7 bytes are equal exactly when their tags are; up to 15 bytes, when their
/// tags and their last 8 bytes are. A name's tag is one 64-bit compare in a Dict's linear scan,
/// and for a string literal the compiler computes it.
constexpr std::uint64_t name_tag(const char* p, std::size_t n) noexcept {
  std::uint64_t x = 0;
  const std::size_t m = n < 7 ? n : 7;
  for (std::size_t i = 0; i < m; ++i) {
    x |= std::uint64_t{static_cast<unsigned char>(p[i])} << (8 * i);
  }
  return x | (std::uint64_t{n < 255 ? n : 255} << 56);
}

/// The one-byte fingerprint a small Dict keeps per entry and scans 16 at a time: bit 7 set (a 0
/// byte marks no entry), 7 bits mixed from the tag and, for names longer than 7 bytes, their
/// last 8 bytes (names that share their first 7 bytes and length, such as `field_01` and
/// `field_02`, still differ). Not keyed: it only narrows a scan of at most 64 entries, which
/// `same_key` then checks. For a string literal the compiler computes it.
constexpr std::uint8_t name_fingerprint(std::uint64_t tag, std::string_view name) noexcept {
  std::uint64_t x = tag;
  if (name.size() > 7) {
    const char* last = name.data() + name.size() - 8;
    std::uint64_t w = 0;
    if (std::is_constant_evaluated()) {
      for (std::size_t i = 0; i < 8; ++i) {
        w |= std::uint64_t{static_cast<unsigned char>(last[i])} << (8 * i);
      }
    } else {
      __builtin_memcpy(&w, last, 8);
      if constexpr (std::endian::native == std::endian::big) w = __builtin_bswap64(w);
    }
    x ^= w * 0xff51afd7ed558ccdull;
  }
  return static_cast<std::uint8_t>(((x * 0x9e3779b97f4a7c15ull) >> 57) | 0x80u);
}
}  // namespace detail

/// An interned attribute name: the text, its hash, tag and fingerprint, computed once at
/// construction. Build it once (a `static const Key`) and reuse it on hot paths; it is
/// immutable, and may be shared by any number of threads.
class Key {
 public:
  /// A key for `name`: copies the text and computes its hash and tag now.
  explicit Key(std::string_view name)
      : name_(name),
        hash_(detail::hash_name(name)),
        tag_(detail::name_tag(name.data(), name.size())),
        fingerprint_(detail::name_fingerprint(tag_, name)) {}

  /// The name.
  std::string_view text() const noexcept { return name_; }
  /// The name's hash, the one every `Dict` uses; never 0.
  std::uint64_t hash() const noexcept { return hash_; }
  /// The name's tag: its length (saturated at 255) in the top byte and its first 7 bytes in the
  /// bytes below, first byte lowest. Names of up to 7 bytes are equal exactly when their tags
  /// are.
  std::uint64_t tag() const noexcept { return tag_; }

  /// Whether `a` and `b` name the same text.
  friend bool operator==(const Key& a, const Key& b) noexcept {
    return a.hash_ == b.hash_ && a.name_ == b.name_;
  }

 private:
  friend class Name;
  std::string name_;
  std::uint64_t hash_;
  std::uint64_t tag_;
  std::uint8_t fingerprint_;
};

/// A borrowed attribute name for one call: a view of the text, its tag, and, when it came from
/// a `Key`, the Key. Any byte string is a valid name, including the empty one and one
/// with a NUL.
class Name {
 public:
  /// The NUL-terminated string `name`, not copied. `constexpr`: for a string literal the
  /// compiler computes the tag.
  constexpr Name(const char* name) noexcept  // NOLINT(google-explicit-constructor)
      : Name(std::string_view(name)) {}
  /// A name is never null (Python: ``TypeError: attribute name must be string``).
  Name(std::nullptr_t) = delete;
  /// The bytes `name` views, not copied (NULs included).
  constexpr Name(std::string_view name) noexcept  // NOLINT(google-explicit-constructor)
      : view_(name),
        tag_(detail::name_tag(name.data(), name.size())),
        fingerprint_(detail::name_fingerprint(tag_, name)) {}
  /// The text of `name`, not copied.
  Name(const std::string& name) noexcept  // NOLINT(google-explicit-constructor)
      : Name(std::string_view(name)) {}
  /// `key`'s text, tag and hash, none of them recomputed: the fastest name. `key` must outlive
  /// this `Name`.
  Name(const Key& key) noexcept  // NOLINT(google-explicit-constructor)
      : view_(key.name_), tag_(key.tag_), key_(&key), fingerprint_(key.fingerprint_) {}

  /// The text (a view of what the name was made from).
  constexpr std::string_view text() const noexcept { return view_; }
  /// The tag, as `Key::tag` describes it.
  constexpr std::uint64_t tag() const noexcept { return tag_; }
  /// The hash: the Key's, or computed now.
  std::uint64_t hash() const noexcept {
    return key_ != nullptr ? key_->hash_ : detail::hash_name(view_);
  }
  /// The hash if it came with a Key, else 0.
  constexpr std::uint64_t known_hash() const noexcept { return key_ != nullptr ? key_->hash_ : 0; }
  /// The Key this name came from, or nullptr.
  constexpr const Key* key() const noexcept { return key_; }
  /// The fingerprint a small `Dict` scans for (`detail::name_fingerprint`).
  constexpr std::uint8_t fingerprint() const noexcept { return fingerprint_; }

 private:
  std::string_view view_;
  std::uint64_t tag_;
  const Key* key_ = nullptr;
  std::uint8_t fingerprint_;
};

}  // namespace localbag
