// SPDX-License-Identifier: MIT
#pragma once
/// \file
/// `LocalObject`: Python's `threading.local`. One object shared by all threads; behind it, one
/// `Dict` per thread.

#include "localbag/detail/require_cxx20.hpp"  // first: a clear error before C++20

#include <array>
#include <cstdint>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "localbag/class.hpp"
#include "localbag/detail/function_ref.hpp"
#include "localbag/detail/records.hpp"
#include "localbag/detail/throw.hpp"
#include "localbag/dict.hpp"
#include "localbag/key.hpp"
#include "localbag/value.hpp"

namespace localbag {

/// A thread-local object, as `threading.local()` or an instance of a subclass of it.
///
/// **Ownership.** A `LocalObject` is a reference, like a Python variable: copying it makes a
/// second reference to the same object (`a == b`), and the object lives until its last
/// reference is destroyed. Give each thread its own copy (capture it by value) and no use can
/// dangle. When the object dies, its `Dict` in every context (every thread's, every explicit
/// `Context`'s) is destroyed at once, on the thread that dropped the last reference, except one
/// that `Context::copy_current` is reading at that moment: the copying thread destroys it when
/// its copy is done. When a thread exits, its dicts are destroyed on that thread; when a
/// `Context` dies, its dicts are destroyed where its last handle or scope went. A moved-from
/// `LocalObject` may only be assigned to or destroyed. A method's `self` (see `call`) keeps the
/// object alive until the method returns, as in Python, even when the method drops the object's
/// last handle.
///
/// **Threads.** Every member may be called from any thread at any time; each thread sees its
/// own attributes. The first access from a thread (of any kind: get, set, del, has, dict, call)
/// runs the class's init in that thread, with the arguments the object was constructed with.
/// More exactly, each access reads the dict of the calling thread's current context: its own
/// implicit one, or the `Context` a `Context::Scope` entered there (localbag/context.hpp), and
/// init runs once per (context, object).
///
/// **Lookup** follows Python: slots first (they are data descriptors), then this thread's dict,
/// then class attributes along the base chain; otherwise
/// ``AttributeError: 'MyLocal' object has no attribute 'color'``.
///
/// **Values out.** `get`, `try_get` and `getattr` return copies, because the value may be a
/// class attribute or slot that other threads can change. `ref`, `find` and `dict()` return
/// references into the current context's dict (this thread's own, or that of the `Context`
/// entered); they stay valid until that dict is inserted into or erased from (see `Dict`) or
/// its context dies (a `Context` can die as its scope is left), and must not be handed to
/// another thread.
class LocalObject {
 public:
  /// `threading.local()`: an object of the root class `local`.
  LocalObject();
  /// `cls(*args, **kwargs)`: runs init in this thread now. `TypeError: Initialization
  /// arguments are not supported` when arguments are given and no class in the chain has init.
  explicit LocalObject(ClassRef cls, std::vector<Value> args = {}, Dict kwargs = {});

  /// Another reference to the same object (`b = a` in Python): afterwards `a == b`. Runs no
  /// init and does not throw.
  LocalObject(const LocalObject& other) noexcept : head_(other.head_) {
    if (head_ != nullptr) detail::add_reference(*head_);
  }
  /// Takes the reference; the moved-from handle may only be assigned to or destroyed.
  LocalObject(LocalObject&& other) noexcept : head_(std::exchange(other.head_, nullptr)) {}
  /// Makes this a reference to the other object, dropping the old reference; if it was the old
  /// object's last, that object dies here (see Ownership).
  LocalObject& operator=(const LocalObject& other) noexcept {
    LocalObject copy(other);
    swap_with(copy);
    return *this;
  }
  /// Takes the other handle's reference, dropping the old one as copy assignment does; the
  /// moved-from handle may only be assigned to or destroyed.
  LocalObject& operator=(LocalObject&& other) noexcept {
    LocalObject taken(std::move(other));
    swap_with(taken);
    return *this;
  }
  /// Drops this reference; if it was the last, the object and every thread's dict for it are
  /// destroyed now, on this thread.
  ~LocalObject() {
    if (head_ != nullptr) detail::drop_reference(head_);
  }

  /// `type(obj)`.
  const ClassRef& type() const noexcept;

  /// `obj.name`, copied out: `AttributeError` when absent. A value of another type converts by
  /// the numeric policy (`Value::as`): `get<int>` of a `long`, or of a Python int stored from
  /// Python, with `OverflowError` when it does not fit; `TypeError` (naming the attribute, the
  /// type asked for and the type stored) when it does not convert.
  template <class T>
  T get(Name name) const {
    static_assert(std::is_copy_constructible_v<T>,
                  "get<T>() returns a copy; use ref<T>() for a move-only value");
    if (const detail::FastLookup fast = fast_lookup(name); fast.definite) {
      if (fast.value == nullptr) throw_missing(name.text());
      if (const T* p = fast.value->try_get<T>()) return *p;
      if constexpr (detail::StandardInteger<T> && !std::is_same_v<T, std::int64_t>) {
        // The integer type of a configuration file and of Python's arguments, read as another
        // integer type (get<int>("timeout")) without the general conversion.
        if (const std::int64_t* wide = fast.value->try_get<std::int64_t>();
            wide != nullptr && std::in_range<T>(*wide)) {
          return static_cast<T>(*wide);
        }
      }
      return convert<T>(name.text(), *fast.value);
    }
    return get_slow<T>(name.text(), name.key());
  }

  /// `getattr(obj, name, None)`-like: a copy of the `T`, or nullopt when absent or of another
  /// type. Throws only what init or the copy throws.
  template <class T>
  std::optional<T> try_get(Name name) const {
    if (const detail::FastLookup fast = fast_lookup(name); fast.definite) {
      if (fast.value == nullptr) return std::nullopt;
      if (const T* p = fast.value->try_get<T>()) return *p;
      return std::nullopt;
    }
    std::optional<T> out;
    lookup(name, [&](const Value& v) {
      if (const T* p = v.try_get<T>()) out.emplace(*p);
    });
    return out;
  }

  /// `getattr(obj, name)`: a copy of the value, whatever its type. `obj.getattr("__dict__")`
  /// is a copy of this thread's dict.
  Value getattr(Name name) const;

  /// A reference to the `T` in this thread's own dict, for values that cannot or should not be
  /// copied (a socket). `AttributeError` when this thread's dict has no `name` (a class
  /// attribute or slot is shared, so it is never returned by reference), `TypeError` for
  /// another type.
  template <class T>
  T& ref(Name name) {
    Value* v = find(name);
    if (v == nullptr) throw_not_own(name.text());
    if (T* p = v->try_get<T>()) return *p;
    throw_wrong_type(name.text(), *v, &detail::type_name<T>);
  }

  /// This thread's own value for `name`, or nullptr (`obj.__dict__.get(name)`).
  Value* find(Name name) { return dict().find(name); }

  /// `hasattr(obj, name)`.
  bool hasattr(Name name) const {
    if (const detail::FastLookup fast = fast_lookup(name); fast.definite) {
      return fast.value != nullptr;
    }
    if (is_dunder_dict(name) || is_dunder_class(name)) {  // always there; asking must not copy
      dict();  // first access runs init, as any access does
      return true;
    }
    return lookup(name, [](const Value&) {});
  }

  /// `obj.name = value`. Slots are set for all threads, any other name for this thread only.
  /// ``AttributeError: 'X' object attribute '__dict__' is read-only`` for `__dict__`.
  template <class T>
  void setattr(Name name, T&& value) {
    if (Dict* d = fast_dict(name)) {
      d->set(name, std::forward<T>(value));
      return;
    }
    setattr_slow(name.text(), name.key(), std::forward<T>(value));
  }

  /// `del obj.name`: `AttributeError` when this thread has no `name` (also when it exists
  /// only as a class attribute, as in Python).
  void delattr(Name name) {
    if (Dict* d = fast_dict(name); d != nullptr && d->erase(name)) return;
    delattr_slow(name.text(), name.key());
  }

  /// `obj.__dict__`: this thread's dict, created (and init run) on first use.
  Dict& dict() {
    if (Dict* d = detail::this_thread_dict(*head_)) return *d;
    return dict_slow();
  }
  /// `obj.__dict__`, read-only: the same dict as `dict()`, created (and init run) on first use.
  const Dict& dict() const { return const_cast<LocalObject*>(this)->dict(); }

  /// This thread's dict when the current context has touched the object already, else nullptr;
  /// never runs init or creates anything (a garbage collector's or a debugger's look).
  Dict* peek_dict() const noexcept { return detail::this_thread_dict(*head_); }

  /// Python's `id(obj)`: the same for every handle of one object, while it lives.
  std::uintptr_t id() const noexcept { return reinterpret_cast<std::uintptr_t>(head_); }

  /// `obj.name(*args)`: calls a method with this object as `self`. `AttributeError` when
  /// absent, ``TypeError: 'int' object is not callable`` when the attribute is not a method.
  Value call(Name name, Args args = {});
  /// `obj.name(arg1, arg2, ...)`: wraps each argument in a `Value` (copied or moved as passed)
  /// and calls the method as `call(name, Args)` does, with the same errors.
  template <class... A>
  Value call(Name name, A&&... args) {
    std::array<Value, sizeof...(A)> values{Value(std::forward<A>(args))...};
    return call(name, Args(values.data(), values.size()));
  }

  /// `a is b`.
  friend bool operator==(const LocalObject& a, const LocalObject& b) noexcept {
    return a.head_ == b.head_;
  }

 protected:
  /// Wraps an existing object: for typed subclasses (`MyLocal(LocalObject other)`).
  /// `TypeError` unless `other`'s class is `cls` or a subclass of it.
  LocalObject(const LocalObject& other, const Class& cls);

 private:
  void swap_with(LocalObject& other) noexcept { std::swap(head_, other.head_); }

  // This thread's dict when a lookup of `name` may start there: the thread is initialised, the
  // class has no slots, and the name is not `__dict__` or `__class__` (data descriptors come
  // first in Python).
  Dict* fast_dict(Name name) const noexcept {
    return head_->dict_first && !may_be_descriptor(name) ? detail::this_thread_dict(*head_)
                                                          : nullptr;
  }
  // Lookup without a lock, in this thread's dict and the class view this thread holds. Not
  // definite before the thread's first access, for classes with slots, for `__dict__` and
  // `__class__`, and when the class changed since this thread took its view.
  detail::FastLookup fast_lookup(Name name) const noexcept {
    if (!head_->dict_first || may_be_descriptor(name)) return {};
    detail::RecordHead* record = detail::this_thread_record_head(*head_);
    if (record == nullptr) return {};
    if (const Value* v = record->dict.find(name)) return {v, true};
    if (record->view.attrs != head_->class_view->load(std::memory_order_acquire)) {
      return {};
    }
    return {record->view.attrs->find(name), true};
  }
  // Whether `name` may be `__dict__` or `__class__`: one compare of its tag with each (the
  // exact test is on the slow path).
  static bool may_be_descriptor(Name name) noexcept {
    constexpr std::uint64_t kDictTag = detail::name_tag("__dict__", 8);
    constexpr std::uint64_t kClassTag = detail::name_tag("__class__", 9);
    return name.tag() == kDictTag || name.tag() == kClassTag;
  }
  static bool is_dunder_dict(Name name) noexcept { return name.text() == "__dict__"; }
  static bool is_dunder_class(Name name) noexcept { return name.text() == "__class__"; }

  // Full lookup (slots, dict, class attributes); calls `visit` with the value, under the lock
  // that guards it, and returns true; returns false when absent.
  bool lookup(Name name, detail::FunctionRef<void(const Value&)> visit) const;
  // The out-of-line paths that the inline ones call take the name as its text and its Key
  // (nullptr when it came from a string): a `Name` is passed in memory, and building it on the
  // stack for a call the fast path rarely makes would cost every call some stores.
  static Name name_of(std::string_view text, const Key* key) noexcept {
    return key != nullptr ? Name(*key) : Name(text);
  }
  [[noreturn]] void throw_missing(std::string_view name) const;
  [[noreturn]] void throw_not_own(std::string_view name) const;
  [[noreturn]] void throw_wrong_type(std::string_view name, const Value& held,
                                     detail::TypeNameFn wanted) const;
  // `get<T>` of a value that is not a T: the numeric policy's conversion (Value::as), or
  // TypeError naming the attribute.
  template <class T>
  [[gnu::cold, gnu::noinline]] T convert(std::string_view text, const Value& held) const {
    std::optional<Value> shown;
    if (std::optional<T> out = detail::try_convert<T>(held, shown)) return std::move(*out);
    throw_wrong_type(text, shown ? *shown : held, &detail::type_name<T>);
  }
  template <class T>
  [[gnu::cold, gnu::noinline]] T get_slow(std::string_view text, const Key* key) const {
    const Name name = name_of(text, key);
    std::optional<T> out;
    if (!lookup(name, [&](const Value& v) {
          if (const T* p = v.try_get<T>()) {
            out.emplace(*p);
          } else {
            out.emplace(convert<T>(text, v));
          }
        })) {
      throw_missing(text);
    }
    return std::move(*out);
  }
  template <class T>
  [[gnu::cold, gnu::noinline]] void setattr_slow(std::string_view text, const Key* key,
                                                 T&& value) {
    setattr_value(name_of(text, key), Value(std::forward<T>(value)));
  }
  void setattr_value(Name name, Value value);
  void delattr_slow(std::string_view text, const Key* key);
  Dict& dict_slow();

  detail::ObjectHead* head_ = nullptr;  // owns a reference (ObjectHead::refs)
};

namespace detail {
LOCALBAG_LIBRARY_TYPE(LocalObject)
}  // namespace detail

}  // namespace localbag
