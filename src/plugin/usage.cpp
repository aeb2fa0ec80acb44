// SPDX-License-Identifier: MIT
#include "usage.hpp"

#include <algorithm>
#include <cstdio>
#include <functional>
#include <set>

#include "localbag/class.hpp"
#include "localbag/dict.hpp"
#include "localbag/value.hpp"

namespace localbag::detail {
namespace {

// The address of the code a std::function runs: the function it points to, or its target's
// type_info (a lambda's or a function object's is emitted by the module that defines it).
template <class R, class... A>
const void* code_address(const std::function<R(A...)>& fn) noexcept {
  if (!fn) return nullptr;
  if (const auto* plain = fn.template target<R (*)(A...)>()) {
    return reinterpret_cast<const void*>(*plain);
  }
  return &fn.target_type();
}

// Counts the plugin's values in one value, nested ones included, by table.
class ValueCounter {
 public:
  explicit ValueCounter(const std::vector<AddressRange>& ranges) : ranges_(ranges) {}

  // How many of the plugin's values `v` is or holds; each counted by table in `counts`.
  std::size_t count(const Value& v, std::map<const ValueOps*, std::size_t>* counts) const {
    const ValueOps* ops = ValueAccess::ops(v);
    if (ops == nullptr) return 0;
    if (in_ranges(ranges_, ops)) {
      if (counts != nullptr) ++(*counts)[ops];
      return 1;
    }
    if (const Function* f = v.try_get<Function>()) {
      const CodeModule* m = f->owner.module();
      if (m == nullptr || !in_ranges(ranges_, m->base)) return 0;
      if (counts != nullptr) ++(*counts)[nullptr];  // nullptr: functions
      return 1;
    }
    std::size_t n = 0;
    if (const List* list = v.try_get<List>()) {
      for (const Value& e : *list) n += count(e, counts);
    } else if (const Tuple* tuple = v.try_get<Tuple>()) {
      for (const Value& e : tuple->items) n += count(e, counts);
    } else if (const Dict* dict = v.try_get<Dict>()) {
      n += count(*dict, counts);
    }
    return n;
  }
  std::size_t count(const Dict& dict, std::map<const ValueOps*, std::size_t>* counts) const {
    std::size_t n = 0;
    for (const auto [key, value] : dict) n += count(value, counts);
    return n;
  }

 private:
  const std::vector<AddressRange>& ranges_;
};

std::string object_text(const ObjectState* object) {
  if (object == nullptr) return "object";
  char id[32];
  std::snprintf(id, sizeof id, "%p", static_cast<const void*>(object));
  return "object of class '" + ClassAccess::state(*object->cls).name + "' (id " + id + ")";
}

}  // namespace

void check_plugin(const AllRegistries& registries, const ClassLock& held,
                  const std::vector<AddressRange>& ranges, PluginCheck& check) {
  const ValueCounter counter(ranges);
  check.classes = all_classes(held);

  // The classes that come from the plugin: their own attributes or their own init do (an init
  // copied from the base is the base's).
  std::set<const Class*> own;
  for (const ClassRef& cls : check.classes) {
    const ClassState& s = ClassAccess::state(*cls);
    bool from_plugin = counter.count(s.own, nullptr) > 0;
    if (!from_plugin && s.init) {
      const bool inherited =
          s.base && code_address(ClassAccess::state(*s.base).init) == code_address(s.init);
      from_plugin = !inherited && in_ranges(ranges, code_address(s.init));
    }
    if (from_plugin) {
      own.insert(cls.get());
      check.own.push_back(cls);
    }
  }

  // Who refers to each: registries, objects, subclasses, anything else.
  std::map<const Class*, std::size_t> registry_refs;
  for (Registry* registry : registries.registries()) {
    for (const auto& [name, cls] : RegistryAccess::classes(*registry)) ++registry_refs[cls.get()];
  }
  std::map<const Class*, std::vector<const Class*>> children;
  for (const ClassRef& cls : check.classes) {
    const ClassState& s = ClassAccess::state(*cls);
    if (s.base) children[s.base.get()].push_back(cls.get());
  }
  std::map<const ValueOps*, std::size_t> expected;  // values that die with the plugin's classes
  for (const ClassRef& cls : check.own) {
    const ClassState& s = ClassAccess::state(*cls);
    PluginUsage::ClassUse use;
    use.name = s.name;
    use.objects = s.objects.load(std::memory_order_acquire);
    const std::vector<const Class*>& kids = children[cls.get()];
    for (const Class* kid : kids) {
      if (own.count(kid) == 0) use.subclasses.push_back(ClassAccess::state(*kid).name);
    }
    // Ours in check.classes, one per registry entry, one per object, one per subclass.
    const long others = static_cast<long>(cls.use_count()) - 2 -
                        static_cast<long>(registry_refs[cls.get()]) -
                        static_cast<long>(use.objects) - static_cast<long>(kids.size());
    use.references = others > 0 ? static_cast<std::size_t>(others) : 0;
    if (use.objects > 0 || !use.subclasses.empty() || use.references > 0) {
      check.usage.classes.push_back(std::move(use));
    }
    counter.count(s.own, &expected);
    if (s.view) counter.count(s.view->attrs(), &expected);
  }

  // The live values of the plugin's types, less those its classes hold.
  std::map<const ValueOps*, long> live;
  for_each_table([&](const TableUse& use) {
    if (in_ranges(ranges, use.ops)) live[use.ops] += use.live.load(std::memory_order_acquire);
  });
  live[nullptr] += static_cast<long>(code_module_functions(ranges));
  std::size_t remaining = 0;
  for (const auto& [ops, n] : live) {
    const long left = n - static_cast<long>(expected[ops]);
    if (left <= 0) continue;
    if (ops == nullptr) {
      check.functions = static_cast<std::size_t>(left);
    } else {
      check.typed.emplace_back(ops, static_cast<std::size_t>(left));
    }
    remaining += static_cast<std::size_t>(left);
  }
  if (remaining == 0) return;

  // Where they are, as far as this thread may look: classes' attributes, then dicts.
  std::size_t placed = 0;
  for (const ClassRef& cls : check.classes) {
    if (own.count(cls.get()) != 0) continue;
    const ClassState& s = ClassAccess::state(*cls);
    std::size_t n = counter.count(s.own, nullptr);
    if (s.view) n += counter.count(s.view->attrs(), nullptr);
    if (n == 0) continue;
    check.usage.places.push_back({"class '" + s.name + "' attributes", n});
    placed += n;
  }
  struct Found {
    std::string text;  // made under the runtime mutex, while the object surely lives
    std::size_t this_thread = 0;
    std::size_t contexts = 0;  // explicit contexts entered nowhere that hold some
    std::size_t in_contexts = 0;
  };
  std::map<const ObjectState*, Found> found;
  const ScanSkipped skipped = scan_dicts([&](const ScannedDict& d) {
    const std::size_t n = counter.count(*d.dict, nullptr);
    if (n == 0) return;
    Found& f = found[d.object];
    if (f.text.empty()) f.text = object_text(d.object);
    if (d.this_thread) {
      f.this_thread += n;
    } else {
      ++f.contexts;
      f.in_contexts += n;
    }
  });
  for (const auto& [object, f] : found) {
    (void)object;
    if (f.this_thread > 0) {
      check.usage.places.push_back({f.text + ": this thread's dict", f.this_thread});
    }
    if (f.contexts > 0) {
      check.usage.places.push_back({f.text + ": " + std::to_string(f.contexts) +
                                        (f.contexts == 1 ? " context" : " contexts") +
                                        " entered nowhere",
                                    f.in_contexts});
    }
    placed += f.this_thread + f.in_contexts;
  }
  check.usage.unplaced = remaining > placed ? remaining - placed : 0;
  check.usage.other_threads = skipped.threads;
  check.usage.entered_contexts = skipped.entered;
}

void finish_usage(PluginCheck& check) {
  for (const auto& [ops, n] : check.typed) check.usage.values.push_back({ops->name(), n});
  if (check.functions > 0) check.usage.values.push_back({"function", check.functions});
  std::sort(check.usage.values.begin(), check.usage.values.end(),
            [](const auto& a, const auto& b) { return a.type < b.type; });
}

}  // namespace localbag::detail
