// qkv::Error: the one exception type for bad input. Its message starts with the op's name and gives the
// shapes or values involved, e.g. "matmul: inner dimensions differ: [2,3] @ [4,5]".
// quote() is how a message shows text that came from outside (a tensor name, a JSON document, a key).
#pragma once
#include <stdexcept>
#include <string>
#include <string_view>

namespace qkv {

struct Error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// Throws qkv::Error("op: what").
[[noreturn]] void fail(const std::string& op, const std::string& what);

// Input text made safe to print inside an error message: in double quotes, with C-style escapes for
// every byte that is not printable ASCII (\n \t \r \" \\ \0, others as \xFF), so a NUL cannot cut the
// message short and a newline or a 0xFF byte cannot garble a terminal. Text longer than max_bytes is cut
// and its length given: quote("ab\ncd") == "\"ab\\ncd\"", quote(a 1000-byte name, 8) ==
// "\"aaaaaaaa\"... (1000 bytes)". (Not named quoted: a std::string argument would find std::quoted.)
std::string quote(std::string_view text, size_t max_bytes = 200);

}  // namespace qkv
