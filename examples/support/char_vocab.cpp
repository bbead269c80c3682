// The character GPT's vocabulary (see char_vocab.h).
#include "support/char_vocab.h"

#include <algorithm>
#include <cstdio>
#include <sstream>

#include "tensor/error.h"

namespace qkv {

CharVocab::CharVocab(const std::string& symbols) : bytes(symbols) {
  std::fill(id_of, id_of + 256, -1);
  for (size_t i = 0; i < bytes.size(); ++i) id_of[uint8_t(bytes[i])] = int64_t(i);
}

CharVocab CharVocab::of_text(const std::string& text) {
  bool seen[256] = {};
  for (char c : text) seen[uint8_t(c)] = true;
  std::string s;
  for (int b = 0; b < 256; ++b)
    if (seen[b]) s += char(b);
  return CharVocab(s);
}

std::string CharVocab::text() const {
  std::string t;
  for (char c : bytes) t += (t.empty() ? "" : ",") + std::to_string(int(uint8_t(c)));
  return t;
}

CharVocab CharVocab::from_metadata(const nn::MetadataReader& meta) {
  std::string s;
  std::stringstream in(meta.string("vocab"));
  for (std::string item; std::getline(in, item, ',');) {
    const int64_t b = nn::MetadataReader(meta.file(), {{"vocab", item}}).integer("vocab", 0, 255);
    if (!s.empty() && uint8_t(s.back()) >= b) meta.refuse("vocab", "must list distinct bytes in order");
    s += char(b);
  }
  if (s.empty()) meta.refuse("vocab", "is empty");
  return CharVocab(s);
}

std::vector<float> CharVocab::encode(const std::string& text, const char* what) const {
  std::vector<float> ids;
  for (size_t i = 0; i < text.size(); ++i) {
    const int64_t id = id_of[uint8_t(text[i])];
    if (id < 0)
      fail(what, "the byte " + quote(text.substr(i, 1)) + " at " + std::to_string(i) +
                     " is not in the model's vocabulary of " + std::to_string(bytes.size()));
    ids.push_back(float(id));
  }
  return ids;
}

std::string CharVocab::display(int64_t id) const {
  const unsigned char c = uint8_t(bytes.at(size_t(id)));
  if (c == ' ') return "\u2423";  // the open box, so a space is seen
  if (c == '\n') return "\\n";
  if (c == '\t') return "\\t";
  if (c < 32 || c == 127) {
    char hex[8];
    std::snprintf(hex, sizeof hex, "\\x%02x", c);
    return hex;
  }
  return std::string(1, char(c));
}

}  // namespace qkv
