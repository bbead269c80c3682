// TEMPORARY local stand-in (not committed)
#include "tensor/matmul.h"
#include "tensor/reduce.h"
#include "tensor/shape_ops.h"
namespace qkv::kernels {
Tensor matmul(const Tensor& a, const Tensor& b, bool ta, bool tb) {
  if (a.dim() < 2 || b.dim() < 2) fail("matmul", "rank");
  int64_t M = ta ? a.size(-1) : a.size(-2), K = ta ? a.size(-2) : a.size(-1);
  int64_t Kb = tb ? b.size(-1) : b.size(-2), N = tb ? b.size(-2) : b.size(-1);
  if (K != Kb) fail("matmul", "inner dimensions differ: " + to_string(a.shape()) + " @ " + to_string(b.shape()));
  Shape ba(a.shape().begin(), a.shape().end() - 2), bb(b.shape().begin(), b.shape().end() - 2);
  Shape batch = broadcast_shapes("matmul", ba, bb);
  Shape sa = batch; sa.push_back(a.size(-2)); sa.push_back(a.size(-1));
  Shape sb = batch; sb.push_back(b.size(-2)); sb.push_back(b.size(-1));
  Tensor A = broadcast_to(a, sa), B = broadcast_to(b, sb);
  Shape so = batch; so.push_back(M); so.push_back(N);
  Tensor C(so);
  int64_t nb = numel(batch);
  const float* pa = A.data(); const float* pb = B.data(); float* pc = C.mutable_data();
  for (int64_t n = 0; n < nb; ++n)
    for (int64_t i = 0; i < M; ++i)
      for (int64_t j = 0; j < N; ++j) {
        float s = 0;
        for (int64_t k = 0; k < K; ++k) s += (ta ? pa[n*M*K + k*M + i] : pa[n*M*K + i*K + k]) * (tb ? pb[n*K*N + j*K + k] : pb[n*K*N + k*N + j]);
        pc[n*M*N + i*N + j] = s;
      }
  return C;
}
}
