// How error messages print a single float: shortest natural form ("1.5", "-100", "inf"), not
// std::to_string's "1.500000". Internal to tensor/.
#pragma once
#include <sstream>
#include <string>

namespace qkv::kernels {

inline std::string value_text(float v) {
  std::ostringstream s;
  s << v;
  return s.str();
}

}  // namespace qkv::kernels
