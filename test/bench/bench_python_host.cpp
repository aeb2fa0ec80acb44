// SPDX-License-Identifier: MIT
// localbag-bench-python: what a C++ host that embeds CPython pays to cross into Python and read
// one attribute of an object it shares with its scripts (docs/python.md), next to a plain C++
// read (no Python) and to the same read on CPython's own threading.local. A host that keeps
// per-thread state in a `localbag.local` reaches it from C++ with get<T> and from Python with
// attribute access; these cases say what each way costs, and how much of it is the GIL
// (PyGILState_Ensure/Release) rather than the read itself.
//
// Every case runs on the main thread, which holds the GIL between cases (after Py_Initialize);
// the cases that need a thread without the GIL release it (PyEval_SaveThread) for their run
// and take it back after. The main thread keeps its Python thread state throughout, so the
// crossing measured is PyGILState_Ensure/Release on a thread that has one: a C++ thread that
// never ran Python gets a new thread state from every outermost Ensure (and loses it at the
// Release), which costs more. Single-threaded, compared on CPU time as localbag-bench's loops.

// <Python.h> comes before any standard header, as Python's documentation asks.
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <benchmark/benchmark.h>

#include <cstdio>
#include <exception>

#include <localbag/localbag.hpp>
#include <localbag/python.hpp>  // to_python

namespace {

using localbag::LocalObject;

// What the cases share, made in main() with the GIL held, before any case runs.
struct Fixture {
  LocalObject obj;                      // this thread's dict: n (C++ int 42), m (Python int 42)
  PyObject* wrapper = nullptr;          // to_python(obj): the same object Python's code sees
  PyObject* threading_local = nullptr;  // a CPython threading.local() with n = 42
  PyObject* name_n = nullptr;           // the interned str "n"
};
Fixture* fixture = nullptr;

// The GIL released for one run of a case: the state of a host's own C++ thread between two
// crossings into Python. The destructor takes it back, so every case starts and ends with the
// main thread holding it.
class GilReleased {
 public:
  GilReleased() : saved_(PyEval_SaveThread()) {}
  ~GilReleased() { PyEval_RestoreThread(saved_); }
  GilReleased(const GilReleased&) = delete;
  GilReleased& operator=(const GilReleased&) = delete;

 private:
  PyThreadState* saved_;
};

// Python's current error, printed and cleared (the caller holds the GIL).
void print_python_error(const char* what) {
  std::fprintf(stderr, "%s:\n", what);
  PyErr_Print();
}

// ---- C++ reads ----

// Baseline: get<int> of an int C++ stored, on a LocalObject: no Python involved.
void BM_host_cpp_get_int(benchmark::State& state) {
  const LocalObject& obj = fixture->obj;
  for (auto _ : state) {
    int v = obj.get<int>("n");
    benchmark::DoNotOptimize(v);
  }
}
BENCHMARK(BM_host_cpp_get_int);

// get<int> of a Python int stored from Python, by a thread holding the GIL: the conversion
// (the numeric policy reading the PyLong) needs the GIL, and finds it held (a check only).
void BM_host_cpp_get_python_int_gil_held(benchmark::State& state) {
  const LocalObject& obj = fixture->obj;
  for (auto _ : state) {
    int v = obj.get<int>("m");
    benchmark::DoNotOptimize(v);
  }
}
BENCHMARK(BM_host_cpp_get_python_int_gil_held);

// The same from a thread without the GIL: each conversion takes it (PyGILState_Ensure) and
// gives it back.
void BM_host_cpp_get_python_int_no_gil(benchmark::State& state) {
  const LocalObject& obj = fixture->obj;
  const GilReleased released;
  for (auto _ : state) {
    int v = obj.get<int>("m");
    benchmark::DoNotOptimize(v);
  }
}
BENCHMARK(BM_host_cpp_get_python_int_no_gil);

// ---- Python reads from C++ (the C API) ----

// `wrapper.n` through the C API with the GIL held: the binding's getattr, the C++ int made a
// Python int (42, one of CPython's cached small ints), and the reference dropped.
void BM_host_python_getattr_gil_held(benchmark::State& state) {
  PyObject* const wrapper = fixture->wrapper;
  PyObject* const name = fixture->name_n;
  for (auto _ : state) {
    PyObject* v = PyObject_GetAttr(wrapper, name);
    benchmark::DoNotOptimize(v);
    Py_DECREF(v);
  }
}
BENCHMARK(BM_host_python_getattr_gil_held);

// The whole crossing from a thread without the GIL: take it, read `wrapper.n`, drop the
// reference, give the GIL back.
void BM_host_cross_and_getattr(benchmark::State& state) {
  PyObject* const wrapper = fixture->wrapper;
  PyObject* const name = fixture->name_n;
  const GilReleased released;
  for (auto _ : state) {
    const PyGILState_STATE gil = PyGILState_Ensure();
    PyObject* v = PyObject_GetAttr(wrapper, name);
    benchmark::DoNotOptimize(v);
    Py_DECREF(v);
    PyGILState_Release(gil);
  }
}
BENCHMARK(BM_host_cross_and_getattr);

// The crossing alone: PyGILState_Ensure + PyGILState_Release from a thread without the GIL,
// to separate its cost from the read's.
void BM_host_cross_only(benchmark::State& state) {
  const GilReleased released;
  for (auto _ : state) {
    PyGILState_STATE gil = PyGILState_Ensure();
    benchmark::DoNotOptimize(gil);
    PyGILState_Release(gil);
  }
}
BENCHMARK(BM_host_cross_only);

// The same read as BM_host_python_getattr_gil_held on CPython's own threading.local (the
// stored 42 handed back with a new reference): what the binding's getattr is measured against.
void BM_host_threading_local_getattr_gil_held(benchmark::State& state) {
  PyObject* const local = fixture->threading_local;
  PyObject* const name = fixture->name_n;
  for (auto _ : state) {
    PyObject* v = PyObject_GetAttr(local, name);
    benchmark::DoNotOptimize(v);
    Py_DECREF(v);
  }
}
BENCHMARK(BM_host_threading_local_getattr_gil_held);

// ---- Setup ----

// Puts the built module's directory first on sys.path, imports localbag, and fills `f`: `n`
// stored from C++ on obj, `m` stored by Python code on its wrapper, and a threading.local with
// `n`. Checks that every case's read works (so the loops need not), and that `m` is held as a
// Python object (what get<int> converts), not a C++ int. Needs the GIL.
bool set_up(Fixture& f) {
  PyObject* path = PySys_GetObject("path");  // borrowed
  PyObject* dir = PyUnicode_FromString(LOCALBAG_PYTHON_MODULE_DIR);
  const bool added = path != nullptr && dir != nullptr && PyList_Insert(path, 0, dir) == 0;
  Py_XDECREF(dir);
  if (!added) {
    print_python_error("cannot extend sys.path");
    return false;
  }
  PyObject* module = PyImport_ImportModule("localbag");
  if (module == nullptr) {
    print_python_error("cannot import localbag from " LOCALBAG_PYTHON_MODULE_DIR);
    return false;
  }
  Py_DECREF(module);

  f.obj.setattr("n", 42);
  f.wrapper = localbag::python::to_python(f.obj);
  f.name_n = PyUnicode_InternFromString("n");
  PyObject* globals = PyDict_New();
  bool ok = f.wrapper != nullptr && f.name_n != nullptr && globals != nullptr &&
            PyDict_SetItemString(globals, "__builtins__", PyEval_GetBuiltins()) == 0 &&
            PyDict_SetItemString(globals, "obj", f.wrapper) == 0;
  if (ok) {
    PyObject* result = PyRun_String(
        "import threading\n"
        "obj.m = 42\n"
        "tl = threading.local()\n"
        "tl.n = 42\n",
        Py_file_input, globals, globals);
    ok = result != nullptr;
    Py_XDECREF(result);
  }
  if (ok) {
    f.threading_local = PyDict_GetItemString(globals, "tl");  // borrowed
    Py_XINCREF(f.threading_local);
    ok = f.threading_local != nullptr;
  }
  Py_XDECREF(globals);
  if (!ok) {
    print_python_error("cannot set up the objects");
    return false;
  }
  for (PyObject* object : {f.wrapper, f.threading_local}) {
    PyObject* v = PyObject_GetAttr(object, f.name_n);
    const long n = v != nullptr ? PyLong_AsLong(v) : -1;
    Py_XDECREF(v);
    if (n != 42) {
      print_python_error("reading n did not give 42");
      return false;
    }
  }
  if (f.obj.get<int>("n") != 42 || f.obj.get<int>("m") != 42 || f.obj.try_get<int>("m")) {
    std::fprintf(stderr, "n or m does not read as expected from C++\n");
    return false;
  }
  return true;
}

// Drops the fixture's Python references and the LocalObject (its Python values released here,
// with the GIL held, not at thread exit after finalization).
void tear_down(Fixture*& f) {
  Py_XDECREF(f->wrapper);
  Py_XDECREF(f->threading_local);
  Py_XDECREF(f->name_n);
  delete f;
  f = nullptr;
}

}  // namespace

int main(int argc, char** argv) {
  Py_Initialize();  // the main thread now holds the GIL, as every case expects between runs
  fixture = new Fixture;
  bool ok = false;
  try {
    ok = set_up(*fixture);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "setup: %s\n", e.what());
  }
  if (ok) {
    benchmark::Initialize(&argc, argv);
    if (benchmark::ReportUnrecognizedArguments(argc, argv)) {
      ok = false;
    } else {
      benchmark::RunSpecifiedBenchmarks();
      benchmark::Shutdown();
    }
  }
  tear_down(fixture);
  if (Py_FinalizeEx() < 0) ok = false;
  return ok ? 0 : 1;
}
