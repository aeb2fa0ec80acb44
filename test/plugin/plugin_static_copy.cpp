// SPDX-License-Identifier: MIT
// A plugin that carries its own copy of localbag: it is built from localbag's sources rather
// than linked with liblocalbag.so. Two copies in one process would keep two separate sets of
// per-thread records, so Plugin refuses to load it, before any of its code runs: were this
// constructor run, it would set an environment variable that the test checks is absent.
#include <cstdlib>

#include "localbag/local_object.hpp"
#include "plugin_api.hpp"

namespace {

[[gnu::constructor]] void mark_loaded() { setenv(plugin_api::kStaticCopyRanVariable, "1", 1); }

}  // namespace

PLUGIN_EXPORT int static_copy_version() {
  localbag::LocalObject object;
  object.setattr("version", 1);
  return object.get<int>("version");
}
