// SPDX-License-Identifier: MIT
#pragma once
// Internal: what holds a plugin (Plugin::usage(), Plugin::unload()), read across every layer
// through their narrow plugin interfaces: the live classes (class_state.hpp), the registries
// (runtime.hpp's AllRegistries, RegistryAccess below), the counts of values (module_use.hpp) and
// the dicts another thread may read (runtime.hpp's scan_dicts). docs/plugins.md.

#include <map>
#include <string>
#include <utility>
#include <vector>

#include "../class_state.hpp"
#include "../module_use.hpp"
#include "../runtime.hpp"
#include "localbag/plugin.hpp"
#include "localbag/registry.hpp"

namespace localbag::detail {

// The one way into a Registry's classes besides its own members.
struct RegistryAccess {
  static std::map<std::string, ClassRef, std::less<>>& classes(Registry& registry) noexcept {
    return registry.classes_;
  }
};

// What a check of a plugin found, with the locks that make it true still held: the usage
// report, and the classes that come from the plugin (`own`: an unload drops them).
struct PluginCheck {
  PluginUsage usage;  // all but `values`, which finish_usage() fills without the locks
  std::vector<std::pair<const ValueOps*, std::size_t>> typed;  // live values by table
  std::size_t functions = 0;                                   // live functions

  // Whether anything holds the plugin (usage.values is not filled yet: read typed, functions).
  bool in_use() const noexcept {
    return !usage.classes.empty() || !typed.empty() || functions > 0;
  }
  std::vector<ClassRef> own;
  // Every live class, as all_classes() gave them: destroyed after the locks are released, since
  // one of these references may be a class's last.
  std::vector<ClassRef> classes;
};

// Fills `check` for the module occupying `ranges`. The caller holds every registry and the class
// mutex (in that order), as the tokens say.
void check_plugin(const AllRegistries& registries, const ClassLock& held,
                  const std::vector<AddressRange>& ranges, PluginCheck& check);
// Names the values' types in `check.usage` (a type's name is its module's code, run without
// localbag's locks).
void finish_usage(PluginCheck& check);

}  // namespace localbag::detail
