// SPDX-License-Identifier: MIT
#pragma once
/// \file
/// Python-style text for values: `repr(Value(42))` is `42`, `repr(Value("red"))` is ``'red'``,
/// `repr(Value(true))` is `True`, `repr(Value())` is `None`, a `List` is `[...]`, a `Tuple`
/// `(...)`, a `Dict` ``{'number': 42}``. Any other type prints as `<TypeName object>` unless it
/// has a `std::string localbag_repr(const T&)` found by argument-dependent lookup.

#include "localbag/detail/require_cxx20.hpp"  // first: a clear error before C++20

#include <string>
#include <type_traits>

#include "localbag/dict.hpp"
#include "localbag/value.hpp"

namespace localbag {

/// Appends Python's repr of `value` to `out`.
void repr_append(std::string& out, const Value& value);

/// Python's `repr(value)`.
std::string repr(const Value& value);

/// Python's `repr(d)` of a dict: ``{'number': 42}``, keys in insertion order.
std::string repr(const Dict& dict);

/// Python's repr of any object a `Value` could hold, without wrapping it first.
template <class T>
std::string repr(const T& object) {
  using S = detail::stored_t<T>;
  std::string out;
  if constexpr (std::is_same_v<std::decay_t<T>, S>) {
    detail::PythonType<S>::repr(out, object);
  } else {
    detail::PythonType<S>::repr(out, S(object));  // a string view or literal, as the str it becomes
  }
  return out;
}

}  // namespace localbag
