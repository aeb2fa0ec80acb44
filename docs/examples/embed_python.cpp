// SPDX-License-Identifier: MIT
/// embed-python: a C++ program that embeds Python and shares one per-thread object with the
/// scripts it runs, through the `localbag` Python module (docs/python.md).
///
/// The host defines a class `Config` whose attributes are defaults (`timeout = 30`,
/// `greeting = "hello"`, `retries = 3`) and makes one object of it, shared by every thread, as
/// a program keeps one configuration. Four worker threads each run a small Python script with
/// that object bound to the name `config`. A script overrides some attributes for its own
/// thread (`config.timeout = 5 * worker_id`); C++ code on the same thread then reads back what
/// the script set, and finds its own thread's values only, whatever the other workers set.
///
/// It checks every value it reads and exits with status 1 if one is wrong, so it doubles as a
/// test.
///
/// The rules of the GIL that it follows:
///   - after Py_Initialize the main thread holds the GIL; it releases it (PyEval_SaveThread)
///     while the workers run, or no worker could ever take it;
///   - a worker takes the GIL (PyGILState_Ensure) around its Python code, and releases it after;
///   - C++ code that reads a value Python stored (a Python int read with get<int>) needs no GIL
///     of its own: localbag takes it for the conversion when the thread does not hold it.

// <Python.h> comes before any standard header, as Python's documentation asks: it sets macros
// that change what the standard headers declare.
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <cstdio>
#include <exception>
#include <functional>
#include <latch>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <localbag/localbag.hpp>
#include <localbag/python.hpp>  // to_python, value_from_python

namespace {

using localbag::Args;
using localbag::ClassSpec;
using localbag::LocalObject;
using localbag::Registry;
using localbag::Value;

constexpr int kWorkers = 4;

// The script every worker runs, in a globals dict of its own where `config` is the shared
// object and `worker_id` the worker's number (1 to 4). Its assignments go to the calling
// thread's dict of `config`, exactly as with Python's threading.local: the other workers, and
// the C++ host's main thread, never see them. Even-numbered workers also override the greeting;
// odd-numbered ones keep the class default; `retries` is never overridden. `config.describe()`
// is a C++ method (see define_config): it runs on this thread too, and so sees this thread's
// values.
constexpr const char* kScript = R"(
config.timeout = 5 * worker_id
if worker_id % 2 == 0:
    config.greeting = f"hi from worker {worker_id}"
report = f"{config.describe()}, retries {config.retries}"
)";

// `config.describe()`: a method written in C++, called from the scripts (holding the GIL) on
// their own threads. `timeout` may be a Python int (a script set it) or the C++ default: get<int>
// reads either, by the numeric policy.
Value describe(LocalObject& self, Args) {
  return "timeout " + std::to_string(self.get<int>("timeout")) + ", greeting '" +
         self.get<std::string>("greeting") + "'";
}

// The class of the shared object, in the process-wide registry (Python could make more objects
// of it with `localbag.create("Config")`). Class attributes are the defaults every thread sees
// until it sets its own value.
void define_config() {
  Registry::global().define(ClassSpec("Config")
                                .attr("timeout", 30)
                                .attr("greeting", "hello")
                                .attr("retries", 3)
                                .method("describe", describe));
}

// Python's current error, printed to stderr and cleared. Needs the GIL.
void print_python_error(const char* what) {
  std::fprintf(stderr, "%s:\n", what);
  PyErr_Print();
}

// Puts the directory of the built `localbag` module first on sys.path and imports it; the
// import also registers the module's exit hook, which stops C++ threads from entering Python
// once it is finalizing. False when it fails.
bool import_localbag() {
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
    print_python_error("cannot import localbag");
    return false;
  }
  Py_DECREF(module);
  return true;
}

// What one worker saw, printed by the main thread once all are done, in order.
struct Outcome {
  std::string report;               // what the script made of config.describe() and retries
  int timeout = 0;                  // read back by C++ after the script
  std::string greeting;             // likewise
  int retries = 0;                  // likewise: never overridden, the class default
  bool same_python_object = false;  // to_python gave the object the main thread got
  bool script_ran = false;
};

// A new reference to a Python object, released (Py_XDECREF) when it goes out of scope. Only
// destroyed while the GIL is held: declare it inside a GilScope.
struct DecRef {
  void operator()(PyObject* object) const noexcept { Py_XDECREF(object); }
};
using Owned = std::unique_ptr<PyObject, DecRef>;

// The GIL for a scope. PyGILState_Ensure gives a thread that never ran Python a Python thread
// state and the GIL; the destructor gives them back, also when an exception leaves the scope
// (a worker that kept the GIL would stop every other one).
class GilScope {
 public:
  GilScope() : state_(PyGILState_Ensure()) {}
  ~GilScope() { PyGILState_Release(state_); }
  GilScope(const GilScope&) = delete;
  GilScope& operator=(const GilScope&) = delete;

 private:
  PyGILState_STATE state_;
};

// Runs `kScript` for `worker_id` on the calling thread, holding the GIL only for that. Fills
// `outcome.report` and `same_python_object`; returns false when the script failed.
bool run_script(const LocalObject& config, PyObject* main_python_object, int worker_id,
                Outcome& outcome) {
  const GilScope gil;  // every Python call below needs it; so does localbag::python::to_python
  // The same Python object for the same LocalObject on every thread, while it lives (the main
  // thread keeps it alive): every worker's `config` is one object, as a threading.local is.
  const Owned py_config(localbag::python::to_python(config));
  outcome.same_python_object = py_config.get() == main_python_object;
  const Owned globals(PyDict_New());
  const Owned py_id(PyLong_FromLong(worker_id));
  if (py_config == nullptr || globals == nullptr || py_id == nullptr ||
      PyDict_SetItemString(globals.get(), "__builtins__", PyEval_GetBuiltins()) != 0 ||
      PyDict_SetItemString(globals.get(), "config", py_config.get()) != 0 ||
      PyDict_SetItemString(globals.get(), "worker_id", py_id.get()) != 0) {
    print_python_error("cannot prepare the worker's script");
    return false;
  }
  const Owned result(PyRun_String(kScript, Py_file_input, globals.get(), globals.get()));
  if (result == nullptr) {
    print_python_error("worker script failed");
    return false;
  }
  // `report` is a Python str; localbag's conversion makes it a std::string.
  PyObject* report = PyDict_GetItemString(globals.get(), "report");  // borrowed
  if (report == nullptr) return false;
  outcome.report = localbag::python::value_from_python(report).get<std::string>();
  return true;
}

// One worker: runs its script, waits until every worker has run theirs (so that all four
// overrides exist at the same time), then reads back in C++ what its own script set.
void work(LocalObject config, PyObject* main_python_object, int worker_id, std::latch& scripts_run,
          Outcome& outcome) {
  try {
    outcome.script_ran = run_script(config, main_python_object, worker_id, outcome);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "worker %d: %s\n", worker_id, e.what());
  }
  scripts_run.arrive_and_wait();  // without the GIL: holding it here would stop the others
  try {
    // No GIL held here. `timeout` holds the Python int the script stored; get<int> converts it
    // (localbag takes the GIL for that itself). `greeting` is this thread's override, or the
    // class default for odd-numbered workers; `retries` is always the default.
    outcome.timeout = config.get<int>("timeout");
    outcome.greeting = config.get<std::string>("greeting");
    outcome.retries = config.get<int>("retries");
  } catch (const std::exception& e) {
    std::fprintf(stderr, "worker %d: %s\n", worker_id, e.what());
  }
  // When this thread exits, localbag destroys its dict of `config`, releasing the Python values
  // the script stored: it takes the GIL for that, so the main thread must not hold it while
  // joining.
}

}  // namespace

int main() {
  // Python first: it must be running before anything touches the localbag module.
  Py_Initialize();
  if (!import_localbag()) {
    Py_FinalizeEx();
    return 1;
  }
  int failures = 0;
  {
    define_config();
    // One object for every thread. Its defaults come from the class; no thread has set
    // anything yet.
    const LocalObject config = Registry::global().instantiate("Config");
    // The main thread's Python object for it, kept until the end: while it lives, every
    // to_python(config) gives this same object.
    PyObject* main_python_object = localbag::python::to_python(config);
    if (main_python_object == nullptr) {
      print_python_error("cannot hand the object to Python");
      Py_FinalizeEx();
      return 1;
    }

    std::vector<Outcome> outcomes(kWorkers);
    std::latch scripts_run(kWorkers);
    // Release the GIL while the workers run: each of them takes it in turn.
    PyThreadState* main_state = PyEval_SaveThread();
    {
      std::vector<std::thread> workers;
      for (int id = 1; id <= kWorkers; ++id) {
        workers.emplace_back(work, config, main_python_object, id, std::ref(scripts_run),
                             std::ref(outcomes[id - 1]));
      }
      for (std::thread& worker : workers) worker.join();
    }
    PyEval_RestoreThread(main_state);  // the GIL again, for what is left of Python's work

    // Each worker must have seen its own values, and nobody else's.
    for (int id = 1; id <= kWorkers; ++id) {
      const Outcome& o = outcomes[id - 1];
      const int want_timeout = 5 * id;
      const std::string want_greeting =
          id % 2 == 0 ? "hi from worker " + std::to_string(id) : std::string("hello");
      const std::string want_report = "timeout " + std::to_string(want_timeout) + ", greeting '" +
                                      want_greeting + "', retries 3";
      const bool ok = o.script_ran && o.same_python_object && o.report == want_report &&
                      o.timeout == want_timeout && o.greeting == want_greeting && o.retries == 3;
      if (!ok) ++failures;
      std::printf(
          "worker %d: script saw \"%s\"; C++ read back timeout %d, greeting '%s', "
          "retries %d: %s\n",
          id, o.report.c_str(), o.timeout, o.greeting.c_str(), o.retries,
          ok ? "its own values" : "WRONG");
    }
    // The main thread set nothing: it still sees the class defaults.
    const int main_timeout = config.get<int>("timeout");
    const std::string main_greeting = config.get<std::string>("greeting");
    const bool main_ok = main_timeout == 30 && main_greeting == "hello";
    if (!main_ok) ++failures;
    std::printf("main: timeout %d, greeting '%s': %s\n", main_timeout, main_greeting.c_str(),
                main_ok ? "the class defaults" : "WRONG");
    Py_DECREF(main_python_object);
  }
  if (Py_FinalizeEx() < 0) ++failures;
  if (failures != 0) {
    std::printf("embed-python: %d check(s) failed\n", failures);
    return 1;
  }
  std::printf("embed-python: %d workers, each saw only its own overrides\n", kWorkers);
  return 0;
}
