// Flash attention's backward (FlashAttention-2): no [T,S] map is stored, so each block of probabilities
// is recomputed from the forward's log-sum-exp, P = exp(scale Q_i K_j^T - lse), and the softmax backward
// uses D = rowsum(dO * O) instead of a row of the weights (docs/13-flash-attention.md derives both):
//   dV_j += (P * mask)^T dO_i          dP = (dO_i V_j^T) * mask
//   dS    = scale P * (dP - D)         dQ_i += dS K_j,   dK_j += dS^T Q_i
// dK_j, dV_j sum over the query blocks and dQ_i over the key blocks, always in increasing order. With
// enough heads, one thread takes a whole (b, h); with fewer heads than threads, one pass splits the keys
// (dK, dV) and a second the queries (dQ), recomputing P and dS: the same sums in the same order, so the
// same bits for any thread count.
// Leaves out: atomics (GPU kernels add dQ that way; the order, and so the bits, would vary).
#include "tensor/attention/flash.h"

#include <vector>

#include "tensor/gemm/gemm.h"
#include "tensor/parallel.h"
#include "tensor/simd/vector_math.h"

namespace qkv::kernels {
namespace flash {
namespace {

constexpr int64_t Br = kQueryBlock, Bc = kKeyBlock;

struct Backward {
  const Heads& s;
  const Masks& m;
  const float *dout, *qd, *kd, *vd, *lsed, *Dd;  // lsed, Dd: [B,H,T]
  float *dqd, *dkd, *dvd;

  // The keys [0, key_end) that some query of sequence b sees; the others keep dK = dV = 0.
  int64_t key_end(int64_t b) const { return s.T_of(b) == 0 ? 0 : m.key_end(b, s.T_of(b) - 1); }
  // The first query block that sees key block s0: causal skips the blocks entirely above the diagonal.
  int64_t first_query_block(int64_t s0) const {
    return m.causal ? std::max<int64_t>(0, s0 - (s.S - s.T)) / Br * Br : 0;
  }

  // The gradients query block t0.. (rows) and key block s0.. (n keys) of head (b, h) contribute: dK_j and
  // dV_j when keys_values, dQ_i when queries.
  void pair(int64_t b, int64_t h, int64_t t0, int64_t rows, int64_t s0, int64_t n, bool keys_values,
            bool queries) const {
    const bool dropout = m.dropout.p > 0;
    thread_local std::vector<float> scratch;  // P, dP (then dS) and P * mask [Br,Bc]
    scratch.resize(3 * Br * Bc);
    float *p = scratch.data(), *dp = p + Br * Bc, *dropped = dropout ? dp + Br * Bc : p;
    const float* lse = lsed + (b * s.H + h) * s.T;
    const float* D = Dd + (b * s.H + h) * s.T;
    const float* q = qd + s.q_at(b, h) + t0 * s.q_ld;
    const float* k = kd + s.k_at(b, h) + s0 * s.k_ld;
    const float* v = vd + s.v_at(b, h) + s0 * s.v_ld;
    const float* dy = dout + s.out_at(b, h) + t0 * s.out_ld();
    // forward was: S = scale Q_i K_j^T masked, P = exp(S - lse)   [rows,n]
    rows_times_rows_t(rows, n, s.Dh, q, s.q_ld, k, s.k_ld, p, Bc);
    for (int64_t r = 0; r < rows; ++r) {
      float* x = p + r * Bc;
      m.scale_and_mask(b, t0 + r, s0, n, x);
      const float row_lse = lse[t0 + r];  // -inf: a fully masked row, P = 0
      for (int64_t c = 0; c < n; ++c) x[c] = row_lse == kNegInf ? kNegInf : std::min(x[c] - row_lse, 0.0f);
      vmath::exp_nonpositive(x, x, n);
      if (dropout && keys_values) {
        std::copy(x, x + n, dropped + r * Bc);
        m.apply_dropout(b, h, t0 + r, s0, n, dropped + r * Bc);
      }
    }
    // forward was: out_i += (P * mask) V_j, so dV_j += (P * mask)^T dO_i: [rows,n]^T @ [rows,Dv] -> [n,Dv]
    if (keys_values)
      gemm({.M = n,
            .N = s.Dv,
            .K = rows,
            .A = dropped,
            .lda = Bc,
            .trans_a = true,
            .B = dy,
            .ldb = s.out_ld(),
            .C = dvd + s.v_at(b, h) + s0 * s.v_ld,
            .ldc = s.v_ld,
            .accumulate = true});
    // dP = dO_i V_j^T: [rows,Dv] @ [n,Dv]^T -> [rows,n], then through the mask and the softmax
    rows_times_rows_t(rows, n, s.Dv, dy, s.out_ld(), v, s.v_ld, dp, Bc);
    for (int64_t r = 0; r < rows; ++r) {  // dS = scale P (dP - D); masked keys have P = 0, so dS = 0
      float* g = dp + r * Bc;
      const float* pr = p + r * Bc;
      if (dropout) m.apply_dropout(b, h, t0 + r, s0, n, g);
      for (int64_t c = 0; c < n; ++c) g[c] = m.scale * (pr[c] * (g[c] - D[t0 + r]));
    }
    // dQ_i += dS K_j: [rows,n] @ [n,Dh] -> [rows,Dh];  dK_j += dS^T Q_i: [rows,n]^T @ [rows,Dh] -> [n,Dh]
    if (queries)
      gemm({.M = rows,
            .N = s.Dh,
            .K = n,
            .A = dp,
            .lda = Bc,
            .B = k,
            .ldb = s.k_ld,
            .C = dqd + s.q_at(b, h) + t0 * s.q_ld,
            .ldc = s.q_ld,
            .accumulate = true});
    if (keys_values)
      gemm({.M = n,
            .N = s.Dh,
            .K = rows,
            .A = dp,
            .lda = Bc,
            .trans_a = true,
            .B = q,
            .ldb = s.q_ld,
            .C = dkd + s.k_at(b, h) + s0 * s.k_ld,
            .ldc = s.k_ld,
            .accumulate = true});
  }

  // Key block s0 of head (b, h) against every query block that sees it: dK_j, dV_j (and dQ if asked).
  void key_block(int64_t b, int64_t h, int64_t s0, bool queries) const {
    const int64_t n = std::min(Bc, key_end(b) - s0), Tb = s.T_of(b);
    for (int64_t t0 = first_query_block(s0); t0 < Tb; t0 += Br)
      pair(b, h, t0, std::min(Br, Tb - t0), s0, n, true, queries);
  }

  // Query block t0 of head (b, h) against every key block it sees, in key_block's pairs: dQ_i only.
  void query_block(int64_t b, int64_t h, int64_t t0) const {
    const int64_t end = key_end(b), rows = std::min(Br, s.T_of(b) - t0);
    for (int64_t s0 = 0; s0 < end; s0 += Bc)
      if (t0 >= first_query_block(s0)) pair(b, h, t0, rows, s0, std::min(Bc, end - s0), false, true);
  }
};

}  // namespace

void backward_heads(const Heads& s, const float* dout, const float* qd, const float* kd, const float* vd,
                    const float* od, const float* lsed, const Masks& m, float* dqd, float* dkd, float* dvd) {
  const int64_t heads = s.B * s.H;
  // D = rowsum(dO * O) = sum_j P_tj dP_tj for every row, with or without dropout: [B,H,T], O(T) memory
  std::vector<float> D(static_cast<size_t>(heads * s.T), 0.0f);
  parallel_for(heads, 1, [&](int64_t begin, int64_t end) {
    for (int64_t u = begin; u < end; ++u) {
      const int64_t b = u / s.H, h = u % s.H;
      const float *dy = dout + s.out_at(b, h), *o = od + s.out_at(b, h);
      for (int64_t t = 0; t < s.T_of(b); ++t)
        D[u * s.T + t] = static_cast<float>(vmath::dot(dy + t * s.out_ld(), o + t * s.out_ld(), s.Dv));
    }
  });
  const Backward bw{s, m, dout, qd, kd, vd, lsed, D.data(), dqd, dkd, dvd};
  if (heads >= get_num_threads()) {  // a whole head per thread: every pair once
    parallel_for(heads, 1, [&](int64_t begin, int64_t end) {
      for (int64_t u = begin; u < end; ++u)
        for (int64_t s0 = 0; s0 < bw.key_end(u / s.H); s0 += Bc) bw.key_block(u / s.H, u % s.H, s0, true);
    });
    return;
  }
  // Fewer heads than threads: key blocks in one pass (dK, dV), query blocks in another (dQ).
  const int64_t key_blocks = (s.S + Bc - 1) / Bc, query_blocks = (s.T + Br - 1) / Br;
  parallel_for(heads * key_blocks, 1, [&](int64_t begin, int64_t end) {
    for (int64_t u = begin; u < end; ++u) {
      const int64_t b = u / key_blocks / s.H, h = u / key_blocks % s.H;
      const int64_t s0 = balanced(u % key_blocks, key_blocks) * Bc;
      if (s0 < bw.key_end(b)) bw.key_block(b, h, s0, false);
    }
  });
  parallel_for(heads * query_blocks, 1, [&](int64_t begin, int64_t end) {
    for (int64_t u = begin; u < end; ++u) {
      const int64_t b = u / query_blocks / s.H, h = u / query_blocks % s.H;
      const int64_t t0 = balanced(u % query_blocks, query_blocks) * Br;
      if (t0 < s.T_of(b)) bw.query_block(b, h, t0);
    }
  });
}

}  // namespace flash

namespace {

void check_saved(const char* op, const Heads& s, const Tensor& dout, const Tensor& out, const Tensor& lse) {
  check_dout(op, s, dout);
  check_dout(op, s, out);
  if (lse.shape() != Shape{s.B, s.H, s.T})
    fail(op, "lse must be [B,H,T] = " + to_string(Shape{s.B, s.H, s.T}) + ", got " + to_string(lse.shape()));
}

}  // namespace

AttentionGrads flash_attention_backward(const Tensor& dout, const Tensor& q, const Tensor& k, const Tensor& v,
                                        const Tensor& out, const Tensor& lse, int64_t H, const Tensor& keep,
                                        bool causal, float scale, const AttentionDropout& dropout,
                                        const RaggedRows* ragged) {
  const Heads s = check_heads("flash_attention_backward", q, k, v, H, ragged);
  check_keep_and_dropout("flash_attention_backward", s, keep, dropout);
  check_saved("flash_attention_backward", s, dout, out, lse);
  AttentionGrads g{Tensor(q.shape(), 0.0f), Tensor(k.shape(), 0.0f), Tensor(v.shape(), 0.0f)};
  const flash::Masks m(s, keep, causal, scale, dropout);
  flash::backward_heads(s, dout.data(), q.data(), k.data(), v.data(), out.data(), lse.data(), m,
                        g.dq.mutable_data(), g.dk.mutable_data(), g.dv.mutable_data());
  return g;
}

Tensor flash_attention_backward_packed(const Tensor& dout, const Tensor& qkv, const Tensor& out,
                                       const Tensor& lse, int64_t H, const Tensor& keep, bool causal,
                                       float scale, const AttentionDropout& dropout,
                                       const RaggedRows* ragged) {
  const Heads s = packed_heads("flash_attention_backward_packed", qkv, H, ragged);
  check_keep_and_dropout("flash_attention_backward_packed", s, keep, dropout);
  check_saved("flash_attention_backward_packed", s, dout, out, lse);
  Tensor dqkv(qkv.shape(), 0.0f);
  float* d = dqkv.mutable_data();
  const flash::Masks m(s, keep, causal, scale, dropout);
  flash::backward_heads(s, dout.data(), qkv.data(), qkv.data(), qkv.data(), out.data(), lse.data(), m, d, d,
                        d);
  return dqkv;
}

}  // namespace qkv::kernels
