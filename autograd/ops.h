// The differentiable ops: what a user calls. Each computes its forward with a tensor/ kernel and records
// a Node whose backward is written beside it (derivative as a one-line comment), in the .cpp named
// below. Broadcast operands get their gradient summed back to their own shape.
// Backward itself records nothing (no double backward).
#pragma once
#include <vector>

#include "autograd/grad_mode.h"
#include "autograd/node.h"
#include "tensor/attention.h"
#include "tensor/creation.h"
#include "tensor/elementwise.h"
#include "tensor/ragged_rows.h"
#include "tensor/random.h"
#include "tensor/reduce.h"
#include "tensor/tensor.h"

namespace qkv {

// ---- elementwise.cpp: arithmetic, broadcasting ----
Tensor add(const Tensor& a, const Tensor& b);
Tensor sub(const Tensor& a, const Tensor& b);
Tensor mul(const Tensor& a, const Tensor& b);
Tensor div(const Tensor& a, const Tensor& b);
Tensor add(const Tensor& x, float s);
Tensor mul(const Tensor& x, float s);
Tensor div(float s, const Tensor& x);  // s / x, rounded once (PyTorch's s / x is reciprocal(x) * s)
Tensor neg(const Tensor& x);
Tensor pow(const Tensor& x, float p);
Tensor exp(const Tensor& x);
Tensor log(const Tensor& x);
Tensor sqrt(const Tensor& x);
// |x|; its gradient is sign(x), and 0 at x == 0 (PyTorch's choice, a subgradient of the kink).
Tensor abs(const Tensor& x);
Tensor tanh(const Tensor& x);
Tensor sigmoid(const Tensor& x);
Tensor relu(const Tensor& x);
Tensor gelu(const Tensor& x);  // exact (erf) GELU, as PyTorch's default

Tensor operator+(const Tensor& a, const Tensor& b);
Tensor operator-(const Tensor& a, const Tensor& b);
Tensor operator*(const Tensor& a, const Tensor& b);
Tensor operator/(const Tensor& a, const Tensor& b);
Tensor operator-(const Tensor& x);
Tensor operator+(const Tensor& x, float s);
Tensor operator+(float s, const Tensor& x);
Tensor operator-(const Tensor& x, float s);
Tensor operator-(float s, const Tensor& x);
Tensor operator*(const Tensor& x, float s);
Tensor operator*(float s, const Tensor& x);
Tensor operator/(const Tensor& x, float s);
Tensor operator/(float s, const Tensor& x);

// Comparisons give masks (1 where true, 0 where false); they have no gradient.
using kernels::eq, kernels::ne, kernels::lt, kernels::le, kernels::gt, kernels::ge, kernels::argmax;

// ---- reduce.cpp ----
Tensor sum(const Tensor& x);  // all elements -> 0-d
Tensor sum(const Tensor& x, int64_t dim, bool keepdim = false);
Tensor mean(const Tensor& x);
Tensor mean(const Tensor& x, int64_t dim, bool keepdim = false);
// Max along dim. The gradient flows to one position per row: the first maximum (ties go to the lowest
// index, like argmax), where PyTorch's max(dim) also picks a single index.
Tensor max(const Tensor& x, int64_t dim, bool keepdim = false);

// ---- matmul.cpp ----
// op(a) @ op(b), batched over broadcast leading dims; see tensor/matmul.h for the shapes and flags.
Tensor matmul(const Tensor& a, const Tensor& b, bool trans_a = false, bool trans_b = false);
// x [..., in] @ weight [out, in]^T + bias [out] -> [..., out], one node (bias may be undefined): what
// matmul(x, weight, false, true) + bias computes, with the bias added inside the GEMM.
Tensor linear(const Tensor& x, const Tensor& weight, const Tensor& bias = Tensor());

// ---- shape_ops.cpp ----
Tensor reshape(const Tensor& x, Shape shape);  // shares storage; one -1 allowed
Tensor unsqueeze(const Tensor& x, int64_t dim);
Tensor squeeze(const Tensor& x, int64_t dim);
Tensor permute(const Tensor& x, const std::vector<int64_t>& dims);  // copies
Tensor transpose(const Tensor& x, int64_t dim0, int64_t dim1);      // copies
Tensor slice(const Tensor& x, int64_t dim, int64_t start, int64_t end, int64_t step = 1);
Tensor narrow(const Tensor& x, int64_t dim, int64_t start, int64_t length);
Tensor concat(const std::vector<Tensor>& xs, int64_t dim);
Tensor stack(const std::vector<Tensor>& xs, int64_t dim);
// Gather along dim with integer-valued indices of any shape; the backward adds repeated rows twice.
Tensor index_select(const Tensor& x, int64_t dim, const Tensor& indices);
// Embedding lookup: weight [V,D], ids [...] -> [..., D].
Tensor embedding(const Tensor& weight, const Tensor& ids);

// ---- elementwise.cpp: selection ----
Tensor masked_fill(const Tensor& x, const Tensor& fill_where, float value);  // fill_where != 0 -> value
Tensor where(const Tensor& cond, const Tensor& a, const Tensor& b);          // cond != 0 ? a : b

// ---- softmax.cpp ----
Tensor softmax(const Tensor& x, int64_t dim);
Tensor log_softmax(const Tensor& x, int64_t dim);
// ---- dropout.cpp ----
// Inverted dropout: in training, zero each entry with probability p and scale the rest by 1/(1-p);
// identity when !training or p == 0. The backward redraws the mask from the same stream (not stored).
Tensor dropout(const Tensor& x, float p, bool training, Generator& gen = default_generator());
// ---- layer_norm.cpp ----
// Layer norm over the last dim: gamma, beta [D] (may be undefined for no affine part).
Tensor layer_norm(const Tensor& x, const Tensor& gamma, const Tensor& beta, float eps = 1e-5f);
// ---- rms_norm.cpp ----
// RMS norm over the last dim: x / sqrt(mean(x^2) + eps) * gamma; gamma [D] (may be undefined).
Tensor rms_norm(const Tensor& x, const Tensor& gamma, float eps = 1e-5f);
// ---- rope.cpp ----
// Rotary position embeddings (tensor/rope.h): x [..., T, H*Dh], row t turned as position pos_offset + t.
Tensor rope(const Tensor& x, int64_t num_heads, int64_t pos_offset = 0, float base = 10000.0f);
// ---- swiglu.cpp ----
// SwiGLU's gate: silu(a) * b = a sigmoid(a) b, elementwise, a and b of one shape.
Tensor swiglu(const Tensor& a, const Tensor& b);
// ---- cross_entropy.cpp ----
// Mean cross-entropy of logits [N,V] against class ids [N], or [B,T,V] against [B,T] (as reshaped to
// [B*T,V]); targets == ignore_index are skipped, and a batch where all are skipped gives 0 (not NaN).
// The class dim is last, where the models put it (PyTorch's is dim 1: [N,C,d1]).
Tensor cross_entropy(const Tensor& logits, const Tensor& targets, int64_t ignore_index = -100,
                     float label_smoothing = 0);

// ---- attention.cpp ----
// Scaled dot-product attention in every head at once, on heads laid side by side in the last dim (the
// layout Q/K/V projections produce; tensor/attention.h): q [B,T,H*Dh], k [B,S,H*Dh],
// v [B,S,H*Dv] -> [B,T,H*Dv], already merged. keep: [B|1,T|1,S] (1 = attend) or undefined for no mask.
// Dropout p on the weights when training. When `weights` is given it receives the [B,H,T,S] attention
// weights (before dropout, detached, for pictures). Equal to splitting the heads, scaled dot-product
// attention per head and merging them, without the copies in between.
// With `ragged` (a batch without padding, see kernels::RaggedRows): q [Nq,H*Dh], k [Nk,H*Dh], v [Nk,H*Dv]
// -> [Nq,H*Dv]; keep is at most causal [1,T,S] and the weights [B,H,T,S], T and S the longest sequences.
Tensor multi_head_attention(const Tensor& q, const Tensor& k, const Tensor& v, int64_t H, const Tensor& keep,
                            float dropout_p, bool training, Tensor* weights = nullptr,
                            Generator& gen = default_generator(),
                            const kernels::RaggedRows* ragged = nullptr);
// Self-attention from one joint projection: qkv [B,T,3*H*Dh] holds Q, K, V side by side (x @ [W_q; W_k;
// W_v]^T), -> [B,T,H*Dh]. The same numbers as multi_head_attention on the three column blocks.
Tensor multi_head_self_attention(const Tensor& qkv, int64_t H, const Tensor& keep, float dropout_p,
                                 bool training, Tensor* weights = nullptr,
                                 Generator& gen = default_generator(),
                                 const kernels::RaggedRows* ragged = nullptr);
// Both with every option named, and two more: `causal` (query t sees keys s <= t + S - T, with no dense
// mask built) and `kernel`, which tests and benchmarks use to ask for one kernel; by default
// kernels::choose_attention_kernel picks (docs/13-flash-attention.md). Weights are made only when
// `weights` is given (PyTorch's need_weights): training does not pay for them, and the flash kernel,
// which never forms them, runs for long sequences.
struct AttentionOptions {
  Tensor keep{};  // [B|1,T|1,S], 1 = attend, or undefined
  bool causal = false;
  float dropout_p = 0;
  bool training = false;
  Tensor* weights = nullptr;  // need_weights: receives [B,H,T,S] (before dropout, detached)
  Generator* gen = nullptr;   // for dropout; default_generator() when null
  const kernels::RaggedRows* ragged = nullptr;
  kernels::AttentionKernel kernel = kernels::AttentionKernel::automatic;
};
Tensor multi_head_attention(const Tensor& q, const Tensor& k, const Tensor& v, int64_t H,
                            const AttentionOptions& options);
Tensor multi_head_self_attention(const Tensor& qkv, int64_t H, const AttentionOptions& options);

}  // namespace qkv
