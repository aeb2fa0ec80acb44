// SPDX-License-Identifier: MIT
#include "module_use.hpp"

#include <dlfcn.h>

#include <algorithm>
#include <map>
#include <memory>
#include <mutex>

#include "localbag/class.hpp"

namespace localbag::detail {
namespace {

// Both leaked: a module's statics unregister their tables during process exit too.
std::mutex& tables_mutex() {
  static auto* const mutex = new std::mutex;
  return *mutex;
}
TableUse* tables_head = nullptr;  // guarded by tables_mutex()

std::mutex& modules_mutex() {
  static auto* const mutex = new std::mutex;
  return *mutex;
}
std::map<const void*, std::unique_ptr<CodeModule>>& modules() {  // guarded by modules_mutex()
  static auto* const map = new std::map<const void*, std::unique_ptr<CodeModule>>;
  return *map;
}

}  // namespace

void register_table(TableUse& use) noexcept {
  const std::lock_guard lock(tables_mutex());
  use.prev = nullptr;
  use.next = tables_head;
  if (tables_head != nullptr) tables_head->prev = &use;
  tables_head = &use;
}

void unregister_table(TableUse& use) noexcept {
  const std::lock_guard lock(tables_mutex());
  if (use.prev != nullptr) {
    use.prev->next = use.next;
  } else if (tables_head == &use) {
    tables_head = use.next;
  }
  if (use.next != nullptr) use.next->prev = use.prev;
  use.prev = use.next = nullptr;
}

void for_each_table(FunctionRef<void(const TableUse&)> visit) {
  const std::lock_guard lock(tables_mutex());
  for (const TableUse* use = tables_head; use != nullptr; use = use->next) visit(*use);
}

bool in_ranges(const std::vector<AddressRange>& ranges, const void* address) noexcept {
  return std::any_of(ranges.begin(), ranges.end(),
                     [&](const AddressRange& r) { return r.contains(address); });
}

CodeModule* code_module_at(const void* address) {
  Dl_info info{};
  if (address == nullptr || dladdr(address, &info) == 0 || info.dli_fbase == nullptr) {
    return nullptr;
  }
  const std::lock_guard lock(modules_mutex());
  std::unique_ptr<CodeModule>& module = modules()[info.dli_fbase];
  if (!module) module.reset(new CodeModule{info.dli_fbase});
  return module.get();
}

std::size_t code_module_functions(const std::vector<AddressRange>& ranges) {
  const std::lock_guard lock(modules_mutex());
  long n = 0;
  for (const auto& [base, module] : modules()) {
    if (in_ranges(ranges, base)) n += module->functions.load(std::memory_order_acquire);
  }
  return n > 0 ? static_cast<std::size_t>(n) : 0;
}

}  // namespace localbag::detail
