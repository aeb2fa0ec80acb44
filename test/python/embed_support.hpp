// SPDX-License-Identifier: MIT
#pragma once
// What the embedding tests (test_embed_sharing.cpp, test_embed_gil.cpp) share: a C++ host's
// view of the embedded interpreter. Python started once with the built `localbag` module
// importable (LOCALBAG_PYTHON_MODULE_DIR on sys.path), the GIL taken (GilHeld) or released
// (WithoutGil) for a scope, snippets of Python run in a namespace of their own (Script), and
// EXPECT_LB_ERROR (test/support) for localbag's errors.

// <Python.h> first, as Python's documentation asks (it sets macros the system headers read).
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <gtest/gtest.h>

#include <exception>
#include <memory>
#include <string>

#include "error_matchers.hpp"  // EXPECT_LB_ERROR (test/support)
#include "localbag/localbag.hpp"
#include "localbag/python.hpp"

namespace localbag::embed_test {

struct DecRef {
  void operator()(PyObject* o) const noexcept { Py_XDECREF(o); }
};
// A strong reference to a Python object, released with the GIL held.
using Owned = std::unique_ptr<PyObject, DecRef>;

// Python's current error as a traceback's last line ("TypeError: ..."), cleared.
std::string take_error();

// The GIL taken for a scope, on any thread (PyGILState_Ensure).
class GilHeld {
 public:
  GilHeld() : state_(PyGILState_Ensure()) {}
  ~GilHeld() { PyGILState_Release(state_); }
  GilHeld(const GilHeld&) = delete;
  GilHeld& operator=(const GilHeld&) = delete;

 private:
  PyGILState_STATE state_;
};

// The GIL released for a scope by the thread holding it, so that other threads may take it.
class WithoutGil {
 public:
  WithoutGil() : saved_(PyEval_SaveThread()) {}
  ~WithoutGil() { PyEval_RestoreThread(saved_); }
  WithoutGil(const WithoutGil&) = delete;
  WithoutGil& operator=(const WithoutGil&) = delete;

 private:
  PyThreadState* saved_;
};

// A module-like namespace for snippets of Python, with `localbag`, `weakref` and `threading`
// imported and `Tracked`, a class whose instances a weakref can watch. Used with the GIL held.
class Script {
 public:
  Script();

  // Binds `name` to `owned`, taking the reference.
  void bind(const char* name, PyObject* owned);
  void bind(const char* name, const LocalObject& object);

  // The object bound to `name` (borrowed), or nullptr.
  PyObject* get(const char* name) const;

  // Runs statements: "" on success, else the error's last traceback line.
  std::string run(const char* code);

  // repr() of an expression's value, or "error: " and the error.
  std::string repr_of(const char* expression);

 private:
  Owned globals_;
};

// Python's interpreter, with the built module importable. False (and a message) on failure.
bool start_python();

// A test executable's main() once its own modes are handled: GoogleTest's flags, Python
// started, every test run on this thread holding the GIL, Python finalized.
int run_all_tests(int argc, char** argv);

}  // namespace localbag::embed_test
