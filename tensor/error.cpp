// The error helpers (see error.h): fail() and quote(), the one escaping of input text in messages.
#include "tensor/error.h"

namespace qkv {

void fail(const std::string& op, const std::string& what) { throw Error(op + ": " + what); }

std::string quote(std::string_view text, size_t max_bytes) {
  static constexpr char hex[] = "0123456789ABCDEF";
  const std::string_view shown = text.substr(0, max_bytes);
  std::string out = "\"";
  for (const char c : shown) {
    switch (c) {
      case '\n':
        out += "\\n";
        break;
      case '\t':
        out += "\\t";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\0':
        out += "\\0";
        break;
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      default: {
        const auto byte = static_cast<unsigned char>(c);
        if (byte >= 0x20 && byte < 0x7F) {
          out += c;
        } else {  // other control bytes, DEL, and every byte of a non-ASCII (UTF-8 or not) character
          out += "\\x";
          out += hex[byte >> 4];
          out += hex[byte & 0xF];
        }
      }
    }
  }
  out += '"';
  if (shown.size() < text.size()) out += "... (" + std::to_string(text.size()) + " bytes)";
  return out;
}

}  // namespace qkv
