// SPDX-License-Identifier: MIT
#pragma once
/// \file
/// The entry points of plugin-host's two plugins (plugin_host.cpp), declared once. Each plugin
/// defines its own; the host takes each with `plugin.function<decltype(greeter_handle)>(...)`,
/// so that a signature is written in this one place. They are `extern "C"` so that their
/// symbol names are the plain names the host asks `dlsym` for.
///
/// Every entry point but the start and stop functions may be called from any worker thread at
/// once; start and stop are called by the host alone, while no other entry point runs.

#include <string>

#include <localbag/local_object.hpp>

extern "C" {

// The greeter (plugin_greeter.cpp), built once per version and hot-reloaded.

/// The version this build is (1 or 2).
int greeter_version();
/// Defines the greeter's classes and makes its object. Called once after each load.
void greeter_start();
/// Serves `greet <name>` on the calling thread: `response` is `Hello, alice! [greeter v1]` (in
/// capitals when `session.style` is "loud"). Keeps per-thread state in `session`.
void greeter_handle(localbag::LocalObject& session, const std::string& name, std::string& response);
/// Drops, from the calling thread's dict of `session`, the values of the greeter's own types.
void greeter_forget(localbag::LocalObject& session);
/// Drops the greeter's own object and registry. After it, and after `greeter_forget` on every
/// thread that called `greeter_handle`, nothing holds the library: it can be unloaded.
void greeter_stop();

// The counter (plugin_counter.cpp), loaded once.

/// Defines the counter's class and makes its object.
void counter_start();
/// Serves `count <item>` on the calling thread: `response` is `count 7 on worker-2 [counter]`,
/// 7 being how many items this thread counted. Keeps per-thread state in `session`.
void counter_handle(localbag::LocalObject& session, const std::string& item, std::string& response);
/// Drops the counter's own object and registry.
void counter_stop();

}  // extern "C"
