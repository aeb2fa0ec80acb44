// SPDX-License-Identifier: MIT
#include "interop.hpp"

#include <atomic>
#include <limits>
#include <thread>

namespace localbag::python {

// ---- The GIL ----
// Threads without the GIL count themselves in `outside` before they take it, then look at
// `open`; stop_outside_threads clears `open`, then waits for `outside` to drain. Sequentially
// consistent on both sides: a thread either sees `open` cleared, or is seen counted and waited
// for. After that no thread without the GIL enters Python, so none is ended by Python's
// finalization inside PyGILState_Ensure.

namespace {
std::atomic<bool> open{true};
std::atomic<int> outside{0};
}  // namespace

namespace detail {
bool enter_outside() noexcept {
  outside.fetch_add(1);
  if (open.load()) return true;
  outside.fetch_sub(1);
  return false;
}
void leave_outside() noexcept { outside.fetch_sub(1); }
}  // namespace detail

bool python_usable() noexcept { return open.load(std::memory_order_relaxed); }

void stop_outside_threads() {
  open.store(false);
  if (outside.load() == 0) return;
  Py_BEGIN_ALLOW_THREADS;
  while (outside.load() != 0) std::this_thread::yield();
  Py_END_ALLOW_THREADS;
}

// ---- PyRef ----

PyRef::PyRef(const PyRef& other) : object_(other.object_) {
  if (object_ == nullptr) return;
  if (!with_gil([&] { Py_INCREF(object_); })) {
    object_ = nullptr;
    throw RuntimeError("cannot copy a Python object: the interpreter is finalizing");
  }
}

PyRef::~PyRef() {
  if (PyObject* object = object_) {
    // Not run once Python is finalizing on a thread without the GIL: the interpreter's own
    // teardown owns what is left.
    with_gil([object] { Py_DECREF(object); });
  }
}

// ---- PythonException ----

namespace {

// A builtin exception class's name as a string literal (localbag::Error keeps the pointer).
const char* builtin_name(PyObject* type) {
  static const std::pair<PyObject**, const char*> names[] = {
      {&PyExc_AttributeError, "AttributeError"}, {&PyExc_TypeError, "TypeError"},
      {&PyExc_ValueError, "ValueError"},         {&PyExc_KeyError, "KeyError"},
      {&PyExc_NameError, "NameError"},           {&PyExc_OverflowError, "OverflowError"},
      {&PyExc_RuntimeError, "RuntimeError"},     {&PyExc_IndexError, "IndexError"},
      {&PyExc_RecursionError, "RecursionError"}, {&PyExc_ZeroDivisionError, "ZeroDivisionError"},
      {&PyExc_MemoryError, "MemoryError"},
  };
  for (const auto& [cls, name] : names) {
    if (type == *cls) return name;
  }
  return "Exception";
}

std::string str_of(PyObject* value) {
  std::string out;
  if (value == nullptr) return out;
  if (PyObject* text = PyObject_Str(value)) {
    Py_ssize_t size = 0;
    if (const char* utf8 = PyUnicode_AsUTF8AndSize(text, &size)) {
      out.assign(utf8, static_cast<std::size_t>(size));
    }
    Py_DECREF(text);
  }
  PyErr_Clear();
  return out;
}

}  // namespace

PythonException::PythonException(const char* type_name, std::string message, PyObject* type,
                                 PyObject* value, PyObject* traceback)
    : Error(type_name, std::move(message)), type_(type), value_(value), traceback_(traceback) {}

PythonException PythonException::fetch() {
  PyObject *type = nullptr, *value = nullptr, *traceback = nullptr;
  PyErr_Fetch(&type, &value, &traceback);
  PyErr_NormalizeException(&type, &value, &traceback);
  std::string message = str_of(value);
  return PythonException(builtin_name(type), std::move(message), type, value, traceback);
}

PythonException::PythonException(PythonException&& other) noexcept
    : Error(other),
      type_(std::exchange(other.type_, nullptr)),
      value_(std::exchange(other.value_, nullptr)),
      traceback_(std::exchange(other.traceback_, nullptr)) {}

PythonException::~PythonException() {
  if (type_ == nullptr && value_ == nullptr && traceback_ == nullptr) return;
  PyObject* t = type_;
  PyObject* v = value_;
  PyObject* tb = traceback_;
  with_gil([&] {
    Py_XDECREF(t);
    Py_XDECREF(v);
    Py_XDECREF(tb);
  });
}

void PythonException::restore() noexcept {
  PyErr_Restore(std::exchange(type_, nullptr), std::exchange(value_, nullptr),
                std::exchange(traceback_, nullptr));
}

void set_error_from_exception() noexcept {
  try {
    throw;
  } catch (PythonException& e) {
    e.restore();
  } catch (const Error& e) {
    const std::string_view type = e.python_type();
    PyObject* cls = type == "AttributeError"  ? PyExc_AttributeError
                    : type == "TypeError"     ? PyExc_TypeError
                    : type == "ValueError"    ? PyExc_ValueError
                    : type == "KeyError"      ? PyExc_KeyError
                    : type == "NameError"     ? PyExc_NameError
                    : type == "OverflowError" ? PyExc_OverflowError
                    : type == "RuntimeError"  ? PyExc_RuntimeError
                                              : PyExc_Exception;
    PyErr_SetString(cls, e.what());
  } catch (const std::bad_alloc&) {
    PyErr_NoMemory();
  } catch (const std::exception& e) {
    PyErr_SetString(PyExc_RuntimeError, e.what());
  } catch (...) {
    PyErr_SetString(PyExc_SystemError, "localbag: unknown C++ exception");
  }
}

}  // namespace localbag::python

namespace localbag::detail {

void PythonType<python::PyRef>::repr(std::string& out, const python::PyRef& ref) {
  std::string text;
  const bool ran = python::with_gil([&] {
    PyObject* r = PyObject_Repr(ref.get());
    if (r != nullptr) {
      Py_ssize_t size = 0;
      if (const char* utf8 = PyUnicode_AsUTF8AndSize(r, &size)) {
        text.assign(utf8, static_cast<std::size_t>(size));
      }
      Py_DECREF(r);
    }
    PyErr_Clear();
  });
  out += ran ? text : std::string("<Python object>");
}

bool PythonType<python::PyRef>::number(const python::PyRef& ref, Number& out) {
  bool is_number = false;
  const bool ran = python::with_gil([&] {
    PyObject* o = ref.get();
    if (PyFloat_Check(o)) {
      out.kind = Number::Kind::kFloat;
      out.f = PyFloat_AS_DOUBLE(o);
      is_number = true;
      return;
    }
    if (!PyLong_Check(o) || PyBool_Check(o)) return;
    is_number = true;
    int overflow = 0;
    const long long v = PyLong_AsLongLongAndOverflow(o, &overflow);
    if (overflow == 0) {
      out.kind = Number::Kind::kSigned;
      out.i = v;
      return;
    }
    if (overflow > 0) {
      const unsigned long long u = PyLong_AsUnsignedLongLong(o);
      if (!(u == static_cast<unsigned long long>(-1) && PyErr_Occurred())) {
        out.kind = Number::Kind::kUnsigned;
        out.u = u;
        return;
      }
      PyErr_Clear();
    }
    out.kind = Number::Kind::kWide;
    out.i = overflow;
    out.f = PyLong_AsDouble(o);  // -1.0 with OverflowError set beyond the float range
    if (out.f == -1.0 && PyErr_Occurred()) {
      PyErr_Clear();
      out.f = overflow * std::numeric_limits<double>::infinity();
    }
  });
  if (!ran) throw RuntimeError("cannot convert a Python object: the interpreter is finalizing");
  return is_number;
}

Value PythonType<python::PyRef>::to_builtin(const python::PyRef& ref) {
  Value out;
  const bool ran = python::with_gil([&] {
    try {
      out = python::to_builtin(ref.get());
    } catch (...) {
      if (PyErr_Occurred()) PyErr_Clear();
      throw;
    }
  });
  if (!ran) throw RuntimeError("cannot convert a Python object: the interpreter is finalizing");
  return out;
}

}  // namespace localbag::detail
