// SPDX-License-Identifier: MIT
// Test plugin A, built twice (PLUGIN_A_VERSION 1 and 2; plugin_api.hpp lists its entry points).
// It defines classes in a registry of its own and in Registry::global(), keeps objects of them
// in its statics, and stores into the host's objects builtin values, which must outlive it, and
// values that hold its code (a type of its own, an object of its class), which the host has it
// delete before unloading it.
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "localbag/class.hpp"
#include "localbag/dict.hpp"
#include "localbag/local_object.hpp"
#include "localbag/registry.hpp"
#include "localbag/value.hpp"
#include "plugin_api.hpp"

#ifndef PLUGIN_A_VERSION
#error "build with -DPLUGIN_A_VERSION=1 or 2"
#endif

namespace plugin_a {

// A type only this plugin defines: its Value operations table is the plugin's.
struct Token {
  int version = 0;
  std::string text;
};

namespace {

using localbag::Args;
using localbag::ClassRef;
using localbag::ClassSpec;
using localbag::Dict;
using localbag::LocalObject;
using localbag::Value;

constexpr int kVersion = PLUGIN_A_VERSION;

// The plugin's own registry: it dies with the plugin's statics, when dlclose runs them.
localbag::Registry registry;
// The objects plugin_start makes and plugin_stop drops.
std::vector<LocalObject> greeters;
std::vector<LocalObject> globals;

ClassRef greeter_class() { return registry.get("Greeter"); }

void define_classes() {
  if (registry.contains("Greeter")) return;  // this library stayed loaded across an unload
  registry.define(ClassSpec("Greeter")
                      .attr("token", Token{kVersion, "class default"})
                      .init([](LocalObject& self, Args args, const Dict&) {
                        self.setattr("calls", 0);
                        self.setattr("owner",
                                     args.empty() ? Value(std::string("plugin")) : Value(args[0]));
                      })
                      .method("greet", [](LocalObject& self, Args) -> Value {
                        self.setattr("calls", self.get<int>("calls") + 1);
                        return plugin_api::greeting_for(kVersion);
                      }));
}

void define_global_class() {
  // define, not redefine: loading again while a previous load's class is still registered
  // fails with ValueError: class 'PluginGlobal' is already defined.
  localbag::Registry::global().define(
      ClassSpec("PluginGlobal").method("version", [](LocalObject&, Args) -> Value {
        return kVersion;
      }));
}

}  // namespace
}  // namespace plugin_a

PLUGIN_EXPORT int plugin_version() { return plugin_a::kVersion; }

PLUGIN_EXPORT void plugin_start() {
  using namespace plugin_a;
  define_classes();
  define_global_class();
  for (int i = 0; i < plugin_api::kGreetersAtStart; ++i) {
    greeters.emplace_back(greeter_class(), std::vector<Value>{Value(std::string("static"))});
  }
  for (int i = 0; i < plugin_api::kGlobalsAtStart; ++i) {
    globals.push_back(localbag::Registry::global().instantiate("PluginGlobal"));
  }
}

PLUGIN_EXPORT void plugin_work(localbag::LocalObject& host) {
  using namespace plugin_a;
  if (greeters.empty()) throw std::logic_error("plugin_work called before plugin_start");
  const std::optional<int> previous = host.try_get<int>("count");
  const int count = previous.value_or(0) + 1;
  host.setattr("count", count);
  host.setattr("label", plugin_api::label_for(kVersion, count));
  host.setattr("history", localbag::List{kVersion, count, 2 * count});
  host.setattr("raw", localbag::Bytes{plugin_api::raw_for(kVersion)});
  host.setattr("version", kVersion);
  host.setattr("token", Token{kVersion, plugin_api::label_for(kVersion, count)});
  LocalObject greeter(greeter_class(), {Value(std::string("host"))});
  host.setattr("greeting", greeters.front().call("greet"));
  if (greeter.call("greet").get<std::string>() != plugin_api::greeting_for(kVersion)) {
    host.setattr("greeting", std::string("wrong greeting"));
  }
  host.setattr("greeter", std::move(greeter));
}

PLUGIN_EXPORT void plugin_forget(localbag::LocalObject& host) {
  for (const char* name : {"token", "greeter"}) {
    if (host.find(name) != nullptr) host.delattr(name);
  }
}

PLUGIN_EXPORT void plugin_stop() {
  plugin_a::greeters.clear();
  plugin_a::globals.clear();
}
