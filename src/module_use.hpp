// SPDX-License-Identifier: MIT
#pragma once
// Internal: what the library knows of the modules (the main program, shared libraries) whose
// code or data values use, for Plugin::usage() (src/plugin/): the live-value counts of every
// non-library type's table (TableUse, listed while its module is loaded) and the live-function
// counts of every module whose code functions run (CodeModule). See docs/plugins.md.

#include <cstddef>
#include <cstdint>
#include <vector>

#include "localbag/detail/function_ref.hpp"
#include "localbag/value.hpp"

namespace localbag::detail {

struct CodeModule;

// A range of addresses a module occupies: one of its loaded segments.
struct AddressRange {
  std::uintptr_t begin;
  std::uintptr_t end;
  bool contains(const void* address) const noexcept {
    const auto a = reinterpret_cast<std::uintptr_t>(address);
    return a >= begin && a < end;
  }
};
bool in_ranges(const std::vector<AddressRange>& ranges, const void* address) noexcept;

// Calls `visit` for every listed table, under the list's mutex (`visit` must not make values).
void for_each_table(FunctionRef<void(const TableUse&)> visit);

// The module holding `address` (dladdr), made on first use; nullptr when no module does.
CodeModule* code_module_at(const void* address);
// The live functions whose code is in `ranges` (one module's).
std::size_t code_module_functions(const std::vector<AddressRange>& ranges);

}  // namespace localbag::detail
