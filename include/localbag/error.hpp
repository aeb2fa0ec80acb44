// SPDX-License-Identifier: MIT
#pragma once
/// \file
/// The exceptions localbag throws: one hierarchy, one per Python exception class, with
/// Python's own wording in `what()`.

#include "localbag/detail/require_cxx20.hpp"  // first: a clear error before C++20

#include <stdexcept>
#include <string>
#include <string_view>

namespace localbag {

/// Base of every localbag exception. `what()` is the message as Python prints it after the
/// colon; `python_type()` is the Python class name; `to_string()` joins the two the way a
/// Python traceback's last line does: ``AttributeError: 'MyLocal' object has no attribute 'x'``.
class Error : public std::runtime_error {
 public:
  /// An error of the Python class named `python_type`, with `message` as `what()`. The name is
  /// not copied: it must outlive the exception (a string literal, as every localbag error uses).
  Error(const char* python_type, std::string message);
  /// The Python class name: `"AttributeError"`, `"TypeError"`, `"ValueError"`, `"KeyError"`,
  /// `"NameError"`, `"OverflowError"`, `"ImportError"` or `"RuntimeError"`.
  const char* python_type() const noexcept { return python_type_; }
  /// `python_type()`, a colon and a space, and `what()`: a Python traceback's last line.
  std::string to_string() const;

 private:
  const char* python_type_;
};

/// A missing attribute, or a read-only one (`__dict__`).
class AttributeError : public Error {
 public:
  /// An `AttributeError` whose `what()` is `message` (the text after the class name).
  explicit AttributeError(std::string message) : Error("AttributeError", std::move(message)) {}
};

/// A value of the wrong type: `get<T>` of another type, a call of a non-callable, arguments
/// given to a class without init, a copy of a move-only value.
class TypeError : public Error {
 public:
  /// A `TypeError` whose `what()` is `message` (the text after the class name).
  explicit TypeError(std::string message) : Error("TypeError", std::move(message)) {}
};

/// A bad class definition, such as a slot that conflicts with a class variable.
class ValueError : public Error {
 public:
  /// A `ValueError` whose `what()` is `message` (the text after the class name).
  explicit ValueError(std::string message) : Error("ValueError", std::move(message)) {}
};

/// A missing key in a `Dict` (`d["x"]` in Python).
class KeyError : public Error {
 public:
  /// A `KeyError` whose `what()` is `message`; localbag passes the key's repr (``'number'``),
  /// as Python does.
  explicit KeyError(std::string message) : Error("KeyError", std::move(message)) {}
};

/// An unknown class or base name in a `Registry`.
class NameError : public Error {
 public:
  /// A `NameError` whose `what()` is `message` (the text after the class name).
  explicit NameError(std::string message) : Error("NameError", std::move(message)) {}
};

/// A number that does not fit the type asked for: `as<int>()` of an integer beyond `int`'s
/// range, or of a negative integer as an unsigned type (the numeric policy, docs/python.md).
class OverflowError : public Error {
 public:
  /// An `OverflowError` whose `what()` is `message` (the text after the class name).
  explicit OverflowError(std::string message) : Error("OverflowError", std::move(message)) {}
};

/// A plugin that cannot be loaded (`Plugin`): the dynamic linker's error, or a plugin that
/// carries a copy of localbag of its own.
class ImportError : public Error {
 public:
  /// An `ImportError` whose `what()` is `message` (the text after the class name).
  explicit ImportError(std::string message) : Error("ImportError", std::move(message)) {}
};

/// A context entered where it may not be: on a second thread, or again on its own thread (as
/// Python's `Context.run` refuses a context that is already entered); or a moved-from `Context`
/// entered.
class RuntimeError : public Error {
 public:
  /// A `RuntimeError` whose `what()` is `message` (the text after the class name).
  explicit RuntimeError(std::string message) : Error("RuntimeError", std::move(message)) {}
};

}  // namespace localbag
