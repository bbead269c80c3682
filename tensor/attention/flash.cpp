// Flash attention's forward (FlashAttention-2, Dao 2023), the public entry points of both halves, and the
// one place that picks a kernel. Per (b, h) and query block Q_i [Br,Dh], walk the key/value blocks
// K_j, V_j [Bc,Dh] keeping, per query row, a running max m, a running sum l and an unnormalised output o:
//   S = scale Q_i K_j^T (masked)        [Br,Bc]
//   m' = max(m, rowmax S),  P = exp(S - m'),  alpha = exp(m - m')
//   l = alpha l + rowsum P,  o = alpha o + (P * dropout mask) V_j
// and at the end out = o / l, lse = m + log l. docs/13-flash-attention.md derives why this is softmax.
// Leaves out: the weights (never formed: ask the materialised kernel for pictures).
#include "tensor/attention/flash.h"

#include <cmath>
#include <vector>

#include "tensor/error.h"
#include "tensor/gemm/gemm.h"
#include "tensor/parallel.h"
#include "tensor/simd/vector_math.h"

namespace qkv::kernels {
namespace flash {
namespace {

// One query block of head (b, h): rows t0 .. t0+rows-1 of out and lse.
void forward_block(const Heads& s, const float* qd, const float* kd, const float* vd, const Masks& m,
                   int64_t b, int64_t h, int64_t t0, int64_t rows, float* od, float* lse) {
  constexpr int64_t Br = kQueryBlock, Bc = kKeyBlock;
  // Scratch, a few blocks per thread: scores [Br,Bc], o [Br,Dv], and per row m, l, alpha.
  thread_local std::vector<float> scratch;
  scratch.assign(Br * Bc + Br * s.Dv + 2 * Br, 0.0f);
  float* scores = scratch.data();
  float* o = scores + Br * Bc;
  float* row_max = o + Br * s.Dv;
  float* alpha = row_max + Br;
  std::fill(row_max, row_max + Br, kNegInf);
  double row_sum[Br] = {};
  // The keys any row of the block sees: under the causal mask, blocks past the last row's diagonal are
  // never visited (key_end grows with t).
  const int64_t key_end = m.key_end(b, t0 + rows - 1);
  for (int64_t s0 = 0; s0 < key_end; s0 += Bc) {
    const int64_t n = std::min(Bc, key_end - s0);
    // S = Q_i K_j^T: [rows,Dh] @ [n,Dh]^T -> [rows,n], both read in place
    rows_times_rows_t(rows, n, s.Dh, qd + s.q_at(b, h) + t0 * s.q_ld, s.q_ld, kd + s.k_at(b, h) + s0 * s.k_ld,
                      s.k_ld, scores, Bc);
    for (int64_t r = 0; r < rows; ++r) {  // scale, mask, and shift by the new running max
      float* x = scores + r * Bc;
      m.scale_and_mask(b, t0 + r, s0, n, x);
      std::fill(x + n, x + Bc, kNegInf);  // the last block's unused columns: exp gives 0
      const float new_max = std::max(row_max[r], vmath::max(x, n));
      alpha[r] = 1;
      if (new_max == kNegInf) continue;           // every key so far masked: the row stays -inf, P = 0
      alpha[r] = std::exp(row_max[r] - new_max);  // 0 on the first visible block
      for (int64_t c = 0; c < n; ++c) x[c] -= new_max;
      row_max[r] = new_max;
    }
    // P = exp(S - m'), over the whole block at once (independent work for the vector units)
    vmath::exp_nonpositive(scores, scores, rows * Bc);
    for (int64_t r = 0; r < rows; ++r) {  // l = alpha l + rowsum P;  o = alpha o;  P *= dropout mask
      float* x = scores + r * Bc;
      row_sum[r] = alpha[r] * row_sum[r] + vmath::sum(x, n);
      if (alpha[r] != 1)
        for (int64_t d = 0; d < s.Dv; ++d) o[r * s.Dv + d] *= alpha[r];
      if (m.dropout.p > 0) m.apply_dropout(b, h, t0 + r, s0, n, x);
    }
    // o += P V_j: [rows,n] @ [n,Dv] -> [rows,Dv]
    gemm({.M = rows,
          .N = s.Dv,
          .K = n,
          .A = scores,
          .lda = Bc,  //
          .B = vd + s.v_at(b, h) + s0 * s.v_ld,
          .ldb = s.v_ld,
          .C = o,
          .ldc = s.Dv,
          .accumulate = true});
  }
  // out = o / l; lse = m + log l. A fully masked row (l = 0) gives out 0 and lse -inf, never NaN.
  for (int64_t r = 0; r < rows; ++r) {
    float* out_row = od + s.out_at(b, h) + (t0 + r) * s.out_ld();
    const bool empty = row_sum[r] == 0;
    const auto inv = empty ? 0.0f : static_cast<float>(1.0 / row_sum[r]);
    for (int64_t d = 0; d < s.Dv; ++d) out_row[d] = o[r * s.Dv + d] * inv;
    lse[t0 + r] = empty ? kNegInf : row_max[r] + static_cast<float>(std::log(row_sum[r]));
  }
}

}  // namespace

void forward_heads(const Heads& s, const float* qd, const float* kd, const float* vd, const Masks& m,
                   float* od, float* lsed) {
  // Work items (b, h, query block), each written by one thread alone: the same bits for any count.
  const int64_t blocks = (s.T + kQueryBlock - 1) / kQueryBlock;
  const int64_t per_item = std::max<int64_t>(1, kQueryBlock * s.S * (s.Dh + s.Dv));
  parallel_for(s.B * s.H * blocks, std::max<int64_t>(1, 100000 / per_item), [&](int64_t begin, int64_t end) {
    for (int64_t u = begin; u < end; ++u) {
      const int64_t b = u / (s.H * blocks), h = u / blocks % s.H;
      const int64_t t0 = balanced(u % blocks, blocks) * kQueryBlock;
      float* lse = lsed + (b * s.H + h) * s.T;
      const int64_t rows = std::min(kQueryBlock, s.T_of(b) - t0);
      // A ragged sequence shorter than T has no rows here: its lse entries stay -inf.
      if (rows <= 0) {
        std::fill(lse + t0, lse + std::min(s.T, t0 + kQueryBlock), kNegInf);
        continue;
      }
      std::fill(lse + t0 + rows, lse + std::min(s.T, t0 + kQueryBlock), kNegInf);
      forward_block(s, qd, kd, vd, m, b, h, t0, rows, od, lse);
    }
  });
}

}  // namespace flash

namespace {

FlashForward run_forward(const Heads& s, const float* qd, const float* kd, const float* vd,
                         const Tensor& keep, bool causal, float scale, const AttentionDropout& dropout) {
  FlashForward f{Tensor::empty(s.out_shape()), Tensor::empty({s.B, s.H, s.T})};
  const flash::Masks m(s, keep, causal, scale, dropout);
  flash::forward_heads(s, qd, kd, vd, m, f.out.mutable_data(), f.lse.mutable_data());
  return f;
}

}  // namespace

FlashForward flash_attention_forward(const Tensor& q, const Tensor& k, const Tensor& v, int64_t H,
                                     const Tensor& keep, bool causal, float scale,
                                     const AttentionDropout& dropout, const RaggedRows* ragged) {
  const Heads s = check_heads("flash_attention_forward", q, k, v, H, ragged);
  check_keep_and_dropout("flash_attention_forward", s, keep, dropout);
  return run_forward(s, q.data(), k.data(), v.data(), keep, causal, scale, dropout);
}

FlashForward flash_attention_forward_packed(const Tensor& qkv, int64_t H, const Tensor& keep, bool causal,
                                            float scale, const AttentionDropout& dropout,
                                            const RaggedRows* ragged) {
  const Heads s = packed_heads("flash_attention_forward_packed", qkv, H, ragged);
  check_keep_and_dropout("flash_attention_forward_packed", s, keep, dropout);
  return run_forward(s, qkv.data(), qkv.data(), qkv.data(), keep, causal, scale, dropout);
}

Tensor keep_with_causal(const Tensor& keep, int64_t T, int64_t S) {
  const int64_t B = keep.defined() ? keep.size(0) : 1;
  Tensor dense = Tensor::empty({B, T, S});
  const KeepRows rows(keep);
  float* d = dense.mutable_data();
  for (int64_t b = 0; b < B; ++b)
    for (int64_t t = 0; t < T; ++t)
      for (int64_t j = 0; j < S; ++j) {
        const float* kept = rows.row(b, t);
        d[(b * T + t) * S + j] = j <= t + S - T && (!kept || kept[j] != 0) ? 1.0f : 0.0f;
      }
  return dense;
}

// The rule (measured with examples/bench_attention, docs/13-flash-attention.md): the weights, when
// asked for, exist only in the materialised kernel; otherwise flash runs once a head's score map has
// kFlashFromScores entries or more, where it was measured faster (below, the materialised kernel's few
// large GEMMs beat many small ones). Tests and benchmarks may ask for a kernel by name.
AttentionKernel choose_attention_kernel(const AttentionSizes& s, bool need_weights,
                                        AttentionKernel requested) {
  constexpr int64_t kFlashFromScores = 256 * 256;
  if (requested == AttentionKernel::flash && need_weights)
    fail("attention", "the flash kernel stores no attention weights: ask for the materialised kernel");
  if (requested != AttentionKernel::automatic) return requested;
  if (need_weights) return AttentionKernel::materialised;
  return s.T * s.S >= kFlashFromScores ? AttentionKernel::flash : AttentionKernel::materialised;
}

}  // namespace qkv::kernels
