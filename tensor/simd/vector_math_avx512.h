// Private to tensor/simd/: the AVX-512 versions of vector_math.h's elementwise loops
// (vector_math_avx512.cpp). vector_math.cpp calls them only when the active instruction set is AVX-512
// (isa.h); each gives the same bits as its AVX2 version.
#pragma once
#include <cstdint>

#if QKV_HAVE_X86_KERNELS
namespace qkv::kernels::vmath::avx512 {

void exp_nonpositive(const float* x, float* y, int64_t n);
void normal_cdf(const float* x, float* cdf, int64_t n);
void gelu(const float* x, float* y, float* cdf, int64_t n);
void gelu_backward(const float* g, const float* x, const float* cdf, float* dx, int64_t n);

}  // namespace qkv::kernels::vmath::avx512
#endif
