// Private to tensor/simd/: the AVX2+FMA versions of vector_math.h's functions (vector_math_avx2.cpp, the
// only file of them compiled with -mavx2 -mfma). vector_math.cpp calls them only when the active
// instruction set is AVX2 (isa.h); each gives the bits vector_math.h promises for that path.
#pragma once
#include <cstdint>

#if QKV_HAVE_X86_KERNELS
namespace qkv::kernels::vmath::avx2 {

float max(const float* x, int64_t n);
void exp_nonpositive(const float* x, float* y, int64_t n);
double sum(const float* x, int64_t n);
double sum_sq_dev(const float* x, double mean, int64_t n);
double dot(const float* a, const float* b, int64_t n);
void normal_cdf(const float* x, float* cdf, int64_t n);
void gelu(const float* x, float* y, float* cdf, int64_t n);
void gelu_backward(const float* g, const float* x, const float* cdf, float* dx, int64_t n);

}  // namespace qkv::kernels::vmath::avx2
#endif
