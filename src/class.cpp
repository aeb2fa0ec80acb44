#include "localbag/class.hpp"

#include <utility>

#include "class_state.hpp"
#include "localbag/error.hpp"
#include "localbag/repr.hpp"

namespace localbag {
namespace detail {
namespace {

[[noreturn]] void throw_no_class_attr(const ClassState& state, std::string_view name) {
  throw AttributeError("type object '" + state.name + "' has no attribute '" + std::string(name) +
                       "'");
}

}  // namespace

// The root class is shared by every registry and object, so, like CPython's built-in
// `_thread._local`, it cannot be changed.
void throw_immutable_root(const char* verb, std::string_view name) {
  throw TypeError(std::string("cannot ") + verb + " '" + std::string(name) +
                  "' attribute of immutable type 'local'");
}

std::mutex& class_mutex() {
  static std::mutex* const mutex = new std::mutex;  // leaked: classes die during process exit
  return *mutex;
}

std::shared_ptr<const ClassView> merge_view(const ClassView* base_view, const Dict& own) {
  auto view = std::make_shared<ClassView>();
  if (base_view != nullptr) view->attrs = base_view->attrs;
  view->attrs.update(own);
  return view;
}

void require_copyable(const Dict& attrs) {
  for (const auto [key, value] : attrs) {
    if (!value.copyable()) Value copy(value);  // throws the TypeError naming the type
  }
}

// Replaces `state`'s own attributes with `own` and rebuilds the views of the class and all its
// subclasses: every new view is built before any is published (strong guarantee), then each is
// published and its generation bumped so threads refresh on their next read.
void ClassState::collect_family(std::vector<ClassState*>& out) {
  out.push_back(this);
  for (const std::weak_ptr<Class>& weak : children) {
    if (ClassRef child = weak.lock()) child->state_->collect_family(out);
  }
}

void ClassState::publish_own(Dict own_in, Displaced& displaced) {
  std::vector<ClassState*> family;
  collect_family(family);
  std::vector<std::shared_ptr<const ClassView>> views(family.size());
  displaced.views.reserve(family.size());
  for (std::size_t i = 0; i < family.size(); ++i) {
    ClassState* c = family[i];
    const Dict& own_attrs = c == this ? own_in : c->own;
    const ClassView* base_view = nullptr;
    if (c == this) {
      base_view = base ? base->state_->view.get() : nullptr;
    } else {
      for (std::size_t j = 0; j < i; ++j) {
        if (family[j] == c->base->state_.get()) base_view = views[j].get();
      }
    }
    views[i] = merge_view(base_view, own_attrs);
  }
  displaced.own = std::move(own);
  own = std::move(own_in);
  for (std::size_t i = 0; i < family.size(); ++i) {
    displaced.views.push_back(std::move(family[i]->view));  // reserved: cannot throw
    family[i]->view = std::move(views[i]);
    family[i]->generation.fetch_add(1, std::memory_order_release);
  }
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

Class::Class(std::unique_ptr<detail::ClassState> state) : state_(std::move(state)) {
  state_->self = this;
}

Class::~Class() = default;

const ClassRef& Class::local() {
  static const ClassRef* const root = [] {
    auto state = std::make_unique<detail::ClassState>();
    state->name = "local";
    state->view = std::make_shared<detail::ClassView>();
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
  std::lock_guard lock(detail::class_mutex());
  if (const Value* v = state_->view->attrs.find(name)) return *v;
  detail::throw_no_class_attr(*state_, name.text());
}

bool Class::hasattr(Name name) const {
  std::lock_guard lock(detail::class_mutex());
  return state_->view->attrs.contains(name);
}

void Class::setattr(Name name, Value value) {
  if (this == Class::local().get()) detail::throw_immutable_root("set", name.text());
  if (state_->is_slot(name.text())) {
    throw ValueError(repr(std::string(name.text())) +
                     " in __slots__ conflicts with class variable");
  }
  if (!value.copyable()) Value copy(value);  // TypeError: views hold copies
  // Everything the change displaces (the old value, the old attributes and snapshots) is
  // destroyed after the lock is released: user destructors must not run under it.
  detail::ClassState::Displaced displaced;
  {
    std::lock_guard lock(detail::class_mutex());
    Dict own = state_->own;
    if (Value* old = own.find(name)) {
      swap(*old, value);  // `value` now holds the replaced copy
    } else {
      own.set(name, std::move(value));
    }
    state_->publish_own(std::move(own), displaced);
  }
}

void Class::delattr(Name name) {
  if (this == Class::local().get()) detail::throw_immutable_root("delete", name.text());
  detail::ClassState::Displaced displaced;
  Value removed;
  {
    std::lock_guard lock(detail::class_mutex());
    Dict own = state_->own;
    Value* old = own.find(name);
    if (old == nullptr) detail::throw_no_class_attr(*state_, name.text());
    removed = std::move(*old);
    own.erase(name);
    state_->publish_own(std::move(own), displaced);
  }
}

Dict Class::own_attrs() const {
  std::lock_guard lock(detail::class_mutex());
  return state_->own;
}

}  // namespace localbag
