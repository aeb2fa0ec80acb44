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
#include <exception>
#include <functional>
#include <list>
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
#include "state.hpp"
#include "watcher.hpp"

namespace localbag {

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
  cfg::fail(os_error_type(error), source, {},
            "[Errno " + std::to_string(error) + "] " + std::strerror(error) + ": " +
                cfg::in_quotes(source));
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

// Checks the whole document against the schema and the classes loaded before, then defines the
// new classes and publishes every changed one as one change. Called with reload_mutex held.
bool Config::State::load(cfg::Document doc, bool first) {
  const std::vector<const cfg::DocClass*> order = cfg::bases_first(doc, bases);
  cfg::check_schema(schema, doc);
  for (const auto& entry : known) {
    const std::string& name = entry.first;  // (a structured binding cannot be captured: clang 14)
    const Known& k = entry.second;
    const auto it = std::find_if(doc.classes.begin(), doc.classes.end(),
                                 [&](const cfg::DocClass& c) { return c.name == name; });
    if (it == doc.classes.end()) {
      cfg::fail("ValueError", doc.source, {}, "class " + cfg::in_quotes(name) + " is missing");
    }
    if (it->base != k.base && !(it->base.empty() && k.base == "local") &&
        !(it->base == "local" && k.base.empty())) {
      cfg::fail("ValueError", doc.source, it->base_where.line > 0 ? it->base_where : it->where,
                "class " + cfg::in_quotes(name) + " cannot change its base from " +
                    cfg::in_quotes(k.base.empty() ? "local" : k.base) + " to " +
                    cfg::in_quotes(it->base.empty() ? "local" : it->base));
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
      } else if (!cfg::same(*was, value)) {
        update.changes.push_back({c->name, std::string(name), *was, value});
      }
    }
    effective.emplace(c->name, std::move(merged));
  }
  std::sort(update.changes.begin(), update.changes.end(),
            [](const ConfigChange& a, const ConfigChange& b) {
              return std::tie(a.cls, a.attr) < std::tie(b.cls, b.attr);
            });

  // The subscribers' item, made now: nothing below the publish may throw.
  std::list<Delivery> prepared;
  if (!first && !update.changes.empty()) prepared.push_back(Delivery{std::move(update), {}});
  const bool changed = !prepared.empty() || (first && !update.changes.empty());

  // New classes first (a class new in the document is defined just before the change is
  // published). Undone if anything below throws.
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
      if (cfg::same(k.own, c->attrs, /*strict=*/true)) continue;  // 1 -> 1.0 is a change
      k.own = c->attrs;
      changes.push_back({k.cls, c->attrs});
    }
    if (!changes.empty()) Class::replace_attrs(changes);  // the one change threads see
  } catch (...) {
    for (const std::string& name : defined) registry.remove(name);
    throw;
  }
  // Published: from here on nothing throws.
  known = std::move(next);
  const std::uint64_t now = version.load(std::memory_order_relaxed) + 1;
  version.store(now, std::memory_order_release);
  {
    const std::lock_guard lock(error_mutex);
    last_error.reset();
  }
  if (!prepared.empty()) {
    prepared.front().update->version = now;
    const std::lock_guard lock(subscribers_mutex);
    pending.splice(pending.end(), prepared);
  }
  return changed;
}

// The watcher saw something change in a directory that decides what the path leads to.
// Reads the file, keeping what was read (or that the read failed) for watched_change.
std::string Config::State::read() {
  try {
    std::string text = read_file(path, source, loaded);
    read_failed = false;
    loaded_text = text;
    return text;
  } catch (...) {
    read_failed = true;
    loaded_text.clear();
    throw;
  }
}

// One reload attempt under reload_mutex: whether something changed, or the error as a
// ConfigError (a localbag error from the core is given the document's name), kept as the
// last. std::bad_alloc passes through.
std::optional<ConfigError> Config::State::attempt(const std::function<cfg::Document()>& document,
                                                  bool& changed) {
  std::optional<ConfigError> failed;
  try {
    changed = load(document(), false);
    return std::nullopt;
  } catch (const ConfigError& e) {
    failed = e;
  } catch (const Error& e) {
    failed = cfg::make_error(e.python_type(), source, {}, e.what());
  }
  const std::lock_guard error_lock(error_mutex);
  last_error = failed;
  return failed;
}

// The watcher saw something change in a directory that decides what the path leads to: reload
// when the file's content differs from the last read (a timestamp may not move between two
// quick writes of one size), or report a failure to read it once.
void Config::State::watched_change() {
  std::optional<ConfigError> failed;
  {
    const std::lock_guard lock(reload_mutex);
    const bool failed_before = read_failed;
    const std::string before = loaded_text;
    const cfg::FileIdentity identity_before = loaded;
    std::string text;
    try {
      text = read();
    } catch (const ConfigError& e) {
      if (failed_before && loaded == identity_before) return;  // reported already
      const std::lock_guard error_lock(error_mutex);
      last_error = e;
      failed = e;
    }
    if (!failed) {
      if (!failed_before && text == before) return;  // not this file, or read already
      bool changed = false;
      failed = attempt([&] { return cfg::parse_json(text, source); }, changed);
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
  state_->load(cfg::parse_json(state_->read(), state_->source), true);
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

// One reload from the document `read` returns, under reload_mutex; the subscribers run after the
// lock is released.
static bool reload_from(Config::State& state, const std::function<cfg::Document()>& read) {
  bool changed = false;
  std::optional<ConfigError> failed;
  {
    const std::lock_guard lock(state.reload_mutex);
    failed = state.attempt(read, changed);
  }
  if (failed) throw *failed;
  state.deliver();
  return changed;
}

bool Config::reload() {
  if (!state_->from_file) {
    detail::throw_config_no_file("reload (reload it from a dict)");
  }
  State& state = *state_;
  return reload_from(state, [&] { return cfg::parse_json(state.read(), state.source); });
}

bool Config::reload(Dict document) {
  return reload_from(*state_, [&] { return cfg::from_dict(document); });
}

void Config::watch() {
  if (!state_->from_file) {
    detail::throw_config_no_file("watch");
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
      detail::throw_unwatch_from_watcher();
    }
    watcher = std::move(state_->watcher);
  }
  watcher.reset();  // joins, outside watch_mutex
}

bool Config::watching() const noexcept {
  const std::lock_guard lock(state_->watch_mutex);
  return state_->watcher != nullptr;
}

std::optional<ConfigError> Config::last_error() const {
  const std::lock_guard lock(state_->error_mutex);
  return state_->last_error;
}

}  // namespace localbag
