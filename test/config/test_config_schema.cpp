// SPDX-License-Identifier: MIT
// Config with a ConfigSchema: a load that gives a declared attribute another type is refused
// (TypeError at the value's file, line and column) and changes nothing; `float` accepts an
// integer; a required attribute must be defined in the class or a base; undeclared attributes,
// and every attribute without a schema, take any type.

#include <gtest/gtest.h>

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config_test_util.hpp"
#include "localbag/config.hpp"
#include "localbag/error.hpp"
#include "localbag/repr.hpp"
#include "test_support.hpp"

namespace localbag {
namespace {

using config_test::config_error;
using config_test::expect_config_error;
using config_test::snapshot;
using config_test::TempDir;
using config_test::write_file;

constexpr std::string_view kGood = R"({
  "defaults": {"timeout": 30, "ratio": 0.5, "name": "svc", "on": true, "hosts": ["a"],
               "limits": {"cpu": 2}, "unset": null, "free": 1},
  "service": {"__base__": "defaults", "timeout": 10}
}
)";

ConfigSchema full_schema() {
  ConfigSchema schema;
  schema.attr("defaults", "timeout", ConfigType::integer)
      .attr("defaults", "ratio", ConfigType::number)
      .attr("defaults", "name", ConfigType::string)
      .attr("defaults", "on", ConfigType::boolean)
      .attr("defaults", "hosts", ConfigType::list)
      .attr("defaults", "limits", ConfigType::dict)
      .attr("defaults", "unset", ConfigType::none);
  return schema;
}

TEST(ConfigSchema, RecordsItsDeclarations) {
  ConfigSchema schema;
  schema.attr("a", "x", ConfigType::integer).attr("a", "y", ConfigType::string, true);
  schema.attr("b", "x", ConfigType::list);
  ASSERT_EQ(schema.entries().size(), 2u);
  const auto& a = schema.entries().at("a");
  EXPECT_EQ(a.at("x").type, ConfigType::integer);
  EXPECT_FALSE(a.at("x").required);
  EXPECT_EQ(a.at("y").type, ConfigType::string);
  EXPECT_TRUE(a.at("y").required);
  EXPECT_EQ(schema.entries().at("b").at("x").type, ConfigType::list);
}

TEST(ConfigSchema, AcceptsEveryDeclaredTypeItsOwnValue) {
  TempDir dir;
  write_file(dir / "config.json", kGood);
  Config config(dir / "config.json", full_schema());
  LocalObject d = config.object("defaults");
  EXPECT_EQ(d.get<int>("timeout"), 30);
  EXPECT_DOUBLE_EQ(d.get<double>("ratio"), 0.5);
  EXPECT_EQ(d.get<std::string>("name"), "svc");
  EXPECT_TRUE(d.get<bool>("on"));
  EXPECT_EQ(repr(d.getattr("hosts")), "['a']");
  EXPECT_EQ(repr(d.getattr("limits")), "{'cpu': 2}");
  EXPECT_TRUE(d.getattr("unset").is_none());
}

// A change of one declared attribute to a value of another type, written on line 3 at
// `column`, refused with a TypeError there.
struct TypeCase {
  const char* attr;
  const char* value;  // JSON text
  const char* declared;
  const char* given;
};

TEST(ConfigSchema, ARefusedTypeChangeNamesFileLineAndColumn) {
  const std::vector<TypeCase> cases = {
      {"timeout", "\"soon\"", "int", "str"},
      {"timeout", "2.5", "int", "float"},
      {"timeout", "[1]", "int", "list"},
      {"ratio", "\"half\"", "float", "str"},
      {"name", "7", "str", "int"},
      {"on", "1", "bool", "int"},
      {"hosts", "{\"a\": 1}", "list", "dict"},
      {"limits", "[2]", "dict", "list"},
      {"unset", "0", "NoneType", "int"},
      {"timeout", "null", "int", "NoneType"},
  };
  for (const TypeCase& c : cases) {
    SCOPED_TRACE(std::string(c.attr) + " = " + c.value);
    TempDir dir;
    const auto path = dir / "config.json";
    write_file(path, kGood);
    Config config(path, full_schema());
    LocalObject service = config.object("service");
    const std::string before = snapshot(config);
    // Line 3, after `    "<attr>": `: the value's column is 4 + len(attr) + 2 + 2 + 1.
    std::string text = "{\n  \"defaults\": {\n    \"";
    text += c.attr;
    text += "\": ";
    text += c.value;
    text += ", \"extra\": 1},\n  \"service\": {\"__base__\": \"defaults\", \"timeout\": 10}\n}\n";
    write_file(path, text);
    const std::optional<ConfigError> error = config_error([&] { config.reload(); });
    expect_config_error(error, "TypeError", path.string());
    if (error) {
      EXPECT_EQ(error->line(), 3) << error->what();
      EXPECT_EQ(error->column(), static_cast<int>(4 + std::string_view(c.attr).size() + 4 + 1))
          << error->what();
      const std::string what = error->what();
      EXPECT_NE(what.find(std::string("'") + c.attr + "'"), std::string::npos) << what;
      EXPECT_NE(what.find(c.declared), std::string::npos) << what;
      EXPECT_NE(what.find(c.given), std::string::npos) << what;
    }
    EXPECT_EQ(snapshot(config), before);
    EXPECT_EQ(config.version(), 1u);
    EXPECT_TRUE(config.last_error().has_value());
    EXPECT_FALSE(service.hasattr("extra"));
  }
}

TEST(ConfigSchema, TheConstructorRefusesAForbiddenType) {
  TempDir dir;
  const auto path = dir / "config.json";
  write_file(path, "{\"defaults\": {\n\"timeout\": \"30\"}}\n");
  const std::optional<ConfigError> error =
      config_error([&] { Config config(path, full_schema()); });
  expect_config_error(error, "TypeError", path.string());
  if (error) {
    EXPECT_EQ(error->line(), 2);
    EXPECT_EQ(error->column(), 12);
  }
}

TEST(ConfigSchema, FloatAcceptsAnInteger) {
  TempDir dir;
  const auto path = dir / "config.json";
  write_file(path, kGood);
  Config config(path, full_schema());
  LocalObject d = config.object("defaults");
  write_file(path, R"({"defaults": {"timeout": 30, "ratio": 2, "name": "svc", "on": true,
    "hosts": ["a"], "limits": {"cpu": 2}, "unset": null, "free": 1},
    "service": {"__base__": "defaults", "timeout": 10}})");
  EXPECT_TRUE(config.reload());
  EXPECT_DOUBLE_EQ(d.get<double>("ratio"), 2.0);  // an int, read as a float
  EXPECT_TRUE(d.getattr("ratio").holds<std::int64_t>());
  write_file(path, R"({"defaults": {"timeout": 30, "ratio": 1.5e0, "name": "svc", "on": true,
    "hosts": ["a"], "limits": {"cpu": 2}, "unset": null, "free": 1},
    "service": {"__base__": "defaults", "timeout": 10}})");
  EXPECT_TRUE(config.reload());
  EXPECT_DOUBLE_EQ(d.get<double>("ratio"), 1.5);
}

TEST(ConfigSchema, ASubclassThatSetsADeclaredAttributeKeepsItsType) {
  TempDir dir;
  const auto path = dir / "config.json";
  write_file(path, kGood);
  Config config(path, full_schema());
  const std::string before = snapshot(config);
  write_file(path, R"({"defaults": {"timeout": 30, "ratio": 0.5, "name": "svc", "on": true,
    "hosts": ["a"], "limits": {"cpu": 2}, "unset": null, "free": 1},
  "service": {"__base__": "defaults", "timeout": "ten"}})");
  const std::optional<ConfigError> error = config_error([&] { config.reload(); });
  expect_config_error(error, "TypeError", path.string());
  if (error) {
    EXPECT_EQ(error->line(), 3) << error->what();
    EXPECT_EQ(error->column(), 50) << error->what();
  }
  EXPECT_EQ(snapshot(config), before);
}

TEST(ConfigSchema, UndeclaredAttributesTakeAnyType) {
  TempDir dir;
  const auto path = dir / "config.json";
  write_file(path, kGood);
  Config config(path, full_schema());
  LocalObject service = config.object("service");
  // `free` is undeclared in defaults, and `timeout` is declared for defaults, not for service.
  write_file(path, R"({"defaults": {"timeout": 30, "ratio": 0.5, "name": "svc", "on": true,
    "hosts": ["a"], "limits": {"cpu": 2}, "unset": null, "free": ["now", "a", "list"]},
    "service": {"__base__": "defaults", "timeout": 10}})");
  EXPECT_TRUE(config.reload());
  EXPECT_EQ(repr(service.getattr("free")), "['now', 'a', 'list']");
}

TEST(ConfigSchema, WithoutASchemaAnyTypeChangeIsAccepted) {
  TempDir dir;
  const auto path = dir / "config.json";
  write_file(path, kGood);
  Config config(path);
  LocalObject d = config.object("defaults");
  const std::vector<std::string> values = {"\"thirty\"", "[30]", "{\"s\": 30}", "null",
                                           "true",       "30.5", "30"};
  std::uint64_t version = 1;
  for (const std::string& v : values) {
    SCOPED_TRACE(v);
    write_file(path, "{\"defaults\": {\"timeout\": " + v +
                         "}, \"service\": {\"__base__\": \"defaults\", \"timeout\": 10}}");
    EXPECT_TRUE(config.reload());
    EXPECT_EQ(config.version(), ++version);
    EXPECT_EQ(repr(d.getattr("timeout")), v == "\"thirty\""    ? "'thirty'"
                                          : v == "{\"s\": 30}" ? "{'s': 30}"
                                          : v == "null"        ? "None"
                                          : v == "true"        ? "True"
                                                               : v);
  }
}

TEST(ConfigSchema, RequiredAttributeMayComeFromABaseInTheFile) {
  ConfigSchema schema;
  schema.attr("service", "timeout", ConfigType::integer, true);
  TempDir dir;
  const auto path = dir / "config.json";
  write_file(path, R"({"defaults": {"timeout": 30}, "service": {"__base__": "defaults"}})");
  Config config(path, schema);
  EXPECT_EQ(config.object("service").get<int>("timeout"), 30);
  // Missing from the class and its bases: refused, nothing changed.
  write_file(path, R"({"defaults": {"other": 1}, "service": {"__base__": "defaults"}})");
  const std::string before = snapshot(config);
  const std::optional<ConfigError> error = config_error([&] { config.reload(); });
  expect_config_error(error, "ValueError", path.string());
  if (error) {
    EXPECT_NE(std::string(error->what()).find("'timeout'"), std::string::npos) << error->what();
  }
  EXPECT_EQ(snapshot(config), before);
  EXPECT_EQ(config.version(), 1u);
  // Defined by the class itself.
  write_file(path, R"({"defaults": {}, "service": {"__base__": "defaults", "timeout": 5}})");
  EXPECT_TRUE(config.reload());
  EXPECT_EQ(config.object("service").get<int>("timeout"), 5);
  // At the start.
  write_file(path, R"({"defaults": {}, "service": {"__base__": "defaults"}})");
  const std::optional<ConfigError> at_start = config_error([&] { Config again(path, schema); });
  expect_config_error(at_start, "ValueError", path.string());
}

TEST(ConfigSchema, AppliesToDictDocuments) {
  ConfigSchema schema;
  schema.attr("c", "n", ConfigType::integer).attr("c", "f", ConfigType::number);
  Config config(Dict{{"c", Dict{{"n", 1}, {"f", 1.5}}}}, schema);
  EXPECT_TRUE(config.reload(Dict{{"c", Dict{{"n", std::int64_t{2}}, {"f", 3}}}}));
  EXPECT_EQ(config.object("c").get<int>("n"), 2);
  EXPECT_DOUBLE_EQ(config.object("c").get<double>("f"), 3.0);
  const std::string before = snapshot(config);
  const std::optional<ConfigError> error = config_error([&] {
    config.reload(Dict{{"c", Dict{{"n", "two"}, {"f", 3}}}});
  });
  expect_config_error(error, "TypeError", "<dict>");
  EXPECT_EQ(snapshot(config), before);
  EXPECT_EQ(config.version(), 2u);
}

}  // namespace
}  // namespace localbag
