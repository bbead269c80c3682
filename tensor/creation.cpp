// Tensor creation (see creation.h).
#include "tensor/creation.h"

#include <cmath>

#include "tensor/value_text.h"

namespace qkv {

Tensor zeros(const Shape& shape) { return Tensor(shape, 0.0f, "zeros"); }
Tensor ones(const Shape& shape) { return Tensor(shape, 1.0f, "ones"); }
Tensor full(const Shape& shape, float value) { return Tensor(shape, value, "full"); }
Tensor scalar(float value) { return Tensor(Shape{}, value, "scalar"); }
Tensor tensor(std::vector<float> values, Shape shape) {
  return Tensor(std::move(shape), std::move(values), "tensor");
}
Tensor tensor(std::vector<float> values) {
  const auto n = static_cast<int64_t>(values.size());
  return Tensor(Shape{n}, std::move(values), "tensor");
}
Tensor arange(float end) { return arange(0, end, 1); }

Tensor arange(float start, float end, float step) {
  using kernels::value_text;
  const std::string range =
      "start=" + value_text(start) + " end=" + value_text(end) + " step=" + value_text(step);
  if (step == 0 || !std::isfinite(start) || !std::isfinite(end) || !std::isfinite(step))
    fail("arange", "bad range " + range);
  // The count is checked as a double: casting one past 2^63 to int64 is undefined.
  const double count = std::max(0.0, std::ceil((double(end) - start) / step));
  if (count >= 0x1p63)
    fail("arange",
         "range " + range + " has " + value_text(float(count)) + " elements, more than int64 can count");
  const auto n = static_cast<int64_t>(count);
  Tensor t = Tensor::empty({n}, "arange");
  float* v = t.mutable_data();
  for (int64_t i = 0; i < n; ++i) v[i] = static_cast<float>(start + i * double(step));
  return t;
}

namespace {
// Uniform in [lo, hi); `op` is the function the user called, for errors.
Tensor uniform_named(const char* op, const Shape& shape, float lo, float hi, Generator& gen) {
  Tensor t = Tensor::empty(shape, op);
  float* p = t.mutable_data();
  gen.fill_uniform(p, t.numel());
  for (int64_t i = 0; i < t.numel(); ++i) p[i] = lo + (hi - lo) * p[i];
  return t;
}
}  // namespace

Tensor rand(const Shape& shape, Generator& gen) { return uniform_named("rand", shape, 0, 1, gen); }
Tensor uniform(const Shape& shape, float lo, float hi, Generator& gen) {
  return uniform_named("uniform", shape, lo, hi, gen);
}

Tensor randn(const Shape& shape, Generator& gen) {
  Tensor t = Tensor::empty(shape, "randn");
  float* p = t.mutable_data();
  for (int64_t i = 0; i < t.numel(); ++i) p[i] = gen.normal();
  return t;
}

Tensor zeros_like(const Tensor& t) { return zeros(t.shape()); }
Tensor ones_like(const Tensor& t) { return ones(t.shape()); }

}  // namespace qkv
