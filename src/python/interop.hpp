// SPDX-License-Identifier: MIT
#pragma once
// The Python binding's half of the numeric policy and of the GIL rules (docs/python.md): a
// Python object held in a localbag Value (PyRef), the conversions between Python objects and
// localbag's builtin values, and how C++ code reaches Python safely, from any thread, until the
// interpreter is finalised.

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <string>
#include <utility>

#include "localbag/localbag.hpp"

namespace localbag::python {

// ---- The GIL ---------------------------------------------------------------------------------

// Runs `f` holding the GIL: at once when the calling thread holds it, else after taking it
// (PyGILState_Ensure, which gives a thread that never ran Python a thread state). Returns false,
// without running `f`, once the interpreter is finalizing: a thread without the GIL then never
// touches Python (Python would end such a thread inside Ensure).
template <class F>
bool with_gil(F&& f);

// Called from Python's atexit, before finalization starts: from then on threads without the
// GIL no longer enter Python; waits (GIL released) for those that did.
void stop_outside_threads();
// Whether C++ threads may still enter Python.
bool python_usable() noexcept;

namespace detail {
bool enter_outside() noexcept;  // counts the caller in; false when closed
void leave_outside() noexcept;
}  // namespace detail

template <class F>
bool with_gil(F&& f) {
  if (!python_usable()) {
    // Finalizing: the thread that finalizes (and holds the GIL) may still release values.
    if (Py_IsInitialized() && PyGILState_Check()) {
      f();
      return true;
    }
    return false;
  }
  if (PyGILState_Check()) {
    f();
    return true;
  }
  if (!detail::enter_outside()) return false;
  struct Release {
    PyGILState_STATE state = PyGILState_Ensure();
    ~Release() {
      PyGILState_Release(state);
      detail::leave_outside();
    }
  } held;
  f();
  return true;
}

// ---- A Python object in a Value ----------------------------------------------------------------

// A strong reference to a Python object. Copying and destroying take the GIL when the thread
// lacks it; once the interpreter is finalizing, a copy throws RuntimeError and a destruction
// leaves the object to the interpreter's own teardown.
class PyRef {
 public:
  explicit PyRef(PyObject* owned) noexcept : object_(owned) {}  // takes the reference
  PyRef(const PyRef& other);
  PyRef(PyRef&& other) noexcept : object_(std::exchange(other.object_, nullptr)) {}
  PyRef& operator=(const PyRef&) = delete;
  PyRef& operator=(PyRef&&) = delete;
  ~PyRef();

  PyObject* get() const noexcept { return object_; }
  // Replaces the object, caller holding the GIL; returns the old reference for the caller to
  // release.
  PyObject* exchange(PyObject* owned) noexcept { return std::exchange(object_, owned); }

 private:
  PyObject* object_;
};

// A C++ exception carrying a Python exception across C++ frames (an __init__ that raised on a
// C++ thread): `restore()` sets it again as Python's current error. As a localbag::Error its
// python_type() is the exception class's name for the builtin classes, "Exception" otherwise,
// and what() is str(exception).
class PythonException : public localbag::Error {
 public:
  // Takes Python's current error (the caller holds the GIL and an error is set).
  static PythonException fetch();
  PythonException(PythonException&& other) noexcept;
  PythonException(const PythonException&) = delete;
  ~PythonException() override;
  void restore() noexcept;  // caller holds the GIL

 private:
  PythonException(const char* type_name, std::string message, PyObject* type, PyObject* value,
                  PyObject* traceback);
  PyObject* type_;
  PyObject* value_;
  PyObject* traceback_;
};

// Sets Python's error from the C++ exception being handled (call inside a catch block).
void set_error_from_exception() noexcept;

// ---- Conversions -------------------------------------------------------------------------------

// A localbag value as a Python object (new reference), or nullptr with an error set: numbers,
// str, bytes, bool, None, List, Tuple and Dict convert (recursively); a PyRef is its object; a
// LocalObject is its Python object (the same one while it lives); anything else is an opaque
// `localbag.Value` whose repr is localbag's.
PyObject* to_python(const Value& value);
// A Dict as a Python dict, each value by to_python (new reference, or nullptr with an error set).
PyObject* dict_to_python(const Dict& dict);
// A Python object as the builtin localbag value it converts to (None, bool, int within 64 bits,
// float, str, bytes, list, tuple, dict with str keys, recursively; a local as its LocalObject;
// an opaque localbag.Value as its value), or held as a PyRef (an int beyond 64 bits too: the
// numeric policy reads it through PythonType<PyRef>::number). Caller holds the GIL. Throws
// RuntimeError for a container that contains itself.
Value to_builtin(PyObject* object);
// What a Python value becomes when Python stores it: the object itself, as a PyRef (a
// Python-side read gives back the same object).
inline Value stored(PyObject* borrowed) {
  Py_INCREF(borrowed);
  return Value(PyRef(borrowed));
}

}  // namespace localbag::python

namespace localbag::detail {
template <>
struct MovedFromIsInert<python::PyRef> : std::true_type {};
template <>
struct PythonType<python::PyRef> {
  // The extension module stays loaded until the process ends (CPython never unloads one): its
  // values need no count (localbag/plugin.hpp), and a set from Python writes no shared counter.
  static constexpr bool resident = true;
  static std::string name() { return "object"; }
  static void repr(std::string& out, const python::PyRef& ref);
  static Value to_builtin(const python::PyRef& ref);
  static bool number(const python::PyRef& ref, Number& out);
};
}  // namespace localbag::detail
