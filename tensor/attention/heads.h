// Private to the attention kernels: where each head of each operand sits (Heads), the argument checks that
// build it, the keep mask read as rows, and the walk over (b, h) pairs that splits the work across threads.
// The kernels themselves (forward and backward per head) are in tensor/attention.cpp.
#pragma once
#include <algorithm>
#include <bit>
#include <cstdint>

#include "tensor/attention.h"
#include "tensor/gemm/gemm.h"
#include "tensor/parallel.h"
#include "tensor/ragged_rows.h"
#include "tensor/tensor.h"

namespace qkv::kernels {

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

// q [B,T,H*Dh], k [B,S,H*Dh], v [B,S,H*Dv] (ragged: [Nq|Nk, width]), checked: the layout of three tensors.
Heads check_heads(const char* op, const Tensor& q, const Tensor& k, const Tensor& v, int64_t H,
                  const RaggedRows* ragged);

// qkv [B,T,3*H*Dh] (ragged: [N,3*H*Dh]): Q, K and V side by side, as a joint projection makes them
// (self-attention, S = T).
Heads packed_heads(const char* op, const Tensor& qkv, int64_t H, const RaggedRows* ragged);

// Checks keep [B|1,T|1,S] against the sizes (it may be undefined) and the dropout's p (0 <= p < 1).
void check_keep_and_dropout(const char* op, const Heads& s, const Tensor& keep, const AttentionDropout& dropout);
// The backward's check of what the forward stored: weights [B,H,T,S], and the dropout's p.
void check_weights(const char* op, const Heads& s, const Tensor& weights, const AttentionDropout& dropout);

// Checks that dout has the output's shape.
void check_dout(const char* op, const Heads& s, const Tensor& dout);

// x[j] = scale * x[j] where kept[j] != 0, else -inf, for j < n (kept may be null: nothing masked). The
// select is done on the bits, with integer masks: GCC keeps a float compare inside ?: as a branch (it will
// not evaluate float operations speculatively, -ftrapping-math), and a branch per entry was a quarter of a
// head's forward at T = S = 64 (3.2 us of 12); these integer operations vectorise (0.6 us).
inline void scale_and_mask_row(const float* kept, float scale, float* x, int64_t n) {
  if (!kept) {
    for (int64_t j = 0; j < n; ++j) x[j] *= scale;
    return;
  }
  constexpr uint32_t kNegInfBits = 0xff800000u;
  for (int64_t j = 0; j < n; ++j) {
    const auto value = std::bit_cast<uint32_t>(x[j] * scale);
    const auto keep = std::bit_cast<uint32_t>(kept[j]);
    const uint32_t masked = 0u - static_cast<uint32_t>((keep << 1) == 0);  // all ones where kept[j] is +-0
    x[j] = std::bit_cast<float>((value & ~masked) | (kNegInfBits & masked));
  }
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

// C [M,N] = A [M,K] B [N,K]^T, with A and B blocks of rows read in place (row strides lda, ldb): a block
// of scores Q K^T, or of dout V^T in a backward.
inline void rows_times_rows_t(int64_t M, int64_t N, int64_t K, const float* A, int64_t lda, const float* B,
                              int64_t ldb, float* C, int64_t ldc) {
  gemm({.M = M, .N = N, .K = K, .A = A, .lda = lda, .B = B, .ldb = ldb, .trans_b = true, .C = C, .ldc = ldc});
}

// Runs fn(b, h) for every head of every batch entry, split across threads by whole (b, h) pairs.
template <class F>
void for_each_head(const Heads& s, F fn) {
  // ~T*S*(Dh+Dv) multiply-adds per pair: enough pairs per chunk for ~100k of them
  const int64_t per_pair = std::max<int64_t>(1, s.T * s.S * (s.Dh + s.Dv));
  parallel_for(s.B * s.H, std::max<int64_t>(1, 100000 / per_pair), [&](int64_t begin, int64_t end) {
    for (int64_t p = begin; p < end; ++p) fn(p / s.H, p % s.H);
  });
}

}  // namespace qkv::kernels
