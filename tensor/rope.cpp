// Rotary position embeddings (see rope.h).
#include "tensor/rope.h"

#include <cmath>
#include <vector>

#include "tensor/checks.h"
#include "tensor/loops/grain.h"
#include "tensor/parallel.h"

namespace qkv::kernels {

Tensor rope(const Tensor& x, int64_t H, int64_t pos_offset, float base, bool inverse) {
  if (x.dim() < 2) fail("rope", "needs x of shape [..., T, H*Dh], got " + to_string(x.shape()));
  check::positive("rope", "num_heads", H);
  check::non_negative("rope", "pos_offset", pos_offset);
  if (!(base > 1) || !std::isfinite(base))
    fail("rope", "base must be a finite number > 1, got " + std::to_string(base));
  const int64_t T = x.size(x.dim() - 2), width = x.size(x.dim() - 1);
  if (width % H != 0 || (width / H) % 2 != 0)
    fail("rope", "the last dim of x " + to_string(x.shape()) +
                     " must be H*Dh with Dh even, H = " + std::to_string(H));
  const int64_t Dh = width / H, half = Dh / 2;
  // cos and sin of every (position, pair) angle, [T, Dh/2]: the angle in double, rounded once
  std::vector<float> cos_t(T * half), sin_t(T * half);
  for (int64_t t = 0; t < T; ++t)
    for (int64_t i = 0; i < half; ++i) {
      const double theta = std::pow(double(base), -2.0 * double(i) / double(Dh));
      const double angle = double(pos_offset + t) * theta;
      cos_t[t * half + i] = float(std::cos(angle));
      sin_t[t * half + i] = float(std::sin(angle)) * (inverse ? -1.0f : 1.0f);
    }
  Tensor y = Tensor::empty(x.shape());
  const float* in = x.data();
  float* out = y.mutable_data();
  const int64_t rows = x.numel() / width;  // every (leading index, t)
  parallel_for(rows, grain_for_rows(width), [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) {
      const float* c = cos_t.data() + (r % T) * half;
      const float* s = sin_t.data() + (r % T) * half;
      for (int64_t h = 0; h < H; ++h) {
        const float* a = in + r * width + h * Dh;  // the head's first half; a + half its second
        float* o = out + r * width + h * Dh;
        // (a, b) -> (a cos - b sin, b cos + a sin)
        for (int64_t i = 0; i < half; ++i) {
          o[i] = a[i] * c[i] - a[i + half] * s[i];
          o[i + half] = a[i + half] * c[i] + a[i] * s[i];
        }
      }
    }
  });
  return y;
}

}  // namespace qkv::kernels
