#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""The Python binding's own tests: `localbag.local` behaves as `threading.local` where CPython's
tests do not look (every check below runs on both and must agree), and keeps the binding's own
promises (the same `__dict__` object per thread, values released when a thread ends, lazy
error texts that still read as CPython's).

Usage: test_local.py [--module-dir DIR]   (DIR holds the built `localbag` module)
"""

import argparse
import gc
import sys
import threading
import unittest
import weakref


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--module-dir", help="directory of the built localbag module")
    args, rest = parser.parse_known_args()
    if args.module_dir:
        sys.path.insert(0, args.module_dir)
    return rest


class Thing:
    """A value whose release a weak reference can observe."""


def in_thread(fn):
    """Runs fn on a new thread and returns its result (or raises its exception)."""
    out = {}

    def run():
        try:
            out["value"] = fn()
        except BaseException as e:  # handed to the caller
            out["error"] = e

    t = threading.Thread(target=run)
    t.start()
    t.join()
    if "error" in out:
        raise out["error"]
    return out.get("value")


class Semantics:
    """Checks that must hold for threading.local and localbag.local alike."""

    local = None  # set by the subclasses

    def test_attributes_are_per_thread(self):
        obj = self.local()
        obj.x = 1
        self.assertEqual(in_thread(lambda: hasattr(obj, "x")), False)
        in_thread(lambda: setattr(obj, "x", 2))
        self.assertEqual(obj.x, 1)

    def test_identity_of_stored_objects(self):
        obj = self.local()
        value = "a string built at run time " + str(id(obj))
        big = 10**30
        obj.s = value
        obj.b = big
        self.assertIs(obj.s, value)
        self.assertIs(obj.b, big)

    def test_missing_attribute_text(self):
        class MyLocal(self.local):
            pass

        obj = MyLocal()
        with self.assertRaises(AttributeError) as cm:
            obj.color
        self.assertEqual(str(cm.exception), "'MyLocal' object has no attribute 'color'")
        self.assertEqual(repr(cm.exception),
                         "AttributeError(\"'MyLocal' object has no attribute 'color'\")")
        with self.assertRaises(AttributeError) as cm:
            del obj.color
        self.assertEqual(str(cm.exception), "'MyLocal' object has no attribute 'color'")
        self.assertIsNone(getattr(obj, "color", None))
        self.assertFalse(hasattr(obj, "color"))

    def test_dict_is_read_only(self):
        class MyLocal(self.local):
            pass

        obj = MyLocal()
        with self.assertRaises(AttributeError) as cm:
            obj.__dict__ = {}
        self.assertEqual(str(cm.exception), "'MyLocal' object attribute '__dict__' is read-only")
        with self.assertRaises(AttributeError):
            del obj.__dict__

    def test_dict_operations(self):
        obj = self.local()
        obj.a = 1
        d = obj.__dict__
        self.assertIs(obj.__dict__, d)
        self.assertEqual(d, {"a": 1})
        d["b"] = 2
        self.assertEqual(obj.b, 2)
        self.assertEqual(d.setdefault("c", []), [])
        self.assertEqual(sorted(d.items()), [("a", 1), ("b", 2), ("c", [])])
        del d["a"]
        self.assertFalse(hasattr(obj, "a"))
        self.assertEqual(len(d), 2)
        self.assertIn("b", d)
        self.assertEqual(d.get("zz", 5), 5)
        self.assertEqual(d.pop("b"), 2)
        self.assertEqual(d.copy(), {"c": []})
        with self.assertRaises(KeyError):
            d["missing"]

    def test_dict_differs_per_thread(self):
        obj = self.local()
        mine = obj.__dict__
        theirs = in_thread(lambda: obj.__dict__ is mine)
        self.assertFalse(theirs)

    def test_no_init_no_arguments(self):
        with self.assertRaises(TypeError) as cm:
            self.local(1)
        self.assertEqual(str(cm.exception), "Initialization arguments are not supported")
        with self.assertRaises(TypeError):
            self.local(a=1)

    def test_init_per_thread_with_original_arguments(self):
        calls = []

        class MyLocal(self.local):
            def __init__(self, a, *, b):
                calls.append((threading.get_ident(), a, b))
                self.a = a
                self.b = b

        obj = MyLocal([1], b="x")
        self.assertEqual(in_thread(lambda: (obj.a, obj.b)), ([1], "x"))
        self.assertEqual(len(calls), 2)
        self.assertNotEqual(calls[0][0], calls[1][0])

    def test_init_retried_after_it_raises(self):
        attempts = []

        class Flaky(self.local):
            def __init__(self):
                attempts.append(1)
                if len(attempts) == 2:  # the second thread's first try
                    raise ValueError("not yet")
                self.ready = True

        obj = Flaky()

        def second():
            try:
                obj.ready
            except ValueError as e:
                first = str(e)
            return first, obj.ready

        self.assertEqual(in_thread(second), ("not yet", True))
        self.assertEqual(len(attempts), 3)

    def test_class_attributes_properties_methods(self):
        class MyLocal(self.local):
            number = 2
            initialized = False

            def __init__(self, **kw):
                if self.initialized:
                    raise SystemError("__init__ called too many times")
                self.initialized = True
                self.__dict__.update(kw)

            def squared(self):
                return self.number**2

            @property
            def twice(self):
                return self.number * 2

            @twice.setter
            def twice(self, value):
                self.number = value // 2

        obj = MyLocal(color="red")
        self.assertEqual((obj.number, obj.squared(), obj.twice, obj.color), (2, 4, 4, "red"))
        obj.twice = 10
        self.assertEqual((obj.number, obj.__dict__["number"]), (5, 5))
        self.assertEqual(in_thread(lambda: (obj.number, obj.color)), (2, "red"))

    def test_getattr_hook_of_subclass(self):
        class WithDefault(self.local):
            def __getattr__(self, name):
                return "default-" + name

        obj = WithDefault()
        obj.x = 1
        self.assertEqual((obj.x, obj.y), (1, "default-y"))

    def test_slots_shared_across_threads(self):
        class Slotted(self.local):
            __slots__ = ("shared",)

        obj = Slotted()
        obj.shared = 1
        in_thread(lambda: setattr(obj, "shared", 2))
        self.assertEqual(obj.shared, 2)

    def test_weak_references(self):
        obj = self.local()
        ref = weakref.ref(obj)
        self.assertIs(ref(), obj)
        del obj
        gc.collect()
        self.assertIsNone(ref())

    def test_values_released_with_the_object(self):
        obj = self.local()
        thing = Thing()
        obj.thing = thing
        ref = weakref.ref(thing)
        del thing, obj
        gc.collect()
        self.assertIsNone(ref())

    def test_values_released_when_thread_ends(self):
        obj = self.local()
        refs = []

        def work():
            thing = Thing()
            obj.thing = thing
            refs.append(weakref.ref(thing))

        for _ in range(5):
            in_thread(work)
        gc.collect()
        self.assertEqual([r() for r in refs], [None] * 5)

    def test_cycle_through_dict_collected(self):
        obj = self.local()
        obj.me = obj
        ref = weakref.ref(obj)
        del obj
        gc.collect()
        self.assertIsNone(ref())

    def test_non_str_names(self):
        obj = self.local()
        with self.assertRaises(TypeError):
            setattr(obj, 1, 2)
        with self.assertRaises(TypeError):
            getattr(obj, 1)

    def test_class_assignment_refused(self):
        obj = self.local()
        with self.assertRaises(TypeError):
            obj.__class__ = Thing


class ThreadingLocal(Semantics, unittest.TestCase):
    local = threading.local


class LocalbagLocal(Semantics, unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        import localbag

        cls.local = localbag.local

    def test_module_surface(self):
        import localbag

        self.assertTrue(localbag.__version__)
        with self.assertRaises(NameError) as cm:
            localbag.create("NoSuchClass")
        self.assertIn("NoSuchClass", str(cm.exception))

    def test_missing_attribute_exception_is_lazy_but_equal(self):
        obj = self.local()
        try:
            obj.color
        except AttributeError as e:
            self.assertEqual(e.args[0], "'localbag.local' object has no attribute 'color'")
            self.assertEqual(hash(e.args[0]),
                             hash("'localbag.local' object has no attribute 'color'"))

    def test_many_threads_and_objects(self):
        objs = [self.local() for _ in range(20)]
        seen = []

        def work(i):
            for o in objs:
                o.v = i
            seen.append(all(o.v == i for o in objs))

        threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.assertEqual(seen, [True] * 8)


if __name__ == "__main__":
    rest = parse_args()
    unittest.main(argv=[sys.argv[0]] + rest, verbosity=1)
