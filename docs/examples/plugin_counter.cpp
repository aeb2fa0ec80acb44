// SPDX-License-Identifier: MIT
/// The counter plugin of plugin-host (plugin_host.cpp): answers `count <item>`. Loaded once, it
/// stays while the greeter beside it is reloaded, and keeps its per-thread state throughout.
///
/// What it leaves where, and whose it is:
///   - in the host's `session`, per thread, `counter_hits` (an int): the host's.
///   - in the host's `session`, per thread, `counter_recent`: a `counter::RecentItems`, a type of
///     this library's own. The host unloads the counter only after its workers have exited, and
///     a thread's dicts are destroyed when it exits, so this plugin needs no forget step.
///   - class `Tally`, in a registry that is a static of this library: it dies, and `Tally` with
///     it, with the library's other statics when the library is unloaded. The one object of
///     `Tally` holds the class, so `counter_stop` drops it. (The greeter shows the other way: a
///     registry that its stop function deletes.)

#include <optional>
#include <string>
#include <vector>

#include <localbag/localbag.hpp>

#include "plugin_api.hpp"

namespace counter {

using localbag::Args;
using localbag::ClassSpec;
using localbag::LocalObject;
using localbag::Registry;
using localbag::Value;

// The items a thread counted last: a value of this library's own type.
struct RecentItems {
  std::vector<std::string> items;
};

Registry registry;                 // the library's own, a static: see above
std::optional<LocalObject> tally;  // an object of class Tally: made by start, dropped by stop

void start() {
  tally.emplace(registry.define(
      ClassSpec("Tally").attr("step", 1).method("bump", [](LocalObject& self, Args args) -> Value {
        return args[0].get<int>() + self.get<int>("step");
      })));
}

void handle(LocalObject& session, const std::string& item, std::string& response) {
  const int hits = tally->call("bump", session.try_get<int>("counter_hits").value_or(0)).get<int>();
  session.setattr("counter_hits", hits);
  if (session.find("counter_recent") == nullptr) session.setattr("counter_recent", RecentItems{});
  auto& recent = session.ref<RecentItems>("counter_recent");
  recent.items.push_back(item);
  if (recent.items.size() > 4) recent.items.erase(recent.items.begin());
  response =
      "count " + std::to_string(hits) + " on " + session.get<std::string>("worker") + " [counter]";
}

}  // namespace counter

extern "C" {

void counter_start() { counter::start(); }
void counter_handle(localbag::LocalObject& session, const std::string& item,
                    std::string& response) {
  counter::handle(session, item, response);
}
void counter_stop() { counter::tally.reset(); }

}  // extern "C"
