// Tests for the tensor matmul (tensor/matmul.h): every transpose flag, batch dims broadcast like NumPy,
// the batch folded into one GEMM, zero sizes, named errors and thread counts, each product checked against
// the naive loop of tensor/gemm/gemm.h.
#include <cmath>
#include <cstring>

#include "helpers.h"
#include "tensor/creation.h"
#include "tensor/gemm/gemm.h"
#include "tensor/matmul.h"
#include "tensor/parallel.h"

using namespace qkv;

namespace {

// out[i] = op(a[i]) op(b[i]) for one [rows, cols] matrix of each, by the naive loop.
Tensor naive_matmul_2d(const float* a, const float* b, int64_t M, int64_t N, int64_t K, bool ta, bool tb) {
  Tensor out({M, N});
  gemm_naive({M, N, K, a, ta ? M : K, ta, b, tb ? K : N, tb, out.mutable_data(), N, false});
  return out;
}

void require_close(const float* got, const float* want, int64_t n) {
  for (int64_t i = 0; i < n; ++i) REQUIRE(std::abs(got[i] - want[i]) <= 1e-4f * (1 + std::abs(want[i])));
}

}  // namespace

TEST_CASE("matmul: 2-D product with every transpose flag") {
  const int64_t M = 5, K = 7, N = 4;
  for (bool ta : {false, true})
    for (bool tb : {false, true}) {
      // trans_a: a is stored [K,M] and read as its transpose; trans_b: b is stored [N,K].
      const Tensor a = randn(ta ? Shape{K, M} : Shape{M, K}), b = randn(tb ? Shape{N, K} : Shape{K, N});
      const Tensor out = kernels::matmul(a, b, ta, tb);
      REQUIRE(out.shape() == Shape{M, N});
      require_close(out.data(), naive_matmul_2d(a.data(), b.data(), M, N, K, ta, tb).data(), M * N);
    }
}

TEST_CASE("matmul: batch dims broadcast like NumPy, each product equal to the 2-D one") {
  // a [2,1,3,4] @ b [5,4,6] -> [2,5,3,6]; out[i,j] = a[i,0] @ b[j].
  const Tensor a = randn({2, 1, 3, 4}), b = randn({5, 4, 6});
  const Tensor out = kernels::matmul(a, b);
  REQUIRE(out.shape() == Shape{2, 5, 3, 6});
  for (int64_t i = 0; i < 2; ++i)
    for (int64_t j = 0; j < 5; ++j) {
      const Tensor want = naive_matmul_2d(a.data() + i * 12, b.data() + j * 24, 3, 6, 4, false, false);
      require_close(out.data() + (i * 5 + j) * 18, want.data(), 18);
    }
}

TEST_CASE("matmul: transposed flags on batched tensors (Q K^T and the backward products)") {
  // queries [B,T,Dh] @ keys [B,S,Dh]^T -> scores [B,T,S]; and trans_a: [B,T,S]^T @ [B,T,Dh] -> [B,S,Dh].
  const int64_t B = 3, T = 5, S = 7, Dh = 4;
  const Tensor queries = randn({B, T, Dh}), keys = randn({B, S, Dh}), grad = randn({B, T, Dh});
  const Tensor scores = kernels::matmul(queries, keys, false, true);
  REQUIRE(scores.shape() == Shape{B, T, S});
  const Tensor back = kernels::matmul(scores, grad, true, false);
  REQUIRE(back.shape() == Shape{B, S, Dh});
  const Tensor both = kernels::matmul(keys, scores, true, true);  // [B,S,Dh]^T @ [B,T,S]^T -> [B,Dh,T]
  REQUIRE(both.shape() == Shape{B, Dh, T});
  for (int64_t i = 0; i < B; ++i) {
    require_close(
        scores.data() + i * T * S,
        naive_matmul_2d(queries.data() + i * T * Dh, keys.data() + i * S * Dh, T, S, Dh, false, true).data(),
        T * S);
    require_close(
        back.data() + i * S * Dh,
        naive_matmul_2d(scores.data() + i * T * S, grad.data() + i * T * Dh, S, Dh, T, true, false).data(),
        S * Dh);
    require_close(
        both.data() + i * Dh * T,
        naive_matmul_2d(keys.data() + i * S * Dh, scores.data() + i * T * S, Dh, T, S, true, true).data(),
        Dh * T);
  }
}

TEST_CASE("matmul: [B,T,D] @ [D,D] folds the batch into one GEMM with the same numbers") {
  const Tensor x = randn({4, 9, 16}), w = randn({16, 8}), w3 = w.view({1, 16, 8});
  const Tensor out = kernels::matmul(x, w), out3 = kernels::matmul(x, w3);
  REQUIRE(out.shape() == Shape{4, 9, 8});
  REQUIRE(out3.shape() == Shape{4, 9, 8});
  for (int64_t i = 0; i < 4; ++i)
    require_close(out.data() + i * 72,
                  naive_matmul_2d(x.data() + i * 144, w.data(), 9, 8, 16, false, false).data(), 72);
  REQUIRE(out.to_vector() == out3.to_vector());
}

TEST_CASE("matmul: zero-size dims, and K = 0 gives zeros") {
  REQUIRE(kernels::matmul(Tensor(Shape{0, 3}), Tensor(Shape{3, 4})).shape() == Shape{0, 4});
  REQUIRE(kernels::matmul(Tensor(Shape{2, 3}), Tensor(Shape{3, 0})).shape() == Shape{2, 0});
  REQUIRE(kernels::matmul(Tensor(Shape{0, 2, 3}), Tensor(Shape{3, 4})).shape() == Shape{0, 2, 4});
  const Tensor zeros = kernels::matmul(Tensor(Shape{2, 2, 0}, 1.0f), Tensor(Shape{2, 0, 3}, 1.0f));
  REQUIRE(zeros.shape() == Shape{2, 2, 3});
  REQUIRE(zeros.to_vector() == std::vector<float>(12, 0.0f));
}

TEST_CASE("matmul: errors name the op, the shapes and the flags") {
  REQUIRE_THROWS_WITH(kernels::matmul(Tensor(Shape{2, 3}), Tensor(Shape{4, 5})),
                      "matmul: inner dimensions differ: [2,3] @ [4,5]");
  REQUIRE_THROWS_WITH(kernels::matmul(Tensor(Shape{2, 3}), Tensor(Shape{4, 5}), false, true),
                      "matmul: inner dimensions differ: [2,3] @ [4,5] (trans_b), K 3 vs 5");
  REQUIRE_THROWS_WITH(kernels::matmul(Tensor(Shape{2, 3}), Tensor(Shape{3, 2}), true, false),
                      "matmul: inner dimensions differ: [2,3] @ [3,2] (trans_a), K 2 vs 3");
  REQUIRE_THROWS_WITH(kernels::matmul(Tensor(Shape{3}), Tensor(Shape{3, 4})),
                      Catch::Contains("rank >= 2, got [3] @ [3,4]"));
  REQUIRE_THROWS_WITH(kernels::matmul(Tensor(Shape{2, 3}), Tensor(Shape{3})),
                      Catch::Contains("matmul: both operands need"));
  REQUIRE_THROWS_WITH(kernels::matmul(Tensor(Shape{2, 3, 4}), Tensor(Shape{3, 4, 5})),
                      "matmul: batch dimensions [2] and [3] cannot be broadcast: [2,3,4] @ [3,4,5]");
}

TEST_CASE("matmul: many small products shared among threads give bitwise equal results") {
  qkv::testing::RestoreThreads restore;
  const Tensor a = randn({64, 32, 32}), b = randn({64, 32, 32});  // 64 products, a few per thread
  set_num_threads(1);
  const Tensor one = kernels::matmul(a, b, false, true);
  set_num_threads(2);
  const Tensor two = kernels::matmul(a, b, false, true);
  REQUIRE(std::memcmp(one.data(), two.data(), one.numel() * sizeof(float)) == 0);
}
