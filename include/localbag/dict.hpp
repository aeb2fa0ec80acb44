// SPDX-License-Identifier: MIT
#pragma once
/// \file
/// `Dict`: one thread's attributes of one object, the `__dict__` of Python. An insertion-ordered
/// `string -> Value` map, looked up by `Name` without building a `std::string`.

#include "localbag/detail/require_cxx20.hpp"  // first: a clear error before C++20

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <boost/container/options.hpp>
#include <boost/container/vector.hpp>

#include "localbag/detail/throw.hpp"
#include "localbag/key.hpp"
#include "localbag/value.hpp"

namespace localbag {

/// An insertion-ordered dictionary of attribute values, like Python's `dict` with `str` keys.
///
/// Order: iteration, `keys()` and `items()` follow insertion order, as in Python 3.7+;
/// assigning to an existing key keeps its place, erasing and re-inserting moves it to the end.
///
/// Invalidation: like `std::vector`, any insertion or erasure may invalidate iterators,
/// pointers and references to values; assigning to an existing key does not.
///
/// Exception safety: `set`, `setdefault`, `update` and copying give the strong guarantee: when
/// they throw (`std::bad_alloc`, or `TypeError` for a move-only value that had to be copied)
/// the dict is unchanged.
///
/// A `Dict` is not synchronized: the one `LocalObject::dict()` returns belongs to the calling
/// thread, and only that thread may use it.
class Dict {
 public:
  /// A key and its value, as iteration yields them (`for (auto [key, value] : dict)`).
  template <bool Const>
  struct ItemRef {
    /// The key, as the dict stores it.
    const std::string& key;
    /// The value: assignable through an `iterator`, read-only through a `const_iterator`.
    std::conditional_t<Const, const Value&, Value&> value;
  };

 private:
  struct Entry {
    std::uint64_t tag;  // detail::name_tag(key): compared first in the linear scan
    std::string key;
    // detail::hash_name(key), computed when the dict first needs an index (kUnhashed until
    // then); kDead marks an erased entry (indexed mode only).
    std::uint64_t hash;
    Value value;
  };
  using Entries = boost::container::vector<
      Entry, void,
      boost::container::vector_options_t<boost::container::stored_size<std::uint32_t>>>;

 public:
  /// Walks the items in insertion order; dereferencing yields an `ItemRef` by value, whose
  /// members refer into the dict. `Const` makes it a `const_iterator`. Any insertion or erasure
  /// may invalidate it (see `Dict`).
  template <bool Const>
  class Iterator {
   public:
    /// A pointer to the dict's internal entry type; only `Dict` makes iterators from it.
    using EntryPtr = std::conditional_t<Const, const Entry*, Entry*>;
    /// What dereferencing yields.
    using value_type = ItemRef<Const>;
    /// Required of an iterator; iterators cannot be subtracted.
    using difference_type = std::ptrdiff_t;

    /// An iterator into no dict: it may only be assigned to, or compared with another
    /// default-constructed iterator.
    Iterator() = default;
    /// Used by `Dict::begin` and `Dict::end`: the first item at or after `at`, up to `end`.
    Iterator(EntryPtr at, EntryPtr end) : at_(at), end_(end) { skip_dead(); }
    /// The current item: references to its key and value.
    ItemRef<Const> operator*() const { return {at_->key, at_->value}; }
    /// Moves to the next item.
    Iterator& operator++() {
      ++at_;
      skip_dead();
      return *this;
    }
    /// Moves to the next item; returns the iterator as it was.
    Iterator operator++(int) {
      Iterator old = *this;
      ++*this;
      return old;
    }
    /// Whether `a` and `b` are at the same item of the same dict (or both at its end).
    friend bool operator==(const Iterator& a, const Iterator& b) { return a.at_ == b.at_; }

   private:
    void skip_dead() {
      while (at_ != end_ && at_->hash == kDead) ++at_;
    }
    EntryPtr at_ = nullptr;
    EntryPtr end_ = nullptr;
  };
  /// Iterates with assignable values.
  using iterator = Iterator<false>;
  /// Iterates with read-only values.
  using const_iterator = Iterator<true>;

  /// An empty dict (`{}`); allocates nothing.
  Dict() noexcept = default;
  /// `Dict{{"color", "red"}, {"number", 42}}`; values are copied.
  Dict(std::initializer_list<std::pair<std::string_view, Value>> items);
  /// `d.copy()`: the same keys in the same order, each value copied;
  /// ``TypeError: cannot copy 'T' object`` when a value is move-only.
  Dict(const Dict& other);
  /// Takes `other`'s items, leaving `other` empty. Never throws.
  Dict(Dict&& other) noexcept;
  /// Replaces every item with a copy of `other`'s, as the copy constructor makes them (strong
  /// guarantee). The old values are destroyed after the dict holds the new ones.
  Dict& operator=(const Dict& other);
  /// Takes `other`'s items, leaving `other` empty. The old values are destroyed after the dict
  /// holds the new ones.
  Dict& operator=(Dict&& other) noexcept;
  ~Dict();

  /// Number of keys (`len(d)`).
  std::size_t size() const noexcept { return index_ == nullptr ? entries_.size() : index_[-1]; }
  /// `not d`: whether there are no keys.
  bool empty() const noexcept { return size() == 0; }

  /// `key in d`.
  bool contains(Name key) const noexcept { return find(key) != nullptr; }

  /// The value for `key`, or nullptr. Never throws, never allocates.
  Value* find(Name key) noexcept {
    if (index_ == nullptr) {
      Entry* const entries = entries_.data();
      const std::uint32_t n = static_cast<std::uint32_t>(entries_.size());
      if (const Key* k = key.key()) {
        detail::KeyPositions& cache = detail::tls_key_positions;
        const unsigned s = detail::KeyPositions::slot(k);
        if (cache.key[s] == k) {
          const std::uint32_t i = cache.pos[s];
          if (i < n && same_key(entries[i], key)) return &entries[i].value;
        }
        for (std::uint32_t i = 0; i < n; ++i) {
          if (same_key(entries[i], key)) {
            cache.key[s] = k;  // this thread's memory only
            cache.pos[s] = i;
            return &entries[i].value;
          }
        }
        return nullptr;
      }
      for (std::uint32_t i = 0; i < n; ++i) {
        if (same_key(entries[i], key)) return &entries[i].value;
      }
      return nullptr;
    }
    return find_indexed(key);
  }
  /// The value for `key`, or nullptr, read-only. Never throws, never allocates.
  const Value* find(Name key) const noexcept { return const_cast<Dict*>(this)->find(key); }

  /// A pointer to the `T` stored under `key`, or nullptr when absent or of another type.
  template <class T>
  T* try_get(Name key) noexcept {
    Value* v = find(key);
    return v != nullptr ? v->try_get<T>() : nullptr;
  }
  /// A read-only pointer to the `T` stored under `key`, or nullptr when absent or of another
  /// type.
  template <class T>
  const T* try_get(Name key) const noexcept {
    const Value* v = find(key);
    return v != nullptr ? v->try_get<T>() : nullptr;
  }

  /// `d[key]`: the value, or ``KeyError: 'key'``.
  Value& at(Name key) {
    if (Value* v = find(key)) return *v;
    detail::throw_key_error(key.text());
  }
  /// `d[key]`, read-only: the value, or ``KeyError: 'key'``.
  const Value& at(Name key) const { return const_cast<Dict*>(this)->at(key); }

  /// The `T` stored under `key`: `KeyError` when absent, `TypeError` naming both types when
  /// it holds another type.
  template <class T>
  T& get(Name key) {
    Value& v = at(key);
    if (T* p = v.try_get<T>()) return *p;
    detail::throw_dict_wrong_type(key.text(), v, &detail::type_name<T>);
  }
  /// The `T` stored under `key`, read-only: `KeyError` when absent, `TypeError` naming both
  /// types when it holds another type.
  template <class T>
  const T& get(Name key) const {
    return const_cast<Dict*>(this)->get<T>(key);
  }

  /// `d[key] = value`. A replaced value is destroyed after the dict holds the new one; if its
  /// destructor deletes `key` again, the key ends up absent, as in Python.
  void set(Name key, Value value);
  /// `d[key] = value` for any object a `Value` can hold, stored as `Value(value)` would store it
  /// (a string literal as `std::string`); same guarantees as `set(Name, Value)`. In a small dict
  /// whose `key` already holds an arithmetic value or `std::string` of the same type, the value
  /// is assigned in place, without building a `Value`.
  template <class T, class S = detail::stored_t<T>,
            class = std::enable_if_t<!std::is_same_v<S, Value>>>
  void set(Name key, T&& value) {
    if constexpr (std::is_arithmetic_v<S> || std::is_same_v<S, std::string>) {
      if constexpr (std::is_same_v<S, std::string>) detail::require_str_pointer(value);
      // Assign in place when the type matches: no type-erased move on the hot path.
      if (index_ == nullptr) {
        if (Value* v = find(key)) {
          if (S* p = v->try_get<S>()) {
            *p = std::forward<T>(value);
            return;
          }
        } else {
          // Absent, and building a number or string runs no user code that could insert it:
          // insert without scanning again.
          insert_new(key, Value(std::forward<T>(value)));
          return;
        }
      }
    }
    set(key, Value(std::forward<T>(value)));
  }

  /// `d.setdefault(key, default_value)`: the value under `key`, inserting `default_value`
  /// first when the key is absent.
  Value& setdefault(Name key, Value default_value = {}) {
    if (Value* v = find(key)) return *v;
    return insert_new(key, std::move(default_value));
  }

  /// `del d[key]`: false when the key is absent.
  bool erase(Name key) noexcept;
  /// `d.pop(key)`: the removed value, or `KeyError`.
  Value pop(Name key);

  /// `d.update(other)`: copies every item of `other` (strong guarantee).
  void update(const Dict& other);
  /// Moves every item of `other` in, leaving `other` empty.
  void update(Dict&& other);
  /// `d.clear()`.
  void clear() noexcept;

  /// The first item in insertion order (`end()` when empty).
  iterator begin() noexcept { return {entries_.data(), entries_.data() + entries_.size()}; }
  /// Past the last item.
  iterator end() noexcept {
    return {entries_.data() + entries_.size(), entries_.data() + entries_.size()};
  }
  /// The first item in insertion order, read-only (`end()` when empty).
  const_iterator begin() const noexcept {
    return {entries_.data(), entries_.data() + entries_.size()};
  }
  /// Past the last item, read-only.
  const_iterator end() const noexcept {
    return {entries_.data() + entries_.size(), entries_.data() + entries_.size()};
  }

  /// `list(d.keys())`, in insertion order.
  std::vector<std::string> keys() const;
  /// `list(d.items())` as a `List` of `Tuple(key, value)`, in insertion order; values are
  /// copied (`TypeError` for a move-only one).
  List items() const;

 private:
  static constexpr std::uint64_t kDead = 0;
  static constexpr std::uint64_t kUnhashed = 1;  // real hashes have bit 63 set
  static constexpr std::size_t kLinearMax = 16;  // up to this many entries: no index, tag scan

  // Whether `e` is the entry for `key`: one tag compare decides names of up to 7 bytes; up to
  // 15 bytes, the last 8 bytes are compared as one word; longer names compare the rest.
  static bool same_key(const Entry& e, Name key) noexcept {
    if (e.tag != key.tag()) return false;
    const std::size_t n = key.text().size();
    if (n <= 7) return true;
    if (e.key.size() != n) return false;
    const char* a = e.key.data();
    const char* b = key.text().data();
    if (n <= 15) {
      std::uint64_t x;
      std::uint64_t y;
      std::memcpy(&x, a + n - 8, 8);
      std::memcpy(&y, b + n - 8, 8);
      return x == y;
    }
    return std::memcmp(a + 7, b + 7, n - 7) == 0;
  }

  Value* find_indexed(Name key) noexcept;
  Value& insert_new(Name key, Value value);
  void build_index(std::size_t entries);
  void compact() noexcept;
  std::uint32_t* probe(std::uint64_t hash, Name key) noexcept;

  Entries entries_;                 // insertion order; erased ones are kDead when indexed
  // The hashed index, or nullptr (small mode: every entry is live, and the scan compares tags).
  // Open addressing: 0 empty, kTombstone, else entry + 1. Two words precede bucket 0: the
  // capacity - 1 (index_[-2]) and the number of live entries (index_[-1]), kept there rather
  // than in the dict so that a small dict, the common case, is 24 bytes.
  std::uint32_t* index_ = nullptr;
  std::uint32_t index_mask() const noexcept { return index_[-2]; }
  std::uint32_t& index_live() noexcept { return index_[-1]; }
};

namespace detail {
void repr_dict(std::string& out, const Dict& dict);

template <>
struct MovedFromIsInert<Dict> : std::true_type {};  // a moved-from Dict is empty

template <>
struct PythonType<Dict> {
  static std::string name() { return "dict"; }
  static void repr(std::string& out, const Dict& dict) { repr_dict(out, dict); }
};
}  // namespace detail

}  // namespace localbag
