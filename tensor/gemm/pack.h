// Private to tensor/gemm/: packing for the blocked GEMM (pack.cpp) and the element access it
// and the naive loop share. pack_a / pack_b copy a block of op(A) / op(B) into the slivers the
// micro-kernel reads (layout in micro_kernel.h), zero-padded at the edges. Not a public header.
#pragma once
#include <cstdint>
#include <cstdlib>
#include <memory>

#include "tensor/gemm/gemm.h"

namespace qkv::gemm_detail {

// op(A)(i, k) and op(B)(k, j), read through the transpose flags from the arrays as stored.
inline float op_a(const GemmArgs& g, int64_t i, int64_t k) {
  return g.trans_a ? g.A[k * g.lda + i] : g.A[i * g.lda + k];
}
inline float op_b(const GemmArgs& g, int64_t k, int64_t j) {
  return g.trans_b ? g.B[j * g.ldb + k] : g.B[k * g.ldb + j];
}

// A growable 64-byte-aligned float buffer; one pair per thread, reused across calls.
struct AlignedBuffer {
  struct Free {
    void operator()(float* p) const { std::free(p); }
  };
  std::unique_ptr<float, Free> data;
  int64_t capacity = 0;

  float* get(int64_t n) {
    if (n > capacity) {
      const size_t bytes = (static_cast<size_t>(n) * sizeof(float) + 63) / 64 * 64;
      data.reset(static_cast<float*>(std::aligned_alloc(64, bytes)));
      if (!data) out_of_memory(bytes);
      capacity = n;
    }
    return data.get();
  }
  [[noreturn]] static void out_of_memory(size_t bytes);  // throws, naming gemm and the size
};

// One pair per thread, reused across calls.
AlignedBuffer& packed_a_buffer();
AlignedBuffer& packed_b_buffer();

// The mc x kc block op(A)[ic:ic+mc, pc:pc+kc] -> ceil(mc/mr) slivers, each kc x mr. Rows past mc are zeros,
// so the micro-kernel never needs to know about the edge. mr and nr are the kernel's (micro_kernel.h).
void pack_a(const GemmArgs& g, int64_t ic, int64_t mc, int64_t pc, int64_t kc, int64_t mr, float* out);
// The kc x nc panel op(B)[pc:pc+kc, jc:jc+nc] -> ceil(nc/nr) slivers, each kc x nr. Columns past nc are zeros.
void pack_b(const GemmArgs& g, int64_t pc, int64_t kc, int64_t jc, int64_t nc, int64_t nr, float* out);

#if QKV_HAVE_X86_KERNELS
// The transposing copy of one group of at most G lines, with G x G transposes in registers (pack.cpp cuts a
// sliver into groups): out[k * width + w] = first[w * stride + k] for k < kc and w < lines, and 0 for
// lines <= w < columns (an edge sliver's padding); columns <= G.
// pack_avx512.cpp, G = 16: call only when simd::cpu_supports(Isa::avx512).
void interleave16_avx512(const float* first, int64_t stride, int64_t lines, int64_t kc, float* out,
                         int64_t width, int64_t columns);
// pack_avx2.cpp, G = 8: call only when simd::cpu_supports(Isa::avx2).
void interleave8_avx2(const float* first, int64_t stride, int64_t lines, int64_t kc, float* out,
                      int64_t width, int64_t columns);
#endif

}  // namespace qkv::gemm_detail
