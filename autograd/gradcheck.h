// gradcheck: does an op's (or a layer's) backward agree with central differences of its forward?
// Use it whenever you add an op or a layer (docs/ shows how). The output is projected to a scalar with
// fixed random weights w, L = sum(f(inputs) * w), so every output element takes part; then for every
// element x of every input that requires grad, the analytic dL/dx from backward() is compared with
// (L(x + eps) - L(x - eps)) / 2 eps, L summed in double.
#pragma once
#include <functional>
#include <string>
#include <vector>

#include "tensor/tensor.h"

namespace qkv {

struct GradcheckOptions {
  float eps = 1e-3f;    // the finite-difference step
  double atol = 1e-3;   // an entry passes when |analytic - numeric| <= atol + rtol * |numeric|
  double rtol = 1e-2;   // (float32 forward passes make anything much tighter flaky)
  uint64_t seed = 1234;  // seed of the projection weights w
};

struct GradcheckResult {
  int64_t checked = 0;         // entries compared
  double max_abs_error = 0;    // over all of them
};

// f maps the inputs to one output tensor of any shape and must be deterministic (reseed inside f if it
// draws random numbers, e.g. dropout). Inputs keep their values; their .grad is restored afterwards.
// Throws qkv::Error on a mismatch, naming the input, the worst index, both values and the error.
GradcheckResult gradcheck(const std::function<Tensor(const std::vector<Tensor>&)>& f,
                          const std::vector<Tensor>& inputs, const GradcheckOptions& options = {});

}  // namespace qkv
