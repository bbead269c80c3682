// How error messages (and checkpoint metadata) print a single float: the shortest text that reads back as
// the same float ("1.5", "-100", "0.1", "inf"), not std::to_string's "1.500000".
#pragma once
#include <charconv>
#include <string>

namespace qkv::kernels {

inline std::string value_text(float v) {
  char text[32];
  return std::string(text, std::to_chars(text, text + sizeof text, v).ptr);
}

}  // namespace qkv::kernels
