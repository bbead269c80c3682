// Module::state_dict / load_state_dict (issue 13), PyTorch's names and strictness: every refusal lists
// the missing, unexpected and mis-shaped entries in one message and changes nothing.
#include <cmath>
#include <limits>

#include "helpers.h"
#include "nn/io/safetensors.h"
#include "nn/layers.h"
#include "nn/models.h"

using namespace qkv;
using namespace qkv::nn;
using Catch::Contains;

namespace {

// Two layers, so the names are dotted: "fc.weight", "fc.bias", "ln.weight", "ln.bias".
struct Tiny : Module {
  std::shared_ptr<Linear> fc = register_module("fc", std::make_shared<Linear>(3, 2));
  std::shared_ptr<LayerNorm> ln = register_module("ln", std::make_shared<LayerNorm>(2));
};

// Every parameter's values, to show a refused load changed nothing.
std::vector<std::vector<float>> values_of(const Module& m) {
  std::vector<std::vector<float>> out;
  for (const Tensor& p : m.parameters()) out.push_back(p.to_vector());
  return out;
}

NamedTensors without(NamedTensors state, const std::string& name) {
  std::erase_if(state, [&](const auto& entry) { return entry.first == name; });
  return state;
}

}  // namespace

TEST_CASE("state_dict: names every parameter as named_parameters does and shares its storage") {
  Tiny m;
  const NamedTensors state = m.state_dict();
  const NamedTensors params = m.named_parameters();
  REQUIRE(state.size() == 4);
  for (size_t i = 0; i < state.size(); ++i) {
    CHECK(state[i].first == params[i].first);
    CHECK(state[i].second.shares_storage_with(params[i].second));
    CHECK_FALSE(state[i].second.requires_grad());  // detached, as PyTorch's state_dict
  }
  CHECK(state[0].first == "fc.weight");
}

TEST_CASE("state_dict: load_state_dict copies another model's values in place") {
  manual_seed(1);
  Tiny a;
  manual_seed(2);
  Tiny b;
  const Tensor alias = b.fc->weight;  // another handle on b's storage sees the load
  b.load_state_dict(a.state_dict());
  CHECK(values_of(b) == values_of(a));
  CHECK(alias.to_vector() == a.fc->weight.to_vector());
  CHECK_FALSE(b.fc->weight.shares_storage_with(a.fc->weight));  // copied, not rebound
}

TEST_CASE("state_dict: missing unexpected and mis-shaped entries are listed in one refusal") {
  // PyTorch 1.13 on the same mistakes: 'Missing key(s) in state_dict: "bias". Unexpected key(s) in
  // state_dict: "extra". size mismatch for weight: copying a param with shape [3, 2] ... [2, 3].'
  Tiny m;
  const auto before = values_of(m);
  NamedTensors state = without(m.state_dict(), "ln.bias");
  state.emplace_back("extra", zeros({1}));
  state[0].second = zeros({3, 2});  // fc.weight is [2,3]
  const std::string error = ERROR_OF(m.load_state_dict(state));
  CHECK_THAT(error, Contains("load_state_dict: 3 problems, nothing loaded: "));
  CHECK_THAT(error, Contains("\"fc.weight\" has shape [3,2] in the state dict but [2,3] in the model"));
  CHECK_THAT(error, Contains("\"ln.bias\" is missing from the state dict"));
  CHECK_THAT(error, Contains("\"extra\" in the state dict has no destination (strict = false ignores it)"));
  CHECK(values_of(m) == before);
}

TEST_CASE("state_dict: strict false ignores missing and unexpected entries but not a wrong shape") {
  manual_seed(3);
  Tiny a;
  manual_seed(4);
  Tiny b;
  const auto b_before = values_of(b);
  NamedTensors state = without(a.state_dict(), "fc.bias");
  state.emplace_back("head.weight", zeros({5}));
  b.load_state_dict(state, /*strict=*/false);
  CHECK(b.fc->weight.to_vector() == a.fc->weight.to_vector());
  CHECK(b.fc->bias.to_vector() == b_before[1]);  // missing: kept
  CHECK(b.ln->weight.to_vector() == a.ln->weight.to_vector());

  Tiny c;
  const auto c_before = values_of(c);
  CHECK_THAT(ERROR_OF(c.load_state_dict({{"ln.weight", zeros({3})}}, false)),
             Contains("load_state_dict: 1 problem, nothing loaded: \"ln.weight\" has shape [3] in the state "
                      "dict but [2] in the model"));
  CHECK(values_of(c) == c_before);
}

TEST_CASE("state_dict: a name given twice or an undefined tensor is refused") {
  Tiny m;
  const auto before = values_of(m);
  NamedTensors state = m.state_dict();
  state.emplace_back("fc.bias", zeros({2}));
  state[3].second = Tensor();  // ln.bias
  const std::string error = ERROR_OF(m.load_state_dict(state));
  CHECK_THAT(error, Contains("2 problems") && Contains("\"fc.bias\" is listed twice in the state dict") &&
                        Contains("\"ln.bias\" is undefined in the state dict"));
  CHECK(values_of(m) == before);
}

TEST_CASE("state_dict: non-finite values are refused by name and nothing changes") {
  for (const float bad : {std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::infinity()}) {
    manual_seed(5);
    Tiny a;
    Tiny b;
    const auto before = values_of(b);
    NamedTensors state = a.state_dict();
    Tensor ln_bias = state[3].second.clone();
    ln_bias.mutable_data()[1] = bad;
    state[3].second = ln_bias;
    CHECK_THAT(ERROR_OF(b.load_state_dict(state)),
               Contains(std::string("load_state_dict: tensor \"ln.bias\" holds ") +
                        (std::isnan(bad) ? "nan" : "inf") + " at index 1, nothing loaded"));
    CHECK(values_of(b) == before);
  }
}

TEST_CASE("state_dict: a whole Transformer round-trips through a safetensors file") {
  TransformerConfig config;
  config.vocab_size = 7;
  config.block = BlockConfig{8, 16, 2, 0.0f};
  config.num_blks = 1;
  config.max_len = 10;
  manual_seed(6);
  EncoderDecoder a(config);
  manual_seed(7);
  EncoderDecoder b(config);
  const std::string path = testing::scratch_path("state_dict", "model.safetensors");
  save_safetensors(path, a.state_dict());
  b.load_state_dict(load_safetensors(path).tensors);
  CHECK(values_of(b) == values_of(a));
}
