#include "localbag/value.hpp"

#include <cxxabi.h>

#include <cstdlib>
#include <memory>

#include "localbag/error.hpp"

namespace localbag {

std::string Value::type_name() const { return ops_ != nullptr ? ops_->name() : "NoneType"; }

namespace detail {

std::string demangle(const std::type_info& type) {
  int status = 0;
  std::unique_ptr<char, void (*)(void*)> name(
      abi::__cxa_demangle(type.name(), nullptr, nullptr, &status), &std::free);
  return status == 0 && name ? std::string(name.get()) : std::string(type.name());
}

void throw_not_copyable(const ValueOps& ops) {
  throw TypeError("cannot copy '" + ops.name() + "' object");
}

void throw_wrong_type(const ValueOps* held, const std::type_info&, std::string (*wanted_name)()) {
  throw TypeError("Value holds " + (held != nullptr ? held->name() : std::string("NoneType")) +
                  ", not " + wanted_name());
}

}  // namespace detail
}  // namespace localbag
