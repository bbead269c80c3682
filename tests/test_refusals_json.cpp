// Bad input and edge values for the JSON under the checkpoints (issue 12): every finite double survives
// dump then parse, non-finite ones are refused by name, the nesting limit is exact, and input bytes are
// escaped in the errors (qkv::quote).
#include <bit>
#include <cmath>
#include <limits>
#include <string>

#include "catch.h"
#include "helpers.h"
#include "nn/io/json.h"

using Catch::Contains;
using qkv::json::Value;

namespace {

Value number(double x) { return {.kind = Value::Kind::Double, .number = x}; }

// The double that dump then parse gives back, or NaN when it came back as another kind.
double round_trip(double x) {
  const Value back = qkv::json::parse(qkv::json::dump(number(x)));
  return back.kind == Value::Kind::Double ? back.number : std::nan("");
}

std::string nested(int levels, const std::string& open, const std::string& inner, const std::string& close) {
  std::string text;
  for (int i = 0; i < levels; ++i) text += open;
  text += inner;
  for (int i = 0; i < levels; ++i) text += close;
  return text;
}

}  // namespace

TEST_CASE("json: every finite double survives dump then parse bit for bit") {
  const double limits[] = {0x1p63,
                           -0x1p63,
                           1e19,
                           0x1p64,
                           std::numeric_limits<double>::max(),
                           -std::numeric_limits<double>::max(),
                           std::numeric_limits<double>::min(),
                           std::numeric_limits<double>::denorm_min(),
                           -0.0,
                           0.0,
                           3.0,
                           0.1,
                           1500.0,
                           123456789012345678.0};
  for (const double x : limits) {
    INFO("x = " << x << " written as " << qkv::json::dump(number(x)));
    CHECK(std::bit_cast<uint64_t>(round_trip(x)) == std::bit_cast<uint64_t>(x));
  }
}

TEST_CASE("json: a double is written so that it reads back as a double") {
  CHECK(qkv::json::dump(number(0x1p63)) == "9223372036854775808.0");
  CHECK(qkv::json::dump(number(3.0)) == "3.0");
  CHECK(qkv::json::dump(number(1e300)) == "1e+300");
  CHECK(qkv::json::dump(number(-0.0)) == "-0.0");
}

TEST_CASE("json: a non-finite double is refused naming it") {
  CHECK_THAT(ERROR_OF(qkv::json::dump(number(std::numeric_limits<double>::infinity()))),
             Contains("json: cannot write the number inf: JSON has no infinity or NaN"));
  CHECK_THAT(ERROR_OF(qkv::json::dump(number(-std::numeric_limits<double>::infinity()))),
             Contains("cannot write the number -inf"));
  CHECK_THAT(ERROR_OF(qkv::json::dump(Value::make_array({number(std::nan(""))}))),
             Contains("cannot write the number nan"));
}

TEST_CASE("json: 64 levels of nesting are read and 65 refused") {
  CHECK_NOTHROW(qkv::json::parse(nested(64, "[", "1", "]")));
  CHECK_NOTHROW(qkv::json::parse(nested(64, "{\"a\":", "1", "}")));
  CHECK_THAT(ERROR_OF(qkv::json::parse(nested(65, "[", "1", "]"))),
             Contains("json: nesting deeper than 64 levels at byte 64"));
  CHECK_THAT(ERROR_OF(qkv::json::parse(nested(65, "{\"a\":", "1", "}"))), Contains("nesting deeper than 64"));
  CHECK_THAT(ERROR_OF(qkv::json::parse(nested(100000, "[", "", "]"))), Contains("nesting deeper than 64"));
}

TEST_CASE("json: bytes of the input are escaped in the errors") {
  CHECK(ERROR_OF(qkv::json::parse("\xFF")) == "json: unexpected character \"\\xFF\" at byte 0");
  CHECK(ERROR_OF(qkv::json::parse(std::string("\0", 1))) == "json: unexpected character \"\\0\" at byte 0");
  CHECK(ERROR_OF(qkv::json::parse("\"\\\n\"")) == "json: unknown escape \"\\\\\\n\" in a string at byte 3");
  CHECK(ERROR_OF(qkv::json::parse("[\"")) == "json: unterminated string at byte 2");
}
