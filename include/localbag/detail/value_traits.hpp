// SPDX-License-Identifier: MIT
#pragma once
// How the types a Value holds look to Python: `PythonType<T>` gives a type's name (`str`,
// `list`, or the C++ name) and appends its repr. Included at the end of value.hpp, so that the
// functions named in a ValueOps table are defined wherever a table is made. Types defined above
// Value (`Dict`, `Function`) specialize `PythonType` next to their own definition, so this file
// names nothing above Value.

#include <concepts>
#include <cstdint>
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

}  // namespace localbag::detail
