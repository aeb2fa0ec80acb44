// SPDX-License-Identifier: MIT
// The checks of a configuration document that need no loaded state: the order of its classes,
// the schema, and Python's == for the change reports.
#include <algorithm>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "document.hpp"
#include "localbag/repr.hpp"

namespace localbag::detail::config {

namespace {

bool has_type(const Value& value, ConfigType type) {
  const Kind kind = kind_of(value);
  switch (type) {
    case ConfigType::none:
      return kind == Kind::kNone;
    case ConfigType::boolean:
      return kind == Kind::kBool;
    case ConfigType::integer:
      return kind == Kind::kInt;
    case ConfigType::number:
      return kind == Kind::kInt || kind == Kind::kFloat;
    case ConfigType::string:
      return kind == Kind::kStr;
    case ConfigType::list:
      return kind == Kind::kList;
    case ConfigType::dict:
      return kind == Kind::kDict;
  }
  return false;
}

}  // namespace

// Python's ==, for what a configuration holds: numbers by value (an int equals a float of the
// same value, as in Python), str, bool, None, lists and dicts element by element; any other
// value by its type and repr.
bool same(const Value& a, const Value& b, bool strict) {
  const Kind ka = kind_of(a);
  const Kind kb = kind_of(b);
  const bool numbers =
      (ka == Kind::kInt || ka == Kind::kFloat) && (kb == Kind::kInt || kb == Kind::kFloat);
  if (ka != kb && (strict || !numbers)) return false;
  switch (ka) {
    case Kind::kNone:
      return true;
    case Kind::kBool:
      return *a.try_get<bool>() == *b.try_get<bool>();
    case Kind::kStr:
      return *a.try_get<std::string>() == *b.try_get<std::string>();
    case Kind::kInt:
    case Kind::kFloat:
      if (ka == Kind::kInt && kb == Kind::kInt) {
        try {
          return a.as<std::int64_t>() == b.as<std::int64_t>();
        } catch (const Error&) {
          return repr(a) == repr(b);  // beyond 64 bits
        }
      }
      return a.as<double>() == b.as<double>();
    case Kind::kList: {
      const List& x = *a.try_get<List>();
      const List& y = *b.try_get<List>();
      if (x.size() != y.size()) return false;
      for (std::size_t i = 0; i < x.size(); ++i) {
        if (!same(x[i], y[i], strict)) return false;
      }
      return true;
    }
    case Kind::kDict:
      return same(*a.try_get<Dict>(), *b.try_get<Dict>(), strict);
    case Kind::kOther:
      break;
  }
  return a.type_name() == b.type_name() && repr(a) == repr(b);
}

bool same(const Dict& a, const Dict& b, bool strict) {
  if (a.size() != b.size()) return false;
  for (const auto [key, value] : a) {
    const Value* other = b.find(key);
    if (other == nullptr || !same(value, *other, strict)) return false;
  }
  return true;
}

// The document's classes ordered bases first; ValueError for an unknown base or a cycle.
std::vector<const DocClass*> bases_first(const Document& doc, const Registry* bases) {
  std::map<std::string_view, const DocClass*> by_name;
  for (const DocClass& c : doc.classes) by_name[c.name] = &c;
  std::vector<const DocClass*> order;
  std::set<std::string_view> placed;
  std::set<std::string_view> visiting;
  std::function<void(const DocClass&)> visit = [&](const DocClass& c) {
    if (placed.count(c.name) != 0) return;
    if (c.name == "local") {
      fail("ValueError", doc.source, c.where, "class 'local' is already defined");
    }
    if (!visiting.insert(c.name).second) {
      fail("ValueError", doc.source, c.base_where,
           "the base chain of class " + in_quotes(c.name) + " is circular");
    }
    if (!c.base.empty() && c.base != "local") {
      if (auto it = by_name.find(c.base); it != by_name.end()) {
        visit(*it->second);
      } else if (bases == nullptr || !bases->contains(c.base)) {
        fail("ValueError", doc.source, c.base_where,
             "base " + in_quotes(c.base) + " of class " + in_quotes(c.name) + " is not defined");
      }
    }
    visiting.erase(c.name);
    placed.insert(c.name);
    order.push_back(&c);
  };
  for (const DocClass& c : doc.classes) visit(c);
  return order;
}

namespace {

// The schema's entry for `attr` of `cls`, or of its nearest base in the document declaring it.
const ConfigSchema::Entry* declared(const ConfigSchema& schema,
                                    const std::map<std::string_view, const DocClass*>& doc,
                                    const DocClass& cls, std::string_view attr) {
  const DocClass* c = &cls;
  for (int hops = 0; c != nullptr && hops < 1000; ++hops) {
    if (auto s = schema.entries().find(c->name); s != schema.entries().end()) {
      if (auto e = s->second.find(attr); e != s->second.end()) return &e->second;
    }
    auto next = doc.find(c->base);
    c = next != doc.end() ? next->second : nullptr;
  }
  return nullptr;
}

}  // namespace

void check_schema(const ConfigSchema& schema, const Document& doc) {
  std::map<std::string_view, const DocClass*> by_name;
  for (const DocClass& c : doc.classes) by_name[c.name] = &c;
  for (const DocClass& c : doc.classes) {
    for (const auto [name, value] : c.attrs) {
      const ConfigSchema::Entry* entry = declared(schema, by_name, c, name);
      if (entry == nullptr || has_type(value, entry->type)) continue;
      auto place = c.places.find(name);
      fail("TypeError", doc.source, place != c.places.end() ? place->second : c.where,
           in_quotes(name) + " of class " + in_quotes(c.name) + " must be " +
               std::string(python_name(entry->type)) + ", not " + kind_name(value));
    }
  }
  for (const auto& [cls_name, attrs] : schema.entries()) {
    for (const auto& [attr, entry] : attrs) {
      if (!entry.required) continue;
      auto it = by_name.find(cls_name);
      if (it == by_name.end()) {
        fail("ValueError", doc.source, {},
             "class " + in_quotes(cls_name) + " is missing (it must define " + in_quotes(attr) +
                 ")");
      }
      // In the class or a base of it in the document; a subclass inherits the requirement.
      bool found = false;
      for (const DocClass* c = it->second; c != nullptr && !found;) {
        found = c->attrs.contains(attr);
        auto next = by_name.find(c->base);
        c = next != by_name.end() && next->second != c ? next->second : nullptr;
      }
      if (!found) {
        fail("ValueError", doc.source, it->second->where,
             "class " + in_quotes(cls_name) + " must define " + in_quotes(attr));
      }
    }
  }
}

}  // namespace localbag::detail::config
