// Differentiable rotary position embeddings (see ops.h), on the kernel of tensor/rope.h.
#include "tensor/rope.h"
#include "autograd/ops.h"

namespace qkv {

Tensor rope(const Tensor& x, int64_t num_heads, int64_t pos_offset, float base) {
  return record("rope", kernels::rope(x, num_heads, pos_offset, base), {x}, {},
                [num_heads, pos_offset, base](const Tensor& g, auto&) {
                  // y = R x with R a rotation per pair, so dx = R^T dy: the same turn backwards
                  return std::vector<Tensor>{kernels::rope(g, num_heads, pos_offset, base, /*inverse=*/true)};
                });
}

}  // namespace qkv
