// Packing for the blocked GEMM (see pack.h): copies of op(A) and op(B) blocks into the contiguous
// slivers the micro-kernel walks, so that its loads are sequential whatever the strides and transposes.
#include "tensor/gemm/pack.h"

#include <algorithm>
#include <cstring>
#include <string>
#include <type_traits>

#include "tensor/error.h"
#include "tensor/gemm/micro_kernel.h"
#include "tensor/simd/isa.h"

namespace qkv::gemm_detail {
namespace {

// Calls fn(width) with the width as a compile-time constant when it is one of the kernels' MR and NR
// (micro_kernel.h), so the loops inside have fixed trip counts and fixed-size copies; else as it is.
template <class F>
void with_fixed_width(int64_t width, F fn) {
  switch (width) {
    case 6: return fn(std::integral_constant<int64_t, 6>{});
    case 14: return fn(std::integral_constant<int64_t, 14>{});
    case 16: return fn(std::integral_constant<int64_t, 16>{});
    case 32: return fn(std::integral_constant<int64_t, 32>{});
    default: return fn(width);
  }
}

#if QKV_HAVE_X86_KERNELS
// A transposing copy of `lines` lines into a sliver `width` wide (lines <= width; the columns past them are
// zeros), as groups of G lines, each by `group` (interleave16_avx512 or interleave8_avx2, pack.h).
using GroupCopy = void (*)(const float*, int64_t, int64_t, int64_t, float*, int64_t, int64_t);
template <int64_t G>
void in_groups(GroupCopy group, int64_t lines, const float* first, int64_t stride, int64_t kc, float* out,
               int64_t width) {
  for (int64_t w0 = 0; w0 < width; w0 += G) {
    const int64_t here = std::clamp<int64_t>(lines - w0, 0, G);
    group(first + w0 * stride, stride, here, kc, out + w0, width, std::min<int64_t>(width - w0, G));
  }
}
#endif

// Interleaves `width` lines of source, each read along k, into a kc x width sliver:
// out[k * width + w] = first[w * stride + k]. Reads `width` streams in step; writes in order. The AVX-512
// kernel's widths with 16 x 16 transposes in registers (pack_avx512.cpp: 5.6% -> 3.7% of a character GPT's
// training step, 1 thread), the AVX2 kernel's with 8 x 8 ones (pack_avx2.cpp).
void interleave(int64_t width, const float* first, int64_t stride, int64_t kc, float* out) {
#if QKV_HAVE_X86_KERNELS
  const simd::Isa isa = simd::active_isa();
  if ((width == 14 || width == 32) && isa == simd::Isa::avx512)
    return in_groups<16>(interleave16_avx512, width, first, stride, kc, out, width);
  if ((width == 6 || width == 16) && isa == simd::Isa::avx2)
    return in_groups<8>(interleave8_avx2, width, first, stride, kc, out, width);
#endif
  with_fixed_width(width, [&](auto w) {
    for (int64_t k = 0; k < kc; ++k)
      for (int64_t i = 0; i < w; ++i) out[k * w + i] = first[i * stride + k];
  });
}

// kc rows of `width` contiguous floats, `stride` apart, into a kc x width sliver. With the width a constant
// each row is a few vector moves, not a call of memcpy (the rows are 24..128 bytes).
void copy_rows(int64_t width, const float* first, int64_t stride, int64_t kc, float* out) {
  with_fixed_width(width, [&](auto w) {
    for (int64_t k = 0; k < kc; ++k) std::memcpy(out + k * w, first + k * stride, sizeof(float) * w);
  });
}

// Copies line `line` of an operand, elements first..first+count along k, to out[0], out[width],
// out[2 * width], ...: one row of a sliver's edge. The line runs along k in memory (stride 1) when
// `along_k`, else across it (stride ld), e.g. a column of a row-major B.
void copy_line(const float* x, int64_t ld, bool along_k, int64_t line, int64_t first, int64_t count,
               int64_t width, float* out) {
  const float* p = along_k ? x + line * ld + first : x + first * ld + line;
  const int64_t step = along_k ? 1 : ld;
  for (int64_t k = 0; k < count; ++k) out[k * width] = p[k * step];
}

}  // namespace

void AlignedBuffer::out_of_memory(size_t bytes) {
  fail("gemm", "out of memory for a packing buffer of " + std::to_string(bytes) + " bytes");
}

AlignedBuffer& packed_a_buffer() {
  thread_local AlignedBuffer buffer;
  return buffer;
}
AlignedBuffer& packed_b_buffer() {
  thread_local AlignedBuffer buffer;
  return buffer;
}

// pack_a: the mc x kc block op(A)[ic:ic+mc, pc:pc+kc] -> ceil(mc/mr) slivers, each kc x mr (see
// micro_kernel.h). Rows past mc are zeros, so the micro-kernel never needs to know about the edge.
void pack_a(const GemmArgs& g, int64_t ic, int64_t mc, int64_t pc, int64_t kc, int64_t mr, float* out) {
  for (int64_t ir = 0; ir < mc; ir += mr, out += kc * mr) {
    const int64_t rows = std::min(mr, mc - ir);
    if (rows == mr && !g.trans_a) {  // MR rows of A, each read along k
      interleave(mr, g.A + (ic + ir) * g.lda + pc, g.lda, kc, out);
    } else if (rows == mr) {  // A stored K x M: column k of the sliver is MR contiguous floats
      copy_rows(mr, g.A + pc * g.lda + ic + ir, g.lda, kc, out);
    } else {  // the bottom edge: zeros, then the rows there are, one at a time
      std::fill_n(out, kc * mr, 0.0f);
      for (int64_t i = 0; i < rows; ++i) copy_line(g.A, g.lda, !g.trans_a, ic + ir + i, pc, kc, mr, out + i);
    }
  }
}

// pack_b: the kc x nc panel op(B)[pc:pc+kc, jc:jc+nc] -> ceil(nc/nr) slivers, each kc x nr. Columns past
// nc are zeros.
void pack_b(const GemmArgs& g, int64_t pc, int64_t kc, int64_t jc, int64_t nc, int64_t nr, float* out) {
  const int64_t full_cols = nc / nr * nr;
  if (!g.trans_b) {
    // Row k of every full sliver is NR contiguous floats of B: one sliver after another, each a walk down
    // NR columns of B.
    for (int64_t jr = 0; jr < full_cols; jr += nr)
      copy_rows(nr, g.B + pc * g.ldb + jc + jr, g.ldb, kc, out + jr * kc);
  } else {  // B stored N x K: NR rows of B, each read along k
    for (int64_t jr = 0; jr < full_cols; jr += nr)
      interleave(nr, g.B + (jc + jr) * g.ldb + pc, g.ldb, kc, out + jr * kc);
  }
  if (full_cols == nc) return;
  // The right edge: the columns there are, then zeros. (Attention's short heads are all edge: 12 keys of 16
  // dimensions, Q Kᵀ packs Kᵀ into one 12-column sliver.)
  float* edge = out + full_cols * kc;
  const int64_t cols = nc - full_cols;
  if (!g.trans_b) {  // row k of the sliver: `cols` contiguous floats of B's row, then the padding
    for (int64_t k = 0; k < kc; ++k) {
      const float* row = g.B + (pc + k) * g.ldb + jc + full_cols;
      std::copy_n(row, cols, edge + k * nr);
      std::fill(edge + k * nr + cols, edge + (k + 1) * nr, 0.0f);
    }
    return;
  }
#if QKV_HAVE_X86_KERNELS
  const float* lines = g.B + (jc + full_cols) * g.ldb + pc;  // `cols` rows of B, each read along k
  if (simd::active_isa() == simd::Isa::avx512)
    return in_groups<16>(interleave16_avx512, cols, lines, g.ldb, kc, edge, nr);
  if (simd::active_isa() == simd::Isa::avx2)
    return in_groups<8>(interleave8_avx2, cols, lines, g.ldb, kc, edge, nr);
#endif
  std::fill_n(edge, kc * nr, 0.0f);
  for (int64_t j = 0; j < cols; ++j)
    copy_line(g.B, g.ldb, /*along_k=*/true, jc + full_cols + j, pc, kc, nr, edge + j);
}
}  // namespace qkv::gemm_detail
