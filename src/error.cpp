// SPDX-License-Identifier: MIT
// The exception classes, and every Python error localbag raises (detail/throw.hpp): each message
// is built here and nowhere else.

#include "localbag/error.hpp"

#include <initializer_list>

#include "localbag/detail/throw.hpp"
#include "localbag/value.hpp"

namespace localbag {

Error::Error(const char* python_type, std::string message)
    : std::runtime_error(std::move(message)), python_type_(python_type) {}

std::string Error::to_string() const {
  std::string out = python_type_;
  out += ": ";
  out += what();
  return out;
}

namespace detail {
namespace {

std::string join(std::initializer_list<std::string_view> parts) {
  std::string out;
  for (std::string_view p : parts) out += p;
  return out;
}

// Python's repr of a str: the quoted, escaped text.
std::string quoted(std::string_view text) {
  std::string out;
  repr_str(out, text);
  return out;
}

}  // namespace

void throw_no_attribute(std::string_view type, std::string_view name) {
  throw AttributeError(join({"'", type, "' object has no attribute '", name, "'"}));
}

void throw_no_own_attribute(std::string_view type, std::string_view name) {
  throw AttributeError(join({"'", type, "' object has no per-thread attribute '", name, "'"}));
}

void throw_dict_read_only(std::string_view type) {
  throw AttributeError(join({"'", type, "' object attribute '__dict__' is read-only"}));
}

void throw_no_class_attribute(std::string_view cls, std::string_view name) {
  throw AttributeError(join({"type object '", cls, "' has no attribute '", name, "'"}));
}

void throw_attr_wrong_type(std::string_view type, std::string_view name, const Value& held,
                           TypeNameFn wanted) {
  throw TypeError(join({"'", type, "' object attribute '", name, "' is ", held.type_name(),
                        ", not ", wanted()}));
}

void throw_dict_wrong_type(std::string_view key, const Value& held, TypeNameFn wanted) {
  throw TypeError(join({"dict value ", quoted(key), " is ", held.type_name(), ", not ", wanted()}));
}

void throw_value_wrong_type(const Value& held, TypeNameFn wanted) {
  throw TypeError(join({"Value holds ", held.type_name(), ", not ", wanted()}));
}

void throw_int_overflow(TypeNameFn wanted, bool negative) {
  if (negative) throw OverflowError("can't convert negative int to unsigned");
  throw OverflowError(join({"Python int too large to convert to C ", wanted()}));
}

void throw_float_overflow() { throw OverflowError("int too large to convert to float"); }

void throw_float_not_integer() {
  throw TypeError("'float' object cannot be interpreted as an integer");
}

void throw_null_str() { throw TypeError("expected a str, got a null 'const char*'"); }

void throw_slots_not_identifiers() { throw TypeError("__slots__ must be identifiers"); }

void throw_class_dict_not_writable() {
  throw AttributeError("attribute '__dict__' of 'type' objects is not writable");
}

void throw_class_not_deletable() { throw TypeError("can't delete __class__ attribute"); }

void throw_class_not_a_class(std::string_view type) {
  throw TypeError(join({"__class__ must be set to a class, not '", type, "' object"}));
}

void throw_class_assignment_immutable() {
  throw TypeError("__class__ assignment only supported for mutable types or ModuleType subclasses");
}

void throw_class_assignment_unsupported() {
  throw TypeError("__class__ assignment is not supported by localbag");
}

void throw_not_copyable(std::string_view type) {
  throw TypeError(join({"cannot copy '", type, "' object"}));
}

void throw_context_entered(std::string_view where) {
  throw RuntimeError(join({"cannot enter context: it is already entered ", where}));
}

void throw_context_moved_from() { throw RuntimeError("cannot enter a moved-from context"); }

void throw_not_callable(std::string_view type) {
  throw TypeError(join({"'", type, "' object is not callable"}));
}

void throw_init_args_unsupported() {
  throw TypeError("Initialization arguments are not supported");
}

void throw_no_class() { throw TypeError("LocalObject needs a class"); }

void throw_not_instance(std::string_view type, std::string_view cls) {
  throw TypeError(join({"'", type, "' object is not an instance of '", cls, "'"}));
}

void throw_immutable_root(std::string_view verb, std::string_view name) {
  throw TypeError(join({"cannot ", verb, " '", name, "' attribute of immutable type 'local'"}));
}

void throw_slot_conflict(std::string_view name) {
  throw ValueError(join({quoted(name), " in __slots__ conflicts with class variable"}));
}

void throw_config_no_file(std::string_view verb) {
  throw ValueError(join({"this configuration was given as a dict: there is no file to ", verb}));
}

void throw_unwatch_from_watcher() {
  throw RuntimeError("cannot stop watching from the watcher's own thread");
}

void throw_class_repeated(std::string_view cls) {
  throw ValueError(join({"class ", quoted(cls), " appears twice in one change"}));
}

void throw_already_defined(std::string_view cls) {
  throw ValueError(join({"class '", cls, "' is already defined"}));
}

void throw_key_error(std::string_view key) { throw KeyError(quoted(key)); }

void throw_not_defined(std::string_view name) {
  throw NameError(join({"name '", name, "' is not defined"}));
}

void throw_remove_local() { throw TypeError("cannot remove 'local'"); }

void throw_import_error(std::string_view message) { throw ImportError(std::string(message)); }

void throw_plugin_own_copy(std::string_view path) {
  throw ImportError(join({"plugin '", path,
                          "' carries its own copy of localbag (linked statically): link it with "
                          "liblocalbag.so, so that the process has one"}));
}

void throw_plugin_no_symbol(std::string_view path, std::string_view name) {
  throw AttributeError(join({"plugin '", path, "' has no symbol '", name, "'"}));
}

void throw_plugin_not_loaded(std::string_view path) {
  throw RuntimeError(join({"plugin '", path, "' is not loaded"}));
}

}  // namespace detail
}  // namespace localbag
