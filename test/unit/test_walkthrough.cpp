// SPDX-License-Identifier: MIT
// The docstring of CPython's `_threading_local` module replayed step by step: every `>>>` line
// is an assertion on the repr the docstring shows.

#include <gtest/gtest.h>

#include <algorithm>
#include <functional>
#include <stdexcept>
#include <string>
#include <thread>

#include "localbag/class.hpp"
#include "localbag/error.hpp"
#include "localbag/local_object.hpp"
#include "localbag/registry.hpp"
#include "localbag/repr.hpp"

namespace localbag {
namespace {

// >>> def f():
// ...     items = mydata.__dict__.items()
// ...     items.sort()
// ...     log.append(items)
// ...     mydata.number = 11
// ...     log.append(mydata.number)
void f(LocalObject mydata, List& log) {
  List items = mydata.dict().items();
  std::sort(items.begin(), items.end(), [](const Value& a, const Value& b) {
    return a.get<Tuple>().items.at(0).get<std::string>() <
           b.get<Tuple>().items.at(0).get<std::string>();
  });
  log.push_back(Value(std::move(items)));
  mydata.setattr("number", 11);
  log.push_back(mydata.getattr("number"));
}

// >>> thread = threading.Thread(target=f); thread.start(); thread.join()
void run_f_in_thread(const LocalObject& mydata, List& log) {
  std::thread thread(f, mydata, std::ref(log));
  thread.join();
}

// class MyLocal(local): number = 2; initialized = False; def __init__(self, **kw): ...;
// def squared(self): ...
ClassRef define_my_local(Registry& registry) {
  return registry.define(ClassSpec("MyLocal")
                             .attr("number", 2)
                             .attr("initialized", false)
                             .init([](LocalObject& self, Args, const Dict& kw) {
                               if (self.get<bool>("initialized")) {
                                 throw Error("SystemError", "__init__ called too many times");
                               }
                               self.setattr("initialized", true);
                               self.dict().update(kw);
                             })
                             .method("squared", [](LocalObject& self, Args) -> Value {
                               const int number = self.get<int>("number");
                               return number * number;
                             }));
}

TEST(Walkthrough, PlainLocal) {
  // >>> mydata = local()
  LocalObject mydata;
  // >>> mydata.number = 42
  mydata.setattr("number", 42);
  // >>> mydata.number
  EXPECT_EQ(repr(mydata.getattr("number")), "42");
  // >>> mydata.__dict__
  EXPECT_EQ(repr(mydata.getattr("__dict__")), "{'number': 42}");
  EXPECT_EQ(repr(mydata.dict()), "{'number': 42}");
  // >>> mydata.__dict__.setdefault('widgets', [])
  EXPECT_EQ(repr(mydata.dict().setdefault("widgets", List{})), "[]");
  // >>> mydata.widgets
  EXPECT_EQ(repr(mydata.getattr("widgets")), "[]");
  // >>> log = []
  List log;
  // >>> thread = threading.Thread(target=f) ... thread.join()
  run_f_in_thread(mydata, log);
  // >>> log
  EXPECT_EQ(repr(Value(log)), "[[], 11]");
  // >>> mydata.number
  EXPECT_EQ(repr(mydata.getattr("number")), "42");
  EXPECT_EQ(repr(mydata.dict()), "{'number': 42, 'widgets': []}");
}

TEST(Walkthrough, MyLocalSubclass) {
  Registry registry;
  define_my_local(registry);
  // >>> mydata = MyLocal(color='red')
  LocalObject mydata = registry.instantiate("MyLocal", {}, Dict{{"color", "red"}});
  EXPECT_EQ(repr(mydata.dict()), "{'initialized': True, 'color': 'red'}");
  // >>> mydata.number
  EXPECT_EQ(repr(mydata.getattr("number")), "2");
  // >>> mydata.color
  EXPECT_EQ(repr(mydata.getattr("color")), "'red'");
  // >>> del mydata.color
  mydata.delattr("color");
  // >>> mydata.squared()
  EXPECT_EQ(repr(mydata.call("squared")), "4");
  // >>> log = []
  List log;
  // >>> thread = threading.Thread(target=f) ... thread.join()
  run_f_in_thread(mydata, log);
  // >>> log
  EXPECT_EQ(repr(Value(log)), "[[('color', 'red'), ('initialized', True)], 11]");
  // >>> mydata.number
  EXPECT_EQ(repr(mydata.getattr("number")), "2");
  // >>> mydata.color
  // AttributeError: 'MyLocal' object has no attribute 'color'
  try {
    mydata.getattr("color");
    ADD_FAILURE() << "mydata.color did not raise";
  } catch (const Error& e) {
    EXPECT_EQ(e.to_string(), "AttributeError: 'MyLocal' object has no attribute 'color'");
  }
  // __init__ ran once in this thread and never again: initialized is still True here.
  EXPECT_TRUE(mydata.get<bool>("initialized"));
}

TEST(Walkthrough, InitRunsOncePerThread) {
  Registry registry;
  define_my_local(registry);
  LocalObject mydata = registry.instantiate("MyLocal", {}, Dict{{"color", "red"}});
  // A second thread using the object twice: __init__ must not raise SystemError.
  std::string first;
  std::string second;
  std::thread t([&] {
    first = repr(mydata.dict());
    mydata.setattr("number", 5);
    second = repr(mydata.call("squared"));
  });
  t.join();
  EXPECT_EQ(first, "{'initialized': True, 'color': 'red'}");
  EXPECT_EQ(second, "25");
  EXPECT_EQ(repr(mydata.call("squared")), "4");
}

TEST(Walkthrough, SlotsAreShared) {
  // The docstring defines a second class named MyLocal; a fresh registry takes the new name.
  Registry registry;
  List log;
  {
    Registry first;
    define_my_local(first);
    LocalObject earlier = first.instantiate("MyLocal", {}, Dict{{"color", "red"}});
    earlier.delattr("color");
    run_f_in_thread(earlier, log);
  }
  // >>> class MyLocal(local):
  // ...     __slots__ = 'number'
  registry.define(ClassSpec("MyLocal").slots({"number"}));
  // >>> mydata = MyLocal()
  LocalObject mydata = registry.instantiate("MyLocal");
  // >>> mydata.number = 42
  mydata.setattr("number", 42);
  // >>> mydata.color = 'red'
  mydata.setattr("color", "red");
  // >>> thread = threading.Thread(target=f) ... thread.join()
  run_f_in_thread(mydata, log);
  // The log was not reset in the docstring: the new thread saw an empty dict (the slot is not in
  // it) and set the shared number to 11.
  EXPECT_EQ(repr(Value(log)), "[[('color', 'red'), ('initialized', True)], 11, [], 11]");
  // >>> mydata.number
  EXPECT_EQ(repr(mydata.getattr("number")), "11");
  // color stayed per-thread.
  EXPECT_EQ(repr(mydata.getattr("color")), "'red'");
  EXPECT_EQ(repr(mydata.dict()), "{'color': 'red'}");
  // >>> del mydata
}

}  // namespace
}  // namespace localbag
