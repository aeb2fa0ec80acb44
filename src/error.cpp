#include "localbag/error.hpp"

namespace localbag {

Error::Error(const char* python_type, std::string message)
    : std::runtime_error(std::move(message)), python_type_(python_type) {}

std::string Error::to_string() const {
  std::string out = python_type_;
  out += ": ";
  out += what();
  return out;
}

}  // namespace localbag
