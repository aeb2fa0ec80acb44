// SPDX-License-Identifier: MIT
/// The greeter plugin of plugin-host (plugin_host.cpp): answers `greet <name>`. Built twice,
/// with -DGREETER_VERSION=1 (it says "Hello") and -DGREETER_VERSION=2 ("Welcome"); the host
/// swaps one for the other while its workers serve requests.
///
/// What it leaves where, and whose it is:
///   - in the host's `session`, per thread, `greeter_count` (an int) and `greeter_last` (a str):
///     values of builtin types, the host's as soon as they are stored. They outlive this
///     library: the next version goes on counting where this one stopped.
///   - in the host's `session`, per thread, `greeter_cache`: a `greeter::RecentNames`, a type of
///     this library's own. Its copy, move and destructor are this library's code, so every
///     thread drops it (`greeter_forget`) before the host unloads the library.
///   - class `Phrasebook`, in a registry of its own, and its subclass `Greeter`, in
///     `Registry::global()` where other code can find it by name; one object of `Greeter`.
///     Their methods are this library's code: `greeter_stop` drops the object and the registry,
///     and `Plugin::unload()` takes `Greeter` out of `Registry::global()`, so that the next
///     version can define it again.

#include <algorithm>
#include <cctype>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <localbag/localbag.hpp>

#include "plugin_api.hpp"

#ifndef GREETER_VERSION
#error "build the greeter with -DGREETER_VERSION=1 or -DGREETER_VERSION=2"
#endif

namespace greeter {

using localbag::Args;
using localbag::ClassSpec;
using localbag::LocalObject;
using localbag::Registry;
using localbag::Value;

constexpr const char* kHello = GREETER_VERSION == 1 ? "Hello" : "Welcome";

constexpr std::size_t kKept = 4;  // names a RecentNames keeps

// The names a thread greeted last, most recent first: a value of this library's own type.
struct RecentNames {
  std::vector<std::string> names;

  bool contains(const std::string& name) const {
    return std::find(names.begin(), names.end(), name) != names.end();
  }
  void add(const std::string& name) {
    names.insert(names.begin(), name);
    if (names.size() > kKept) names.pop_back();
  }
};

// What the library owns itself: made by greeter_start, dropped by greeter_stop.
struct State {
  std::unique_ptr<Registry> registry = std::make_unique<Registry>();
  std::optional<LocalObject> greeter;  // an object of class Greeter
};
std::unique_ptr<State> state;

void start() {
  state = std::make_unique<State>();
  // The plugin's own registry: nobody outside the plugin sees `Phrasebook` by name.
  const auto phrase = [](LocalObject& self, Args args) -> Value {
    std::string text = self.get<std::string>("hello");
    if (args[1].get<bool>()) text += " again";
    return text + ", " + args[0].get<std::string>() + "!";
  };
  const localbag::ClassRef phrasebook = state->registry->define(
      ClassSpec("Phrasebook").attr("hello", kHello).method("phrase", phrase));
  // The global registry: the host (or another plugin) finds `Greeter` by name. `define`, not
  // `redefine`: the previous version's `Greeter` left the registry when it was unloaded.
  const auto greet = [](LocalObject& self, Args args) -> Value {
    return self.call("phrase", args[0], args[1]);
  };
  state->greeter.emplace(Registry::global().define(ClassSpec("Greeter")
                                                       .base(phrasebook)
                                                       .attr("version", GREETER_VERSION)
                                                       .method("greet", greet)));
}

void handle(LocalObject& session, const std::string& name, std::string& response) {
  // Builtin values: the host's from now on.
  session.setattr("greeter_count", session.try_get<int>("greeter_count").value_or(0) + 1);
  session.setattr("greeter_last", name);
  // A value of this library's type: it must be forgotten before the library goes.
  if (session.find("greeter_cache") == nullptr) session.setattr("greeter_cache", RecentNames{});
  auto& recent = session.ref<RecentNames>("greeter_cache");
  const bool again = recent.contains(name);
  recent.add(name);

  std::string text = state->greeter->call("greet", name, again).get<std::string>();
  if (session.get<std::string>("style") == "loud") {
    std::transform(text.begin(), text.end(), text.begin(),
                   [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
  }
  response = text + " [greeter v" + std::to_string(GREETER_VERSION) + "]";
}

void forget(LocalObject& session) {
  if (session.find("greeter_cache") != nullptr) session.delattr("greeter_cache");
}

}  // namespace greeter

extern "C" {

int greeter_version() { return GREETER_VERSION; }
void greeter_start() { greeter::start(); }
void greeter_handle(localbag::LocalObject& session, const std::string& name,
                    std::string& response) {
  greeter::handle(session, name, response);
}
void greeter_forget(localbag::LocalObject& session) { greeter::forget(session); }
void greeter_stop() { greeter::state.reset(); }

}  // extern "C"
