// SPDX-License-Identifier: MIT
#include "localbag/dict.hpp"

#include <algorithm>
#include <bit>
#include <cassert>
#include <limits>
#include <memory>
#include <new>

#include "localbag/detail/throw.hpp"

// Layout. One block holds the entries in insertion order and, before them, one fingerprint byte
// per entry (detail::name_fingerprint; 0 for an erased entry and for the room past the last).
// Up to kLinearMax entries, a lookup compares the name's fingerprint with 16 entries' at a time
// and checks only the entries that match. Erasure marks the entry dead (hash kDead,
// fingerprint 0): the last entry is dropped at once, so a set and del of a new name leave
// nothing behind; dead entries go when they outnumber live ones (compaction, which keeps order)
// or when the block is reallocated. Past kLinearMax entries, an open-addressing index of entry
// positions (linear probing, capacity a power of two, at most half full counting tombstones)
// finds entries by hash; it is dropped again when compaction leaves kLinearMax / 2 entries or
// fewer, or when a reallocation (which doubles the capacity) leaves kLinearMax or fewer, so a
// dict that hovers around the threshold does not rebuild it on every insert.

namespace localbag {
namespace {

constexpr std::uint32_t kEmpty = 0;
constexpr std::uint32_t kTombstone = 0xffffffffu;

// Frees an index made by build_index (its block starts one header word before bucket 0).
void free_index(std::uint32_t* index) noexcept { delete[] (index != nullptr ? index - 1 : nullptr); }

std::size_t index_capacity_for(std::size_t positions) {
  return std::bit_ceil(std::max<std::size_t>(16, positions * 2));
}

// A zeroed index (all kEmpty) for `positions` entry positions, its mask in the header word.
std::unique_ptr<std::uint32_t[]> allocate_index(std::size_t positions) {
  const std::size_t capacity = index_capacity_for(positions);
  auto block = std::make_unique<std::uint32_t[]>(capacity + 1);
  block[0] = static_cast<std::uint32_t>(capacity - 1);
  return block;
}

}  // namespace

Dict::Block* Dict::new_block(std::size_t capacity) {
  if (capacity > std::numeric_limits<std::uint32_t>::max() / 2 ||
      capacity > (std::numeric_limits<std::size_t>::max() / 2) / sizeof(Entry)) {
    throw std::bad_alloc();
  }
  const std::size_t fps = Block::fingerprint_bytes(capacity);
  void* memory = ::operator new(sizeof(Block) + fps + capacity * sizeof(Entry));
  Block* block = new (memory) Block{0, static_cast<std::uint32_t>(capacity), 0,
                                    static_cast<std::uint32_t>(sizeof(Block) + fps)};
  std::memset(block->fingerprints(), 0, fps);
  return block;
}

void Dict::delete_block(Block* block) noexcept {
  if (block == nullptr) return;
  Entry* entries = block->entries();
  for (std::uint32_t i = 0; i < block->used; ++i) entries[i].~Entry();
  ::operator delete(block);
}

Dict::Dict(std::initializer_list<std::pair<std::string_view, Value>> items) {
  for (const auto& [key, value] : items) set(key, value);
}

Dict::Dict(const Dict& other) {
  const std::size_t n = other.size();
  if (n == 0) return;
  Dict built;
  built.make_room(n);
  for (const auto [key, value] : other) {
    std::string text(key);
    Value copy(value);  // TypeError for a move-only value: `built` frees what it holds
    built.append(std::move(text), detail::name_tag(key.data(), key.size()), kUnhashed,
                 std::move(copy));
  }
  block_ = std::exchange(built.block_, nullptr);
  index_ = std::exchange(built.index_, nullptr);
  filter_ = std::exchange(built.filter_, 0);
}

Dict::Dict(Dict&& other) noexcept
    : block_(std::exchange(other.block_, nullptr)),
      index_(std::exchange(other.index_, nullptr)),
      filter_(std::exchange(other.filter_, 0)) {}

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
    block_ = std::exchange(other.block_, nullptr);
    index_ = std::exchange(other.index_, nullptr);
    filter_ = std::exchange(other.filter_, 0);
  }
  return *this;
}

Dict::~Dict() {
  // A value's destructor that looks at this dict sees it empty.
  filter_ = 0;
  Block* dying = std::exchange(block_, nullptr);
  free_index(std::exchange(index_, nullptr));
  delete_block(dying);
}

bool Dict::same_long_key(const std::string& a, std::string_view b) noexcept {
  const std::size_t n = b.size();
  if (a.size() != n) return false;
  if (n <= 15) {
    std::uint64_t x;
    std::uint64_t y;
    std::memcpy(&x, a.data() + n - 8, 8);
    std::memcpy(&y, b.data() + n - 8, 8);
    return x == y;
  }
  return std::memcmp(a.data() + 7, b.data() + 7, n - 7) == 0;
}

Value* Dict::find_long(Block* block, std::string_view text, std::uint64_t tag,
                       std::uint8_t fp) noexcept {
  const std::uint8_t* const fps = block->fingerprints();
  Entry* const entries = block->entries();
  const std::uint32_t used = block->used;
  for (std::uint32_t group = 0; group < used; group += 16) {
    for (unsigned m = match_group(fps + group, fp); m != 0; m &= m - 1) {
      Entry& e = entries[group + static_cast<unsigned>(__builtin_ctz(m))];
      if (e.tag == tag && same_long_key(e.key, text)) return &e.value;
    }
  }
  return nullptr;
}

std::uint32_t* Dict::probe(std::uint64_t hash, Name key) noexcept {
  std::uint32_t* tombstone = nullptr;
  const std::uint32_t mask = index_mask();
  Entry* const entries = block_->entries();
  for (std::size_t i = hash & mask;; i = (i + 1) & mask) {
    std::uint32_t& bucket = index_[i];
    if (bucket == kEmpty) return tombstone != nullptr ? tombstone : &bucket;
    if (bucket == kTombstone) {
      if (tombstone == nullptr) tombstone = &bucket;
      continue;
    }
    const Entry& e = entries[bucket - 1];
    if (e.hash == hash && same_key(e, key)) return &bucket;
  }
}

Value* Dict::find_indexed(std::string_view text, const Key* k) noexcept {
  const Name key = k != nullptr ? Name(*k) : Name(text);
  const std::uint64_t hash = key.hash();
  const std::uint32_t mask = index_mask();
  Entry* const entries = block_->entries();
  for (std::size_t i = hash & mask;; i = (i + 1) & mask) {
    const std::uint32_t bucket = index_[i];
    if (bucket == kEmpty) return nullptr;
    if (bucket == kTombstone) continue;
    Entry& e = entries[bucket - 1];
    if (e.hash == hash && same_key(e, key)) return &e.value;
  }
}

// Enters every live entry into the index, which is all kEmpty; hashes the entries that were
// not hashed yet.
void Dict::fill_index() noexcept {
  const std::uint32_t mask = index_mask();
  Entry* const entries = block_->entries();
  for (std::uint32_t pos = 0; pos < block_->used; ++pos) {
    Entry& e = entries[pos];
    if (e.hash == kDead) continue;
    if (e.hash == kUnhashed) e.hash = detail::hash_name(e.key);
    std::size_t i = e.hash & mask;
    while (index_[i] != kEmpty) i = (i + 1) & mask;
    index_[i] = pos + 1;
  }
}

// Replaces the index with `fresh` (made by allocate_index, or null for none) and fills it.
void Dict::install_index(std::unique_ptr<std::uint32_t[]> fresh) noexcept {
  free_index(std::exchange(index_, fresh ? fresh.release() + 1 : nullptr));
  if (index_ != nullptr) fill_index();
}

// Rebuilds the index for the live entries, sized for `positions` entry positions. Allocates
// first, so a failure leaves the dict as it was.
void Dict::build_index(std::size_t positions) { install_index(allocate_index(positions)); }

// Makes room for `more` appends that then cannot fail: entry storage, and the index they need.
// May compact or reallocate (positions change, lookups and order do not); allocates before it
// changes anything, so on failure the dict is as it was.
void Dict::make_room(std::size_t more) {
  const std::size_t used = block_ != nullptr ? block_->used : 0;
  const std::size_t live = size();
  if (block_ == nullptr || used + more > block_->capacity) {
    // A new block with the live entries only: erased ones are dropped here. Start with room for
    // what is asked (most per-thread dicts hold a few attributes, and every touched
    // (object, thread) pair pays for its first block), then double.
    const std::size_t positions = live + more;
    Block* fresh = new_block(std::max(positions, 2 * live));
    std::unique_ptr<std::uint32_t[]> index;
    if (positions > kLinearMax) {
      try {
        index = allocate_index(positions);
      } catch (...) {
        delete_block(fresh);
        throw;
      }
    }
    std::uint64_t filter = 0;  // of the live names only
    if (block_ != nullptr) {
      Entry* const from = block_->entries();
      Entry* const to = fresh->entries();
      for (std::uint32_t pos = 0; pos < block_->used; ++pos) {
        if (from[pos].hash == kDead) continue;
        new (to + fresh->used) Entry(std::move(from[pos]));
        fresh->fingerprints()[fresh->used] = block_->fingerprints()[pos];
        filter |= filter_bit(block_->fingerprints()[pos]);
        ++fresh->used;
      }
      fresh->live = fresh->used;
    }
    filter_ = filter;
    delete_block(std::exchange(block_, fresh));  // moved-from entries: no user code runs
    install_index(std::move(index));
    return;
  }
  const std::size_t positions = used + more;
  if (index_ != nullptr) {
    if (positions * 2 > index_mask() + 1u) build_index(positions);
  } else if (positions > kLinearMax) {
    if (live + more <= kLinearMax) {
      compact();  // drops the erased entries in place; no index, so nothing to allocate
    } else {
      build_index(positions);
    }
  }
}

// Appends an entry; make_room has made room for it. `hash` may be kUnhashed.
Value& Dict::append(std::string&& key, std::uint64_t tag, std::uint64_t hash,
                    Value&& value) noexcept {
  Block& block = *block_;
  assert(block.used < block.capacity);
  const std::uint32_t pos = block.used;
  Entry* e = new (block.entries() + pos) Entry{tag, std::move(key), hash, std::move(value)};
  const std::uint8_t fp = detail::name_fingerprint(tag, e->key);
  block.fingerprints()[pos] = fp;
  filter_ |= filter_bit(fp);
  ++block.used;
  ++block.live;
  if (index_ != nullptr) {
    if (e->hash == kUnhashed) e->hash = detail::hash_name(e->key);
    *probe(e->hash, Name(e->key)) = pos + 1;
  }
  return e->value;
}

Value& Dict::insert_new(Name key, Value value) {
  // Everything that can throw happens before the dict changes: the key copy and the room;
  // `value` moves in only after them. A small dict needs no hashes: they are computed when
  // the index is first built. The key is copied first: `key` may view a string held in one of
  // this dict's values, which make_room may move.
  std::string text(key.text());
  const std::uint64_t tag = key.tag();
  const std::uint64_t known = key.known_hash();
  make_room(1);
  return append(std::move(text), tag, known != 0 ? known : kUnhashed, std::move(value));
}

// Destroys the dead entries at the end of a dict without an index.
void Dict::drop_trailing_dead() noexcept {
  Block& block = *block_;
  Entry* const entries = block.entries();
  while (block.used > 0 && entries[block.used - 1].hash == kDead) {
    entries[--block.used].~Entry();
  }
}

bool Dict::erase(Name key) noexcept {
  Value dying;  // destroyed after the dict is consistent again
  return take(key, dying);
}

// Removes the entry for `key`, moving its value into `out` (empty); false when absent. `key`
// is not read after the value moved: it may view a string that value holds.
bool Dict::take(Name key, Value& out) noexcept {
  std::uint32_t pos;
  if (index_ == nullptr) {
    Value* v = find(key);
    if (v == nullptr) return false;
    // The entry that holds `v`: Value is the last member, so this is arithmetic, not a scan.
    pos = static_cast<std::uint32_t>(
        (reinterpret_cast<const char*>(v) - reinterpret_cast<const char*>(block_->entries())) /
        static_cast<std::ptrdiff_t>(sizeof(Entry)));
    assert(&block_->entries()[pos].value == v);
  } else {
    std::uint32_t* bucket = probe(key.hash(), key);
    if (*bucket == kEmpty || *bucket == kTombstone) return false;
    pos = *bucket - 1;
    *bucket = kTombstone;
  }
  Block& block = *block_;
  Entry& e = block.entries()[pos];
  out = std::move(e.value);
  e.hash = kDead;
  block.fingerprints()[pos] = 0;
  --block.live;
  if (index_ == nullptr && pos + 1 == block.used) {
    drop_trailing_dead();  // the last entry (a set and del of a new name): nothing stays behind
  } else {
    std::string().swap(e.key);
    if (block.used - block.live > block.live) compact();
  }
  return true;
}

// Drops dead entries, keeping order, and rebuilds (or drops) the index. Entries only shrink,
// so no allocation is needed but the index's, and if that allocation fails the index is
// rebuilt in place.
void Dict::compact() noexcept {
  Block& block = *block_;
  Entry* const entries = block.entries();
  std::uint8_t* const fps = block.fingerprints();
  std::uint32_t to = 0;
  std::uint64_t filter = 0;  // of the live names only
  for (std::uint32_t from = 0; from < block.used; ++from) {
    if (entries[from].hash == kDead) continue;
    if (to != from) {
      entries[to] = std::move(entries[from]);
      fps[to] = fps[from];
    }
    filter |= filter_bit(fps[to]);
    ++to;
  }
  filter_ = filter;
  for (std::uint32_t i = to; i < block.used; ++i) {
    entries[i].~Entry();
    fps[i] = 0;
  }
  block.used = to;
  if (index_ == nullptr) return;
  // Back to the scan only well below the threshold, so that a dict that hovers around
  // kLinearMax entries does not build and drop its index on every insert and erase.
  if (to <= kLinearMax / 2) {
    free_index(std::exchange(index_, nullptr));
    return;
  }
  try {
    build_index(to);
  } catch (...) {
    std::fill(index_, index_ + index_mask() + 1u, kEmpty);  // positions moved: refill
    fill_index();
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
  Value out;
  if (!take(key, out)) detail::throw_key_error(key.text());
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
  // The key strings of the new entries and the room for them first, so the moves below cannot
  // fail halfway. On a failure nothing here has moved: the items go back to `other_in`,
  // wherever it lives.
  std::vector<std::string> new_keys;
  try {
    for (const auto [key, value] : other) {
      if (find(key) == nullptr) new_keys.push_back(key);
    }
    if (!new_keys.empty()) make_room(new_keys.size());
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
    append(std::move(new_keys[next_new++]), detail::name_tag(key.data(), key.size()), kUnhashed,
           std::move(value));
  }
  other.clear();  // destroys the replaced values, after this dict is consistent
}

void Dict::clear() noexcept {
  // The values are destroyed after the dict is empty.
  filter_ = 0;
  Block* dying = std::exchange(block_, nullptr);
  free_index(std::exchange(index_, nullptr));
  delete_block(dying);
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

namespace detail {
LOCALBAG_LIBRARY_OPS(Dict)
}  // namespace detail

}  // namespace localbag
