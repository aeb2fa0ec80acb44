// SPDX-License-Identifier: MIT
#pragma once
/// \file
/// `Config`: classes whose attributes are loaded from a JSON file, reloaded as one change (from
/// the file, on demand or when it changes on disk, or from a `Dict`), with an optional schema
/// and change callbacks. Threads read a class's attributes through its objects, as defaults;
/// `setattr` on an object overrides one for the calling thread, or for the entered `Context`.
/// docs/config.md describes the file format, the reload semantics and the errors.

#include "localbag/detail/require_cxx20.hpp"  // first: a clear error before C++20

#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "localbag/class.hpp"
#include "localbag/dict.hpp"
#include "localbag/error.hpp"
#include "localbag/local_object.hpp"
#include "localbag/registry.hpp"
#include "localbag/value.hpp"

namespace localbag {

/// A configuration that cannot be loaded. `python_type()` says what went wrong, in Python's
/// words: `JSONDecodeError` (a syntax error), `FileNotFoundError` / `OSError` (the file cannot
/// be read), `TypeError` (a value of a type the schema forbids), `ValueError` (a structure
/// the format forbids: a class that is not an object, an unknown or changed base, a class
/// missing on reload), `OverflowError` (an integer beyond 64 bits). `what()` starts with the
/// place: `config.json:3:14: ...` (or `config.json: ...` when there is no line, or
/// `<dict>: ...` for a `Dict` given in code).
class ConfigError : public Error {
 public:
  /// An error of Python type `python_type` (a string literal, as for `Error`) in `file` at
  /// `line`, `column` (from 1; 0 when the error has no place in the file); `message` is the
  /// whole `what()`, place included.
  ConfigError(const char* python_type, std::string file, int line, int column,
              const std::string& message);
  /// The file (or `<dict>`).
  const std::string& file() const noexcept { return file_; }
  /// The line, from 1; 0 when none.
  int line() const noexcept { return line_; }
  /// The column (bytes from the start of the line, from 1); 0 when none.
  int column() const noexcept { return column_; }

 private:
  std::string file_;
  int line_;
  int column_;
};

/// The types a `ConfigSchema` may declare, by their Python names.
enum class ConfigType {
  none,     ///< `NoneType`: `None` (JSON `null`)
  boolean,  ///< `bool` (JSON `true`, `false`)
  integer,  ///< `int` (a JSON number without fraction or exponent), stored as `std::int64_t`
  number,   ///< `float`: a JSON number of either kind (an integer stays an `int` and reads as
            ///< a float by the numeric policy)
  string,   ///< `str` (`std::string`)
  list,     ///< `list` (`List`)
  dict,     ///< `dict` (`Dict`)
};

/// The Python name of a `ConfigType`: `"int"`, `"float"`, `"str"`, ...
std::string_view python_name(ConfigType type) noexcept;

/// The declared types of a configuration's attributes. An attribute with a declared type must
/// have that type in every load; a load that gives it another is refused (`TypeError`, naming
/// the file, line and column). Undeclared attributes take any type, and so does every
/// attribute without a schema.
class ConfigSchema {
 public:
  /// Declares attribute `attr` of class `cls` to be of `type`. `required`: every load must
  /// define it (in `cls` itself or in a base in the file), else `ValueError`.
  ConfigSchema& attr(std::string cls, std::string attr, ConfigType type, bool required = false);

  /// One declaration.
  struct Entry {
    ConfigType type;  ///< The declared type.
    bool required;    ///< Whether every load must define the attribute.
  };
  /// The declarations: class name -> attribute name -> entry.
  const std::map<std::string, std::map<std::string, Entry, std::less<>>, std::less<>>& entries()
      const noexcept {
    return entries_;
  }

 private:
  std::map<std::string, std::map<std::string, Entry, std::less<>>, std::less<>> entries_;
};

/// One attribute that a load changed, as its class's objects show it (the class's own
/// attributes merged with those of its bases in the configuration).
struct ConfigChange {
  std::string cls;                 ///< The class's name.
  std::string attr;                ///< The attribute's name.
  std::optional<Value> old_value;  ///< Before the change; nullopt when it was added.
  std::optional<Value> new_value;  ///< After the change; nullopt when it was removed.
};

/// What one reload changed, given to the subscribers.
struct ConfigUpdate {
  std::uint64_t version;              ///< The configuration's version after it (`Config::version`).
  std::string source;                 ///< The file, or `<dict>`.
  std::vector<ConfigChange> changes;  ///< Every changed attribute, by class then name.
};

/// A set of classes loaded from one JSON document, each defined in the configuration's own
/// `Registry` (`registry()`). The document is an object whose members are classes:
///
///     {
///       "defaults":   {"timeout": 30, "greeting": "hello", "features": {"beta": false}},
///       "service":    {"__base__": "defaults", "timeout": 10},
///       "service.eu": {"__base__": "service", "greeting": "hallo"}
///     }
///
/// Objects become `Dict`s, arrays `List`s, strings `std::string`, integers `std::int64_t` (or
/// `std::uint64_t` above its range), other numbers `double`, `true`/`false` `bool`, `null`
/// `None`. `__base__` names a base: a class of the document, or of `bases` (a registry given to
/// the constructor). All members are safe to call from any thread; reloads run one at a time.
class Config {
 public:
  /// Loads `path` and defines its classes. `ConfigError` when it cannot be loaded.
  explicit Config(std::filesystem::path path, ConfigSchema schema = {},
                  const Registry* bases = nullptr);
  /// Defines the classes of `document` (class name -> `Dict` of attributes, as a file's),
  /// given in code. `reload()` without arguments is then an error; `reload(Dict)` works.
  explicit Config(Dict document, ConfigSchema schema = {}, const Registry* bases = nullptr);
  /// Stops the watcher (see `watch`) and drops the subscribers. The classes and their objects
  /// live on while referenced.
  ~Config();
  Config(const Config&) = delete;
  Config& operator=(const Config&) = delete;

  /// The file given to the constructor (empty for a `Dict`).
  const std::filesystem::path& path() const noexcept;
  /// The class named `name`: ``NameError: name 'x' is not defined`` when the configuration has
  /// no such class.
  ClassRef cls(std::string_view name) const;
  /// The registry the classes are defined in (a class from `bases` is not in it).
  const Registry& registry() const noexcept;
  /// One object of class `name`, the same on every call: read it on any thread; `setattr` on
  /// it overrides an attribute for the calling thread (or entered `Context`) only.
  LocalObject object(std::string_view name);
  /// How many loads succeeded: 1 after the constructor, one more per reload that succeeded. A
  /// reload advances it just after publishing its values (another thread may read the new
  /// values an instant before it sees the new count), and before its subscribers run.
  std::uint64_t version() const noexcept;

  /// Reads the file again and publishes what changed as one change (`Class::replace_attrs`):
  /// a thread sees all of the new attributes or none, subclasses at once, overrides stay;
  /// attributes no longer in the file are removed. A class new in the file is defined. Returns
  /// whether anything changed. `ConfigError` (and nothing changed) for a file that cannot be
  /// read or parsed, a type the schema forbids, a class missing from the file or whose base
  /// changed. The subscribers have run for this change when it returns, unless another thread
  /// (or a callback this reload was called from) is delivering changes at that moment: it then
  /// delivers this one next, in order, and `reload` does not wait for it.
  bool reload();
  /// The same from a document given in code (class name -> `Dict`).
  bool reload(Dict document);

  /// Starts watching the file (inotify), on a thread of its own: it reloads when the file
  /// changes, by a write, an atomic rename over it, or a symlink swap of the file or of a
  /// directory on its path (as Envoy deploys runtime files). A reload that fails keeps the old
  /// configuration and goes to the error handlers (`on_error`). Does nothing when watching
  /// already. `OSError` when inotify cannot watch the path's directories, `ValueError` for a
  /// configuration given as a `Dict`.
  void watch();
  /// Stops watching and joins the thread; nothing runs afterwards. Does nothing when not
  /// watching. Must not be called from a subscriber run by the watcher (it would wait for
  /// itself): `RuntimeError` then.
  void unwatch();
  /// Whether the watcher runs.
  bool watching() const noexcept;

  /// A subscription's handle: unsubscribes when destroyed or `reset()`. Movable.
  class Subscription {
   public:
    /// No subscription.
    Subscription() noexcept = default;
    /// Takes the other's subscription; the other is left with none.
    Subscription(Subscription&&) noexcept = default;
    /// Unsubscribes this one (as `reset`), then takes the other's.
    Subscription& operator=(Subscription&& other) noexcept;
    /// Unsubscribes, as `reset`.
    ~Subscription();
    /// Unsubscribes: when it returns, the callback is not running (unless on this thread,
    /// from the callback itself) and will not run again. Safe inside the callback.
    void reset() noexcept;
    /// Whether subscribed.
    explicit operator bool() const noexcept { return static_cast<bool>(state_); }

    /// Internal: what a subscription shares with its configuration.
    struct State;

   private:
    friend class Config;
    explicit Subscription(std::shared_ptr<State> state) noexcept : state_(std::move(state)) {}
    std::shared_ptr<State> state_;
  };
  /// Calls `fn` after each reload that changed something, on the reloading thread, one call at a
  /// time and in order, with no lock held but this subscription's own (which only its `reset`
  /// takes). It may read the configuration, reload it, subscribe and unsubscribe; an exception
  /// it throws goes to the error handlers (the reload stands).
  [[nodiscard]] Subscription subscribe(std::function<void(const ConfigUpdate&)> fn);
  /// Calls `fn` with each error of a reload the watcher started (a call to `reload` throws
  /// instead), as `subscribe` calls its callbacks.
  [[nodiscard]] Subscription on_error(std::function<void(const ConfigError&)> fn);
  /// The error of the last reload, or nullopt when it succeeded.
  std::optional<ConfigError> last_error() const;

  /// Internal: what a configuration holds (src/config/state.hpp).
  struct State;

 private:
  std::shared_ptr<State> state_;
};

}  // namespace localbag
