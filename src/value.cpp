// SPDX-License-Identifier: MIT
#include "localbag/value.hpp"

#include <cxxabi.h>

#include <cstdlib>
#include <memory>

namespace localbag {

std::string Value::type_name() const { return ops_ != nullptr ? ops_->name() : "NoneType"; }

namespace detail {

LOCALBAG_LIBRARY_OPS(bool)
LOCALBAG_LIBRARY_OPS(char)
LOCALBAG_LIBRARY_OPS(signed char)
LOCALBAG_LIBRARY_OPS(unsigned char)
LOCALBAG_LIBRARY_OPS(wchar_t)
LOCALBAG_LIBRARY_OPS(char8_t)
LOCALBAG_LIBRARY_OPS(char16_t)
LOCALBAG_LIBRARY_OPS(char32_t)
LOCALBAG_LIBRARY_OPS(short)
LOCALBAG_LIBRARY_OPS(unsigned short)
LOCALBAG_LIBRARY_OPS(int)
LOCALBAG_LIBRARY_OPS(unsigned)
LOCALBAG_LIBRARY_OPS(long)
LOCALBAG_LIBRARY_OPS(unsigned long)
LOCALBAG_LIBRARY_OPS(long long)
LOCALBAG_LIBRARY_OPS(unsigned long long)
LOCALBAG_LIBRARY_OPS(float)
LOCALBAG_LIBRARY_OPS(double)
LOCALBAG_LIBRARY_OPS(long double)
LOCALBAG_LIBRARY_OPS(std::string)
LOCALBAG_LIBRARY_OPS(List)
LOCALBAG_LIBRARY_OPS(Tuple)
LOCALBAG_LIBRARY_OPS(Bytes)

std::string demangle(const std::type_info& type) {
  int status = 0;
  std::unique_ptr<char, void (*)(void*)> name(
      abi::__cxa_demangle(type.name(), nullptr, nullptr, &status), &std::free);
  return status == 0 && name ? std::string(name.get()) : std::string(type.name());
}

}  // namespace detail
}  // namespace localbag
