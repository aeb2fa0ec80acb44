// SPDX-License-Identifier: MIT
#pragma once
// What the plugin tests share: the modules' paths (given by test/plugin/meson.build in the
// environment), whether a library is mapped, plugin A's entry points, and lookups in a
// PluginUsage report.

#include <dlfcn.h>
#include <gtest/gtest.h>
#include <limits.h>
#include <stdlib.h>

#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <initializer_list>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "localbag/plugin.hpp"
#include "localbag/registry.hpp"
#include "plugin_api.hpp"

namespace localbag::plugin_test {

// The path of a test module, from the environment variable meson sets (empty when unset).
inline std::string module_path(const char* variable) {
  const char* path = std::getenv(variable);
  return path != nullptr ? std::string(path) : std::string();
}

inline std::string plugin_a_path(int version) {
  return module_path(version == 1 ? "PLUGIN_A_V1" : "PLUGIN_A_V2");
}

// Whether /proc/self/maps has a mapping of the file at `path`.
inline bool in_proc_maps(const std::string& path) {
  char resolved[PATH_MAX];
  const std::string file = realpath(path.c_str(), resolved) != nullptr ? resolved : path;
  std::ifstream maps("/proc/self/maps");
  std::string line;
  while (std::getline(maps, line)) {
    // address perms offset dev inode [pathname]
    std::istringstream fields(line);
    std::string address, perms, offset, dev, inode;
    fields >> address >> perms >> offset >> dev >> inode;
    std::string rest;
    std::getline(fields, rest);
    const std::size_t start = rest.find_first_not_of(' ');
    if (start != std::string::npos && rest.substr(start) == file) return true;
  }
  return false;
}

// Whether the dynamic linker still has the library loaded (a RTLD_NOLOAD dlopen finds it; the
// reference that finds it is dropped at once).
inline bool known_to_linker(const std::string& path) {
  void* handle = dlopen(path.c_str(), RTLD_NOW | RTLD_NOLOAD);
  if (handle == nullptr) return false;
  dlclose(handle);
  return true;
}

// Whether the library is in the address space in either sense.
inline bool mapped(const std::string& path) { return known_to_linker(path) || in_proc_maps(path); }

// Plugin A loaded, with its entry points.
struct PluginA {
  explicit PluginA(const std::string& path)
      : plugin(path),
        version(plugin.function<plugin_api::VersionFn>("plugin_version")),
        start(plugin.function<plugin_api::StartFn>("plugin_start")),
        work(plugin.function<plugin_api::WorkFn>("plugin_work")),
        forget(plugin.function<plugin_api::ForgetFn>("plugin_forget")),
        stop(plugin.function<plugin_api::StopFn>("plugin_stop")) {}

  Plugin plugin;
  plugin_api::VersionFn* version;
  plugin_api::StartFn* start;
  plugin_api::WorkFn* work;
  plugin_api::ForgetFn* forget;
  plugin_api::StopFn* stop;
};

// The report's entry for a class, a value type, or the first place whose text contains every
// one of `parts`; nullptr when there is none.
inline const PluginUsage::ClassUse* find_class(const PluginUsage& usage, std::string_view name) {
  for (const PluginUsage::ClassUse& c : usage.classes) {
    if (c.name == name) return &c;
  }
  return nullptr;
}
inline const PluginUsage::ValueUse* find_value(const PluginUsage& usage, std::string_view type) {
  for (const PluginUsage::ValueUse& v : usage.values) {
    if (v.type == type) return &v;
  }
  return nullptr;
}
inline const PluginUsage::Place* find_place(const PluginUsage& usage,
                                            std::initializer_list<std::string_view> parts) {
  for (const PluginUsage::Place& p : usage.places) {
    bool all = true;
    for (std::string_view part : parts) all = all && p.where.find(part) != std::string::npos;
    if (all) return &p;
  }
  return nullptr;
}

// An object's id as the report prints it: 0x and lowercase hex digits.
inline std::string hex_id(std::uintptr_t id) {
  char text[32];
  std::snprintf(text, sizeof text, "0x%" PRIxPTR, id);
  return text;
}

// Calls unload(), which must complete, and returns what it returned; a refusal is a test
// failure (and false), not an exception, so that a test with threads waiting goes on to end them.
inline bool unload_completes(Plugin& plugin) {
  try {
    return plugin.unload();
  } catch (const std::exception& e) {
    ADD_FAILURE() << "unload() threw: " << e.what();
    return false;
  }
}

// Calls unload(), which must be refused with PluginInUseError worded as a RuntimeError, and
// change nothing; returns the error's report (nullopt, after a failure, when it was not refused).
inline std::optional<PluginUsage> refused_usage(Plugin& plugin) {
  const std::string before = plugin.usage().to_string();
  const std::vector<std::string> global_names = Registry::global().names();
  try {
    const bool unmapped = plugin.unload();
    ADD_FAILURE() << "unload() completed (returned " << unmapped
                  << ") while the plugin is in use; usage before it:\n"
                  << before;
    return std::nullopt;
  } catch (const PluginInUseError& e) {
    const RuntimeError& as_runtime = e;  // a RuntimeError as well
    EXPECT_STREQ(as_runtime.python_type(), "RuntimeError");
    EXPECT_EQ(e.to_string().rfind("RuntimeError: cannot unload plugin", 0), 0u) << e.to_string();
    EXPECT_EQ(std::string(e.what()).rfind("cannot unload plugin", 0), 0u) << e.what();
    EXPECT_FALSE(e.usage().empty()) << e.what();
    EXPECT_NE(std::string(e.what()).find(e.usage().to_string()), std::string::npos) << e.what();
    // Nothing changed: still loaded, its classes still registered, and the report reads as it
    // did before the attempt.
    EXPECT_TRUE(plugin.loaded());
    EXPECT_EQ(Registry::global().names(), global_names) << "a refused unload changed the "
                                                           "global registry";
    EXPECT_TRUE(mapped(plugin.path()));
    EXPECT_EQ(plugin.usage().to_string(), e.usage().to_string());
    EXPECT_EQ(before, e.usage().to_string());
    return e.usage();
  } catch (const std::exception& e) {
    ADD_FAILURE() << "unload() threw another exception: " << e.what();
    return std::nullopt;
  }
}

}  // namespace localbag::plugin_test
