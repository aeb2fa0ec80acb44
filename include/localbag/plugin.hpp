// SPDX-License-Identifier: MIT
#pragma once
/// \file
/// `Plugin`: a shared library loaded with `dlopen` that a host can unload while threads run.
/// An unload either completes, after which nothing in localbag ever touches the library's code
/// or data again, or it is refused with a report of what still holds them, and nothing changes
/// (docs/plugins.md).

#include "localbag/detail/require_cxx20.hpp"  // first: a clear error before C++20

#include <cstddef>
#include <string>
#include <type_traits>
#include <vector>

#include "localbag/error.hpp"

namespace localbag {

/// What holds a plugin's code or data: the report of a refused unload (`Plugin::usage()`).
/// A class "comes from" the plugin when its init, one of its methods or one of its attribute
/// values does; a value "comes from" it when its type's operations table is the plugin's (a type
/// the plugin defined or instantiated), or when it is a `Function` whose code is the plugin's.
struct PluginUsage {
  /// A class that comes from the plugin and is still referenced by more than registries.
  struct ClassUse {
    /// The class name.
    std::string name;
    /// Live objects of exactly this class.
    std::size_t objects = 0;
    /// Live subclasses that do not come from the plugin themselves (each holds this class).
    std::vector<std::string> subclasses;
    /// References that are neither a registry's, an object's nor a subclass's: `ClassRef`
    /// variables, values holding the class.
    std::size_t references = 0;
  };
  /// The live values of one type of the plugin's, outside the classes an unload would drop.
  struct ValueUse {
    /// The type's name, as `Value::type_name()` gives it (`function` for functions).
    std::string type;
    /// How many.
    std::size_t count = 0;
  };
  /// A place where values of the plugin's were found: the places another thread can read
  /// without racing their owners (class attributes, slots, the dicts of explicit contexts not
  /// entered anywhere, and the dicts of the thread asking).
  struct Place {
    /// What it is, as in `object of class 'HostState' (id 0x55d0c0a1e2b0): 2 contexts entered
    /// nowhere`, `object ...: this thread's dict` or `class 'HostState' attributes` (its own
    /// and those it inherits, such as a plugin's method).
    std::string where;
    /// The plugin's values found there, nested ones included.
    std::size_t values = 0;
  };

  /// Classes from the plugin still referenced, by name.
  std::vector<ClassUse> classes;
  /// Live values of the plugin's types, by type name.
  std::vector<ValueUse> values;
  /// Where some of those values are.
  std::vector<Place> places;
  /// Values counted in `values` but found in none of `places`: in other threads' dicts (which
  /// only their own thread may read), in contexts entered now, or in C++ variables.
  std::size_t unplaced = 0;
  /// Other threads whose own dicts could not be read (all live threads but the one asking).
  std::size_t other_threads = 0;
  /// Explicit contexts entered on other threads at the time, whose dicts could not be read.
  std::size_t entered_contexts = 0;

  /// Whether nothing holds the plugin: an unload would complete.
  bool empty() const noexcept { return classes.empty() && values.empty(); }
  /// The report as text: each item on a line of its own, indented by two spaces and preceded
  /// by a newline (no trailing newline), as `PluginInUseError`'s message shows it after its
  /// first line.
  std::string to_string() const;
};

/// The error of a refused unload: a `RuntimeError` whose message is ``cannot unload plugin
/// 'libgreeter.so': it is in use`` followed by the report's text (`usage().to_string()`), so
/// `to_string()` is several lines. It also carries the report itself.
class PluginInUseError : public RuntimeError {
 public:
  /// The error for the plugin at `path`, with its report.
  PluginInUseError(const std::string& path, PluginUsage usage);
  /// What held the plugin when the unload was refused.
  const PluginUsage& usage() const noexcept { return usage_; }

 private:
  PluginUsage usage_;
};

/// A plugin: a shared library loaded with `dlopen(path, RTLD_NOW | RTLD_LOCAL)`. The library
/// links `liblocalbag.so` (one copy of localbag per process); it may define classes in its own
/// registries and in `Registry::global()`, create objects, and store values of its own types
/// and of the builtin ones into any object, from any thread or context. Values of the builtin
/// types (numbers, bool, None, str, bytes, list, tuple, dict, class, object) never point into
/// the plugin, whoever stored them.
///
/// `unload()` checks that nothing holds the plugin's code or data, removes its classes from
/// every registry outside the plugin, and calls `dlclose`. Not thread-safe on one `Plugin`;
/// distinct plugins may be loaded and unloaded from any threads.
class Plugin {
 public:
  /// Loads the library. ``ImportError`` with the dynamic linker's message when `dlopen` fails,
  /// and, before any of its code runs, when the library carries a copy of localbag of its own
  /// (linked statically): two copies would keep two separate sets of per-thread records.
  explicit Plugin(const std::string& path);
  /// Unloads the library when `unload()` would complete; otherwise leaves it loaded (mapped and
  /// consistent, as if `dlclose` were never called), so that nothing ever crashes later.
  ~Plugin();
  /// Takes the other plugin's library; the moved-from plugin is not loaded.
  Plugin(Plugin&& other) noexcept;
  Plugin(const Plugin&) = delete;
  Plugin& operator=(const Plugin&) = delete;
  Plugin& operator=(Plugin&&) = delete;

  /// The path given to the constructor.
  const std::string& path() const noexcept { return path_; }
  /// Whether the library is loaded (false after a completed `unload()`).
  bool loaded() const noexcept { return handle_ != nullptr; }

  /// The address of the exported symbol `name` (`dlsym`). ``AttributeError: plugin
  /// 'libgreeter.so' has no symbol 'name'`` when it has none; ``RuntimeError`` when the plugin
  /// is unloaded.
  void* symbol(const std::string& name) const;
  /// The exported function `name`, as a pointer of type `F*` (`F` a function type, such as
  /// `int(const char*)`; it must match the function's definition). Errors as `symbol()`.
  template <class F>
  F* function(const std::string& name) const {
    static_assert(std::is_function_v<F>, "Plugin::function<F>: F is a function type");
    return reinterpret_cast<F*>(symbol(name));
  }

  /// What holds the library's code or data now (empty: `unload()` would complete). Reads, under
  /// the locks that guard them, every live class, the registries, the counts of the plugin's
  /// values, and the places listed in `PluginUsage::Place`. Empty for an unloaded plugin.
  PluginUsage usage() const;

  /// Unloads the library, or refuses. Refused, with `PluginInUseError` and nothing changed, when
  /// `usage()` is not empty. Otherwise: every class that comes from the plugin leaves every
  /// registry outside the plugin (its name can be defined again), the classes die, `dlclose`
  /// runs the plugin's static destructors, and nothing in localbag refers to the library any
  /// more. Returns whether the library left the address space: false when something outside
  /// localbag keeps it mapped (another `dlopen` handle; a GNU unique symbol of its own, which
  /// g++ emits for inline static variables unless `-fno-gnu-unique`; a `thread_local` with a
  /// destructor that a live thread constructed). No effect and true when not loaded.
  [[nodiscard]] bool unload();

 private:
  std::string path_;
  void* handle_ = nullptr;
};

}  // namespace localbag
