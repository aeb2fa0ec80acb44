#include "localbag/registry.hpp"

#include <algorithm>
#include <mutex>

#include "class_state.hpp"
#include "localbag/error.hpp"
#include "localbag/repr.hpp"

namespace localbag {
namespace {

[[noreturn]] void throw_not_defined(std::string_view name) {
  throw NameError("name '" + std::string(name) + "' is not defined");
}

}  // namespace

Registry::Registry() = default;
Registry::~Registry() = default;

Registry& Registry::global() {
  static Registry* const registry = new Registry;  // leaked: usable during process exit
  return *registry;
}

ClassRef Registry::define(ClassSpec spec) {
  std::unique_lock lock(mutex_);
  if (spec.name_ == "local" || classes_.count(spec.name_) != 0) {
    throw ValueError("class '" + spec.name_ + "' is already defined");
  }
  ClassRef base = spec.base_;
  if (!base) {
    if (spec.base_name_.empty() || spec.base_name_ == "local") {
      base = Class::local();
    } else {
      auto it = classes_.find(spec.base_name_);
      if (it == classes_.end()) throw_not_defined(spec.base_name_);
      base = it->second;
    }
  }
  auto state = std::make_unique<detail::ClassState>();
  state->name = spec.name_;
  state->base = base;
  state->init = spec.init_ ? std::move(spec.init_) : base->state_->init;
  state->slots = base->state_->slots;
  for (std::string& slot : spec.slots_) {
    if (slot == "__dict__") continue;  // every local already has a __dict__
    if (spec.attrs_.contains(slot)) {
      throw ValueError(repr(slot) + " in __slots__ conflicts with class variable");
    }
    if (std::find(state->slots.begin(), state->slots.end(), slot) == state->slots.end()) {
      state->slots.push_back(std::move(slot));
    }
  }
  detail::require_copyable(spec.attrs_);
  state->own = std::move(spec.attrs_);

  ClassRef cls(new Class(std::move(state)));
  std::lock_guard class_lock(detail::class_mutex());
  detail::ClassState& s = *cls->state_;
  s.view = detail::merge_view(base->state_->view.get(), s.own);
  auto& siblings = base->state_->children;
  std::erase_if(siblings, [](const std::weak_ptr<Class>& w) { return w.expired(); });
  siblings.reserve(siblings.size() + 1);
  classes_.emplace(s.name, cls);  // the last step that can throw
  siblings.push_back(cls);
  return cls;
}

ClassRef Registry::find(std::string_view name) const {
  if (name == "local") return Class::local();
  std::shared_lock lock(mutex_);
  auto it = classes_.find(name);
  return it != classes_.end() ? it->second : nullptr;
}

ClassRef Registry::get(std::string_view name) const {
  ClassRef cls = find(name);
  if (!cls) throw_not_defined(name);
  return cls;
}

bool Registry::contains(std::string_view name) const { return find(name) != nullptr; }

std::vector<std::string> Registry::names() const {
  std::shared_lock lock(mutex_);
  std::vector<std::string> out;
  out.reserve(classes_.size());
  for (const auto& [name, cls] : classes_) out.push_back(name);
  return out;
}

std::size_t Registry::size() const {
  std::shared_lock lock(mutex_);
  return classes_.size();
}

LocalObject Registry::instantiate(std::string_view name, std::vector<Value> args,
                                  Dict kwargs) const {
  return LocalObject(get(name), std::move(args), std::move(kwargs));
}

}  // namespace localbag
