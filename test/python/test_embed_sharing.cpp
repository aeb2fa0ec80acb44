// SPDX-License-Identifier: MIT
// A C++ host embedding Python, sharing objects and values with it through the `localbag`
// module (localbag/python.hpp): one Python object per LocalObject, one dict per thread (or
// context) read and written from both sides, the numeric policy, classes of the C++ registry
// made from Python and Python subclasses read from C++, and opaque values both ways. The GIL
// and shutdown tests are test_embed_gil.cpp's.
//
// main() initialises Python once; the tests run on the main thread holding the GIL, and release
// it (WithoutGil) around anything another thread does with Python.

// First, for <Python.h> (it sets macros the system headers read).
#include "embed_support.hpp"

#include <cstdint>
#include <string>
#include <thread>

namespace localbag {
namespace {

using embed_test::GilHeld;
using embed_test::Owned;
using embed_test::Script;
using embed_test::WithoutGil;
using python::from_python;

// ---- Identity -----------------------------------------------------------------------------------

TEST(Identity, OneObjectIsOnePythonObject) {
  Script py;
  LocalObject obj;
  py.bind("a", obj);
  py.bind("b", obj);
  EXPECT_EQ(py.repr_of("a is b"), "True");
  EXPECT_EQ(py.get("a"), py.get("b"));
  EXPECT_EQ(from_python(py.get("a")), obj);

  // The other way round: an object made in Python comes back to Python as itself.
  ASSERT_EQ(py.run("made = localbag.local()"), "");
  const LocalObject made = from_python(py.get("made"));
  EXPECT_FALSE(made == obj);
  py.bind("back", made);
  EXPECT_EQ(py.repr_of("back is made"), "True");

  const Owned number(PyLong_FromLong(3));
  EXPECT_LB_ERROR(from_python(number.get()), TypeError, "expected a localbag.local object");
}

// ---- One dict per thread, shared by both languages ----------------------------------------------

// Which of the names check_shared_dict sets the object has in the current context, and the
// answer for none of them.
constexpr const char* kWhichOfThem = "[hasattr(obj, k) for k in ('n', 's', 'm', 't', 'l', 'd')]";
constexpr const char* kNoneOfThem = "[False, False, False, False, False, False]";

// On the calling thread's current context: C++ sets n and s, Python reads them and sets m, t,
// l and d, C++ reads those by the numeric policy. `n` and `s` differ per caller, so that a
// value seen in the wrong dict shows.
void check_shared_dict(Script& py, LocalObject& obj, int n, const std::string& s) {
  EXPECT_EQ(py.repr_of(kWhichOfThem), kNoneOfThem);
  obj.setattr("n", n);
  obj.setattr("s", s);
  EXPECT_EQ(py.repr_of("type(obj.n).__name__, obj.n, type(obj.s).__name__, obj.s"),
            "('int', " + std::to_string(n) + ", 'str', '" + s + "')");

  ASSERT_EQ(py.run("obj.m = 2**40\n"
                   "obj.t = 'x'\n"
                   "obj.l = [1, 'a', 2.5]\n"
                   "obj.d = {'k': 1}\n"),
            "");
  EXPECT_EQ(obj.get<std::int64_t>("m"), std::int64_t{1} << 40);
  EXPECT_EQ(obj.get<double>("m"), 1099511627776.0);
  EXPECT_LB_ERROR(obj.get<int>("m"), OverflowError, "Python int too large to convert to C int");
  EXPECT_EQ(obj.get<std::string>("t"), "x");
  const List l = obj.get<List>("l");
  ASSERT_EQ(l.size(), 3U);
  EXPECT_EQ(l[0].get<std::int64_t>(), 1);
  EXPECT_EQ(l[1].get<std::string>(), "a");
  EXPECT_EQ(l[2].get<double>(), 2.5);
  const Dict d = obj.get<Dict>("d");
  EXPECT_EQ(repr(d), "{'k': 1}");
  EXPECT_EQ(d.get<std::int64_t>("k"), 1);
  EXPECT_EQ(repr(obj.getattr("l")), "[1, 'a', 2.5]");  // a Python object's repr is Python's

  // Beyond 64 bits, a type error named by what the value is in Python, a list that contains
  // itself.
  ASSERT_EQ(py.run("obj.w = -2**70\n"
                   "obj.r = []\n"
                   "obj.r.append(obj.r)\n"),
            "");
  EXPECT_LB_ERROR(obj.get<int>("w"), OverflowError, "Python int too large to convert to C int");
  EXPECT_LB_ERROR(obj.get<unsigned>("w"), OverflowError, "can't convert negative int to unsigned");
  EXPECT_EQ(obj.get<double>("w"), -1180591620717411303424.0);
  EXPECT_LB_ERROR(obj.get<int>("t"), TypeError, "'local' object attribute 't' is str, not int");
  EXPECT_LB_ERROR(obj.get<List>("r"), RuntimeError,
                  "maximum recursion depth exceeded while converting a Python object for localbag");

  // C++ replaces a value Python set; Python sees the C++ one.
  obj.setattr("t", std::string("from C++"));
  EXPECT_EQ(py.repr_of("obj.t"), "'from C++'");
}

TEST(SharedDict, ThreadsImplicitContext) {
  Script py;
  LocalObject obj;
  py.bind("obj", obj);
  check_shared_dict(py, obj, 7, "seven");

  std::string python_saw;
  bool cpp_saw = true;
  {
    const WithoutGil released;
    std::thread([&] {
      cpp_saw = obj.hasattr("n") || obj.hasattr("m") || obj.hasattr("l");
      const GilHeld gil;
      python_saw = py.repr_of(kWhichOfThem);
    }).join();
  }
  EXPECT_FALSE(cpp_saw);
  EXPECT_EQ(python_saw, kNoneOfThem);
  EXPECT_EQ(obj.get<int>("n"), 7);  // and the thread's visit changed nothing here
}

TEST(SharedDict, EnteredContext) {
  Script py;
  LocalObject obj;
  py.bind("obj", obj);
  obj.setattr("n", 7);
  Context ctx;
  {
    const Context::Scope entered(ctx);
    SCOPED_TRACE("in an entered context");
    check_shared_dict(py, obj, 8, "eight");
  }
  // The thread's own dict kept its own values; the context keeps its.
  EXPECT_EQ(obj.get<int>("n"), 7);
  EXPECT_EQ(py.repr_of(kWhichOfThem), "[True, False, False, False, False, False]");
  EXPECT_EQ(ctx.run([&] { return obj.get<int>("n"); }), 8);
  EXPECT_EQ(ctx.run([&] { return py.repr_of("obj.m, obj.t"); }), "(1099511627776, 'from C++')");

  Context other;
  EXPECT_EQ(other.run([&] { return py.repr_of(kWhichOfThem); }), kNoneOfThem);
  EXPECT_FALSE(other.run([&] { return obj.hasattr("m"); }));
}

// ---- Classes ------------------------------------------------------------------------------------

// A class of the C++ registry, made from Python with localbag.create: `base` and `label` as
// defaults, `add(x)` returns base + x, and init keeps its first argument and `tag`.
const ClassRef& adder_class() {
  static const ClassRef cls = Registry::global().define(
      ClassSpec("EmbedAdder")
          .attr("base", 10)
          .attr("label", "adder")
          .method("add",
                  [](LocalObject& self, Args args) -> Value {
                    if (args.size() != 1) throw TypeError("add() takes exactly one argument");
                    return self.get<int>("base") + args[0].as<int>();  // Python ints: int64
                  })
          .init([](LocalObject& self, Args args, const Dict& kwargs) {
            if (!args.empty()) self.setattr("start", args[0]);
            if (const Value* tag = kwargs.find("tag")) self.setattr("tag", *tag);
          }));
  return cls;
}

TEST(Classes, RegistryClassFromPython) {
  adder_class();
  Script py;
  ASSERT_EQ(py.run("a = localbag.create('EmbedAdder', 5, tag='blue')"), "");
  EXPECT_EQ(py.repr_of("a.base, a.label, a.add(4), a.start, a.tag"),
            "(10, 'adder', 14, 5, 'blue')");
  // A Python override of the default, read by the C++ method through the numeric policy.
  ASSERT_EQ(py.run("a.base = 20"), "");
  EXPECT_EQ(py.repr_of("a.add(1)"), "21");
  EXPECT_EQ(py.run("localbag.create('NoSuchClass')"),
            "NameError: name 'NoSuchClass' is not defined");
  EXPECT_EQ(py.run("a.add()"), "TypeError: add() takes exactly one argument");

  LocalObject a = from_python(py.get("a"));
  EXPECT_EQ(a.type(), adder_class());
  EXPECT_EQ(a.get<int>("start"), 5);
  EXPECT_EQ(a.get<int>("base"), 20);
  EXPECT_EQ(a.call("add", 2).as<int>(), 22);

  // A C++ thread: init runs there with the original arguments; the override stays behind.
  int start = 0, base = 0, sum = 0;
  std::string tag;
  {
    const WithoutGil released;
    std::thread([&] {
      start = a.get<int>("start");
      tag = a.get<std::string>("tag");
      base = a.get<int>("base");
      sum = a.call("add", 3).as<int>();
    }).join();
  }
  EXPECT_EQ(start, 5);
  EXPECT_EQ(tag, "blue");
  EXPECT_EQ(base, 10);
  EXPECT_EQ(sum, 13);
}

TEST(Classes, PythonSubclassReadFromCpp) {
  Script py;
  ASSERT_EQ(py.run("class MyLocal(localbag.local):\n"
                   "    def __init__(self, size=0):\n"
                   "        self.size = size\n"
                   "        self.name = 'big'\n"
                   "m = MyLocal(size=3)\n"
                   "m.extra = 2.5\n"),
            "");
  LocalObject m = from_python(py.get("m"));
  EXPECT_EQ(m.type()->name(), "MyLocal");
  EXPECT_EQ(m.get<int>("size"), 3);
  EXPECT_EQ(m.get<std::string>("name"), "big");
  EXPECT_EQ(m.get<double>("extra"), 2.5);
  EXPECT_LB_ERROR(m.get<int>("color"), AttributeError, "'MyLocal' object has no attribute 'color'");
  EXPECT_EQ(py.run("m.color"), "AttributeError: 'MyLocal' object has no attribute 'color'");

  // A C++ thread's first access runs the Python __init__ there, taking the GIL itself.
  int size = 0;
  bool extra = true;
  {
    const WithoutGil released;
    std::thread([&] {
      size = m.get<int>("size");
      extra = m.hasattr("extra");
    }).join();
  }
  EXPECT_EQ(size, 3);
  EXPECT_FALSE(extra);
}

// ---- Opaque values ------------------------------------------------------------------------------

struct Gadget {
  int id;
};
std::string localbag_repr(const Gadget& g) { return "Gadget(" + std::to_string(g.id) + ")"; }
struct Plain {};

TEST(Opaque, CppValueSeenFromPython) {
  Script py;
  LocalObject obj;
  py.bind("obj", obj);
  obj.setattr("gadget", Gadget{7});
  obj.setattr("plain", Plain{});
  EXPECT_EQ(py.repr_of("type(obj.gadget) is localbag.Value, obj.gadget"), "(True, Gadget(7))");
  EXPECT_EQ(py.repr_of("obj.plain"), repr(Value(Plain{})));
  // Stored back from Python, it is still the C++ value.
  ASSERT_EQ(py.run("obj.again = obj.gadget"), "");
  EXPECT_EQ(obj.get<Gadget>("again").id, 7);
}

TEST(Opaque, PythonObjectSeenFromCpp) {
  Script py;
  LocalObject obj;
  py.bind("obj", obj);
  ASSERT_EQ(py.run("class P:\n"
                   "    pass\n"
                   "class Q:\n"
                   "    def __repr__(self):\n"
                   "        return 'Q(1)'\n"
                   "obj.p = P()\n"
                   "obj.p_repr = repr(obj.p)\n"
                   "obj.q = Q()\n"),
            "");
  const std::string p_repr = obj.get<std::string>("p_repr");
  EXPECT_NE(p_repr.find(".P object at 0x"), std::string::npos) << p_repr;
  EXPECT_EQ(repr(obj.getattr("p")), p_repr);
  EXPECT_EQ(repr(obj.getattr("q")), "Q(1)");
  EXPECT_EQ(obj.getattr("q").type_name(), "object");
  EXPECT_THROW(obj.get<int>("q"), TypeError);

  // The value conversions of localbag/python.hpp: a Python object is held, and given back as
  // itself; builtin values convert both ways.
  const Owned q_obj(PyObject_GetAttrString(py.get("obj"), "q"));
  ASSERT_NE(q_obj, nullptr);
  const Value held = python::value_from_python(q_obj.get());
  EXPECT_EQ(repr(held), "Q(1)");
  const Owned back(python::value_to_python(held));
  EXPECT_EQ(back.get(), q_obj.get());
  const Owned big(PyLong_FromLongLong(std::int64_t{1} << 40));
  EXPECT_EQ(python::value_from_python(big.get()).get<std::int64_t>(), std::int64_t{1} << 40);
  py.bind("converted", python::value_to_python(Value(List{1, "a", 2.5})));
  EXPECT_EQ(py.repr_of("converted"), "[1, 'a', 2.5]");
}

}  // namespace
}  // namespace localbag

int main(int argc, char** argv) { return localbag::embed_test::run_all_tests(argc, argv); }
