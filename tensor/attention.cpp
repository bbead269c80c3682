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

// How far along each query row a key can have a nonzero weight: extent(b, t) = 1 + the last key row t of
// sequence b keeps, at most S_of(b) (0 when it keeps none, and for the rows t >= T_of(b) of a ragged
// sequence). Every key from there on is masked, so its weight is exactly 0 and every product below can stop
// there: a causal mask leaves out the upper triangle of each map (T = S = 64 in blocks of 16: 5/8 of the
// multiply-adds of the four products), a padding mask the padded keys. Stopping early changes no bits:
// each product adds over its k in increasing order from 0, a masked key's terms are exact zeros (0 times
// a finite value), and adding +-0 to a sum changes nothing but the sign of an exact zero sum. (A masked key
// whose value is inf or NaN no longer turns the row to NaN, as it did when 0 * inf was added.)
class KeyExtents {
 public:
  KeyExtents(const Heads& s, const Tensor& keep) : T_(s.T), extent_(s.B * s.T), varies_(s.B) {
    // 1 + the last key each row of keep keeps (S with no keep): once per distinct row, as keep broadcasts
    // over B (a causal mask is [1,T,S]) and T (valid lengths give [B,1,S]).
    const KeepRows keep_rows(keep);
    const int64_t keep_batches = keep_rows.b_step == 0 ? 1 : s.B;
    std::vector<int64_t> kept_until(keep_batches * s.T, s.S);
    for (int64_t b = 0; keep.defined() && b < keep_batches; ++b)
      for (int64_t t = 0; t < s.T; ++t) {
        int64_t& e = kept_until[b * s.T + t];
        if (t > 0 && keep_rows.t_step == 0) {
          e = kept_until[b * s.T];
          continue;
        }
        const float* kept = keep_rows.row(b, t);
        while (e > 0 && kept[e - 1] == 0.0f) --e;  // as scale_and_mask_row: +-0 is masked
      }
    // Within sequence b's corner: a key past Sb is never read, so the extent is at most Sb (the last kept
    // key below Sb may be further left: still every key from the extent on is masked, which is all the
    // products rely on).
    for (int64_t b = 0; b < s.B; ++b) {
      const int64_t Tb = s.T_of(b), Sb = s.S_of(b);
      for (int64_t t = 0; t < s.T; ++t) {
        const int64_t e = t < Tb ? std::min(Sb, kept_until[(keep_batches == 1 ? 0 : b) * s.T + t]) : 0;
        extent_[b * T_ + t] = e;
        varies_[b] = varies_[b] || (t < Tb && e != Sb);
      }
    }
  }
  const int64_t* of(int64_t b) const { return extent_.data() + b * T_; }
  // The block the products below are cut into: kBlock rows or keys where the extents vary, else all of them
  // at once (no mask, or one that masks whole keys only, as padding does).
  int64_t block(int64_t b, int64_t n) const { return varies_[b] ? kBlock : std::max<int64_t>(n, 1); }

 private:
  // Blocks of 16 keys (the AVX2 kernel's tile width) or rows. Measured on a character GPT's attention (B =
  // 12, H = 4, T = S = 64, Dh = 32, causal; forward + backward, 1 thread, AVX2): whole maps 1.19 ms; blocks
  // of 8: 1.23, 12: 1.07, 16: 0.88, 18: 1.13, 32: 1.00 (widths that are not a multiple of 16 leave narrow
  // edge tiles, and smaller blocks mean more GEMM calls).
  static constexpr int64_t kBlock = 16;
  int64_t T_;
  std::vector<int64_t> extent_;
  std::vector<bool> varies_;
};

// The products over one head's [Tb,Sb] map (row stride S), each cut into KeyExtents' blocks and stopped
// at the rows' extents: a block of keys s0.. only from the first row whose extent passes s0 (every row
// above it has weight 0 there), a block of rows t0..t1 only up to the longest extent among them.
class MapProducts {
 public:
  MapProducts(const KeyExtents& extents, int64_t b, int64_t Tb, int64_t Sb, int64_t S)
      : extent_(extents.of(b)),
        Tb_(Tb),
        Sb_(Sb),
        S_(S),
        keys_(extents.block(b, Sb)),
        rows_(extents.block(b, Tb)) {}

  // map = A B^T, A [Tb,K] and B [Sb,K] rows read in place: the scores Q K^T, or d(dropped) = dout V^T.
  // Entries past a row's extent are left unwritten.
  void fill(int64_t K, const float* A, int64_t lda, const float* B, int64_t ldb, float* map) const {
    for_key_blocks([&](int64_t s0, int64_t s1, int64_t t0) {
      rows_times_rows_t(Tb_ - t0, s1 - s0, K, A + t0 * lda, lda, B + s0 * ldb, ldb, map + t0 * S_ + s0, S_);
    });
  }
  // C [Tb,N] = map B, B [Sb,N]: out = dropped V, dQ = d(scores) K.
  void times(const float* map, int64_t N, const float* B, int64_t ldb, float* C, int64_t ldc) const {
    for (int64_t t0 = 0; t0 < Tb_; t0 += rows_) {
      const int64_t t1 = std::min(Tb_, t0 + rows_);
      gemm({.M = t1 - t0,
            .N = N,
            .K = *std::max_element(extent_ + t0, extent_ + t1),
            .A = map + t0 * S_,
            .lda = S_,
            .B = B,
            .ldb = ldb,
            .C = C + t0 * ldc,
            .ldc = ldc});
    }
  }
  // C [Sb,N] = map^T B, B [Tb,N]: dV = dropped^T dout, dK = d(scores)^T Q.
  void transposed_times(const float* map, int64_t N, const float* B, int64_t ldb, float* C,
                        int64_t ldc) const {
    for_key_blocks([&](int64_t s0, int64_t s1, int64_t t0) {
      gemm({.M = s1 - s0,
            .N = N,
            .K = Tb_ - t0,
            .A = map + t0 * S_ + s0,
            .lda = S_,
            .trans_a = true,
            .B = B + t0 * ldb,
            .ldb = ldb,
            .C = C + s0 * ldc,
            .ldc = ldc});
    });
  }

 private:
  // fn(s0, s1, t0) for each block of keys [s0, s1) and the first row t0 whose extent passes s0 (Tb if none).
  template <class F>
  void for_key_blocks(F fn) const {
    for (int64_t s0 = 0; s0 < Sb_; s0 += keys_) {
      int64_t t0 = 0;
      while (t0 < Tb_ && extent_[t0] <= s0) ++t0;
      fn(s0, std::min(Sb_, s0 + keys_), t0);
    }
  }

  const int64_t* extent_;
  int64_t Tb_, Sb_, S_, keys_, rows_;
};

// The forward for any layout: q, k, v (possibly one array) as described by s.
AttentionForward forward_heads(const Heads& s, const float* qd, const float* kd, const float* vd,
                               const Tensor& keep, float scale, const AttentionDropout& dropout) {
  AttentionForward r{Tensor::empty(s.out_shape()), Tensor::empty({s.B, s.H, s.T, s.S})};
  const KeepRows keep_rows(keep);
  const KeyExtents extents(s, keep);
  float *wd = r.weights.mutable_data(), *od = r.out.mutable_data();
  for_each_head(s, [&](int64_t b, int64_t h) {
    float* w = wd + s.map_at(b, h);
    const int64_t Tb = s.T_of(b), Sb = s.S_of(b);  // T and S unless ragged
    const int64_t* extent = extents.of(b);
    const MapProducts products(extents, b, Tb, Sb, s.S);
    // scores = Q_bh K_bh^T: [Tb,Dh] @ [Sb,Dh]^T -> [Tb,Sb] in the map's corner, both read in place (row
    // strides q_ld, k_ld); entries past a row's extent are left unwritten: the softmax below never reads them
    products.fill(s.Dh, qd + s.q_at(b, h), s.q_ld, kd + s.k_at(b, h), s.k_ld, w);
    // weights row t = softmax(scale * scores, masked to -inf), in three sweeps over the whole [T,S] map so
    // that the exps of all rows are independent work for the vector units (row by row, each short row's
    // exp is a chain of dependent steps). The same bits as nn::masked_softmax: exp_shifted_sum's steps.
    // Past a row's extent (and outside a ragged sequence's corner) the map is -inf, so its weights come out 0.
    for (int64_t t = 0; t < s.T; ++t) {  // scale, mask, subtract the row's max
      float* row = w + t * s.S;
      const int64_t real = extent[t];  // the scores the GEMM wrote in this row that may be kept
      scale_and_mask_row(keep_rows.row(b, t), scale, row, real);  // then vmath::max, the SIMD max
      std::fill(row + real, row + s.S, kNegInf);
      // NaN entries are skipped (an all-NaN row gives NaN, and NaN weights below)
      const float max = real > 0 ? vmath::max(row, real) : kNegInf;
      if (max == kNegInf) continue;  // every key masked: stays -inf, so exp gives the zero weights
      for (int64_t j = 0; j < real; ++j) row[j] -= max;
    }
    vmath::exp_nonpositive(w, w, s.T * s.S);
    for (int64_t t = 0; t < s.T; ++t) {  // normalise; a fully masked row sums to 0 and stays 0
      float* row = w + t * s.S;
      const double total = vmath::sum(row, extent[t]);
      if (total == 0) continue;
      const auto inv_sum = static_cast<float>(1.0 / total);
      for (int64_t j = 0; j < extent[t]; ++j) row[j] *= inv_sum;
    }
    const float* d = dropped_map(s, dropout, b, h, w);
    // out_bh = dropped V_bh: [Tb,Sb] @ [Sb,Dv] -> [Tb,Dv], written into out's columns h*Dv.. (row stride H*Dv)
    products.times(d, s.Dv, vd + s.v_at(b, h), s.v_ld, od + s.out_at(b, h), s.out_ld());
  });
  return r;
}

// The backward for any layout, writing dq, dk, dv (possibly one array) as described by s.
void backward_heads(const Heads& s, const Tensor& dout, const Tensor& keep, const float* qd, const float* kd,
                    const float* vd, const Tensor& weights, const AttentionDropout& dropout, float scale,
                    float* dqd, float* dkd, float* dvd) {
  const float *wd = weights.data(), *gd = dout.data();
  const KeyExtents extents(s, keep);
  for_each_head(s, [&](int64_t b, int64_t h) {
    const float* w = wd + s.map_at(b, h);
    const float* d = dropped_map(s, dropout, b, h, w);  // the forward's dropped map, drawn again
    const float* dy = gd + s.out_at(b, h);
    // Only the corner [Tb,Sb] of the maps is read (all of it unless ragged), with row stride S, and of each
    // row only its extent (see KeyExtents and MapProducts).
    const int64_t Tb = s.T_of(b), Sb = s.S_of(b);
    const int64_t* extent = extents.of(b);
    const MapProducts products(extents, b, Tb, Sb, s.S);
    // dV_bh = dropped^T dout_bh: [Tb,Sb]^T @ [Tb,Dv] -> [Sb,Dv]
    products.transposed_times(d, s.Dv, dy, s.out_ld(), dvd + s.v_at(b, h), s.v_ld);
    // d(dropped) = dout_bh V_bh^T: [Tb,Dv] @ [Sb,Dv]^T -> [Tb,Sb], then through the dropout mask to d(weights)
    thread_local std::vector<float> dmap;  // one [T,S] map per thread, reused across heads and calls
    dmap.resize(s.T * s.S);
    products.fill(s.Dv, dy, s.out_ld(), vd + s.v_at(b, h), s.v_ld, dmap.data());
    if (dropout.p > 0)  // times the same mask entries; whole rows (entries past a row's extent are not read)
      dropout_entries(dmap.data(), dmap.data(), s.map_at(b, h), Tb * s.S, dropout.p, dropout.stream);
    // softmax backward, times the scale: d(scores) = scale * w * (dw - sum_j dw_j w_j), row by row.
    // Masked keys have w = 0, so their score gradient is 0 with no mask needed here; past the extent it is
    // written as 0, for the products below.
    for (int64_t t = 0; t < Tb; ++t) {
      const float* wr = w + t * s.S;
      float* gr = dmap.data() + t * s.S;
      const auto dot = static_cast<float>(vmath::dot(gr, wr, extent[t]));
      for (int64_t j = 0; j < extent[t]; ++j) gr[j] = scale * (wr[j] * (gr[j] - dot));
      std::fill(gr + extent[t], gr + Sb, 0.0f);
    }
    // dQ_bh = d(scores) K_bh: [Tb,Sb] @ [Sb,Dh] -> [Tb,Dh];  dK_bh = d(scores)^T Q_bh: [Tb,Sb]^T @ [Tb,Dh] -> [Sb,Dh]
    products.times(dmap.data(), s.Dh, kd + s.k_at(b, h), s.k_ld, dqd + s.q_at(b, h), s.q_ld);
    products.transposed_times(dmap.data(), s.Dh, qd + s.q_at(b, h), s.q_ld, dkd + s.k_at(b, h), s.k_ld);
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
                                  const Tensor& weights, const Tensor& keep, const AttentionDropout& dropout,
                                  int64_t H, float scale, const RaggedRows* ragged) {
  const Heads s = check_heads("attention_backward", q, k, v, H, ragged);
  check_dout("attention_backward", s, dout);
  AttentionGrads g{Tensor::empty(q.shape()), Tensor::empty(k.shape()), Tensor::empty(v.shape())};
  check_weights("attention_backward", s, weights, dropout);
  check_keep_and_dropout("attention_backward", s, keep, dropout);
  backward_heads(s, dout, keep, q.data(), k.data(), v.data(), weights, dropout, scale, g.dq.mutable_data(),
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
                                 const Tensor& keep, const AttentionDropout& dropout, int64_t H, float scale,
                                 const RaggedRows* ragged) {
  const Heads s = packed_heads("attention_backward_packed", qkv, H, ragged);
  check_dout("attention_backward_packed", s, dout);
  Tensor dqkv = Tensor::empty(qkv.shape());  // every element written: the three blocks of every head
  float* d = dqkv.mutable_data();
  check_weights("attention_backward_packed", s, weights, dropout);
  check_keep_and_dropout("attention_backward_packed", s, keep, dropout);
  backward_heads(s, dout, keep, qkv.data(), qkv.data(), qkv.data(), weights, dropout, scale, d, d, d);
  return dqkv;
}

}  // namespace qkv::kernels
