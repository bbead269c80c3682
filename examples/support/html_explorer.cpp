// The explorer's data as JSON, spliced into the page (see html_explorer.h).
#include "support/html_explorer.h"

#include <cstdio>

#include "tensor/error.h"

namespace qkv::explorer {

namespace {

// A JSON string that is also safe inside <script>: < > & are written as \u escapes.
std::string json_string(const std::string& s) {
  std::string out = "\"";
  char buf[8];
  for (const unsigned char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += char(c);
    } else if (c < 0x20 || c == '<' || c == '>' || c == '&') {
      std::snprintf(buf, sizeof buf, "\\u%04x", c);
      out += buf;
    } else {
      out += char(c);
    }
  }
  return out + "\"";
}

template <class T>
std::string json_numbers(const std::vector<T>& v) {
  std::string out = "[";
  char buf[32];
  for (size_t i = 0; i < v.size(); ++i) {
    std::snprintf(buf, sizeof buf, "%s%.9g", i ? "," : "", double(v[i]));
    out += buf;
  }
  return out + "]";
}

std::string json_strings(const std::vector<std::string>& v) {
  std::string out = "[";
  for (size_t i = 0; i < v.size(); ++i) out += (i ? "," : "") + json_string(v[i]);
  return out + "]";
}

}  // namespace

std::string to_json(const Exploration& ex) {
  std::string out = "{\"model\":" + json_string(ex.model_kind) +
                    ",\"checkpoint\":" + json_string(ex.checkpoint) + ",\"input\":" + json_string(ex.input) +
                    ",\"answer\":" + json_string(ex.answer) + ",\"maps\":[";
  for (size_t i = 0; i < ex.maps.size(); ++i) {
    const AttentionMap& m = ex.maps[i];
    out += std::string(i ? "," : "") + "{\"module\":" + json_string(m.module) +
           ",\"kind\":" + json_string(m.kind) + ",\"layer\":" + std::to_string(m.layer) +
           ",\"H\":" + std::to_string(m.H) + ",\"Dh\":" + std::to_string(m.Dh) +
           ",\"T\":" + std::to_string(m.T) + ",\"S\":" + std::to_string(m.S) +
           ",\"query_tokens\":" + json_strings(m.query_tokens) +
           ",\"key_tokens\":" + json_strings(m.key_tokens) + ",\"q\":" + json_numbers(m.q) +
           ",\"k\":" + json_numbers(m.k) + ",\"v\":" + json_numbers(m.v) +
           ",\"weights\":" + json_numbers(m.weights) + ",\"keep\":" + json_numbers(m.keep) + "}";
  }
  return out + "]}";
}

std::string explorer_html(const Exploration& ex) {
  if (ex.maps.empty()) fail("explorer_html", "no attention maps to show");
  std::string page = page_template();
  const size_t at = page.find("/*DATA*/");
  return page.replace(at, 8, to_json(ex));
}

}  // namespace qkv::explorer
