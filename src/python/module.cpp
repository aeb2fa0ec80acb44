// SPDX-License-Identifier: MIT
// The `localbag` extension module: `localbag.local`, a drop-in for `threading.local` whose
// per-thread dicts are localbag's own, so a C++ host and its Python scripts share them
// (docs/python.md). Written on CPython's C API, as CPython's `_thread._local` is.

#include <pthread.h>

#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "interop.hpp"
#include "localbag/python.hpp"

namespace localbag::python {
namespace {

// ---- Types ----

// A `localbag.local` object: a handle of the LocalObject, the weak reference list, and the
// per-thread `__dict__` views, made on the first read of `__dict__`.
struct LocalPy {
  PyObject ob_base;    // PyObject_HEAD
  LocalObject object;  // constructed when `live`
  bool live;
  PyObject* weakreflist;
  LocalObject* dict_views;
};

// The base of `localbag.local.__dict__`'s type: a handle of the object whose current-thread
// dict it shows.
struct DictViewPy {
  PyObject ob_base;  // PyObject_HEAD
  LocalObject object;
};

// A method of a C++ class, bound to an object.
struct MethodPy {
  PyObject ob_base;  // PyObject_HEAD
  LocalObject object;
  std::string name;
};

// An opaque C++ value seen from Python.
struct ValuePy {
  PyObject ob_base;  // PyObject_HEAD
  Value value;
};

// The deferred text of an AttributeError ("'X' object has no attribute 'y'"): formatted only if
// someone reads it, so that `getattr(obj, "missing", None)` does not format a message to throw
// it away.
struct MissingPy {
  PyObject ob_base;     // PyObject_HEAD
  PyObject* type_name;  // str
  PyObject* name;       // str
  PyObject* text;       // formatted on first use
};

// Ends the thread's localbag state when its Python thread state goes (stored in the thread
// state's dict): see hook_thread.
struct ThreadEndPy {
  PyObject ob_base;  // PyObject_HEAD
  pthread_t owner;
};

extern PyTypeObject LocalType;
extern PyTypeObject DictViewBaseType;
extern PyTypeObject MethodType;
extern PyTypeObject ValueType;
extern PyTypeObject MissingType;
extern PyTypeObject ThreadEndType;
PyTypeObject* dict_view_type =
    nullptr;  // the Python class deriving DictViewBase and MutableMapping

// The live Python objects of LocalObjects, by LocalObject::id(): a LocalObject handed to Python
// twice is the same Python object. Guarded by the GIL.
std::unordered_map<std::uintptr_t, LocalPy*>& wrappers() {
  static auto* map = new std::unordered_map<std::uintptr_t, LocalPy*>;
  return *map;
}

// The Python type of each C++ class made for a Python subclass of `local`, to give a
// LocalObject that comes back from C++ after its Python object died a new one of its type.
// Guarded by the GIL.
std::unordered_map<const Class*, PyTypeObject*>& python_types() {
  static auto* map = new std::unordered_map<const Class*, PyTypeObject*>;
  return *map;
}

thread_local bool t_skip_init = false;  // tp_new constructing: type.__call__ runs __init__
thread_local bool t_hooked = false;     // hook_thread ran on this thread

bool is_local(PyObject* o) { return PyObject_TypeCheck(o, &LocalType); }
LocalPy* as_local(PyObject* o) { return reinterpret_cast<LocalPy*>(o); }

// ---- Errors ----

// The name Python errors use for the object's type: the Python type's, or the C++ class's for
// an object of a C++ class seen as `localbag.local`.
const char* type_name_of(LocalPy* self) {
  if (Py_IS_TYPE(reinterpret_cast<PyObject*>(self), &LocalType) && self->object.type() &&
      self->object.type() != Class::local()) {
    return self->object.type()->name().c_str();
  }
  return Py_TYPE(self)->tp_name;
}

PyObject* raise_missing(LocalPy* self, PyObject* name) {
  auto* m = PyObject_New(MissingPy, &MissingType);
  if (m == nullptr) return nullptr;
  // The type's name as a str: the heap type's own (no allocation), else made from its text.
  PyTypeObject* tp = Py_TYPE(self);
  if (PyType_HasFeature(tp, Py_TPFLAGS_HEAPTYPE)) {
    m->type_name = Py_NewRef(reinterpret_cast<PyHeapTypeObject*>(tp)->ht_name);
  } else if (tp == &LocalType && self->object.type() == Class::local()) {
    static PyObject* const local_name = PyUnicode_InternFromString("localbag.local");
    m->type_name = Py_XNewRef(local_name);
  } else {
    m->type_name = PyUnicode_FromString(type_name_of(self));
  }
  if (m->type_name == nullptr) {
    Py_DECREF(m);
    return nullptr;
  }
  m->name = Py_NewRef(name);
  m->text = nullptr;
  PyErr_SetObject(PyExc_AttributeError, reinterpret_cast<PyObject*>(m));
  Py_DECREF(m);
  return nullptr;
}

PyObject* missing_text(MissingPy* m) {
  if (m->text == nullptr) {
    m->text = PyUnicode_FromFormat("'%U' object has no attribute '%U'", m->type_name, m->name);
  }
  return m->text;
}

PyObject* missing_str(PyObject* self) {
  return Py_XNewRef(missing_text(reinterpret_cast<MissingPy*>(self)));
}

PyObject* missing_repr(PyObject* self) {
  PyObject* text = missing_text(reinterpret_cast<MissingPy*>(self));
  return text != nullptr ? PyObject_Repr(text) : nullptr;
}

PyObject* missing_richcompare(PyObject* self, PyObject* other, int op) {
  PyObject* text = missing_text(reinterpret_cast<MissingPy*>(self));
  if (text == nullptr) return nullptr;
  if (PyObject_TypeCheck(other, &MissingType)) {
    other = missing_text(reinterpret_cast<MissingPy*>(other));
    if (other == nullptr) return nullptr;
  }
  return PyObject_RichCompare(text, other, op);
}

Py_hash_t missing_hash(PyObject* self) {
  PyObject* text = missing_text(reinterpret_cast<MissingPy*>(self));
  return text != nullptr ? PyObject_Hash(text) : -1;
}

void missing_dealloc(PyObject* self) {
  auto* m = reinterpret_cast<MissingPy*>(self);
  Py_XDECREF(m->type_name);
  Py_XDECREF(m->name);
  Py_XDECREF(m->text);
  PyObject_Free(self);
}

// ---- The thread's end ----
// CPython's `_thread._local` drops a thread's values when the thread's Python state is cleared,
// before `Thread.join()` returns. localbag's own cleanup runs at the OS thread's exit, a little
// later: for a thread started by `threading` (other than the main thread), an object in its
// Python thread state's dict ends the thread's localbag state when the dict is cleared. Threads
// that Python did not start (a C++ host's, which may take and drop Python thread states many
// times) keep their state until they exit.

void thread_end_dealloc(PyObject* self) {
  auto* t = reinterpret_cast<ThreadEndPy*>(self);
  if (pthread_equal(t->owner, pthread_self()) != 0) {
    t_hooked = false;
    release_this_thread();
  }
  PyObject_Free(self);
}

// Installs the thread-end object when the calling thread was started by `threading` and is not
// the main thread. Clears any error it meets: the hook is an optimisation of timing only.
void hook_thread_now() {
  t_hooked = true;
  PyObject* name = PyUnicode_FromString("threading");
  if (name == nullptr) {
    PyErr_Clear();
    return;
  }
  PyObject* threading = PyImport_GetModule(name);
  Py_DECREF(name);
  if (threading == nullptr) {
    PyErr_Clear();
    return;
  }
  bool started_by_python = false;
  PyObject* active = PyObject_GetAttrString(threading, "_active");
  PyObject* main_thread = PyObject_CallMethod(threading, "main_thread", nullptr);
  PyObject* dummy = PyObject_GetAttrString(threading, "_DummyThread");
  PyObject* ident = PyLong_FromUnsignedLong(PyThread_get_thread_ident());
  if (active != nullptr && main_thread != nullptr && dummy != nullptr && ident != nullptr &&
      PyDict_Check(active)) {
    PyObject* thread = PyDict_GetItemWithError(active, ident);  // borrowed
    if (thread != nullptr && thread != main_thread) {
      const int is_dummy = PyObject_IsInstance(thread, dummy);
      started_by_python = is_dummy == 0;
    }
  }
  Py_XDECREF(active);
  Py_XDECREF(main_thread);
  Py_XDECREF(dummy);
  Py_XDECREF(ident);
  Py_DECREF(threading);
  PyErr_Clear();
  if (!started_by_python) return;
  PyObject* tdict = PyThreadState_GetDict();
  if (tdict == nullptr) return;
  auto* end = PyObject_New(ThreadEndPy, &ThreadEndType);
  if (end == nullptr) {
    PyErr_Clear();
    return;
  }
  end->owner = pthread_self();
  if (PyDict_SetItemString(tdict, "localbag.thread_end", reinterpret_cast<PyObject*>(end)) != 0) {
    PyErr_Clear();
  }
  Py_DECREF(end);
}

inline void ensure_hooked() {
  if (!t_hooked) hook_thread_now();
}

// ---- Wrapping ----

PyObject* wrap(const LocalObject& object) {
  if (auto it = wrappers().find(object.id()); it != wrappers().end()) {
    return Py_NewRef(reinterpret_cast<PyObject*>(it->second));
  }
  PyTypeObject* type = &LocalType;
  if (auto it = python_types().find(object.type().get()); it != python_types().end()) {
    type = it->second;
  }
  PyObject* self = type->tp_alloc(type, 0);
  if (self == nullptr) return nullptr;
  LocalPy* s = as_local(self);
  ::new (&s->object) LocalObject(object);
  s->live = true;
  s->weakreflist = nullptr;
  s->dict_views = nullptr;
  try {
    wrappers().emplace(object.id(), s);
  } catch (...) {
    Py_DECREF(self);
    return PyErr_NoMemory();
  }
  return self;
}

int unwrap(PyObject* object, LocalObject* out) {
  if (!is_local(object)) {
    PyErr_Format(PyExc_TypeError, "expected a localbag.local object, got '%.200s'",
                 Py_TYPE(object)->tp_name);
    return -1;
  }
  *out = as_local(object)->object;
  return 0;
}

// ---- Conversions ----

PyObject* decode_str(const std::string& s) {
  return PyUnicode_DecodeUTF8(s.data(), static_cast<Py_ssize_t>(s.size()), "surrogateescape");
}

PyObject* opaque(const Value& value) {
  if (!value.copyable()) {
    PyErr_Format(PyExc_TypeError, "cannot copy '%s' object", value.type_name().c_str());
    return nullptr;
  }
  auto* v = PyObject_New(ValuePy, &ValueType);
  if (v == nullptr) return nullptr;
  try {
    ::new (&v->value) Value(value);
  } catch (...) {
    ::new (&v->value) Value();
    Py_DECREF(v);
    set_error_from_exception();
    return nullptr;
  }
  return reinterpret_cast<PyObject*>(v);
}

}  // namespace

PyObject* dict_to_python(const Dict& d) {
  PyObject* out = PyDict_New();
  if (out == nullptr) return nullptr;
  for (const auto& item : d) {
    PyObject* k = decode_str(item.key);
    PyObject* v = k != nullptr ? to_python(item.value) : nullptr;
    if (v == nullptr || PyDict_SetItem(out, k, v) != 0) {
      Py_XDECREF(k);
      Py_XDECREF(v);
      Py_DECREF(out);
      return nullptr;
    }
    Py_DECREF(k);
    Py_DECREF(v);
  }
  return out;
}

PyObject* to_python(const Value& value) {
  if (value.is_none()) Py_RETURN_NONE;
  if (const PyRef* r = value.try_get<PyRef>()) return Py_NewRef(r->get());
  if (const bool* b = value.try_get<bool>()) return PyBool_FromLong(*b ? 1 : 0);
  const localbag::detail::ValueOps* ops = localbag::detail::ValueAccess::ops(value);
  if (ops->number != nullptr) {
    localbag::detail::Number n;
    if (ops->number(localbag::detail::ValueAccess::object(value), n)) switch (n.kind) {
        case localbag::detail::Number::Kind::kSigned:
          return PyLong_FromLongLong(n.i);
        case localbag::detail::Number::Kind::kUnsigned:
          return PyLong_FromUnsignedLongLong(n.u);
        case localbag::detail::Number::Kind::kFloat:
          return PyFloat_FromDouble(n.f);
        case localbag::detail::Number::Kind::kWide:  // only a Python int is that wide
          break;
      }
  }
  if (const std::string* s = value.try_get<std::string>()) return decode_str(*s);
  if (const Bytes* b = value.try_get<Bytes>()) {
    return PyBytes_FromStringAndSize(b->data.data(), static_cast<Py_ssize_t>(b->data.size()));
  }
  if (const List* l = value.try_get<List>()) {
    PyObject* out = PyList_New(static_cast<Py_ssize_t>(l->size()));
    if (out == nullptr) return nullptr;
    for (std::size_t i = 0; i < l->size(); ++i) {
      PyObject* item = to_python((*l)[i]);
      if (item == nullptr) {
        Py_DECREF(out);
        return nullptr;
      }
      PyList_SET_ITEM(out, static_cast<Py_ssize_t>(i), item);
    }
    return out;
  }
  if (const Tuple* t = value.try_get<Tuple>()) {
    PyObject* out = PyTuple_New(static_cast<Py_ssize_t>(t->items.size()));
    if (out == nullptr) return nullptr;
    for (std::size_t i = 0; i < t->items.size(); ++i) {
      PyObject* item = to_python(t->items[i]);
      if (item == nullptr) {
        Py_DECREF(out);
        return nullptr;
      }
      PyTuple_SET_ITEM(out, static_cast<Py_ssize_t>(i), item);
    }
    return out;
  }
  if (const Dict* d = value.try_get<Dict>()) return dict_to_python(*d);
  if (const LocalObject* o = value.try_get<LocalObject>()) return wrap(*o);
  return opaque(value);
}

Value to_builtin(PyObject* o) {
  if (o == Py_None) return Value();
  if (PyBool_Check(o)) return Value(o == Py_True);
  if (PyLong_Check(o)) {
    int overflow = 0;
    const long long v = PyLong_AsLongLongAndOverflow(o, &overflow);
    if (overflow == 0) {
      if (v == -1 && PyErr_Occurred()) throw PythonException::fetch();
      return Value(static_cast<std::int64_t>(v));
    }
    if (overflow > 0) {
      const unsigned long long u = PyLong_AsUnsignedLongLong(o);
      if (!(u == static_cast<unsigned long long>(-1) && PyErr_Occurred())) {
        return Value(static_cast<std::uint64_t>(u));
      }
      PyErr_Clear();
    }
    // Beyond 64 bits: stays a Python int, which the numeric policy reads as a number too wide
    // for any C++ integer (OverflowError naming the type asked for).
    Py_INCREF(o);
    return Value(PyRef(o));
  }
  if (PyFloat_Check(o)) return Value(PyFloat_AS_DOUBLE(o));
  if (PyUnicode_Check(o)) {
    PyObject* bytes = PyUnicode_AsEncodedString(o, "utf-8", "surrogateescape");
    if (bytes == nullptr) throw PythonException::fetch();
    std::string s(PyBytes_AS_STRING(bytes), static_cast<std::size_t>(PyBytes_GET_SIZE(bytes)));
    Py_DECREF(bytes);
    return Value(std::move(s));
  }
  if (PyBytes_Check(o)) {
    return Value(
        Bytes{std::string(PyBytes_AS_STRING(o), static_cast<std::size_t>(PyBytes_GET_SIZE(o)))});
  }
  if (is_local(o)) return Value(as_local(o)->object);
  if (PyObject_TypeCheck(o, &ValueType)) return reinterpret_cast<ValuePy*>(o)->value;
  const bool list = PyList_Check(o);
  const bool tuple = PyTuple_Check(o);
  const bool dict = PyDict_Check(o);
  if (list || tuple || dict) {
    if (Py_EnterRecursiveCall(" while converting a Python object for localbag") != 0) {
      // (str() of the RecursionError would fail too, this deep: word it here.) Python's
      // RecursionError is a RuntimeError.
      PyErr_Clear();
      throw RuntimeError(
          "maximum recursion depth exceeded while converting a Python object for localbag");
    }
    struct Leave {
      ~Leave() { Py_LeaveRecursiveCall(); }
    } leave;
    if (dict) {
      Dict out;
      PyObject *k = nullptr, *v = nullptr;
      Py_ssize_t pos = 0;
      while (PyDict_Next(o, &pos, &k, &v)) {
        if (!PyUnicode_Check(k)) {
          Py_INCREF(o);
          return Value(PyRef(o));  // not str keys: stays a Python dict
        }
        Py_ssize_t size = 0;
        const char* text = PyUnicode_AsUTF8AndSize(k, &size);
        if (text == nullptr) throw PythonException::fetch();
        out.set(std::string_view(text, static_cast<std::size_t>(size)), to_builtin(v));
      }
      return Value(std::move(out));
    }
    std::vector<Value> items;
    const Py_ssize_t n = list ? PyList_GET_SIZE(o) : PyTuple_GET_SIZE(o);
    items.reserve(static_cast<std::size_t>(n));
    for (Py_ssize_t i = 0; i < n; ++i) {
      // A list may change while converting its items (a conversion runs no Python code, but be
      // safe): index it afresh each time.
      if (list && i >= PyList_GET_SIZE(o)) break;
      items.push_back(to_builtin(list ? PyList_GET_ITEM(o, i) : PyTuple_GET_ITEM(o, i)));
    }
    if (list) return Value(List(std::move(items)));
    return Value(Tuple{std::move(items)});
  }
  Py_INCREF(o);
  return Value(PyRef(o));
}

namespace {

// A value read from Python: the object itself for a PyRef, else converted.
inline PyObject* value_out(const Value& v) {
  if (const PyRef* r = v.try_get<PyRef>()) return Py_NewRef(r->get());
  return to_python(v);
}

PyObject* value_from_python_api_wrap(const Value& v) { return to_python(v); }
Value value_from_python_api(PyObject* o) { return to_builtin(o); }

// ---- Classes for Python subclasses ----
// Each Python subclass of `local` gets a C++ class of its name (C++ errors then name it as
// Python does), made on its first instantiation and kept in the type's dict. Its init runs the
// Python __init__ on a thread's (or context's) first access, with the constructor's original
// arguments, which the object keeps as [type, args, kwargs].

void run_python_init(LocalObject& self, Args args, const Dict&) {
  if (t_skip_init) {  // the constructing thread: type.__call__ runs __init__ itself
    t_skip_init = false;
    return;
  }
  const bool ran = with_gil([&] {
    PyObject* type = args[0].get<PyRef>().get();
    PyObject* pargs = args[1].get<PyRef>().get();
    PyObject* kwargs = args[2].get<PyRef>().get();
    auto* tp = reinterpret_cast<PyTypeObject*>(type);
    if (tp->tp_init == PyBaseObject_Type.tp_init) return;
    PyObject* wrapper = wrap(self);
    if (wrapper == nullptr) throw PythonException::fetch();
    const int rc = Py_TYPE(wrapper)->tp_init(wrapper, pargs, kwargs == Py_None ? nullptr : kwargs);
    Py_DECREF(wrapper);
    if (rc < 0) throw PythonException::fetch();
  });
  if (!ran) throw RuntimeError("cannot run __init__: the Python interpreter is finalizing");
}

void release_class(PyObject* capsule) {
  auto* cls = static_cast<ClassRef*>(PyCapsule_GetPointer(capsule, "localbag.class"));
  if (cls == nullptr) {
    PyErr_Clear();
    return;
  }
  python_types().erase(cls->get());
  delete cls;
}

// The C++ class for a Python subclass of `local` (borrowed from the type's dict).
const ClassRef* class_for(PyTypeObject* type) {
  static PyObject* key = PyUnicode_InternFromString("__localbag_class__");
  PyObject* dict = type->tp_dict;
  if (PyObject* found = PyDict_GetItemWithError(dict, key)) {
    return static_cast<ClassRef*>(PyCapsule_GetPointer(found, "localbag.class"));
  }
  if (PyErr_Occurred()) return nullptr;
  try {
    const char* dot = std::strrchr(type->tp_name, '.');
    ClassSpec spec(dot != nullptr ? dot + 1 : type->tp_name);
    spec.base(Class::local()).init(&run_python_init);
    Registry scratch;  // a class of this name may exist in any number of Python modules
    auto* cls = new ClassRef(scratch.define(std::move(spec)));
    PyObject* capsule = PyCapsule_New(cls, "localbag.class", &release_class);
    if (capsule == nullptr) {
      delete cls;
      return nullptr;
    }
    python_types()[cls->get()] = type;
    const int rc = PyDict_SetItem(dict, key, capsule);
    Py_DECREF(capsule);
    if (rc != 0) return nullptr;
    PyType_Modified(type);
    return cls;
  } catch (...) {
    set_error_from_exception();
    return nullptr;
  }
}

// ---- localbag.local ----

PyObject* local_new(PyTypeObject* type, PyObject* args, PyObject* kwargs) {
  const bool has_args = (args != nullptr && PyTuple_GET_SIZE(args) > 0) ||
                        (kwargs != nullptr && PyDict_GET_SIZE(kwargs) > 0);
  if (has_args && type->tp_init == PyBaseObject_Type.tp_init) {
    PyErr_SetString(PyExc_TypeError, "Initialization arguments are not supported");
    return nullptr;
  }
  ensure_hooked();
  const ClassRef* cls = &Class::local();
  if (type != &LocalType) {
    cls = class_for(type);
    if (cls == nullptr) return nullptr;
  }
  PyObject* self = type->tp_alloc(type, 0);
  if (self == nullptr) return nullptr;
  LocalPy* s = as_local(self);
  s->live = false;
  s->weakreflist = nullptr;
  s->dict_views = nullptr;
  try {
    std::vector<Value> stored_args;
    if (type != &LocalType) {
      // type.__call__ always passes a tuple; kwargs is NULL without keywords.
      stored_args.reserve(3);
      stored_args.push_back(stored(reinterpret_cast<PyObject*>(type)));
      stored_args.push_back(stored(args));
      stored_args.push_back(stored(kwargs != nullptr ? kwargs : Py_None));
      t_skip_init = true;
    }
    ::new (&s->object) LocalObject(*cls, std::move(stored_args));
    s->live = true;
    t_skip_init = false;
    wrappers().emplace(s->object.id(), s);
  } catch (...) {
    t_skip_init = false;
    set_error_from_exception();
    Py_DECREF(self);
    return nullptr;
  }
  return self;
}

void local_dealloc(PyObject* self) {
  LocalPy* s = as_local(self);
  PyObject_GC_UnTrack(self);
  if (s->weakreflist != nullptr) PyObject_ClearWeakRefs(self);
  if (!s->live) {
    Py_TYPE(self)->tp_free(self);
    return;
  }
  if (auto it = wrappers().find(s->object.id()); it != wrappers().end() && it->second == s) {
    wrappers().erase(it);
  }
  {
    // The views first (they hold handles of the object), then the object: its death destroys
    // its dicts in every context, releasing the Python values they hold.
    std::unique_ptr<LocalObject> views(s->dict_views);
    s->dict_views = nullptr;
    views.reset();
    LocalObject object(std::move(s->object));
    s->object.~LocalObject();
  }
  Py_TYPE(self)->tp_free(self);
}

// The garbage collector sees the Python values in the calling thread's dict (the thread that
// collects): a cycle through it is found and broken. Values in other threads' dicts are not
// visited (those dicts change without the GIL when C++ writes them); they go when their
// threads end, or with the object.
int local_traverse(PyObject* self, visitproc visit, void* arg) {
  LocalPy* s = as_local(self);
  // Not Py_TYPE(self): this type is static, and a Python subclass's traverse (subtype_traverse)
  // visits its heap type before calling this one.
  if (!s->live) return 0;
  if (Dict* d = s->object.peek_dict()) {
    for (const auto& item : *d) {
      if (const PyRef* r = item.value.try_get<PyRef>()) Py_VISIT(r->get());
    }
  }
  return 0;
}

int local_clear(PyObject* self) {
  LocalPy* s = as_local(self);
  if (!s->live) return 0;
  if (Dict* d = s->object.peek_dict()) {
    Dict old(std::move(*d));  // the values die after the dict is empty
  }
  return 0;
}

// This thread's dict, running init on the first access; nullptr with an error set. The thread
// hook is installed on a thread's first access to an object from Python, not on every access.
[[gnu::noinline]] Dict* thread_dict_slow(LocalPy* s) {
  ensure_hooked();
  try {
    return &s->object.dict();
  } catch (...) {
    set_error_from_exception();
    return nullptr;
  }
}

inline Dict* thread_dict(LocalPy* s) {
  if (Dict* d = s->object.peek_dict()) return d;
  return thread_dict_slow(s);
}

// An attribute name's UTF-8 text: read in place for the common case (an ASCII str, what
// identifiers in code are), else through PyUnicode_AsUTF8AndSize. false with an error set for a
// name that is not a str.
[[gnu::noinline]] bool name_text_slow(PyObject* name, std::string_view& out) {
  if (!PyUnicode_Check(name)) {
    PyErr_Format(PyExc_TypeError, "attribute name must be string, not '%.200s'",
                 Py_TYPE(name)->tp_name);
    return false;
  }
  Py_ssize_t size = 0;
  const char* text = PyUnicode_AsUTF8AndSize(name, &size);
  if (text == nullptr) return false;
  out = std::string_view(text, static_cast<std::size_t>(size));
  return true;
}

inline bool name_text(PyObject* name, std::string_view& out) {
  if (PyUnicode_CheckExact(name) && PyUnicode_IS_COMPACT_ASCII(name)) {
    out = std::string_view(static_cast<const char*>(PyUnicode_DATA(name)),
                           static_cast<std::size_t>(PyUnicode_GET_LENGTH(name)));
    return true;
  }
  return name_text_slow(name, out);
}

inline bool is_dunder_dict(std::string_view name) { return name == "__dict__"; }

PyObject* dict_view(LocalPy* s);

PyObject* bound_method(LocalPy* s, std::string_view name) {
  auto* m = PyObject_New(MethodPy, &MethodType);
  if (m == nullptr) return nullptr;
  ::new (&m->object) LocalObject(s->object);
  try {
    ::new (&m->name) std::string(name);
  } catch (...) {
    ::new (&m->name) std::string();
    Py_DECREF(m);
    return PyErr_NoMemory();
  }
  return reinterpret_cast<PyObject*>(m);
}

// What the C++ class offers (its attributes and methods, and slots): for an object of a C++
// class; nullptr without error when it has no such attribute.
PyObject* class_attribute(LocalPy* s, std::string_view name) {
  const ClassRef& cls = s->object.type();
  if (!cls || cls == Class::local() || python_types().count(cls.get()) != 0) return nullptr;
  try {
    if (!s->object.hasattr(name)) return nullptr;
    Value v = s->object.getattr(name);
    if (v.holds<Function>()) return bound_method(s, name);
    return value_out(v);
  } catch (...) {
    set_error_from_exception();
    return nullptr;
  }
}

PyObject* local_getattro(PyObject* self, PyObject* name) {
  std::string_view sv;
  if (!name_text(name, sv)) return nullptr;
  LocalPy* s = as_local(self);
  Dict* d = thread_dict(s);
  if (d == nullptr) return nullptr;
  if (is_dunder_dict(sv)) return dict_view(s);
  PyTypeObject* tp = Py_TYPE(self);
  if (tp == &LocalType) {
    // As CPython's `_thread._local` does for its own type: the dict first.
    if (const Value* v = d->find(sv)) return value_out(*v);
    if (PyObject* r = class_attribute(s, sv)) return r;
    if (PyErr_Occurred()) return nullptr;
    if (PyObject* descr = _PyType_Lookup(tp, name)) {
      descrgetfunc get = Py_TYPE(descr)->tp_descr_get;
      if (get != nullptr) return get(descr, self, reinterpret_cast<PyObject*>(tp));
      return Py_NewRef(descr);
    }
    return raise_missing(s, name);
  }
  // A Python subclass: object.__getattribute__'s order, with this thread's dict as the
  // instance dict.
  PyObject* descr = _PyType_Lookup(tp, name);
  descrgetfunc get = nullptr;
  if (descr != nullptr) {
    Py_INCREF(descr);
    get = Py_TYPE(descr)->tp_descr_get;
    if (get != nullptr && Py_TYPE(descr)->tp_descr_set != nullptr) {
      PyObject* r = get(descr, self, reinterpret_cast<PyObject*>(tp));
      Py_DECREF(descr);
      return r;
    }
  }
  if (const Value* v = d->find(sv)) {
    Py_XDECREF(descr);
    return value_out(*v);
  }
  if (get != nullptr) {
    PyObject* r = get(descr, self, reinterpret_cast<PyObject*>(tp));
    Py_DECREF(descr);
    return r;
  }
  if (descr != nullptr) return descr;
  return raise_missing(s, name);
}

int local_setattro(PyObject* self, PyObject* name, PyObject* value) {
  std::string_view sv;
  if (!name_text(name, sv)) return -1;
  LocalPy* s = as_local(self);
  Dict* d = thread_dict(s);
  if (d == nullptr) return -1;
  if (is_dunder_dict(sv)) {
    PyErr_Format(PyExc_AttributeError, "'%.100s' object attribute '__dict__' is read-only",
                 type_name_of(s));
    return -1;
  }
  PyTypeObject* tp = Py_TYPE(self);
  if (PyObject* descr = _PyType_Lookup(tp, name)) {
    if (descrsetfunc set = Py_TYPE(descr)->tp_descr_set) {
      Py_INCREF(descr);
      const int rc = set(descr, self, value);
      Py_DECREF(descr);
      return rc;
    }
  }
  if (value != nullptr) {
    // The common case first: a Python value replaced by another, in place. (A C++ class's
    // slot never has an entry in the dict.)
    if (Value* v = d->find(sv)) {
      if (PyRef* r = v->try_get<PyRef>()) {
        PyObject* old = r->exchange(Py_NewRef(value));
        Py_DECREF(old);
        return 0;
      }
    }
  }
  try {
    const ClassRef& cls = s->object.type();
    if (tp == &LocalType && cls != Class::local() && !cls->slots().empty()) {
      // An object of a C++ class with slots: localbag's own rules.
      if (value == nullptr) {
        s->object.delattr(sv);
      } else {
        s->object.setattr(sv, stored(value));
      }
      return 0;
    }
    if (value == nullptr) {
      if (!d->erase(sv)) {
        PyErr_Format(PyExc_AttributeError, "'%.100s' object has no attribute '%U'", type_name_of(s),
                     name);
        return -1;
      }
      return 0;
    }
    d->set(sv, stored(value));
    return 0;
  } catch (...) {
    set_error_from_exception();
    return -1;
  }
}

PyObject* local_repr(PyObject* self) {
  LocalPy* s = as_local(self);
  return PyUnicode_FromFormat("<%s object at %p>", type_name_of(s), self);
}

// ---- __dict__ ----
// `obj.__dict__` is a mapping over this thread's localbag dict: the same object on every read in
// one thread (kept per thread in a LocalObject of its own), a dict's behaviour through
// collections.abc.MutableMapping, read and written as the attributes are.

PyObject* make_view(LocalPy* s) {
  PyObject* v = dict_view_type->tp_alloc(dict_view_type, 0);
  if (v == nullptr) return nullptr;
  ::new (&reinterpret_cast<DictViewPy*>(v)->object) LocalObject(s->object);
  return v;
}

PyObject* dict_view(LocalPy* s) {
  try {
    if (s->dict_views == nullptr) s->dict_views = new LocalObject();
    Dict& views = s->dict_views->dict();
    if (Value* v = views.find("view")) return Py_NewRef(v->get<PyRef>().get());
    PyObject* view = make_view(s);
    if (view == nullptr) return nullptr;
    views.set("view", stored(view));
    return view;
  } catch (...) {
    set_error_from_exception();
    return nullptr;
  }
}

DictViewPy* as_view(PyObject* o) { return reinterpret_cast<DictViewPy*>(o); }

Dict* view_dict(PyObject* self) {
  try {
    return &as_view(self)->object.dict();
  } catch (...) {
    set_error_from_exception();
    return nullptr;
  }
}

void view_dealloc(PyObject* self) {
  PyTypeObject* tp = Py_TYPE(self);
  as_view(self)->object.~LocalObject();
  tp->tp_free(self);
}

Py_ssize_t view_len(PyObject* self) {
  Dict* d = view_dict(self);
  return d != nullptr ? static_cast<Py_ssize_t>(d->size()) : -1;
}

bool key_text(PyObject* key, std::string_view& out) {
  if (!PyUnicode_Check(key)) return false;
  Py_ssize_t size = 0;
  const char* text = PyUnicode_AsUTF8AndSize(key, &size);
  if (text == nullptr) {
    PyErr_Clear();
    return false;
  }
  out = std::string_view(text, static_cast<std::size_t>(size));
  return true;
}

PyObject* view_getitem(PyObject* self, PyObject* key) {
  Dict* d = view_dict(self);
  if (d == nullptr) return nullptr;
  std::string_view k;
  if (key_text(key, k)) {
    if (const Value* v = d->find(k)) return value_out(*v);
  }
  PyErr_SetObject(PyExc_KeyError, key);
  return nullptr;
}

int view_setitem(PyObject* self, PyObject* key, PyObject* value) {
  Dict* d = view_dict(self);
  if (d == nullptr) return -1;
  std::string_view k;
  if (!key_text(key, k)) {
    if (value == nullptr) {
      PyErr_SetObject(PyExc_KeyError, key);
      return -1;
    }
    PyErr_Format(PyExc_TypeError, "localbag attribute names are str, not '%.200s'",
                 Py_TYPE(key)->tp_name);
    return -1;
  }
  try {
    if (value == nullptr) {
      if (!d->erase(k)) {
        PyErr_SetObject(PyExc_KeyError, key);
        return -1;
      }
      return 0;
    }
    d->set(k, stored(value));
    return 0;
  } catch (...) {
    set_error_from_exception();
    return -1;
  }
}

int view_contains(PyObject* self, PyObject* key) {
  Dict* d = view_dict(self);
  if (d == nullptr) return -1;
  std::string_view k;
  return key_text(key, k) && d->find(k) != nullptr ? 1 : 0;
}

// A real dict with this thread's items (copy(), repr, iteration's snapshot).
PyObject* view_copy(PyObject* self, PyObject* = nullptr) {
  Dict* d = view_dict(self);
  return d != nullptr ? dict_to_python(*d) : nullptr;
}

PyObject* view_iter(PyObject* self) {
  PyObject* copy = view_copy(self);
  if (copy == nullptr) return nullptr;
  PyObject* it = PyObject_GetIter(copy);
  Py_DECREF(copy);
  return it;
}

PyObject* view_repr(PyObject* self) {
  PyObject* copy = view_copy(self);
  if (copy == nullptr) return nullptr;
  PyObject* r = PyObject_Repr(copy);
  Py_DECREF(copy);
  return r;
}

PyMappingMethods view_mapping = {view_len, view_getitem, view_setitem};
PySequenceMethods view_sequence = {};
PyMethodDef view_methods[] = {
    {"copy",
     reinterpret_cast<PyCFunction>(+[](PyObject* self, PyObject*) { return view_copy(self); }),
     METH_NOARGS, "A dict with this thread's attributes."},
    {nullptr, nullptr, 0, nullptr},
};

// ---- Methods of C++ classes ----

void method_dealloc(PyObject* self) {
  auto* m = reinterpret_cast<MethodPy*>(self);
  m->object.~LocalObject();
  m->name.~basic_string();
  PyObject_Free(self);
}

PyObject* method_call(PyObject* self, PyObject* args, PyObject* kwargs) {
  auto* m = reinterpret_cast<MethodPy*>(self);
  if (kwargs != nullptr && PyDict_GET_SIZE(kwargs) > 0) {
    PyErr_Format(PyExc_TypeError, "%s() takes no keyword arguments", m->name.c_str());
    return nullptr;
  }
  try {
    std::vector<Value> values;
    const Py_ssize_t n = PyTuple_GET_SIZE(args);
    values.reserve(static_cast<std::size_t>(n));
    for (Py_ssize_t i = 0; i < n; ++i) values.push_back(to_builtin(PyTuple_GET_ITEM(args, i)));
    LocalObject object(m->object);
    Value result = object.call(m->name, Args(values.data(), values.size()));
    return value_out(result);
  } catch (...) {
    set_error_from_exception();
    return nullptr;
  }
}

PyObject* method_repr(PyObject* self) {
  auto* m = reinterpret_cast<MethodPy*>(self);
  return PyUnicode_FromFormat("<bound method %s.%s of localbag object>",
                              m->object.type()->name().c_str(), m->name.c_str());
}

// ---- Opaque values ----

void value_dealloc(PyObject* self) {
  reinterpret_cast<ValuePy*>(self)->value.~Value();
  PyObject_Free(self);
}

PyObject* value_repr(PyObject* self) {
  try {
    const std::string text = localbag::repr(reinterpret_cast<ValuePy*>(self)->value);
    return decode_str(text);
  } catch (...) {
    set_error_from_exception();
    return nullptr;
  }
}

// ---- Module functions ----

// localbag.create(name, *args, **kwargs): an object of the class `name` of the C++ program's
// Registry::global().
PyObject* module_create(PyObject*, PyObject* args, PyObject* kwargs) {
  const Py_ssize_t n = PyTuple_GET_SIZE(args);
  if (n < 1 || !PyUnicode_Check(PyTuple_GET_ITEM(args, 0))) {
    PyErr_SetString(PyExc_TypeError, "create() needs a class name (str) as first argument");
    return nullptr;
  }
  Py_ssize_t size = 0;
  const char* name = PyUnicode_AsUTF8AndSize(PyTuple_GET_ITEM(args, 0), &size);
  if (name == nullptr) return nullptr;
  ensure_hooked();
  try {
    std::vector<Value> values;
    for (Py_ssize_t i = 1; i < n; ++i) values.push_back(to_builtin(PyTuple_GET_ITEM(args, i)));
    Dict kw;
    if (kwargs != nullptr) {
      PyObject *k = nullptr, *v = nullptr;
      Py_ssize_t pos = 0;
      while (PyDict_Next(kwargs, &pos, &k, &v)) {
        Py_ssize_t ksize = 0;
        const char* ktext = PyUnicode_AsUTF8AndSize(k, &ksize);
        if (ktext == nullptr) return nullptr;
        kw.set(std::string_view(ktext, static_cast<std::size_t>(ksize)), to_builtin(v));
      }
    }
    LocalObject object = Registry::global().instantiate(
        std::string_view(name, static_cast<std::size_t>(size)), std::move(values), std::move(kw));
    return wrap(object);
  } catch (...) {
    set_error_from_exception();
    return nullptr;
  }
}

PyObject* module_shutdown(PyObject*, PyObject*) {
  stop_outside_threads();
  Py_RETURN_NONE;
}

PyMethodDef module_methods[] = {
    {"create", reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(&module_create)),
     METH_VARARGS | METH_KEYWORDS,
     "create(name, *args, **kwargs): an object of the C++ class `name` (the C++ program's "
     "localbag::Registry::global())."},
    {"_shutdown", &module_shutdown, METH_NOARGS,
     "Run at exit: threads without the GIL stop entering Python before finalization."},
    {nullptr, nullptr, 0, nullptr},
};

PyModuleDef module_def = {
    PyModuleDef_HEAD_INIT,
    "localbag",
    "localbag.local: threading.local on localbag's per-thread dicts, shared with C++.",
    -1,
    module_methods,
    nullptr,
    nullptr,
    nullptr,
    nullptr,
};

const Api c_api = {1, &wrap, &unwrap, &value_from_python_api_wrap, &value_from_python_api};

}  // namespace

// ---- Type objects ----

namespace {

// A static type object with its name, size, flags and deallocator, the rest zero (as
// PyVarObject_HEAD_INIT(nullptr, 0) leaves the header).
PyTypeObject make_type(const char* name, Py_ssize_t size, unsigned long flags, destructor dealloc) {
  PyTypeObject t;
  std::memset(static_cast<void*>(&t), 0, sizeof t);
  Py_SET_REFCNT(reinterpret_cast<PyObject*>(&t), 1);
  t.tp_name = name;
  t.tp_basicsize = size;
  t.tp_flags = flags;
  t.tp_dealloc = dealloc;
  return t;
}

PyTypeObject LocalType = [] {
  PyTypeObject t =
      make_type("localbag.local", sizeof(LocalPy),
                Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE | Py_TPFLAGS_HAVE_GC, local_dealloc);
  t.tp_doc =
      "Thread-local data, as threading.local, in localbag's per-thread dicts: C++ code on the "
      "same thread (or in the same localbag::Context) reads and writes the same attributes.";
  t.tp_new = local_new;
  t.tp_traverse = local_traverse;
  t.tp_clear = local_clear;
  t.tp_getattro = local_getattro;
  t.tp_setattro = local_setattro;
  t.tp_repr = local_repr;
  t.tp_weaklistoffset = offsetof(LocalPy, weakreflist);
  return t;
}();

PyTypeObject DictViewBaseType = [] {
  PyTypeObject t = make_type("localbag._DictViewBase", sizeof(DictViewPy),
                             Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE, view_dealloc);
  t.tp_as_mapping = &view_mapping;
  t.tp_as_sequence = &view_sequence;
  t.tp_iter = view_iter;
  t.tp_repr = view_repr;
  t.tp_methods = view_methods;
  return t;
}();

PyTypeObject MethodType = [] {
  PyTypeObject t =
      make_type("localbag.method", sizeof(MethodPy), Py_TPFLAGS_DEFAULT, method_dealloc);
  t.tp_call = method_call;
  t.tp_repr = method_repr;
  return t;
}();

PyTypeObject ValueType = [] {
  PyTypeObject t = make_type("localbag.Value", sizeof(ValuePy), Py_TPFLAGS_DEFAULT, value_dealloc);
  t.tp_doc = "A C++ value with no Python equivalent; its repr is localbag's.";
  t.tp_repr = value_repr;
  return t;
}();

PyTypeObject MissingType = [] {
  PyTypeObject t = make_type("localbag._AttributeErrorText", sizeof(MissingPy), Py_TPFLAGS_DEFAULT,
                             missing_dealloc);
  t.tp_str = missing_str;
  t.tp_repr = missing_repr;
  t.tp_richcompare = missing_richcompare;
  t.tp_hash = missing_hash;
  return t;
}();

PyTypeObject ThreadEndType =
    make_type("localbag._ThreadEnd", sizeof(ThreadEndPy), Py_TPFLAGS_DEFAULT, thread_end_dealloc);

}  // namespace

PyObject* create_module() {
  view_sequence.sq_contains = view_contains;
  for (PyTypeObject* t :
       {&LocalType, &DictViewBaseType, &MethodType, &ValueType, &MissingType, &ThreadEndType}) {
    if (PyType_Ready(t) < 0) return nullptr;
  }
  PyObject* m = PyModule_Create(&module_def);
  if (m == nullptr) return nullptr;
  auto fail = [&]() -> PyObject* {
    Py_DECREF(m);
    return nullptr;
  };
  if (PyModule_AddObjectRef(m, "local", reinterpret_cast<PyObject*>(&LocalType)) < 0 ||
      PyModule_AddObjectRef(m, "_DictViewBase", reinterpret_cast<PyObject*>(&DictViewBaseType)) <
          0 ||
      PyModule_AddObjectRef(m, "Value", reinterpret_cast<PyObject*>(&ValueType)) < 0) {
    return fail();
  }
  // The __dict__ view's class: the C base plus MutableMapping's dict methods, and the atexit
  // hook that stops C++ threads from entering a finalizing interpreter.
  static const char* const setup =
      "from collections.abc import Mapping as _Mapping, MutableMapping as _MM\n"
      "class _DictView(_DictViewBase, _MM):\n"
      "    '''A local's __dict__: this thread's attributes, as a mutable mapping.'''\n"
      "    __slots__ = ()\n"
      "    __module__ = 'localbag'\n"
      "    __hash__ = None\n"
      "    def __eq__(self, other):\n"
      "        if isinstance(other, (_Mapping, dict)):\n"
      "            return self.copy() == dict(other)\n"
      "        return NotImplemented\n"
      "import atexit as _atexit\n"
      "_atexit.register(_shutdown)\n"
      "del _atexit\n";
  PyObject* globals = PyModule_GetDict(m);  // borrowed
  if (PyDict_SetItemString(globals, "__builtins__", PyEval_GetBuiltins()) < 0) return fail();
  PyObject* r = PyRun_String(setup, Py_file_input, globals, globals);
  if (r == nullptr) return fail();
  Py_DECREF(r);
  PyObject* view_class = PyDict_GetItemString(globals, "_DictView");  // borrowed
  if (view_class == nullptr || !PyType_Check(view_class)) return fail();
  dict_view_type = reinterpret_cast<PyTypeObject*>(Py_NewRef(view_class));
  PyObject* capsule = PyCapsule_New(const_cast<Api*>(&c_api), "localbag._C_API", nullptr);
  if (capsule == nullptr || PyModule_AddObject(m, "_C_API", capsule) < 0) {
    Py_XDECREF(capsule);
    return fail();
  }
  if (PyModule_AddStringConstant(m, "__version__", LOCALBAG_VERSION_STRING) < 0) return fail();
  return m;
}

}  // namespace localbag::python

PyMODINIT_FUNC PyInit_localbag() { return localbag::python::create_module(); }
