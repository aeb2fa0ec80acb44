// SPDX-License-Identifier: MIT
// Loading plugins: entry points by name, a library that cannot be loaded or that carries its
// own copy of localbag (refused before any of its code runs), a plugin built with hidden
// visibility (loads, works, unloads completely), the global class name an unload frees, the
// case where the library stays mapped for a reason outside localbag (another dlopen handle), and
// an unload as the process's first use of localbag.
#include <dlfcn.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <latch>
#include <optional>
#include <string>
#include <thread>
#include <utility>

#include "error_matchers.hpp"
#include "localbag/context.hpp"
#include "localbag/error.hpp"
#include "localbag/local_object.hpp"
#include "localbag/plugin.hpp"
#include "localbag/registry.hpp"
#include "localbag/repr.hpp"
#include "localbag/value.hpp"
#include "plugin_api.hpp"
#include "plugin_test_util.hpp"

namespace localbag {
namespace {

using plugin_test::find_class;
using plugin_test::find_value;
using plugin_test::mapped;
using plugin_test::module_path;
using plugin_test::plugin_a_path;
using plugin_test::PluginA;
using plugin_test::unload_completes;

bool starts_with(const std::string& text, const std::string& prefix) {
  return text.rfind(prefix, 0) == 0;
}

// unload() and usage() as the first things the process asks of localbag: no class, object or
// registry was made before them (this test runs alone in its process: plugins_first_use).
TEST(PluginFirstUse, UnloadBeforeAnyOtherLocalbagCall) {
  const std::string path = plugin_a_path(1);
  ASSERT_FALSE(path.empty()) << "PLUGIN_A_V1 is not set";
  Plugin plugin(path);
  EXPECT_TRUE(plugin.usage().empty()) << plugin.usage().to_string();
  EXPECT_TRUE(unload_completes(plugin));
  EXPECT_FALSE(mapped(path));
}

// The other tests of loading start with localbag in use, as a host is (the first use has a
// test of its own, above).
class PluginLoad : public ::testing::Test {
 protected:
  void SetUp() override { LocalObject().setattr("warm", 1); }
};

TEST_F(PluginLoad, FunctionsBySymbolName) {
  const std::string path = plugin_a_path(1);
  ASSERT_FALSE(path.empty()) << "PLUGIN_A_V1 is not set";
  Plugin plugin(path);
  EXPECT_TRUE(plugin.loaded());
  EXPECT_EQ(plugin.path(), path);
  EXPECT_TRUE(mapped(path));
  EXPECT_EQ(plugin.function<int()>("plugin_version")(), 1);
  {
    void* handle = dlopen(path.c_str(), RTLD_NOW | RTLD_NOLOAD);  // a second reference
    ASSERT_NE(handle, nullptr);
    EXPECT_EQ(plugin.symbol("plugin_version"), dlsym(handle, "plugin_version"));
    dlclose(handle);
  }
  EXPECT_TRUE(plugin.usage().empty()) << plugin.usage().to_string();
  EXPECT_LB_ERROR_AND(plugin.symbol("no_such_symbol"), AttributeError,
                      "plugin '" + path + "' has no symbol 'no_such_symbol'", );
  // Only the name matters to the message's end, whatever the path is shown as.
  try {
    (void)plugin.function<int()>("plugin_missing");
    ADD_FAILURE() << "function() of a missing symbol returned";
  } catch (const AttributeError& e) {
    const std::string what = e.what();
    EXPECT_TRUE(starts_with(what, "plugin '")) << what;
    EXPECT_NE(what.find("has no symbol 'plugin_missing'"), std::string::npos) << what;
  }
  // A second library at once: its own functions.
  const std::string path2 = plugin_a_path(2);
  Plugin plugin2(path2);
  EXPECT_EQ(plugin2.function<int()>("plugin_version")(), 2);
  EXPECT_EQ(plugin.function<int()>("plugin_version")(), 1);
  EXPECT_TRUE(unload_completes(plugin2));
  EXPECT_TRUE(unload_completes(plugin));
  EXPECT_FALSE(plugin.loaded());
  EXPECT_FALSE(mapped(path));
  EXPECT_FALSE(mapped(path2));
  // Unloaded: symbol() is a RuntimeError, usage() is empty, unload() again does nothing.
  try {
    (void)plugin.symbol("plugin_version");
    ADD_FAILURE() << "symbol() of an unloaded plugin returned";
  } catch (const RuntimeError& e) {
    EXPECT_STREQ(e.python_type(), "RuntimeError");
  }
  EXPECT_TRUE(plugin.usage().empty());
  EXPECT_TRUE(unload_completes(plugin));
}

// The check the reload relies on: plugin A defines its global class with define(), so starting
// a second copy while the first one's class is registered fails, and succeeds once the first is
// unloaded (which removes its class from the global registry).
TEST_F(PluginLoad, GlobalClassNameIsFreedByTheUnload) {
  const std::string path1 = plugin_a_path(1);
  const std::string path2 = plugin_a_path(2);
  ASSERT_FALSE(path1.empty() || path2.empty()) << "PLUGIN_A_V1 or PLUGIN_A_V2 is not set";
  std::optional<PluginA> first;
  first.emplace(path1);
  first->start();
  {
    PluginA second(path2);
    EXPECT_LB_ERROR(second.start(), ValueError, "class 'PluginGlobal' is already defined");
    EXPECT_TRUE(unload_completes(second.plugin));
  }
  EXPECT_EQ(Registry::global().instantiate("PluginGlobal").call("version").get<int>(), 1);
  first->stop();
  EXPECT_TRUE(unload_completes(first->plugin));
  EXPECT_FALSE(Registry::global().contains("PluginGlobal"));
  first.reset();
  PluginA second(path2);
  second.start();
  EXPECT_EQ(Registry::global().instantiate("PluginGlobal").call("version").get<int>(), 2);
  second.stop();
  EXPECT_TRUE(unload_completes(second.plugin));
  EXPECT_FALSE(mapped(path1));
  EXPECT_FALSE(mapped(path2));
}

TEST_F(PluginLoad, MovedPluginAndDestructorUnload) {
  const std::string path = plugin_a_path(1);
  ASSERT_FALSE(path.empty()) << "PLUGIN_A_V1 is not set";
  {
    Plugin first(path);
    Plugin second(std::move(first));
    EXPECT_FALSE(first.loaded());  // NOLINT(bugprone-use-after-move): documented state
    EXPECT_TRUE(second.loaded());
    EXPECT_EQ(second.function<int()>("plugin_version")(), 1);
    EXPECT_TRUE(unload_completes(first));  // not loaded: nothing to do
    EXPECT_TRUE(mapped(path));
  }
  // The destructor of a plugin nothing holds unloads it.
  EXPECT_FALSE(mapped(path));
}

TEST_F(PluginLoad, AnotherHandleKeepsTheLibraryMapped) {
  const std::string path = plugin_a_path(2);
  ASSERT_FALSE(path.empty()) << "PLUGIN_A_V2 is not set";
  Plugin plugin(path);
  void* extra = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  ASSERT_NE(extra, nullptr) << dlerror();
  EXPECT_FALSE(plugin.unload());  // completed, but the other handle keeps it mapped
  EXPECT_FALSE(plugin.loaded());
  EXPECT_TRUE(mapped(path));
  dlclose(extra);
  EXPECT_FALSE(mapped(path));
}

TEST_F(PluginLoad, MissingFileIsImportError) {
  const std::string path = "/nonexistent/liblocalbag_no_such_plugin.so";
  try {
    Plugin plugin(path);
    ADD_FAILURE() << "loaded a file that does not exist";
  } catch (const ImportError& e) {
    EXPECT_STREQ(e.python_type(), "ImportError");
    EXPECT_NE(std::string(e.what()).find("liblocalbag_no_such_plugin.so"), std::string::npos)
        << e.what();
    const Error& as_error = e;  // an Error, as every localbag exception
    EXPECT_TRUE(starts_with(as_error.to_string(), "ImportError: ")) << as_error.to_string();
  }
}

TEST_F(PluginLoad, OwnCopyOfLocalbagIsRefusedBeforeItsCodeRuns) {
  const std::string path = module_path("PLUGIN_STATIC_COPY");
  ASSERT_FALSE(path.empty()) << "PLUGIN_STATIC_COPY is not set";
  unsetenv(plugin_api::kStaticCopyRanVariable);
  try {
    Plugin plugin(path);
    ADD_FAILURE() << "loaded a plugin that carries its own copy of localbag";
  } catch (const ImportError& e) {
    EXPECT_STREQ(e.python_type(), "ImportError");
    const std::string what = e.what();
    EXPECT_NE(what.find("its own copy of localbag"), std::string::npos) << what;
    EXPECT_NE(what.find("plugin_static_copy"), std::string::npos) << what;  // names the file
    EXPECT_TRUE(starts_with(e.to_string(), "ImportError: ")) << e.to_string();
  } catch (const std::exception& e) {
    ADD_FAILURE() << "another exception: " << e.what();
  }
  // None of its code ran (its constructor sets the variable), and it is not mapped.
  EXPECT_EQ(std::getenv(plugin_api::kStaticCopyRanVariable), nullptr);
  EXPECT_FALSE(mapped(path));
}

// The hidden-visibility plugin's values read back after hidden_work, in the current context.
void expect_hidden_builtins(LocalObject& host) {
  EXPECT_EQ(host.get<int>("hidden_count"), plugin_api::kHiddenCount);
  EXPECT_EQ(host.get<std::string>("hidden_name"),
            "stored by the hidden plugin, long enough to allocate");
  EXPECT_EQ(repr(host.getattr("hidden_list")), "[1, 'two', [3]]");
  EXPECT_EQ(host.get<Bytes>("hidden_bytes").data, "\x01\x02");
  EXPECT_TRUE(host.getattr("hidden_list").holds<List>());
}

TEST(PluginHidden, LoadsWorksAndUnloadsCompletely) {
  const std::string path = module_path("PLUGIN_HIDDEN");
  ASSERT_FALSE(path.empty()) << "PLUGIN_HIDDEN is not set";
  std::optional<Plugin> plugin;
  plugin.emplace(path);
  auto* work = plugin->function<plugin_api::HiddenWorkFn>("hidden_work");
  auto* forget = plugin->function<plugin_api::ForgetFn>("hidden_forget");
  // Its other symbols are hidden.
  EXPECT_THROW((void)plugin->symbol("hidden_internal"), AttributeError);

  LocalObject host;
  Context context;
  EXPECT_EQ(work(host), plugin_api::kHiddenResult);
  EXPECT_EQ(context.run([&] { return work(host); }), plugin_api::kHiddenResult);
  EXPECT_TRUE(Registry::global().contains("HiddenGlobal"));
  // A thread stores its values too, forgets the plugin's, and exits after the unload.
  std::latch stored(1);
  std::latch unloaded(1);
  std::thread thread([&] {
    EXPECT_EQ(work(host), plugin_api::kHiddenResult);
    forget(host);
    stored.count_down();
    unloaded.wait();
    expect_hidden_builtins(host);
  });
  stored.wait();
  expect_hidden_builtins(host);
  EXPECT_EQ(host.getattr("hidden_thing").type_name(), "plugin_hidden::Thing");
  {
    const PluginUsage usage = plugin->usage();
    EXPECT_FALSE(usage.empty());
    const PluginUsage::ValueUse* things = find_value(usage, "plugin_hidden::Thing");
    ASSERT_NE(things, nullptr) << usage.to_string();
    EXPECT_EQ(things->count, 2u) << usage.to_string();
    const PluginUsage::ClassUse* counter = find_class(usage, "HiddenCounter");
    ASSERT_NE(counter, nullptr) << usage.to_string();
    EXPECT_EQ(counter->objects, 2u) << usage.to_string();
  }
  forget(host);
  context.run([&] { forget(host); });
  EXPECT_TRUE(plugin->usage().empty()) << plugin->usage().to_string();
  EXPECT_TRUE(unload_completes(*plugin));
  EXPECT_FALSE(plugin->loaded());
  EXPECT_FALSE(mapped(path));
  EXPECT_FALSE(Registry::global().contains("HiddenGlobal"));
  plugin.reset();
  unloaded.count_down();
  thread.join();
  // Its builtin values outlive it, here and in the context.
  expect_hidden_builtins(host);
  context.run([&] { expect_hidden_builtins(host); });
  EXPECT_EQ(host.find("hidden_thing"), nullptr);
}

}  // namespace
}  // namespace localbag
