// Flash attention's backward (FlashAttention-2): no [T,S] map is stored, so each block of probabilities
// is recomputed from the forward's log-sum-exp, P = exp(scale Q_i K_j^T - lse), and the softmax backward
// uses D = rowsum(dO * O) instead of a row of the weights (docs/13-flash-attention.md derives both):
//   dV_j += (P * mask)^T dO_i          dP = (dO_i V_j^T) * mask
//   dS    = scale P * (dP - D)         dQ_i += dS K_j,   dK_j += dS^T Q_i
// One thread computes a whole (b, h): its dK_j, dV_j sum over the query blocks and its dQ_i over the key
// blocks in one fixed order, so the bits do not depend on the thread count.
// Leaves out: splitting one head across threads (B*H heads keep the cores busy in training).
#include "tensor/attention/flash.h"

#include <vector>

#include "tensor/gemm/gemm.h"
#include "tensor/parallel.h"
#include "tensor/simd/vector_math.h"

namespace qkv::kernels {
namespace flash {
namespace {

void backward_head(const Heads& s, const float* dout, const float* qd, const float* kd, const float* vd,
                   const float* od, const float* lse, const Masks& m, int64_t b, int64_t h, float* dqd,
                   float* dkd, float* dvd) {
  constexpr int64_t Br = kQueryBlock, Bc = kKeyBlock;
  const int64_t Tb = s.T_of(b);
  if (Tb == 0) return;
  const bool dropout = m.dropout.p > 0;
  // Scratch: P, dP (then dS) and P * mask [Br,Bc], and D [Tb].
  thread_local std::vector<float> scratch;
  scratch.resize(3 * Br * Bc + Tb);
  float *p = scratch.data(), *dp = p + Br * Bc, *dropped = dropout ? dp + Br * Bc : p;
  float* D = scratch.data() + 3 * Br * Bc;
  const float* dy = dout + s.out_at(b, h);
  const float* o = od + s.out_at(b, h);
  for (int64_t t = 0; t < Tb; ++t)  // D = rowsum(dO * O) = sum_j P_tj dP_tj, with or without dropout
    D[t] = static_cast<float>(vmath::dot(dy + t * s.out_ld(), o + t * s.out_ld(), s.Dv));
  const float *q = qd + s.q_at(b, h), *k = kd + s.k_at(b, h), *v = vd + s.v_at(b, h);
  float *dq = dqd + s.q_at(b, h), *dk = dkd + s.k_at(b, h), *dv = dvd + s.v_at(b, h);
  const int64_t key_end = m.key_end(b, Tb - 1);  // keys no query sees keep dK = dV = 0
  for (int64_t s0 = 0; s0 < key_end; s0 += Bc) {
    const int64_t n = std::min(Bc, key_end - s0);
    // Causal: the query blocks entirely above this key block's diagonal see none of it and are skipped.
    const int64_t first_query = m.causal ? std::max<int64_t>(0, s0 - (s.S - s.T)) : 0;
    for (int64_t t0 = first_query / Br * Br; t0 < Tb; t0 += Br) {
      const int64_t rows = std::min(Br, Tb - t0);
      // forward was: S = scale Q_i K_j^T masked, P = exp(S - lse)   [rows,n]
      gemm({.M = rows,
            .N = n,
            .K = s.Dh,
            .A = q + t0 * s.q_ld,
            .lda = s.q_ld,  //
            .B = k + s0 * s.k_ld,
            .ldb = s.k_ld,
            .trans_b = true,
            .C = p,
            .ldc = Bc});
      for (int64_t r = 0; r < rows; ++r) {
        float* x = p + r * Bc;
        m.scale_and_mask(b, t0 + r, s0, n, x);
        const float row_lse = lse[t0 + r];  // -inf: a fully masked row, P = 0
        for (int64_t c = 0; c < n; ++c) x[c] = row_lse == kNegInf ? kNegInf : std::min(x[c] - row_lse, 0.0f);
        vmath::exp_nonpositive(x, x, n);
        if (dropout) {
          std::copy(x, x + n, dropped + r * Bc);
          m.apply_dropout(b, h, t0 + r, s0, n, dropped + r * Bc);
        }
      }
      // forward was: out_i += (P * mask) V_j, so dV_j += (P * mask)^T dO_i: [rows,n]^T @ [rows,Dv] -> [n,Dv]
      gemm({.M = n,
            .N = s.Dv,
            .K = rows,
            .A = dropped,
            .lda = Bc,
            .trans_a = true,  //
            .B = dy + t0 * s.out_ld(),
            .ldb = s.out_ld(),
            .C = dv + s0 * s.v_ld,
            .ldc = s.v_ld,
            .accumulate = true});
      // dP = dO_i V_j^T: [rows,Dv] @ [n,Dv]^T -> [rows,n], then through the mask and the softmax
      gemm({.M = rows,
            .N = n,
            .K = s.Dv,
            .A = dy + t0 * s.out_ld(),
            .lda = s.out_ld(),  //
            .B = v + s0 * s.v_ld,
            .ldb = s.v_ld,
            .trans_b = true,
            .C = dp,
            .ldc = Bc});
      for (int64_t r = 0; r < rows; ++r) {  // dS = scale P (dP - D); masked keys have P = 0, so dS = 0
        float* g = dp + r * Bc;
        const float* pr = p + r * Bc;
        if (dropout) m.apply_dropout(b, h, t0 + r, s0, n, g);
        for (int64_t c = 0; c < n; ++c) g[c] = m.scale * (pr[c] * (g[c] - D[t0 + r]));
      }
      // dQ_i += dS K_j: [rows,n] @ [n,Dh] -> [rows,Dh];  dK_j += dS^T Q_i: [rows,n]^T @ [rows,Dh] -> [n,Dh]
      gemm({.M = rows,
            .N = s.Dh,
            .K = n,
            .A = dp,
            .lda = Bc,  //
            .B = k + s0 * s.k_ld,
            .ldb = s.k_ld,
            .C = dq + t0 * s.q_ld,
            .ldc = s.q_ld,
            .accumulate = true});
      gemm({.M = n,
            .N = s.Dh,
            .K = rows,
            .A = dp,
            .lda = Bc,
            .trans_a = true,  //
            .B = q + t0 * s.q_ld,
            .ldb = s.q_ld,
            .C = dk + s0 * s.k_ld,
            .ldc = s.k_ld,
            .accumulate = true});
    }
  }
}

}  // namespace

void backward_heads(const Heads& s, const float* dout, const float* qd, const float* kd, const float* vd,
                    const float* od, const float* lsed, const Masks& m, float* dqd, float* dkd, float* dvd) {
  parallel_for(s.B * s.H, 1, [&](int64_t begin, int64_t end) {
    for (int64_t u = begin; u < end; ++u)
      backward_head(s, dout, qd, kd, vd, od, lsed + u * s.T, m, u / s.H, u % s.H, dqd, dkd, dvd);
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
  check_keep_and_mask("flash_attention_backward", s, keep, Tensor());
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
  check_keep_and_mask("flash_attention_backward_packed", s, keep, Tensor());
  check_saved("flash_attention_backward_packed", s, dout, out, lse);
  Tensor dqkv(qkv.shape(), 0.0f);
  float* d = dqkv.mutable_data();
  const flash::Masks m(s, keep, causal, scale, dropout);
  flash::backward_heads(s, dout.data(), qkv.data(), qkv.data(), qkv.data(), out.data(), lse.data(), m, d, d,
                        d);
  return dqkv;
}

}  // namespace qkv::kernels
