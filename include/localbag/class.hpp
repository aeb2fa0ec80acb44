// SPDX-License-Identifier: MIT
#pragma once
/// \file
/// `Class`: what `class MyLocal(local): ...` defines in Python: a name, an optional base,
/// class attributes (defaults), methods, an init callback and slots. `ClassSpec` describes one;
/// a `Registry` turns it into a `Class`.

#include "localbag/detail/require_cxx20.hpp"  // first: a clear error before C++20

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "localbag/dict.hpp"
#include "localbag/key.hpp"
#include "localbag/value.hpp"

namespace localbag {

class LocalObject;
class Class;

namespace detail {
struct ClassState;
struct ClassAccess;
}  // namespace detail

/// A shared reference to a class. Objects keep their class alive.
using ClassRef = std::shared_ptr<Class>;

/// Positional arguments: `*args`.
using Args = std::span<const Value>;

/// A method: receives `self` and the positional arguments, returns a value (`None` by default).
using MethodFn = std::function<Value(LocalObject& self, Args args)>;

/// An init callback, Python's `__init__(self, *args, **kwargs)`. It runs once in every thread
/// that uses the object, with the arguments the object was constructed with.
using InitFn = std::function<void(LocalObject& self, Args args, const Dict& kwargs)>;

namespace detail {
// A loaded module (the main program, a shared library) whose code functions run: the count of
// the live functions that run its code, which keeps a plugin from unloading (localbag/plugin.hpp).
// One per module, made by the library (src/module_use.cpp) and never freed.
struct CodeModule {
  const void* base;  // the module's load address (dladdr's dli_fbase)
  std::atomic<long> functions{0};
};

// Which module's code a Function runs: set when the Function is stored in a Value (by the
// library, from the address of its code), then counted there for as long as this copy lives.
class CodeOwner {
 public:
  CodeOwner() noexcept = default;
  CodeOwner(const CodeOwner& other) noexcept : module_(other.module_) { add(1); }
  CodeOwner& operator=(const CodeOwner& other) noexcept {
    CodeOwner copy(other);
    std::swap(module_, copy.module_);
    return *this;
  }
  ~CodeOwner() { add(-1); }
  // The module, or nullptr before the Function was first stored in a Value.
  CodeModule* module() const noexcept { return module_; }
  // Counts this copy for `module` (once: a set owner stays).
  void set(CodeModule* module) noexcept {
    if (module_ != nullptr || module == nullptr) return;
    module_ = module;
    add(1);
  }

 private:
  void add(long n) noexcept {
    if (module_ != nullptr) module_->functions.fetch_add(n, std::memory_order_acq_rel);
  }
  CodeModule* module_ = nullptr;
};
}  // namespace detail

/// A method as a class attribute holds it: `getattr(obj, "squared")` returns a `Value` holding
/// a `Function`, whose repr is `<function MyLocal.squared>`.
struct Function {
  /// The class name, a dot and the method name (`MyLocal.squared`), as `ClassSpec::method` sets
  /// it; the repr shows it.
  std::string qualname;
  /// The method itself; `LocalObject::call` passes it the object as `self` and the arguments.
  MethodFn fn;
  /// Which module's code `fn` is, set by the library when the function is first stored in a
  /// `Value`: a plugin is not unloaded while a function of its code lives. Not for users to set.
  detail::CodeOwner owner{};
};

namespace detail {
// The module of `fn`'s code: the module holding the function it points to, or its target's
// type_info (a lambda's is its module's); nullptr for an empty `fn`. Made on first use.
CodeModule* code_module(const MethodFn& fn);

template <>
struct PythonType<Function> {
  static std::string name() { return "function"; }
  static void repr(std::string& out, const Function& function) {
    out += "<function ";
    out += function.qualname;
    out += '>';
  }
  static void made(Function& function) { function.owner.set(code_module(function.fn)); }
};

LOCALBAG_LIBRARY_TYPE(Function)
}  // namespace detail

/// The description of a class, filled in with chained calls and passed to `Registry::define`:
///
///     registry.define(ClassSpec("MyLocal")
///                         .attr("number", 2)
///                         .attr("initialized", false)
///                         .init([](LocalObject& self, Args, const Dict& kw) { ... })
///                         .method("squared", [](LocalObject& self, Args) -> Value { ... }));
///
/// As in a Python class body, a later `attr` or `method` of the same name replaces an earlier.
class ClassSpec {
 public:
  /// A class named `name` (`MyLocal.__name__`), with base `local` and no attributes, methods,
  /// init or slots until `base`, `attr`, `method`, `init` and `slots` set them.
  /// `Registry::define` rejects a name already in use there, and `local`.
  explicit ClassSpec(std::string name) : name_(std::move(name)) {}

  /// The base class by name, looked up in the defining registry (default: `local`).
  ClassSpec& base(std::string name);
  /// The base class itself; it may come from another registry.
  ClassSpec& base(ClassRef cls);
  /// A class attribute: the default every thread sees until it sets its own.
  ClassSpec& attr(std::string name, Value value);
  /// A method.
  ClassSpec& method(std::string name, MethodFn fn);
  /// The init callback (`__init__`).
  ClassSpec& init(InitFn fn);
  /// Slots (`__slots__`): attributes stored once per object and shared by all threads.
  ClassSpec& slots(std::vector<std::string> names);

  /// The class name given to the constructor.
  const std::string& name() const noexcept { return name_; }

 private:
  friend struct detail::ClassAccess;
  std::string name_;
  std::string base_name_;
  ClassRef base_;
  Dict attrs_;
  InitFn init_;
  std::vector<std::string> slots_;
};

/// A class of local objects. Created by `Registry::define`; shared by its objects, its
/// subclasses and its registry. All members are safe to call from any thread.
class Class {
 public:
  ~Class();
  Class(const Class&) = delete;
  Class& operator=(const Class&) = delete;

  /// The root class, Python's `threading.local`: named `local`, no attributes, no init.
  static const ClassRef& local();

  /// `MyLocal.__name__`.
  const std::string& name() const noexcept;
  /// `MyLocal.__base__` (nullptr for `local` itself).
  const ClassRef& base() const noexcept;
  /// `issubclass(self, other)`.
  bool is_subclass_of(const Class& other) const noexcept;
  /// Whether this class or a base defines an init callback.
  bool has_init() const noexcept;
  /// The slot names of this class and its bases, bases' first.
  const std::vector<std::string>& slots() const noexcept;

  /// `getattr(MyLocal, name)` along the base chain: `AttributeError` when absent.
  Value getattr(Name name) const;
  /// `hasattr(MyLocal, name)`.
  bool hasattr(Name name) const;
  /// `MyLocal.name = value`: every thread that has not set its own `name` sees `value` from
  /// its next read on; so do subclasses that do not define `name`. `ValueError` when `name`
  /// is a slot; `TypeError` when `value` cannot be copied, or when this is the root class
  /// `local`, which is immutable (as CPython's `_thread._local` is).
  void setattr(Name name, Value value);
  /// `del MyLocal.name`: `AttributeError` when this class does not define it; `TypeError` for
  /// the root class `local`.
  void delattr(Name name);
  /// The attributes this class defines itself (not its bases'), as `MyLocal.__dict__`.
  Dict own_attrs() const;

  /// One class's new own attributes, for `replace_attrs`.
  struct AttrsChange {
    /// The class to change.
    ClassRef cls;
    /// Its attributes after the change (before: the call's input; after: what it replaced).
    Dict attrs;
  };
  /// Replaces the own attributes of several classes as **one** change, as a configuration
  /// reload does: each `changes[i].cls` then defines exactly `changes[i].attrs` (an attribute
  /// missing there is removed). Every view of the classes and of their subclasses is rebuilt
  /// before any is published, so a thread reading any of them sees every new attribute or
  /// none; a `ReadScope` extends that to several reads. Threads' own values (overrides) are
  /// untouched. On return, each `attrs` holds the attributes its class had before; the caller
  /// destroys them. Errors, with nothing changed: `TypeError` for the root class `local` or a
  /// value that cannot be copied, `ValueError` for a slot name or a class given twice,
  /// ``AttributeError: attribute '__dict__' of 'type' objects is not writable`` for `__dict__`.
  static void replace_attrs(std::span<AttrsChange> changes);

 private:
  friend struct detail::ClassAccess;
  explicit Class(std::unique_ptr<detail::ClassState> state);

  std::unique_ptr<detail::ClassState> state_;
};

/// Consistent reads: while a `ReadScope` lives on a thread, every object keeps showing that
/// thread, in each context, the class attributes it showed at the first read after the scope
/// began, or at the scope's beginning. A class change published meanwhile
/// (`Class::setattr`, `replace_attrs`, a `Config` reload) becomes visible to the thread when its
/// outermost scope ends. So two reads of one object in a scope never straddle a change:
///
///     {
///       localbag::ReadScope consistent;
///       int low = settings.get<int>("low");    // these two come from one version of the
///       int high = settings.get<int>("high");  // class, whatever reloads run meanwhile
///     }
///
/// Scopes nest (the outermost counts). They cost one call to begin and one to end; reads in a
/// scope take the same fast path until a class changes, then a slower one (no lock) until the
/// scope ends. Per object and context (as a record is): two objects, or one object read in two
/// contexts, may show different versions. Not movable; it must end on the thread that began it.
class ReadScope {
 public:
  ReadScope() noexcept;
  ~ReadScope();
  ReadScope(const ReadScope&) = delete;
  ReadScope& operator=(const ReadScope&) = delete;
};

namespace detail {
template <>
struct PythonType<ClassRef> {
  static std::string name() { return "type"; }
  static void repr(std::string& out, const ClassRef& cls) {
    out += "<class '";
    out += cls ? cls->name() : "NoneType";
    out += "'>";
  }
};

LOCALBAG_LIBRARY_TYPE(ClassRef)
}  // namespace detail

}  // namespace localbag
