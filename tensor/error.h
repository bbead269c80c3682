// qkv::Error: the one exception type for bad input. Its message starts with the op's name and gives the
// shapes or values involved, e.g. "matmul: inner dimensions differ: [2,3] @ [4,5]".
#pragma once
#include <stdexcept>
#include <string>

namespace qkv {

struct Error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// Throws qkv::Error("op: what").
[[noreturn]] void fail(const std::string& op, const std::string& what);

}  // namespace qkv
