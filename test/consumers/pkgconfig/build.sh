#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Consumer of an installed localbag through pkg-config alone (run.sh sets PKG_CONFIG_PATH):
#   build.sh OUTDIR  ->  OUTDIR/app (links liblocalbag.so), OUTDIR/app-static (links liblocalbag.a)
# "Static" means the static localbag: -Wl,-Bstatic makes -llocalbag pick liblocalbag.a, and
# what that archive needs comes from the .pc's Libs.private (pkg-config --static). libstdc++
# and libc stay shared (-Wl,-Bdynamic before the compiler driver adds them).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out=$1
CXX=${CXX:-g++}

# shellcheck disable=SC2046  # pkg-config output is a list of arguments
"$CXX" -std=c++20 "$here/../app.cpp" -o "$out/app" \
  $(pkg-config --cflags --libs localbag)
# shellcheck disable=SC2046
"$CXX" -std=c++20 "$here/../app.cpp" -o "$out/app-static" \
  $(pkg-config --cflags localbag) \
  -Wl,-Bstatic $(pkg-config --static --libs localbag) -Wl,-Bdynamic
