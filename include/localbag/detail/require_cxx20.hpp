// SPDX-License-Identifier: MIT
#pragma once
// Every public header includes this first: compiled as anything older than C++20, a consumer
// gets one clear error instead of dozens from the concepts and constexpr code that follow.

#if !defined(__cplusplus) || __cplusplus < 202002L
#error "localbag needs C++20: compile with -std=c++20 (or newer)"
// A missing header is a fatal error in GCC and Clang: compilation stops here.
#include <localbag_needs_cpp20>
#endif
