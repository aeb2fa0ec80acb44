// SPDX-License-Identifier: MIT
#pragma once
/// \file
/// `Value`: one attribute value, type-erased like `std::any`, but able to hold move-only types
/// (`std::unique_ptr`, a socket wrapper) and keeping small values inline.

#include "localbag/detail/require_cxx20.hpp"  // first: a clear error before C++20

#include <atomic>
#include <concepts>
#include <cstddef>
#include <cstring>
#include <functional>
#include <memory>
#include <new>
#include <string>
#include <string_view>
#include <type_traits>
#include <typeinfo>
#include <utility>
#include <vector>

#include "localbag/detail/throw.hpp"

namespace localbag {

class Value;

/// Python's `None`: what a default-constructed `Value` holds.
struct None {
  friend constexpr bool operator==(None, None) noexcept { return true; }
};

/// Python's `list`: `Value(List{})` reprs as `[]`.
using List = std::vector<Value>;

/// Python's `tuple`: reprs as ``('color', 'red')``; `Dict::items()` is a `List` of these.
struct Tuple {
  /// The elements, in order.
  std::vector<Value> items;
};

/// Python's `bytes`: a byte string, as opposed to `std::string`, which is a `str`. Reprs as
/// ``b'...'``.
struct Bytes {
  /// The bytes.
  std::string data;
  /// Equal when the bytes are.
  friend bool operator==(const Bytes&, const Bytes&) = default;
};

namespace detail {

inline constexpr std::size_t kValueBuffer = 32;  // holds a libstdc++ std::string inline

// A number as the numeric policy reads it (Value::as): an integer, signed or not, or a float;
// or an integer beyond 64 bits (a Python int), `i` its sign (-1 or 1) and `f` its value as a
// float (an infinity when it exceeds the float range too).
struct Number {
  enum class Kind : unsigned char { kSigned, kUnsigned, kFloat, kWide };
  Kind kind = Kind::kSigned;
  long long i = 0;
  unsigned long long u = 0;
  double f = 0;
};

// The operations a Value needs on the type it holds; one constant table per type.
struct ValueOps {
  const std::type_info& type;
  std::string (*name)();                            // Python-style type name
  // Destroys what the buffer holds; nullptr when that does nothing (an int): no indirect call,
  // which costs more than the destruction on a CPU that restricts indirect branch prediction.
  void (*destroy)(void* buffer) noexcept;
  // Moves src's content into dst, leaving src empty; nullptr when copying the buffer's bytes
  // does that (a trivially copyable object, or the pointer to one stored on the heap).
  void (*relocate)(void* dst, void* src) noexcept;
  void (*copy)(void* dst, const void* src);         // nullptr when the type is move-only
  void (*repr)(std::string& out, const void* object);  // append Python repr of the object
  // The numeric policy: an integer or floating-point object as a Number (true), or false for an
  // object that is no number. nullptr for the types that never are one (bool included: a bool
  // converts to no number). A value of another language (a Python object) may have one that
  // throws.
  bool (*number)(const void* object, Number& out);
  // A value of another language (a Python object) as the builtin localbag value for it (an
  // integer, str, List...), taken by Value::as; nullptr for C++ types.
  Value (*to_builtin)(const void* object);
};

// What the numeric policy (value_traits.hpp) reads of a Value: its table and its object.
struct ValueAccess;

// Whether destroying a moved-from T runs no user code: true for trivially destructible types
// and for the standard and localbag types whose moved-from state is empty. Moving a value stored
// inline destroys the moved-from object at once, in the middle of whatever container operation
// moved it; a type whose destructor might run user code (and so look at, or change, the dict
// being reorganised) is therefore stored behind a pointer, which moves without destroying
// anything.
template <class T>
struct MovedFromIsInert : std::bool_constant<std::is_trivially_destructible_v<T>> {};
template <class C, class Traits, class A>
struct MovedFromIsInert<std::basic_string<C, Traits, A>> : std::true_type {};
template <class U, class A>
struct MovedFromIsInert<std::vector<U, A>> : std::true_type {};
template <class U>
struct MovedFromIsInert<std::unique_ptr<U>> : std::true_type {};
template <class U>
struct MovedFromIsInert<std::shared_ptr<U>> : std::true_type {};
template <class R, class... A>
struct MovedFromIsInert<std::function<R(A...)>> : std::true_type {};
template <>
struct MovedFromIsInert<Tuple> : std::true_type {};
template <>
struct MovedFromIsInert<Bytes> : std::true_type {};

template <class T>
inline constexpr bool kStoredInline =
    sizeof(T) <= kValueBuffer && alignof(T) <= alignof(std::max_align_t) && alignof(T) <= 8 &&
    std::is_nothrow_move_constructible_v<T> && MovedFromIsInert<T>::value;

// The type stored for an argument of type T: string literals and views become std::string,
// nullptr becomes None.
template <class T>
using stored_t = std::conditional_t<
    std::is_same_v<std::decay_t<T>, std::nullptr_t>, None,
    std::conditional_t<std::is_convertible_v<T, std::string_view> &&
                           !std::is_same_v<std::decay_t<T>, std::string>,
                       std::string, std::decay_t<T>>>;

// A `const char*` (or `char*`) about to become a str must not be null.
template <class T>
void require_str_pointer(const T& text) {
  if constexpr (std::is_pointer_v<std::remove_cvref_t<T>>) {  // not a literal (an array)
    if (text == nullptr) throw_null_str();
  }
}

std::string demangle(const std::type_info& type);
template <class T>
struct PythonType;  // a type's Python name and repr: detail/value_traits.hpp
template <class T>
std::string type_name();

// A value of another language: its PythonType gives `static Value to_builtin(const T&)`.
// A value of another language that may be a number: its PythonType gives
// `static bool number(const T&, Number&)`.
template <class T>
concept HasNumber = requires(const T& object, Number& out) {
  { PythonType<T>::number(object, out) } -> std::same_as<bool>;
};

template <class T>
concept HasToBuiltin = requires(const T& object) {
  PythonType<T>::to_builtin(object);
};

// A type whose new values need a step once they are in a Value: its PythonType gives
// `static void made(T&)` (a Function notes which module's code it runs).
template <class T>
concept HasMade = requires(T& object) { PythonType<T>::made(object); };

template <class T>
T* object_in(void* buffer) noexcept {
  if constexpr (kStoredInline<T>) {
    return std::launder(reinterpret_cast<T*>(buffer));
  } else {
    return *static_cast<T**>(buffer);
  }
}

// An integer type that is not bool or a character type: what std::in_range accepts.
template <class T>
concept StandardInteger =
    std::is_integral_v<T> && !std::is_same_v<T, bool> && !std::is_same_v<T, char> &&
    !std::is_same_v<T, wchar_t> && !std::is_same_v<T, char8_t> && !std::is_same_v<T, char16_t> &&
    !std::is_same_v<T, char32_t>;

// The types whose operations tables are liblocalbag's own (`LibraryOps`, defined in the library
// for each, below and beside Dict, Function, ClassRef and LocalObject): a value of one of them
// never points into the module that stored it, so a plugin's int is the host's int. Every
// other type's table is made by each module that stores one (`OpsFor<T>`, hidden: a plugin's
// table is the plugin's, not a GNU unique symbol that would pin it in memory), and counts its
// live values (`TableUse`) so that an unload knows when they are gone (localbag/plugin.hpp).
template <class T>
struct LibraryOps;
template <class T>
concept LibraryType = requires { LibraryOps<T>::ops; };
// A type whose module is never unloaded (a language binding's, loaded by its interpreter for
// good) may say so with `static constexpr bool resident = true;` in its PythonType: its values
// are not counted, and its sets write no shared counter.
template <class T>
concept ResidentType = requires { requires PythonType<T>::resident; };
template <class T>
inline constexpr bool kCounted = !LibraryType<T> && !ResidentType<T>;

// The live values of one non-library type whose table one module made; the library keeps a list
// of them (src/module_use.cpp) while that module is loaded.
struct TableUse {
  const ValueOps* ops;
  std::atomic<long> live{0};
  TableUse* prev = nullptr;  // in the library's list, under its mutex
  TableUse* next = nullptr;
};
void register_table(TableUse& use) noexcept;
void unregister_table(TableUse& use) noexcept;

template <class T>
struct [[gnu::visibility("hidden")]] OpsFor {
  static void destroy(void* b) noexcept {
    if constexpr (kStoredInline<T>) {
      object_in<T>(b)->~T();
    } else {
      delete object_in<T>(b);
    }
    if constexpr (kCounted<T>) use.live.fetch_sub(1, std::memory_order_release);
  }
  static void relocate(void* dst, void* src) noexcept {
    if constexpr (kStoredInline<T>) {
      ::new (dst) T(std::move(*object_in<T>(src)));
      object_in<T>(src)->~T();
    } else {
      *static_cast<T**>(dst) = *static_cast<T**>(src);
    }
  }
  static void copy(void* dst, const void* src) {
    if constexpr (std::is_copy_constructible_v<T>) {
      const T& from = *object_in<T>(const_cast<void*>(src));
      if constexpr (kStoredInline<T>) {
        ::new (dst) T(from);
      } else {
        *static_cast<T**>(dst) = new T(from);
      }
      if constexpr (kCounted<T>) use.live.fetch_add(1, std::memory_order_relaxed);
    }
  }
  // A value was made (Value::emplace): counted, and the table listed with the library while its
  // module is loaded (the registration is destroyed with the module's other statics).
  static void made() noexcept {
    if constexpr (kCounted<T>) {
      struct Registration {
        Registration() { register_table(use); }
        ~Registration() { unregister_table(use); }
        Registration(const Registration&) = delete;
        Registration& operator=(const Registration&) = delete;
      };
      static const Registration registration;
      use.live.fetch_add(1, std::memory_order_relaxed);
    }
  }
  static void repr(std::string& out, const void* object) {
    PythonType<T>::repr(out, *object_in<T>(const_cast<void*>(object)));
  }
  static bool number(const void* object, Number& out) {
    if constexpr (HasNumber<T>) {
      return PythonType<T>::number(*object_in<T>(const_cast<void*>(object)), out);
    } else if constexpr (std::is_arithmetic_v<T> && !std::is_same_v<T, bool>) {
      const T value = *object_in<T>(const_cast<void*>(object));
      if constexpr (std::is_floating_point_v<T>) {
        out.kind = Number::Kind::kFloat;
        out.f = static_cast<double>(value);
      } else if constexpr (std::is_signed_v<T>) {
        out.kind = Number::Kind::kSigned;
        out.i = value;
      } else {
        out.kind = Number::Kind::kUnsigned;
        out.u = value;
      }
      return true;
    } else {
      return false;
    }
  }
  static Value to_builtin(const void* object);
  // Nothing to do for destruction: no destructor, and no count of live values to keep.
  static constexpr bool kTrivialDestroy =
      kStoredInline<T> && std::is_trivially_destructible_v<T> && !kCounted<T>;
  // Relocation is a copy of the buffer's bytes.
  static constexpr bool kBytewiseRelocate = !kStoredInline<T> || std::is_trivially_copyable_v<T>;
  static constexpr ValueOps ops{
      typeid(T),
      &type_name<T>,
      kTrivialDestroy ? nullptr : &destroy,
      kBytewiseRelocate ? nullptr : &relocate,
      std::is_copy_constructible_v<T> ? &copy : nullptr,
      &repr,
      (std::is_arithmetic_v<T> && !std::is_same_v<T, bool>) || HasNumber<T> ? &number : nullptr,
      HasToBuiltin<T> ? &to_builtin : nullptr};
  static inline TableUse use{&ops};
};

// The table a Value of type T gets: the library's for a LibraryType, else this module's.
template <class T>
inline constexpr const ValueOps* ops_for [[gnu::visibility("hidden")]] = &OpsFor<T>::ops;

/// Internal (not API): declares `T` one of the builtin types, whose operations table is defined
/// once, in liblocalbag, by `LOCALBAG_LIBRARY_OPS(T)` in one of its source files.
#define LOCALBAG_LIBRARY_TYPE(T)                                              \
  template <>                                                                 \
  struct LibraryOps<T> {                                                      \
    static const ValueOps ops;                                                \
  };                                                                          \
  template <>                                                                 \
  inline constexpr const ValueOps* ops_for<T> [[gnu::visibility("hidden")]] = \
      &LibraryOps<T>::ops;
/// Internal (not API): defines the builtin type `T`'s operations table, in liblocalbag only.
#define LOCALBAG_LIBRARY_OPS(T) const ValueOps LibraryOps<T>::ops = OpsFor<T>::ops;

LOCALBAG_LIBRARY_TYPE(bool)
LOCALBAG_LIBRARY_TYPE(char)
LOCALBAG_LIBRARY_TYPE(signed char)
LOCALBAG_LIBRARY_TYPE(unsigned char)
LOCALBAG_LIBRARY_TYPE(wchar_t)
LOCALBAG_LIBRARY_TYPE(char8_t)
LOCALBAG_LIBRARY_TYPE(char16_t)
LOCALBAG_LIBRARY_TYPE(char32_t)
LOCALBAG_LIBRARY_TYPE(short)
LOCALBAG_LIBRARY_TYPE(unsigned short)
LOCALBAG_LIBRARY_TYPE(int)
LOCALBAG_LIBRARY_TYPE(unsigned)
LOCALBAG_LIBRARY_TYPE(long)
LOCALBAG_LIBRARY_TYPE(unsigned long)
LOCALBAG_LIBRARY_TYPE(long long)
LOCALBAG_LIBRARY_TYPE(unsigned long long)
LOCALBAG_LIBRARY_TYPE(float)
LOCALBAG_LIBRARY_TYPE(double)
LOCALBAG_LIBRARY_TYPE(long double)
LOCALBAG_LIBRARY_TYPE(std::string)
LOCALBAG_LIBRARY_TYPE(List)
LOCALBAG_LIBRARY_TYPE(Tuple)
LOCALBAG_LIBRARY_TYPE(Bytes)

}  // namespace detail

/// One attribute value. Holds any object type, including move-only ones; a default-constructed
/// `Value` holds `None`. Values of up to 32 bytes that move without throwing (ints, doubles,
/// bools, strings of up to 15 characters, `std::unique_ptr`, `List`) are stored inline with no
/// allocation. A string literal, `const char*` or `std::string_view` is stored as `std::string`,
/// as Python would store a `str`.
///
/// Copying a `Value` copies the object it holds; copying one that holds a move-only object
/// throws ``TypeError: cannot copy 'T' object``. Moving never throws and leaves `None` behind.
class Value {
 public:
  /// `None`.
  Value() noexcept = default;
  /// `None`, as the default constructor makes it: `Value(None{})`.
  Value(None) noexcept {}
  /// `None`: `setattr("x", nullptr)` stores None, as `x = None` does.
  Value(std::nullptr_t) noexcept {}

  /// Stores `object` (decayed; string-like becomes `std::string`).
  template <class T, class S = detail::stored_t<T>,
            class = std::enable_if_t<!std::is_same_v<S, Value> && !std::is_same_v<S, None>>>
  Value(T&& object) {  // NOLINT(google-explicit-constructor): Python values convert implicitly
    if constexpr (std::is_same_v<S, std::string>) detail::require_str_pointer(object);
    construct<S>(std::forward<T>(object));
  }

  /// A copy of the object `other` holds, made by its copy constructor;
  /// ``TypeError: cannot copy 'T' object`` when that object is move-only.
  Value(const Value& other) {
    if (other.ops_ != nullptr) {
      if (other.ops_->copy == nullptr) detail::throw_not_copyable(other.ops_->name());
      other.ops_->copy(buffer_, other.buffer_);
      ops_ = other.ops_;
    }
  }
  /// Takes `other`'s object, leaving `other` `None`. Never throws.
  Value(Value&& other) noexcept { take(other); }
  // Assignment installs the new object before the old one is destroyed, so a destructor that
  // looks at (or changes) the container holding this Value sees it already replaced.
  /// Replaces the held object with a copy of `other`'s. When the copy throws (`TypeError` for a
  /// move-only object) this value is unchanged; otherwise the old object is destroyed after the
  /// new one is in place.
  Value& operator=(const Value& other) {
    if (this != &other) {
      Value copy(other);  // may throw; *this is untouched then
      Value old(std::move(*this));
      take(copy);
    }
    return *this;
  }
  /// Takes `other`'s object, leaving `other` `None`; the old object is destroyed after the new
  /// one is in place. Never throws.
  Value& operator=(Value&& other) noexcept {
    if (this != &other) {
      Value old(std::move(*this));
      take(other);
    }
    return *this;
  }
  ~Value() { reset(); }

  /// Destroys the held object and constructs a `T` in its place from `args`.
  template <class T, class... A>
  T& emplace(A&&... args) {
    static_assert(!std::is_reference_v<T> && !std::is_array_v<T>, "Value holds objects");
    static_assert(std::is_move_constructible_v<T>, "a Value's type must be move-constructible");
    if (ops_ == nullptr) {
      construct<T>(std::forward<A>(args)...);  // nothing to replace
    } else {
      Value fresh;  // construct first: if a step throws, *this is unchanged
      fresh.construct<T>(std::forward<A>(args)...);
      *this = std::move(fresh);  // the old object is destroyed after the new one is installed
    }
    return *detail::object_in<T>(buffer_);
  }

  /// Whether the value is `None`.
  bool is_none() const noexcept { return ops_ == nullptr; }

  /// Whether the held object is exactly a `T` (`None` for a `None` value).
  template <class T>
  bool holds() const noexcept {
    if constexpr (std::is_same_v<T, None>) {
      return ops_ == nullptr;
    } else if constexpr (detail::LibraryType<T>) {
      // A builtin type has one table, the library's: the pointers say it all. (A type_info
      // comparison is a strcmp of the names with g++, paid on every miss: get<int> of an
      // integer stored as std::int64_t, say.)
      return ops_ == detail::ops_for<T>;
    } else {
      // Pointer equality is the fast path; the type_info comparison covers a table made by
      // another shared object (a plugin) for the same type.
      return ops_ == detail::ops_for<T> || (ops_ != nullptr && ops_->type == typeid(T));
    }
  }

  /// A pointer to the held `T`, or nullptr when the value holds something else.
  template <class T>
  T* try_get() noexcept {
    return holds<T>() ? detail::object_in<T>(buffer_) : nullptr;
  }
  /// A read-only pointer to the held `T`, or nullptr when the value holds something else.
  template <class T>
  const T* try_get() const noexcept {
    return holds<T>() ? detail::object_in<T>(const_cast<unsigned char*>(buffer_)) : nullptr;
  }

  /// The held `T`; throws `TypeError` naming both types when the value holds something else.
  template <class T>
  T& get() {
    if (T* p = try_get<T>()) return *p;
    detail::throw_value_wrong_type(*this, &detail::type_name<T>);
  }
  /// The held `T`, read-only; throws `TypeError` naming both types when the value holds
  /// something else.
  template <class T>
  const T& get() const {
    if (const T* p = try_get<T>()) return *p;
    detail::throw_value_wrong_type(*this, &detail::type_name<T>);
  }

  /// The held object as a `T`, by the numeric policy (docs/python.md): the held `T` itself;
  /// for an integer `T`, any held integer (``OverflowError: Python int too large to convert to
  /// C int`` when it does not fit, ``can't convert negative int to unsigned`` for a negative one
  /// and an unsigned `T`); for a floating-point `T`, any held number; and for a value of another
  /// language (a Python object), its builtin equivalent converted the same way. Throws
  /// `TypeError` for any other held type. `bool` is not a number here.
  template <class T>
  T as() const;

  /// The held type (`typeid(None)` for `None`).
  const std::type_info& type() const noexcept { return ops_ ? ops_->type : typeid(None); }
  /// Name of the held type: Python's for the Python-like types (`str`, `NoneType`, `list`,
  /// `tuple`, `dict`, `function`, `bool`), the C++ name for every other type (`int`, `long`,
  /// `double`, `MySocket`), so that two different C++ types never share a name.
  std::string type_name() const;
  /// Whether copying this value would succeed.
  bool copyable() const noexcept { return ops_ == nullptr || ops_->copy != nullptr; }

  /// Resets to `None`.
  void reset() noexcept {
    if (ops_ != nullptr) {
      if (ops_->destroy != nullptr) ops_->destroy(buffer_);
      ops_ = nullptr;
    }
  }

  /// Exchanges the objects `a` and `b` hold. Never throws, destroys nothing.
  friend void swap(Value& a, Value& b) noexcept {
    Value t(std::move(a));
    a = std::move(b);
    b = std::move(t);
  }

 private:
  friend void repr_append(std::string& out, const Value& value);
  friend struct detail::ValueAccess;

  void take(Value& other) noexcept {
    if (other.ops_ != nullptr) {
      if (other.ops_->relocate != nullptr) {
        other.ops_->relocate(buffer_, other.buffer_);
      } else {
        std::memcpy(buffer_, other.buffer_, sizeof buffer_);
      }
      ops_ = other.ops_;
      other.ops_ = nullptr;
    }
  }
  // Constructs a T from `args` in this value, which holds nothing (None). If a step throws, it
  // still holds nothing.
  template <class T, class... A>
  void construct(A&&... args) {
    if constexpr (detail::kStoredInline<T>) {
      ::new (static_cast<void*>(buffer_)) T(std::forward<A>(args)...);
    } else {
      *reinterpret_cast<T**>(buffer_) = new T(std::forward<A>(args)...);
    }
    ops_ = detail::ops_for<T>;
    detail::OpsFor<T>::made();  // counted, as its table's destroy will uncount it
    if constexpr (detail::HasMade<T>) {
      try {
        detail::PythonType<T>::made(*detail::object_in<T>(buffer_));
      } catch (...) {
        reset();
        throw;
      }
    }
  }

  alignas(8) unsigned char buffer_[detail::kValueBuffer];
  const detail::ValueOps* ops_ = nullptr;
};

}  // namespace localbag

#include "localbag/detail/value_traits.hpp"
