// SPDX-License-Identifier: MIT
#pragma once
// Internal: what a Class holds, and its view: the class attributes merged along the base chain,
// the one thing threads read of a class.

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <boost/smart_ptr/intrusive_ptr.hpp>

#include "localbag/class.hpp"
#include "localbag/detail/function_ref.hpp"
#include "localbag/dict.hpp"
#include "locked.hpp"

namespace localbag::detail {

// Immutable once published: a class's attributes merged along its base chain (a subclass's own
// attributes win), as its Dict base. Reference-counted in the object itself, so that a record
// holds its view with one pointer (ViewRef: 8 bytes, not a shared_ptr's 16): readers hold a
// reference, so a writer never frees one being read.
struct ClassView : Dict {
  mutable std::atomic<std::uint32_t> refs{0};
  // When another view replaced this one as its class's view: the view_sequence() value of that
  // change, stored before the replacement is published; 0 while this is the current view. A
  // ReadScope keeps a view that was current when the scope began (class_view.hpp).
  mutable std::atomic<std::uint64_t> superseded{0};

  const Dict& attrs() const noexcept { return *this; }
  Dict& attrs() noexcept { return *this; }
  // The view whose attributes `attrs` are (every ViewRef points at one).
  static const ClassView& of(const Dict& attrs) noexcept {
    return static_cast<const ClassView&>(attrs);
  }
};

inline void intrusive_ptr_add_ref(const ClassView* view) noexcept {
  view->refs.fetch_add(1, std::memory_order_relaxed);
}
inline void intrusive_ptr_release(const ClassView* view) noexcept {
  if (view->refs.fetch_sub(1, std::memory_order_acq_rel) == 1) delete view;
}
using ViewPtr = boost::intrusive_ptr<const ClassView>;

// Guards every class's `own`, `view` and `children`. Class mutation is rare; one mutex keeps a
// change to a base and the rebuild of all its subclasses' views atomic. Never held while user
// code runs, except the copy constructors of class attribute values (see docs/design.md).
std::mutex& class_mutex();
using ClassLock = Locked<&class_mutex>;

// Counts the changes of class views: incremented under class_mutex() by each publish_view, after
// it published the new view.
std::atomic<std::uint64_t>& view_sequence() noexcept;

struct ClassState {
  std::string name;
  ClassRef base;
  InitFn init;                     // nearest init along the chain; immutable
  std::vector<std::string> slots;  // all slot names, bases' first; immutable

  // Live objects of exactly this class (ObjectState's constructor and destructor), for
  // Plugin::usage().
  std::atomic<std::size_t> objects{0};

  // Guarded by class_mutex().
  Dict own;
  ViewPtr view;
  std::vector<std::weak_ptr<Class>> children;

  // &view->attrs(), stored (release) after every change of `view`; a thread compares it with the
  // view it holds (acquire) and takes the new view under the mutex when they differ.
  std::atomic<const Dict*> current{nullptr};
  // Makes `view_in` the class's view and publishes it; the view it replaces, if any, is marked
  // with `sequence`, the view_sequence() value that the change will store once all of its
  // views are published (advance_views).
  //
  // The order matters to ReadScope (current_view): the old views are marked before the new ones
  // are published, and the sequence number moves after the last. So a thread that begins a
  // scope and reads a sequence number >= the mark sees the new views in every read after it (it
  // can no longer read the old ones), and a thread that finds a new view published sees the
  // mark. One change (Class::replace_attrs) marks all of its old views alike.
  void publish_view(const ClassLock&, ViewPtr view_in, std::uint64_t sequence) noexcept {
    if (view) view->superseded.store(sequence, std::memory_order_relaxed);
    view = std::move(view_in);
    current.store(&view->attrs(), std::memory_order_release);
  }
  // The sequence number a change's publish_view calls mark with.
  static std::uint64_t next_views(const ClassLock&) noexcept {
    return view_sequence().load(std::memory_order_relaxed) + 1;
  }
  // Ends a change: its views are all published.
  static void advance_views(const ClassLock&, std::uint64_t sequence) noexcept {
    view_sequence().store(sequence, std::memory_order_release);
  }

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
    std::vector<Dict> owns;
    std::vector<ViewPtr> views;
  };
  // Replaces the own attributes and republishes the views of this class and its subclasses,
  // moving the old ones to `displaced`. Strong guarantee.
  void publish_own(const ClassLock& held, Dict own_in, Displaced& displaced);
  // The same for several classes at once (distinct): every new view is built from every new
  // `own` before any is published. On return each `owns[i]` holds what classes[i] had.
  static void publish_owns(const ClassLock& held, std::span<ClassState* const> classes,
                           std::span<Dict> owns, Displaced& displaced);
  // This class and its live subclasses, parents before children.
  void collect_family(const ClassLock& held, std::vector<ClassState*>& out);
};

// Every live class but `local`, parents before children (each class is a live child of its
// base, and every chain ends at `local`).
std::vector<ClassRef> all_classes(const ClassLock& held);

// The view of a class whose own attributes are `own` and whose base's view is `base_view`.
ViewPtr merge_view(const ClassView* base_view, const Dict& own);

// The class code's way into `Class` and `ClassSpec`, which have no other friends.
struct ClassAccess {
  static ClassState& state(const Class& cls) noexcept { return *cls.state_; }
  static const ClassRef& base(const ClassSpec& spec) noexcept { return spec.base_; }
  static const std::string& base_name(const ClassSpec& spec) noexcept { return spec.base_name_; }

  // Builds the class `spec` describes, derived from `base`, and links it to its base. `commit`
  // (a registry entering its name) runs once the class is complete, before it is linked; when
  // anything up to and including `commit` throws, nothing has changed. `ValueError` for a slot
  // that is also a class attribute, `TypeError` for a class attribute that cannot be copied.
  static ClassRef make(ClassSpec spec, ClassRef base, FunctionRef<void(const ClassRef&)> commit);
};

}  // namespace localbag::detail
