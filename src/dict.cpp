// SPDX-License-Identifier: MIT
#include "localbag/dict.hpp"

#include <algorithm>
#include <bit>
#include <cassert>
#include <memory>

#include "localbag/detail/throw.hpp"

// Layout. `entries_` keeps insertion order. A small dict has no index and no erased entry:
// lookups scan comparing tags, erasure shifts. Once it grows past kLinearMax entries, an
// open-addressing index of entry positions (linear probing, capacity a power of two, at most
// half full counting tombstones) finds entries by hash; erasure marks the entry kDead and the
// bucket a tombstone, and the entries are compacted once dead ones outnumber live ones. The
// index is dropped again only when compaction leaves kLinearMax / 2 entries or fewer.

namespace localbag {
namespace {

constexpr std::uint32_t kEmpty = 0;
constexpr std::uint32_t kTombstone = 0xffffffffu;

// Frees an index made by build_index (its block starts two header words before bucket 0).
void free_index(std::uint32_t* index) noexcept { delete[] (index != nullptr ? index - 2 : nullptr); }

std::size_t index_capacity_for(std::size_t entries) {
  return std::bit_ceil(std::max<std::size_t>(16, entries * 2));
}

}  // namespace

Dict::Dict(std::initializer_list<std::pair<std::string_view, Value>> items) {
  for (const auto& [key, value] : items) set(key, value);
}

Dict::Dict(const Dict& other) {
  Entries copy;
  copy.reserve(other.size());
  for (const auto [key, value] : other) {
    copy.push_back(Entry{detail::name_tag(key.data(), key.size()), key, kUnhashed, value});
  }
  if (copy.size() > kLinearMax) {
    Dict built;
    built.entries_ = std::move(copy);
    built.build_index(built.entries_.size());
    *this = std::move(built);
  } else {
    entries_ = std::move(copy);
  }
}

Dict::Dict(Dict&& other) noexcept
    : entries_(std::move(other.entries_)),
      index_(std::exchange(other.index_, nullptr)) {
  other.entries_.clear();
}

Dict& Dict::operator=(const Dict& other) {
  if (this != &other) {
    Dict copy(other);
    *this = std::move(copy);
  }
  return *this;
}

Dict& Dict::operator=(Dict&& other) noexcept {
  if (this != &other) {
    Dict old(std::move(*this));  // the old values die after this dict holds the new ones
    entries_ = std::move(other.entries_);
    other.entries_.clear();
    index_ = std::exchange(other.index_, nullptr);
  }
  return *this;
}

Dict::~Dict() { free_index(index_); }

std::uint32_t* Dict::probe(std::uint64_t hash, Name key) noexcept {
  std::uint32_t* tombstone = nullptr;
  const std::uint32_t mask = index_mask();
  for (std::size_t i = hash & mask;; i = (i + 1) & mask) {
    std::uint32_t& bucket = index_[i];
    if (bucket == kEmpty) return tombstone != nullptr ? tombstone : &bucket;
    if (bucket == kTombstone) {
      if (tombstone == nullptr) tombstone = &bucket;
      continue;
    }
    const Entry& e = entries_[bucket - 1];
    if (e.hash == hash && same_key(e, key)) return &bucket;
  }
}

Value* Dict::find_indexed(Name key) noexcept {
  const std::uint64_t hash = key.hash();
  const std::uint32_t mask = index_mask();
  for (std::size_t i = hash & mask;; i = (i + 1) & mask) {
    const std::uint32_t bucket = index_[i];
    if (bucket == kEmpty) return nullptr;
    if (bucket == kTombstone) continue;
    Entry& e = entries_[bucket - 1];
    if (e.hash == hash && same_key(e, key)) return &e.value;
  }
}

// Rebuilds the index for the live entries, sized for `entries` entries. Allocates first, so a
// failure leaves the dict as it was.
void Dict::build_index(std::size_t entries) {
  const std::size_t capacity = index_capacity_for(entries);
  // Zeroed: all kEmpty. The two header words precede bucket 0 (see index_).
  auto block = std::make_unique<std::uint32_t[]>(capacity + 2);
  std::uint32_t* fresh = block.get() + 2;
  const std::size_t mask = capacity - 1;
  std::uint32_t live = 0;
  for (std::size_t pos = 0; pos < entries_.size(); ++pos) {
    Entry& e = entries_[pos];
    if (e.hash == kDead) continue;
    ++live;
    if (e.hash == kUnhashed) e.hash = detail::hash_name(e.key);
    std::size_t i = e.hash & mask;
    while (fresh[i] != kEmpty) i = (i + 1) & mask;
    fresh[i] = static_cast<std::uint32_t>(pos + 1);
  }
  fresh[-2] = static_cast<std::uint32_t>(mask);
  fresh[-1] = live;
  free_index(index_);
  index_ = block.release() + 2;
}

Value& Dict::insert_new(Name key, Value value) {
  // Everything that can throw happens before the dict changes: the key copy, the entry storage
  // and the index; `value` moves in only after them. A small dict needs no hashes (its scan
  // compares tags): they are computed when the index is first built.
  const std::size_t needed = entries_.size() + 1;
  const bool indexed = index_ != nullptr || needed > kLinearMax;
  Entry entry{key.tag(), std::string(key.text()),
              indexed ? key.hash() : (key.known_hash() != 0 ? key.known_hash() : kUnhashed), {}};
  if (indexed && (index_ == nullptr || needed * 2 > index_mask() + 1u)) build_index(needed);
  if (entries_.size() == entries_.capacity()) {
    // Start with one entry (most per-thread dicts hold a few attributes; every touched
    // (object, thread) pair pays for its first buffer), then double.
    entries_.reserve(std::max<std::size_t>(1, entries_.size() * 2));
  }
  entry.value = std::move(value);
  assert(entries_.size() < entries_.capacity());
  entries_.push_back(std::move(entry));  // capacity reserved above: cannot throw
  if (index_ != nullptr) ++index_live();
  const std::size_t pos = entries_.size() - 1;
  if (index_ != nullptr) {
    Entry& e = entries_[pos];
    *probe(e.hash, Name(e.key)) = static_cast<std::uint32_t>(pos + 1);
  }
  return entries_[pos].value;
}

bool Dict::erase(Name key) noexcept {
  if (index_ == nullptr) {
    Value* v = find(key);
    if (v == nullptr) return false;
    // The entry that holds `v`: Value is the last member, so this is arithmetic, not a scan.
    const auto at = entries_.begin() + (reinterpret_cast<const char*>(v) -
                                        reinterpret_cast<const char*>(entries_.data())) /
                                           static_cast<std::ptrdiff_t>(sizeof(Entry));
    assert(&at->value == v);
    Value dying = std::move(*v);  // destroyed after the dict is consistent again
    entries_.erase(at);
    return true;
  }
  std::uint32_t* bucket = probe(key.hash(), key);
  if (*bucket == kEmpty || *bucket == kTombstone) return false;
  Entry& e = entries_[*bucket - 1];
  *bucket = kTombstone;
  e.hash = kDead;
  Value dying = std::move(e.value);  // destroyed after the dict is consistent again
  std::string().swap(e.key);
  const std::uint32_t live = --index_live();
  if (entries_.size() - live > live) compact();
  return true;
}

// Drops dead entries, keeping order, and rebuilds (or drops) the index. Called when dead
// entries outnumber live ones; entries only shrink, so no allocation is needed but the index,
// and if that allocation fails the dict is simply left uncompacted.
void Dict::compact() noexcept {
  auto live_end = std::remove_if(entries_.begin(), entries_.end(),
                                 [](const Entry& e) { return e.hash == kDead; });
  entries_.erase(live_end, entries_.end());
  // Back to a linear scan only well below the threshold, so that a dict that hovers around
  // kLinearMax entries does not build and drop its index on every insert and erase.
  if (entries_.size() <= kLinearMax / 2) {
    free_index(std::exchange(index_, nullptr));
    return;
  }
  try {
    build_index(entries_.size());
  } catch (...) {
    // Positions moved, so the old index is wrong: fall back to a minimal rebuild in place.
    std::fill(index_, index_ + index_mask() + 1u, kEmpty);
    index_live() = static_cast<std::uint32_t>(entries_.size());
    for (std::size_t pos = 0; pos < entries_.size(); ++pos) {
      *probe(entries_[pos].hash, Name(entries_[pos].key)) = static_cast<std::uint32_t>(pos + 1);
    }
  }
}

void Dict::set(Name key, Value value) {
  if (Value* v = find(key)) {
    swap(*v, value);  // the entry holds the new value; `value` the old one, destroyed on return
    return;
  }
  insert_new(key, std::move(value));
}

Value Dict::pop(Name key) {
  Value* v = find(key);
  if (v == nullptr) detail::throw_key_error(key.text());
  Value out = std::move(*v);
  erase(key);
  return out;
}

void Dict::update(const Dict& other) {
  if (&other == this) return;
  Dict copy(other);  // copies first: a TypeError or bad_alloc leaves *this unchanged
  update(std::move(copy));
}

void Dict::update(Dict&& other_in) {
  if (&other_in == this) return;
  // `other_in` may be a value of this very dict (`d.update(std::move(d.get<Dict>("sub")))`):
  // making room below could move or free it, so its items move out first.
  Dict other(std::move(other_in));
  // Make room for every new key first, so the moves below cannot fail halfway. The entries'
  // own reserve comes last: until it succeeds nothing here has moved, so on a failure the items
  // go back to `other_in`, wherever it lives.
  std::size_t new_keys = 0;
  for (const auto [key, value] : other) {
    if (find(key) == nullptr) ++new_keys;
  }
  Dict staged;
  try {
    if (new_keys > 0) {
      // Key strings for new entries are built now; values move in below.
      staged.entries_.reserve(new_keys);
      for (const auto [key, value] : other) {
        if (find(key) == nullptr) {
          staged.entries_.push_back(
              Entry{detail::name_tag(key.data(), key.size()), key, detail::hash_name(key), {}});
        }
      }
      const std::size_t total = entries_.size() + new_keys;
      if (total > kLinearMax && (index_ == nullptr || total * 2 > index_mask() + 1u)) {
        build_index(total);  // an index for the same entries: nothing visible changes
      }
      entries_.reserve(total);
    }
  } catch (...) {
    other_in = std::move(other);
    throw;
  }
  std::size_t next_new = 0;
  for (auto [key, value] : other) {
    if (Value* mine = find(key)) {
      swap(*mine, value);  // the replaced value goes to `other`, destroyed once this dict is whole
      continue;
    }
    Entry& e = staged.entries_[next_new++];
    e.value = std::move(value);
    assert(entries_.size() < entries_.capacity());
    entries_.push_back(std::move(e));  // reserved above: cannot throw
    if (index_ != nullptr) ++index_live();
    if (index_ != nullptr) {
      *probe(entries_.back().hash, Name(entries_.back().key)) =
          static_cast<std::uint32_t>(entries_.size());
    }
  }
  other.clear();  // destroys the replaced values, after this dict is consistent
}

void Dict::clear() noexcept {
  Entries dying = std::move(entries_);  // values are destroyed after the dict is empty
  entries_.clear();
  free_index(std::exchange(index_, nullptr));
}

std::vector<std::string> Dict::keys() const {
  std::vector<std::string> out;
  out.reserve(size());
  for (const auto [key, value] : *this) out.push_back(key);
  return out;
}

List Dict::items() const {
  List out;
  out.reserve(size());
  for (const auto [key, value] : *this) {
    out.emplace_back(Tuple{{Value(key), value}});
  }
  return out;
}

}  // namespace localbag
