// SPDX-License-Identifier: MIT
// A refused unload and its report: with plugin A's values in this thread's dict, in a context
// not entered, in another thread's dict, its objects alive and a host subclass of its global
// class, unload() throws PluginInUseError naming each holder and changes nothing; each holder
// removed in turn shrinks the report by exactly that holder, and the last removal lets the
// unload complete and unmap the library.
#include <gtest/gtest.h>

#include <cstdio>
#include <latch>
#include <optional>
#include <string>
#include <thread>

#include "localbag/class.hpp"
#include "localbag/context.hpp"
#include "localbag/local_object.hpp"
#include "localbag/plugin.hpp"
#include "localbag/registry.hpp"
#include "localbag/value.hpp"
#include "plugin_api.hpp"
#include "plugin_test_util.hpp"

namespace localbag {
namespace {

using plugin_test::find_class;
using plugin_test::find_place;
using plugin_test::find_value;
using plugin_test::hex_id;
using plugin_test::mapped;
using plugin_test::plugin_a_path;
using plugin_test::PluginA;
using plugin_test::refused_usage;
using plugin_test::unload_completes;

constexpr const char* kToken = "plugin_a::Token";

// The classes entry of `usage` for `name` has these figures.
void expect_class(const PluginUsage& usage, const char* name, std::size_t objects,
                  std::vector<std::string> subclasses, std::size_t references) {
  const PluginUsage::ClassUse* use = find_class(usage, name);
  ASSERT_NE(use, nullptr) << name << " missing from:\n" << usage.to_string();
  EXPECT_EQ(use->objects, objects) << name << " in:\n" << usage.to_string();
  EXPECT_EQ(use->subclasses, subclasses) << name << " in:\n" << usage.to_string();
  EXPECT_EQ(use->references, references) << name << " in:\n" << usage.to_string();
}

// The values entry of `usage` for the plugin's Token: `count` of them (none: no entry).
void expect_tokens(const PluginUsage& usage, std::size_t count) {
  const PluginUsage::ValueUse* use = find_value(usage, kToken);
  if (count == 0) {
    EXPECT_EQ(use, nullptr) << usage.to_string();
    return;
  }
  ASSERT_NE(use, nullptr) << kToken << " missing from:\n" << usage.to_string();
  EXPECT_EQ(use->count, count) << usage.to_string();
}

TEST(PluginUsage, RefusalNamesEveryHolderAndShrinksAsEachGoes) {
  const std::string path = plugin_a_path(1);
  ASSERT_FALSE(path.empty()) << "PLUGIN_A_V1 is not set";
  // The type name the report uses is the one Value gives it.
  std::optional<PluginA> a;
  a.emplace(path);
  a->start();

  Registry host_registry;
  const ClassRef host_class = host_registry.define(ClassSpec("HostState").attr("limit", 10));
  LocalObject host(host_class);
  const std::string host_id = hex_id(host.id());

  a->work(host);  // this thread's dict
  ASSERT_EQ(host.getattr("token").type_name(), kToken);
  Context context;  // holds the plugin's values; not entered when the unload is tried
  context.run([&] { a->work(host); });
  ClassRef plugin_global = Registry::global().get("PluginGlobal");
  ClassRef host_sub =
      host_registry.define(ClassSpec("HostSub")
                               .base(plugin_global)
                               .method("host_method", [](LocalObject&, Args) -> Value {
                                 return std::string("host code");
                               }));

  // Another thread stores the plugin's values in its own dict and waits.
  std::latch stored(1);
  std::latch release(1);
  std::thread other([&] {
    a->work(host);
    stored.count_down();
    release.wait();
    a->forget(host);
  });
  stored.wait();

  // 1. Everything holds it.
  {
    const std::optional<PluginUsage> usage = refused_usage(a->plugin);
    ASSERT_TRUE(usage.has_value());
    std::printf("refused unload, full report:\n%s\n", usage->to_string().c_str());
    // Greeter: the ones plugin_start keeps, and one in each place plugin_work ran.
    expect_class(*usage, "Greeter", plugin_api::kGreetersAtStart + 3, {}, 0);
    // PluginGlobal: plugin_start's object, the host's subclass, the host's ClassRef.
    expect_class(*usage, "PluginGlobal", plugin_api::kGlobalsAtStart, {"HostSub"}, 1);
    expect_tokens(*usage, 3);
    const PluginUsage::Place* here = find_place(*usage, {"'HostState'", host_id, "this thread"});
    ASSERT_NE(here, nullptr) << usage->to_string();
    EXPECT_EQ(here->values, 1u) << usage->to_string();
    const PluginUsage::Place* in_context = find_place(*usage, {"'HostState'", host_id, "context"});
    ASSERT_NE(in_context, nullptr) << usage->to_string();
    EXPECT_EQ(in_context->values, 1u) << usage->to_string();
    // The other thread's Token: counted, but in no place.
    EXPECT_EQ(usage->unplaced, 1u) << usage->to_string();
  }
  // Nothing changed: the values read, the classes work, the global class is registered.
  EXPECT_TRUE(a->plugin.loaded());
  EXPECT_TRUE(Registry::global().contains("PluginGlobal"));
  EXPECT_EQ(host.get<int>("count"), 1);
  EXPECT_EQ(host.getattr("token").type_name(), kToken);
  EXPECT_EQ(host.get<LocalObject>("greeter").call("greet").get<std::string>(),
            plugin_api::greeting_for(1));
  EXPECT_EQ(LocalObject(host_sub).call("version").get<int>(), 1);
  EXPECT_TRUE(mapped(path));

  // 2. The other thread forgets and exits: its Token is gone from the counts.
  release.count_down();
  other.join();
  {
    const std::optional<PluginUsage> usage = refused_usage(a->plugin);
    ASSERT_TRUE(usage.has_value());
    expect_class(*usage, "Greeter", plugin_api::kGreetersAtStart + 2, {}, 0);
    expect_class(*usage, "PluginGlobal", plugin_api::kGlobalsAtStart, {"HostSub"}, 1);
    expect_tokens(*usage, 2);
    EXPECT_EQ(usage->unplaced, 0u) << usage->to_string();
    EXPECT_NE(find_place(*usage, {host_id, "this thread"}), nullptr) << usage->to_string();
    EXPECT_NE(find_place(*usage, {host_id, "context"}), nullptr) << usage->to_string();
  }

  // 3. The context forgets: its place goes.
  context.run([&] { a->forget(host); });
  {
    const std::optional<PluginUsage> usage = refused_usage(a->plugin);
    ASSERT_TRUE(usage.has_value());
    expect_class(*usage, "Greeter", plugin_api::kGreetersAtStart + 1, {}, 0);
    expect_tokens(*usage, 1);
    EXPECT_NE(find_place(*usage, {host_id, "this thread"}), nullptr) << usage->to_string();
    EXPECT_EQ(find_place(*usage, {host_id, "context"}), nullptr) << usage->to_string();
    EXPECT_EQ(usage->unplaced, 0u) << usage->to_string();
  }

  // 4. This thread forgets: no values, no places; the plugin's own objects remain.
  a->forget(host);
  {
    const std::optional<PluginUsage> usage = refused_usage(a->plugin);
    ASSERT_TRUE(usage.has_value());
    expect_class(*usage, "Greeter", plugin_api::kGreetersAtStart, {}, 0);
    expect_class(*usage, "PluginGlobal", plugin_api::kGlobalsAtStart, {"HostSub"}, 1);
    expect_tokens(*usage, 0);
    EXPECT_EQ(find_place(*usage, {host_id}), nullptr) << usage->to_string();
    EXPECT_EQ(usage->unplaced, 0u) << usage->to_string();
  }

  // 5. plugin_stop: Greeter is held by the plugin's registry alone; PluginGlobal by the host.
  a->stop();
  {
    const std::optional<PluginUsage> usage = refused_usage(a->plugin);
    ASSERT_TRUE(usage.has_value());
    EXPECT_EQ(find_class(*usage, "Greeter"), nullptr) << usage->to_string();
    expect_class(*usage, "PluginGlobal", 0, {"HostSub"}, 1);
    EXPECT_EQ(usage->classes.size(), 1u) << usage->to_string();
  }

  // 6. The host's subclass goes.
  host_registry.remove("HostSub");
  host_sub.reset();
  {
    const std::optional<PluginUsage> usage = refused_usage(a->plugin);
    ASSERT_TRUE(usage.has_value());
    expect_class(*usage, "PluginGlobal", 0, {}, 1);
    EXPECT_EQ(usage->classes.size(), 1u) << usage->to_string();
    // Only a class holds it now: no value of its code is left anywhere.
    EXPECT_TRUE(usage->values.empty()) << usage->to_string();
    EXPECT_TRUE(usage->places.empty()) << usage->to_string();
    EXPECT_EQ(usage->unplaced, 0u) << usage->to_string();
  }

  // 7. The host's ClassRef goes: nothing holds the plugin, and the unload completes.
  plugin_global.reset();
  const PluginUsage last = a->plugin.usage();
  EXPECT_TRUE(last.empty()) << last.to_string();
  EXPECT_TRUE(unload_completes(a->plugin));
  EXPECT_FALSE(a->plugin.loaded());
  EXPECT_FALSE(mapped(path));
  EXPECT_FALSE(Registry::global().contains("PluginGlobal"));
  EXPECT_TRUE(a->plugin.usage().empty());
  // The builtin values it stored outlive it, here and in the context (which dies after it).
  EXPECT_EQ(host.get<int>("count"), 1);
  EXPECT_EQ(host.get<std::string>("label"), plugin_api::label_for(1, 1));
  context.run([&] {
    EXPECT_EQ(host.get<int>("count"), 1);
    EXPECT_EQ(host.get<std::string>("greeting"), plugin_api::greeting_for(1));
  });
}

// An unload refused for values of the plugin's type alone (no class of it referenced by the
// host): they are in `values` and `places`, and `classes` is empty once plugin_stop ran.
TEST(PluginUsage, ValuesAloneHoldThePlugin) {
  const std::string path = plugin_a_path(2);
  ASSERT_FALSE(path.empty()) << "PLUGIN_A_V2 is not set";
  PluginA a(path);
  a.start();
  LocalObject host;  // a plain object: class `local`
  a.work(host);
  host.delattr("greeter");  // keep the Token alone
  a.stop();
  {
    const std::optional<PluginUsage> usage = refused_usage(a.plugin);
    ASSERT_TRUE(usage.has_value());
    EXPECT_TRUE(usage->classes.empty()) << usage->to_string();
    expect_tokens(*usage, 1);
    EXPECT_EQ(usage->places.size(), 1u) << usage->to_string();
    const PluginUsage::Place* here = find_place(*usage, {hex_id(host.id()), "this thread"});
    ASSERT_NE(here, nullptr) << usage->to_string();
    EXPECT_EQ(here->values, 1u);
    EXPECT_EQ(usage->unplaced, 0u);
  }
  // A host class given a Token as an attribute comes from the plugin itself: it is in
  // `classes`, and its attribute is not counted among the values (an unload would drop it).
  {
    Registry host_registry;
    ClassRef host_class = host_registry.define(ClassSpec("HostDefaults"));
    host_class->setattr("token", host.getattr("token"));
    const std::optional<PluginUsage> usage = refused_usage(a.plugin);
    ASSERT_TRUE(usage.has_value());
    expect_class(*usage, "HostDefaults", 0, {}, 1);
    expect_tokens(*usage, 1);
    EXPECT_EQ(find_place(*usage, {"HostDefaults"}), nullptr) << usage->to_string();
  }
  // A method of the plugin's class stored as a value: a function of its code, in its place.
  {
    {
      const ClassRef plugin_global = Registry::global().find("PluginGlobal");
      ASSERT_NE(plugin_global, nullptr) << "the refusals above removed PluginGlobal";
      host.setattr("method", plugin_global->getattr("version"));
    }
    const std::optional<PluginUsage> usage = refused_usage(a.plugin);
    ASSERT_TRUE(usage.has_value());
    EXPECT_TRUE(usage->classes.empty()) << usage->to_string();
    const PluginUsage::ValueUse* functions = find_value(*usage, "function");
    ASSERT_NE(functions, nullptr) << usage->to_string();
    EXPECT_EQ(functions->count, 1u) << usage->to_string();
    expect_tokens(*usage, 1);
    const PluginUsage::Place* here = find_place(*usage, {hex_id(host.id()), "this thread"});
    ASSERT_NE(here, nullptr) << usage->to_string();
    EXPECT_EQ(here->values, 2u) << usage->to_string();  // the Token and the function
    host.delattr("method");
  }
  // A Token copied into a C++ variable of the host is counted and unplaced.
  {
    Value copy = host.getattr("token");
    a.forget(host);
    const std::optional<PluginUsage> usage = refused_usage(a.plugin);
    ASSERT_TRUE(usage.has_value());
    expect_tokens(*usage, 1);
    EXPECT_EQ(usage->unplaced, 1u) << usage->to_string();
    EXPECT_TRUE(usage->places.empty()) << usage->to_string();
  }
  EXPECT_TRUE(a.plugin.usage().empty()) << a.plugin.usage().to_string();
  EXPECT_TRUE(unload_completes(a.plugin));
  EXPECT_FALSE(mapped(path));
  EXPECT_EQ(host.get<int>("count"), 1);
  EXPECT_EQ(host.get<int>("version"), 2);
}

}  // namespace
}  // namespace localbag
