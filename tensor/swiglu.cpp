// SwiGLU's gate forward and backward (see swiglu.h).
#include "tensor/swiglu.h"

#include <cmath>

#include "tensor/error.h"
#include "tensor/loops/grain.h"
#include "tensor/parallel.h"

namespace qkv::kernels {

static float sigmoid_of(float a) { return 1.0f / (1.0f + std::exp(-a)); }

static void check_same(const char* op, const Tensor& a, const Tensor& b) {
  if (a.shape() != b.shape())
    fail(op, "needs a and b of one shape, got " + to_string(a.shape()) + " and " + to_string(b.shape()));
}

Tensor swiglu(const Tensor& a, const Tensor& b) {
  check_same("swiglu", a, b);
  Tensor y = Tensor::empty(a.shape());
  const float *pa = a.data(), *pb = b.data();
  float* out = y.mutable_data();
  parallel_for(a.numel(), kElementwiseGrain, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) out[i] = pa[i] * sigmoid_of(pa[i]) * pb[i];
  });
  return y;
}

SwiGLUGrads swiglu_backward(const Tensor& dy, const Tensor& a, const Tensor& b) {
  check_same("swiglu_backward", a, b);
  check_same("swiglu_backward", dy, a);
  SwiGLUGrads grads{Tensor::empty(a.shape()), Tensor::empty(a.shape())};
  const float *d = dy.data(), *pa = a.data(), *pb = b.data();
  float *da = grads.da.mutable_data(), *db = grads.db.mutable_data();
  parallel_for(a.numel(), kElementwiseGrain, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      const float s = sigmoid_of(pa[i]);
      // d silu(a) / da = s + a s (1 - s)
      da[i] = d[i] * pb[i] * (s * (1.0f + pa[i] * (1.0f - s)));
      db[i] = d[i] * pa[i] * s;
    }
  });
  return grads;
}

}  // namespace qkv::kernels
