// Fused kernels behind nn's building blocks: layer norm, cross-entropy and the dropout mask.
// Each is also expressible with the primitive ops; the tests check them against that composition.
#pragma once
#include "tensor/random.h"
#include "tensor/tensor.h"

namespace qkv::kernels {

// Layer norm over the last dim D of x [..., D]:  y = (x - mean) * rstd * gamma + beta,
// rstd = 1 / sqrt(var + eps), var the biased variance. gamma/beta [D] may be undefined (no affine).
// mean and rstd have x's shape without its last dim; backward needs them.
struct LayerNormOut {
  Tensor y, mean, rstd;
};
LayerNormOut layer_norm(const Tensor& x, const Tensor& gamma, const Tensor& beta, float eps);
struct LayerNormGrads {
  Tensor dx, dgamma, dbeta;  // dgamma/dbeta undefined when gamma was
};
LayerNormGrads layer_norm_backward(const Tensor& dy, const Tensor& x, const Tensor& mean, const Tensor& rstd,
                                   const Tensor& gamma);

// Cross-entropy of logits [N,V] against integer-valued float targets [N]; a target equal to
// ignore_index contributes nothing. loss = mean over the kept rows of -log softmax(logits)[target];
// 0 (not NaN) when every row is ignored. probs (softmax of logits) is kept for backward.
struct CrossEntropyOut {
  Tensor loss;   // 0-d
  Tensor probs;  // [N,V]
  int64_t kept;  // rows not ignored
};
CrossEntropyOut cross_entropy(const Tensor& logits, const Tensor& targets, int64_t ignore_index = -100,
                              float label_smoothing = 0);
// dlogits = dloss * (probs - onehot_smoothed(target)) / kept on kept rows, 0 on ignored rows.
Tensor cross_entropy_backward(const CrossEntropyOut& out, const Tensor& targets, int64_t ignore_index,
                              float label_smoothing, float dloss);

// Inverted dropout's mask: each entry is 0 with probability p, else 1 / (1 - p), so mask * x keeps
// the expectation of x. p in [0, 1); p == 0 gives all ones. Entry i is drawn from stream.bits32(i)
// alone, so threads can share the work and still draw the same mask for any thread count. The Generator
// overload takes its stream from gen.split().
Tensor dropout_mask(const Shape& shape, float p, CounterStream stream);
Tensor dropout_mask(const Shape& shape, float p, Generator& gen = default_generator());
// Inverted dropout x * dropout_mask(x.shape(), p, stream) in one pass, without building the mask.
// It is its own backward: y = x * mask gives dx = dy * mask, which is dropout(dy, p, stream) again, so
// backward keeps only the stream (8 bytes) and redraws the mask instead of storing it.
Tensor dropout(const Tensor& x, float p, CounterStream stream);

}  // namespace qkv::kernels
