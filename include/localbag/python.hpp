// SPDX-License-Identifier: MIT
#pragma once
/// \file
/// For a C++ program that embeds CPython: hand a `LocalObject` to Python and get it back, and
/// convert values by the numeric policy, through the `localbag` extension module
/// (docs/python.md). Include `<Python.h>` first; the module must be importable (its directory
/// on `sys.path`), and every call here needs the GIL.
///
///     PyObject* py = localbag::python::to_python(obj);        // the same object each time
///     localbag::LocalObject back = localbag::python::from_python(py);  // back == obj

#include "localbag/detail/require_cxx20.hpp"  // first: a clear error before C++20

#include <Python.h>

#include "localbag/error.hpp"
#include "localbag/local_object.hpp"
#include "localbag/value.hpp"

namespace localbag::python {

/// What the module exports as the capsule `localbag._C_API`. Each function needs the GIL.
struct Api {
  /// This layout's version: 1.
  unsigned version;
  /// The Python object for `object` (new reference): the same one while it lives. nullptr with
  /// a Python error set on failure.
  PyObject* (*wrap)(const LocalObject& object);
  /// The LocalObject a `localbag.local` (or subclass) object is, into `*out`: 0; -1 with
  /// Python's TypeError set when `object` is not one.
  int (*unwrap)(PyObject* object, LocalObject* out);
  /// A value as Python sees it (new reference), or nullptr with a Python error set.
  PyObject* (*value_to_python)(const Value& value);
  /// A Python object as C++ sees it: builtin types converted, anything else held as a
  /// reference. Throws localbag's errors (OverflowError beyond 64 bits).
  Value (*value_from_python)(PyObject* object);
};

/// The module's Api, imported on first use: throws `localbag::RuntimeError` when `localbag`
/// cannot be imported (Python's error is cleared).
inline const Api& api() {
  static const Api* const loaded = [] {
    void* p = PyCapsule_Import("localbag._C_API", 0);
    if (p == nullptr) {
      PyErr_Clear();
      throw RuntimeError("cannot import the localbag Python module");
    }
    return static_cast<const Api*>(p);
  }();
  return *loaded;
}

/// `object` as a Python object (new reference); the same Python object while it lives, so `is`
/// holds in Python for two calls. nullptr with a Python error set on failure.
inline PyObject* to_python(const LocalObject& object) { return api().wrap(object); }

/// The `LocalObject` behind a Python `localbag.local`: `from_python(to_python(obj)) == obj`.
/// Throws `localbag::TypeError` (Python's error cleared) for any other Python object.
inline LocalObject from_python(PyObject* object) {
  LocalObject out;
  if (api().unwrap(object, &out) != 0) {
    PyErr_Clear();
    throw TypeError("expected a localbag.local object");
  }
  return out;
}

/// A value as Python sees it (new reference), by the numeric policy; nullptr with a Python
/// error set on failure.
inline PyObject* value_to_python(const Value& value) { return api().value_to_python(value); }

/// A Python object as a `Value`, by the numeric policy: `int` (within 64 bits), `float`, `str`,
/// `bytes`, `bool`, `None`, `list`, `tuple` and `dict` become localbag's types; any other
/// object is held as a Python reference.
inline Value value_from_python(PyObject* object) { return api().value_from_python(object); }

}  // namespace localbag::python
