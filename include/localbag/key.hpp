// SPDX-License-Identifier: MIT
#pragma once
/// \file
/// Attribute names. Every lookup takes a `Name`, which converts implicitly from a string literal,
/// `std::string`, `std::string_view` or a `Key`. A `Key` is a name hashed once, for the fastest
/// repeated lookups of the same attribute.

#include "localbag/detail/require_cxx20.hpp"  // first: a clear error before C++20

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

// Where this thread last found each recently used Key in a small Dict, direct-mapped by the
// Key's address: like CPython's per-call-site attribute caches, it makes repeated lookups with
// one Key O(1). It belongs to the thread, so a get with a Key shared by threads whose dicts
// differ in layout writes only the thread's own memory; the Key itself never changes.
struct KeyPositions {
  static constexpr unsigned kSlots = 16;
  static unsigned slot(const void* key) noexcept {
    return static_cast<unsigned>(reinterpret_cast<std::uintptr_t>(key) >> 6) % kSlots;
  }
  const void* key[kSlots];
  std::uint32_t pos[kSlots];
};
extern __thread KeyPositions tls_key_positions;
}  // namespace detail

/// An interned attribute name: the text, its hash and tag, computed once at construction. A
/// lookup with a Key also remembers, per thread, where the name was found in a small Dict, so
/// repeated lookups with one Key are O(1). Build it once (a `static const Key`) and reuse it on
/// hot paths; it is immutable, and may be shared by any number of threads.
class Key {
 public:
  /// A key for `name`: copies the text and computes its hash and tag now.
  explicit Key(std::string_view name)
      : name_(name),
        hash_(detail::hash_name(name)),
        tag_(detail::name_tag(name.data(), name.size())) {}

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
      : view_(name), tag_(detail::name_tag(name.data(), name.size())) {}
  /// The text of `name`, not copied.
  Name(const std::string& name) noexcept  // NOLINT(google-explicit-constructor)
      : Name(std::string_view(name)) {}
  /// `key`'s text, tag and hash, none of them recomputed: the fastest name. `key` must outlive
  /// this `Name`.
  Name(const Key& key) noexcept  // NOLINT(google-explicit-constructor)
      : view_(key.name_), tag_(key.tag_), key_(&key) {}

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

 private:
  std::string_view view_;
  std::uint64_t tag_;
  const Key* key_ = nullptr;
};

}  // namespace localbag
