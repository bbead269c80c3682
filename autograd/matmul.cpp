// Differentiable matmul (see ops.h, tensor/matmul.h). With C = op(A) op(B) and dC the gradient of C:
//   dA = dC op(B)^T stored as A is (so as A^T when trans_a), dB likewise; each is one matmul with
// transpose flags (no copies). Broadcast batch dims are summed back with sum_to.
#include "tensor/matmul.h"
#include "autograd/ops.h"
#include "tensor/shape_ops.h"

namespace qkv {

using kernels::sum_to;
using Grads = std::vector<Tensor>;

Tensor matmul(const Tensor& a, const Tensor& b, bool trans_a, bool trans_b) {
  Tensor out = kernels::matmul(a, b, trans_a, trans_b);
  return record("matmul", out, {a, b}, {a, b},
                [=, sa = a.shape(), sb = b.shape()](const Tensor& g, auto& ctx) {
                  const Tensor& a = ctx.saved[0];
                  const Tensor& b = ctx.saved[1];
                  Tensor da, db;
                  if (ctx.needs_grad[0]) {
                    // forward was C = op(A) op(B)
                    if (!trans_a)
                      da = kernels::matmul(g, b, false, !trans_b);  // dA = dC op(B)^T
                    else
                      da = kernels::matmul(b, g, trans_b, true);  // dA^T = op(B) dC^T ... stored as A: [K,M]
                    da = sum_to(da, sa);
                  }
                  if (ctx.needs_grad[1]) {
                    // A batch of A times one matrix B (every Linear: [B,T,D] @ [D,D]): stack the batch
                    // into rows, [B*T,D], so dB is one GEMM over all rows, not B GEMMs summed by sum_to.
                    const bool fold = sb.size() == 2 && sa.size() > 2 && !trans_a;
                    const Tensor af = fold ? kernels::reshape(a, {-1, sa.back()}) : a;
                    const Tensor gf = fold ? kernels::reshape(g, {-1, g.shape().back()}) : g;
                    if (!trans_b)
                      db = kernels::matmul(af, gf, !trans_a, false);  // dB = op(A)^T dC
                    else
                      db = kernels::matmul(gf, af, true, trans_a);  // dB^T = dC^T op(A), stored as B: [N,K]
                    db = sum_to(db, sb);
                  }
                  return Grads{da, db};
                });
}

Tensor linear(const Tensor& x, const Tensor& weight, const Tensor& bias) {
  const Tensor y = kernels::linear(x, weight, bias);
  const std::vector<Tensor> inputs =
      bias.defined() ? std::vector<Tensor>{x, weight, bias} : std::vector<Tensor>{x, weight};
  return record("linear", y, inputs, {x, weight}, [](const Tensor& g, auto& ctx) {
    // y = x W^T + b with x, g seen as [N, in] and [N, out] (N = every leading dim):
    //   dx = g W [N,out] @ [out,in];  dW = g^T x [out,N] @ [N,in];  db = sum of g's rows
    const Tensor& x = ctx.saved[0];
    const Tensor& w = ctx.saved[1];
    Grads grads(ctx.needs_grad.size());
    if (ctx.needs_grad[0]) grads[0] = kernels::matmul(g, w);
    const Tensor g2 = kernels::reshape(g, {-1, w.size(0)});
    if (ctx.needs_grad[1]) grads[1] = kernels::matmul(g2, kernels::reshape(x, {-1, w.size(1)}), true, false);
    if (grads.size() > 2 && ctx.needs_grad[2]) grads[2] = sum_to(g2, {w.size(0)});
    return grads;
  });
}

}  // namespace qkv
