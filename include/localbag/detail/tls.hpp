// SPDX-License-Identifier: MIT
#pragma once
// LOCALBAG_TLS declares one of localbag's per-thread variables: `__thread` (plain data, so no
// TLS wrapper function and no dynamic initialization) with the initial-exec TLS model. An access
// is then a GOT load and one %fs-relative access, with no call to __tls_get_addr, in the library
// and in the fast path inlined into another shared object (a plugin, a Python extension
// module). The price: when liblocalbag.so is loaded by dlopen, its TLS (136 bytes) comes from
// glibc's static TLS reserve (docs/design.md, "Per-thread variables").

#define LOCALBAG_TLS __thread __attribute__((tls_model("initial-exec")))
