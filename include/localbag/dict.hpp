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
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

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
    std::uint64_t tag;  // detail::name_tag(key): compared when the fingerprint matches
    std::string key;
    // detail::hash_name(key), computed when the dict first needs an index (kUnhashed until
    // then); kDead marks an erased entry.
    std::uint64_t hash;
    Value value;
  };
  // One allocation: this header, then one fingerprint byte per entry (detail::name_fingerprint;
  // 0 for an erased entry and for the room past `used`, padded to a multiple of 16 so a scan
  // reads whole groups), then the entries in insertion order.
  struct Block {
    std::uint32_t used;      // entries constructed, live or erased, in insertion order
    std::uint32_t capacity;  // room for this many entries
    std::uint32_t live;      // entries not erased: the dict's size
    // Where the entries start, from the block's start (past the header and the fingerprints).
    // Derivable from `capacity`, but kept: a lookup then loads it instead of rounding.
    std::uint32_t entries_offset;
    static std::size_t fingerprint_bytes(std::size_t capacity) noexcept {
      return (capacity + 15) & ~std::size_t{15};
    }
    std::uint8_t* fingerprints() noexcept { return reinterpret_cast<std::uint8_t*>(this + 1); }
    Entry* entries() noexcept {
      return reinterpret_cast<Entry*>(reinterpret_cast<char*>(this) + entries_offset);
    }
  };

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
  std::size_t size() const noexcept { return block_ != nullptr ? block_->live : 0; }
  /// `not d`: whether there are no keys.
  bool empty() const noexcept { return size() == 0; }

  /// `key in d`.
  bool contains(Name key) const noexcept { return find(key) != nullptr; }

  /// The value for `key`, or nullptr. Never throws, never allocates.
  Value* find(Name key) noexcept {
    if (index_ != nullptr) return find_indexed(key.text(), key.key());
    // A name whose fingerprint's filter bit is clear is absent: no load of the entries' block.
    const std::uint8_t fp = key.fingerprint();
    if ((filter_ & filter_bit(fp)) == 0) return nullptr;
    Block* const block = block_;  // not null: the filter is empty until the first insertion
    // A name of 8 bytes or more whose length the compiler does not know (a Key, a std::string)
    // is scanned for out of line: compared inline, its tail would take the registers the scan
    // of a short name needs. Past this test the compiler knows a runtime length is at most 7,
    // and comparing tags decides.
    const std::size_t n = key.text().size();
    if (!__builtin_constant_p(n) && n > 7) {
      return find_long(block, key.text(), key.tag(), key.fingerprint());
    }
    // Compare the name's fingerprint with 16 entries' at a time; check only the entries whose
    // fingerprint matches (1 in 128 of the others, by chance).
    const std::uint8_t* const fps = block->fingerprints();
    Entry* const entries = block->entries();
    const std::uint32_t used = block->used;
    for (std::uint32_t group = 0; group < used; group += 16) {
      for (unsigned m = match_group(fps + group, fp); m != 0; m &= m - 1) {
        Entry& e = entries[group + static_cast<unsigned>(__builtin_ctz(m))];
        if (same_key(e, key)) return &e.value;
      }
    }
    return nullptr;
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
  iterator begin() noexcept { return {first_entry(), end_entry()}; }
  /// Past the last item.
  iterator end() noexcept { return {end_entry(), end_entry()}; }
  /// The first item in insertion order, read-only (`end()` when empty).
  const_iterator begin() const noexcept {
    return {const_cast<Dict*>(this)->first_entry(), const_cast<Dict*>(this)->end_entry()};
  }
  /// Past the last item, read-only.
  const_iterator end() const noexcept {
    Entry* e = const_cast<Dict*>(this)->end_entry();
    return {e, e};
  }

  /// `list(d.keys())`, in insertion order.
  std::vector<std::string> keys() const;
  /// `list(d.items())` as a `List` of `Tuple(key, value)`, in insertion order; values are
  /// copied (`TypeError` for a move-only one).
  List items() const;

 private:
  static constexpr std::uint64_t kDead = 0;
  static constexpr std::uint64_t kUnhashed = 1;  // real hashes have bit 63 set
  // Up to this many entries (live or erased) a lookup scans fingerprints; past it, the dict
  // keeps a hashed index.
  static constexpr std::size_t kLinearMax = 64;

  // The bit a fingerprint sets in `filter_`.
  static std::uint64_t filter_bit(std::uint8_t fp) noexcept { return std::uint64_t{1} << (fp & 63); }

  // Bit i set when fps[i] == fp, for the 16 fingerprints at `fps`.
  static unsigned match_group(const std::uint8_t* fps, std::uint8_t fp) noexcept {
#if defined(__SSE2__)
    const __m128i group = _mm_loadu_si128(reinterpret_cast<const __m128i*>(fps));
    return static_cast<unsigned>(
        _mm_movemask_epi8(_mm_cmpeq_epi8(group, _mm_set1_epi8(static_cast<char>(fp)))));
#else
    unsigned m = 0;
    for (unsigned i = 0; i < 16; ++i) m |= unsigned{fps[i] == fp} << i;
    return m;
#endif
  }

  // Whether `e` is the entry for `key`: one tag compare decides names of up to 7 bytes; up to
  // 15 bytes, the last 8 bytes are compared as one word (inline when the length is known at
  // compile time, as for a string literal); longer names compare the rest out of line, which
  // keeps the inline scan small.
  static bool same_key(const Entry& e, Name key) noexcept {
    if (e.tag != key.tag()) return false;
    const std::size_t n = key.text().size();
    if (n <= 7) return true;
    if (__builtin_constant_p(n) && n <= 15) {
      if (e.key.size() != n) return false;
      std::uint64_t x;
      std::uint64_t y;
      std::memcpy(&x, e.key.data() + n - 8, 8);
      std::memcpy(&y, key.text().data() + n - 8, 8);
      return x == y;
    }
    return same_long_key(e.key, key.text());
  }
  // The rest of same_key for names of 8 bytes or more, whose tags are equal.
  static bool same_long_key(const std::string& a, std::string_view b) noexcept;
  // find's scan for a name of 8 bytes or more, out of line (the name in registers).
  static Value* find_long(Block* block, std::string_view text, std::uint64_t tag,
                          std::uint8_t fp) noexcept;

  static Block* new_block(std::size_t capacity);
  static void delete_block(Block* block) noexcept;
  // Out of line, with the name in registers (a `Name` is passed in memory): `key` is the Key the
  // name came from, or nullptr.
  Value* find_indexed(std::string_view text, const Key* key) noexcept;
  Value& insert_new(Name key, Value value);
  void make_room(std::size_t more);
  Value& append(std::string&& key, std::uint64_t tag, std::uint64_t hash, Value&& value) noexcept;
  void install_index(std::unique_ptr<std::uint32_t[]> fresh) noexcept;
  void build_index(std::size_t positions);
  void fill_index() noexcept;
  void compact() noexcept;
  void drop_trailing_dead() noexcept;
  bool take(Name key, Value& out) noexcept;
  std::uint32_t* probe(std::uint64_t hash, Name key) noexcept;
  Entry* first_entry() noexcept { return block_ != nullptr ? block_->entries() : nullptr; }
  Entry* end_entry() noexcept {
    return block_ != nullptr ? block_->entries() + block_->used : nullptr;
  }

  // The entries (nullptr until the first insertion): 24 bytes in all with the index and the
  // filter, as there is one Dict per touched (object, thread) pair.
  Block* block_ = nullptr;
  // The hashed index, or nullptr (up to kLinearMax entries: the scan compares fingerprints).
  // Open addressing: 0 empty, kTombstone, else entry position + 1. The capacity - 1 is kept in
  // the word before bucket 0 (index_[-1]).
  std::uint32_t* index_ = nullptr;
  // A filter of the names present: filter_bit(fingerprint) set for each entry, live or erased
  // since the last compaction (so a clear bit means absent), 0 when there is no entry. A miss,
  // which every read of a class attribute makes in the thread's dict first, is decided here in
  // the dict's own cache line, without loading the block; with 8 names, 7 in 8 others miss.
  std::uint64_t filter_ = 0;
  std::uint32_t index_mask() const noexcept { return index_[-1]; }
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

LOCALBAG_LIBRARY_TYPE(Dict)
}  // namespace detail

}  // namespace localbag
