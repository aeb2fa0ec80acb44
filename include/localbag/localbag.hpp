// SPDX-License-Identifier: MIT
#pragma once
/// \file
/// The umbrella header: everything a localbag user needs.
///
///     #include <localbag/localbag.hpp>
///
///     localbag::LocalObject mydata;          // mydata = threading.local()
///     mydata.setattr("number", 42);          // mydata.number = 42
///     int n = mydata.get<int>("number");     // mydata.number

#include "localbag/detail/require_cxx20.hpp"  // first: a clear error before C++20

#include "localbag/class.hpp"         // IWYU pragma: export
#include "localbag/context.hpp"       // IWYU pragma: export
#include "localbag/dict.hpp"          // IWYU pragma: export
#include "localbag/error.hpp"         // IWYU pragma: export
#include "localbag/key.hpp"           // IWYU pragma: export
#include "localbag/local_object.hpp"  // IWYU pragma: export
#include "localbag/plugin.hpp"        // IWYU pragma: export
#include "localbag/registry.hpp"      // IWYU pragma: export
#include "localbag/repr.hpp"          // IWYU pragma: export
#include "localbag/stats.hpp"         // IWYU pragma: export
#include "localbag/value.hpp"         // IWYU pragma: export
#include "localbag/version.hpp"       // IWYU pragma: export

/// \namespace localbag
/// Everything localbag gives users: `LocalObject`, `Class` and `ClassSpec`, `Registry`, `Plugin`, `Context`, `Dict`,
/// `Value`, `Name` and `Key`, the `Error` classes, `repr` and `runtime_stats`. What public inline
/// code needs besides is in `localbag::detail`, which is not API.
