// The JSON reader (a recursive-descent parser over the grammar of RFC 8259) and writer of nn/io/json.h.
// Strict on purpose: a checkpoint header that is not exactly JSON is rejected with a byte position.
#include "nn/io/json.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>

#include "tensor/error.h"

namespace qkv::json {

const char* kind_name(Value::Kind kind) {
  static const char* const names[] = {"null", "boolean", "integer", "number", "string", "array", "object"};
  return names[static_cast<int>(kind)];
}

namespace {

// The two-character escapes, {letter after the backslash, character}, shared by the reader and quote().
constexpr std::pair<char, char> kEscapes[] = {{'"', '"'},  {'\\', '\\'}, {'/', '/'},  {'b', '\b'},
                                              {'f', '\f'}, {'n', '\n'},  {'r', '\r'}, {'t', '\t'}};

// Deep nesting would recurse once per level; a hostile header of 10^6 '[' must not overflow the stack.
// Each array or object is one level: 64 nested '[' are read, 65 refused.
constexpr int kMaxDepth = 64;

void append_utf8(std::string& out, uint32_t code) {
  // 1 to 4 bytes: the lead byte says how many follow; each follower carries 6 bits, high bits first.
  const int followers = code < 0x80 ? 0 : code < 0x800 ? 1 : code < 0x10000 ? 2 : 3;
  const uint32_t lead_marks[] = {0x00, 0xC0, 0xE0, 0xF0};
  out += static_cast<char>(lead_marks[followers] | (code >> (6 * followers)));
  for (int i = followers - 1; i >= 0; --i) out += static_cast<char>(0x80 | ((code >> (6 * i)) & 0x3F));
}

class Parser {
 public:
  explicit Parser(std::string_view text) : text_(text) {}

  Value parse_document() {
    Value v = parse_value(0);
    skip_whitespace();
    if (pos_ != text_.size()) error("unexpected text after the JSON value");
    return v;
  }

 private:
  [[noreturn]] void error(const std::string& what) const {
    fail("json", what + " at byte " + std::to_string(pos_));
  }
  bool at_end() const { return pos_ >= text_.size(); }
  char peek() const { return at_end() ? '\0' : text_[pos_]; }
  void skip_whitespace() {
    while (!at_end() && (peek() == ' ' || peek() == '\t' || peek() == '\n' || peek() == '\r')) ++pos_;
  }
  void expect(char c, const char* context) {
    skip_whitespace();
    if (peek() != c) error(std::string("expected '") + c + "' " + context);
    ++pos_;
  }
  bool consume_word(std::string_view word) {
    if (text_.substr(pos_, word.size()) != word) return false;
    pos_ += word.size();
    return true;
  }

  // depth: how many arrays and objects enclose this value.
  Value parse_value(int depth) {
    skip_whitespace();
    const char c = peek();
    if (c == '{') return parse_object(depth);
    if (c == '[') return parse_array(depth);
    if (c == '"') return Value::make_string(parse_string());
    if (c == '-' || (c >= '0' && c <= '9')) return parse_number();
    Value v;  // null
    if (consume_word("null")) return v;
    v.kind = Value::Kind::Bool;
    v.boolean = true;
    if (consume_word("true")) return v;
    v.boolean = false;
    if (consume_word("false")) return v;
    error(at_end() ? "unexpected end of text" : "unexpected character " + quote_input(c));
  }

  // A byte of the input as an error shows it (a NUL or 0xFF escaped): "\xFF".
  static std::string quote_input(char c) { return qkv::quote(std::string_view(&c, 1)); }

  // Called on an array's or object's opening bracket, which opens level depth + 1.
  void enter_level(int depth) const {
    if (depth >= kMaxDepth) error("nesting deeper than " + std::to_string(kMaxDepth) + " levels");
  }

  Value parse_object(int depth) {
    enter_level(depth);
    Value v = Value::make_object();
    ++pos_;  // '{'
    skip_whitespace();
    if (consume_word("}")) return v;
    while (true) {
      skip_whitespace();
      if (peek() != '"') error("expected a string key");
      std::string key = parse_string();
      expect(':', "after an object key");
      v.object.emplace_back(std::move(key), parse_value(depth + 1));
      skip_whitespace();
      if (consume_word("}")) return v;
      expect(',', "or '}' in an object");
    }
  }

  Value parse_array(int depth) {
    enter_level(depth);
    Value v = Value::make_array({});
    ++pos_;  // '['
    skip_whitespace();
    if (consume_word("]")) return v;
    while (true) {
      v.array.push_back(parse_value(depth + 1));
      skip_whitespace();
      if (consume_word("]")) return v;
      expect(',', "or ']' in an array");
    }
  }

  // -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?  -- checked here, converted by std::from_chars.
  Value parse_number() {
    const size_t begin = pos_;
    auto digits = [&] {
      const size_t start = pos_;
      while (peek() >= '0' && peek() <= '9') ++pos_;
      if (pos_ == start) error("expected a digit");
      return pos_ - start;
    };
    if (peek() == '-') ++pos_;
    const size_t first_digit = pos_;
    if (digits() > 1 && text_[first_digit] == '0') error("leading zero in a number");
    bool integral = true;
    if (consume_word(".")) {
      digits();
      integral = false;
    }
    if (consume_word("e") || consume_word("E")) {
      integral = false;
      if (peek() == '+' || peek() == '-') ++pos_;
      digits();
    }
    const char* first = text_.data() + begin;
    const char* last = text_.data() + pos_;
    Value v;
    if (integral) {
      v.kind = Value::Kind::Int;
      if (std::from_chars(first, last, v.integer).ec != std::errc()) error("integer out of the int64 range");
    } else {
      v.kind = Value::Kind::Double;
      if (std::from_chars(first, last, v.number).ec != std::errc()) error("number out of the double range");
    }
    return v;
  }

  uint32_t parse_hex4() {
    uint32_t code = 0;
    for (int i = 0; i < 4; ++i, ++pos_) {
      const char c = peek();
      const int digit = c >= '0' && c <= '9'   ? c - '0'
                        : c >= 'a' && c <= 'f' ? c - 'a' + 10
                        : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                               : -1;
      if (digit < 0) error("expected four hex digits after \\u");
      code = code * 16 + static_cast<uint32_t>(digit);
    }
    return code;
  }

  // After a backslash: one escape, appended to out as UTF-8.
  void parse_escape(std::string& out) {
    const char c = peek();
    ++pos_;
    if (c != 'u') {
      const auto* e =
          std::find_if(std::begin(kEscapes), std::end(kEscapes), [c](auto e) { return e.first == c; });
      if (e == std::end(kEscapes))
        error("unknown escape " + qkv::quote(std::string{'\\', c}) + " in a string");
      out += e->second;
      return;
    }
    uint32_t code = parse_hex4();
    // Characters beyond U+FFFF come as a UTF-16 surrogate pair: \uD83D\uDE00.
    if (code >= 0xDC00 && code <= 0xDFFF) error("unpaired low surrogate in \\u escape");
    if (code >= 0xD800 && code <= 0xDBFF) {
      if (!consume_word("\\u")) error("high surrogate not followed by a \\u low surrogate");
      const uint32_t low = parse_hex4();
      if (low < 0xDC00 || low > 0xDFFF) error("high surrogate not followed by a low surrogate");
      code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00);
    }
    append_utf8(out, code);
  }

  // One UTF-8 encoded character of 2 to 4 bytes, checked (no overlong forms, no surrogates).
  void parse_utf8(std::string& out) {
    const auto lead = static_cast<unsigned char>(peek());
    const int extra = lead >= 0xC2 && lead <= 0xDF   ? 1
                      : lead >= 0xE0 && lead <= 0xEF ? 2
                      : lead >= 0xF0 && lead <= 0xF4 ? 3
                                                     : -1;
    if (extra < 0) error("invalid UTF-8");
    uint32_t code = lead & (0x3F >> extra);
    for (int i = 1; i <= extra; ++i) {
      const auto next = static_cast<unsigned char>(pos_ + i < text_.size() ? text_[pos_ + i] : 0);
      if ((next & 0xC0) != 0x80) error("invalid UTF-8");
      code = (code << 6) | (next & 0x3F);
    }
    const uint32_t smallest[] = {0, 0x80, 0x800, 0x10000};
    if (code < smallest[extra] || code > 0x10FFFF || (code >= 0xD800 && code <= 0xDFFF))
      error("invalid UTF-8");
    out.append(text_.substr(pos_, extra + 1));
    pos_ += extra + 1;
  }

  std::string parse_string() {
    ++pos_;  // opening quote
    std::string out;
    while (true) {
      if (at_end()) error("unterminated string");
      const auto c = static_cast<unsigned char>(peek());
      if (consume_word("\"")) return out;
      if (c < 0x20) error("control character in a string (write it as an escape)");
      if (consume_word("\\")) {
        parse_escape(out);
      } else if (c >= 0x80) {
        parse_utf8(out);
      } else {
        out += static_cast<char>(c);
        ++pos_;
      }
    }
  }

  std::string_view text_;
  size_t pos_ = 0;
};

void dump_to(std::string& out, const Value& v) {
  using Kind = Value::Kind;
  if (v.kind == Kind::Null) out += "null";
  if (v.kind == Kind::Bool) out += v.boolean ? "true" : "false";
  if (v.kind == Kind::Int) out += std::to_string(v.integer);
  if (v.kind == Kind::Double) {
    if (!std::isfinite(v.number)) {
      const char* name = std::isnan(v.number) ? "nan" : v.number > 0 ? "inf" : "-inf";
      fail("json", std::string("cannot write the number ") + name + ": JSON has no infinity or NaN");
    }
    // The shortest text that reads back to the same bits. Without a '.' or an exponent the reader would
    // take it for an integer (and refuse 2^63 and beyond), so 3 is written 3.0 and 2^63 as
    // 9223372036854775808.0.
    char buf[32];
    const std::string_view text(buf, std::to_chars(buf, buf + sizeof buf, v.number).ptr);
    out += text;
    if (text.find_first_of(".e") == std::string_view::npos) out += ".0";
  }
  if (v.kind == Kind::String) out += quote(v.string);
  if (v.kind == Kind::Array) {
    out += '[';
    for (size_t i = 0; i < v.array.size(); ++i) {
      if (i > 0) out += ',';
      dump_to(out, v.array[i]);
    }
    out += ']';
  }
  if (v.kind == Kind::Object) {
    out += '{';
    for (size_t i = 0; i < v.object.size(); ++i) {
      if (i > 0) out += ',';
      out += quote(v.object[i].first);
      out += ':';
      dump_to(out, v.object[i].second);
    }
    out += '}';
  }
}

}  // namespace

Value parse(std::string_view text) { return Parser(text).parse_document(); }

std::string dump(const Value& value) {
  std::string out;
  dump_to(out, value);
  return out;
}

std::string quote(std::string_view text) {
  std::string out = "\"";
  for (const char c : text) {
    // '/' may stay as it is; every other character with a short escape gets it.
    const auto* e = std::find_if(std::begin(kEscapes), std::end(kEscapes),
                                 [c](auto e) { return e.second == c && c != '/'; });
    if (e != std::end(kEscapes)) {
      out += '\\';
      out += e->first;
    } else if (static_cast<unsigned char>(c) < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", static_cast<unsigned>(c));
      out += buf;
    } else {
      out += c;
    }
  }
  return out + "\"";
}

}  // namespace qkv::json
