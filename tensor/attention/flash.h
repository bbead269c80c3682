// Private to the attention kernels: what the flash forward (flash.cpp) and backward (flash_backward.cpp)
// share: the block sizes, and the masks and dropout applied to one row of a score block. The algorithm
// and its derivation are docs/13-flash-attention.md.
// Leaves out: the argument checks (heads.h) and the materialised kernel (tensor/attention.cpp).
#pragma once
#include <algorithm>
#include <cstdint>
#include <limits>

#include "tensor/attention.h"
#include "tensor/attention/heads.h"
#include "tensor/dropout.h"

namespace qkv::kernels::flash {

// Block sizes, for the caches of the machine this was tuned on (Sapphire Rapids: 48 KiB of L1 data and
// 2 MiB of L2 per core). At Dh = Dv = 64 the forward's inner step touches a query block Q_i [Br,Dh]
// (32 KiB), a score block S [Br,Bc] (64 KiB), the output accumulator [Br,Dv] (32 KiB) and streams one
// key and one value block K_j, V_j [Bc,Dh] (2 x 32 KiB): 192 KiB, well inside L2, while the GEMM blocks
// each product for L1 itself (its packed panels and micro-tiles are sized for it). Keys and values of a
// whole head at S = 4,096 (2 x 1 MiB) also fit in L2, so every query block after the first reads them
// from there. Smaller blocks would fit L1 but pay the GEMM's packing per call more often: measured with
// the profiling runs behind docs/13-flash-attention.md, 64 x 64 blocks were ~25% slower than 128 x 128,
// and 256 x 128 or 128 x 256 no faster.
constexpr int64_t kQueryBlock = 128;  // Br
constexpr int64_t kKeyBlock = 128;    // Bc

constexpr float kNegInf = -std::numeric_limits<float>::infinity();

// Which block the k-th of `blocks` work items takes: 0, last, 1, last - 1, ... parallel_for gives each
// thread a contiguous range of k, and under the causal mask a block's work grows along the diagonal, so
// visiting from both ends gives every range light and heavy blocks alike. Each block is written by one
// thread whatever the order, so the bits do not change.
inline int64_t balanced(int64_t k, int64_t blocks) { return k % 2 == 0 ? k / 2 : blocks - 1 - k / 2; }

// The masks and the dropout of one call, applied a row of a score block at a time.
struct Masks {
  const Heads& s;
  KeepRows keep;
  bool causal;
  float scale;
  AttentionDropout dropout;

  Masks(const Heads& heads, const Tensor& keep_, bool causal_, float scale_, const AttentionDropout& d)
      : s(heads), keep(keep_), causal(causal_), scale(scale_), dropout(d) {}

  // The keys [0, key_end) that query t of sequence b may see at all: the sequence's own, and under the
  // causal mask s <= t + S - T (aligned at the bottom right, as nn::Mask::causal).
  int64_t key_end(int64_t b, int64_t t) const {
    const int64_t end = s.S_of(b);
    return causal ? std::clamp<int64_t>(t + s.S - s.T + 1, 0, end) : end;
  }

  // x[0..n) = the scores of query t against keys s0.. s0+n-1: scale * x, or -inf where masked.
  void scale_and_mask(int64_t b, int64_t t, int64_t s0, int64_t n, float* x) const {
    const int64_t visible = std::clamp<int64_t>(key_end(b, t) - s0, 0, n);
    const float* kept = keep.row(b, t);
    scale_and_mask_row(kept ? kept + s0 : nullptr, scale, x, visible);
    std::fill(x + visible, x + n, kNegInf);
  }

  // x[0..n) *= the dropout mask's entries (b, h, t, s0..s0+n-1) of a [B,H,T,S] mask, drawn as
  // tensor/dropout.cpp draws them (dropout_entries). No mask is stored: the backward draws the same
  // entries again.
  void apply_dropout(int64_t b, int64_t h, int64_t t, int64_t s0, int64_t n, float* x) const {
    dropout_entries(x, x, ((b * s.H + h) * s.T + t) * s.S + s0, n, dropout.p, dropout.stream);
  }
};

// The two halves, on any layout of the heads (three tensors or one packed qkv), as in attention.cpp.
// out [B,T,H*Dv] and lse [B,H,T] are written whole.
void forward_heads(const Heads& s, const float* qd, const float* kd, const float* vd, const Masks& m,
                   float* od, float* lsed);
// dq, dk, dv (possibly one array) must be zero on entry: the backward accumulates into them.
void backward_heads(const Heads& s, const float* dout, const float* qd, const float* kd, const float* vd,
                    const float* od, const float* lsed, const Masks& m, float* dqd, float* dkd, float* dvd);

}  // namespace qkv::kernels::flash
