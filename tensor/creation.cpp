// Tensor creation (see creation.h).
#include "tensor/creation.h"

#include <cmath>

namespace qkv {

Tensor zeros(const Shape& shape) { return Tensor(shape, 0.0f); }
Tensor ones(const Shape& shape) { return Tensor(shape, 1.0f); }
Tensor full(const Shape& shape, float value) { return Tensor(shape, value); }
Tensor scalar(float value) { return Tensor(Shape{}, {value}); }
Tensor tensor(std::vector<float> values, Shape shape) { return Tensor(std::move(shape), std::move(values)); }
Tensor tensor(std::vector<float> values) {
  const auto n = static_cast<int64_t>(values.size());
  return Tensor(Shape{n}, std::move(values));
}
Tensor arange(float end) { return arange(0, end, 1); }

Tensor arange(float start, float end, float step) {
  if (step == 0 || !std::isfinite(start) || !std::isfinite(end) || !std::isfinite(step))
    fail("arange", "bad range start=" + std::to_string(start) + " end=" + std::to_string(end) +
                       " step=" + std::to_string(step));
  const auto n = static_cast<int64_t>(std::max(0.0, std::ceil((double(end) - start) / step)));
  std::vector<float> v(n);
  for (int64_t i = 0; i < n; ++i) v[i] = static_cast<float>(start + i * double(step));
  return tensor(std::move(v));
}

Tensor rand(const Shape& shape, Generator& gen) { return uniform(shape, 0, 1, gen); }

Tensor uniform(const Shape& shape, float lo, float hi, Generator& gen) {
  Tensor t = Tensor::empty(shape);
  float* p = t.mutable_data();
  gen.fill_uniform(p, t.numel());
  for (int64_t i = 0; i < t.numel(); ++i) p[i] = lo + (hi - lo) * p[i];
  return t;
}

Tensor randn(const Shape& shape, Generator& gen) {
  Tensor t = Tensor::empty(shape);
  float* p = t.mutable_data();
  for (int64_t i = 0; i < t.numel(); ++i) p[i] = gen.normal();
  return t;
}

Tensor zeros_like(const Tensor& t) { return zeros(t.shape()); }
Tensor ones_like(const Tensor& t) { return ones(t.shape()); }

}  // namespace qkv
