// Matrix products on tensors (see matmul.h): shape checks, NumPy broadcasting of the batch dims, and one
// GEMM per batch entry (or a single GEMM when a's batch can be folded into M).
// Leaves out: 1-D operands (reshape a vector to [1,K] or [K,1] first) and strided views (storage is dense).
#include "tensor/matmul.h"

#include <algorithm>
#include <string>
#include <vector>

#include "tensor/gemm/gemm.h"
#include "tensor/parallel.h"

namespace qkv::kernels {
namespace {

// "[2,3] @ [4,5]", with the flags named when set: "[2,3] @ [5,4] (trans_b)".
std::string describe(const Tensor& a, const Tensor& b, bool trans_a, bool trans_b) {
  std::string s = to_string(a.shape()) + " @ " + to_string(b.shape());
  if (trans_a && trans_b) return s + " (trans_a, trans_b)";
  if (trans_a) return s + " (trans_a)";
  if (trans_b) return s + " (trans_b)";
  return s;
}

// out = broadcast(batch_a, batch_b) (NumPy: align from the right, sizes equal or 1); false if they do not.
bool broadcast_batch(const Shape& batch_a, const Shape& batch_b, Shape& out) {
  const size_t rank = std::max(batch_a.size(), batch_b.size());
  out.assign(rank, 1);
  for (size_t d = 0; d < rank; ++d) {  // d counts from the right
    const int64_t sa = d < batch_a.size() ? batch_a[batch_a.size() - 1 - d] : 1;
    const int64_t sb = d < batch_b.size() ? batch_b[batch_b.size() - 1 - d] : 1;
    if (sa != sb && sa != 1 && sb != 1) return false;
    out[rank - 1 - d] = sa == 1 ? sb : sa;
  }
  return true;
}

// For each entry of the output batch (row-major), the index of the matrix of `batch` it reads:
// a size-1 dim of `batch` is reused along the output's dim (stride 0).
std::vector<int64_t> source_matrices(const Shape& batch, const Shape& out_batch) {
  const int64_t count = numel(out_batch);
  std::vector<int64_t> index(count, 0);
  const size_t offset = out_batch.size() - batch.size();  // batch is aligned to the right of out_batch
  for (int64_t flat = 0; flat < count; ++flat) {
    int64_t rest = flat, source = 0, stride = 1;
    for (size_t d = out_batch.size(); d-- > 0;) {
      const int64_t i = rest % out_batch[d];
      rest /= out_batch[d];
      if (d < offset) continue;
      const int64_t size = batch[d - offset];
      source += (size == 1 ? 0 : i) * stride;
      stride *= size;
    }
    index[flat] = source;
  }
  return index;
}

}  // namespace

Tensor matmul(const Tensor& a, const Tensor& b, bool trans_a, bool trans_b) {
  if (a.dim() < 2 || b.dim() < 2)
    fail("matmul", "both operands need rank >= 2, got " + describe(a, b, trans_a, trans_b) +
                       "; reshape a vector to [1,K] or [K,1] first");
  // a holds [..., M, K] ([..., K, M] when trans_a); b holds [..., K, N] ([..., N, K] when trans_b).
  const int64_t M = trans_a ? a.size(-1) : a.size(-2), K = trans_a ? a.size(-2) : a.size(-1);
  const int64_t K_b = trans_b ? b.size(-1) : b.size(-2), N = trans_b ? b.size(-2) : b.size(-1);
  if (K != K_b) {
    std::string what = "inner dimensions differ: " + describe(a, b, trans_a, trans_b);
    if (trans_a || trans_b) what += ", K " + std::to_string(K) + " vs " + std::to_string(K_b);
    fail("matmul", what);
  }
  const Shape batch_a(a.shape().begin(), a.shape().end() - 2),
      batch_b(b.shape().begin(), b.shape().end() - 2);
  Shape batch;
  if (!broadcast_batch(batch_a, batch_b, batch))
    fail("matmul", "batch dimensions " + to_string(batch_a) + " and " + to_string(batch_b) +
                       " cannot be broadcast: " + describe(a, b, trans_a, trans_b));

  Shape out_shape = batch;
  out_shape.push_back(M);
  out_shape.push_back(N);
  Tensor out = Tensor::empty(out_shape);  // gemm writes every element (accumulate is off)
  const int64_t batches = numel(batch);
  if (out.numel() == 0) return out;

  // One GEMM template; A, B and C are moved to each batch entry below.
  GemmArgs g{.M = M,
             .N = N,
             .K = K,
             .A = a.data(),
             .lda = trans_a ? M : K,
             .trans_a = trans_a,
             .B = b.data(),
             .ldb = trans_b ? K : N,
             .trans_b = trans_b,
             .C = out.mutable_data(),
             .ldc = N,
             .accumulate = false};

  // [B,T,D] @ [D,D]: when b is one matrix and a is not transposed, a's batch rows stack into one tall
  // [B*T, D] matrix and a single big GEMM replaces B small ones.
  if (numel(batch_b) == 1 && !trans_a) {
    g.M = M * batches;
    gemm(g);
    return out;
  }

  const std::vector<int64_t> from_a = source_matrices(batch_a, batch),
                             from_b = source_matrices(batch_b, batch);
  auto run = [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      GemmArgs gi = g;
      gi.A = a.data() + from_a[i] * M * K;
      gi.B = b.data() + from_b[i] * K * N;
      gi.C = g.C + i * M * N;
      gemm(gi);
    }
  };
  // Many small products (attention's [B*H, T, T]) are shared out whole among the threads, at least
  // kThreadWork multiply-adds per thread (a few microseconds) so that handing out work pays off; a big
  // product instead threads inside gemm(). Either way each product is computed the same, whatever the
  // thread count.
  constexpr int64_t kThreadWork = 64 * 64 * 64;
  const int64_t work = std::max<int64_t>(1, M * N * K);
  if (work < kThreadWork)
    parallel_for(batches, (kThreadWork + work - 1) / work, run);
  else
    run(0, batches);
  return out;
}

Tensor linear(const Tensor& x, const Tensor& weight, const Tensor& bias) {
  const int64_t out_features = weight.dim() == 2 ? weight.size(0) : -1;
  if (x.dim() < 1 || weight.dim() != 2 || x.shape().back() != weight.size(1) ||
      (bias.defined() && bias.shape() != Shape{out_features}))
    fail("linear", "expected x [...,in], weight [out,in], bias [out], got x " + to_string(x.shape()) +
                       ", weight " + to_string(weight.shape()) +
                       (bias.defined() ? ", bias " + to_string(bias.shape()) : ", no bias"));
  Shape out_shape = x.shape();
  out_shape.back() = out_features;
  Tensor out = Tensor::empty(out_shape);
  const int64_t rows = numel(Shape(x.shape().begin(), x.shape().end() - 1)), in = weight.size(1);
  if (out.numel() == 0) return out;
  // [rows, in] @ [out, in]^T + bias: the transpose flag reads W as W^T without a copy, and the micro-kernel
  // adds the bias row as it stores each tile of C (where it would add C's old value when accumulating)
  gemm({.M = rows,
        .N = out_features,
        .K = in,
        .A = x.data(),
        .lda = in,
        .trans_a = false,
        .B = weight.data(),
        .ldb = in,
        .trans_b = true,
        .C = out.mutable_data(),
        .ldc = out_features,
        .accumulate = false,
        .bias = bias.defined() ? bias.data() : nullptr});
  return out;
}

}  // namespace qkv::kernels
