// libFuzzer target: json::parse on any bytes. A malformed text must throw qkv::Error and nothing else (any
// other exception, a crash or a sanitizer report is a finding); a text that parses must survive a round
// trip: dump(parse(dump(v))) == dump(v). Built and run by tests/run_fuzz.sh.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "nn/io/json.h"
#include "tensor/error.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  qkv::json::Value value;
  try {
    value = qkv::json::parse(text);
  } catch (const qkv::Error&) {
    return 0;  // refused with a named error: what we want for malformed input
  }
  const std::string once = qkv::json::dump(value);
  const std::string twice = qkv::json::dump(qkv::json::parse(once));
  if (once != twice) std::abort();  // the writer wrote something the reader reads differently
  return 0;
}
