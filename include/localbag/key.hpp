// SPDX-License-Identifier: MIT
#pragma once
/// \file
/// Attribute names. Every lookup takes a `Name`, which converts implicitly from a string literal,
/// `std::string`, `std::string_view` or a `Key`. A `Key` is a name hashed once, for the fastest
/// repeated lookups of the same attribute.

#include "localbag/detail/require_cxx20.hpp"  // first: a clear error before C++20

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace localbag {

namespace detail {
/// The hash every Dict uses. Never 0: bit 63 is always set, so 0 can mean "not yet hashed".
std::uint64_t hash_name(std::string_view name) noexcept;

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
}  // namespace detail

/// An interned attribute name: the text, its hash and tag, computed once at construction, and
/// a lookup hint (the position where this name was last found in a small Dict; like CPython's
/// per-call-site attribute caches, it makes repeated lookups with one Key O(1)). Build it once
/// (a `static const Key`) and reuse it on hot paths; it may be shared by any number of threads.
class Key {
 public:
  /// A key for `name`: copies the text and computes its hash and tag now.
  explicit Key(std::string_view name)
      : name_(name),
        hash_(detail::hash_name(name)),
        tag_(detail::name_tag(name.data(), name.size())) {}
  /// The same name, hash and tag; the lookup hint is not copied and starts afresh.
  Key(const Key& other) : name_(other.name_), hash_(other.hash_), tag_(other.tag_) {}
  /// Takes `other`'s name, hash and tag, keeping this key's own hint (a hint is checked on every
  /// use, so a stale one only costs a scan). Not while another thread uses this key.
  Key& operator=(const Key& other) {
    name_ = other.name_;
    hash_ = other.hash_;
    tag_ = other.tag_;
    return *this;
  }

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
  // Only a hint, validated on every use, so relaxed order is enough; written only on a miss.
  mutable std::atomic<std::uint32_t> hint_{0};
};

/// A borrowed attribute name for one call: a view of the text, its tag, and, when it came from
/// a `Key`, its hash and hint. Any byte string is a valid name, including the empty one and one
/// with a NUL.
class Name {
 public:
  /// The NUL-terminated string `name`, not copied. `constexpr`: for a string literal the
  /// compiler computes the tag.
  constexpr Name(const char* name) noexcept  // NOLINT(google-explicit-constructor)
      : Name(std::string_view(name)) {}
  /// The bytes `name` views, not copied (NULs included).
  constexpr Name(std::string_view name) noexcept  // NOLINT(google-explicit-constructor)
      : view_(name), tag_(detail::name_tag(name.data(), name.size())) {}
  /// The text of `name`, not copied.
  Name(const std::string& name) noexcept  // NOLINT(google-explicit-constructor)
      : Name(std::string_view(name)) {}
  /// `key`'s text, tag, hash and lookup hint, none of them recomputed: the fastest name. `key`
  /// must outlive this `Name`.
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
  /// The Key's lookup hint, or nullptr.
  std::atomic<std::uint32_t>* hint() const noexcept {
    return key_ != nullptr ? &key_->hint_ : nullptr;
  }

 private:
  std::string_view view_;
  std::uint64_t tag_;
  const Key* key_ = nullptr;
};

}  // namespace localbag
