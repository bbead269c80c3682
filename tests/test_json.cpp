// The strict JSON reader and writer under the checkpoints (nn/io/json.h): every kind of value, escapes and
// UTF-8 both ways, and the errors (with byte positions) for what strict JSON forbids.
#include "catch.h"
#include "nn/io/json.h"
#include "tensor/error.h"

namespace {

std::string error_of(const std::string& text) {
  try {
    qkv::json::parse(text);
  } catch (const qkv::Error& e) {
    return e.what();
  }
  return "(no error)";
}

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

}  // namespace

TEST_CASE("safetensors: json reads every kind of value and writes it back") {
  const std::string text =
      R"({"s":"a\"b\\c\/\n\u00e9\ud83d\ude00","i":-12,"d":1.5e3,"t":true,"f":false,"n":null,"l":[]})";
  const qkv::json::Value v = qkv::json::parse(" \n" + text + " \t");
  REQUIRE(v.object.size() == 7);
  CHECK(v.object[0].second.string == "a\"b\\c/\n\xC3\xA9\xF0\x9F\x98\x80");
  CHECK(v.object[1].second.integer == -12);
  CHECK(v.object[2].second.number == 1500.0);
  CHECK(v.object[3].second.boolean);
  CHECK(v.object[5].second.kind == qkv::json::Value::Kind::Null);
  CHECK(qkv::json::dump(v) == R"({"s":"a\"b\\c/\n)"
                              "\xC3\xA9\xF0\x9F\x98\x80"
                              R"(","i":-12,"d":1500.0,"t":true,"f":false,"n":null,"l":[]})");
  CHECK(qkv::json::quote("tab\tbell\x07") == R"("tab\tbell\u0007")");
}

TEST_CASE("safetensors: json rejects what strict JSON forbids, with the byte position") {
  CHECK(error_of("[1,]") == "json: unexpected character \"]\" at byte 3");
  CHECK(error_of(R"({"a" 1})") == "json: expected ':' after an object key at byte 5");
  CHECK(contains(error_of("01"), "leading zero"));
  CHECK(contains(error_of("[1] x"), "unexpected text after the JSON value"));
  CHECK(contains(error_of("\"abc"), "unterminated string"));
  CHECK(contains(error_of("\"\\x\""), "unknown escape"));
  CHECK(contains(error_of("\"\\ud83d\""), "high surrogate"));
  CHECK(contains(error_of("\"a\nb\""), "control character"));
  CHECK(contains(error_of("\"\xE0\x80\x80\""), "invalid UTF-8"));  // an overlong encoding
  CHECK(contains(error_of("NaN"), "unexpected character \"N\""));
  CHECK(contains(error_of(""), "unexpected end of text"));
}
