// SPDX-License-Identifier: MIT
// Config: a document's classes, defined in a registry of the configuration's own, and reloaded
// as one change with Class::replace_attrs. A reload is checked whole before anything changes.
#include "localbag/config.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <deque>
#include <exception>
#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <tuple>
#include <utility>

#include "document.hpp"
#include "localbag/detail/throw.hpp"
#include "localbag/repr.hpp"
#include "watcher.hpp"

namespace localbag {

namespace cfg = detail::config;

ConfigError::ConfigError(const char* python_type, std::string file, int line, int column,
                         const std::string& message)
    : Error(python_type, message), file_(std::move(file)), line_(line), column_(column) {}

std::string_view python_name(ConfigType type) noexcept {
  switch (type) {
    case ConfigType::none:
      return "NoneType";
    case ConfigType::boolean:
      return "bool";
    case ConfigType::integer:
      return "int";
    case ConfigType::number:
      return "float";
    case ConfigType::string:
      return "str";
    case ConfigType::list:
      return "list";
    case ConfigType::dict:
      return "dict";
  }
  return "?";
}

ConfigSchema& ConfigSchema::attr(std::string cls, std::string attr, ConfigType type,
                                 bool required) {
  entries_[std::move(cls)][std::move(attr)] = Entry{type, required};
  return *this;
}

namespace {

std::string in_quotes(std::string_view s) { return "'" + std::string(s) + "'"; }

bool has_type(const Value& value, ConfigType type) {
  const cfg::Kind kind = cfg::kind_of(value);
  switch (type) {
    case ConfigType::none:
      return kind == cfg::Kind::kNone;
    case ConfigType::boolean:
      return kind == cfg::Kind::kBool;
    case ConfigType::integer:
      return kind == cfg::Kind::kInt;
    case ConfigType::number:
      return kind == cfg::Kind::kInt || kind == cfg::Kind::kFloat;
    case ConfigType::string:
      return kind == cfg::Kind::kStr;
    case ConfigType::list:
      return kind == cfg::Kind::kList;
    case ConfigType::dict:
      return kind == cfg::Kind::kDict;
  }
  return false;
}

bool same(const Dict& a, const Dict& b);

// Python's ==, for what a configuration holds: numbers by value (an int equals a float of the
// same value, as in Python), str, bool, None, lists and dicts element by element; any other
// value by its type and repr.
bool same(const Value& a, const Value& b) {
  const cfg::Kind ka = cfg::kind_of(a);
  const cfg::Kind kb = cfg::kind_of(b);
  const bool numbers = (ka == cfg::Kind::kInt || ka == cfg::Kind::kFloat) &&
                       (kb == cfg::Kind::kInt || kb == cfg::Kind::kFloat);
  if (ka != kb && !numbers) return false;
  switch (ka) {
    case cfg::Kind::kNone:
      return true;
    case cfg::Kind::kBool:
      return *a.try_get<bool>() == *b.try_get<bool>();
    case cfg::Kind::kStr:
      return *a.try_get<std::string>() == *b.try_get<std::string>();
    case cfg::Kind::kInt:
    case cfg::Kind::kFloat:
      if (ka == cfg::Kind::kInt && kb == cfg::Kind::kInt) {
        try {
          return a.as<std::int64_t>() == b.as<std::int64_t>();
        } catch (const Error&) {
          return repr(a) == repr(b);  // beyond 64 bits
        }
      }
      return a.as<double>() == b.as<double>();
    case cfg::Kind::kList: {
      const List& x = *a.try_get<List>();
      const List& y = *b.try_get<List>();
      if (x.size() != y.size()) return false;
      for (std::size_t i = 0; i < x.size(); ++i) {
        if (!same(x[i], y[i])) return false;
      }
      return true;
    }
    case cfg::Kind::kDict:
      return same(*a.try_get<Dict>(), *b.try_get<Dict>());
    case cfg::Kind::kOther:
      break;
  }
  return a.type_name() == b.type_name() && repr(a) == repr(b);
}

bool same(const Dict& a, const Dict& b) {
  if (a.size() != b.size()) return false;
  for (const auto [key, value] : a) {
    const Value* other = b.find(key);
    if (other == nullptr || !same(value, *other)) return false;
  }
  return true;
}

const char* os_error_type(int error) {
  switch (error) {
    case ENOENT:
      return "FileNotFoundError";
    case EACCES:
    case EPERM:
      return "PermissionError";
    case EISDIR:
      return "IsADirectoryError";
    default:
      return "OSError";
  }
}

[[noreturn]] void fail_os(const std::string& source, int error) {
  cfg::fail(
      os_error_type(error), source, {},
      "[Errno " + std::to_string(error) + "] " + std::strerror(error) + ": " + in_quotes(source));
}

// The file's text and the identity of what was read.
std::string read_file(const std::filesystem::path& path, const std::string& source,
                      cfg::FileIdentity& identity) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    identity = cfg::FileIdentity::at(path);
    fail_os(source, errno);
  }
  struct Closer {
    int fd;
    ~Closer() { ::close(fd); }
  } closer{fd};
  struct stat st {};
  if (::fstat(fd, &st) != 0) fail_os(source, errno);
  identity = cfg::FileIdentity::of(st);
  if (S_ISDIR(st.st_mode)) fail_os(source, EISDIR);
  std::string text;
  char buffer[64 * 1024];
  for (;;) {
    const ssize_t n = ::read(fd, buffer, sizeof buffer);
    if (n < 0) {
      if (errno == EINTR) continue;
      fail_os(source, errno);
    }
    if (n == 0) break;
    text.append(buffer, static_cast<std::size_t>(n));
  }
  return text;
}

}  // namespace

// A subscriber: a callback, and what lets `reset` wait for a running call.
struct Config::Subscription::State {
  std::function<void(const ConfigUpdate&)> on_update;
  std::function<void(const ConfigError&)> on_error;
  std::mutex running;  // held while the callback runs
  std::atomic<std::thread::id> runner{};
  std::atomic<bool> active{true};
  std::weak_ptr<Config::State> owner;
};

struct Config::State {
  // Fixed at construction.
  std::filesystem::path path;
  std::string source;  // path as given, or "<dict>"
  bool from_file = false;
  ConfigSchema schema;
  const Registry* bases = nullptr;
  Registry registry;

  // One reload at a time; guards everything below it up to `version`.
  std::mutex reload_mutex;
  struct Known {
    ClassRef cls;
    std::string base;
    Dict own;        // what the class defines itself, as last loaded
    Dict effective;  // own merged along the base chain within the document
  };
  std::map<std::string, Known, std::less<>> known;
  cfg::FileIdentity loaded;  // what the last reload read (or tried to)
  std::atomic<std::uint64_t> version{0};

  std::mutex objects_mutex;
  std::map<std::string, LocalObject, std::less<>> objects;

  mutable std::mutex error_mutex;
  std::optional<ConfigError> last_error;

  // Subscribers, and the changes waiting to be delivered to them, in version order.
  std::mutex subscribers_mutex;
  std::vector<std::shared_ptr<Subscription::State>> subscribers;
  std::deque<ConfigUpdate> pending;
  std::mutex deliver_mutex;  // held by the thread delivering
  std::atomic<std::thread::id> deliverer{};

  std::mutex watch_mutex;
  std::unique_ptr<cfg::FileWatcher> watcher;

  bool load(cfg::Document doc, bool first);
  void deliver();
  void report(const ConfigError& error);
  void watched_change();
};

namespace {

// The document's classes ordered bases first; ValueError for an unknown base or a cycle.
std::vector<const cfg::DocClass*> bases_first(const cfg::Document& doc, const Registry* bases) {
  std::map<std::string_view, const cfg::DocClass*> by_name;
  for (const cfg::DocClass& c : doc.classes) by_name[c.name] = &c;
  std::vector<const cfg::DocClass*> order;
  std::set<std::string_view> placed;
  std::set<std::string_view> visiting;
  std::function<void(const cfg::DocClass&)> visit = [&](const cfg::DocClass& c) {
    if (placed.count(c.name) != 0) return;
    if (c.name == "local") {
      cfg::fail("ValueError", doc.source, c.where, "class 'local' is already defined");
    }
    if (!visiting.insert(c.name).second) {
      cfg::fail("ValueError", doc.source, c.base_where,
                "the base chain of class " + in_quotes(c.name) + " is circular");
    }
    if (!c.base.empty() && c.base != "local") {
      if (auto it = by_name.find(c.base); it != by_name.end()) {
        visit(*it->second);
      } else if (bases == nullptr || !bases->contains(c.base)) {
        cfg::fail(
            "ValueError", doc.source, c.base_where,
            "base " + in_quotes(c.base) + " of class " + in_quotes(c.name) + " is not defined");
      }
    }
    visiting.erase(c.name);
    placed.insert(c.name);
    order.push_back(&c);
  };
  for (const cfg::DocClass& c : doc.classes) visit(c);
  return order;
}

// The schema's entry for `attr` of `cls`, or of its nearest base in the document declaring it.
const ConfigSchema::Entry* declared(const ConfigSchema& schema,
                                    const std::map<std::string_view, const cfg::DocClass*>& doc,
                                    const cfg::DocClass& cls, std::string_view attr) {
  const cfg::DocClass* c = &cls;
  for (int hops = 0; c != nullptr && hops < 1000; ++hops) {
    if (auto s = schema.entries().find(c->name); s != schema.entries().end()) {
      if (auto e = s->second.find(attr); e != s->second.end()) return &e->second;
    }
    auto next = doc.find(c->base);
    c = next != doc.end() ? next->second : nullptr;
  }
  return nullptr;
}

void check_schema(const ConfigSchema& schema, const cfg::Document& doc) {
  std::map<std::string_view, const cfg::DocClass*> by_name;
  for (const cfg::DocClass& c : doc.classes) by_name[c.name] = &c;
  for (const cfg::DocClass& c : doc.classes) {
    for (const auto [name, value] : c.attrs) {
      const ConfigSchema::Entry* entry = declared(schema, by_name, c, name);
      if (entry == nullptr || has_type(value, entry->type)) continue;
      auto place = c.places.find(name);
      cfg::fail("TypeError", doc.source, place != c.places.end() ? place->second : c.where,
                in_quotes(name) + " of class " + in_quotes(c.name) + " must be " +
                    std::string(python_name(entry->type)) + ", not " + cfg::kind_name(value));
    }
  }
  for (const auto& [cls_name, attrs] : schema.entries()) {
    for (const auto& [attr, entry] : attrs) {
      if (!entry.required) continue;
      auto it = by_name.find(cls_name);
      if (it == by_name.end()) {
        cfg::fail("ValueError", doc.source, {},
                  "class " + in_quotes(cls_name) + " is missing (it must define " +
                      in_quotes(attr) + ")");
      }
      // In the class or a base of it in the document; a subclass inherits the requirement.
      bool found = false;
      for (const cfg::DocClass* c = it->second; c != nullptr && !found;) {
        found = c->attrs.contains(attr);
        auto next = by_name.find(c->base);
        c = next != by_name.end() && next->second != c ? next->second : nullptr;
      }
      if (!found) {
        cfg::fail("ValueError", doc.source, it->second->where,
                  "class " + in_quotes(cls_name) + " must define " + in_quotes(attr));
      }
    }
  }
}

}  // namespace

// Checks the whole document against the schema and the classes loaded before, then defines the
// new classes and publishes every changed one as one change. Called with reload_mutex held.
bool Config::State::load(cfg::Document doc, bool first) {
  const std::vector<const cfg::DocClass*> order = bases_first(doc, bases);
  check_schema(schema, doc);
  for (const auto& [name, k] : known) {
    const auto it = std::find_if(doc.classes.begin(), doc.classes.end(),
                                 [&](const cfg::DocClass& c) { return c.name == name; });
    if (it == doc.classes.end()) {
      cfg::fail("ValueError", doc.source, {}, "class " + in_quotes(name) + " is missing");
    }
    if (it->base != k.base && !(it->base.empty() && k.base == "local") &&
        !(it->base == "local" && k.base.empty())) {
      cfg::fail("ValueError", doc.source, it->base_where.line > 0 ? it->base_where : it->where,
                "class " + in_quotes(name) + " cannot change its base from " +
                    in_quotes(k.base.empty() ? "local" : k.base) + " to " +
                    in_quotes(it->base.empty() ? "local" : it->base));
    }
  }

  // Effective attributes (bases first) and what changed, as the classes' objects show them.
  std::map<std::string, Dict, std::less<>> effective;
  ConfigUpdate update;
  update.source = doc.source;
  for (const cfg::DocClass* c : order) {
    Dict merged;
    if (auto base = effective.find(c->base); base != effective.end()) merged = base->second;
    merged.update(c->attrs);
    const auto old = known.find(c->name);
    const Dict empty;
    const Dict& before = old != known.end() ? old->second.effective : empty;
    for (const auto [name, value] : before) {
      if (!merged.contains(name)) update.changes.push_back({c->name, std::string(name), value, {}});
    }
    for (const auto [name, value] : merged) {
      const Value* was = before.find(name);
      if (was == nullptr) {
        update.changes.push_back({c->name, std::string(name), std::nullopt, value});
      } else if (!same(*was, value)) {
        update.changes.push_back({c->name, std::string(name), *was, value});
      }
    }
    effective.emplace(c->name, std::move(merged));
  }
  std::sort(update.changes.begin(), update.changes.end(),
            [](const ConfigChange& a, const ConfigChange& b) {
              return std::tie(a.cls, a.attr) < std::tie(b.cls, b.attr);
            });

  // New classes first: nobody reads them yet. Undone if anything below throws.
  std::vector<std::string> defined;
  std::map<std::string, Known, std::less<>> next = known;
  try {
    for (const cfg::DocClass* c : order) {
      if (next.count(c->name) != 0) continue;
      ClassSpec spec(c->name);
      if (!c->base.empty() && c->base != "local") {
        if (auto in_doc = next.find(c->base); in_doc != next.end()) {
          spec.base(in_doc->second.cls);
        } else {
          spec.base(bases->get(c->base));
        }
      }
      for (const auto [name, value] : c->attrs) spec.attr(std::string(name), value);
      ClassRef cls = registry.define(std::move(spec));
      defined.push_back(c->name);
      next[c->name] = Known{std::move(cls), c->base, c->attrs, {}};
    }
    std::vector<Class::AttrsChange> changes;
    for (const cfg::DocClass* c : order) {
      Known& k = next[c->name];
      k.effective = effective[c->name];
      if (std::find(defined.begin(), defined.end(), c->name) != defined.end()) continue;
      if (same(k.own, c->attrs)) continue;
      k.own = c->attrs;
      changes.push_back({k.cls, c->attrs});
    }
    if (!changes.empty()) Class::replace_attrs(changes);  // the one change threads see
  } catch (...) {
    for (const std::string& name : defined) registry.remove(name);
    throw;
  }
  known = std::move(next);
  update.version = version.load(std::memory_order_relaxed) + 1;
  version.store(update.version, std::memory_order_release);
  {
    const std::lock_guard lock(error_mutex);
    last_error.reset();
  }
  const bool changed = !update.changes.empty();
  if (!first && changed) {
    const std::lock_guard lock(subscribers_mutex);
    pending.push_back(std::move(update));
  }
  return changed;
}

// Delivers the pending updates in order, one subscriber call at a time, outside reload_mutex.
// A thread that finds another delivering waits for it (its own update is delivered by then); a
// subscriber that reloads leaves its update to the loop it runs in.
void Config::State::deliver() {
  if (deliverer.load(std::memory_order_relaxed) == std::this_thread::get_id()) return;
  const std::lock_guard deliver_lock(deliver_mutex);
  deliverer.store(std::this_thread::get_id(), std::memory_order_relaxed);
  struct Clear {
    std::atomic<std::thread::id>& d;
    ~Clear() { d.store({}, std::memory_order_relaxed); }
  } clear{deliverer};
  for (;;) {
    ConfigUpdate update;
    std::vector<std::shared_ptr<Subscription::State>> targets;
    {
      const std::lock_guard lock(subscribers_mutex);
      if (pending.empty()) return;
      update = std::move(pending.front());
      pending.pop_front();
      targets = subscribers;
    }
    for (const auto& s : targets) {
      if (!s->on_update) continue;
      const std::lock_guard running(s->running);
      if (!s->active.load(std::memory_order_acquire)) continue;
      s->runner.store(std::this_thread::get_id(), std::memory_order_relaxed);
      try {
        s->on_update(update);
      } catch (const ConfigError& e) {
        s->runner.store({}, std::memory_order_relaxed);
        report(e);
        continue;
      } catch (const std::exception& e) {
        s->runner.store({}, std::memory_order_relaxed);
        report(ConfigError("RuntimeError", source, 0, 0,
                           source + ": a subscriber raised: " + e.what()));
        continue;
      }
      s->runner.store({}, std::memory_order_relaxed);
    }
  }
}

// Gives `error` to the error handlers, as deliver() gives updates.
void Config::State::report(const ConfigError& error) {
  std::vector<std::shared_ptr<Subscription::State>> targets;
  {
    const std::lock_guard lock(subscribers_mutex);
    targets = subscribers;
  }
  for (const auto& s : targets) {
    if (!s->on_error) continue;
    const bool nested = s->runner.load(std::memory_order_relaxed) == std::this_thread::get_id();
    if (nested) continue;  // it is reporting already, on this thread
    const std::lock_guard running(s->running);
    if (!s->active.load(std::memory_order_acquire)) continue;
    s->runner.store(std::this_thread::get_id(), std::memory_order_relaxed);
    try {
      s->on_error(error);
    } catch (...) {
      // An error handler's own error has nowhere to go.
    }
    s->runner.store({}, std::memory_order_relaxed);
  }
}

// The watcher saw something change in a directory that decides what the path leads to.
void Config::State::watched_change() {
  std::optional<ConfigError> failed;
  {
    const std::lock_guard lock(reload_mutex);
    if (cfg::FileIdentity::at(path) == loaded) return;  // not this file, or read already
    try {
      const std::string text = read_file(path, source, loaded);
      load(cfg::parse_json(text, source), false);
    } catch (const ConfigError& e) {
      const std::lock_guard error_lock(error_mutex);
      last_error = e;
      failed = e;
    }
  }
  if (failed) {
    report(*failed);  // outside reload_mutex: a handler may reload
  } else {
    deliver();
  }
}

Config::Config(std::filesystem::path path, ConfigSchema schema, const Registry* bases)
    : state_(std::make_shared<State>()) {
  state_->path = std::move(path);
  state_->source = state_->path.string();
  state_->from_file = true;
  state_->schema = std::move(schema);
  state_->bases = bases;
  const std::lock_guard lock(state_->reload_mutex);
  const std::string text = read_file(state_->path, state_->source, state_->loaded);
  state_->load(cfg::parse_json(text, state_->source), true);
}

Config::Config(Dict document, ConfigSchema schema, const Registry* bases)
    : state_(std::make_shared<State>()) {
  state_->source = "<dict>";
  state_->schema = std::move(schema);
  state_->bases = bases;
  const std::lock_guard lock(state_->reload_mutex);
  state_->load(cfg::from_dict(document), true);
}

Config::~Config() {
  unwatch();
  const std::lock_guard lock(state_->subscribers_mutex);
  for (const auto& s : state_->subscribers) s->active.store(false, std::memory_order_release);
  state_->subscribers.clear();
}

const std::filesystem::path& Config::path() const noexcept { return state_->path; }

ClassRef Config::cls(std::string_view name) const { return state_->registry.get(name); }

const Registry& Config::registry() const noexcept { return state_->registry; }

LocalObject Config::object(std::string_view name) {
  ClassRef cls = this->cls(name);
  const std::lock_guard lock(state_->objects_mutex);
  auto it = state_->objects.find(name);
  if (it == state_->objects.end()) {
    it = state_->objects.emplace(std::string(name), LocalObject(std::move(cls))).first;
  }
  return it->second;
}

std::uint64_t Config::version() const noexcept {
  return state_->version.load(std::memory_order_acquire);
}

// One reload from the document `read` returns: under reload_mutex, the error kept as the last;
// the subscribers run after the lock is released.
template <class Read>
bool reload_from(Config::State& state, Read read) {
  bool changed = false;
  {
    const std::lock_guard lock(state.reload_mutex);
    try {
      changed = state.load(read(), false);
    } catch (const ConfigError& e) {
      const std::lock_guard error_lock(state.error_mutex);
      state.last_error = e;
      throw;
    }
  }
  state.deliver();
  return changed;
}

bool Config::reload() {
  if (!state_->from_file) {
    throw ValueError("this configuration was given as a dict: reload it with reload(dict)");
  }
  State& state = *state_;
  return reload_from(state, [&] {
    const std::string text = read_file(state.path, state.source, state.loaded);
    return cfg::parse_json(text, state.source);
  });
}

bool Config::reload(Dict document) {
  return reload_from(*state_, [&] { return cfg::from_dict(document); });
}

void Config::watch() {
  if (!state_->from_file) {
    throw ValueError("this configuration was given as a dict: there is no file to watch");
  }
  const std::lock_guard lock(state_->watch_mutex);
  if (state_->watcher) return;
  State* const state = state_.get();  // the watcher is joined before the state dies
  state_->watcher = std::make_unique<cfg::FileWatcher>(state_->path, state_->source,
                                                       [state] { state->watched_change(); });
}

void Config::unwatch() {
  std::unique_ptr<cfg::FileWatcher> watcher;
  {
    const std::lock_guard lock(state_->watch_mutex);
    if (state_->watcher && state_->watcher->thread_id() == std::this_thread::get_id()) {
      throw RuntimeError("cannot stop watching from the watcher's own thread");
    }
    watcher = std::move(state_->watcher);
  }
  watcher.reset();  // joins, outside watch_mutex
}

bool Config::watching() const noexcept {
  const std::lock_guard lock(state_->watch_mutex);
  return state_->watcher != nullptr;
}

Config::Subscription Config::subscribe(std::function<void(const ConfigUpdate&)> fn) {
  auto s = std::make_shared<Subscription::State>();
  s->on_update = std::move(fn);
  s->owner = state_;
  const std::lock_guard lock(state_->subscribers_mutex);
  state_->subscribers.push_back(s);
  return Subscription(std::move(s));
}

Config::Subscription Config::on_error(std::function<void(const ConfigError&)> fn) {
  auto s = std::make_shared<Subscription::State>();
  s->on_error = std::move(fn);
  s->owner = state_;
  const std::lock_guard lock(state_->subscribers_mutex);
  state_->subscribers.push_back(s);
  return Subscription(std::move(s));
}

std::optional<ConfigError> Config::last_error() const {
  const std::lock_guard lock(state_->error_mutex);
  return state_->last_error;
}

Config::Subscription& Config::Subscription::operator=(Subscription&& other) noexcept {
  if (this != &other) {
    reset();
    state_ = std::move(other.state_);
  }
  return *this;
}

Config::Subscription::~Subscription() { reset(); }

void Config::Subscription::reset() noexcept {
  const std::shared_ptr<State> s = std::move(state_);
  if (!s) return;
  if (s->runner.load(std::memory_order_relaxed) == std::this_thread::get_id()) {
    s->active.store(false, std::memory_order_release);  // inside its own callback
  } else {
    const std::lock_guard running(s->running);  // waits for a call running elsewhere
    s->active.store(false, std::memory_order_release);
  }
  if (const std::shared_ptr<Config::State> owner = s->owner.lock()) {
    const std::lock_guard lock(owner->subscribers_mutex);
    std::erase(owner->subscribers, s);
  }
}

}  // namespace localbag
