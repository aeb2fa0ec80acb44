// SPDX-License-Identifier: MIT
#pragma once
// Internal: a configuration document as Config reads it (from JSON text or from a Dict given in
// code), with the place in the file of everything an error may name.

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "localbag/config.hpp"
#include "localbag/dict.hpp"
#include "localbag/registry.hpp"

namespace localbag::detail::config {

// A line and a column, both from 1; 0 and 0 when there is no file.
struct Place {
  int line = 0;
  int column = 0;
};

// One class of a document.
struct DocClass {
  std::string name;
  std::string base;                                  // "__base__", or empty for `local`
  Place where;                                       // the class's object
  Place base_where;                                  // the "__base__" value
  Dict attrs;                                        // without "__base__"
  std::map<std::string, Place, std::less<>> places;  // where each attribute's value starts
};

struct Document {
  std::string source;             // the file as given, or "<dict>"
  std::vector<DocClass> classes;  // in document order; a later duplicate replaced an earlier
};

// Parses JSON `text` read from `source`: ConfigError (JSONDecodeError, ValueError, TypeError,
// OverflowError) with the line and column of what is wrong.
Document parse_json(std::string_view text, const std::string& source);

// The document a Dict given in code describes (class name -> Dict of attributes):
// ConfigError (ValueError, TypeError) naming `<dict>` when it is not one.
Document from_dict(const Dict& document);

// What a value is, in Python's terms: any C++ integer type is an `int` and a float or double a
// `float` (the numeric policy), the builtin types by their Python names.
enum class Kind { kNone, kBool, kInt, kFloat, kStr, kList, kDict, kOther };
Kind kind_of(const Value& value);
// Its Python type name: "int", "float", "str", "bool", "NoneType", "list", "dict", else the
// value's own type name.
std::string kind_name(const Value& value);

// Python's ==, for what a configuration holds: numbers by value (an int equals a float of the
// same value), str, bool, None, lists and dicts element by element; any other value by its type
// and repr. `strict`: the types must match as well (whether a class must be republished).
bool same(const Value& a, const Value& b, bool strict = false);
bool same(const Dict& a, const Dict& b, bool strict = false);

// The document's classes, bases before subclasses: ValueError for a class named `local`, an
// unknown base (neither in the document nor in `bases`) or a circular chain.
std::vector<const DocClass*> bases_first(const Document& doc, const Registry* bases);

// ConfigError unless `doc` keeps to `schema`: TypeError for a value of another type than its
// class (or the nearest base in the document declaring it) declares, ValueError for a required
// attribute that neither the class nor a base in the document defines.
void check_schema(const ConfigSchema& schema, const Document& doc);

// `s` in single quotes, as Python's messages quote names.
std::string in_quotes(std::string_view s);

// A ConfigError at `where` in `source` (`where` {} for none): its what() is the place, ": ",
// and `message`.
ConfigError make_error(const char* python_type, const std::string& source, Place where,
                       const std::string& message);
// Throws it.
[[noreturn]] void fail(const char* python_type, const std::string& source, Place where,
                       const std::string& message);

}  // namespace localbag::detail::config
