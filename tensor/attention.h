// Multi-head scaled dot-product attention in one kernel, forward and backward, reading the heads where
// the Q/K/V projections leave them: side by side in the last dim. Head h of q [B,T,H*Dh] is the column
// block q[b, :, h*Dh : (h+1)*Dh], a matrix with row stride H*Dh that GEMM reads in place (its lda), so
// the split-heads and merge-heads copies of the composed version (nn/multi_head_attention.cpp's reference
// in tests) are never made. Per (b, h), with scale = 1/sqrt(Dh):
//   weights = softmax(scale Q K^T, -inf where keep is 0)   [T,S]
//   dropped = weights * drop_mask (inverted dropout)       [T,S]   (= weights without dropout)
//   out     = dropped V                                    [T,Dv]  written into out[b, :, h*Dv : ...]
// Only the weights are stored: the dropout mask is drawn per head from its counter-based stream as the
// map is used (the same entries as dropout_mask({B,H,T,S}, p, stream), tensor/dropout.h), and the backward
// draws them again. Storing the mask and the dropped map would take two more [B,H,T,S] tensors, written
// once and read back three times (4 MiB written and 6 MiB read per call at B=32, H=4, T=S=64): on a
// machine streaming ~12 GB/s that was slower than the draws (a gpt training step 4% slower).
// The math of the backward is docs/derivations/attention_backward.md. Work is split over (b, h) pairs,
// each computed whole by one thread, so the bits do not depend on the thread count.
// A ragged batch (RaggedRows) skips padding altogether: only the real rows of each sequence are stored
// and computed.
// This materialised kernel stores every [T,S] map (the course draws them); the flash kernels below
// (tensor/attention/flash.cpp, docs/13-flash-attention.md) never do. choose_attention_kernel picks one.
// Each query row's products stop at the last key its mask keeps (a causal mask: the lower triangle of each
// map, in blocks; see KeyExtents in attention.cpp), with the same bits as whole maps.
// Leaves out: the projections (Linear layers around it).
#pragma once
#include <cstdint>

#include "tensor/random.h"
#include "tensor/ragged_rows.h"
#include "tensor/tensor.h"

namespace qkv::kernels {

// The sizes of a call, checked exactly as the kernels below check them (the same errors), for callers that
// need them first: autograd chooses the kernel and takes scale = 1/sqrt(Dh) from them. T and
// S are the longest sequences when ragged. The packed form reads qkv [B,T,3*H*Dh] (ragged: [N,3*H*Dh]).
struct AttentionSizes {
  int64_t B, T, S, H, Dh, Dv;
};
AttentionSizes attention_sizes(const char* op, const Tensor& q, const Tensor& k, const Tensor& v, int64_t H,
                               const RaggedRows* ragged = nullptr);
AttentionSizes attention_sizes_packed(const char* op, const Tensor& qkv, int64_t H,
                                      const RaggedRows* ragged = nullptr);

// Dropout of the attention weights: entry ((b*H + h)*T + t)*S + s of dropout_mask({B,H,T,S}, p, stream)
// (tensor/dropout.h), drawn inside the kernels (both the materialised and the flash ones) instead of
// being passed as a tensor.
struct AttentionDropout {
  float p = 0;  // 0: no dropout
  CounterStream stream{0};
};

struct AttentionForward {
  Tensor out;      // [B,T,H*Dv]
  Tensor weights;  // [B,H,T,S], after masking and softmax, before dropout
};

// q [B,T,H*Dh], k [B,S,H*Dh], v [B,S,H*Dv]. keep: undefined (no mask) or [B|1, T|1, S], 1 = attend.
// With `ragged`: q [Nq,H*Dh], k [Nk,H*Dh], v [Nk,H*Dv] and out [Nq,H*Dv], rows as ragged says; T and S in
// keep and in the dropout's [B,H,T,S] are the longest sequences (keep then holds only a causal mask, if any).
AttentionForward attention_forward(const Tensor& q, const Tensor& k, const Tensor& v, int64_t H,
                                   const Tensor& keep, float scale, const AttentionDropout& dropout,
                                   const RaggedRows* ragged = nullptr);

struct AttentionGrads {
  Tensor dq, dk, dv;  // shaped as q, k, v
};

// dout [B,T,H*Dv]; weights from attention_forward, the keep and the dropout given to it. (keep only tells
// which keys have weight 0, so that the products can stop before them: an undefined keep gives the same
// gradients, computed over whole maps.)
AttentionGrads attention_backward(const Tensor& dout, const Tensor& q, const Tensor& k, const Tensor& v,
                                  const Tensor& weights, const Tensor& keep, const AttentionDropout& dropout,
                                  int64_t H, float scale, const RaggedRows* ragged = nullptr);

// Self-attention with Q, K and V from one joint projection: qkv [B,T,3*H*Dh] holds them side by side
// (columns 0.., H*Dh.., 2*H*Dh..), read in place as above; S = T. The backward returns dqkv in that layout.
// With `ragged` (q_splits == k_splits): qkv [N,3*H*Dh].
AttentionForward attention_forward_packed(const Tensor& qkv, int64_t H, const Tensor& keep, float scale,
                                          const AttentionDropout& dropout, const RaggedRows* ragged = nullptr);
Tensor attention_backward_packed(const Tensor& dout, const Tensor& qkv, const Tensor& weights,
                                 const Tensor& keep, const AttentionDropout& dropout, int64_t H, float scale,
                                 const RaggedRows* ragged = nullptr);

// ---- flash attention (tensor/attention/flash.cpp; docs/13-flash-attention.md) ----
// The same attention walked block by block with an online softmax: no [T,S] map is ever stored, only one
// log-sum-exp per query row, and the backward recomputes each block's probabilities from it.
// Masks come in two parts so that neither needs a [T,S] tensor: keep [B|1,T|1,S] as above (key padding
// and valid_lens give [B,1,S]) and `causal`, query t seeing keys s <= t + S - T (bottom-right aligned;
// blocks entirely above that diagonal are skipped). Dropout is drawn inside the kernel as in the
// materialised one (AttentionDropout, above): the same mask, regenerated by the backward.

struct FlashForward {
  Tensor out;  // [B,T,H*Dv] (ragged: [Nq,H*Dv])
  Tensor lse;  // [B,H,T] log sum_s exp(scaled, masked score): -inf for a fully masked row (output 0)
};

FlashForward flash_attention_forward(const Tensor& q, const Tensor& k, const Tensor& v, int64_t H,
                                     const Tensor& keep, bool causal, float scale,
                                     const AttentionDropout& dropout, const RaggedRows* ragged = nullptr);
// out and lse from the forward; the rest as given to it.
AttentionGrads flash_attention_backward(const Tensor& dout, const Tensor& q, const Tensor& k, const Tensor& v,
                                        const Tensor& out, const Tensor& lse, int64_t H, const Tensor& keep,
                                        bool causal, float scale, const AttentionDropout& dropout,
                                        const RaggedRows* ragged = nullptr);
// The packed self-attention form (qkv [B,T,3*H*Dh], S = T); the backward returns dqkv.
FlashForward flash_attention_forward_packed(const Tensor& qkv, int64_t H, const Tensor& keep, bool causal,
                                            float scale, const AttentionDropout& dropout,
                                            const RaggedRows* ragged = nullptr);
Tensor flash_attention_backward_packed(const Tensor& dout, const Tensor& qkv, const Tensor& out,
                                       const Tensor& lse, int64_t H, const Tensor& keep, bool causal,
                                       float scale, const AttentionDropout& dropout,
                                       const RaggedRows* ragged = nullptr);

// keep [B|1,T|1,S] (or undefined) and-ed with the causal mask, as the materialised kernel takes it: the
// dense [B|1,T,S] form, built only when that kernel runs.
Tensor keep_with_causal(const Tensor& keep, int64_t T, int64_t S);

// Which kernel computes an attention call: decided here and nowhere else (docs/13-flash-attention.md).
enum class AttentionKernel { automatic, materialised, flash };
AttentionKernel choose_attention_kernel(const AttentionSizes& s, bool need_weights,
                                        AttentionKernel requested = AttentionKernel::automatic);

}  // namespace qkv::kernels
