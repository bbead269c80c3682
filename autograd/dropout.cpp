// Differentiable inverted dropout (see ops.h, tensor/dropout.h): the backward redraws the forward's mask
// from the same counter-based stream instead of storing it.
#include "tensor/dropout.h"
#include "autograd/ops.h"
#include "tensor/checks.h"

namespace qkv {

using Grads = std::vector<Tensor>;

Tensor dropout(const Tensor& x, float p, bool training, Generator& gen) {
  check::fraction("dropout", "p", p);
  if (!training || p == 0) return x;
  const CounterStream stream = gen.split();  // one draw of gen, however large x is
  return record("dropout", kernels::dropout(x, p, stream), {x}, {}, [p, stream](const Tensor& g, auto&) {
    // y = x * mask, so dx = dy * mask: the same mask, redrawn from the same stream
    return Grads{kernels::dropout(g, p, stream)};
  });
}

}  // namespace qkv
