// Multi-head attention forward and backward (see attention_kernels.h): per (b, h) pair, GEMMs that read
// and write the heads in place through row strides, and the masked softmax fused between them.
#include "tensor/attention_kernels.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "tensor/gemm/gemm.h"
#include "tensor/parallel.h"
#include "tensor/simd/vector_math.h"

namespace qkv::kernels {
namespace {

constexpr float kNegInf = -std::numeric_limits<float>::infinity();

// The sizes of one call, checked, and where head (b, h) of each operand starts. q, k and v are each read
// with their own row stride and column offset: separate tensors [B,T,H*Dh] (stride H*Dh, offset 0), or
// blocks of one packed [B,T,3*H*Dh] tensor from a joint Q/K/V projection (stride 3*H*Dh, offsets 0,
// H*Dh, 2*H*Dh). Their gradients are written with the same layout; out is [B,T,H*Dv]. In a ragged batch
// (RaggedRows, every operand [rows, width], out [Nq,H*Dv]) sequence b starts at row q_splits[b]
// (k_splits[b]) instead of b*T (b*S) and has T_of(b) <= T queries and S_of(b) <= S keys.
struct Heads {
  int64_t B, T, S, H, Dh, Dv;         // T, S: the maps' size (the longest sequences when ragged)
  int64_t q_ld, k_ld, v_ld;           // row strides
  int64_t q_col, k_col, v_col;        // column offsets
  const int64_t* q_splits = nullptr;  // ragged only: B+1 row splits
  const int64_t* k_splits = nullptr;
  int64_t q_row(int64_t b) const { return q_splits ? q_splits[b] : b * T; }
  int64_t k_row(int64_t b) const { return k_splits ? k_splits[b] : b * S; }
  int64_t T_of(int64_t b) const { return q_row(b + 1) - q_row(b); }
  int64_t S_of(int64_t b) const { return k_row(b + 1) - k_row(b); }
  int64_t out_ld() const { return H * Dv; }
  Shape out_shape() const { return q_splits ? Shape{q_row(B), out_ld()} : Shape{B, T, out_ld()}; }
  int64_t q_at(int64_t b, int64_t h) const { return q_row(b) * q_ld + q_col + h * Dh; }
  int64_t k_at(int64_t b, int64_t h) const { return k_row(b) * k_ld + k_col + h * Dh; }
  int64_t v_at(int64_t b, int64_t h) const { return k_row(b) * v_ld + v_col + h * Dv; }
  int64_t out_at(int64_t b, int64_t h) const { return q_row(b) * out_ld() + h * Dv; }
  int64_t map_at(int64_t b, int64_t h) const { return (b * H + h) * T * S; }  // a [T,S] map
};

// Checks ragged's splits against the query and key rows there are and points s at them.
void set_ragged(const char* op, Heads& s, const RaggedRows& ragged, int64_t q_rows, int64_t k_rows) {
  auto check = [&](const std::vector<int64_t>& splits, const char* name, int64_t rows) {
    bool ok = splits.size() == ragged.q_splits.size() && !splits.empty() && splits.front() == 0 &&
              splits.back() == rows;
    for (size_t i = 1; ok && i < splits.size(); ++i) ok = splits[i] >= splits[i - 1];
    if (!ok)
      fail(op,
           std::string(name) + " must rise from 0 to the " + std::to_string(rows) + " rows, one split per " +
               "sequence and one more (" + std::to_string(ragged.q_splits.size()) + " query splits), got " +
               std::to_string(splits.size()) + " splits from " +
               (splits.empty() ? "nothing"
                               : std::to_string(splits.front()) + " to " + std::to_string(splits.back())));
  };
  check(ragged.q_splits, "q_splits", q_rows);
  check(ragged.k_splits, "k_splits", k_rows);
  s.B = ragged.batch();
  s.T = ragged.longest_query();
  s.S = ragged.longest_key();
  s.q_splits = ragged.q_splits.data();
  s.k_splits = ragged.k_splits.data();
}

Heads check_heads(const char* op, const Tensor& q, const Tensor& k, const Tensor& v, int64_t H,
                  const RaggedRows* ragged) {
  auto bad = [&](const std::string& why) {
    fail(op, why + ": q " + to_string(q.shape()) + ", k " + to_string(k.shape()) + ", v " +
                 to_string(v.shape()) + ", H=" + std::to_string(H));
  };
  const int64_t rank = ragged ? 2 : 3, last = rank - 1;
  if (q.dim() != rank || k.dim() != rank || v.dim() != rank)
    bad(ragged ? "expected ragged q [Nq,H*Dh], k [Nk,H*Dh], v [Nk,H*Dv]"
               : "expected q [B,T,H*Dh], k [B,S,H*Dh], v [B,S,H*Dv]");
  if (H <= 0 || q.size(last) % H != 0 || v.size(last) % H != 0)
    bad("widths must be multiples of the head count");
  if (!ragged && (k.size(0) != q.size(0) || v.size(0) != q.size(0))) bad("batch sizes differ");
  if (k.size(last) != q.size(last)) bad("q and k widths differ");
  if (v.size(last - 1) != k.size(last - 1)) bad("k and v lengths differ");
  Heads s{.B = ragged ? 0 : q.size(0),
          .T = ragged ? 0 : q.size(1),
          .S = ragged ? 0 : k.size(1),
          .H = H,
          .Dh = q.size(last) / H,
          .Dv = v.size(last) / H,
          .q_ld = q.size(last),
          .k_ld = k.size(last),
          .v_ld = v.size(last),
          .q_col = 0,
          .k_col = 0,
          .v_col = 0};
  if (ragged) set_ragged(op, s, *ragged, q.size(0), k.size(0));
  return s;
}

// The keep mask [B|1, T|1, S] as rows: row (b, t) stretched along its size-1 dims. Sizes read once (a
// Tensor::size call checks its argument, too slow for every row of every head).
struct KeepRows {
  const float* data = nullptr;  // no mask
  int64_t b_step = 0, t_step = 0;
  explicit KeepRows(const Tensor& keep) {
    if (!keep.defined()) return;
    const Shape& s = keep.shape();
    data = keep.data();
    t_step = s[1] == 1 ? 0 : s[2];
    b_step = s[0] == 1 ? 0 : s[1] * s[2];
  }
  const float* row(int64_t b, int64_t t) const { return data ? data + b * b_step + t * t_step : nullptr; }
};

// Runs fn(b, h) for every head of every batch entry, split across threads by whole (b, h) pairs.
template <class F>
void for_each_head(const Heads& s, F fn) {
  // ~T*S*(Dh+Dv) multiply-adds per pair: enough pairs per chunk for ~100k of them
  const int64_t per_pair = std::max<int64_t>(1, s.T * s.S * (s.Dh + s.Dv));
  parallel_for(s.B * s.H, std::max<int64_t>(1, 100000 / per_pair), [&](int64_t begin, int64_t end) {
    for (int64_t p = begin; p < end; ++p) fn(p / s.H, p % s.H);
  });
}

// Checks keep and drop_mask against the sizes (both may be undefined).
void check_keep_and_mask(const char* op, const Heads& s, const Tensor& keep, const Tensor& drop_mask) {
  if (keep.defined() && (keep.dim() != 3 || (keep.size(0) != 1 && keep.size(0) != s.B) ||
                         (keep.size(1) != 1 && keep.size(1) != s.T) || keep.size(2) != s.S))
    fail(op, "keep must be [B|1,T|1,S] = [" + std::to_string(s.B) + "|1," + std::to_string(s.T) + "|1," +
                 std::to_string(s.S) + "], got " + to_string(keep.shape()));
  const Shape map_shape{s.B, s.H, s.T, s.S};
  if (drop_mask.defined() && drop_mask.shape() != map_shape)
    fail(op, "drop_mask must be " + to_string(map_shape) + ", got " + to_string(drop_mask.shape()));
}

void check_dout(const char* op, const Heads& s, const Tensor& dout) {
  if (dout.shape() != s.out_shape())
    fail(op, "dout " + to_string(dout.shape()) + " does not match the output " + to_string(s.out_shape()));
}

// qkv [B,T,3*H*Dh] (ragged: [N,3*H*Dh]): Q, K and V side by side, as a joint projection makes them
// (self-attention, S = T).
Heads packed_heads(const char* op, const Tensor& qkv, int64_t H, const RaggedRows* ragged) {
  const int64_t rank = ragged ? 2 : 3;
  if (qkv.dim() != rank || H <= 0 || qkv.size(rank - 1) % (3 * H) != 0)
    fail(op, std::string("expected qkv ") + (ragged ? "[N,3*H*Dh]" : "[B,T,3*H*Dh]") + ", got " +
                 to_string(qkv.shape()) + " with H=" + std::to_string(H));
  const int64_t width = qkv.size(rank - 1) / 3, Dh = width / H;
  Heads s{.B = ragged ? 0 : qkv.size(0),
          .T = ragged ? 0 : qkv.size(1),
          .S = ragged ? 0 : qkv.size(1),
          .H = H,
          .Dh = Dh,
          .Dv = Dh,
          .q_ld = 3 * width,
          .k_ld = 3 * width,
          .v_ld = 3 * width,
          .q_col = 0,
          .k_col = width,
          .v_col = 2 * width};
  if (ragged) set_ragged(op, s, *ragged, qkv.size(0), qkv.size(0));
  return s;
}

// The forward for any layout: q, k, v (possibly one array) as described by s.
AttentionForward forward_heads(const Heads& s, const float* qd, const float* kd, const float* vd,
                               const Tensor& keep, float scale, const Tensor& drop_mask) {
  const Shape map_shape{s.B, s.H, s.T, s.S};
  AttentionForward r{Tensor::empty(s.out_shape()), Tensor::empty(map_shape), Tensor()};
  r.dropped = drop_mask.defined() ? Tensor::empty(map_shape) : r.weights;
  const KeepRows keep_rows(keep);
  const float* md = drop_mask.defined() ? drop_mask.data() : nullptr;
  float *wd = r.weights.mutable_data(), *dd = r.dropped.mutable_data(), *od = r.out.mutable_data();
  for_each_head(s, [&](int64_t b, int64_t h) {
    float* w = wd + s.map_at(b, h);
    const int64_t Tb = s.T_of(b), Sb = s.S_of(b);  // T and S unless ragged
    // scores = Q_bh K_bh^T: [Tb,Dh] @ [Sb,Dh]^T -> [Tb,Sb] in the map's corner, both read in place (row
    // strides q_ld, k_ld)
    gemm({Tb, Sb, s.Dh, qd + s.q_at(b, h), s.q_ld, false, kd + s.k_at(b, h), s.k_ld, true, w, s.S, false});
    // weights row t = softmax(scale * scores, masked to -inf), in three sweeps over the whole [T,S] map so
    // that the exps of all rows are independent work for the vector units (row by row, each short row's
    // exp is a chain of dependent steps). The same bits as nn::masked_softmax: exp_shifted_sum's steps.
    // Outside a ragged sequence's corner the map is -inf, so its weights come out 0.
    for (int64_t t = 0; t < s.T; ++t) {  // scale, mask, subtract the row's max
      float* row = w + t * s.S;
      const float* kept = keep_rows.row(b, t);
      const int64_t real = t < Tb ? Sb : 0;  // the scores the GEMM wrote in this row
      float max = kNegInf;  // as vmath::max: NaN entries are skipped (and an all-NaN row stays NaN below)
      for (int64_t j = 0; j < real; ++j) {
        row[j] = kept && kept[j] == 0 ? kNegInf : row[j] * scale;
        max = row[j] > max ? row[j] : max;
      }
      std::fill(row + real, row + s.S, kNegInf);
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
    float* d = dd + s.map_at(b, h);
    if (md) {
      const float* m = md + s.map_at(b, h);
      for (int64_t i = 0; i < s.T * s.S; ++i) d[i] = w[i] * m[i];
    }
    // out_bh = dropped V_bh: [Tb,Sb] @ [Sb,Dv] -> [Tb,Dv], written into out's columns h*Dv.. (row stride H*Dv)
    gemm({Tb, s.Dv, Sb, d, s.S, false, vd + s.v_at(b, h), s.v_ld, false, od + s.out_at(b, h), s.out_ld(),
          false});
  });
  return r;
}

// The backward for any layout, writing dq, dk, dv (possibly one array) as described by s.
void backward_heads(const Heads& s, const Tensor& dout, const float* qd, const float* kd, const float* vd,
                    const Tensor& weights, const Tensor& dropped, const Tensor& drop_mask, float scale,
                    float* dqd, float* dkd, float* dvd) {
  const float *wd = weights.data(), *dd = dropped.data();
  const float *gd = dout.data(), *md = drop_mask.defined() ? drop_mask.data() : nullptr;
  for_each_head(s, [&](int64_t b, int64_t h) {
    const float* w = wd + s.map_at(b, h);
    const float* d = dd + s.map_at(b, h);
    const float* dy = gd + s.out_at(b, h);
    // Only the corner [Tb,Sb] of the maps is read (all of it unless ragged), with row stride S.
    const int64_t Tb = s.T_of(b), Sb = s.S_of(b);
    // dV_bh = dropped^T dout_bh: [Tb,Sb]^T @ [Tb,Dv] -> [Sb,Dv]
    gemm({Sb, s.Dv, Tb, d, s.S, true, dy, s.out_ld(), false, dvd + s.v_at(b, h), s.v_ld, false});
    // d(dropped) = dout_bh V_bh^T: [Tb,Dv] @ [Sb,Dv]^T -> [Tb,Sb], then through the dropout mask to d(weights)
    thread_local std::vector<float> dmap;  // one [T,S] map per thread, reused across heads and calls
    dmap.resize(s.T * s.S);
    gemm({Tb, Sb, s.Dv, dy, s.out_ld(), false, vd + s.v_at(b, h), s.v_ld, true, dmap.data(), s.S, false});
    if (md) {  // whole rows (columns past Sb are never read again)
      const float* m = md + s.map_at(b, h);
      for (int64_t i = 0; i < Tb * s.S; ++i) dmap[i] *= m[i];
    }
    // softmax backward, times the scale: d(scores) = scale * w * (dw - sum_j dw_j w_j), row by row.
    // Masked keys have w = 0, so their score gradient is 0 with no mask needed here.
    for (int64_t t = 0; t < Tb; ++t) {
      const float* wr = w + t * s.S;
      float* gr = dmap.data() + t * s.S;
      const auto dot = static_cast<float>(vmath::dot(gr, wr, Sb));
      for (int64_t j = 0; j < Sb; ++j) gr[j] = scale * (wr[j] * (gr[j] - dot));
    }
    // dQ_bh = d(scores) K_bh: [Tb,Sb] @ [Sb,Dh] -> [Tb,Dh];  dK_bh = d(scores)^T Q_bh: [Tb,Sb]^T @ [Tb,Dh] -> [Sb,Dh]
    gemm({Tb, s.Dh, Sb, dmap.data(), s.S, false, kd + s.k_at(b, h), s.k_ld, false, dqd + s.q_at(b, h), s.q_ld,
          false});
    gemm({Sb, s.Dh, Tb, dmap.data(), s.S, true, qd + s.q_at(b, h), s.q_ld, false, dkd + s.k_at(b, h), s.k_ld,
          false});
  });
}

}  // namespace

int64_t RaggedRows::longest(const std::vector<int64_t>& splits) {
  int64_t longest = 0;
  for (size_t i = 1; i < splits.size(); ++i) longest = std::max(longest, splits[i] - splits[i - 1]);
  return longest;
}

AttentionForward attention_forward(const Tensor& q, const Tensor& k, const Tensor& v, int64_t H,
                                   const Tensor& keep, float scale, const Tensor& drop_mask,
                                   const RaggedRows* ragged) {
  const Heads s = check_heads("attention_forward", q, k, v, H, ragged);
  check_keep_and_mask("attention_forward", s, keep, drop_mask);
  return forward_heads(s, q.data(), k.data(), v.data(), keep, scale, drop_mask);
}

AttentionGrads attention_backward(const Tensor& dout, const Tensor& q, const Tensor& k, const Tensor& v,
                                  const Tensor& weights, const Tensor& dropped, const Tensor& drop_mask,
                                  int64_t H, float scale, const RaggedRows* ragged) {
  const Heads s = check_heads("attention_backward", q, k, v, H, ragged);
  check_dout("attention_backward", s, dout);
  AttentionGrads g{Tensor::empty(q.shape()), Tensor::empty(k.shape()), Tensor::empty(v.shape())};
  backward_heads(s, dout, q.data(), k.data(), v.data(), weights, dropped, drop_mask, scale,
                 g.dq.mutable_data(), g.dk.mutable_data(), g.dv.mutable_data());
  return g;
}

AttentionForward attention_forward_packed(const Tensor& qkv, int64_t H, const Tensor& keep, float scale,
                                          const Tensor& drop_mask, const RaggedRows* ragged) {
  const Heads s = packed_heads("attention_forward_packed", qkv, H, ragged);
  check_keep_and_mask("attention_forward_packed", s, keep, drop_mask);
  return forward_heads(s, qkv.data(), qkv.data(), qkv.data(), keep, scale, drop_mask);
}

Tensor attention_backward_packed(const Tensor& dout, const Tensor& qkv, const Tensor& weights,
                                 const Tensor& dropped, const Tensor& drop_mask, int64_t H, float scale,
                                 const RaggedRows* ragged) {
  const Heads s = packed_heads("attention_backward_packed", qkv, H, ragged);
  check_dout("attention_backward_packed", s, dout);
  Tensor dqkv = Tensor::empty(qkv.shape());  // every element written: the three blocks of every head
  float* d = dqkv.mutable_data();
  backward_heads(s, dout, qkv.data(), qkv.data(), qkv.data(), weights, dropped, drop_mask, scale, d, d, d);
  return dqkv;
}

}  // namespace qkv::kernels
