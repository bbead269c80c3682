// Reading a checkpoint's metadata strictly. The metadata is text from a file, so every value is checked
// whole ("64abc" is not 64) and against a range, and every refusal names the file, the key and the value:
//   checkpoint runs/x.safetensors: metadata "step" must be an integer in [0, 1000000], got "-5"
// Also the one conversion between a model and metadata, so any program can rebuild the model a checkpoint
// was saved from (model_metadata when saving; model_kind and config_from_metadata before loading), in qkv
// or elsewhere (examples/torch_from_checkpoint.py rebuilds it in PyTorch from the file alone).
#pragma once
#include <cstdint>
#include <initializer_list>
#include <map>
#include <string>

#include "nn/models.h"

namespace qkv::nn {

// Throws qkv::Error "checkpoint <path>: <what>": how every refusal of a checkpoint's content starts.
[[noreturn]] void fail_checkpoint(const std::string& path, const std::string& what);

class MetadataReader {
 public:
  // file only names the checkpoint in messages.
  MetadataReader(std::string file, std::map<std::string, std::string> metadata);
  bool has(const std::string& key) const { return metadata_.count(key) != 0; }
  // Each getter throws if the key is missing or its value is not of the kind and range asked for.
  const std::string& string(const std::string& key) const;
  int64_t integer(const std::string& key, int64_t min, int64_t max) const;  // in [min, max]
  double number(const std::string& key, double min, double max) const;      // finite, in [min, max]
  bool boolean(const std::string& key) const;                               // "0" or "1"
  const std::string& choice(const std::string& key, std::initializer_list<const char*> allowed) const;
  // Throws "checkpoint <file>: metadata "<key>" <what>", for a caller's own checks of a value.
  [[noreturn]] void refuse(const std::string& key, const std::string& what) const;
  const std::string& file() const { return file_; }

 private:
  std::string file_;
  std::map<std::string, std::string> metadata_;
};

// The metadata of the checkpoint at path, read without building anything (to size a model before
// load_checkpoint fills it).
MetadataReader read_metadata(const std::string& path);

// Every field of the config, as text: vocab_size, num_hiddens, ffn_num_hiddens, num_heads, dropout, bias,
// norm_first, activation, num_blks, max_len, and the modern options norm, ffn, rope, rope_base, ffn_bias,
// norm_bias, tie_embeddings, gpt2_init (which config_from_metadata reads as their defaults when missing,
// so checkpoints saved before them still load).
std::map<std::string, std::string> config_metadata(const TransformerConfig& config);
// The metadata a checkpoint of a whole model carries: its config (above) and "model", the class, which
// fixes what the config leaves open (docs/09-training.md):
//   EncoderDecoder  token embedding x sqrt(D), sinusoidal positions, blocks as norm_first says
//   GPT             token embedding as is, learned positions, always pre-norm (norm_first written as 1)
std::map<std::string, std::string> model_metadata(const EncoderDecoder& model);
std::map<std::string, std::string> model_metadata(const GPT& model);
// The "model" of a checkpoint: "EncoderDecoder" or "GPT" (anything else is refused, naming the file).
const std::string& model_kind(const MetadataReader& metadata);

// The config back, every field required and checked (a config the models would refuse is refused here,
// naming the file).
TransformerConfig config_from_metadata(const MetadataReader& metadata);

}  // namespace qkv::nn
