#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Builds test/consumers/app.cpp the ways a project outside this repository uses localbag, and
# runs each result (app.cpp exits non-zero when a thread sees another thread's value):
#   meson subproject    test/consumers/meson: subprojects/localbag -> this repository,
#                       dependency('localbag'); must build the library only, no localbag tests
#   cmake               test/consumers/cmake: find_package(localbag 0.1) against the install,
#                       moved elsewhere first (the package must be relocatable), with
#                       localbag::localbag; find_package(localbag 0.2) must be refused
#   cmake static        the same project's localbag::localbag_static
#   pkg-config shared   test/consumers/pkgconfig/build.sh: g++ with pkg-config's flags only
#   pkg-config static   the same with liblocalbag.a; must not need liblocalbag.so at run time
#   no boost            app.cpp preprocessed with the .pc's Cflags must include no Boost
#                       header: the public headers need none, and the .pc names none
#   readme example      README.md's Example, extracted as written, built with pkg-config and
#                       -Wall -Wextra -Werror, must print what README says it prints
#   c++17               a C++17 compile of a public header must stop at one clear #error
# First it builds and installs this tree into a temporary prefix. Prints one line per
# consumer, then "N passed, N failed"; exits 1 when one failed. Needs g++, meson, ninja,
# pkg-config, cmake, Boost (.ci/deps installs them). LOCALBAG_CONSUMERS_KEEP=1 keeps the
# temporary directory (it is kept anyway when a consumer fails).
set -uo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/localbag-consumers.XXXXXX")
prefix=$work/prefix
passed=0
failed=0

finish() {
  echo "$passed passed, $failed failed"
  if ((failed == 0)) && [[ "${LOCALBAG_CONSUMERS_KEEP:-0}" != 1 ]]; then
    rm -rf "$work"
  else
    echo "(build trees and logs kept in $work)"
  fi
  if ((failed > 0)); then exit 1; fi
  exit 0
}

pass() { echo "PASS $1: $2"; passed=$((passed + 1)); }
fail() {  # fail NAME WHY [LOG]
  echo "FAIL $1: $2"
  if [[ -n "${3:-}" && -f "$3" ]]; then tail -n 30 "$3" | sed 's/^/    /'; fi
  failed=$((failed + 1))
}

# The install every consumer but the Meson subproject uses. Only the library: the parts
# that need more than the library are disabled.
if ! { meson setup "$work/build" "$repo" --prefix="$prefix" -Dtests=disabled \
         -Dbenchmarks=disabled -Ddemo=disabled -Dfuzzer=disabled &&
       meson install -C "$work/build"; } >"$work/install.log" 2>&1; then
  fail install "meson setup/install of $repo into $prefix failed" "$work/install.log"
  finish
fi
libdir=$(dirname "$(find "$prefix" -name localbag.pc -path '*/pkgconfig/*' | head -n 1)")
libdir=${libdir%/pkgconfig}
lib_rel=${libdir#"$prefix"/}

# -- Meson subproject -----------------------------------------------------------------------
name="meson subproject"
src=$work/src
mkdir -p "$src"
cp -r "$repo/test/consumers/app.cpp" "$repo/test/consumers/meson" "$src/"
mkdir -p "$src/meson/subprojects"
ln -s "$repo" "$src/meson/subprojects/localbag"
log=$work/meson.log
b=$work/build-meson
# --force-fallback-for: use the subproject even if a localbag is installed on this machine.
if ! { meson setup "$b" "$src/meson" --force-fallback-for=localbag && meson compile -C "$b"; } \
      >"$log" 2>&1; then
  fail "$name" "build failed" "$log"
elif ! "$b/app" >>"$log" 2>&1; then
  fail "$name" "app failed" "$log"
else
  commands=$(ninja -C "$b" -t commands | wc -l)
  extra=$(ninja -C "$b" -t targets all | grep -cE 'localbag-(demo|bench|fuzz)|/(unit|stress)_|test_cookbook')
  tests=$(meson test -C "$b" --list 2>/dev/null | grep -c '^localbag:')
  if ((extra != 0 || tests != 0)); then
    fail "$name" "the subproject built $extra non-library targets and defines $tests tests" "$log"
  else
    pass "$name" "dependency('localbag'), library only: $commands build commands, 0 localbag tests"
  fi
fi

# -- pkg-config -----------------------------------------------------------------------------
export PKG_CONFIG_PATH=$libdir/pkgconfig
b=$work/build-pkgconfig
mkdir -p "$b"
log=$work/pkgconfig.log
if ! bash "$repo/test/consumers/pkgconfig/build.sh" "$b" >"$log" 2>&1; then
  fail "pkg-config shared" "build failed" "$log"
  fail "pkg-config static" "build failed" "$log"
else
  if ! readelf -d "$b/app" | grep -q 'NEEDED.*liblocalbag\.so'; then
    fail "pkg-config shared" "app does not link liblocalbag.so"
  elif ! LD_LIBRARY_PATH=$libdir "$b/app" >>"$log" 2>&1; then
    fail "pkg-config shared" "app failed" "$log"
  else
    pass "pkg-config shared" "g++ \$(pkg-config --cflags --libs localbag), run with LD_LIBRARY_PATH"
  fi
  if readelf -d "$b/app-static" | grep -q 'NEEDED.*liblocalbag'; then
    fail "pkg-config static" "app-static still needs liblocalbag.so"
  elif ! "$b/app-static" >>"$log" 2>&1; then
    fail "pkg-config static" "app-static failed" "$log"
  else
    pass "pkg-config static" "-Wl,-Bstatic \$(pkg-config --static --libs localbag) -Wl,-Bdynamic: liblocalbag.a linked in"
  fi
fi

# The public headers include no Boost (Boost builds the library only): preprocessing app.cpp with
# the .pc's Cflags must list no boost/ header among its dependencies, and the .pc must name no
# Boost directory or Boost define.
name="no boost"
log=$work/boost.log
pc=$libdir/pkgconfig
# shellcheck disable=SC2046  # pkg-config output is a list of arguments
if ! g++ -std=c++20 -M "$repo/test/consumers/app.cpp" \
        $(pkg-config --cflags localbag) >"$work/boost.deps" 2>"$log"; then
  fail "$name" "preprocessing app.cpp with the .pc's Cflags failed" "$log"
elif grep -q "/boost/" "$work/boost.deps"; then
  fail "$name" "a public header includes Boost" "$work/boost.deps"
elif grep -qi "boost" "$pc/localbag.pc"; then
  fail "$name" "localbag.pc names Boost" "$pc/localbag.pc"
else
  pass "$name" "app.cpp needs no Boost header; localbag.pc names none"
fi

# -- README's example, as written -------------------------------------------------------------
name="readme example"
log=$work/readme.log
b=$work/build-readme
mkdir -p "$b"
if ! { python3 "$repo/test/consumers/readme_example.py" "$repo/README.md" "$b/example.cpp" &&
       g++ -std=c++20 -Wall -Wextra -Werror "$b/example.cpp" -o "$b/example" \
         $(pkg-config --cflags --libs localbag); } >"$log" 2>&1; then
  fail "$name" "extracting or building README's example with -Wall -Wextra -Werror failed" "$log"
elif ! LD_LIBRARY_PATH="$libdir" "$b/example" >"$b/out.txt" 2>>"$log"; then
  fail "$name" "the example failed" "$log"
elif [[ "$(cat "$b/out.txt")" != $'worker main: timeout 30, doubled 60\nmain: timeout 5\nby key: 5' ]]; then
  fail "$name" "it printed something else than README says: $(tr '\n' '|' <"$b/out.txt")"
else
  pass "$name" "built with -Wall -Wextra -Werror, printed what README says"
fi

# -- A consumer compiled as C++17 -------------------------------------------------------------
name="c++17"
log=$work/cxx17.log
printf '#include <localbag/localbag.hpp>\nint main() { localbag::LocalObject o; }\n' >"$work/cxx17.cpp"
if g++ -std=c++17 -c "$work/cxx17.cpp" -o "$work/cxx17.o" $(pkg-config --cflags localbag) \
     >"$log" 2>&1; then
  fail "$name" "a C++17 compile of localbag.hpp succeeded"
elif ! grep -q 'localbag needs C++20' "$log"; then
  fail "$name" "no clear error" "$log"
elif (($(grep -c 'error:' "$log") > 2)); then
  fail "$name" "more than the one #error (and the fatal stop)" "$log"
else
  pass "$name" "one clear error: $(grep -o 'localbag needs C++20[^"]*' "$log" | head -n 1)"
fi

# -- CMake ----------------------------------------------------------------------------------
# Move the install: nothing in the package may point at where it was installed.
moved=$work/moved-prefix
mv "$prefix" "$moved"
b=$work/build-cmake
log=$work/cmake.log
if grep -rq "$prefix" "$moved/$lib_rel/cmake/localbag"; then
  fail cmake "the CMake package names the install prefix $prefix"
  fail "cmake static" "not run: the package is not relocatable"
elif ! { cmake -S "$repo/test/consumers/cmake" -B "$b" -G Ninja -DCMAKE_PREFIX_PATH="$moved" &&
         cmake --build "$b" -v; } >"$log" 2>&1; then
  fail cmake "configure or build failed" "$log"
  fail "cmake static" "configure or build failed" "$log"
else
  if ! grep -q -- "-std=gnu++20\|-std=c++20" "$log"; then
    fail cmake "no -std=...20 on the compile line: cxx_std_20 did not propagate" "$log"
  elif ! readelf -d "$b/app" | grep -q 'NEEDED.*liblocalbag\.so'; then
    fail cmake "app does not link liblocalbag.so"
  elif ! "$b/app" >>"$log" 2>&1; then
    fail cmake "app failed" "$log"
  elif cmake -S "$repo/test/consumers/cmake" -B "$b-0.2" -G Ninja -DCMAKE_PREFIX_PATH="$moved" \
         -DLOCALBAG_REQUEST=0.2 >"$log.0.2" 2>&1; then
    fail cmake "find_package(localbag 0.2) accepted localbag 0.1" "$log.0.2"
  else
    pass cmake "find_package(localbag 0.1) from a moved prefix, localbag::localbag (shared); 0.2 refused"
  fi
  if readelf -d "$b/app_static" | grep -q 'NEEDED.*liblocalbag'; then
    fail "cmake static" "app_static still needs liblocalbag.so"
  elif ! "$b/app_static" >>"$log" 2>&1; then
    fail "cmake static" "app_static failed" "$log"
  else
    pass "cmake static" "localbag::localbag_static"
  fi
fi


finish
