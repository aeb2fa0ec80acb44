// SPDX-License-Identifier: MIT
#pragma once
// The reference model of the differential fuzzer: Python's threading.local semantics (as CPython's
// `_threading_local` module and localbag's headers state them) written plainly, with vectors and
// linear searches, for a few classes, objects and threads. Every operation returns its outcome as
// text: "ok", "ok:" followed by a repr, or "ErrorType: message"; the fuzz target computes the same
// text from the library and compares. The model also counts the Probe values each thread made and
// destroyed.

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace lbfuzz {

constexpr int kThreads = 3;  // worker threads
constexpr int kClasses = 4;  // class names A..D (index -1 is the root class `local`)
constexpr int kCells = 4;    // object handles
constexpr int kMaxObjects = 64;

// Attribute names: short, special, empty, long (heap-allocated), and one with a NUL.
inline const std::string kNames[] = {"n",
                                     "color",
                                     "p",
                                     "x",
                                     "inited",
                                     "fail",
                                     "get_n",
                                     "set_p",
                                     "__dict__",
                                     "",
                                     "an_attribute_name_longer_than_15",
                                     std::string("nul\0x", 5)};
inline const char* const kNameReprs[] = {"'n'",
                                         "'color'",
                                         "'p'",
                                         "'x'",
                                         "'inited'",
                                         "'fail'",
                                         "'get_n'",
                                         "'set_p'",
                                         "'__dict__'",
                                         "''",
                                         "'an_attribute_name_longer_than_15'",
                                         "'nul\\x00x'"};
constexpr int kNameCount = 12;
// The index of "__dict__" in kNames: not an attribute but the thread's dict itself, read-only
// (make_corpus.py calls it DICT).
constexpr int kDictName = 8;
// Strings stored as values, and their Python reprs (the oracle, checked against CPython).
inline const std::string kStrings[] = {"red",           "",
                                       "it's",          "say \"hi\"",
                                       "tab\there",     "a string that is longer than fifteen",
                                       "both ' and \"", "\x01\x7f"};
inline const char* const kStringReprs[] = {"'red'",
                                           "''",
                                           "\"it's\"",
                                           "'say \"hi\"'",
                                           "'tab\\there'",
                                           "'a string that is longer than fifteen'",
                                           "'both \\' and \"'",
                                           "'\\x01\\x7f'"};
constexpr int kStringCount = 8;
inline const char* const kClassNames[] = {"A", "B", "C", "D", "local", "Nope"};

// A model value. Functions are the two method behaviours, named by their qualname.
struct MVal {
  enum Kind { kNone, kInt, kStr, kProbe, kFunc } kind = kNone;
  int i = 0;  // int value, probe payload, string index, method (0 get_n, 1 set_p)
  std::string qualname;

  std::string type_name() const {
    static const char* const names[] = {"NoneType", "int", "str", "lbfuzz::Probe", "function"};
    return names[kind];
  }
  std::string repr() const {
    switch (kind) {
      case kNone:
        return "None";
      case kInt:
        return std::to_string(i);
      case kStr:
        return kStringReprs[i];
      case kProbe:
        return "Probe(" + std::to_string(i) + ")";
      case kFunc:
        return "<function " + qualname + ">";
    }
    return "?";
  }
};

// An insertion-ordered dict keyed by name index.
struct MDict {
  std::vector<std::pair<int, MVal>> items;

  MVal* find(int k) {
    for (auto& [key, v] : items) {
      if (key == k) return &v;
    }
    return nullptr;
  }
  // Sets `k` to `v`: in place when present, else at the end.
  void set(int k, const MVal& v) {
    if (MVal* old = find(k)) {
      *old = v;
    } else {
      items.emplace_back(k, v);
    }
  }
  bool erase(int k) {
    for (auto it = items.begin(); it != items.end(); ++it) {
      if (it->first == k) {
        items.erase(it);
        return true;
      }
    }
    return false;
  }
  std::string repr() const {
    std::string out = "{";
    for (const auto& [key, v] : items) {
      if (out.size() > 1) out += ", ";
      out += std::string(kNameReprs[key]) + ": " + v.repr();
    }
    return out + "}";
  }
  int probes() const {
    int n = 0;
    for (const auto& [key, v] : items) n += v.kind == MVal::kProbe;
    return n;
  }
};

struct MClass {
  bool defined = false;
  int base = -1;  // -1: local
  MDict own;      // attributes and methods
  std::vector<int> own_slots;
  bool has_init = false;
};

struct MObject {
  bool alive = false;
  int cls = -1;
  int refs = 0;  // cells holding it
  std::vector<MVal> args;
  std::optional<MVal> kw_color;
  std::optional<MDict> dicts[kThreads];
  std::vector<std::pair<int, std::optional<MVal>>> slots;  // every slot name of the class chain
};

// Outcome texts.
inline std::string ok(const std::string& repr = "") { return repr.empty() ? "ok" : "ok:" + repr; }
inline std::string error(const char* type, const std::string& message) {
  // what() is a C string: a message holding a NUL (from a name) is seen up to the NUL.
  return std::string(type) + ": " + message.substr(0, message.find('\0'));
}

struct Model {
  MClass classes[kClasses];
  MObject objects[kMaxObjects];
  int cells[kCells] = {-1, -1, -1, -1};
  long net[kThreads + 1] = {};  // Probe constructions minus destructions, per thread

  // ---- classes ----
  std::string class_name(int c) const { return c < 0 ? "local" : kClassNames[c]; }
  bool chain_has_init(int c) const {
    for (; c >= 0; c = classes[c].base) {
      if (classes[c].has_init) return true;
    }
    return false;
  }
  std::vector<int> chain_slots(int c) const {  // bases' first, without repeats
    std::vector<int> out;
    if (c < 0) return out;
    out = chain_slots(classes[c].base);
    for (int s : classes[c].own_slots) {
      bool seen = false;
      for (int o : out) seen = seen || o == s;
      if (!seen) out.push_back(s);
    }
    return out;
  }
  bool is_slot(int c, int name) const {
    for (int s : chain_slots(c)) {
      if (s == name) return true;
    }
    return false;
  }
  // The class attribute `name` along the chain, the most derived first.
  const MVal* class_attr(int c, int name) {
    for (; c >= 0; c = classes[c].base) {
      if (const MVal* v = classes[c].own.find(name)) return v;
    }
    return nullptr;
  }

  // ---- values and ownership ----
  void stored(const MVal& v, int thread) {
    if (v.kind == MVal::kProbe) ++net[thread];
  }
  void dropped(const MVal& v, int thread) {
    if (v.kind == MVal::kProbe) --net[thread];
  }
  // d[k] = v on `thread`: v is stored, the value it replaces dropped.
  void store_item(MDict& d, int thread, int k, const MVal& v) {
    stored(v, thread);
    if (MVal* old = d.find(k)) dropped(*old, thread);
    d.set(k, v);
  }
  void drop_dict(MDict& d, int thread) {
    for (auto& [k, v] : d.items) dropped(v, thread);
  }
  long live_probes() const {
    long n = 0;
    for (const MObject& o : objects) {
      if (!o.alive) continue;
      for (const MVal& a : o.args) n += a.kind == MVal::kProbe;
      if (o.kw_color) n += o.kw_color->kind == MVal::kProbe;
      for (const auto& d : o.dicts) n += d ? d->probes() : 0;
      for (const auto& [name, v] : o.slots) n += v && v->kind == MVal::kProbe;
    }
    return n;
  }
  int live_objects() const {
    int n = 0;
    for (const MObject& o : objects) n += o.alive;
    return n;
  }
  int live_dicts() const {
    int n = 0;
    for (const MObject& o : objects) {
      for (const auto& d : o.dicts) n += o.alive && d.has_value();
    }
    return n;
  }
  // The object dies on `thread`: everything it holds is destroyed there.
  void kill(int o, int thread) {
    MObject& obj = objects[o];
    for (auto& d : obj.dicts) {
      if (d) drop_dict(*d, thread);
      d.reset();
    }
    for (auto& [name, v] : obj.slots) {
      if (v) dropped(*v, thread);
    }
    for (const MVal& a : obj.args) dropped(a, thread);
    if (obj.kw_color) dropped(*obj.kw_color, thread);
    obj = MObject();
  }
  void release_cell(int cell, int thread) {
    const int o = cells[cell];
    cells[cell] = -1;
    if (o >= 0 && --objects[o].refs == 0) kill(o, thread);
  }
  void thread_exit(int thread) {
    for (MObject& obj : objects) {
      if (obj.alive && obj.dicts[thread]) {
        drop_dict(*obj.dicts[thread], thread);
        obj.dicts[thread].reset();
      }
    }
  }

  // ---- attribute semantics ----
  // Built by appending: GCC 12 at -O3 warns, wrongly, on `"literal" + std::string` (-Wrestrict).
  std::string missing(int o, int name) {
    std::string text(1, '\'');
    text += class_name(objects[o].cls);
    text += "' object has no attribute '";
    text += kNames[name];
    text += '\'';
    return error("AttributeError", text);
  }
  std::string read_only(int o) {
    std::string text(1, '\'');
    text += class_name(objects[o].cls);
    text += "' object attribute '__dict__' is read-only";
    return error("AttributeError", text);
  }
  std::optional<MVal>* slot_of(int o, int name) {
    for (auto& [n, v] : objects[o].slots) {
      if (n == name) return &v;
    }
    return nullptr;
  }

  // Runs init for `thread` if it has no dict yet; returns an error text when init throws.
  std::optional<std::string> ensure(int o, int t) {
    MObject& obj = objects[o];
    if (obj.dicts[t]) return std::nullopt;
    obj.dicts[t].emplace();
    if (!chain_has_init(obj.cls)) return std::nullopt;
    MVal inited;
    if (obj.args.empty()) {
      inited.kind = MVal::kInt;
      inited.i = 1;
    } else {
      inited = obj.args[0];
    }
    store_attr(o, t, 4, inited);
    if (obj.kw_color) store_attr(o, t, 1, *obj.kw_color);
    std::optional<MVal> fail = lookup(o, t, 5);
    if (fail && fail->kind == MVal::kInt && fail->i == 1) {
      drop_dict(*obj.dicts[t], t);
      obj.dicts[t].reset();
      return error("ValueError", "init refused");
    }
    return std::nullopt;
  }
  // Plain lookup (name != __dict__): slots, this thread's dict, class attributes.
  std::optional<MVal> lookup(int o, int t, int name) {
    if (auto* s = slot_of(o, name)) return *s;
    if (MVal* v = objects[o].dicts[t]->find(name)) return *v;
    if (const MVal* v = class_attr(objects[o].cls, name)) return *v;
    return std::nullopt;
  }
  // setattr without the __dict__ check.
  void store_attr(int o, int t, int name, const MVal& v) {
    if (auto* s = slot_of(o, name)) {
      stored(v, t);
      if (*s) dropped(**s, t);
      *s = v;
      return;
    }
    store_item(*objects[o].dicts[t], t, name, v);
  }
};

}  // namespace lbfuzz
