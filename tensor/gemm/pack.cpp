// Packing for the blocked GEMM (see pack.h): copies of op(A) and op(B) blocks into the contiguous
// slivers the micro-kernel walks, so that its loads are sequential whatever the strides and transposes.
#include "tensor/gemm/pack.h"

#include <algorithm>
#include <cstring>
#include <string>

#include "tensor/error.h"
#include "tensor/gemm/micro_kernel.h"

namespace qkv::gemm_detail {
namespace {

// Interleaves `Width` lines of source, each read along k, into a kc x Width sliver:
// out[k * Width + w] = first[w * stride + k]. Reads Width streams in step; writes in order.
template <int64_t Width>
void interleave_lines(const float* first, int64_t stride, int64_t kc, float* out) {
  const float* line[Width];
  for (int64_t w = 0; w < Width; ++w) line[w] = first + w * stride;
  for (int64_t k = 0; k < kc; ++k)
    for (int64_t w = 0; w < Width; ++w) out[k * Width + w] = line[w][k];
}
// The same for a width known at run time: compiled for the kernels' MR and NR (micro_kernel.h), so the
// inner loop has a fixed trip count.
void interleave(int64_t width, const float* first, int64_t stride, int64_t kc, float* out) {
  switch (width) {
    case 6: return interleave_lines<6>(first, stride, kc, out);
    case 14: return interleave_lines<14>(first, stride, kc, out);
    case 16: return interleave_lines<16>(first, stride, kc, out);
    case 32: return interleave_lines<32>(first, stride, kc, out);
    default:
      for (int64_t k = 0; k < kc; ++k)
        for (int64_t w = 0; w < width; ++w) out[k * width + w] = first[w * stride + k];
  }
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
      for (int64_t k = 0; k < kc; ++k)
        std::memcpy(out + k * mr, g.A + (pc + k) * g.lda + ic + ir, sizeof(float) * mr);
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
    // Row k of every full sliver is NR contiguous floats of B. Walking B row by row reads it in order,
    // which the hardware prefetcher follows.
    for (int64_t k = 0; k < kc; ++k) {
      const float* b_row = g.B + (pc + k) * g.ldb + jc;
      for (int64_t jr = 0; jr < full_cols; jr += nr)
        std::memcpy(out + jr * kc + k * nr, b_row + jr, sizeof(float) * nr);
    }
  } else {  // B stored N x K: NR rows of B, each read along k
    for (int64_t jr = 0; jr < full_cols; jr += nr)
      interleave(nr, g.B + (jc + jr) * g.ldb + pc, g.ldb, kc, out + jr * kc);
  }
  if (full_cols < nc) {  // the right edge: zeros, then the columns there are, one at a time
    float* edge = out + full_cols * kc;
    std::fill_n(edge, kc * nr, 0.0f);
    for (int64_t j = 0; j < nc - full_cols; ++j)
      copy_line(g.B, g.ldb, g.trans_b, jc + full_cols + j, pc, kc, nr, edge + j);
  }
}
}  // namespace qkv::gemm_detail
