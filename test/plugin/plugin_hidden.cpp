// SPDX-License-Identifier: MIT
// A plugin built with hidden visibility: every symbol of its own, and every inline function and
// template it instantiates from localbag's headers, is hidden; only its two entry points are
// exported. It defines a class in a registry of its own and one in Registry::global(), stores
// builtin values and values holding its code into the host's object, and returns the result of
// its class's method.
#include <string>
#include <utility>

#include "localbag/class.hpp"
#include "localbag/dict.hpp"
#include "localbag/local_object.hpp"
#include "localbag/registry.hpp"
#include "localbag/value.hpp"
#include "plugin_api.hpp"

namespace plugin_hidden {

// A type of the plugin's own, hidden like the rest.
struct Thing {
  int answer = 0;
  std::string name;
};

namespace {

using localbag::Args;
using localbag::ClassSpec;
using localbag::LocalObject;
using localbag::Value;

localbag::Registry registry;

void define_classes() {
  registry.define(ClassSpec("HiddenCounter")
                      .attr("step", plugin_api::kHiddenResult / 2)
                      .attr("thing", Thing{1, "class default"})
                      .method("twice", [](LocalObject& self, Args) -> Value {
                        return 2 * self.get<int>("step");
                      }));
  localbag::Registry::global().define(
      ClassSpec("HiddenGlobal").method("answer", [](LocalObject&, Args) -> Value {
        return plugin_api::kHiddenResult;
      }));
}

}  // namespace
}  // namespace plugin_hidden

// Not exported: hidden like everything the plugin does not mark.
extern "C" int hidden_internal() { return plugin_api::kHiddenResult; }

PLUGIN_EXPORT int hidden_work(localbag::LocalObject& host) {
  using namespace plugin_hidden;
  if (!registry.contains("HiddenCounter")) define_classes();
  LocalObject counter = registry.instantiate("HiddenCounter");
  const int result = counter.call("twice").get<int>();
  LocalObject global = localbag::Registry::global().instantiate("HiddenGlobal");
  if (global.call("answer").get<int>() != result) return -1;
  host.setattr("hidden_count", plugin_api::kHiddenCount);
  host.setattr("hidden_name", std::string("stored by the hidden plugin, long enough to allocate"));
  host.setattr("hidden_list", localbag::List{1, std::string("two"), localbag::List{3}});
  host.setattr("hidden_bytes", localbag::Bytes{"\x01\x02"});
  host.setattr("hidden_thing", Thing{result, "thing"});
  host.setattr("hidden_object", std::move(counter));
  return result;
}

PLUGIN_EXPORT void hidden_forget(localbag::LocalObject& host) {
  for (const char* name : {"hidden_thing", "hidden_object"}) {
    if (host.find(name) != nullptr) host.delattr(name);
  }
}
