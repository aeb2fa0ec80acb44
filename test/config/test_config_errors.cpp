// SPDX-License-Identifier: MIT
// Config, loads that fail: a syntax error (JSONDecodeError at the right line and column, as
// Python's json module reports it), an integer beyond 64 bits (OverflowError), a missing file
// (FileNotFoundError), a structure the format forbids (ValueError: a class that is not an object,
// an unknown base, a changed base, a class missing on reload). Each failed reload leaves every
// attribute as it was and the version unchanged, and sets last_error(); the next good reload
// clears it. The constructor refuses the same files.

#include <gtest/gtest.h>

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config_test_util.hpp"
#include "localbag/config.hpp"
#include "localbag/error.hpp"
#include "test_support.hpp"

namespace localbag {
namespace {

using config_test::config_error;
using config_test::expect_config_error;
using config_test::kSample;
using config_test::snapshot;
using config_test::TempDir;
using config_test::write_file;

// A file that does not parse, and where Python's json module puts the error (line and column
// from 1; the column in bytes), and the start of its message.
struct SyntaxCase {
  const char* name;
  const char* text;
  int line;
  int column;
  const char* message;  // json.JSONDecodeError's msg
};

const std::vector<SyntaxCase>& syntax_cases() {
  static const std::vector<SyntaxCase> cases = {
      {"missing comma",
       "{\n  \"defaults\": {\n    \"timeout\": 30\n    \"greeting\": \"hi\"\n  }\n}\n", 4, 5,
       "Expecting ',' delimiter"},
      {"trailing comma", "{\n  \"defaults\": {\"timeout\": 30,}\n}\n", 2, 30,
       "Expecting property name enclosed in double quotes"},
      {"bad literal", "{\n  \"defaults\": {\n    \"timeout\": tru\n  }\n}\n", 3, 16,
       "Expecting value"},
      {"unterminated", "{\n  \"defaults\": {\n    \"timeout\": 30\n  }\n", 5, 1,
       "Expecting ',' delimiter"},
      {"extra data", "{\"defaults\": {\"a\": 1}} x", 1, 24, "Extra data"},
      {"empty file", "", 1, 1, "Expecting value"},
      {"single quotes", "{'defaults': {}}", 1, 2,
       "Expecting property name enclosed in double quotes"},
      {"bytes before the error", "{\n  \"d\xc3\xa9\": {\"a\": 1 \"b\": 2}\n}\n", 2, 18,
       "Expecting ',' delimiter"},
      {"missing value", "{\"c\": {\"a\": -}}", 1, 13, "Expecting value"},
      // A syntax error is one even where the structure is wrong too: the document must parse
      // before its classes are looked at.
      {"a class that is a broken list", "{\"c\": [1}", 1, 9, "Expecting ',' delimiter"},
      {"a document that is a broken list", "[1}", 1, 3, "Expecting ',' delimiter"},
      {"unclosed list", "{\"c\": {\"a\": [1, 2}}", 1, 18, "Expecting ',' delimiter"},
  };
  return cases;
}

// Expects a reload of `config` (whose file is `path`, now holding a bad text) to fail with
// `python_type` and change nothing; returns the error.
std::optional<ConfigError> expect_refused(Config& config, const std::string& python_type) {
  const std::string before = snapshot(config);
  const std::uint64_t version = config.version();
  std::optional<ConfigError> error = config_error([&] { config.reload(); });
  if (error) {
    expect_config_error(error, python_type, config.path().string());
  }
  EXPECT_EQ(snapshot(config), before) << "a failed reload changed the configuration";
  EXPECT_EQ(config.version(), version);
  const std::optional<ConfigError> last = config.last_error();
  EXPECT_TRUE(last.has_value());
  if (last && error) {
    EXPECT_STREQ(last->python_type(), error->python_type());
    EXPECT_EQ(std::string(last->what()), std::string(error->what()));
    EXPECT_EQ(last->line(), error->line());
    EXPECT_EQ(last->column(), error->column());
  }
  return error;
}

// Writes the sample back, reloads, and expects the error cleared.
void expect_recovers(Config& config) {
  write_file(config.path(), kSample);
  EXPECT_NO_THROW(config.reload());
  EXPECT_FALSE(config.last_error().has_value());
}

TEST(ConfigErrors, SyntaxErrorAtItsLineAndColumnChangesNothing) {
  for (const SyntaxCase& c : syntax_cases()) {
    SCOPED_TRACE(c.name);
    TempDir dir;
    const auto path = dir / "config.json";
    write_file(path, kSample);
    Config config(path);
    LocalObject eu = config.object("service.eu");
    eu.getattr("greeting");
    write_file(path, c.text);
    const std::optional<ConfigError> error = expect_refused(config, "JSONDecodeError");
    if (!error) continue;
    EXPECT_EQ(error->line(), c.line) << error->what();
    EXPECT_EQ(error->column(), c.column) << error->what();
    EXPECT_EQ(eu.get<std::string>("greeting"), "hallo");
    expect_recovers(config);
  }
}

TEST(ConfigErrors, SyntaxErrorsInPythonsWords) {
  for (const SyntaxCase& c : syntax_cases()) {
    SCOPED_TRACE(c.name);
    TempDir dir;
    const auto path = dir / "config.json";
    write_file(path, c.text);
    const std::optional<ConfigError> error = config_error([&] { Config config(path); });
    if (!error) continue;
    const std::string what = error->what();
    EXPECT_NE(what.find(c.message), std::string::npos) << what;
  }
}

TEST(ConfigErrors, TheConstructorRefusesABadFile) {
  for (const SyntaxCase& c : syntax_cases()) {
    SCOPED_TRACE(c.name);
    TempDir dir;
    const auto path = dir / "config.json";
    write_file(path, c.text);
    const std::optional<ConfigError> error = config_error([&] { Config config(path); });
    expect_config_error(error, "JSONDecodeError", path.string());
    if (error) {
      EXPECT_EQ(error->line(), c.line) << error->what();
      EXPECT_EQ(error->column(), c.column) << error->what();
    }
  }
}

TEST(ConfigErrors, MissingFile) {
  TempDir dir;
  const auto path = dir / "config.json";
  const std::optional<ConfigError> at_start = config_error([&] { Config config(path); });
  expect_config_error(at_start, "FileNotFoundError", path.string());
  if (at_start) {
    EXPECT_EQ(at_start->line(), 0);
    EXPECT_EQ(at_start->column(), 0);
    EXPECT_EQ(std::string(at_start->what()).rfind(path.string() + ": ", 0), 0u);
  }

  write_file(path, kSample);
  Config config(path);
  std::filesystem::remove(path);
  const std::optional<ConfigError> error = expect_refused(config, "FileNotFoundError");
  if (error) {
    EXPECT_EQ(error->line(), 0);
  }
  expect_recovers(config);
  EXPECT_EQ(config.version(), 2u);
}

TEST(ConfigErrors, ADirectoryIsNotAFile) {
  TempDir dir;
  const auto path = dir / "config.json";
  write_file(path, kSample);
  Config config(path);
  std::filesystem::remove(path);
  std::filesystem::create_directory(path);
  const std::string before = snapshot(config);
  const std::optional<ConfigError> error = config_error([&] { config.reload(); });
  ASSERT_TRUE(error.has_value());
  const std::string type = error->python_type();
  EXPECT_TRUE(type == "IsADirectoryError" || type == "OSError") << type;
  EXPECT_EQ(snapshot(config), before);
  EXPECT_EQ(config.version(), 1u);
}

// A file that parses but that the format refuses, with the Python type of the error.
struct StructureCase {
  const char* name;
  const char* text;
  const char* python_type;  // "" when any ConfigError will do
};

TEST(ConfigErrors, StructureErrorsChangeNothing) {
  const std::vector<StructureCase> cases = {
      {"a class that is not an object",
       R"({"defaults": 5, "service": {"__base__": "defaults"}, "service.eu": {}})", "ValueError"},
      {"a class that is a list",
       R"({"defaults": [1], "service": {}, "service.eu": {"__base__": "service"}})", "ValueError"},
      {"an unknown base",
       R"({"defaults": {}, "service": {"__base__": "nope"},
           "service.eu": {"__base__": "service"}})",
       "ValueError"},
      {"a changed base",
       R"({"defaults": {}, "service": {"__base__": "defaults"},
           "service.eu": {"__base__": "defaults"}})",
       "ValueError"},
      {"a base removed",
       R"({"defaults": {}, "service": {}, "service.eu": {"__base__": "service"}})", "ValueError"},
      {"a class missing", R"({"defaults": {"timeout": 1}, "service": {"__base__": "defaults"}})",
       "ValueError"},
      {"a document that is not an object", R"([1, 2, 3])", "ValueError"},
      {"a base cycle",
       R"({"defaults": {"__base__": "service.eu"}, "service": {"__base__": "defaults"},
           "service.eu": {"__base__": "service"}})",
       ""},
      {"a base that is not a string",
       R"({"defaults": {}, "service": {"__base__": 5}, "service.eu": {"__base__": "service"}})",
       "TypeError"},
      {"an attribute named __dict__",
       R"({"defaults": {"__dict__": {}}, "service": {"__base__": "defaults"},
           "service.eu": {"__base__": "service"}})",
       ""},
      {"an attribute named __class__",
       R"({"defaults": {"__class__": "x"}, "service": {"__base__": "defaults"},
           "service.eu": {"__base__": "service"}})",
       ""},
      {"an integer beyond 64 bits",
       R"({"defaults": {"timeout": 18446744073709551616}, "service": {"__base__": "defaults"},
           "service.eu": {"__base__": "service"}})",
       "OverflowError"},
      {"a negative integer beyond 64 bits",
       R"({"defaults": {"timeout": -9223372036854775809}, "service": {"__base__": "defaults"},
           "service.eu": {"__base__": "service"}})",
       "OverflowError"},
      {"a nested integer beyond 64 bits",
       R"({"defaults": {"t": {"x": [123456789012345678901234567890]}},
           "service": {"__base__": "defaults"}, "service.eu": {"__base__": "service"}})",
       "OverflowError"},
  };
  for (const StructureCase& c : cases) {
    SCOPED_TRACE(c.name);
    TempDir dir;
    const auto path = dir / "config.json";
    write_file(path, kSample);
    Config config(path);
    LocalObject eu = config.object("service.eu");
    EXPECT_EQ(eu.get<int>("timeout"), 10);
    write_file(path, c.text);
    const std::string before = snapshot(config);
    const std::optional<ConfigError> error = config_error([&] { config.reload(); });
    if (error) {
      if (*c.python_type != '\0') {
        expect_config_error(error, c.python_type, path.string());
      } else {
        EXPECT_EQ(error->file(), path.string());
      }
    }
    EXPECT_EQ(snapshot(config), before);
    EXPECT_EQ(config.version(), 1u);
    EXPECT_TRUE(config.last_error().has_value());
    EXPECT_EQ(eu.get<int>("timeout"), 10);
    EXPECT_EQ(eu.type()->base(), config.cls("service"));
    EXPECT_EQ(config.registry().size(), 3u);
    expect_recovers(config);
  }
}

TEST(ConfigErrors, AnIntegerBeyond64BitsAtLoad) {
  TempDir dir;
  const auto path = dir / "config.json";
  write_file(path, "{\"c\": {\n  \"ok\": 1,\n  \"big\": 18446744073709551616\n}}\n");
  const std::optional<ConfigError> error = config_error([&] { Config config(path); });
  expect_config_error(error, "OverflowError", path.string());
  if (error) {
    EXPECT_EQ(error->line(), 3) << error->what();  // the value's place
    EXPECT_EQ(error->column(), 10) << error->what();
  }
}

TEST(ConfigErrors, FailedLoadsDoNotCountAndTheNextGoodOneDoes) {
  TempDir dir;
  const auto path = dir / "config.json";
  write_file(path, kSample);
  Config config(path);
  write_file(path, "{");
  EXPECT_THROW(config.reload(), ConfigError);
  EXPECT_THROW(config.reload(), ConfigError);
  EXPECT_EQ(config.version(), 1u);
  write_file(path, R"({"defaults": {"timeout": 31}, "service": {"__base__": "defaults"},
                       "service.eu": {"__base__": "service"}})");
  EXPECT_TRUE(config.reload());
  EXPECT_EQ(config.version(), 2u);
  EXPECT_FALSE(config.last_error().has_value());
  EXPECT_EQ(config.object("service.eu").get<int>("timeout"), 31);
}

TEST(ConfigErrors, ADictDocumentThatIsRefused) {
  Config config(Dict{{"defaults", Dict{{"timeout", 30}}},
                     {"service", Dict{{"__base__", "defaults"}, {"timeout", 10}}}});
  const std::string before = snapshot(config);
  const std::vector<std::pair<const char*, Dict>> cases = {
      {"a class that is not a Dict",
       Dict{{"defaults", 5}, {"service", Dict{{"__base__", "defaults"}}}}},
      {"a class missing", Dict{{"defaults", Dict{{"timeout", 1}}}}},
      {"an unknown base", Dict{{"defaults", Dict{}}, {"service", Dict{{"__base__", "nope"}}}}},
      {"a changed base", Dict{{"defaults", Dict{}}, {"service", Dict{}}}},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.first);
    const std::optional<ConfigError> error = config_error([&] { config.reload(c.second); });
    expect_config_error(error, "ValueError", "<dict>");
    if (error) {
      EXPECT_EQ(error->line(), 0);
    }
    EXPECT_EQ(snapshot(config), before);
    EXPECT_EQ(config.version(), 1u);
    EXPECT_TRUE(config.last_error().has_value());
  }
  EXPECT_TRUE(config.reload(
      Dict{{"defaults", Dict{{"timeout", 1}}}, {"service", Dict{{"__base__", "defaults"}}}}));
  EXPECT_FALSE(config.last_error().has_value());
  EXPECT_EQ(config.object("service").get<int>("timeout"), 1);
}

TEST(ConfigErrors, AConstructorGivenABadDocument) {
  const std::optional<ConfigError> error = config_error([] {
    Config config(Dict{{"c", Dict{{"__base__", "nope"}}}});
  });
  expect_config_error(error, "ValueError", "<dict>");
  TempDir dir;
  write_file(dir / "config.json", R"({"c": "text"})");
  const std::optional<ConfigError> from_file =
      config_error([&] { Config config(dir / "config.json"); });
  expect_config_error(from_file, "ValueError", (dir / "config.json").string());
}

}  // namespace
}  // namespace localbag
