// nn/summary.h: the module tree with parameters, shapes and counts, on a model counted by hand.
#include "helpers.h"
#include "nn/layers.h"
#include "nn/models.h"
#include "nn/summary.h"

using namespace qkv;
using namespace qkv::nn;
using Catch::Contains;

namespace {

// Linear(3, 2): weight [2,3] = 6, bias [2] = 2; LayerNorm(2): weight 2, bias 2; Inner adds a Linear(2, 1)
// without bias: 2. Total 6 + 2 + 2 + 2 + 2 = 14.
struct Inner : Module {
  std::shared_ptr<Linear> out = register_module("out", std::make_shared<Linear>(2, 1, /*bias=*/false));
};
struct Tiny : Module {
  std::shared_ptr<Linear> fc = register_module("fc", std::make_shared<Linear>(3, 2));
  std::shared_ptr<LayerNorm> ln = register_module("ln", std::make_shared<LayerNorm>(2));
  std::shared_ptr<Inner> head = register_module("head", std::make_shared<Inner>());
};

}  // namespace

TEST_CASE("summary: the module tree of a hand-counted model, with shapes, counts and the total") {
  Tiny m;
  const std::string s = summary(m);
  INFO(s);
  // Row by row: the class (Tiny is in an anonymous namespace, so only its last part is shown).
  CHECK(s ==
        "module / parameter  shape  parameters\n"
        "Tiny                               14\n"
        "  (fc): Linear                      8\n"
        "    weight          [2,3]           6\n"
        "    bias            [2]             2\n"
        "  (ln): LayerNorm                   4\n"
        "    weight          [2]             2\n"
        "    bias            [2]             2\n"
        "  (head): Inner                     2\n"
        "    (out): Linear                   2\n"
        "      weight        [1,2]           2\n"
        "total: 14 parameters (0.1 KiB as float32)\n");
}

TEST_CASE("summary: a whole model's total equals num_parameters and every parameter is listed") {
  TransformerConfig c;
  c.vocab_size = 13, c.block.num_hiddens = 16, c.block.num_heads = 2, c.block.ffn_num_hiddens = 32;
  EncoderDecoder model(c);
  const std::string s = summary(model);
  CHECK_THAT(s, Contains("total: " + with_commas(model.num_parameters()) + " parameters"));
  CHECK_THAT(s, Contains("(encoder): TransformerEncoder"));
  CHECK_THAT(s, Contains("(attention2): MultiHeadAttention"));
  CHECK_THAT(s, Contains("(embedding): Embedding"));
  // One row per parameter: as many shape brackets as parameters.
  size_t rows = 0;
  for (size_t at = s.find("\n"); at != std::string::npos; at = s.find("\n", at + 1))
    if (s.compare(at + 1, 1, " ") == 0 && s.find('[', at + 1) < s.find('\n', at + 1)) ++rows;
  CHECK(rows == model.named_parameters().size());
  CHECK(with_commas(0) == "0");
  CHECK(with_commas(999) == "999");
  CHECK(with_commas(1000) == "1,000");
  CHECK(with_commas(72461) == "72,461");
  CHECK(with_commas(1234567) == "1,234,567");
}
