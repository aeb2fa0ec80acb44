// SPDX-License-Identifier: MIT
#pragma once
// The entry points of the test plugins, as the host finds them with Plugin::function<F>(name),
// and the figures the plugins and the tests share. Every entry point is extern "C" with default
// visibility, also in a plugin built with hidden visibility.
//
// plugin_a (built twice: PLUGIN_A_VERSION 1 and 2) keeps per-thread state in the host's objects:
//   plugin_version()    its version;
//   plugin_start()      defines `Greeter` in its own registry and `PluginGlobal` in
//                       Registry::global(), and keeps kGreetersAtStart Greeter objects and one
//                       PluginGlobal object in its statics;
//   plugin_work(host)   stores, in the calling thread's current context: the builtin values
//                       `count` (the previous int + 1), `label`, `history`, `raw`, `greeting`,
//                       `version`, and the plugin's own `token` (a plugin_a::Token) and
//                       `greeter` (a new Greeter object);
//   plugin_forget(host) deletes `token` and `greeter` there, keeping the builtin values;
//   plugin_stop()       drops the objects plugin_start made.
// plugin_hidden (built with hidden visibility) does the same in one call, hidden_work, and
// hidden_forget undoes the part that holds its code.

#include <string>

#include "localbag/local_object.hpp"
#include "localbag/value.hpp"

#define PLUGIN_EXPORT extern "C" __attribute__((visibility("default")))

PLUGIN_EXPORT int plugin_version();
PLUGIN_EXPORT void plugin_start();
PLUGIN_EXPORT void plugin_work(localbag::LocalObject& host);
PLUGIN_EXPORT void plugin_forget(localbag::LocalObject& host);
PLUGIN_EXPORT void plugin_stop();

// Returns the result of a method of a class the hidden plugin defines (kHiddenResult).
PLUGIN_EXPORT int hidden_work(localbag::LocalObject& host);
PLUGIN_EXPORT void hidden_forget(localbag::LocalObject& host);

// The static-copy plugin's one entry point (never reached: loading it is refused).
PLUGIN_EXPORT int static_copy_version();

namespace plugin_api {

using VersionFn = int();
using StartFn = void();
using WorkFn = void(localbag::LocalObject& host);
using ForgetFn = void(localbag::LocalObject& host);
using StopFn = void();
using HiddenWorkFn = int(localbag::LocalObject& host);

// Greeter objects plugin_start keeps (plugin_work adds one per call, held by the host's object).
constexpr int kGreetersAtStart = 2;
// PluginGlobal objects plugin_start keeps.
constexpr int kGlobalsAtStart = 1;
// What hidden_work's method returns, and the int it stores as `hidden_count`.
constexpr int kHiddenResult = 42;
constexpr int kHiddenCount = 7;
// The environment variable the static-copy plugin's constructor would set, were it run.
constexpr const char* kStaticCopyRanVariable = "LOCALBAG_TEST_STATIC_COPY_RAN";

// Appends the decimal digits of `n` (n >= 0). Not std::to_string: libstdc++'s keeps its digit
// table in a function-local static of an inline function template, a GNU unique symbol, and a
// library that is the first in the process to define one stays mapped after dlclose.
inline void append_decimal(std::string& out, int n) {
  char digits[12];
  int length = 0;
  do {
    digits[length++] = static_cast<char>('0' + n % 10);
    n /= 10;
  } while (n > 0 && length < 12);
  while (length > 0) out += digits[--length];
}

// What plugin_work stores as `label` and what Greeter.greet returns, for a version and a count.
inline std::string label_for(int version, int count) {
  std::string s = "stored by plugin_a v";
  append_decimal(s, version);
  s += ", call ";
  append_decimal(s, count);
  return s;
}
inline std::string greeting_for(int version) {
  std::string s = "hello from plugin_a v";
  append_decimal(s, version);
  return s;
}
// What plugin_work stores as `raw`: bytes, a NUL and a 0xff among them.
inline std::string raw_for(int version) {
  std::string s = "v";
  append_decimal(s, version);
  s += '\0';
  s += '\xff';
  return s;
}

}  // namespace plugin_api
