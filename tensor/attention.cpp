// Multi-head attention forward and backward (see attention.h): per (b, h) pair, GEMMs that read
// and write the heads in place through row strides, and the masked softmax fused between them.
#include "tensor/attention.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "tensor/attention/heads.h"
#include "tensor/dropout.h"
#include "tensor/gemm/gemm.h"
#include "tensor/parallel.h"
#include "tensor/simd/vector_math.h"

namespace qkv::kernels {
namespace {

constexpr float kNegInf = -std::numeric_limits<float>::infinity();

// The dropped map of head (b, h): its weights w [T,S] times the dropout mask's entries for it, in a
// per-thread [T,S] buffer; w itself without dropout.
const float* dropped_map(const Heads& s, const AttentionDropout& dropout, int64_t b, int64_t h, const float* w) {
  if (dropout.p == 0) return w;
  thread_local std::vector<float> dropped;  // one [T,S] map per thread, reused across heads and calls
  dropped.resize(s.T * s.S);
  dropout_entries(w, dropped.data(), s.map_at(b, h), s.T * s.S, dropout.p, dropout.stream);
  return dropped.data();
}

// The forward for any layout: q, k, v (possibly one array) as described by s.
AttentionForward forward_heads(const Heads& s, const float* qd, const float* kd, const float* vd,
                               const Tensor& keep, float scale, const AttentionDropout& dropout) {
  AttentionForward r{Tensor::empty(s.out_shape()), Tensor::empty({s.B, s.H, s.T, s.S})};
  const KeepRows keep_rows(keep);
  float *wd = r.weights.mutable_data(), *od = r.out.mutable_data();
  for_each_head(s, [&](int64_t b, int64_t h) {
    float* w = wd + s.map_at(b, h);
    const int64_t Tb = s.T_of(b), Sb = s.S_of(b);  // T and S unless ragged
    // scores = Q_bh K_bh^T: [Tb,Dh] @ [Sb,Dh]^T -> [Tb,Sb] in the map's corner, both read in place (row
    // strides q_ld, k_ld)
    gemm({.M = Tb,
          .N = Sb,
          .K = s.Dh,
          .A = qd + s.q_at(b, h),
          .lda = s.q_ld,  //
          .B = kd + s.k_at(b, h),
          .ldb = s.k_ld,
          .trans_b = true,
          .C = w,
          .ldc = s.S});
    // weights row t = softmax(scale * scores, masked to -inf), in three sweeps over the whole [T,S] map so
    // that the exps of all rows are independent work for the vector units (row by row, each short row's
    // exp is a chain of dependent steps). The same bits as nn::masked_softmax: exp_shifted_sum's steps.
    // Outside a ragged sequence's corner the map is -inf, so its weights come out 0.
    for (int64_t t = 0; t < s.T; ++t) {  // scale, mask, subtract the row's max
      float* row = w + t * s.S;
      const float* kept = keep_rows.row(b, t);
      const int64_t real = t < Tb ? Sb : 0;  // the scores the GEMM wrote in this row
      scale_and_mask_row(kept, scale, row, real);  // then vmath::max, the SIMD max
      std::fill(row + real, row + s.S, kNegInf);
      // NaN entries are skipped (an all-NaN row gives NaN, and NaN weights below)
      const float max = real > 0 ? vmath::max(row, real) : kNegInf;
      if (max == kNegInf) continue;  // every key masked: stays -inf, so exp gives the zero weights
      for (int64_t j = 0; j < s.S; ++j) row[j] -= max;
    }
    vmath::exp_nonpositive(w, w, s.T * s.S);
    for (int64_t t = 0; t < s.T; ++t) {  // normalise; a fully masked row sums to 0 and stays 0
      float* row = w + t * s.S;
      const double total = vmath::sum(row, s.S);
      if (total == 0) continue;
      const auto inv_sum = static_cast<float>(1.0 / total);
      for (int64_t j = 0; j < s.S; ++j) row[j] *= inv_sum;
    }
    const float* d = dropped_map(s, dropout, b, h, w);
    // out_bh = dropped V_bh: [Tb,Sb] @ [Sb,Dv] -> [Tb,Dv], written into out's columns h*Dv.. (row stride H*Dv)
    gemm({.M = Tb,
          .N = s.Dv,
          .K = Sb,
          .A = d,
          .lda = s.S,  //
          .B = vd + s.v_at(b, h),
          .ldb = s.v_ld,
          .C = od + s.out_at(b, h),
          .ldc = s.out_ld()});
  });
  return r;
}

// The backward for any layout, writing dq, dk, dv (possibly one array) as described by s.
void backward_heads(const Heads& s, const Tensor& dout, const float* qd, const float* kd, const float* vd,
                    const Tensor& weights, const AttentionDropout& dropout, float scale, float* dqd, float* dkd,
                    float* dvd) {
  const float *wd = weights.data(), *gd = dout.data();
  for_each_head(s, [&](int64_t b, int64_t h) {
    const float* w = wd + s.map_at(b, h);
    const float* d = dropped_map(s, dropout, b, h, w);  // the forward's dropped map, drawn again
    const float* dy = gd + s.out_at(b, h);
    // Only the corner [Tb,Sb] of the maps is read (all of it unless ragged), with row stride S.
    const int64_t Tb = s.T_of(b), Sb = s.S_of(b);
    // dV_bh = dropped^T dout_bh: [Tb,Sb]^T @ [Tb,Dv] -> [Sb,Dv]
    gemm({.M = Sb,
          .N = s.Dv,
          .K = Tb,
          .A = d,
          .lda = s.S,
          .trans_a = true,  //
          .B = dy,
          .ldb = s.out_ld(),
          .C = dvd + s.v_at(b, h),
          .ldc = s.v_ld});
    // d(dropped) = dout_bh V_bh^T: [Tb,Dv] @ [Sb,Dv]^T -> [Tb,Sb], then through the dropout mask to d(weights)
    thread_local std::vector<float> dmap;  // one [T,S] map per thread, reused across heads and calls
    dmap.resize(s.T * s.S);
    gemm({.M = Tb,
          .N = Sb,
          .K = s.Dv,
          .A = dy,
          .lda = s.out_ld(),  //
          .B = vd + s.v_at(b, h),
          .ldb = s.v_ld,
          .trans_b = true,
          .C = dmap.data(),
          .ldc = s.S});
    if (dropout.p > 0)  // times the same mask entries; whole rows (columns past Sb are never read again)
      dropout_entries(dmap.data(), dmap.data(), s.map_at(b, h), Tb * s.S, dropout.p, dropout.stream);
    // softmax backward, times the scale: d(scores) = scale * w * (dw - sum_j dw_j w_j), row by row.
    // Masked keys have w = 0, so their score gradient is 0 with no mask needed here.
    for (int64_t t = 0; t < Tb; ++t) {
      const float* wr = w + t * s.S;
      float* gr = dmap.data() + t * s.S;
      const auto dot = static_cast<float>(vmath::dot(gr, wr, Sb));
      for (int64_t j = 0; j < Sb; ++j) gr[j] = scale * (wr[j] * (gr[j] - dot));
    }
    // dQ_bh = d(scores) K_bh: [Tb,Sb] @ [Sb,Dh] -> [Tb,Dh];  dK_bh = d(scores)^T Q_bh: [Tb,Sb]^T @ [Tb,Dh] -> [Sb,Dh]
    gemm({.M = Tb,
          .N = s.Dh,
          .K = Sb,
          .A = dmap.data(),
          .lda = s.S,  //
          .B = kd + s.k_at(b, h),
          .ldb = s.k_ld,
          .C = dqd + s.q_at(b, h),
          .ldc = s.q_ld});
    gemm({.M = Sb,
          .N = s.Dh,
          .K = Tb,
          .A = dmap.data(),
          .lda = s.S,
          .trans_a = true,  //
          .B = qd + s.q_at(b, h),
          .ldb = s.q_ld,
          .C = dkd + s.k_at(b, h),
          .ldc = s.k_ld});
  });
}

}  // namespace

AttentionSizes attention_sizes(const char* op, const Tensor& q, const Tensor& k, const Tensor& v, int64_t H,
                               const RaggedRows* ragged) {
  const Heads s = check_heads(op, q, k, v, H, ragged);
  return {s.B, s.T, s.S, s.H, s.Dh, s.Dv};
}

AttentionSizes attention_sizes_packed(const char* op, const Tensor& qkv, int64_t H,
                                      const RaggedRows* ragged) {
  const Heads s = packed_heads(op, qkv, H, ragged);
  return {s.B, s.T, s.S, s.H, s.Dh, s.Dv};
}

AttentionForward attention_forward(const Tensor& q, const Tensor& k, const Tensor& v, int64_t H,
                                   const Tensor& keep, float scale, const AttentionDropout& dropout,
                                   const RaggedRows* ragged) {
  const Heads s = check_heads("attention_forward", q, k, v, H, ragged);
  check_keep_and_dropout("attention_forward", s, keep, dropout);
  return forward_heads(s, q.data(), k.data(), v.data(), keep, scale, dropout);
}

AttentionGrads attention_backward(const Tensor& dout, const Tensor& q, const Tensor& k, const Tensor& v,
                                  const Tensor& weights, const AttentionDropout& dropout, int64_t H,
                                  float scale, const RaggedRows* ragged) {
  const Heads s = check_heads("attention_backward", q, k, v, H, ragged);
  check_dout("attention_backward", s, dout);
  AttentionGrads g{Tensor::empty(q.shape()), Tensor::empty(k.shape()), Tensor::empty(v.shape())};
  check_weights("attention_backward", s, weights, dropout);
  backward_heads(s, dout, q.data(), k.data(), v.data(), weights, dropout, scale, g.dq.mutable_data(),
                 g.dk.mutable_data(), g.dv.mutable_data());
  return g;
}

AttentionForward attention_forward_packed(const Tensor& qkv, int64_t H, const Tensor& keep, float scale,
                                          const AttentionDropout& dropout, const RaggedRows* ragged) {
  const Heads s = packed_heads("attention_forward_packed", qkv, H, ragged);
  check_keep_and_dropout("attention_forward_packed", s, keep, dropout);
  return forward_heads(s, qkv.data(), qkv.data(), qkv.data(), keep, scale, dropout);
}

Tensor attention_backward_packed(const Tensor& dout, const Tensor& qkv, const Tensor& weights,
                                 const AttentionDropout& dropout, int64_t H, float scale,
                                 const RaggedRows* ragged) {
  const Heads s = packed_heads("attention_backward_packed", qkv, H, ragged);
  check_dout("attention_backward_packed", s, dout);
  Tensor dqkv = Tensor::empty(qkv.shape());  // every element written: the three blocks of every head
  float* d = dqkv.mutable_data();
  check_weights("attention_backward_packed", s, weights, dropout);
  backward_heads(s, dout, qkv.data(), qkv.data(), qkv.data(), weights, dropout, scale, d, d, d);
  return dqkv;
}

}  // namespace qkv::kernels
