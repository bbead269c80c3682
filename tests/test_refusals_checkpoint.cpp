// Bad input at the nn floor (issue 12), part two: checkpoints that do not fit the model they are loaded
// into. Each refusal names the file and the tensors, changes no parameter and leaves the file as it was.
#include <cmath>
#include <fstream>
#include <limits>
#include <sstream>

#include "helpers.h"
#include "nn/io/checkpoint.h"

using namespace qkv;
using namespace qkv::nn;
using Catch::Contains;

namespace {

TransformerConfig tiny_config(bool norm_first) {
  TransformerConfig c;
  c.vocab_size = 7;
  c.block = BlockConfig{8, 16, 2, 0.0f};
  c.block.norm_first = norm_first;
  c.num_blks = 1;
  c.max_len = 10;
  return c;
}

std::string scratch(const std::string& name) { return testing::scratch_path("refusals_checkpoint", name); }

std::string bytes_of(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// A copy of every parameter, to show that a refused load changed none.
std::vector<Tensor> snapshot(const Module& m) {
  std::vector<Tensor> out;
  for (const Tensor& p : m.parameters()) out.push_back(p.clone());
  return out;
}

bool unchanged(const Module& m, const std::vector<Tensor>& before) {
  const std::vector<Tensor> now = m.parameters();
  for (size_t i = 0; i < now.size(); ++i)
    if (!testing::bitwise_equal(now[i], before[i])) return false;
  return now.size() == before.size();
}

}  // namespace

TEST_CASE("checkpoint: tensors the model does not have are refused by name and nothing is loaded") {
  manual_seed(1);
  EncoderDecoder pre_norm(tiny_config(true));  // has encoder.ln_f and decoder.ln_f
  const std::string path = scratch("pre_norm.safetensors");
  save_checkpoint(path, pre_norm, nullptr);
  const std::string file_before = bytes_of(path);

  EncoderDecoder post_norm(tiny_config(false));
  const auto before = snapshot(post_norm);
  const std::string error = ERROR_OF(load_checkpoint(path, post_norm, nullptr));
  CHECK_THAT(error, Contains("checkpoint " + path + ": 4 tensors the model does not have"));
  CHECK_THAT(error, Contains("\"encoder.ln_f.weight\"") && Contains("\"decoder.ln_f.bias\""));
  CHECK(unchanged(post_norm, before));
  CHECK(bytes_of(path) == file_before);
}

TEST_CASE("checkpoint: declared extra tensors pass and optimizer state is skipped without an optimizer") {
  manual_seed(2);
  EncoderDecoder model(tiny_config(true));
  Adam opt(model.named_parameters(), 1e-3f);
  const std::string path = scratch("with_extra.safetensors");
  save_checkpoint(path, model, &opt, Checkpoint{{}, {{"train.losses", tensor({3, 2, 1})}}});

  EncoderDecoder copy(tiny_config(true));
  const Checkpoint ck = load_checkpoint(path, copy, nullptr, {"train.losses"});
  REQUIRE(ck.extra.size() == 1);
  CHECK(ck.extra[0].first == "train.losses");
  CHECK(ck.extra[0].second.to_vector() == std::vector<float>{3, 2, 1});
  CHECK(unchanged(copy, snapshot(model)));

  EncoderDecoder other(tiny_config(true));
  const auto before = snapshot(other);
  CHECK_THAT(ERROR_OF(load_checkpoint(path, other, nullptr)),
             Contains("1 tensor the model does not have: \"train.losses\""));
  CHECK(unchanged(other, before));
}

TEST_CASE("checkpoint: optimizer state that is not the given optimizer's is refused") {
  manual_seed(3);
  EncoderDecoder model(tiny_config(true));
  SGD sgd(model.named_parameters(), 0.1f, 0.9f);
  const std::string path = scratch("sgd.safetensors");
  save_checkpoint(path, model, &sgd);

  EncoderDecoder copy(tiny_config(true));
  Adam adam(copy.named_parameters(), 1e-3f);
  const auto before = snapshot(copy);
  const std::string error = ERROR_OF(load_checkpoint(path, copy, &adam));
  CHECK_THAT(error, Contains("checkpoint " + path + ": load_into: ") && Contains("nothing loaded"));
  CHECK_THAT(error, Contains("optimizer.step"));
  CHECK(unchanged(copy, before));
}

TEST_CASE("checkpoint: non-finite weights or optimizer state are refused by name and nothing changes") {
  const float bad_values[] = {std::numeric_limits<float>::quiet_NaN(),
                              std::numeric_limits<float>::infinity()};
  for (const float bad : bad_values) {
    manual_seed(4);
    EncoderDecoder model(tiny_config(true));
    Adam opt(model.named_parameters(), 1e-3f);
    model.decoder->dense->bias.mutable_data()[2] = bad;
    const std::string path = scratch("non_finite.safetensors");
    save_checkpoint(path, model, &opt);
    const std::string file_before = bytes_of(path);

    EncoderDecoder copy(tiny_config(true));
    Adam copy_opt(copy.named_parameters(), 1e-3f);
    const auto before = snapshot(copy);
    CHECK_THAT(ERROR_OF(load_checkpoint(path, copy, &copy_opt)),
               Contains("checkpoint " + path + ": tensor \"decoder.dense.bias\" holds " +
                        (std::isnan(bad) ? "nan" : "inf") + " at index 2"));
    CHECK_THAT(ERROR_OF(load_checkpoint(path, copy, nullptr)), Contains("\"decoder.dense.bias\""));
    CHECK(unchanged(copy, before));
    CHECK(bytes_of(path) == file_before);
  }
}

TEST_CASE("checkpoint: a model of another shape is refused naming the file") {
  manual_seed(5);
  EncoderDecoder model(tiny_config(true));
  const std::string path = scratch("shape.safetensors");
  save_checkpoint(path, model, nullptr);
  TransformerConfig wider = tiny_config(true);
  wider.block.num_hiddens = 12;
  EncoderDecoder other(wider);
  const auto before = snapshot(other);
  CHECK_THAT(
      ERROR_OF(load_checkpoint(path, other, nullptr)),
      Contains("checkpoint " + path + ": load_into: ") && Contains("has shape [7,8] in the file but [7,12]"));
  CHECK(unchanged(other, before));
}

TEST_CASE("checkpoint: Adam state it cannot resume from is refused and nothing changes") {
  for (const char* bad : {"step", "exp_avg_sq"}) {
    manual_seed(6);
    EncoderDecoder model(tiny_config(true));
    Adam opt(model.named_parameters(), 1e-3f);
    for (auto& [name, t] : opt.state()) {
      Tensor handle = t;  // shares the optimizer's storage
      if (name == "step" && std::string(bad) == "step") handle.mutable_data()[0] = 2.5f;
      if (name == "exp_avg_sq.decoder.dense.bias" && std::string(bad) == "exp_avg_sq")
        handle.mutable_data()[1] = -1;
    }
    const std::string path = scratch("adam_state.safetensors");
    save_checkpoint(path, model, &opt);

    EncoderDecoder copy(tiny_config(true));
    Adam copy_opt(copy.named_parameters(), 1e-3f);
    const auto before = snapshot(copy);
    const std::string error = ERROR_OF(load_checkpoint(path, copy, &copy_opt));
    CHECK_THAT(error, Contains("checkpoint " + path + ": Adam state \""));
    if (std::string(bad) == "step")
      CHECK_THAT(error, Contains("the step count must be whole numbers >= 0, got 2.5"));
    if (std::string(bad) == "exp_avg_sq")
      CHECK_THAT(error,
                 Contains("\"exp_avg_sq.decoder.dense.bias\": every entry must be finite and >= 0, got -1"));
    CHECK(unchanged(copy, before));
    CHECK(copy_opt.steps_taken() == 0);
  }
}
