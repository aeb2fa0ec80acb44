// SPDX-License-Identifier: MIT
// The fuzz target's operations: each decodes its operands, then gives exec() the library side
// (run on a worker thread) and the model side (run on the driver) of the same operation.

#include <algorithm>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "fuzz_session.hpp"
#include "localbag/localbag.hpp"

namespace lbfuzz {

using localbag::Args;
using localbag::ClassSpec;
using localbag::Dict;
using localbag::LocalObject;
using localbag::repr;
using localbag::Value;

namespace {

std::string not_defined(const std::string& name) {
  return error("NameError", "name '" + name + "' is not defined");
}
std::string missing_class_attr(int c, int n) {
  return error("AttributeError", "type object '" + std::string(kClassNames[c]) +
                                     "' has no attribute '" + kNames[n] + "'");
}
std::string slot_conflict(int n) {
  return error("ValueError",
               std::string(kNameReprs[n]) + " in __slots__ conflicts with class " + "variable");
}
std::string bool_text(bool b) { return b ? "True" : "False"; }
MVal function(int which, int cls) {
  MVal f;
  f.kind = MVal::kFunc;
  f.i = which;
  f.qualname = std::string(kClassNames[cls]) + (which == 0 ? ".get_n" : ".set_p");
  return f;
}

}  // namespace

void Session::define(int t) {
  const int name = in_.byte() % 5;  // A..D, local
  const int base = in_.byte() % 7;  // 0: none, 1: "local", 2..5: A..D, 6: "Nope"
  std::vector<std::pair<int, MVal>> attrs(static_cast<std::size_t>(in_.byte() % 4));
  for (auto& [k, v] : attrs) {
    k = this->name();
    if (k == kDictName) k = 3;  // no class attribute named __dict__: "x" instead
    v = decode_value(in_.byte(), false);
  }
  const int flags = in_.byte();
  const bool has_init = flags & 1, get_n = flags & 2, set_p = flags & 4;
  std::vector<int> slots;
  for (int i = 0; i < (flags >> 3) % 3; ++i) {
    const int s = in_.byte() % (kDictName + 1);  // simple names, method names, __dict__ (ignored)
    if (std::find(slots.begin(), slots.end(), s) == slots.end()) slots.push_back(s);
  }
  const std::string base_name = base == 0   ? ""
                                : base == 1 ? "local"
                                : base == 6 ? "Nope"
                                            : kClassNames[base - 2];
  exec(
      t, std::string("define ") + kClassNames[name] + "(" + base_name + ")",
      [&] {
        ClassSpec spec(kClassNames[name]);
        if (base != 0) spec.base(base_name);
        for (const auto& [k, v] : attrs) spec.attr(kNames[k], real(v));
        if (get_n) spec.method("get_n", [](LocalObject& self, Args) { return self.getattr("n"); });
        if (set_p) {
          spec.method("set_p", [](LocalObject& self, Args a) -> Value {
            self.setattr("p", a.empty() ? Value(7) : a[0]);
            return {};
          });
        }
        if (has_init) spec.init(init_fn);
        std::vector<std::string> slot_names;
        for (int s : slots) slot_names.push_back(kNames[s]);
        spec.slots(slot_names);
        return ok(registry_.define(std::move(spec))->name());
      },
      [&]() -> std::string {
        if (name == 4 || m_.classes[name].defined) {
          return error("ValueError",
                       std::string("class '") + kClassNames[name] + "' is already defined");
        }
        int b = -1;
        if (base == 6) return not_defined("Nope");
        if (base >= 2) {
          b = base - 2;
          if (!m_.classes[b].defined) return not_defined(kClassNames[b]);
        }
        MClass cls;
        for (const auto& [k, v] : attrs) cls.own.set(k, v);
        if (get_n) cls.own.set(6, function(0, name));
        if (set_p) cls.own.set(7, function(1, name));
        for (int s : slots) {
          if (s == kDictName) continue;
          if (cls.own.find(s) != nullptr) return slot_conflict(s);
          cls.own_slots.push_back(s);
        }
        cls.defined = true;
        cls.base = b;
        cls.has_init = has_init;
        m_.classes[name] = cls;
        return ok(kClassNames[name]);
      });
}

void Session::instantiate(int t) {
  const int c = in_.byte() % kCells;
  const int cn = class_name_index();
  const int flags = in_.byte();
  std::vector<MVal> args;
  if (flags & 1) args.push_back(decode_value(in_.byte()));
  std::optional<MVal> kw;
  if (flags & 2) kw = decode_value(in_.byte());
  exec(
      t, "cell " + std::to_string(c) + " = " + kClassNames[cn] + "(...)",
      [&] {
        std::vector<Value> a;
        for (const MVal& v : args) a.push_back(real(v));
        Dict k;
        if (kw) k.set("color", real(*kw));
        LocalObject made = registry_.instantiate(kClassNames[cn], std::move(a), std::move(k));
        const std::string out = made.type()->name() + " " + repr(made.dict());
        cells_[c] = std::move(made);
        return ok(out);
      },
      [&]() -> std::string {
        int cls = -1;
        if (cn == 5 || (cn < 4 && !m_.classes[cn].defined)) return not_defined(kClassNames[cn]);
        if (cn < 4) cls = cn;
        if ((!args.empty() || kw) && !m_.chain_has_init(cls)) {
          return error("TypeError", "Initialization arguments are not supported");
        }
        int o = 0;
        while (m_.objects[o].alive) ++o;
        MObject& obj = m_.objects[o];
        obj.alive = true;
        obj.cls = cls;
        obj.args = args;
        obj.kw_color = kw;
        for (int s : m_.chain_slots(cls)) obj.slots.emplace_back(s, std::nullopt);
        for (const MVal& a : args) m_.stored(a, t);
        if (kw) m_.stored(*kw, t);
        if (auto e = m_.ensure(o, t)) {
          m_.kill(o, t);
          return *e;
        }
        const std::string out = m_.class_name(cls) + " " + obj.dicts[t]->repr();
        ++obj.refs;
        m_.release_cell(c, t);
        m_.cells[c] = o;
        return ok(out);
      });
}

void Session::class_op(int t, int op) {
  const int c = in_.byte() % kClasses;
  if (!m_.classes[c].defined) return;
  int n = name();
  if (n == kDictName) n = 3;  // no class attribute named __dict__: "x" instead
  MClass& mc = m_.classes[c];
  const std::string what = std::string(kClassNames[c]) + "." + kNameReprs[n];
  auto cls = [&] { return registry_.get(kClassNames[c]); };
  if (op == 20) {
    const MVal v = decode_value(in_.byte(), false);
    return exec(
        t, "class setattr " + what + " = " + v.repr(),
        [&] { return cls()->setattr(kNames[n], real(v)), ok(); },
        [&] { return m_.is_slot(c, n) ? slot_conflict(n) : (mc.own.set(n, v), ok()); });
  }
  if (op == 21) {
    return exec(
        t, "class delattr " + what, [&] { return cls()->delattr(kNames[n]), ok(); },
        [&] { return mc.own.erase(n) ? ok() : missing_class_attr(c, n); });
  }
  switch (in_.byte() % 3) {
    case 0:
      return exec(
          t, "class getattr " + what, [&] { return ok(repr(cls()->getattr(kNames[n]))); },
          [&] {
            const MVal* v = m_.class_attr(c, n);
            return v ? ok(v->repr()) : missing_class_attr(c, n);
          });
    case 1:
      return exec(
          t, "class hasattr " + what, [&] { return ok(bool_text(cls()->hasattr(kNames[n]))); },
          [&] { return ok(bool_text(m_.class_attr(c, n) != nullptr)); });
    default:
      return exec(
          t, std::string("class own attrs ") + kClassNames[c],
          [&] { return ok(repr(cls()->own_attrs())); }, [&] { return ok(mc.own.repr()); });
  }
}

void Session::registry_op(int t) {
  const int cn = class_name_index();
  if (in_.byte() % 2 == 0) {
    return exec(
        t, std::string("registry get ") + kClassNames[cn],
        [&] { return ok(registry_.get(kClassNames[cn])->name()); },
        [&] {
          if (cn == 4) return ok("local");
          return cn < 4 && m_.classes[cn].defined ? ok(kClassNames[cn])
                                                  : not_defined(kClassNames[cn]);
        });
  }
  exec(
      t, "registry names",
      [&] {
        std::string out;
        for (const std::string& n : registry_.names()) out += n + ",";
        return ok(out);
      },
      [&] {
        std::string out;
        for (int c = 0; c < kClasses; ++c) {
          if (m_.classes[c].defined) out += std::string(kClassNames[c]) + ",";
        }
        return ok(out);
      });
}

void Session::copy_cell(int t, int c) {
  const int to = in_.byte() % kCells;
  exec(
      t, "cell " + std::to_string(to) + " = cell " + std::to_string(c),
      [&] { return cells_[to] = cells_[c], ok(); },
      [&] {
        if (to != c) {
          ++m_.objects[m_.cells[c]].refs;
          m_.release_cell(to, t);
          m_.cells[to] = m_.cells[c];
        }
        return ok();
      });
}

}  // namespace lbfuzz
