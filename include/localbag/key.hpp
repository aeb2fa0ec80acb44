#pragma once
/// \file
/// Attribute names. Every lookup takes a `Name`, which converts implicitly from a string literal,
/// `std::string`, `std::string_view` or a `Key`. A `Key` is a name hashed once, for the fastest
/// repeated lookups of the same attribute.

#include <cstdint>
#include <string>
#include <string_view>

namespace localbag {

namespace detail {
/// The hash every Dict uses. Never 0: bit 63 is always set, so 0 can mean "not yet hashed".
std::uint64_t hash_name(std::string_view name) noexcept;
}  // namespace detail

/// An interned attribute name: the text and its hash, computed once at construction.
/// Cheap to copy; build it once (a `static const Key`) and reuse it on hot paths.
class Key {
 public:
  explicit Key(std::string_view name) : name_(name), hash_(detail::hash_name(name)) {}

  std::string_view str() const noexcept { return name_; }
  std::uint64_t hash() const noexcept { return hash_; }

  friend bool operator==(const Key& a, const Key& b) noexcept {
    return a.hash_ == b.hash_ && a.name_ == b.name_;
  }

 private:
  std::string name_;
  std::uint64_t hash_;
};

/// A borrowed attribute name for one call: a view of the text and, when it came from a `Key`,
/// its hash. Any byte string is a valid name, including the empty one and one with a NUL.
class Name {
 public:
  Name(const char* name) noexcept : view_(name) {}         // NOLINT(google-explicit-constructor)
  Name(std::string_view name) noexcept : view_(name) {}    // NOLINT(google-explicit-constructor)
  Name(const std::string& name) noexcept : view_(name) {}  // NOLINT(google-explicit-constructor)
  Name(const Key& key) noexcept : view_(key.str()), hash_(key.hash()) {}  // NOLINT

  std::string_view view() const noexcept { return view_; }
  /// The hash, computed now when the name did not come with one.
  std::uint64_t hash() const noexcept { return hash_ != 0 ? hash_ : detail::hash_name(view_); }
  /// The hash if known, else 0.
  std::uint64_t known_hash() const noexcept { return hash_; }

 private:
  std::string_view view_;
  std::uint64_t hash_ = 0;
};

}  // namespace localbag
