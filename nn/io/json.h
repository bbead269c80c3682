// A small, strict JSON reader and writer: just enough for checkpoint headers (nn/io/safetensors.cpp).
// Reads objects, arrays, strings (all escapes, \uXXXX with surrogate pairs, UTF-8 checked), numbers
// (int64 when written without fraction or exponent, else double), true/false/null.
// Leaves out: comments, trailing commas, NaN/Infinity, pretty-printing, streaming.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace qkv::json {

struct Value {
  enum class Kind { Null, Bool, Int, Double, String, Array, Object };
  Kind kind = Kind::Null;
  bool boolean = false;
  int64_t integer = 0;
  double number = 0;
  std::string string{};
  std::vector<Value> array{};
  // Members in the order they were written. Duplicate keys are kept, so the caller can name them.
  std::vector<std::pair<std::string, Value>> object{};

  static Value make_int(int64_t v) { return {.kind = Kind::Int, .integer = v}; }
  static Value make_string(std::string s) { return {.kind = Kind::String, .string = std::move(s)}; }
  static Value make_array(std::vector<Value> items) {
    return {.kind = Kind::Array, .array = std::move(items)};
  }
  static Value make_object(std::vector<std::pair<std::string, Value>> members = {}) {
    return {.kind = Kind::Object, .object = std::move(members)};
  }
};

const char* kind_name(Value::Kind kind);  // "null", "integer", "object", ... for error messages

// Parses one JSON value; whitespace may surround it, nothing else may follow. Arrays and objects nest at
// most 64 levels deep. Throws qkv::Error "json: expected ':' after an object key at byte 17"; bytes of the
// input in a message are escaped (qkv::quote): "json: unexpected character \"\xFF\" at byte 0".
Value parse(std::string_view text);

// Compact text, no spaces: {"a":[1,2]}. Members keep their order. A double is written in its shortest form
// that reads back to the same bits, always with a '.' or an exponent so that it reads back as a double
// (3.0, 9223372036854775808.0, 1e+300). A non-finite double throws "json: cannot write the number inf: JSON
// has no infinity or NaN".
std::string dump(const Value& value);

// A JSON string literal with quotes: "say \"hi\"\n". Non-ASCII UTF-8 passes through unchanged.
std::string quote(std::string_view text);

}  // namespace qkv::json
