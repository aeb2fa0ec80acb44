// SPDX-License-Identifier: MIT
#include "localbag/registry.hpp"

#include <mutex>

#include "class_state.hpp"
#include "localbag/detail/throw.hpp"
#include "runtime.hpp"

namespace localbag {

Registry::Registry() { detail::register_for_fork(mutex_, *this); }
Registry::~Registry() { detail::unregister_for_fork(mutex_); }

Registry& Registry::global() {
  static Registry* const registry = new Registry;  // leaked: usable during process exit
  return *registry;
}

ClassRef Registry::define(ClassSpec spec) { return define_locked(std::move(spec), false); }

ClassRef Registry::redefine(ClassSpec spec) { return define_locked(std::move(spec), true); }

ClassRef Registry::define_locked(ClassSpec spec, bool replace) {
  ClassRef replaced;  // destroyed after the lock: it may be the old class's last reference
  std::unique_lock lock(mutex_);
  if (spec.name() == "local" || (!replace && classes_.count(spec.name()) != 0)) {
    detail::throw_already_defined(spec.name());
  }
  ClassRef base = detail::ClassAccess::base(spec);
  if (!base) {
    const std::string& base_name = detail::ClassAccess::base_name(spec);
    if (base_name.empty() || base_name == "local") {
      base = Class::local();
    } else {
      auto it = classes_.find(base_name);
      if (it == classes_.end()) detail::throw_not_defined(base_name);
      base = it->second;
    }
  }
  return detail::ClassAccess::make(std::move(spec), std::move(base), [&](const ClassRef& cls) {
    auto [it, inserted] = classes_.try_emplace(cls->name(), cls);
    if (!inserted) {
      replaced = std::move(it->second);
      it->second = cls;
    }
  });
}

void Registry::remove(std::string_view name) {
  if (name == "local") detail::throw_remove_local();
  ClassRef removed;  // destroyed after the lock
  std::unique_lock lock(mutex_);
  auto it = classes_.find(name);
  if (it == classes_.end()) detail::throw_not_defined(name);
  removed = std::move(it->second);
  classes_.erase(it);
}

ClassRef Registry::find(std::string_view name) const {
  if (name == "local") return Class::local();
  std::shared_lock lock(mutex_);
  auto it = classes_.find(name);
  return it != classes_.end() ? it->second : nullptr;
}

ClassRef Registry::get(std::string_view name) const {
  ClassRef cls = find(name);
  if (!cls) detail::throw_not_defined(name);
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
