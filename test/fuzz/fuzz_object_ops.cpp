// SPDX-License-Identifier: MIT
// The fuzz target's operations on one object from one thread: attribute access through the
// LocalObject, calls, and the thread's own Dict.

#include <optional>
#include <string>
#include <vector>

#include "fuzz_session.hpp"
#include "localbag/localbag.hpp"

namespace lbfuzz {

using localbag::Args;
using localbag::Dict;
using localbag::repr;
using localbag::Value;

namespace {

std::string bool_text(bool b) { return b ? "True" : "False"; }

std::string key_repr(const std::string& key) { return repr(Value(key)); }

}  // namespace

std::string Session::model_call(int o, int t, int n, const std::vector<MVal>& args) {
  if (auto e = m_.ensure(o, t)) return *e;
  MObject& obj = m_.objects[o];
  const bool own = m_.is_slot(obj.cls, n) || obj.dicts[t]->find(n) != nullptr || n == kDictName;
  std::optional<MVal> v;
  if (n == kDictName) {
    return error("TypeError", "'dict' object is not callable");
  } else if (own) {
    v = m_.lookup(o, t, n);
  } else if (const MVal* cv = m_.class_attr(obj.cls, n)) {
    v = *cv;
  }
  if (!v) return m_.missing(o, n);
  if (v->kind != MVal::kFunc)
    return error("TypeError", "'" + v->type_name() + "' object is not callable");
  if (v->i == 0) {  // get_n: self.getattr("n")
    const std::optional<MVal> r = m_.lookup(o, t, 0);
    return r ? ok(r->repr()) : m_.missing(o, 0);
  }
  MVal p;  // set_p: self.setattr("p", args[0] or 7)
  p.kind = MVal::kInt;
  p.i = 7;
  m_.store_attr(o, t, 2, args.empty() ? p : args[0]);
  return ok("None");
}

void Session::object_op(int t, int op, int c) {
  if ((op >= 12 && op <= 19) || op == 26) return dict_op(t, op, c);
  const int o = m_.cells[c];
  const int n = name();
  const std::string& key = kNames[n];
  const std::string what = "cell " + std::to_string(c) + " " + kNameReprs[n];
  const std::string cls = m_.class_name(m_.objects[o].cls);
  auto wrong_type = [&](const std::string& held, const char* want) {
    return error("TypeError",
                 "'" + cls + "' object attribute '" + key + "' is " + held + ", not " + want);
  };
  // The model's lookup after init; nullopt for __dict__ (the caller handles it).
  auto dict_of = [&]() -> MDict& { return *m_.objects[o].dicts[t]; };
  switch (op) {
    case 2:
      return exec(
          t, "getattr " + what, [&] { return ok(repr(obj(c).getattr(key))); },
          [&]() -> std::string {
            if (auto e = m_.ensure(o, t)) return *e;
            if (n == kDictName) return ok(dict_of().repr());
            const auto v = m_.lookup(o, t, n);
            return v ? ok(v->repr()) : m_.missing(o, n);
          });
    case 3:
      return exec(
          t, "get<int> " + what, [&] { return ok(std::to_string(obj(c).get<int>(key))); },
          [&]() -> std::string {
            if (auto e = m_.ensure(o, t)) return *e;
            if (n == kDictName) return wrong_type("dict", "int");
            const auto v = m_.lookup(o, t, n);
            if (!v) return m_.missing(o, n);
            return v->kind == MVal::kInt ? ok(std::to_string(v->i))
                                         : wrong_type(v->type_name(), "int");
          });
    case 4:
      return exec(
          t, "get<str> " + what, [&] { return ok(key_repr(obj(c).get<std::string>(key))); },
          [&]() -> std::string {
            if (auto e = m_.ensure(o, t)) return *e;
            if (n == kDictName) return wrong_type("dict", "str");
            const auto v = m_.lookup(o, t, n);
            if (!v) return m_.missing(o, n);
            return v->kind == MVal::kStr ? ok(v->repr()) : wrong_type(v->type_name(), "str");
          });
    case 5:
      return exec(
          t, "try_get<int> " + what,
          [&] {
            const auto v = obj(c).try_get<int>(key);
            return ok(v ? std::to_string(*v) : "nullopt");
          },
          [&]() -> std::string {
            if (auto e = m_.ensure(o, t)) return *e;
            const auto v = n == kDictName ? std::nullopt : m_.lookup(o, t, n);
            return ok(v && v->kind == MVal::kInt ? std::to_string(v->i) : "nullopt");
          });
    case 6:
      return exec(
          t, "hasattr " + what, [&] { return ok(bool_text(obj(c).hasattr(key))); },
          [&]() -> std::string {
            if (auto e = m_.ensure(o, t)) return *e;
            return ok(bool_text(n == kDictName || m_.lookup(o, t, n).has_value()));
          });
    case 7: {
      const MVal v = decode_value(in_.byte());
      return exec(
          t, "setattr " + what + " = " + v.repr(),
          [&] { return obj(c).setattr(key, real(v)), ok(); },
          [&]() -> std::string {
            if (auto e = m_.ensure(o, t)) return *e;
            if (n == kDictName) return m_.read_only(o);
            m_.store_attr(o, t, n, v);
            return ok();
          });
    }
    case 8:
      return exec(
          t, "delattr " + what, [&] { return obj(c).delattr(key), ok(); },
          [&]() -> std::string {
            if (auto e = m_.ensure(o, t)) return *e;
            if (n == kDictName) return m_.read_only(o);
            if (auto* s = m_.slot_of(o, n)) {
              if (!*s) return m_.missing(o, n);
              m_.dropped(**s, t);
              s->reset();
              return ok();
            }
            MVal* old = dict_of().find(n);
            if (old == nullptr) return m_.missing(o, n);
            m_.dropped(*old, t);
            dict_of().erase(n);
            return ok();
          });
    case 9:
      return exec(
          t, "ref<int> " + what, [&] { return ok(std::to_string(obj(c).ref<int>(key))); },
          [&]() -> std::string {
            if (auto e = m_.ensure(o, t)) return *e;
            const MVal* v = dict_of().find(n);
            if (v == nullptr) {
              return error("AttributeError",
                           "'" + cls + "' object has no per-thread attribute '" + key + "'");
            }
            return v->kind == MVal::kInt ? ok(std::to_string(v->i))
                                         : wrong_type(v->type_name(), "int");
          });
    case 10:
      return exec(
          t, "find " + what,
          [&] {
            const Value* v = obj(c).find(key);
            return ok(v != nullptr ? repr(*v) : "null");
          },
          [&]() -> std::string {
            if (auto e = m_.ensure(o, t)) return *e;
            const MVal* v = dict_of().find(n);
            return ok(v != nullptr ? v->repr() : "null");
          });
    default: {  // call
      std::vector<MVal> args;
      if (in_.byte() % 2 == 1) args.push_back(decode_value(in_.byte()));
      return exec(
          t, "call " + what + (args.empty() ? "()" : "(" + args[0].repr() + ")"),
          [&] {
            std::vector<Value> a;
            for (const MVal& v : args) a.push_back(real(v));
            return ok(repr(obj(c).call(key, Args(a.data(), a.size()))));
          },
          [&] { return model_call(o, t, n, args); });
    }
  }
}

void Session::dict_op(int t, int op, int c) {
  const int o = m_.cells[c];
  const int k = name();
  const std::string& key = kNames[k];
  const std::string what = "cell " + std::to_string(c) + " dict " + kNameReprs[k];
  auto d = [&]() -> Dict& { return obj(c).dict(); };
  // The model's dict after init, or the error init threw.
  std::optional<std::string> init_error;
  auto md = [&]() -> MDict* {
    init_error = m_.ensure(o, t);
    return init_error ? nullptr : &*m_.objects[o].dicts[t];
  };
  switch (op) {
    case 12: {
      const MVal v = decode_value(in_.byte());
      return exec(
          t, "set " + what + " = " + v.repr(), [&] { return d().set(key, real(v)), ok(); },
          [&]() -> std::string {
            MDict* m = md();
            if (m == nullptr) return *init_error;
            m_.store_item(*m, t, k, v);
            return ok();
          });
    }
    case 13:
      return exec(
          t, "erase " + what, [&] { return ok(bool_text(d().erase(key))); },
          [&]() -> std::string {
            MDict* m = md();
            if (m == nullptr) return *init_error;
            if (MVal* old = m->find(k)) m_.dropped(*old, t);
            return ok(bool_text(m->erase(k)));
          });
    case 14: {
      const MVal v = decode_value(in_.byte());
      return exec(
          t, "setdefault " + what + " " + v.repr(),
          [&] { return ok(repr(d().setdefault(key, real(v)))); },
          [&]() -> std::string {
            MDict* m = md();
            if (m == nullptr) return *init_error;
            if (const MVal* old = m->find(k)) return ok(old->repr());
            m_.stored(v, t);
            m->items.emplace_back(k, v);
            return ok(v.repr());
          });
    }
    case 15: {
      MDict other;
      const int count = 1 + in_.byte() % 3;
      for (int i = 0; i < count; ++i) {
        const int ok_key = name();
        other.set(ok_key, decode_value(in_.byte()));
      }
      const bool move = in_.byte() % 2 == 1;
      return exec(
          t, "update " + what + " with " + other.repr() + (move ? " (moved)" : ""),
          [&] {
            Dict real_other;
            for (const auto& [ik, iv] : other.items) real_other.set(kNames[ik], real(iv));
            if (move) {
              d().update(std::move(real_other));
            } else {
              d().update(real_other);
            }
            return ok();
          },
          [&]() -> std::string {
            MDict* m = md();
            if (m == nullptr) return *init_error;
            for (const auto& [ik, iv] : other.items) m_.store_item(*m, t, ik, iv);
            return ok();
          });
    }
    case 16:
      return exec(
          t, "clear " + what, [&] { return d().clear(), ok(); },
          [&]() -> std::string {
            MDict* m = md();
            if (m == nullptr) return *init_error;
            m_.drop_dict(*m, t);
            m->items.clear();
            return ok();
          });
    case 17:
      return exec(
          t, "size and keys " + what,
          [&] {
            std::string out = std::to_string(d().size());
            for (const std::string& s : d().keys()) (out += ' ') += key_repr(s);
            return ok(out);
          },
          [&]() -> std::string {
            MDict* m = md();
            if (m == nullptr) return *init_error;
            std::string out = std::to_string(m->items.size());
            for (const auto& [ik, iv] : m->items) out += std::string(" ") + kNameReprs[ik];
            return ok(out);
          });
    case 18:
      return exec(
          t, "pop " + what, [&] { return ok(repr(d().pop(key))); },
          [&]() -> std::string {
            MDict* m = md();
            if (m == nullptr) return *init_error;
            MVal* old = m->find(k);
            if (old == nullptr) return error("KeyError", kNameReprs[k]);
            const std::string out = old->repr();
            m_.dropped(*old, t);
            m->erase(k);
            return ok(out);
          });
    case 19:
      return exec(
          t, "get<int> " + what, [&] { return ok(std::to_string(d().get<int>(key))); },
          [&]() -> std::string {
            MDict* m = md();
            if (m == nullptr) return *init_error;
            const MVal* v = m->find(k);
            if (v == nullptr) return error("KeyError", kNameReprs[k]);
            if (v->kind == MVal::kInt) return ok(std::to_string(v->i));
            return error("TypeError", std::string("dict value ") + kNameReprs[k] + " is " +
                                          v->type_name() + ", not int");
          });
    default:
      return exec(
          t, "contains and repr " + what,
          [&] { return ok(bool_text(d().contains(key)) + " " + repr(d())); },
          [&]() -> std::string {
            MDict* m = md();
            if (m == nullptr) return *init_error;
            return ok(bool_text(m->find(k) != nullptr) + " " + m->repr());
          });
  }
}

}  // namespace lbfuzz
