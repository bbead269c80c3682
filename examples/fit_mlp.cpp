// fit_mlp: autograd on its own, micrograd-sized. A two-layer perceptron learns y = sin(x) on [-3, 3]
// with plain gradient descent, written out by hand: forward, loss, zero the gradients, backward, update.
// No nn/ modules: just tensors that require grad and the differentiable ops of autograd/ops.h.
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <exception>

#include "autograd/ops.h"
#include "support/cli.h"

using namespace qkv;

int main(int argc, char** argv) try {
  cli::Flags flags("fit_mlp", "Fit y = sin(x) with a two-layer perceptron and plain gradient descent.");
  flags.integer_option("steps", "2000", 1, 1'000'000, "gradient descent steps")
      .number_option("lr", "0.05", cli::Range::above(0, 10), "learning rate")
      .integer_option("seed", "0", 0, INT64_MAX, "seed of the initial weights");
  if (!flags.parse(argc, argv)) return 0;
  manual_seed(uint64_t(flags.integer("seed")));
  // Data: 64 points x [64,1] and targets y = sin(x) [64,1]
  const Tensor x = reshape(arange(-3.0f, 3.0f, 6.0f / 64), {64, 1});
  Tensor target({64, 1});
  for (int64_t i = 0; i < 64; ++i) target.set({i, 0}, std::sin(x.at({i, 0})));

  // Parameters: 1 -> 16 -> 1 with tanh, initialised small and random
  Tensor w1 = randn({1, 16}).set_requires_grad(), b1 = zeros({16}).set_requires_grad();
  Tensor w2 = (randn({16, 1}) * 0.25f).detach().set_requires_grad(), b2 = zeros({1}).set_requires_grad();
  const std::vector<Tensor> params = {w1, b1, w2, b2};

  const float lr = float(flags.number("lr"));
  const int64_t steps = flags.integer("steps");
  for (int64_t step = 0; step <= steps; ++step) {
    const Tensor hidden = tanh(matmul(x, w1) + b1);  // [64,1] @ [1,16] -> [64,16]
    const Tensor pred = matmul(hidden, w2) + b2;     // [64,16] @ [16,1] -> [64,1]
    const Tensor loss = mean(pow(pred - target, 2));  // mean squared error, 0-d
    for (const Tensor& p : params) p.zero_grad();
    loss.backward();
    {
      NoGrad no_grad;  // the update itself is not part of the graph
      for (Tensor p : params) {
        const float* g = p.grad().data();
        float* w = p.mutable_data();
        for (int64_t i = 0; i < p.numel(); ++i) w[i] -= lr * g[i];  // p -= lr * dL/dp
      }
    }
    cli::check_loss(loss.item(), step);
    if (step % 200 == 0 || step == steps)
      std::printf("step %4lld  loss %.5f\n", (long long)step, loss.item());
  }
  return 0;
} catch (const std::exception& e) {
  return cli::report_error("fit_mlp", e);
}
