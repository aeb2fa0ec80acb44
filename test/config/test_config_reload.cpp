// SPDX-License-Identifier: MIT
// Config, reloads that succeed: from the file (reload()) and from code (reload(Dict)). New values
// are seen at once on every thread and context and by subclasses; per-thread and per-context
// overrides stay; attributes no longer in the file disappear unless overridden; classes keep
// their identity; a class new in the file is defined; the version counts successful loads.

#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <utility>

#include "config_test_util.hpp"
#include "localbag/config.hpp"
#include "localbag/context.hpp"
#include "localbag/error.hpp"
#include "localbag/repr.hpp"
#include "test_support.hpp"
#include "worker_thread.hpp"

namespace localbag {
namespace {

using config_test::kSample;
using config_test::on_new_thread;
using config_test::shown;
using config_test::TempDir;
using config_test::write_atomically;
using config_test::write_file;

// kSample with other values: defaults' timeout, features and hosts, and service.eu's greeting.
constexpr std::string_view kSample2 = R"({
  "defaults": {"timeout": 40, "greeting": "hello", "features": {"beta": true},
               "hosts": ["c"], "nothing": null, "enabled": true},
  "service": {"__base__": "defaults", "timeout": 10},
  "service.eu": {"__base__": "service", "greeting": "servus"}
}
)";

using Worker = test::WorkerThread;

TEST(ConfigReload, FromTheFile) {
  TempDir dir;
  const auto path = dir / "config.json";
  write_file(path, kSample);
  Config config(path);
  LocalObject defaults = config.object("defaults");
  LocalObject eu = config.object("service.eu");
  EXPECT_EQ(defaults.get<int>("timeout"), 30);  // a record holding the first view
  EXPECT_EQ(eu.get<std::string>("greeting"), "hallo");

  write_file(path, kSample2);
  EXPECT_TRUE(config.reload());
  EXPECT_EQ(config.version(), 2u);
  EXPECT_FALSE(config.last_error().has_value());
  EXPECT_EQ(defaults.get<int>("timeout"), 40);
  EXPECT_EQ(repr(defaults.getattr("features")), "{'beta': True}");  // replaced whole
  EXPECT_EQ(repr(defaults.getattr("hosts")), "['c']");
  EXPECT_EQ(eu.get<std::string>("greeting"), "servus");
  EXPECT_EQ(eu.get<int>("timeout"), 10);  // service's own value still wins
  on_new_thread([&] {
    EXPECT_EQ(defaults.get<int>("timeout"), 40);
    EXPECT_EQ(eu.get<std::string>("greeting"), "servus");
  });
}

TEST(ConfigReload, AnUnchangedFileIsASuccessfulLoadThatChangesNothing) {
  TempDir dir;
  const auto path = dir / "config.json";
  write_file(path, kSample);
  Config config(path);
  const std::string before = config_test::snapshot(config);
  EXPECT_FALSE(config.reload());
  EXPECT_EQ(config.version(), 2u);  // one more per reload that succeeded
  EXPECT_EQ(config_test::snapshot(config), before);
  // The same values, written differently.
  write_file(path, R"({"service.eu": {"greeting": "hallo", "__base__": "service"},
    "service": {"timeout": 10, "__base__": "defaults"},
    "defaults": {"enabled": true, "nothing": null, "hosts": ["a", "b"],
                 "features": {"beta": false, "ratio": 0.5}, "greeting": "hello", "timeout": 30}})");
  EXPECT_FALSE(config.reload());
  EXPECT_EQ(config.version(), 3u);
}

TEST(ConfigReload, ClassesAndObjectsKeepTheirIdentity) {
  TempDir dir;
  const auto path = dir / "config.json";
  write_file(path, kSample);
  Config config(path);
  const ClassRef service = config.cls("service");
  const LocalObject obj = config.object("service");
  LocalObject mine(config.cls("service.eu"));  // an object the program made itself
  EXPECT_EQ(mine.get<std::string>("greeting"), "hallo");
  write_file(path, kSample2);
  ASSERT_TRUE(config.reload());
  EXPECT_EQ(config.cls("service"), service);
  EXPECT_EQ(config.object("service"), obj);
  EXPECT_EQ(config.cls("service.eu")->base(), service);
  EXPECT_EQ(mine.get<std::string>("greeting"), "servus");
}

TEST(ConfigReload, SubclassesSeeInheritedChangesAtOnceOnEveryThread) {
  TempDir dir;
  const auto path = dir / "config.json";
  write_file(path, kSample);
  Config config(path);
  LocalObject service = config.object("service");
  LocalObject eu = config.object("service.eu");
  Worker worker;
  worker.run([&] {  // the worker's records take the first views
    EXPECT_EQ(repr(service.getattr("hosts")), "['a', 'b']");
    EXPECT_EQ(repr(eu.getattr("hosts")), "['a', 'b']");
  });
  EXPECT_EQ(repr(eu.getattr("hosts")), "['a', 'b']");
  write_file(path, kSample2);
  ASSERT_TRUE(config.reload());
  EXPECT_EQ(repr(service.getattr("hosts")), "['c']");
  EXPECT_EQ(repr(eu.getattr("hosts")), "['c']");
  EXPECT_EQ(repr(config.cls("service.eu")->getattr("features")), "{'beta': True}");
  worker.run([&] {
    EXPECT_EQ(repr(service.getattr("hosts")), "['c']");
    EXPECT_EQ(repr(eu.getattr("hosts")), "['c']");
    EXPECT_EQ(eu.get<int>("timeout"), 10);
  });
}

TEST(ConfigReload, ThreadOverridesStay) {
  TempDir dir;
  const auto path = dir / "config.json";
  write_file(path, kSample);
  Config config(path);
  LocalObject service = config.object("service");
  Worker worker;
  worker.run([&] {
    service.setattr("timeout", 99);
    service.setattr("hosts", List{Value("mine")});
  });
  write_file(path, kSample2);
  ASSERT_TRUE(config.reload());
  worker.run([&] {
    EXPECT_EQ(service.get<int>("timeout"), 99);
    EXPECT_EQ(repr(service.getattr("hosts")), "['mine']");
    EXPECT_EQ(repr(service.getattr("features")), "{'beta': True}");  // not overridden: new
    service.delattr("hosts");  // the override gone, the class's value shows
    EXPECT_EQ(repr(service.getattr("hosts")), "['c']");
  });
  EXPECT_EQ(service.get<int>("timeout"), 10);
  EXPECT_EQ(repr(service.getattr("hosts")), "['c']");
}

TEST(ConfigReload, ContextOverridesStay) {
  TempDir dir;
  const auto path = dir / "config.json";
  write_file(path, kSample);
  Config config(path);
  LocalObject defaults = config.object("defaults");
  Context ctx;
  {
    const Context::Scope entered(ctx);
    defaults.setattr("timeout", 77);
    EXPECT_EQ(defaults.get<std::string>("greeting"), "hello");
  }
  EXPECT_EQ(defaults.get<int>("timeout"), 30);
  write_file(path, kSample2);
  ASSERT_TRUE(config.reload());
  EXPECT_EQ(defaults.get<int>("timeout"), 40);
  {
    const Context::Scope entered(ctx);
    EXPECT_EQ(defaults.get<int>("timeout"), 77);
    EXPECT_EQ(repr(defaults.getattr("hosts")), "['c']");
  }
  on_new_thread([&] {  // the context follows whoever enters it
    const Context::Scope entered(ctx);
    EXPECT_EQ(defaults.get<int>("timeout"), 77);
    EXPECT_EQ(repr(defaults.getattr("features")), "{'beta': True}");
  });
}

TEST(ConfigReload, RemovedAttributesDisappearUnlessOverridden) {
  TempDir dir;
  const auto path = dir / "config.json";
  write_file(path, R"({"defaults": {"timeout": 30, "extra": 1},
                       "service": {"__base__": "defaults", "only_here": "x"}})");
  Config config(path);
  LocalObject defaults = config.object("defaults");
  LocalObject service = config.object("service");
  EXPECT_EQ(service.get<int>("extra"), 1);
  Worker worker;
  worker.run([&] { service.setattr("extra", 2); });
  Context ctx;
  ctx.run([&] { defaults.setattr("extra", 3); });

  write_file(path, R"({"defaults": {"timeout": 30}, "service": {"__base__": "defaults"}})");
  ASSERT_TRUE(config.reload());
  EXPECT_FALSE(defaults.hasattr("extra"));
  EXPECT_FALSE(service.hasattr("extra"));
  EXPECT_FALSE(service.hasattr("only_here"));
  EXPECT_FALSE(config.cls("defaults")->hasattr("extra"));
  EXPECT_FALSE(config.cls("service")->hasattr("extra"));
  EXPECT_EQ(repr(config.cls("service")->own_attrs()), "{}");
  EXPECT_LB_ERROR(service.getattr("extra"), AttributeError,
                  "'service' object has no attribute 'extra'");
  EXPECT_LB_ERROR(config.cls("defaults")->getattr("extra"), AttributeError,
                  "type object 'defaults' has no attribute 'extra'");
  worker.run([&] {
    EXPECT_EQ(service.get<int>("extra"), 2);
    EXPECT_FALSE(service.hasattr("only_here"));
  });
  ctx.run([&] {
    EXPECT_EQ(defaults.get<int>("extra"), 3);
    EXPECT_FALSE(service.hasattr("extra"));
  });
}

TEST(ConfigReload, ASubclassLosingAnAttributeShowsItsBasesAgain) {
  TempDir dir;
  const auto path = dir / "config.json";
  write_file(path, kSample);
  Config config(path);
  LocalObject eu = config.object("service.eu");
  EXPECT_EQ(eu.get<std::string>("greeting"), "hallo");
  write_file(path, R"({"defaults": {"greeting": "hello", "timeout": 30},
                       "service": {"__base__": "defaults", "timeout": 10},
                       "service.eu": {"__base__": "service"}})");
  ASSERT_TRUE(config.reload());
  EXPECT_EQ(eu.get<std::string>("greeting"), "hello");
  EXPECT_EQ(eu.get<int>("timeout"), 10);
}

TEST(ConfigReload, AClassNewInTheFileIsDefined) {
  TempDir dir;
  const auto path = dir / "config.json";
  write_file(path, kSample);
  Config config(path);
  EXPECT_THROW(config.cls("batch"), NameError);
  write_atomically(path, R"({
    "defaults": {"timeout": 30, "greeting": "hello", "features": {"beta": false, "ratio": 0.5},
                 "hosts": ["a", "b"], "nothing": null, "enabled": true},
    "service": {"__base__": "defaults", "timeout": 10},
    "service.eu": {"__base__": "service", "greeting": "hallo"},
    "batch": {"__base__": "service", "size": 5}
  })");
  EXPECT_TRUE(config.reload());
  EXPECT_EQ(config.version(), 2u);
  ASSERT_TRUE(config.registry().contains("batch"));
  EXPECT_EQ(config.cls("batch")->base(), config.cls("service"));
  EXPECT_EQ(config.object("batch").get<int>("size"), 5);
  EXPECT_EQ(config.object("batch").get<int>("timeout"), 10);
  EXPECT_EQ(config.object("service").get<int>("timeout"), 10);
}

TEST(ConfigReload, FromADictGivenInCode) {
  TempDir dir;
  const auto path = dir / "config.json";
  write_file(path, kSample);
  Config config(path);
  LocalObject eu = config.object("service.eu");
  EXPECT_TRUE(config.reload(
      Dict{{"defaults", Dict{{"timeout", 1}, {"greeting", "hi"}, {"hosts", List{Value("z")}}}},
           {"service", Dict{{"__base__", "defaults"}}},
           {"service.eu", Dict{{"__base__", "service"}, {"greeting", "moin"}}}}));
  EXPECT_EQ(config.version(), 2u);
  EXPECT_EQ(eu.get<int>("timeout"), 1);
  EXPECT_EQ(eu.get<std::string>("greeting"), "moin");
  EXPECT_FALSE(eu.hasattr("features"));
  EXPECT_EQ(repr(eu.getattr("hosts")), "['z']");
  // The file is untouched: reading it again brings its values back.
  EXPECT_TRUE(config.reload());
  EXPECT_EQ(config.version(), 3u);
  EXPECT_EQ(eu.get<int>("timeout"), 10);
  EXPECT_EQ(eu.get<std::string>("greeting"), "hallo");
  EXPECT_EQ(repr(eu.getattr("features")), "{'beta': False, 'ratio': 0.5}");
}

TEST(ConfigReload, ADictConfigurationReloadsFromDicts) {
  Config config(Dict{{"c", Dict{{"x", 1}, {"y", 2}}}});
  LocalObject c = config.object("c");
  EXPECT_EQ(c.get<int>("x") + c.get<int>("y"), 3);
  EXPECT_TRUE(config.reload(Dict{{"c", Dict{{"x", 5}}}}));
  EXPECT_EQ(config.version(), 2u);
  EXPECT_EQ(c.get<int>("x"), 5);
  EXPECT_FALSE(c.hasattr("y"));
  EXPECT_FALSE(config.reload(Dict{{"c", Dict{{"x", 5}}}}));
  EXPECT_EQ(config.version(), 3u);
}

TEST(ConfigReload, AMethodOfABaseRegistrySeesReloadedValues) {
  Registry bases;
  bases.define(ClassSpec("app").method("describe", [](LocalObject& self, Args) -> Value {
    return self.get<std::string>("name") + std::string(":") + std::to_string(self.get<int>("port"));
  }));
  Config config(Dict{{"web", Dict{{"__base__", "app"}, {"name", "a"}, {"port", 1}}}}, {}, &bases);
  LocalObject web = config.object("web");
  EXPECT_EQ(web.call("describe").get<std::string>(), "a:1");
  ASSERT_TRUE(config.reload(Dict{{"web", Dict{{"__base__", "app"}, {"name", "b"}, {"port", 2}}}}));
  EXPECT_EQ(web.call("describe").get<std::string>(), "b:2");
  EXPECT_EQ(config.cls("web")->base(), bases.get("app"));
}

TEST(ConfigReload, OverridesAreSeenWhereTheyWereMadeOnly) {
  TempDir dir;
  const auto path = dir / "config.json";
  write_file(path, kSample);
  Config config(path);
  LocalObject service = config.object("service");
  service.setattr("greeting", "main's own");
  write_file(path, kSample2);
  ASSERT_TRUE(config.reload());
  EXPECT_EQ(service.get<std::string>("greeting"), "main's own");
  EXPECT_EQ(shown(config.object("service.eu"), "greeting"), "'servus'");  // another object
  on_new_thread([&] { EXPECT_EQ(service.get<std::string>("greeting"), "hello"); });
}

}  // namespace
}  // namespace localbag

namespace localbag {
namespace {

// 1 -> 1.0 is equal for Python's ==, so no change is reported, but the class takes the float:
// a schema-less reload may change a type, and get<int> of a float is a TypeError.
TEST(ConfigReloadTypes, AnIntReplacedByAnEqualFloatIsTheFloat) {
  Config config(Dict{{"c", Dict{{"x", std::int64_t{1}}}}});
  std::vector<ConfigChange> reported;
  Config::Subscription s = config.subscribe([&](const ConfigUpdate& u) {
    reported.insert(reported.end(), u.changes.begin(), u.changes.end());
  });
  LocalObject c = config.object("c");
  EXPECT_EQ(c.get<int>("x"), 1);
  EXPECT_FALSE(config.reload(Dict{{"c", Dict{{"x", 1.0}}}}));
  EXPECT_TRUE(reported.empty());
  EXPECT_EQ(c.get<double>("x"), 1.0);
  EXPECT_THROW(c.get<int>("x"), TypeError);
}

}  // namespace
}  // namespace localbag
