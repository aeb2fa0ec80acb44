#pragma once
// Internal: what a Class holds, and the per-class snapshot of its attributes that threads read.

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "localbag/class.hpp"
#include "localbag/dict.hpp"

namespace localbag::detail {

// Immutable once published: a class's attributes merged along its base chain (a subclass's own
// attributes win). Readers hold it by shared_ptr, so a writer never frees one being read.
struct ClassView {
  Dict attrs;
};

// Guards every class's `own`, `view` and `children`. Class mutation is rare; one mutex keeps a
// change to a base and the rebuild of all its subclasses' views atomic. Never held while user
// code runs.
std::mutex& class_mutex();

struct ClassState {
  std::string name;
  ClassRef base;
  Class* self = nullptr;
  InitFn init;                     // nearest init along the chain; immutable
  std::vector<std::string> slots;  // all slot names, bases' first; immutable

  // Guarded by class_mutex().
  Dict own;
  std::shared_ptr<const ClassView> view;
  std::vector<std::weak_ptr<Class>> children;

  // Bumped (release) after every change of `view`; a thread compares it with the generation of
  // the snapshot it holds (acquire) and refreshes under the mutex when they differ.
  std::atomic<std::uint64_t> generation{1};

  // Index of `name` in `slots`, or -1.
  int slot_index(std::string_view name) const noexcept {
    for (std::size_t i = 0; i < slots.size(); ++i) {
      if (slots[i] == name) return static_cast<int>(i);
    }
    return -1;
  }
  bool is_slot(std::string_view name) const noexcept { return slot_index(name) >= 0; }

  // What a change displaces: destroyed by the caller after it releases class_mutex(), because
  // destroying values runs user destructors, which may use classes and objects.
  struct Displaced {
    Dict own;
    std::vector<std::shared_ptr<const ClassView>> views;
  };
  // Replaces the own attributes and republishes the views of this class and its subclasses,
  // moving the old ones to `displaced`. class_mutex() held. Strong guarantee.
  void publish_own(Dict own_in, Displaced& displaced);
  // This class and its live subclasses, parents before children. class_mutex() held.
  void collect_family(std::vector<ClassState*>& out);
};

// The view of a class whose own attributes are `own` and whose base's view is `base_view`.
std::shared_ptr<const ClassView> merge_view(const ClassView* base_view, const Dict& own);

// `TypeError: cannot set 'x' attribute of immutable type 'local'` (verb: "set" or "delete").
[[noreturn]] void throw_immutable_root(const char* verb, std::string_view name);

// `TypeError: cannot copy 'T' object` unless every value of `attrs` can be copied.
void require_copyable(const Dict& attrs);

}  // namespace localbag::detail
