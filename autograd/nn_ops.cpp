// Differentiable ops behind the layers (see ops.h): softmax, dropout, layer norm, cross-entropy.
// Their backward calls fused kernels from tensor/softmax.h and tensor/nn_kernels.h; docs/ derives them.
#include "autograd/ops.h"
#include "tensor/checks.h"
#include "tensor/nn_kernels.h"
#include "tensor/softmax.h"

namespace qkv {

using Grads = std::vector<Tensor>;

Tensor softmax(const Tensor& x, int64_t dim) {
  Tensor y = kernels::softmax(x, dim);
  return record("softmax", y, {x}, {y}, [dim](const Tensor& g, auto& ctx) {
    // dx = y * (dy - sum(dy * y))      (docs/derivations/softmax.md)
    return Grads{kernels::softmax_backward(ctx.saved[0], g, dim)};
  });
}

Tensor log_softmax(const Tensor& x, int64_t dim) {
  Tensor y = kernels::log_softmax(x, dim);
  return record("log_softmax", y, {x}, {y}, [dim](const Tensor& g, auto& ctx) {
    // dx = dy - softmax(x) * sum(dy)
    return Grads{kernels::log_softmax_backward(ctx.saved[0], g, dim)};
  });
}

Tensor dropout(const Tensor& x, float p, bool training, Generator& gen) {
  check::fraction("dropout", "p", p);
  if (!training || p == 0) return x;
  const CounterStream stream = gen.split();  // one draw of gen, however large x is
  return record("dropout", kernels::dropout(x, p, stream), {x}, {}, [p, stream](const Tensor& g, auto&) {
    // y = x * mask, so dx = dy * mask: the same mask, redrawn from the same stream
    return Grads{kernels::dropout(g, p, stream)};
  });
}

Tensor layer_norm(const Tensor& x, const Tensor& gamma, const Tensor& beta, float eps) {
  kernels::LayerNormOut out = kernels::layer_norm(x, gamma, beta, eps);
  return record("layer_norm", out.y, {x, gamma, beta}, {x, out.mean, out.rstd, gamma},
                [](const Tensor& g, auto& ctx) {
                  // dx = rstd * (dxhat - mean(dxhat) - xhat * mean(dxhat * xhat)), dxhat = dy * gamma
                  // (docs/derivations/layer_norm.md)
                  const auto& s = ctx.saved;
                  kernels::LayerNormGrads grads = kernels::layer_norm_backward(g, s[0], s[1], s[2], s[3]);
                  return Grads{grads.dx, grads.dgamma, grads.dbeta};
                });
}

Tensor cross_entropy(const Tensor& logits, const Tensor& targets, int64_t ignore_index,
                     float label_smoothing) {
  kernels::CrossEntropyOut out = kernels::cross_entropy(logits, targets, ignore_index, label_smoothing);
  const int64_t kept = out.kept;
  return record(
      "cross_entropy", out.loss, {logits, targets}, {out.probs, targets}, [=](const Tensor& g, auto& ctx) {
        // dlogits = dloss * (softmax(logits) - target distribution) / kept, 0 on ignored rows
        const kernels::CrossEntropyOut saved{Tensor(), ctx.saved[0], kept};
        return Grads{
            kernels::cross_entropy_backward(saved, ctx.saved[1], ignore_index, label_smoothing, g.item()),
            Tensor()};
      });
}

}  // namespace qkv
