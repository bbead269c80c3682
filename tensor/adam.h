// Adam's and AdamW's update of a parameter's elements: the optimizer's inner loop. nn/optim.h holds the
// optimizer itself (its moments, step count, schedule and parameter groups) and calls this.
#pragma once
#include <cstdint>

namespace qkv::kernels {

// What one step needs, worked out in double from the hyperparameters and rounded to float once, as
// PyTorch 1.13's single-tensor Adam does. Passed by value: the loop then reads nothing through a pointer
// that a store to w, m or v could change.
struct AdamConstants {
  float beta1, one_minus_beta1, beta2, one_minus_beta2;
  float eps, weight_decay;  // weight_decay: added to the gradient (Adam)
  float decay;              // 1 - lr weight_decay: the parameter's shrink (AdamW)
  float step_size;          // lr / (1 - beta1^t)
  float sqrt_c2;            // sqrt(1 - beta2^t)
};

// Elements [begin, end) of parameter w, its moments m and v and its gradient g, in PyTorch's order:
//   (AdamW: w *= decay;  Adam: g += weight_decay w)
//   m = beta1 m + (1 - beta1) g;  v = beta2 v + (1 - beta2) g^2;  w -= step_size m / (sqrt(v) / sqrt_c2 + eps)
// Each element on its own, so any split of a range across threads gives the same bits, and so does every
// instruction set (the same operations per element, no fused multiply-add).
void adam_update(float* w, float* m, float* v, const float* g, int64_t begin, int64_t end, AdamConstants k,
                 bool decoupled);

}  // namespace qkv::kernels
