// Bad input at the nn floor (issue 12), part one: model and layer configurations refused at construction,
// and checkpoint metadata read strictly (nn/io/checkpoint_metadata.h), each with a message naming the value.
#include <string>

#include "helpers.h"
#include "nn/io/checkpoint.h"
#include "nn/io/checkpoint_metadata.h"

using namespace qkv;
using namespace qkv::nn;
using Catch::Contains;

namespace {

TransformerConfig tiny_config() {
  TransformerConfig c;
  c.vocab_size = 7;
  c.block = BlockConfig{8, 16, 2, 0.0f};
  c.num_blks = 1;
  c.max_len = 10;
  return c;
}

MetadataReader reader(std::map<std::string, std::string> metadata) {
  return MetadataReader("runs/x.safetensors", std::move(metadata));
}

}  // namespace

TEST_CASE("config: a TransformerConfig without blocks or with a size below 1 is refused by every model") {
  TransformerConfig c = tiny_config();
  for (int64_t blocks : {0, -1}) {
    c.num_blks = blocks;
    const std::string want = "TransformerConfig: num_blks must be >= 1, got " + std::to_string(blocks);
    CHECK_THAT(ERROR_OF(EncoderDecoder(c)), Contains(want));
    CHECK_THAT(ERROR_OF(GPT(c)), Contains(want));
    CHECK_THAT(ERROR_OF(TransformerEncoder(c)), Contains(want));
    CHECK_THAT(ERROR_OF(TransformerDecoder(c)), Contains(want));
  }
  c = tiny_config();
  c.vocab_size = 0;
  CHECK_THAT(ERROR_OF(EncoderDecoder(c)), Contains("TransformerConfig: vocab_size must be >= 1, got 0"));
  c = tiny_config();
  c.max_len = -3;
  CHECK_THAT(ERROR_OF(GPT(c)), Contains("TransformerConfig: max_len must be >= 1, got -3"));
  c = tiny_config();
  c.block.ffn_num_hiddens = 0;
  CHECK_THAT(ERROR_OF(EncoderDecoder(c)), Contains("TransformerConfig: ffn_num_hiddens must be >= 1, got 0"));
  CHECK_NOTHROW(EncoderDecoder(tiny_config()));
}

TEST_CASE(
    "config: num_hiddens must split evenly into num_heads and dropout must be below 1 and not negative") {
  TransformerConfig c = tiny_config();
  c.block.num_heads = 3;
  CHECK_THAT(ERROR_OF(EncoderDecoder(c)),
             Contains("TransformerConfig: num_hiddens must be a multiple of num_heads (3), got 8"));
  c.block.num_heads = 0;
  CHECK_THAT(ERROR_OF(GPT(c)), Contains("TransformerConfig: num_heads must be >= 1, got 0"));
  for (float p : {1.0f, -0.1f, std::nanf("")}) {
    c = tiny_config();
    c.block.dropout = p;
    CHECK_THAT(ERROR_OF(EncoderDecoder(c)), Contains("TransformerConfig: dropout must be in [0, 1), got"));
  }
  BlockConfig block = tiny_config().block;
  block.num_hiddens = -8;
  CHECK_THAT(ERROR_OF(TransformerEncoderBlock(block)),
             Contains("TransformerEncoderBlock: num_hiddens must be >= 1, got -8"));
  CHECK_THAT(ERROR_OF(TransformerDecoderBlock(block)),
             Contains("TransformerDecoderBlock: num_hiddens must be >= 1, got -8"));
}

TEST_CASE("config: layers refuse sizes below 1 and a layer norm eps that is not positive") {
  CHECK_THAT(ERROR_OF(LayerNorm(0)), Contains("LayerNorm: normalized_shape must be >= 1, got 0"));
  CHECK_THAT(ERROR_OF(LayerNorm(4, -1e-5f)), Contains("LayerNorm: eps must be finite and > 0, got -1e-05"));
  CHECK_THAT(ERROR_OF(LayerNorm(4, INFINITY)), Contains("LayerNorm: eps must be finite and > 0, got inf"));
  CHECK_THAT(ERROR_OF(Linear(0, 3)), Contains("Linear: in_features must be >= 1, got 0"));
  CHECK_THAT(ERROR_OF(Linear(3, -2)), Contains("Linear: out_features must be >= 1, got -2"));
  CHECK_THAT(ERROR_OF(Embedding(3, 0)), Contains("Embedding: embedding_dim must be >= 1, got 0"));
  CHECK_THAT(ERROR_OF(Dropout(1.5f)), Contains("Dropout: p must be in [0, 1), got 1.5"));
  CHECK_THAT(ERROR_OF(LearnedPositionalEncoding(8, 0, 0)),
             Contains("LearnedPositionalEncoding: max_len must be >= 1, got 0"));
  CHECK_THAT(ERROR_OF(PositionalEncoding(8, 0, -1)), Contains("max_len must be >= 1, got -1"));
}

TEST_CASE(
    "config: attention modules refuse a dropout outside 0 to 1 and heads that do not divide the width") {
  CHECK_THAT(ERROR_OF(MultiHeadAttention(10, 4)),
             Contains("MultiHeadAttention: num_hiddens must be a multiple of num_heads (4), got 10"));
  CHECK_THAT(ERROR_OF(MultiHeadAttention(8, 0)),
             Contains("MultiHeadAttention: num_heads must be >= 1, got 0"));
  CHECK_THAT(ERROR_OF(MultiHeadAttention(8, 2, 1.0f)),
             Contains("MultiHeadAttention: dropout must be in [0, 1), got 1"));
  CHECK_THAT(ERROR_OF(DotProductAttention(-0.5f)),
             Contains("DotProductAttention: dropout must be in [0, 1), got -0.5"));
  CHECK_THAT(ERROR_OF(AdditiveAttention(4, 4, 8, 2.0f)),
             Contains("AdditiveAttention: dropout must be in [0, 1), got 2"));
  CHECK_THAT(ERROR_OF(SelfAttention(8, 4, 1.0f)),
             Contains("SelfAttention: dropout must be in [0, 1), got 1"));
}

TEST_CASE("metadata: integers are read whole and in range or refused naming file key and value") {
  const auto meta = reader({{"step", "-5"},
                            {"a", "64abc"},
                            {"b", " 64"},
                            {"c", "+64"},
                            {"d", ""},
                            {"e", "99999999999999999999999"},
                            {"f", "64"},
                            {"g", "6.0"}});
  CHECK_THAT(ERROR_OF(meta.integer("step", 0, 1000000)),
             Contains("checkpoint runs/x.safetensors: metadata \"step\" must be an integer in [0, 1000000], "
                      "got \"-5\""));
  for (const char* key : {"a", "b", "c", "d", "e", "g"})
    CHECK_THAT(ERROR_OF(meta.integer(key, 0, 100)),
               Contains(std::string("metadata \"") + key + "\" must be an integer in [0, 100], got"));
  CHECK(meta.integer("f", 0, 100) == 64);
  CHECK_THAT(ERROR_OF(meta.integer("f", 65, 100)), Contains("in [65, 100], got \"64\""));
  CHECK_THAT(ERROR_OF(meta.integer("missing", 0, 1)),
             Contains("checkpoint runs/x.safetensors: metadata \"missing\" is missing"));
  CHECK_THAT(ERROR_OF(meta.string("missing")), Contains("metadata \"missing\" is missing"));
}

TEST_CASE("metadata: numbers booleans and choices are checked and odd bytes are escaped") {
  const auto meta = reader({{"p", "0.25"},
                            {"nan", "nan"},
                            {"inf", "inf"},
                            {"x", "0.5x"},
                            {"yes", "true"},
                            {"one", "1"},
                            {"act", "tanh"},
                            {"nl", "a\nb"}});
  CHECK(meta.number("p", 0, 1) == 0.25);
  for (const char* key : {"nan", "inf", "x"})
    CHECK_THAT(ERROR_OF(meta.number(key, 0, 1)), Contains("must be a number in [0, 1], got"));
  CHECK(meta.boolean("one"));
  CHECK_THAT(ERROR_OF(meta.boolean("yes")),
             Contains("metadata \"yes\" must be an integer in [0, 1], got \"true\""));
  CHECK_THAT(ERROR_OF(meta.choice("act", {"relu", "gelu"})),
             Contains("metadata \"act\" must be one of relu, gelu, got \"tanh\""));
  CHECK_THAT(ERROR_OF(meta.integer("nl", 0, 1)), Contains("got \"a\\nb\""));
}

TEST_CASE("metadata: a TransformerConfig round trips through metadata and a bad one names the file") {
  TransformerConfig c = tiny_config();
  c.block.dropout = 0.1f;
  c.block.activation = Activation::gelu;
  c.block.norm_first = true;
  c.block.bias = false;
  const TransformerConfig back = config_from_metadata(reader(config_metadata(c)));
  CHECK(config_metadata(back) == config_metadata(c));
  CHECK(back.block.dropout == c.block.dropout);
  CHECK(back.block.activation == Activation::gelu);

  auto with = [&](const std::string& key, const std::string& value) {
    auto meta = config_metadata(c);
    meta[key] = value;
    return reader(meta);
  };
  CHECK_THAT(ERROR_OF(config_from_metadata(with("num_blks", "0"))),
             Contains("checkpoint runs/x.safetensors: metadata \"num_blks\" must be an integer in [1, 1000], "
                      "got \"0\""));
  CHECK_THAT(ERROR_OF(config_from_metadata(with("num_hiddens", "64abc"))), Contains("\"num_hiddens\""));
  CHECK_THAT(
      ERROR_OF(config_from_metadata(with("num_heads", "3"))),
      Contains("checkpoint runs/x.safetensors: metadata describes a model qkv refuses: TransformerConfig: "
               "num_hiddens must be a multiple of num_heads (3), got 8"));
  CHECK_THAT(ERROR_OF(config_from_metadata(with("dropout", "1"))),
             Contains("dropout must be in [0, 1), got 1"));
  auto huge = config_metadata(c);  // 2^20 tokens of width 512: a 2 GiB table
  huge["vocab_size"] = "1048576";
  huge["num_hiddens"] = "512";
  CHECK_THAT(
      ERROR_OF(config_from_metadata(reader(huge))),
      Contains("metadata \"vocab_size\" x num_hiddens is 536870912 numbers, more than one table may hold"));
  auto meta = config_metadata(c);
  meta.erase("max_len");
  CHECK_THAT(ERROR_OF(config_from_metadata(reader(meta))), Contains("metadata \"max_len\" is missing"));
}

TEST_CASE("metadata: read_metadata reads a saved checkpoint and rebuilds its model") {
  manual_seed(1);
  EncoderDecoder model(tiny_config());
  const std::string path = testing::scratch_path("refusals_config", "model.safetensors");
  save_checkpoint(path, model, nullptr, Checkpoint{config_metadata(model.config), {}});
  const MetadataReader meta = read_metadata(path);
  CHECK(meta.file() == path);
  EncoderDecoder rebuilt(config_from_metadata(meta));
  load_checkpoint(path, rebuilt, nullptr);
  CHECK(testing::bitwise_equal(rebuilt.named_parameters()[0].second, model.named_parameters()[0].second));
}
