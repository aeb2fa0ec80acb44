// SPDX-License-Identifier: MIT
#pragma once
// Every Python error localbag raises, one `[[noreturn]]` function each, all defined in
// src/error.cpp: the one place that builds a message and throws. Inline code calls these so that
// it stays small; out-of-line code calls them so that each text is written once.

#include <string>
#include <string_view>

namespace localbag {
class Value;
}  // namespace localbag

namespace localbag::detail {

// A type's Python-style name, produced only when an error needs it.
using TypeNameFn = std::string (*)();

// AttributeError: 'T' object has no attribute 'x'
[[noreturn]] void throw_no_attribute(std::string_view type, std::string_view name);
// AttributeError: 'T' object has no per-thread attribute 'x'
[[noreturn]] void throw_no_own_attribute(std::string_view type, std::string_view name);
// AttributeError: 'T' object attribute '__dict__' is read-only
[[noreturn]] void throw_dict_read_only(std::string_view type);
// AttributeError: type object 'T' has no attribute 'x'
[[noreturn]] void throw_no_class_attribute(std::string_view cls, std::string_view name);

// TypeError: 'T' object attribute 'x' is int, not str
[[noreturn]] void throw_attr_wrong_type(std::string_view type, std::string_view name,
                                        const Value& held, TypeNameFn wanted);
// TypeError: dict value 'x' is int, not str
[[noreturn]] void throw_dict_wrong_type(std::string_view key, const Value& held,
                                        TypeNameFn wanted);
// TypeError: Value holds int, not str
[[noreturn]] void throw_value_wrong_type(const Value& held, TypeNameFn wanted);
// TypeError: expected a str, got a null 'const char*'
[[noreturn]] void throw_null_str();
// TypeError: cannot copy 'T' object
[[noreturn]] void throw_not_copyable(std::string_view type);
// TypeError: 'int' object is not callable
[[noreturn]] void throw_not_callable(std::string_view type);
// TypeError: Initialization arguments are not supported
[[noreturn]] void throw_init_args_unsupported();
// TypeError: LocalObject needs a class
[[noreturn]] void throw_no_class();
// TypeError: 'T' object is not an instance of 'C'
[[noreturn]] void throw_not_instance(std::string_view type, std::string_view cls);
// TypeError: cannot set 'x' attribute of immutable type 'local' (verb: "set" or "delete")
[[noreturn]] void throw_immutable_root(std::string_view verb, std::string_view name);

// TypeError: __slots__ must be identifiers
[[noreturn]] void throw_slots_not_identifiers();
// AttributeError: attribute '__dict__' of 'type' objects is not writable
[[noreturn]] void throw_class_dict_not_writable();
// TypeError: can't delete __class__ attribute
[[noreturn]] void throw_class_not_deletable();
// TypeError: __class__ must be set to a class, not 'int' object
[[noreturn]] void throw_class_not_a_class(std::string_view type);
// TypeError: __class__ assignment only supported for mutable types or ModuleType subclasses
[[noreturn]] void throw_class_assignment_immutable();
// TypeError: __class__ assignment is not supported by localbag
[[noreturn]] void throw_class_assignment_unsupported();

// ValueError: 'x' in __slots__ conflicts with class variable
[[noreturn]] void throw_slot_conflict(std::string_view name);
// ValueError: class 'X' is already defined
[[noreturn]] void throw_already_defined(std::string_view cls);
// ValueError: this configuration was given as a dict: there is no file to <verb>
[[noreturn]] void throw_config_no_file(std::string_view verb);
// RuntimeError: cannot stop watching from the watcher's own thread
[[noreturn]] void throw_unwatch_from_watcher();
// ValueError: class 'X' appears twice in one change
[[noreturn]] void throw_class_repeated(std::string_view cls);

// KeyError: 'x'
[[noreturn]] void throw_key_error(std::string_view key);
// NameError: name 'X' is not defined
[[noreturn]] void throw_not_defined(std::string_view name);

// RuntimeError: cannot enter context: it is already entered (where: "on this thread" or "on
// another thread")
[[noreturn]] void throw_context_entered(std::string_view where);
// RuntimeError: cannot enter a moved-from context
[[noreturn]] void throw_context_moved_from();

// TypeError: cannot remove 'local'
[[noreturn]] void throw_remove_local();

// ImportError: <the dynamic linker's message> (dlerror())
[[noreturn]] void throw_import_error(std::string_view message);
// ImportError: plugin 'P' carries its own copy of localbag (linked statically): link it with
// liblocalbag.so, so that the process has one
[[noreturn]] void throw_plugin_own_copy(std::string_view path);
// AttributeError: plugin 'P' has no symbol 'x'
[[noreturn]] void throw_plugin_no_symbol(std::string_view path, std::string_view name);
// RuntimeError: plugin 'P' is not loaded
[[noreturn]] void throw_plugin_not_loaded(std::string_view path);

}  // namespace localbag::detail
