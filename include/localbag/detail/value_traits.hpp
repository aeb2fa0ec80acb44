// SPDX-License-Identifier: MIT
#pragma once
// How the types a Value holds look to Python: `PythonType<T>` gives a type's name (`str`,
// `list`, or the C++ name) and appends its repr. Included at the end of value.hpp, so that the
// functions named in a ValueOps table are defined wherever a table is made. Types defined above
// Value (`Dict`, `Function`) specialize `PythonType` next to their own definition, so this file
// names nothing above Value.

#include <concepts>
#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>

#include "localbag/value.hpp"

namespace localbag::detail {

void repr_int(std::string& out, long long value);
void repr_uint(std::string& out, unsigned long long value);
void repr_float(std::string& out, double value);
void repr_str(std::string& out, std::string_view text);
void repr_list(std::string& out, const List& list);
void repr_tuple(std::string& out, const Tuple& tuple);
void repr_bytes(std::string& out, std::string_view bytes);

// A user type can give its own repr with a function found by argument-dependent lookup:
//   std::string localbag_repr(const MyType&);
template <class T>
concept HasUserRepr = requires(const T& t) {
  { localbag_repr(t) } -> std::convertible_to<std::string>;
};

template <class T>
struct PythonType {
  // Python's name for the Python-like types, the C++ name for every other type (`int`, `long`,
  // `double`, `MySocket`), so that two different C++ types never share a name.
  static std::string name() {
    if constexpr (std::is_same_v<T, bool>) {
      return "bool";
    } else if constexpr (std::is_same_v<T, std::string>) {
      return "str";
    } else if constexpr (std::is_same_v<T, None>) {
      return "NoneType";
    } else if constexpr (std::is_same_v<T, List>) {
      return "list";
    } else if constexpr (std::is_same_v<T, Tuple>) {
      return "tuple";
    } else if constexpr (std::is_same_v<T, Bytes>) {
      return "bytes";
    } else {
      return demangle(typeid(T));
    }
  }

  static void repr(std::string& out, const T& object) {
    if constexpr (HasUserRepr<T>) {
      out += localbag_repr(object);
    } else if constexpr (std::is_same_v<T, bool>) {
      out += object ? "True" : "False";
    } else if constexpr (std::is_integral_v<T> && std::is_signed_v<T>) {
      repr_int(out, object);
    } else if constexpr (std::is_integral_v<T>) {
      repr_uint(out, object);
    } else if constexpr (std::is_floating_point_v<T>) {
      repr_float(out, static_cast<double>(object));
    } else if constexpr (std::is_same_v<T, std::string>) {
      repr_str(out, object);
    } else if constexpr (std::is_same_v<T, List>) {
      repr_list(out, object);
    } else if constexpr (std::is_same_v<T, Tuple>) {
      repr_tuple(out, object);
    } else if constexpr (std::is_same_v<T, Bytes>) {
      repr_bytes(out, object.data);
    } else {
      out += '<';
      out += name();
      out += " object>";
    }
  }
};

template <class T>
std::string type_name() {
  return PythonType<T>::name();
}

template <class T>
Value OpsFor<T>::to_builtin(const void* object) {
  if constexpr (HasToBuiltin<T>) {
    return PythonType<T>::to_builtin(*object_in<T>(const_cast<void*>(object)));
  } else {
    return Value();
  }
}

struct ValueAccess {
  static const ValueOps* ops(const Value& v) noexcept { return v.ops_; }
  static const void* object(const Value& v) noexcept { return v.buffer_; }
};

// OverflowError: Python int too large to convert to C <wanted> (or, `negative`: can't convert
// negative int to unsigned)
[[noreturn]] void throw_int_overflow(TypeNameFn wanted, bool negative);
// OverflowError: int too large to convert to float
[[noreturn]] void throw_float_overflow();
// TypeError: 'float' object cannot be interpreted as an integer
[[noreturn]] void throw_float_not_integer();

// A number as a T, by the numeric policy (Value::as).
template <class T>
T number_as(const Number& n) {
  if constexpr (std::is_floating_point_v<T>) {
    switch (n.kind) {
      case Number::Kind::kSigned:
        return static_cast<T>(n.i);
      case Number::Kind::kUnsigned:
        return static_cast<T>(n.u);
      case Number::Kind::kWide:
        if (n.f - n.f != 0) throw_float_overflow();  // an infinity
        return static_cast<T>(n.f);
      case Number::Kind::kFloat:
        break;
    }
    return static_cast<T>(n.f);
  } else {
    using Limits = std::numeric_limits<T>;
    if (n.kind == Number::Kind::kFloat) throw_float_not_integer();
    if (n.kind == Number::Kind::kWide) {
      throw_int_overflow(&type_name<T>, std::is_unsigned_v<T> && n.i < 0);
    }
    if (n.kind == Number::Kind::kSigned) {
      if (n.i < 0) {
        if constexpr (std::is_unsigned_v<T>) throw_int_overflow(&type_name<T>, true);
        if (n.i < static_cast<long long>(Limits::min())) throw_int_overflow(&type_name<T>, false);
      } else if (static_cast<unsigned long long>(n.i) >
                 static_cast<unsigned long long>(Limits::max())) {
        throw_int_overflow(&type_name<T>, false);
      }
      return static_cast<T>(n.i);
    }
    if (n.u > static_cast<unsigned long long>(Limits::max())) {
      throw_int_overflow(&type_name<T>, false);
    }
    return static_cast<T>(n.u);
  }
}

// The held object as a T by the numeric policy, or nothing when the held type converts to no
// T: the caller words that TypeError for its context, naming the held value's type or, when
// `shown` is set, the type of its builtin equivalent (a value of another language: a Python str
// is a str).
// Throws OverflowError when it converts but does not fit.
template <class T>
std::optional<T> try_convert(const Value& v, std::optional<Value>& shown) {
  if (const T* p = v.template try_get<T>()) return *p;
  const ValueOps* ops = ValueAccess::ops(v);
  if (ops == nullptr) return std::nullopt;
  if constexpr (std::is_arithmetic_v<T> && !std::is_same_v<T, bool>) {
    Number n;
    if (ops->number != nullptr && ops->number(ValueAccess::object(v), n)) {
      return number_as<T>(n);
    }
  }
  if (ops->to_builtin != nullptr) {
    Value builtin = ops->to_builtin(ValueAccess::object(v));
    if (T* p = builtin.template try_get<T>()) return std::move(*p);
    const ValueOps* bops = ValueAccess::ops(builtin);
    if (bops != nullptr && bops->to_builtin == nullptr) {
      if (std::optional<T> out = try_convert<T>(builtin, shown)) return out;
    }
    if (bops == nullptr || bops->to_builtin == nullptr) shown.emplace(std::move(builtin));
  }
  return std::nullopt;
}

}  // namespace localbag::detail

namespace localbag {

template <class T>
T Value::as() const {
  std::optional<Value> shown;
  if (std::optional<T> out = detail::try_convert<T>(*this, shown)) return std::move(*out);
  detail::throw_value_wrong_type(shown ? *shown : *this, &detail::type_name<T>);
}

}  // namespace localbag
