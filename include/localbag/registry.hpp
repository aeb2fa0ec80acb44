// SPDX-License-Identifier: MIT
#pragma once
/// \file
/// `Registry`: a namespace of classes. `Registry::global()` is the process-wide one; a plugin
/// system gives each plugin a registry of its own.

#include "localbag/detail/require_cxx20.hpp"  // first: a clear error before C++20

#include <cstddef>
#include <map>
#include <memory>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <vector>

#include "localbag/class.hpp"
#include "localbag/dict.hpp"
#include "localbag/local_object.hpp"
#include "localbag/value.hpp"

namespace localbag {

namespace detail {
struct RegistryAccess;  // src/plugin/: reads and changes every registry (Plugin::unload)
}  // namespace detail

/// Classes by name. Every registry already knows `local` (the root class). All members are
/// safe to call from any thread. A class outlives its registry while objects or subclasses
/// still refer to it.
class Registry {
 public:
  /// A registry that knows only `local`.
  Registry();
  ~Registry();
  Registry(const Registry&) = delete;
  Registry& operator=(const Registry&) = delete;

  /// The process-wide registry; never destroyed, so usable during process exit.
  static Registry& global();

  /// Defines a class. Throws, leaving the registry unchanged:
  /// ``ValueError: class 'X' is already defined`` for a name in use (including `local`),
  /// ``NameError: name 'B' is not defined`` for an unknown base,
  /// ``ValueError: 'x' in __slots__ conflicts with class variable`` for a slot that is also a
  /// class attribute or method of the same class,
  /// ``TypeError: cannot copy 'T' object`` for a class attribute that cannot be copied.
  ClassRef define(ClassSpec spec);

  /// `class X(...)` run again (Python rebinding a class name): defines the class, replacing a
  /// class of the same name if there is one. The replaced class lives on in its objects and
  /// subclasses, as in Python; only the name moves to the new class. Errors as `define`, except
  /// that a name in use is not one (`local` still is); the registry is unchanged on error.
  ClassRef redefine(ClassSpec spec);

  /// `del X`: removes the name, so that `define` may use it again. The class lives on in its
  /// objects and subclasses, as in Python. ``NameError: name 'X' is not defined`` when absent,
  /// ``TypeError: cannot remove 'local'`` for the root class.
  void remove(std::string_view name);

  /// The class named `name`, or nullptr.
  ClassRef find(std::string_view name) const;
  /// The class named `name`, or ``NameError: name 'X' is not defined``.
  ClassRef get(std::string_view name) const;
  /// Whether `find(name)` finds a class (true for `local`).
  bool contains(std::string_view name) const;
  /// Defined class names (not `local`), sorted.
  std::vector<std::string> names() const;
  /// Number of defined classes (not counting `local`).
  std::size_t size() const;

  /// `MyLocal(*args, **kwargs)` for the class named `name`.
  LocalObject instantiate(std::string_view name, std::vector<Value> args = {},
                          Dict kwargs = {}) const;

 private:
  friend struct detail::RegistryAccess;
  ClassRef define_locked(ClassSpec spec, bool replace);

  mutable std::shared_mutex mutex_;
  std::map<std::string, ClassRef, std::less<>> classes_;
};

}  // namespace localbag
