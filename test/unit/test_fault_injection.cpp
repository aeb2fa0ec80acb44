// SPDX-License-Identifier: MIT
// Fault injection. This binary replaces the global operator new: once armed on a thread, the Nth
// allocation made by that thread throws std::bad_alloc. For every N along the path of an operation
// (setattr, Dict growth and update, first access + init in a fresh thread, the constructor,
// Registry::define, Class::setattr, call) the operation must either complete or throw
// std::bad_alloc with everything exactly as before (the strong guarantee), and succeed when
// retried. An init, a method and a class-default read that throw must leave no trace.

#include <gtest/gtest.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <memory>
#include <new>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "instance_tracker.hpp"
#include "localbag/localbag.hpp"

// ---- The allocation hook --------------------------------------------------------------------

namespace fault {

thread_local long t_countdown = 0;  // 0: disarmed; n: the nth allocation from now fails
thread_local bool t_fired = false;
std::atomic<std::uint64_t> g_injected{0};

void arm(long n) {
  t_fired = false;
  t_countdown = n;
}
// Disarms; returns whether the fault was injected.
bool disarm() {
  t_countdown = 0;
  return t_fired;
}

void* allocate(std::size_t size, std::size_t align, bool nothrow) {
  if (t_countdown > 0 && --t_countdown == 0) {
    t_fired = true;
    g_injected.fetch_add(1, std::memory_order_relaxed);
    if (nothrow) return nullptr;
    throw std::bad_alloc();
  }
  if (size == 0) size = 1;
  void* p = align <= __STDCPP_DEFAULT_NEW_ALIGNMENT__
                ? std::malloc(size)
                : std::aligned_alloc(align, (size + align - 1) / align * align);
  if (p == nullptr && !nothrow) throw std::bad_alloc();
  return p;
}

// Out of line, so that GCC does not see free() of a pointer that came from operator new.
[[gnu::noinline]] void release(void* p) noexcept { std::free(p); }

}  // namespace fault

void* operator new(std::size_t n) { return fault::allocate(n, 0, false); }
void* operator new[](std::size_t n) { return fault::allocate(n, 0, false); }
void* operator new(std::size_t n, const std::nothrow_t&) noexcept {
  return fault::allocate(n, 0, true);
}
void* operator new[](std::size_t n, const std::nothrow_t&) noexcept {
  return fault::allocate(n, 0, true);
}
void* operator new(std::size_t n, std::align_val_t a) {
  return fault::allocate(n, static_cast<std::size_t>(a), false);
}
void* operator new[](std::size_t n, std::align_val_t a) {
  return fault::allocate(n, static_cast<std::size_t>(a), false);
}
void* operator new(std::size_t n, std::align_val_t a, const std::nothrow_t&) noexcept {
  return fault::allocate(n, static_cast<std::size_t>(a), true);
}
void* operator new[](std::size_t n, std::align_val_t a, const std::nothrow_t&) noexcept {
  return fault::allocate(n, static_cast<std::size_t>(a), true);
}
void operator delete(void* p) noexcept { fault::release(p); }
void operator delete[](void* p) noexcept { fault::release(p); }
void operator delete(void* p, std::size_t) noexcept { fault::release(p); }
void operator delete[](void* p, std::size_t) noexcept { fault::release(p); }
void operator delete(void* p, const std::nothrow_t&) noexcept { fault::release(p); }
void operator delete[](void* p, const std::nothrow_t&) noexcept { fault::release(p); }
void operator delete(void* p, std::align_val_t) noexcept { fault::release(p); }
void operator delete[](void* p, std::align_val_t) noexcept { fault::release(p); }
void operator delete(void* p, std::size_t, std::align_val_t) noexcept { fault::release(p); }
void operator delete[](void* p, std::size_t, std::align_val_t) noexcept { fault::release(p); }
void operator delete(void* p, std::align_val_t, const std::nothrow_t&) noexcept {
  fault::release(p);
}
void operator delete[](void* p, std::align_val_t, const std::nothrow_t&) noexcept {
  fault::release(p);
}

namespace localbag {
namespace {

std::uint64_t g_cases = 0, g_points = 0;

std::string stats_text() {
  const RuntimeStats s = runtime_stats();
  return " objects=" + std::to_string(s.live_objects) + " slots=" + std::to_string(s.live_records) +
         " threads=" + std::to_string(s.live_threads);
}

// For N = 1, 2, ...: makes a fresh fixture, runs `op` on it with the Nth allocation failing,
// and checks the outcome: either the op completed (then the state is the one a run without
// faults gives) or it threw std::bad_alloc (then the state is as before, and a retry works).
// Stops at the first N the op completes without reaching. Returns that number of points.
template <class Fixture>
long for_every_fault(const char* what, std::function<std::unique_ptr<Fixture>()> make,
                     std::function<void(Fixture&)> op, std::function<std::string(Fixture&)> state) {
  std::string want;
  {
    auto reference = make();
    op(*reference);
    want = state(*reference) + stats_text();
  }
  for (long n = 1; n < 100000; ++n) {
    auto f = make();
    const std::string before = state(*f) + stats_text();
    bool threw = false;
    fault::arm(n);
    try {
      op(*f);
    } catch (const std::bad_alloc&) {
      threw = true;
    }
    const bool fired = fault::disarm();
    if (threw) {
      EXPECT_TRUE(fired) << what << ": a bad_alloc that was not injected, N=" << n;
      EXPECT_EQ(state(*f) + stats_text(), before) << what << ": changed by a failure at N=" << n;
      op(*f);  // the retry, with no fault, succeeds
      EXPECT_EQ(state(*f) + stats_text(), want) << what << ": retry after N=" << n;
    } else {
      EXPECT_EQ(state(*f) + stats_text(), want) << what << ": completed despite N=" << n;
      if (!fired) {
        ++g_cases;
        g_points += static_cast<std::uint64_t>(n - 1);
        std::printf("[faults] %s: %ld allocation points\n", what, n - 1);
        return n - 1;
      }
    }
  }
  ADD_FAILURE() << what << ": never completed";
  return 0;
}

// ---- setattr and Dict growth ----------------------------------------------------------------

struct ObjectFixture {
  LocalObject obj;
};

std::function<std::unique_ptr<ObjectFixture>()> object_with(ClassRef cls, int entries) {
  return [cls, entries] {
    auto f = std::make_unique<ObjectFixture>(ObjectFixture{LocalObject(cls)});
    for (int i = 0; i < entries; ++i) f->obj.setattr("key" + std::to_string(i), i);
    return f;
  };
}

std::string dict_state(ObjectFixture& f) { return repr(f.obj.dict()); }

TEST(FaultInjection, SetattrOfANewKeyAtEverySize) {
  const std::string long_key = "an_attribute_name_longer_than_fifteen";
  const std::string long_value(100, 'v');
  // Sizes around the block's doublings and the fingerprint scan's limit (64 entries).
  for (int entries : {0, 1, 7, 8, 9, 15, 16, 17, 31, 32, 63, 64, 65}) {
    const std::string tag = "setattr at size " + std::to_string(entries);
    for_every_fault<ObjectFixture>((tag + " short key").c_str(),
                                   object_with(Class::local(), entries),
                                   [](ObjectFixture& f) { f.obj.setattr("new", 1); }, dict_state);
    for_every_fault<ObjectFixture>(
        (tag + " long key, long value").c_str(), object_with(Class::local(), entries),
        [&](ObjectFixture& f) { f.obj.setattr(long_key, long_value); }, dict_state);
    for_every_fault<ObjectFixture>((tag + " Key").c_str(), object_with(Class::local(), entries),
                                   [&](ObjectFixture& f) {
                                     f.obj.setattr(Key(long_key), Dict{{"x", long_value}});
                                   },
                                   dict_state);
  }
}

// Erased entries in the middle stay behind until the block is reallocated, which drops them:
// a setattr into a full block with dead entries, below the scan limit and at it.
TEST(FaultInjection, SetattrIntoAFullBlockWithErasedEntries) {
  for (int entries : {8, 64}) {
    const std::string tag = "setattr into a full block of " + std::to_string(entries) +
                            " with erased entries";
    const auto base = object_with(Class::local(), entries);
    for_every_fault<ObjectFixture>(
        tag.c_str(),
        [base] {
          auto f = base();
          f->obj.delattr("key1");
          f->obj.delattr("key3");
          return f;
        },
        [](ObjectFixture& f) { f.obj.setattr("new", 1); }, dict_state);
  }
}

TEST(FaultInjection, SetattrReplacingAValueAndOnASlottedClass) {
  Registry registry;
  const ClassRef slotted = registry.define(ClassSpec("Slotted").attr("d", 1).slots({"s"}));
  const std::string long_value(64, 'w');
  for_every_fault<ObjectFixture>(
      "setattr replacing a value", object_with(Class::local(), 12),
      [&](ObjectFixture& f) { f.obj.setattr("key5", long_value); }, dict_state);
  auto slotted_state = [](ObjectFixture& f) {
    return repr(f.obj.dict()) + " s=" + (f.obj.hasattr("s") ? repr(f.obj.getattr("s")) : "-");
  };
  for_every_fault<ObjectFixture>(
      "setattr of a slot", object_with(slotted, 3),
      [&](ObjectFixture& f) { f.obj.setattr("s", long_value); }, slotted_state);
  for_every_fault<ObjectFixture>(
      "setattr on a slotted class", object_with(slotted, 8),
      [&](ObjectFixture& f) { f.obj.setattr("another_long_attribute_name", long_value); },
      slotted_state);
}

struct DictFixture {
  Dict d, other;
};

std::function<std::unique_ptr<DictFixture>()> dicts_with(int entries, int other_entries) {
  return [=] {
    auto f = std::make_unique<DictFixture>();
    for (int i = 0; i < entries; ++i) f->d.set("key" + std::to_string(i), i);
    for (int i = 0; i < other_entries; ++i) {  // half of them new keys, some long
      const int k = i % 2 == 0 ? i : 1000 + i;
      f->other.set("key" + std::to_string(k) + (i % 3 == 0 ? "_with_a_long_suffix" : ""),
                   std::string(static_cast<std::size_t>(20 + i), 'x'));
    }
    return f;
  };
}

std::string dicts_state(DictFixture& f) { return repr(f.d) + " | " + repr(f.other); }

TEST(FaultInjection, DictGrowthAndUpdate) {
  // Sizes around the block's doublings, the 64-entry scan limit (an update from 56 or 63 entries
  // builds the index), and an indexed dict.
  for (int entries : {0, 5, 7, 8, 14, 16, 30, 56, 63, 64, 100}) {
    const std::string tag = " at size " + std::to_string(entries);
    for_every_fault<DictFixture>(
        ("Dict::set" + tag).c_str(), dicts_with(entries, 0),
        [](DictFixture& f) { f.d.set("a_new_key_that_is_long", std::string(40, 'n')); },
        dicts_state);
    for_every_fault<DictFixture>(
        ("Dict::setdefault" + tag).c_str(), dicts_with(entries, 0),
        [](DictFixture& f) { f.d.setdefault("fresh", Value(std::string(40, 'n'))); }, dicts_state);
    for (int others : {1, 4, 11}) {
      const std::string tag2 = tag + " with " + std::to_string(others);
      for_every_fault<DictFixture>(("Dict::update(const&)" + tag2).c_str(),
                                   dicts_with(entries, others),
                                   [](DictFixture& f) { f.d.update(f.other); }, dicts_state);
      for_every_fault<DictFixture>(("Dict::update(&&)" + tag2).c_str(), dicts_with(entries, others),
                                   [](DictFixture& f) { f.d.update(std::move(f.other)); },
                                   dicts_state);
    }
  }
}

// ---- First access + init, the constructor -------------------------------------------------

// A class whose init stores a few values, some of which allocate.
ClassRef init_class(Registry& registry) {
  return registry.define(ClassSpec("WithInit")
                             .attr("default", 1)
                             .init([](LocalObject& self, Args args, const Dict& kwargs) {
                               self.setattr("arg", args.empty() ? Value() : args[0]);
                               self.setattr("a_long_attribute_name_set_by_init",
                                            std::string(50, 'i'));
                               for (int i = 0; i < 9; ++i)
                                 self.setattr("k" + std::to_string(i), i);  // past 8
                               if (const Value* v = kwargs.find("color")) self.setattr("color", *v);
                             }));
}

// The first access of a fresh thread runs init there: for every N the access either works or
// throws bad_alloc leaving no dict behind for that thread, and the next access works.
TEST(FaultInjection, FirstAccessAndInitInAFreshThread) {
  Registry registry;
  const ClassRef cls = init_class(registry);
  LocalObject obj(cls, {Value(std::string(30, 'a'))}, Dict{{"color", "red"}});
  const std::string main_dict = repr(obj.dict());
  const std::string base = stats_text();
  long n = 1;
  for (bool done = false; !done; ++n) {
    std::thread([&] {
      const std::string before = stats_text();
      fault::arm(n);
      bool threw = false;
      try {
        (void)obj.hasattr("arg");
      } catch (const std::bad_alloc&) {
        threw = true;
      }
      const bool fired = fault::disarm();
      const RuntimeStats s = runtime_stats();
      if (threw) {
        EXPECT_TRUE(fired);
        // No dict for this thread: the slot count is as before (the thread's own bookkeeping
        // may have been created, and goes at its exit).
        EXPECT_EQ(" objects=" + std::to_string(s.live_objects) +
                      " slots=" + std::to_string(s.live_records),
                  before.substr(0, before.find(" threads=")))
            << "N=" << n;
      }
      EXPECT_EQ(repr(obj.dict()), main_dict) << "N=" << n;  // the retry (or the first) works
      done = !fired;
    }).join();
    EXPECT_EQ(stats_text(), base) << "after the thread of N=" << n;
    EXPECT_EQ(repr(obj.dict()), main_dict);
  }
  ++g_cases;
  g_points += static_cast<std::uint64_t>(n - 2);
  std::printf("[faults] first access + init in a fresh thread: %ld allocation points\n", n - 2);
}

struct ConstructFixture {
  ClassRef cls;
  std::optional<LocalObject> made;
};

TEST(FaultInjection, ConstructorWithInitAndArguments) {
  Registry registry;
  const ClassRef cls = init_class(registry);
  for_every_fault<ConstructFixture>(
      "LocalObject(cls, args, kwargs)",
      [&] {
        return std::make_unique<ConstructFixture>(ConstructFixture{cls, std::nullopt});
      },
      [](ConstructFixture& f) {
        std::vector<Value> args{Value(std::string(40, 'z'))};
        f.made.emplace(f.cls, std::move(args), Dict{{"color", "blue"}});
      },
      [](ConstructFixture& f) { return f.made ? repr(f.made->dict()) : std::string("none"); });
}

// ---- Registry::define, Class::setattr, call --------------------------------------------------

struct RegistryFixture {
  Registry registry;
  ClassRef base;
  std::optional<LocalObject> obj;
  std::optional<ClassSpec> spec;
};

ClassSpec child_spec() {
  return ClassSpec("Child_with_a_long_class_name")
      .base("Base")
      .attr("number", 3)
      .attr("a_long_class_attribute_name", std::string(40, 'c'))
      .method("squared",
              [](LocalObject& self, Args) -> Value {
                const int n = self.get<int>("number");
                return n * n;
              })
      .init([](LocalObject& self, Args, const Dict&) { self.setattr("inited", true); })
      .slots({"t", "another_slot_name_that_is_long"});
}

std::unique_ptr<RegistryFixture> make_registry_fixture() {
  auto f = std::make_unique<RegistryFixture>();
  f->base = f->registry.define(ClassSpec("Base").attr("color", "red").slots({"s"}));
  f->obj.emplace(f->base);
  f->spec.emplace(child_spec());
  return f;
}

std::string registry_state(RegistryFixture& f) {
  std::string out;
  for (const std::string& name : f.registry.names()) {
    const ClassRef cls = f.registry.get(name);
    out += name + repr(cls->own_attrs()) + " color=" + repr(cls->getattr("color")) + "; ";
  }
  if (f.registry.contains("Child_with_a_long_class_name")) {  // the new class works
    LocalObject child = f.registry.instantiate("Child_with_a_long_class_name");
    out += "child squared=" + repr(child.call("squared")) + " " + repr(child.dict()) + "; ";
  }
  return out + "obj color=" + repr(f.obj->getattr("color"));
}

TEST(FaultInjection, RegistryDefine) {
  for_every_fault<RegistryFixture>(
      "Registry::define", make_registry_fixture,
      [](RegistryFixture& f) {
        if (!f.spec) f.spec.emplace(child_spec());  // the retry needs a spec again
        ClassSpec spec = std::move(*f.spec);
        f.spec.reset();
        f.registry.define(std::move(spec));
      },
      registry_state);
}

TEST(FaultInjection, ClassSetattrAndDelattr) {
  auto with_child = [] {
    auto f = make_registry_fixture();
    f->registry.define(std::move(*f->spec));
    f->spec.reset();
    return f;
  };
  for_every_fault<RegistryFixture>(
      "Class::setattr (base, seen by a subclass)", with_child,
      [](RegistryFixture& f) { f.base->setattr("color", std::string(33, 'b')); }, registry_state);
  for_every_fault<RegistryFixture>(
      "Class::setattr of a new long name", with_child,
      [](RegistryFixture& f) {
        f.base->setattr("a_brand_new_class_attribute", std::string(33, 'b'));
      },
      registry_state);
  for_every_fault<RegistryFixture>(
      "Class::delattr", with_child, [](RegistryFixture& f) { f.base->delattr("color"); },
      [](RegistryFixture& f) {
        return repr(f.base->own_attrs()) + " has=" + std::to_string(f.obj->hasattr("color"));
      });
}

TEST(FaultInjection, MethodCall) {
  Registry registry;
  const ClassRef cls = registry.define(
      ClassSpec("Caller").method("store", [](LocalObject& self, Args args) -> Value {
        self.setattr("stored_by_a_method_call", args[0]);  // the only step that may fail
        return {};
      }));
  for_every_fault<ObjectFixture>(
      "call", object_with(cls, 8),
      [](ObjectFixture& f) { f.obj.call("store", std::string(30, 'm')); }, dict_state);
}

// ---- What throws leaves no trace ------------------------------------------------------------

// Counts the live Tracked values of the tests below. Recording allocates nothing.
test::Ledger counted;

TEST(FaultInjection, AThrowingInitLeavesNoTrace) {
  Registry registry;
  std::atomic<int> calls{0};
  const ClassRef cls =
      registry.define(ClassSpec("Picky").init([&](LocalObject& self, Args, const Dict&) {
        self.setattr("partial", test::Tracked(counted));
        self.setattr("more", std::string(40, 'p'));
        if (calls.fetch_add(1) % 2 == 1) throw std::runtime_error("init refused");
      }));
  LocalObject obj(cls);  // call 0 succeeds
  const std::string base = stats_text();
  std::thread([&] {
    const RuntimeStats before = runtime_stats();
    EXPECT_THROW((void)obj.hasattr("partial"), std::runtime_error);  // call 1 throws
    EXPECT_EQ(counted.live(), 1);  // only the main thread's value is left
    EXPECT_EQ(runtime_stats().live_records, before.live_records);
    EXPECT_EQ(obj.dict().keys(), (std::vector<std::string>{"partial", "more"}));  // call 2 works
    EXPECT_EQ(counted.live(), 2);
  }).join();
  EXPECT_EQ(counted.live(), 1);
  EXPECT_EQ(stats_text(), base);
}

// A method that throws after changing its class (which replaces the class snapshot the call
// pinned) releases what it pinned: the old snapshot's values are freed.
TEST(FaultInjection, AThrowingMethodLeavesNoTrace) {
  Registry registry;
  ClassRef cls;
  cls = registry.define(
      ClassSpec("Thrower")
          .attr("big", test::Tracked(counted))
          .method("boom", [&](LocalObject& self, Args) -> Value {
            self.setattr("during", 1);
            cls->setattr("big", test::Tracked(counted));  // replaces the snapshot of this call
            (void)self.getattr("big");  // this thread moves to the new one while pinned
            throw std::runtime_error("boom");
          }));
  LocalObject obj(cls);
  (void)obj.getattr("big");
  const std::string dict_before = repr(obj.dict());
  EXPECT_THROW(obj.call("boom"), std::runtime_error);
  (void)obj.getattr("big");
  // The class's own attrs and its one snapshot: two copies. No pinned snapshot is left over.
  EXPECT_EQ(counted.live(), 2);
  EXPECT_EQ(repr(obj.dict()), "{'during': 1}");  // what the method did before throwing stays
  EXPECT_NE(dict_before, repr(obj.dict()));
}

// Reading a class default as the wrong type throws TypeError and copies nothing in.
TEST(FaultInjection, AThrowingClassDefaultReadLeavesNoTrace) {
  Registry registry;
  const ClassRef cls = registry.define(ClassSpec("Defaults").attr("color", "red"));
  LocalObject obj(cls);
  obj.setattr("mine", 1);
  const std::string before = repr(obj.dict()) + stats_text();
  EXPECT_THROW((void)obj.get<int>("color"), TypeError);
  EXPECT_THROW((void)obj.ref<std::string>("color"), AttributeError);
  EXPECT_EQ(repr(obj.dict()) + stats_text(), before);
  EXPECT_EQ(obj.get<std::string>("color"), "red");
}

class Figures : public ::testing::Environment {
 public:
  void TearDown() override {
    std::printf(
        "[figures] fault-injection: cases=%llu allocation points=%llu faults injected=%llu\n",
        static_cast<unsigned long long>(g_cases), static_cast<unsigned long long>(g_points),
        static_cast<unsigned long long>(fault::g_injected.load()));
  }
};
[[maybe_unused]] ::testing::Environment* const g_figures =
    ::testing::AddGlobalTestEnvironment(new Figures);

}  // namespace
}  // namespace localbag
