#pragma once
/// \file
/// The exceptions localbag throws: one hierarchy, one per Python exception class, with
/// Python's own wording in `what()`.

#include <stdexcept>
#include <string>
#include <string_view>

namespace localbag {

/// Base of every localbag exception. `what()` is the message as Python prints it after the
/// colon; `python_type()` is the Python class name; `to_string()` joins the two the way a
/// Python traceback's last line does: ``AttributeError: 'MyLocal' object has no attribute 'x'``.
class Error : public std::runtime_error {
 public:
  Error(const char* python_type, std::string message);
  const char* python_type() const noexcept { return python_type_; }
  std::string to_string() const;

 private:
  const char* python_type_;
};

/// A missing attribute, or a read-only one (`__dict__`).
class AttributeError : public Error {
 public:
  explicit AttributeError(std::string message) : Error("AttributeError", std::move(message)) {}
};

/// A value of the wrong type: `get<T>` of another type, a call of a non-callable, arguments
/// given to a class without init, a copy of a move-only value.
class TypeError : public Error {
 public:
  explicit TypeError(std::string message) : Error("TypeError", std::move(message)) {}
};

/// A bad class definition, such as a slot that conflicts with a class variable.
class ValueError : public Error {
 public:
  explicit ValueError(std::string message) : Error("ValueError", std::move(message)) {}
};

/// A missing key in a `Dict` (`d["x"]` in Python).
class KeyError : public Error {
 public:
  explicit KeyError(std::string message) : Error("KeyError", std::move(message)) {}
};

/// An unknown class or base name in a `Registry`.
class NameError : public Error {
 public:
  explicit NameError(std::string message) : Error("NameError", std::move(message)) {}
};

}  // namespace localbag
