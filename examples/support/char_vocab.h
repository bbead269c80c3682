// The character GPT's vocabulary (train_chargpt, and the attention explorer that reads its checkpoints):
// the distinct bytes of a text in byte order, token id i being the i-th of them. A UTF-8 character outside
// ASCII is several tokens. In a checkpoint's metadata it is the key "vocab", the bytes' values "10,32,33".
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "nn/io/checkpoint_metadata.h"

namespace qkv {

struct CharVocab {
  std::string bytes;  // token id -> byte
  int64_t id_of[256];

  explicit CharVocab(const std::string& symbols);
  static CharVocab of_text(const std::string& text);
  // The "vocab" key; refused (naming the file and the key) unless it lists distinct bytes in order.
  static CharVocab from_metadata(const nn::MetadataReader& meta);
  std::string text() const;  // "10,32,33"
  // text -> ids; a byte outside the vocabulary is an error of `what` (a flag), naming it and where it is
  std::vector<float> encode(const std::string& text, const char* what) const;
  // How a token shows on a page: the character, a space as the open box, "\n", "\t" and other control
  // bytes written out.
  std::string display(int64_t id) const;
};

}  // namespace qkv
