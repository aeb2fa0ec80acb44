// SPDX-License-Identifier: MIT
// The helpers of embed_support.hpp that the embedding tests share: Python errors as text,
// Script, and starting Python with the built `localbag` module importable.
#include "embed_support.hpp"

#include <cstddef>
#include <cstdio>
#include <stdexcept>

namespace localbag::embed_test {
namespace {

std::string utf8(PyObject* text) {
  Py_ssize_t size = 0;
  const char* data = text != nullptr ? PyUnicode_AsUTF8AndSize(text, &size) : nullptr;
  if (data == nullptr) {
    PyErr_Clear();
    return "<not text>";
  }
  return std::string(data, static_cast<std::size_t>(size));
}

}  // namespace

std::string take_error() {
  PyObject *type = nullptr, *value = nullptr, *traceback = nullptr;
  PyErr_Fetch(&type, &value, &traceback);
  PyErr_NormalizeException(&type, &value, &traceback);
  const Owned t(type), v(value), tb(traceback);
  std::string out = type != nullptr ? reinterpret_cast<PyTypeObject*>(type)->tp_name : "?";
  if (value != nullptr) {
    const Owned text(PyObject_Str(value));
    const std::string message = utf8(text.get());
    if (!message.empty()) out += ": " + message;
  }
  PyErr_Clear();
  return out;
}

Script::Script() : globals_(PyDict_New()) {
  if (globals_ == nullptr ||
      PyDict_SetItemString(globals_.get(), "__builtins__", PyEval_GetBuiltins()) != 0) {
    throw std::runtime_error(take_error());
  }
  const std::string error =
      run("__name__ = 'embedded'\n"
          "import localbag, threading, weakref\n"
          "class Tracked:\n"
          "    pass\n");
  if (!error.empty()) throw std::runtime_error(error);
}

void Script::bind(const char* name, PyObject* owned) {
  const Owned hold(owned);
  if (owned == nullptr || PyDict_SetItemString(globals_.get(), name, owned) != 0) {
    throw std::runtime_error(take_error());
  }
}

void Script::bind(const char* name, const LocalObject& object) {
  bind(name, python::to_python(object));
}

PyObject* Script::get(const char* name) const { return PyDict_GetItemString(globals_.get(), name); }

std::string Script::run(const char* code) {
  const Owned result(PyRun_String(code, Py_file_input, globals_.get(), globals_.get()));
  return result != nullptr ? std::string() : take_error();
}

std::string Script::repr_of(const char* expression) {
  const Owned result(PyRun_String(expression, Py_eval_input, globals_.get(), globals_.get()));
  if (result == nullptr) return "error: " + take_error();
  const Owned text(PyObject_Repr(result.get()));
  if (text == nullptr) return "error: " + take_error();
  return utf8(text.get());
}

bool start_python() {
  Py_InitializeEx(0);
  PyObject* path = PySys_GetObject("path");  // borrowed
  const Owned dir(PyUnicode_FromString(LOCALBAG_PYTHON_MODULE_DIR));
  if (path == nullptr || dir == nullptr || PyList_Insert(path, 0, dir.get()) != 0) {
    std::fprintf(stderr, "cannot extend sys.path: %s\n", take_error().c_str());
    return false;
  }
  const Owned module(PyImport_ImportModule("localbag"));
  if (module == nullptr) {
    std::fprintf(stderr, "cannot import localbag from %s: %s\n", LOCALBAG_PYTHON_MODULE_DIR,
                 take_error().c_str());
    return false;
  }
  return true;
}

int run_all_tests(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  if (!start_python()) return 1;
  const int rc = RUN_ALL_TESTS();
  if (Py_FinalizeEx() < 0 && rc == 0) return 1;
  return rc;
}

}  // namespace localbag::embed_test
