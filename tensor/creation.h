// Making tensors: constants, ranges, lists, and random draws from the seeded global generator.
#pragma once
#include "tensor/random.h"
#include "tensor/tensor.h"

namespace qkv {

Tensor zeros(const Shape& shape);
Tensor ones(const Shape& shape);
Tensor full(const Shape& shape, float value);
Tensor scalar(float value);                              // 0-d
Tensor tensor(std::vector<float> values, Shape shape);   // throws unless sizes agree
Tensor tensor(std::vector<float> values);                // 1-D
Tensor arange(float end);                                // 0, 1, ..., < end
Tensor arange(float start, float end, float step = 1);   // start, start+step, ..., < end (> end if step < 0)
Tensor rand(const Shape& shape, Generator& gen = default_generator());   // uniform in [0, 1)
Tensor randn(const Shape& shape, Generator& gen = default_generator());  // standard normal
Tensor uniform(const Shape& shape, float lo, float hi, Generator& gen = default_generator());
Tensor zeros_like(const Tensor& t);
Tensor ones_like(const Tensor& t);

}  // namespace qkv
