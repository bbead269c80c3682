// Strict metadata reading and the TransformerConfig conversion (see checkpoint_metadata.h).
#include "nn/io/checkpoint_metadata.h"

#include <charconv>
#include <cmath>

#include "nn/io/safetensors.h"
#include "tensor/value_text.h"

namespace qkv::nn {

void fail_checkpoint(const std::string& path, const std::string& what) { fail("checkpoint " + path, what); }

MetadataReader::MetadataReader(std::string file, std::map<std::string, std::string> metadata)
    : file_(std::move(file)), metadata_(std::move(metadata)) {}

void MetadataReader::refuse(const std::string& key, const std::string& what) const {
  fail_checkpoint(file_, "metadata " + quote(key) + " " + what);
}

const std::string& MetadataReader::string(const std::string& key) const {
  const auto it = metadata_.find(key);
  if (it == metadata_.end()) refuse(key, "is missing");
  return it->second;
}

// True when from_chars read all of text (no sign of '+', no space, nothing after the number).
template <class T>
static bool parse_whole(const std::string& text, T& value) {
  const char* end = text.data() + text.size();
  const auto [ptr, ec] = std::from_chars(text.data(), end, value);
  return ec == std::errc() && ptr == end;
}

int64_t MetadataReader::integer(const std::string& key, int64_t min, int64_t max) const {
  const std::string& text = string(key);
  int64_t value = 0;
  if (!parse_whole(text, value) || value < min || value > max)
    refuse(key, "must be an integer in [" + std::to_string(min) + ", " + std::to_string(max) + "], got " +
                    quote(text));
  return value;
}

double MetadataReader::number(const std::string& key, double min, double max) const {
  const std::string& text = string(key);
  double value = 0;
  if (!parse_whole(text, value) || !(value >= min && value <= max))  // NaN fails the range
    refuse(key, "must be a number in [" + kernels::value_text(min) + ", " + kernels::value_text(max) +
                    "], got " + quote(text));
  return value;
}

bool MetadataReader::boolean(const std::string& key) const { return integer(key, 0, 1) == 1; }

const std::string& MetadataReader::choice(const std::string& key,
                                          std::initializer_list<const char*> allowed) const {
  const std::string& text = string(key);
  std::string names;
  for (const char* name : allowed) {
    if (text == name) return text;
    names += (names.empty() ? "" : ", ") + std::string(name);
  }
  refuse(key, "must be one of " + names + ", got " + quote(text));
}

MetadataReader read_metadata(const std::string& path) {
  return MetadataReader(path, load_safetensors(path).metadata);
}

// ---- TransformerConfig <-> metadata ----

// Bounds on what a file may ask this library to build: far above any model it trains, low enough that no
// size overflows and no single table passes 2^28 numbers (1 GiB).
constexpr int64_t kMaxWidth = int64_t{1} << 16;  // num_hiddens, ffn_num_hiddens, num_heads
constexpr int64_t kMaxRows = int64_t{1} << 20;   // vocab_size, max_len
constexpr int64_t kMaxBlocks = 1000;             // num_blks
constexpr int64_t kMaxTableNumbers = int64_t{1} << 28;

std::map<std::string, std::string> config_metadata(const TransformerConfig& c) {
  return {{"vocab_size", std::to_string(c.vocab_size)},
          {"num_hiddens", std::to_string(c.block.num_hiddens)},
          {"ffn_num_hiddens", std::to_string(c.block.ffn_num_hiddens)},
          {"num_heads", std::to_string(c.block.num_heads)},
          {"dropout", kernels::value_text(c.block.dropout)},
          {"bias", c.block.bias ? "1" : "0"},
          {"norm_first", c.block.norm_first ? "1" : "0"},
          {"activation", c.block.activation.value_or(Activation::relu) == Activation::gelu ? "gelu" : "relu"},
          {"num_blks", std::to_string(c.num_blks)},
          {"max_len", std::to_string(c.max_len)},
          {"norm", c.block.norm == Norm::rms_norm ? "rms_norm" : "layer_norm"},
          {"ffn", c.block.ffn == Ffn::swiglu ? "swiglu" : "mlp"},
          {"rope", c.block.rope ? "1" : "0"},
          {"rope_base", kernels::value_text(c.block.rope_base)},
          {"ffn_bias", c.block.ffn_bias ? "1" : "0"},
          {"norm_bias", c.block.norm_bias ? "1" : "0"},
          {"tie_embeddings", c.tie_embeddings ? "1" : "0"},
          {"gpt2_init", c.gpt2_init ? "1" : "0"}};
}

std::map<std::string, std::string> model_metadata(const EncoderDecoder& model) {
  auto metadata = config_metadata(model.config);
  metadata["model"] = "EncoderDecoder";
  return metadata;
}

std::map<std::string, std::string> model_metadata(const GPT& model) {
  auto metadata = config_metadata(model.config);
  metadata["model"] = "GPT";
  metadata["norm_first"] = "1";  // GPT's blocks are pre-norm whatever its config says
  return metadata;
}

const std::string& model_kind(const MetadataReader& meta) {
  return meta.choice("model", {"EncoderDecoder", "GPT"});
}

TransformerConfig config_from_metadata(const MetadataReader& meta) {
  TransformerConfig c;
  c.vocab_size = meta.integer("vocab_size", 1, kMaxRows);
  c.block.num_hiddens = meta.integer("num_hiddens", 1, kMaxWidth);
  c.block.ffn_num_hiddens = meta.integer("ffn_num_hiddens", 1, kMaxWidth);
  c.block.num_heads = meta.integer("num_heads", 1, kMaxWidth);
  c.block.dropout = float(meta.number("dropout", 0, 1));  // below 1: checked by validate()
  c.block.bias = meta.boolean("bias");
  c.block.norm_first = meta.boolean("norm_first");
  c.block.activation =
      meta.choice("activation", {"relu", "gelu"}) == "gelu" ? Activation::gelu : Activation::relu;
  c.num_blks = meta.integer("num_blks", 1, kMaxBlocks);
  c.max_len = meta.integer("max_len", 1, kMaxRows);
  // The modern options (issue 15): a checkpoint saved before them has none of these keys, and gets the
  // defaults, which are what every model was then.
  const auto flag = [&](const char* key, bool old) { return meta.has(key) ? meta.boolean(key) : old; };
  if (meta.has("norm"))
    c.block.norm =
        meta.choice("norm", {"layer_norm", "rms_norm"}) == "rms_norm" ? Norm::rms_norm : Norm::layer_norm;
  if (meta.has("ffn"))
    c.block.ffn = meta.choice("ffn", {"mlp", "swiglu"}) == "swiglu" ? Ffn::swiglu : Ffn::mlp;
  c.block.rope = flag("rope", false);
  if (meta.has("rope_base")) c.block.rope_base = float(meta.number("rope_base", 1, 1e9));
  c.block.ffn_bias = flag("ffn_bias", true);
  c.block.norm_bias = flag("norm_bias", true);
  c.tie_embeddings = flag("tie_embeddings", false);
  c.gpt2_init = flag("gpt2_init", false);
  for (const auto& [key, rows] : {std::pair{"vocab_size", c.vocab_size}, std::pair{"max_len", c.max_len}})
    if (rows * c.block.num_hiddens > kMaxTableNumbers)
      meta.refuse(key, "x num_hiddens is " + std::to_string(rows * c.block.num_hiddens) +
                           " numbers, more than one table may hold (2^28)");
  // The rules that tie fields together (num_hiddens a multiple of num_heads), named with the file.
  try {
    validate(c);
  } catch (const Error& e) {
    fail_checkpoint(meta.file(), std::string("metadata describes a model qkv refuses: ") + e.what());
  }
  return c;
}

}  // namespace qkv::nn
