// gradcheck (see gradcheck.h): analytic gradients from one backward, numeric ones from two forwards per
// input element.
#include "autograd/gradcheck.h"

#include <cmath>
#include <cstdio>

#include "autograd/grad_mode.h"
#include "tensor/checks.h"
#include "tensor/creation.h"

namespace qkv {
namespace {

double projected(const Tensor& out, const Tensor& w) {  // sum(out * w) in double
  double s = 0;
  for (int64_t i = 0; i < out.numel(); ++i) s += double(out.data()[i]) * w.data()[i];
  return s;
}

std::string index_string(const Shape& shape, int64_t flat) {  // flat offset -> "[i,j,k]"
  Shape index(shape.size());
  for (size_t d = shape.size(); d-- > 0;) {
    index[d] = flat % shape[d];
    flat /= shape[d];
  }
  return to_string(index);
}

}  // namespace

GradcheckResult gradcheck(const std::function<Tensor(const std::vector<Tensor>&)>& f,
                          const std::vector<Tensor>& inputs, const GradcheckOptions& options) {
  check::positive_number("gradcheck", "eps", options.eps);  // the central difference divides by 2 eps
  check::non_negative_number("gradcheck", "atol", float(options.atol));
  check::non_negative_number("gradcheck", "rtol", float(options.rtol));
  // Analytic: one backward of L = sum(f * w), with the inputs' own gradients put aside.
  std::vector<Tensor> kept_grads;
  for (const Tensor& x : inputs) {
    kept_grads.push_back(x.requires_grad() ? x.grad() : Tensor());
    if (x.requires_grad()) x.zero_grad();
  }
  const Tensor out = f(inputs);
  if (!out.requires_grad())
    fail("gradcheck", "the output does not require grad: no input has requires_grad set");
  Generator gen(options.seed);
  const Tensor w = randn(out.shape(), gen);
  out.backward(w);

  GradcheckResult result;
  NoGrad no_grad;
  for (size_t i = 0; i < inputs.size(); ++i) {
    Tensor x = inputs[i];
    if (!x.requires_grad()) continue;
    const Tensor analytic = x.grad();
    x.set_grad(kept_grads[i]);
    // Worst entry of this input, measured as error / allowed error.
    double worst_ratio = 0, worst_a = 0, worst_n = 0;
    int64_t worst = -1, failures = 0;
    for (int64_t j = 0; j < x.numel(); ++j) {
      const float original = x.data()[j];
      const float up = original + options.eps, down = original - options.eps;
      x.mutable_data()[j] = up;
      const double l_up = projected(f(inputs), w);
      x.mutable_data()[j] = down;
      const double l_down = projected(f(inputs), w);
      x.mutable_data()[j] = original;
      const double numeric = (l_up - l_down) / (double(up) - double(down));
      const double a = analytic.defined() ? analytic.data()[j] : 0.0;
      const double err = std::fabs(a - numeric), allowed = options.atol + options.rtol * std::fabs(numeric);
      result.max_abs_error = std::max(result.max_abs_error, err);
      ++result.checked;
      if (err > allowed) ++failures;
      if (!(err / allowed <= worst_ratio)) {  // also catches NaN
        worst_ratio = err / allowed;
        worst = j;
        worst_a = a;
        worst_n = numeric;
      }
    }
    if (failures > 0) {
      char numbers[160];
      std::snprintf(numbers, sizeof numbers, "analytic %.6g vs numeric %.6g (error %.3g, allowed %.3g)",
                    worst_a, worst_n, std::fabs(worst_a - worst_n),
                    options.atol + options.rtol * std::fabs(worst_n));
      fail("gradcheck", "input " + std::to_string(i) + " of shape " + to_string(x.shape()) + ": " +
                            std::to_string(failures) + " of " + std::to_string(x.numel()) +
                            " entries disagree; worst at index " + index_string(x.shape(), worst) + ": " +
                            numbers);
    }
  }
  return result;
}

}  // namespace qkv
