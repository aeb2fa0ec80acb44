// SPDX-License-Identifier: MIT
// Config, loading: JSON values as localbag values (objects as Dicts, arrays as Lists, numbers by
// the numeric policy), the base chain of a file's classes and of a registry of bases, the
// configuration's registry, objects and version, and a configuration given as a Dict.

#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "config_test_util.hpp"
#include "localbag/config.hpp"
#include "localbag/error.hpp"
#include "localbag/registry.hpp"
#include "localbag/repr.hpp"
#include "test_support.hpp"

namespace localbag {
namespace {

using config_test::kSample;
using config_test::on_new_thread;
using config_test::TempDir;
using config_test::write_file;

TEST(ConfigLoad, JsonValuesBecomeLocalbagValues) {
  TempDir dir;
  write_file(dir / "config.json", kSample);
  Config config(dir / "config.json");
  EXPECT_EQ(config.path(), dir / "config.json");
  EXPECT_EQ(config.version(), 1u);
  EXPECT_FALSE(config.last_error().has_value());
  LocalObject defaults = config.object("defaults");

  EXPECT_EQ(defaults.get<int>("timeout"), 30);  // the numeric policy: an int64 read as int
  EXPECT_TRUE(defaults.getattr("timeout").holds<std::int64_t>());
  EXPECT_EQ(defaults.get<std::string>("greeting"), "hello");
  ASSERT_TRUE(defaults.getattr("features").holds<Dict>());
  EXPECT_EQ(repr(defaults.getattr("features")), "{'beta': False, 'ratio': 0.5}");
  EXPECT_FALSE(defaults.get<Dict>("features").get<bool>("beta"));
  EXPECT_DOUBLE_EQ(defaults.get<Dict>("features").get<double>("ratio"), 0.5);
  ASSERT_TRUE(defaults.getattr("hosts").holds<List>());
  EXPECT_EQ(repr(defaults.getattr("hosts")), "['a', 'b']");
  EXPECT_TRUE(defaults.getattr("nothing").is_none());
  EXPECT_TRUE(defaults.get<bool>("enabled"));
  EXPECT_TRUE(defaults.getattr("enabled").holds<bool>());
}

TEST(ConfigLoad, NumbersFollowTheNumericPolicy) {
  TempDir dir;
  write_file(dir / "config.json", R"({"n": {
    "small": 7, "big": 3000000000, "negative": -7, "max": 9223372036854775807,
    "min": -9223372036854775808, "unsigned": 18446744073709551615,
    "fraction": 2.5, "exponent": 1e3, "zero_fraction": 3.0
  }})");
  Config config(dir / "config.json");
  LocalObject n = config.object("n");
  EXPECT_EQ(n.get<int>("small"), 7);
  EXPECT_EQ(n.get<double>("small"), 7.0);  // an integer reads as a float
  EXPECT_TRUE(n.getattr("big").holds<std::int64_t>());
  EXPECT_EQ(n.get<std::int64_t>("big"), 3000000000);
  EXPECT_EQ(n.get<long long>("big"), 3000000000LL);
  EXPECT_LB_ERROR(n.get<int>("big"), OverflowError, "Python int too large to convert to C int");
  EXPECT_EQ(n.get<int>("negative"), -7);
  EXPECT_LB_ERROR(n.get<unsigned>("negative"), OverflowError,
                  "can't convert negative int to unsigned");
  EXPECT_EQ(n.get<std::int64_t>("max"), std::numeric_limits<std::int64_t>::max());
  EXPECT_EQ(n.get<std::int64_t>("min"), std::numeric_limits<std::int64_t>::min());
  EXPECT_TRUE(n.getattr("min").holds<std::int64_t>());
  // Above int64's range: a uint64.
  EXPECT_TRUE(n.getattr("unsigned").holds<std::uint64_t>());
  EXPECT_EQ(n.get<std::uint64_t>("unsigned"), std::numeric_limits<std::uint64_t>::max());
  EXPECT_THROW(n.get<std::int64_t>("unsigned"), OverflowError);
  // A fraction or an exponent makes a float, which is not an integer.
  EXPECT_TRUE(n.getattr("fraction").holds<double>());
  EXPECT_DOUBLE_EQ(n.get<double>("fraction"), 2.5);
  EXPECT_LB_ERROR(n.get<int>("fraction"), TypeError,
                  "'float' object cannot be interpreted as an integer");
  EXPECT_TRUE(n.getattr("exponent").holds<double>());
  EXPECT_DOUBLE_EQ(n.get<double>("exponent"), 1000.0);
  EXPECT_TRUE(n.getattr("zero_fraction").holds<double>());
}

TEST(ConfigLoad, NestedValuesKeepTheirStructure) {
  TempDir dir;
  write_file(dir / "config.json", R"({"c": {
    "tree": {"a": [1, {"b": [true, null, "x"]}], "empty": {}, "none": []}
  }})");
  Config config(dir / "config.json");
  LocalObject c = config.object("c");
  EXPECT_EQ(repr(c.getattr("tree")),
            "{'a': [1, {'b': [True, None, 'x']}], 'empty': {}, 'none': []}");
  const Dict tree = c.get<Dict>("tree");
  const List& a = tree.get<List>("a");
  ASSERT_EQ(a.size(), 2u);
  EXPECT_TRUE(a[0].holds<std::int64_t>());
  ASSERT_TRUE(a[1].holds<Dict>());
  EXPECT_TRUE(a[1].get<Dict>().get<List>("b")[0].get<bool>());
}

TEST(ConfigLoad, ClassesFollowTheirBaseChain) {
  TempDir dir;
  write_file(dir / "config.json", kSample);
  Config config(dir / "config.json");
  const ClassRef defaults = config.cls("defaults");
  const ClassRef service = config.cls("service");
  const ClassRef eu = config.cls("service.eu");
  EXPECT_EQ(defaults->base(), Class::local());
  EXPECT_EQ(service->base(), defaults);
  EXPECT_EQ(eu->base(), service);
  EXPECT_EQ(eu->name(), "service.eu");
  // Own attributes only, and `__base__` is not one of them.
  EXPECT_EQ(repr(service->own_attrs()), "{'timeout': 10}");
  EXPECT_EQ(repr(eu->own_attrs()), "{'greeting': 'hallo'}");

  LocalObject obj = config.object("service.eu");
  EXPECT_EQ(obj.type(), eu);
  EXPECT_EQ(obj.get<int>("timeout"), 10);                // from service
  EXPECT_EQ(obj.get<std::string>("greeting"), "hallo");  // its own
  EXPECT_EQ(repr(obj.getattr("hosts")), "['a', 'b']");   // from defaults
  EXPECT_FALSE(obj.hasattr("__base__"));
  EXPECT_EQ(config.object("service").get<std::string>("greeting"), "hello");
  EXPECT_EQ(config.object("defaults").get<int>("timeout"), 30);
}

TEST(ConfigLoad, ABaseMayComeAfterItsSubclassInTheFile) {
  TempDir dir;
  write_file(dir / "config.json", R"({
    "leaf": {"__base__": "middle", "c": 3},
    "middle": {"__base__": "root", "b": 2},
    "root": {"a": 1}
  })");
  Config config(dir / "config.json");
  LocalObject leaf = config.object("leaf");
  EXPECT_EQ(leaf.get<int>("a") + leaf.get<int>("b") + leaf.get<int>("c"), 6);
  EXPECT_EQ(config.cls("leaf")->base(), config.cls("middle"));
}

TEST(ConfigLoad, OfTwoMembersWithOneNameTheLastWins) {
  TempDir dir;
  write_file(dir / "config.json", R"({"c": {"x": 1, "y": 1, "x": 2}, "c": {"x": 3, "z": 4}})");
  Config config(dir / "config.json");
  EXPECT_EQ(repr(config.cls("c")->own_attrs()), "{'x': 3, 'z': 4}");
  write_file(dir / "config.json", R"({"c": {"x": 1, "y": 1, "x": 2}})");
  EXPECT_TRUE(config.reload());
  EXPECT_EQ(repr(config.cls("c")->own_attrs()), "{'x': 2, 'y': 1}");
}

TEST(ConfigLoad, BasesFromAGivenRegistry) {
  Registry bases;
  const ClassRef app = bases.define(
      ClassSpec("app").attr("name", "demo").method("hello", [](LocalObject& self, Args) -> Value {
        return "hello from " + self.get<std::string>("name");
      }));
  TempDir dir;
  write_file(dir / "config.json", R"({"web": {"__base__": "app", "port": 8080}})");
  Config config(dir / "config.json", {}, &bases);
  EXPECT_EQ(config.cls("web")->base(), app);
  EXPECT_FALSE(config.registry().contains("app"));  // a class of `bases` is not in it
  EXPECT_TRUE(config.registry().contains("web"));
  LocalObject web = config.object("web");
  EXPECT_EQ(web.get<int>("port"), 8080);
  EXPECT_EQ(web.call("hello").get<std::string>(), "hello from demo");
}

TEST(ConfigLoad, RegistryHoldsExactlyTheFilesClasses) {
  TempDir dir;
  write_file(dir / "config.json", kSample);
  Config config(dir / "config.json");
  EXPECT_EQ(config.registry().names(),
            (std::vector<std::string>{"defaults", "service", "service.eu"}));
  EXPECT_EQ(config.registry().get("service"), config.cls("service"));
  EXPECT_FALSE(Registry::global().contains("service.eu"));
  EXPECT_LB_ERROR(config.cls("nope"), NameError, "name 'nope' is not defined");
}

TEST(ConfigLoad, ObjectIsTheSameOnEveryCallAndOverridesArePerThread) {
  TempDir dir;
  write_file(dir / "config.json", kSample);
  Config config(dir / "config.json");
  LocalObject a = config.object("service");
  EXPECT_EQ(a, config.object("service"));
  EXPECT_FALSE(a == config.object("defaults"));
  a.setattr("timeout", 99);
  EXPECT_EQ(config.object("service").get<int>("timeout"), 99);
  on_new_thread([&] {
    EXPECT_EQ(config.object("service"), a);
    EXPECT_EQ(config.object("service").get<int>("timeout"), 10);  // the class's value there
  });
  EXPECT_EQ(config.cls("service")->getattr("timeout").get<std::int64_t>(), 10);
  EXPECT_LB_ERROR(config.object("nope"), NameError, "name 'nope' is not defined");
}

TEST(ConfigLoad, TwoConfigurationsAreIndependent) {
  TempDir dir;
  write_file(dir / "one.json", R"({"c": {"x": 1}})");
  write_file(dir / "two.json", R"({"c": {"x": 2}})");
  Config one(dir / "one.json");
  Config two(dir / "two.json");
  EXPECT_NE(one.cls("c"), two.cls("c"));
  EXPECT_EQ(one.object("c").get<int>("x"), 1);
  EXPECT_EQ(two.object("c").get<int>("x"), 2);
}

TEST(ConfigLoad, ADictDocumentGivenInCode) {
  Config config(Dict{{"defaults", Dict{{"timeout", 30}, {"tags", List{Value("a")}}}},
                     {"service", Dict{{"__base__", "defaults"}, {"timeout", 10}}}});
  EXPECT_TRUE(config.path().empty());
  EXPECT_EQ(config.version(), 1u);
  EXPECT_EQ(config.cls("service")->base(), config.cls("defaults"));
  EXPECT_EQ(config.object("service").get<int>("timeout"), 10);
  EXPECT_EQ(repr(config.object("service").getattr("tags")), "['a']");
  EXPECT_EQ(repr(config.cls("service")->own_attrs()), "{'timeout': 10}");
  // No file to read again, nothing to watch.
  EXPECT_THROW(config.reload(), Error);
  EXPECT_EQ(config.version(), 1u);
  try {
    config.watch();
    ADD_FAILURE() << "watch() of a configuration given as a Dict";
  } catch (const ValueError& e) {
    EXPECT_STREQ(e.python_type(), "ValueError");
  }
  EXPECT_FALSE(config.watching());
}

TEST(ConfigLoad, PythonNamesOfSchemaTypes) {
  EXPECT_EQ(python_name(ConfigType::none), "NoneType");
  EXPECT_EQ(python_name(ConfigType::boolean), "bool");
  EXPECT_EQ(python_name(ConfigType::integer), "int");
  EXPECT_EQ(python_name(ConfigType::number), "float");
  EXPECT_EQ(python_name(ConfigType::string), "str");
  EXPECT_EQ(python_name(ConfigType::list), "list");
  EXPECT_EQ(python_name(ConfigType::dict), "dict");
}

TEST(ConfigLoad, ErrorCarriesItsPlace) {
  const ConfigError e("TypeError", "config.json", 3, 14, "boom");
  EXPECT_STREQ(e.python_type(), "TypeError");
  EXPECT_EQ(e.file(), "config.json");
  EXPECT_EQ(e.line(), 3);
  EXPECT_EQ(e.column(), 14);
  EXPECT_EQ(e.to_string().substr(0, 11), "TypeError: ");
  const Error& base = e;  // one hierarchy with every localbag error
  EXPECT_STREQ(base.python_type(), "TypeError");
}

}  // namespace
}  // namespace localbag
