// SPDX-License-Identifier: MIT
#include "localbag/class.hpp"

#include <algorithm>
#include <cassert>
#include <utility>

#include "class_state.hpp"
#include "class_view.hpp"
#include "localbag/detail/throw.hpp"
#include "module_use.hpp"

namespace localbag {
namespace detail {
namespace {

// `TypeError: cannot copy 'T' object` unless `value` can be copied: every view holds a copy.
void require_copyable(const Value& value) {
  if (!value.copyable()) throw_not_copyable(value.type_name());
}

// Python's str.isidentifier() for ASCII; bytes of UTF-8 sequences (>= 0x80) count as letters,
// as the non-ASCII letters Python accepts would.
bool is_identifier(std::string_view name) noexcept {
  if (name.empty()) return false;
  for (std::size_t i = 0; i < name.size(); ++i) {
    const auto c = static_cast<unsigned char>(name[i]);
    const bool letter = c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c >= 0x80;
    if (!letter && !(i > 0 && c >= '0' && c <= '9')) return false;
  }
  return true;
}

// `__dict__` of a class is its namespace, not an attribute a class can rebind or delete.
void require_not_class_dict(Name name) {
  if (name.text() == "__dict__") throw_class_dict_not_writable();
}

}  // namespace

std::mutex& class_mutex() {
  static std::mutex* const mutex = new std::mutex;  // leaked: classes die during process exit
  return *mutex;
}

ViewPtr merge_view(const ClassView* base_view, const Dict& own) {
  boost::intrusive_ptr<ClassView> view(new ClassView());
  if (base_view != nullptr) view->attrs() = base_view->attrs();
  view->attrs().update(own);
  return view;
}

void ClassState::collect_family(const ClassLock& held, std::vector<ClassState*>& out) {
  out.push_back(this);
  for (const std::weak_ptr<Class>& weak : children) {
    if (ClassRef child = weak.lock()) ClassAccess::state(*child).collect_family(held, out);
  }
}

namespace {
void collect_classes(const ClassLock& held, const ClassState& parent, std::vector<ClassRef>& out) {
  for (const std::weak_ptr<Class>& weak : parent.children) {
    if (ClassRef child = weak.lock()) {
      out.push_back(child);
      collect_classes(held, ClassAccess::state(*child), out);
    }
  }
}
}  // namespace

std::vector<ClassRef> all_classes(const ClassLock& held) {
  std::vector<ClassRef> out;
  collect_classes(held, ClassAccess::state(*Class::local()), out);
  return out;
}

std::atomic<std::uint64_t>& view_sequence() noexcept {
  static std::atomic<std::uint64_t> sequence{0};
  return sequence;
}

void ClassState::publish_own(const ClassLock& held, Dict own_in, Displaced& displaced) {
  ClassState* const self = this;
  displaced.owns.reserve(displaced.owns.size() + 1);
  publish_owns(held, std::span<ClassState* const>(&self, 1), std::span<Dict>(&own_in, 1),
               displaced);
  assert(displaced.owns.size() < displaced.owns.capacity());
  displaced.owns.push_back(std::move(own_in));  // the old attributes: destroyed after the lock
}

namespace {
std::size_t depth_of(const ClassState& c) noexcept {
  std::size_t depth = 0;
  for (const ClassRef* b = &c.base; *b; b = &ClassAccess::state(**b).base) ++depth;
  return depth;
}
}  // namespace

// Every new view is built before any is published (strong guarantee), then each is published, so
// threads take it on their next read. A class and its subclasses are rebuilt parents first, each
// from its base's new view.
void ClassState::publish_owns(const ClassLock& held, std::span<ClassState* const> classes,
                              std::span<Dict> owns, Displaced& displaced) {
  assert(classes.size() == owns.size());
  std::vector<ClassState*> family;
  for (ClassState* c : classes) {
    if (std::find(family.begin(), family.end(), c) == family.end()) c->collect_family(held, family);
  }
  std::sort(family.begin(), family.end());
  family.erase(std::unique(family.begin(), family.end()), family.end());
  std::vector<std::pair<std::size_t, ClassState*>> ordered;
  ordered.reserve(family.size());
  for (ClassState* c : family) ordered.emplace_back(depth_of(*c), c);
  std::sort(ordered.begin(), ordered.end(),
            [](const auto& a, const auto& b) { return a.first < b.first; });
  for (std::size_t i = 0; i < ordered.size(); ++i) family[i] = ordered[i].second;

  auto new_own = [&](const ClassState* c) -> const Dict* {
    for (std::size_t k = 0; k < classes.size(); ++k) {
      if (classes[k] == c) return &owns[k];
    }
    return nullptr;
  };
  std::vector<ViewPtr> views(family.size());
  displaced.views.reserve(displaced.views.size() + family.size());
  for (std::size_t i = 0; i < family.size(); ++i) {
    ClassState* c = family[i];
    const ClassState* c_base = c->base ? &ClassAccess::state(*c->base) : nullptr;
    const ClassView* base_view = c_base != nullptr ? c_base->view.get() : nullptr;
    for (std::size_t j = 0; j < i; ++j) {  // parents come first: the base's new view
      if (family[j] == c_base) base_view = views[j].get();
    }
    const Dict* own_in = new_own(c);
    views[i] = merge_view(base_view, own_in != nullptr ? *own_in : c->own);
  }
  // Nothing below throws: room was reserved above.
  for (std::size_t k = 0; k < classes.size(); ++k) {
    using std::swap;
    swap(classes[k]->own, owns[k]);
  }
  const std::uint64_t sequence = next_views(held);
  for (std::size_t i = 0; i < family.size(); ++i) {
    assert(displaced.views.size() < displaced.views.capacity());
    displaced.views.push_back(family[i]->view);  // a copy: publish_view marks it superseded
    family[i]->publish_view(held, std::move(views[i]), sequence);
  }
  advance_views(held, sequence);
}

ClassRef ClassAccess::make(ClassSpec spec, ClassRef base,
                           FunctionRef<void(const ClassRef&)> commit) {
  ClassState& base_state = state(*base);
  auto fresh = std::make_unique<ClassState>();
  fresh->name = std::move(spec.name_);
  fresh->init = spec.init_ ? std::move(spec.init_) : base_state.init;
  fresh->slots = base_state.slots;
  for (const std::string& slot : spec.slots_) {
    if (!is_identifier(slot)) throw_slots_not_identifiers();
  }
  for (std::string& slot : spec.slots_) {
    if (slot == "__dict__") continue;  // every local already has a __dict__
    if (spec.attrs_.contains(slot)) throw_slot_conflict(slot);
    if (std::find(fresh->slots.begin(), fresh->slots.end(), slot) == fresh->slots.end()) {
      fresh->slots.push_back(std::move(slot));
    }
  }
  for (const auto [key, value] : spec.attrs_) require_copyable(value);
  fresh->own = std::move(spec.attrs_);
  fresh->base = std::move(base);

  ClassRef cls(new Class(std::move(fresh)));
  ClassState& s = state(*cls);
  const ClassLock held;
  s.publish_view(held, merge_view(base_state.view.get(), s.own), 0);  // replaces no view
  std::vector<std::weak_ptr<Class>>& siblings = base_state.children;
  std::erase_if(siblings, [](const std::weak_ptr<Class>& w) { return w.expired(); });
  siblings.reserve(siblings.size() + 1);
  commit(cls);  // the last step that can throw
  assert(siblings.size() < siblings.capacity());
  siblings.push_back(cls);  // reserved above: cannot throw
  return cls;
}

LOCALBAG_TLS ViewPins tls_view_pins;

const Dict& current_view(ViewRef& ref, ClassState& state) {
  if (ref.attrs != state.current.load(std::memory_order_acquire)) {
    // In a ReadScope, a view superseded after the scope began may have been read in it: it
    // stays. One superseded at or before the scope's sequence number was replaced before the
    // scope could read it (publish_view's order), so the record takes the current one. (The
    // mark was stored before the load above saw the new view.)
    if (tls_view_pins.read_scopes != 0 && ref.attrs != nullptr &&
        ClassView::of(*ref.attrs).superseded.load(std::memory_order_relaxed) >
            tls_view_pins.read_since) {
      return *ref.attrs;
    }
    ViewPtr fresh;
    {
      const ClassLock held;
      fresh = state.view;
    }
    const bool keep = ref.attrs != nullptr && tls_view_pins.is_pinned(ref.attrs);
    if (keep) {
      // A method found in the old view is running on this thread: keep it. Room is made first,
      // so that nothing below can throw.
      if (tls_view_pins.retired == nullptr) tls_view_pins.retired = new std::vector<ViewPtr>();
      std::vector<ViewPtr>& retired = *tls_view_pins.retired;
      if (retired.size() == retired.capacity()) retired.reserve(std::max<std::size_t>(4, 2 * retired.size()));
    }
    // The record's reference moves from the old view to the new one.
    ViewPtr old(ref.attrs != nullptr ? &ClassView::of(*ref.attrs) : nullptr, false);
    ref.attrs = &fresh.detach()->attrs();
    if (keep) tls_view_pins.retired->push_back(std::move(old));
  }
  return *ref.attrs;
}

void release_view(ViewRef& ref) noexcept {
  if (ref.attrs != nullptr) intrusive_ptr_release(&ClassView::of(*std::exchange(ref.attrs, nullptr)));
}

}  // namespace detail

ClassSpec& ClassSpec::base(std::string name) {
  base_name_ = std::move(name);
  base_.reset();
  return *this;
}

ClassSpec& ClassSpec::base(ClassRef cls) {
  base_ = std::move(cls);
  base_name_.clear();
  return *this;
}

ClassSpec& ClassSpec::attr(std::string name, Value value) {
  attrs_.set(name, std::move(value));
  return *this;
}

ClassSpec& ClassSpec::method(std::string name, MethodFn fn) {
  attrs_.set(name, Function{name_ + "." + name, std::move(fn)});
  return *this;
}

ClassSpec& ClassSpec::init(InitFn fn) {
  init_ = std::move(fn);
  return *this;
}

ClassSpec& ClassSpec::slots(std::vector<std::string> names) {
  slots_ = std::move(names);
  return *this;
}

Class::Class(std::unique_ptr<detail::ClassState> state) : state_(std::move(state)) {}

Class::~Class() = default;

const ClassRef& Class::local() {
  static const ClassRef* const root = [] {
    auto state = std::make_unique<detail::ClassState>();
    state->name = "local";
    {
      const detail::ClassLock held;
      state->publish_view(held, detail::ViewPtr(new detail::ClassView()), 0);  // the first
    }
    return new ClassRef(new Class(std::move(state)));
  }();
  return *root;
}

const std::string& Class::name() const noexcept { return state_->name; }
const ClassRef& Class::base() const noexcept { return state_->base; }
bool Class::has_init() const noexcept { return static_cast<bool>(state_->init); }
const std::vector<std::string>& Class::slots() const noexcept { return state_->slots; }

bool Class::is_subclass_of(const Class& other) const noexcept {
  for (const Class* c = this; c != nullptr; c = c->state_->base.get()) {
    if (c == &other) return true;
  }
  return false;
}

Value Class::getattr(Name name) const {
  const detail::ClassLock held;
  if (const Value* v = state_->view->attrs().find(name)) return *v;
  detail::throw_no_class_attribute(state_->name, name.text());
}

bool Class::hasattr(Name name) const {
  const detail::ClassLock held;
  return state_->view->attrs().contains(name);
}

// The root class is shared by every registry and object, so, like CPython's built-in
// `_thread._local`, it cannot be changed.
void Class::setattr(Name name, Value value) {
  if (this == Class::local().get()) detail::throw_immutable_root("set", name.text());
  detail::require_not_class_dict(name);
  if (state_->is_slot(name.text())) detail::throw_slot_conflict(name.text());
  detail::require_copyable(value);
  // Everything the change displaces (the old value, the old attributes and views) is destroyed
  // after the lock is released: user destructors must not run under it.
  detail::ClassState::Displaced displaced;
  {
    const detail::ClassLock held;
    Dict own = state_->own;
    if (Value* old = own.find(name)) {
      swap(*old, value);  // `value` now holds the replaced copy
    } else {
      own.set(name, std::move(value));
    }
    state_->publish_own(held, std::move(own), displaced);
  }
}

void Class::delattr(Name name) {
  if (this == Class::local().get()) detail::throw_immutable_root("delete", name.text());
  detail::require_not_class_dict(name);
  detail::ClassState::Displaced displaced;
  Value removed;
  {
    const detail::ClassLock held;
    Dict own = state_->own;
    Value* old = own.find(name);
    if (old == nullptr) detail::throw_no_class_attribute(state_->name, name.text());
    removed = std::move(*old);
    own.erase(name);
    state_->publish_own(held, std::move(own), displaced);
  }
}

Dict Class::own_attrs() const {
  const detail::ClassLock held;
  return state_->own;
}

void Class::replace_attrs(std::span<AttrsChange> changes) {
  std::vector<detail::ClassState*> classes;
  classes.reserve(changes.size());
  for (const AttrsChange& change : changes) {
    const Class& cls = *change.cls;
    if (&cls == Class::local().get()) detail::throw_immutable_root("set", "__dict__");
    for (const auto [key, value] : change.attrs) {
      detail::require_not_class_dict(Name(key));
      if (cls.state_->is_slot(key)) detail::throw_slot_conflict(key);
      detail::require_copyable(value);
    }
    if (std::find(classes.begin(), classes.end(), cls.state_.get()) != classes.end()) {
      detail::throw_class_repeated(cls.name());
    }
    classes.push_back(cls.state_.get());
  }
  std::vector<Dict> owns;
  owns.reserve(changes.size());
  for (AttrsChange& change : changes) owns.push_back(std::move(change.attrs));
  detail::ClassState::Displaced displaced;  // destroyed after the lock
  {
    const detail::ClassLock held;
    detail::ClassState::publish_owns(held, classes, owns, displaced);
  }
  for (std::size_t i = 0; i < changes.size(); ++i) changes[i].attrs = std::move(owns[i]);
}

ReadScope::ReadScope() noexcept {
  detail::ViewPins& pins = detail::tls_view_pins;
  if (pins.read_scopes++ == 0) {
    pins.read_since = detail::view_sequence().load(std::memory_order_acquire);
  }
}

ReadScope::~ReadScope() { --detail::tls_view_pins.read_scopes; }

namespace detail {
LOCALBAG_LIBRARY_OPS(Function)
LOCALBAG_LIBRARY_OPS(ClassRef)

CodeModule* code_module(const MethodFn& fn) {
  if (!fn) return nullptr;
  using Plain = Value (*)(LocalObject&, Args);
  if (const Plain* plain = fn.target<Plain>()) {
    return code_module_at(reinterpret_cast<const void*>(*plain));
  }
  // A lambda's or a function object's type_info is emitted by the module that defines it.
  return code_module_at(&fn.target_type());
}
}  // namespace detail

}  // namespace localbag
