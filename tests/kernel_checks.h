// Helpers shared by the kernel tests: compare a tensor with expected shape and values, and a central
// difference in double for checking backward kernels by hand.
#pragma once
#include <cmath>
#include <functional>
#include <vector>

#include "helpers.h"

namespace qkv::testing {

// shape and every value, within an absolute tolerance (inf equals inf of the same sign).
inline void check_values(const Tensor& t, const Shape& shape, const std::vector<float>& expected,
                         float tol = 1e-6f) {
  REQUIRE(to_string(t.shape()) == to_string(shape));
  REQUIRE(t.numel() == static_cast<int64_t>(expected.size()));
  for (size_t i = 0; i < expected.size(); ++i) {
    INFO("element " << i << ": got " << t.data()[i] << ", expected " << expected[i]);
    if (std::isinf(expected[i]))
      CHECK(t.data()[i] == expected[i]);
    else
      CHECK(std::abs(t.data()[i] - expected[i]) <= tol);
  }
}

// d f / d x[i] by central differences, with f evaluated on x perturbed in place (x is restored).
inline double central_difference(Tensor& x, int64_t i, const std::function<double()>& f, float h = 1e-2f) {
  float* p = x.mutable_data();
  const float saved = p[i];
  p[i] = saved + h;
  const double up = f();
  p[i] = saved - h;
  const double down = f();
  p[i] = saved;
  return (up - down) / (2.0 * static_cast<double>(h));
}

}  // namespace qkv::testing
