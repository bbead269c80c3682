// The portable GEMM micro-kernel: the same blocks of tiles as the AVX2 kernel (micro_kernel_avx2.cpp, see MicroTile
// in micro_kernel.h), in plain C++ that the compiler vectorises with whatever the baseline target has (SSE2
// on x86-64, NEON on arm64). Used on CPUs without AVX2+FMA, and by the tests to check the driver again.
// Its bits differ from the x86 kernels': acc += a * b rounds the product and then the sum (the baseline
// x86-64 target has no fused multiply-add; on ARM64 the compiler may fuse them, as NEON has one).
#include "tensor/gemm/micro_kernel.h"

namespace qkv::gemm_detail {
namespace {

constexpr int64_t kMR = 6;
constexpr int64_t kNR = 16;

void micro_kernel_portable(const MicroTile& t) {
  for_each_row_tile(t.rows, kMR, [&](int64_t i, int64_t rows) {
    for (int64_t s = 0; s < t.tiles; ++s) {
      float acc[kMR][kNR] = {};
      const float* a = t.a + i * t.a_row_stride + s * t.a_step;
      const float* b = t.b + s * t.b_step;
      for (int64_t k = 0; k < t.kc; ++k, a += t.a_col_stride, b += t.b_row_stride)
        for (int64_t r = 0; r < rows; ++r)
          for (int64_t j = 0; j < kNR; ++j) acc[r][j] += a[r * t.a_row_stride] * b[j];
      store_tile(t, i, s, rows, kNR, &acc[0][0], kNR);
    }
  });
}

}  // namespace

const Kernel kPortableKernel{micro_kernel_portable, kMR, kNR};

}  // namespace qkv::gemm_detail
