// Bad input at the nn floor (issue 12), part three: optimizer and schedule settings, layer norm's eps,
// decoding lengths and mask values, each refused by the shared rules of tensor/checks.h.
#include <cmath>
#include <limits>

#include "autograd/gradcheck.h"
#include "helpers.h"
#include "nn/decode.h"
#include "nn/optim.h"

using namespace qkv;
using namespace qkv::nn;
using Catch::Contains;

namespace {

NamedTensors one_parameter() { return {{"w", tensor({1.0f}).set_requires_grad()}}; }

constexpr float kInf = std::numeric_limits<float>::infinity();
const float kNaN = std::numeric_limits<float>::quiet_NaN();

}  // namespace

TEST_CASE("optim refusals: Adam refuses betas outside 0 to 1 and an eps or weight decay out of range") {
  CHECK_THAT(ERROR_OF(Adam(one_parameter(), 1e-3f, 1.5f)),
             Contains("Adam: beta1 must be in [0, 1), got 1.5"));
  CHECK_THAT(ERROR_OF(Adam(one_parameter(), 1e-3f, 0.9f, 1.0f)),
             Contains("Adam: beta2 must be in [0, 1), got 1"));
  CHECK_THAT(ERROR_OF(Adam(one_parameter(), 1e-3f, 0.9f, 0.999f, -1.0f)),
             Contains("Adam: eps must be finite and > 0, got -1"));
  CHECK_THAT(ERROR_OF(Adam(one_parameter(), 1e-3f, 0.9f, 0.999f, 0.0f)),
             Contains("Adam: eps must be finite and > 0, got 0"));
  CHECK_THAT(ERROR_OF(AdamW(one_parameter(), 1e-3f, 0.9f, 0.999f, 1e-8f, -0.01f)),
             Contains("Adam: weight_decay must be finite and >= 0, got -0.01"));
  CHECK_THAT(ERROR_OF(Adam(one_parameter(), kNaN)), Contains("lr must be finite and >= 0, got nan"));
  CHECK_THAT(ERROR_OF(Adam(one_parameter(), kInf)), Contains("lr must be finite and >= 0, got inf"));
  CHECK_NOTHROW(Adam(one_parameter(), 0.0f, 0.0f, 0.0f));
}

TEST_CASE(
    "optim refusals: SGD refuses a momentum outside 0 to 1 or a negative weight decay and nesterov alone") {
  CHECK_THAT(ERROR_OF(SGD(one_parameter(), -0.1f)), Contains("lr must be finite and >= 0, got -0.1"));
  CHECK_THAT(ERROR_OF(SGD(one_parameter(), 0.1f, 1.0f)), Contains("SGD: momentum must be in [0, 1), got 1"));
  CHECK_THAT(ERROR_OF(SGD(one_parameter(), 0.1f, 0.9f, -1.0f)),
             Contains("SGD: weight_decay must be finite and >= 0, got -1"));
  CHECK_THAT(ERROR_OF(SGD(one_parameter(), 0.1f, 0.0f, 0.0f, true)),
             Contains("SGD: nesterov needs a momentum > 0, got 0"));
}

TEST_CASE("optim refusals: a learning rate set to a bad value between steps is refused by step") {
  for (float bad : {kInf, kNaN, -1.0f}) {
    NamedTensors params = one_parameter();
    params[0].second.set_grad(tensor({1.0f}));
    Adam adam(params, 1e-3f);
    adam.lr = bad;
    CHECK_THAT(ERROR_OF(adam.step()), Contains("Adam: lr must be finite and >= 0, got"));
    SGD sgd(params, 0.1f);
    sgd.lr = bad;
    CHECK_THAT(ERROR_OF(sgd.step()), Contains("SGD: lr must be finite and >= 0, got"));
    CHECK(params[0].second.item() == 1.0f);  // neither moved the parameter
  }
}

TEST_CASE("optim refusals: schedules refuse a negative step and bad settings") {
  const Schedule cosine{Schedule::cosine, 0.1f, 10, 100};
  CHECK_THAT(ERROR_OF(cosine.lr_at(-5)), Contains("Schedule: step must be >= 0, got -5"));
  CHECK(cosine.lr_at(0) > 0);
  CHECK_THAT(ERROR_OF((Schedule{Schedule::constant, -1.0f}.lr_at(0))),
             Contains("Schedule: base_lr must be finite and >= 0, got -1"));
  CHECK_THAT(ERROR_OF((Schedule{Schedule::constant, 0.1f, -2}.lr_at(0))),
             Contains("Schedule: warmup_steps must be >= 0, got -2"));
  CHECK_THAT(ERROR_OF((Schedule{Schedule::cosine, 0.1f, 0, 10, kInf}.lr_at(0))),
             Contains("Schedule: min_lr must be finite and >= 0, got inf"));
  CHECK_THAT(ERROR_OF(clip_grad_norm({}, 0.0f)),
             Contains("clip_grad_norm: max_norm must be finite and > 0, got 0"));
}

TEST_CASE("optim refusals: layer_norm refuses an eps that is negative zero or not finite") {
  const Tensor x = tensor({1, 2, 3, 4}, {2, 2});
  for (float eps : {-1e-5f, 0.0f, kNaN, kInf})
    CHECK_THAT(ERROR_OF(layer_norm(x, Tensor(), Tensor(), eps)),
               Contains("layer_norm: eps must be finite and > 0"));
  CHECK(std::isfinite(layer_norm(x, Tensor(), Tensor(), 1e-5f).to_vector()[0]));
}

TEST_CASE("decode refusals: generate and greedy_decode refuse a negative number of steps alike") {
  manual_seed(1);
  TransformerConfig c{10, BlockConfig{8, 16, 2, 0.0f}, 1, 6};
  GPT gpt(c);
  gpt.eval();
  CHECK_THAT(ERROR_OF(generate(gpt, tensor({1, 2}, {1, 2}), -1)),
             Contains("generate: steps must be >= 0, got -1"));
  CHECK(generate(gpt, tensor({1, 2}, {1, 2}), 0).shape() == Shape{1, 2});
  EncoderDecoder model(c);
  model.eval();
  CHECK_THAT(ERROR_OF(greedy_decode(model, tensor({3, 4}, {1, 2}), tensor({2}), 1, 2, -1)),
             Contains("greedy_decode: max_steps must be >= 1, got -1"));
}

TEST_CASE("mask refusals: key padding takes only 0 or 1 and valid_lens only whole numbers >= 0") {
  CHECK_THAT(ERROR_OF(Mask::key_padding(tensor({0, 0.5f}, {1, 2}))),
             Contains("Mask::key_padding: key_is_padding must be 0 or 1, got 0.5"));
  CHECK_THAT(ERROR_OF(Mask::key_padding(tensor({0, kNaN}, {1, 2}))), Contains("must be 0 or 1, got nan"));
  CHECK_THAT(ERROR_OF(Mask::from_valid_lens(tensor({2.5f}))),
             Contains("Mask::from_valid_lens: valid_lens must be whole numbers >= 0, got 2.5"));
  CHECK_THAT(ERROR_OF(Mask::from_valid_lens(tensor({-1.0f}))), Contains("whole numbers >= 0, got -1"));
  CHECK_THAT(ERROR_OF(Mask::from_valid_lens(tensor({kInf}))), Contains("whole numbers >= 0, got inf"));
  CHECK(Mask::key_padding(tensor({0, 1}, {1, 2})).keep(1, 1, 2).to_vector() == std::vector<float>{1, 0});
}

TEST_CASE("gradcheck refusals: a step of zero and negative tolerances are refused") {
  const Tensor x = tensor({1, 2}).set_requires_grad();
  auto square = [](const std::vector<Tensor>& v) { return v[0] * v[0]; };
  GradcheckOptions zero_step;
  zero_step.eps = 0;
  CHECK_THAT(ERROR_OF(gradcheck(square, {x}, zero_step)),
             Contains("gradcheck: eps must be finite and > 0, got 0"));
  GradcheckOptions negative;
  negative.atol = -1;
  CHECK_THAT(ERROR_OF(gradcheck(square, {x}, negative)),
             Contains("gradcheck: atol must be finite and >= 0, got -1"));
}
