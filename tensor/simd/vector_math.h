// The inner loops of training over contiguous float arrays: exp inside softmax, the normal distribution Phi
// (erf) inside GELU and its backward, and the row reductions (max, sums in double, dot products) of softmax
// and layer norm. Internal to tensor/ (softmax.cpp, attention.cpp, elementwise.cpp and
// layer_norm.cpp call them on one row or one range at a time).
//
// Implementations behind each function, picked at run time like the GEMM micro-kernel (simd/isa.h):
//   AVX-512  (vector_math_avx512.cpp): the elementwise loops 16 lanes at a time, the AVX2 reductions;
//   AVX2+FMA (vector_math_avx2.cpp): 8 lanes at a time with polynomials fitted for float32
//            (docs/derivations/vector_math.md shows the fits and their measured errors);
//   portable (vector_math.cpp): one element at a time with std::exp and std::erfc.
// All stay within a few float32 ulps of the exact value (tests/test_vector_math.cpp checks it against
// double-precision references). AVX-512 and AVX2 are bitwise equal (the same operations per element, the
// same 8 partial sums); portable differs from them in the last bits. Each is deterministic: an
// element's result depends only on its own inputs, and a reduction adds in one fixed order, so any split
// of the rows across threads gives the same bits.
// Leaves out: a general-purpose exp (kernels::exp is std::exp), other instruction sets.
#pragma once
#include <cstdint>

namespace qkv::kernels::vmath {

// max of x[0..n), n >= 1; NaN entries are skipped unless all are NaN (as std::max(max, x) in a loop).
float max(const float* x, int64_t n);

// y[j] = exp(x[j]) for x[j] <= 0 or NaN; -inf gives exactly 0. y may be x. Elementwise: a value gets the
// same bits wherever it sits, so one call over many softmax rows equals one call per row.
void exp_nonpositive(const float* x, float* y, int64_t n);

// The sum of x[0..n), accumulated in double in a fixed order (so the same values give the same bits).
double sum(const float* x, int64_t n);

// y[j] = exp(x[j] - shift) and returns sum(y): softmax's middle pass, where shift is the lane's max so
// every x[j] - shift is <= 0. The three steps above, in order.
double exp_shifted_sum(const float* x, float shift, float* y, int64_t n);

// The sum of (x[j] - mean)^2, each term and the sum in double: layer norm's variance (two passes, mean
// first, so no cancellation as in E[x^2] - E[x]^2).
double sum_sq_dev(const float* x, double mean, int64_t n);

// sum of a[j] * b[j] (each product in float), accumulated in double: softmax's and layer norm's backward.
double dot(const float* a, const float* b, int64_t n);

// cdf[j] = Phi(x[j]) = (1 + erf(x[j] / sqrt 2)) / 2, the standard normal's distribution function.
void normal_cdf(const float* x, float* cdf, int64_t n);

// GELU forward: cdf[j] = Phi(x[j]) and y[j] = x[j] * cdf[j] (kept for the backward).
void gelu(const float* x, float* y, float* cdf, int64_t n);

// GELU backward: dx[j] = g[j] * (cdf[j] + x[j] phi(x[j])), phi(x) = exp(-x^2 / 2) / sqrt(2 pi).
void gelu_backward(const float* g, const float* x, const float* cdf, float* dx, int64_t n);

// Which loops run (portable, AVX2 or AVX-512) is simd::active_isa() (tensor/simd/isa.h), checked on every call.

}  // namespace qkv::kernels::vmath
