#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Runs CPython's own threading.local conformance tests against a `local` class.

Part 1 is CPython's Lib/test/test_threading_local.py: every test of its BaseLocalTest mixin,
with `_local` set to the class under test. Part 2 is the walkthrough in the docstring of
CPython's pure-Python `_threading_local` module, run as a doctest with its `local` replaced
by the class under test, as test_threading_local's load_tests intends.

Both are imported from the running interpreter's `test` package at run time; on Debian that
package is libpython3.11-testsuite (exit status 77, "skipped", when it is missing).

Usage: conformance.py [--module-dir DIR] [--local MODULE.ATTR] [--allow-skip]

  --module-dir DIR   prepended to sys.path, e.g. the build dir holding localbag.cpython-*.so
  --local M.ATTR     the class under test (default localbag.local; _thread._local checks
                     the script itself)
  --allow-skip       exit 0 even if some tests were skipped (they are listed either way)

Exit status: 0 if every test ran and passed, 1 otherwise, 77 if the tests are not installed.
"""

import argparse
import doctest
import importlib
import inspect
import re
import sys
import unittest

SKIP_EXIT = 77  # Meson's "test skipped"


def load_class(spec):
    module_name, _, attr = spec.rpartition(".")
    if not module_name:
        raise SystemExit(f"--local {spec!r}: expected MODULE.ATTR")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        print(f"conformance: cannot import {module_name!r} ({exc}); pass --module-dir with the "
              f"directory holding the built module", file=sys.stderr)
        raise SystemExit(1)
    try:
        return getattr(module, attr)
    except AttributeError:
        raise SystemExit(f"conformance: module {module_name!r} has no attribute {attr!r}")


def import_cpython_tests():
    """test.test_threading_local, or exit 77 with the package to install."""
    try:
        import test.test_threading_local as tests
    except unittest.SkipTest as exc:  # e.g. a build without working threads
        print(f"conformance: SKIPPED: test_threading_local does not apply here: {exc}")
        raise SystemExit(SKIP_EXIT)
    except ImportError as exc:
        ver = f"{sys.version_info.major}.{sys.version_info.minor}"
        print(f"conformance: SKIPPED: CPython's test package is not installed for "
              f"{sys.executable} ({exc}).\n"
              f"  On Debian/Ubuntu: apt-get install libpython{ver}-testsuite")
        raise SystemExit(SKIP_EXIT)
    return tests


def base_mixin(tests):
    """The module's test mixin: BaseLocalTest, or the non-TestCase base of ThreadLocalTest."""
    base = getattr(tests, "BaseLocalTest", None)
    if base is None:
        base = next(b for b in tests.ThreadLocalTest.__bases__
                    if not issubclass(b, unittest.TestCase))
    return base


def uses_local(cls, method_name, seen=None):
    """Whether a test method refers to self._local, directly or through helpers of its class.
    Tests that do not exercise the class under test are reported as such."""
    seen = set() if seen is None else seen
    seen.add(method_name)
    try:
        source = inspect.getsource(getattr(cls, method_name))
    except (OSError, TypeError):
        return True  # cannot tell: assume it does
    names = set(re.findall(r"self\.(\w+)", source))
    if "_local" in names:
        return True
    return any(uses_local(cls, name, seen) for name in names - seen
               if inspect.isfunction(getattr(cls, name, None)))


def cpython_suite(tests, local_cls):
    mixin = base_mixin(tests)
    case = type("LocalConformanceTest", (unittest.TestCase, mixin), {"_local": local_cls})
    suite = unittest.defaultTestLoader.loadTestsFromTestCase(case)
    unrelated = [name for name in unittest.defaultTestLoader.getTestCaseNames(case)
                 if not uses_local(case, name)]
    return suite, unrelated


def doctest_suite(local_cls):
    """_threading_local's docstring, with `local` the class under test.

    DocTestSuite copies the module's globals when the suite is built, so replacing
    _threading_local.local in setUp (all test_threading_local's load_tests does) would leave
    the walkthrough on the pure-Python class; the doctest's own globals are replaced too, and
    tearDown checks the walkthrough's MyLocal really derived from the class under test."""
    import _threading_local
    original = _threading_local.local

    def set_up(test):
        _threading_local.local = local_cls
        test.globs["local"] = local_cls

    def tear_down(test):
        _threading_local.local = original
        my_local = test.globs.get("MyLocal")
        if not (isinstance(my_local, type) and issubclass(my_local, local_cls)):
            raise AssertionError(f"the doctest's MyLocal ({my_local!r}) does not derive from "
                                 f"{local_cls!r}: the class under test was not substituted")

    return doctest.DocTestSuite(_threading_local, setUp=set_up, tearDown=tear_down)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--module-dir", action="append", default=[],
                        help="directory prepended to sys.path (repeatable)")
    parser.add_argument("--local", default="localbag.local",
                        help="MODULE.ATTR of the class under test (default localbag.local)")
    parser.add_argument("--allow-skip", action="store_true",
                        help="exit 0 even if some tests were skipped")
    args = parser.parse_args()

    for directory in reversed(args.module_dir):
        sys.path.insert(0, directory)
    local_cls = load_class(args.local)
    tests = import_cpython_tests()
    print(f"conformance: {args.local} = {local_cls!r} "
          f"(from {getattr(sys.modules[args.local.rpartition('.')[0]], '__file__', 'built-in')})")
    print(f"conformance: CPython {sys.version.split()[0]} ({sys.executable}), "
          f"tests from {tests.__file__}")

    suite, unrelated = cpython_suite(tests, local_cls)
    for name in unrelated:
        print(f"conformance: note: {name} does not use _local: it exercises CPython's own "
              f"threading.local, not {args.local}")
    suite.addTests(doctest_suite(local_cls))

    result = unittest.TextTestRunner(verbosity=2, stream=sys.stdout).run(suite)

    for test, reason in result.skipped:
        print(f"conformance: SKIPPED {test.id()}: {reason}")
    for test, _ in result.expectedFailures:
        print(f"conformance: EXPECTED FAILURE (counted as a failure) {test.id()}")
    for test in result.unexpectedSuccesses:
        print(f"conformance: UNEXPECTED SUCCESS (counted as a failure) {test.id()}")
    failures = (len(result.failures) + len(result.expectedFailures)
                + len(result.unexpectedSuccesses))
    errors, skipped = len(result.errors), len(result.skipped)
    print(f"conformance: {result.testsRun} tests, {failures} failures, {errors} errors, "
          f"{skipped} skipped")
    ok = result.testsRun > 0 and not failures and not errors
    if skipped and not args.allow_skip:
        print("conformance: not everything ran (see SKIPPED above; --allow-skip accepts that)")
        ok = False
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
