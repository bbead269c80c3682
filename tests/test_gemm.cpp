// Tests for the GEMM (tensor/gemm.h) and the tensor matmul (tensor/matmul.h): both checked against the naive
// triple loop on awkward sizes, every transpose combination, strides, accumulate, both micro-kernels, thread
// counts, batching with broadcasting, and every error message. Speed is measured in bench_matmul, not here.
#include <array>
#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "catch.h"
#include "tensor/creation.h"
#include "tensor/gemm.h"
#include "tensor/matmul.h"
#include "tensor/parallel.h"

using namespace qkv;

namespace {

std::vector<float> random_values(int64_t n, uint64_t seed) {
  Generator gen(seed);
  return randn({n}, gen).to_vector();
}

// One GEMM problem with every stride padded by `pad` elements, run by gemm() and by gemm_naive().
struct Problem {
  int64_t M, N, K;
  bool trans_a, trans_b, accumulate;
  int64_t pad = 0;

  GemmArgs args(const std::vector<float>& a, const std::vector<float>& b, std::vector<float>& c) const {
    return {M,
            N,
            K,
            a.data(),
            (trans_a ? M : K) + pad,
            trans_a,
            b.data(),
            (trans_b ? K : N) + pad,
            trans_b,
            c.data(),
            N + pad,
            accumulate};
  }
  int64_t a_size() const { return (trans_a ? K : M) * ((trans_a ? M : K) + pad); }
  int64_t b_size() const { return (trans_b ? N : K) * ((trans_b ? K : N) + pad); }
  int64_t c_size() const { return M * (N + pad); }
};

// |fast - naive| <= 1e-4 * (1 + sqrt(K)) * (1 + |naive|): float rounding grows with the length of each sum.
// Padding between rows of C must come back untouched.
void check_against_naive(const Problem& p) {
  const std::vector<float> a = random_values(p.a_size(), 1), b = random_values(p.b_size(), 2);
  std::vector<float> c_fast = random_values(p.c_size(), 3), c_naive = c_fast;
  gemm(p.args(a, b, c_fast));
  gemm_naive(p.args(a, b, c_naive));
  const double tol = 1e-4 * (1 + std::sqrt(static_cast<double>(p.K)));
  int64_t bad = 0;
  for (int64_t i = 0; i < p.c_size(); ++i)
    if (std::abs(c_fast[i] - c_naive[i]) > tol * (1 + std::abs(c_naive[i]))) ++bad;
  INFO("M=" << p.M << " N=" << p.N << " K=" << p.K << " trans_a=" << p.trans_a << " trans_b=" << p.trans_b
            << " accumulate=" << p.accumulate << " pad=" << p.pad);
  REQUIRE(bad == 0);
}

void check_all_transposes(int64_t M, int64_t N, int64_t K, bool accumulate = false, int64_t pad = 0) {
  for (bool ta : {false, true})
    for (bool tb : {false, true}) check_against_naive({M, N, K, ta, tb, accumulate, pad});
}

// Restores the default kernel and thread count when a test ends, even by a failed REQUIRE.
struct RestoreDefaults {
  int threads = get_num_threads();
  ~RestoreDefaults() {
    set_gemm_use_avx2(true);
    set_num_threads(threads);
  }
};

}  // namespace

TEST_CASE("gemm: square awkward sizes match the naive loop, all transposes") {
  for (int64_t n : {1, 2, 7, 17, 33, 65, 127, 255}) check_all_transposes(n, n, n);
  check_against_naive({513, 513, 513, false, false, false});
}

TEST_CASE("gemm: non-square sizes match the naive loop, all transposes") {
  check_all_transposes(7, 513, 33);
  check_all_transposes(513, 7, 33);
  check_all_transposes(33, 17, 513);  // K longer than one KC block
  check_all_transposes(1, 65, 300);
  check_all_transposes(150, 1, 2);  // M longer than one MC block
  // Above 128^3 multiply-adds the packed, cache-blocked path runs: K spans 3 KC blocks, M 3 MC blocks.
  check_all_transposes(7, 513, 600);
  check_all_transposes(300, 20, 513);
}

TEST_CASE("gemm: strides larger than the rows and accumulate into C") {
  check_all_transposes(17, 33, 65, /*accumulate=*/false, /*pad=*/5);
  check_all_transposes(17, 33, 65, /*accumulate=*/true, /*pad=*/0);
  check_all_transposes(65, 127, 300, /*accumulate=*/true, /*pad=*/3);
}

TEST_CASE("gemm: the AVX2 and the portable micro-kernels both match the naive loop") {
  RestoreDefaults restore;
  for (bool avx2 : {true, false}) {
    INFO("avx2 requested=" << avx2 << " cpu has it=" << cpu_has_avx2_fma());
    set_gemm_use_avx2(avx2);
    for (int64_t n : {1, 7, 33, 127}) check_all_transposes(n, n + 3, n + 1, /*accumulate=*/true, /*pad=*/2);
    check_against_naive({100, 70, 513, true, false, false});
  }
}

TEST_CASE("gemm: every tile height and every kind of B sliver match the naive loop, both kernels") {
  // M = 1..13 cuts into row tiles of every height 1..6 (13 rows: 5,4,4); N = 16, 32 are whole slivers
  // (read in place, or packed when trans_b), 33 and 47 add a narrow edge; 32 and 64 are the benchmark's sizes.
  RestoreDefaults restore;
  for (bool avx2 : {true, false}) {
    INFO("avx2 requested=" << avx2);
    set_gemm_use_avx2(avx2);
    for (int64_t M = 1; M <= 13; ++M)
      for (int64_t N : {16, 32, 33, 47})
        for (int64_t K : {1, 5, 64}) {
          check_all_transposes(M, N, K);
          check_all_transposes(M, N, K, /*accumulate=*/true, /*pad=*/1);
        }
    for (int64_t n : {32, 64}) {
      check_all_transposes(n, n, n);
      check_all_transposes(n, n, n, /*accumulate=*/true);
    }
  }
}

TEST_CASE(
    "gemm: a bias row is added to every row of C, on every path, by both kernels and any thread count") {
  // direct (small), blocked with K in one and in three KC slices, narrow right edges, every transpose,
  // and C split by rows and by columns across 2 threads; compared with the naive loop, then 1 vs 2 threads.
  RestoreDefaults restore;
  for (bool avx2 : {true, false}) {
    set_gemm_use_avx2(avx2);
    for (auto [M, N, K] :
         {std::array<int64_t, 3>{5, 7, 3}, {13, 33, 64}, {300, 70, 200}, {70, 300, 200}, {100, 20, 600}})
      for (bool ta : {false, true})
        for (bool tb : {false, true}) {
          INFO("M=" << M << " N=" << N << " K=" << K << " trans_a=" << ta << " trans_b=" << tb
                    << " avx2=" << avx2);
          const std::vector<float> a = random_values(M * K, 21), b = random_values(K * N, 22),
                                   bias = random_values(N, 23);
          std::vector<float> fast(M * N), naive(M * N), two(M * N);
          GemmArgs g{M,          N,  K,           a.data(), ta ? M : K, ta,         b.data(),
                     tb ? K : N, tb, fast.data(), N,        false,      bias.data()};
          set_num_threads(1);
          gemm(g);
          GemmArgs gn = g;
          gn.C = naive.data();
          gemm_naive(gn);
          const double tol = 1e-4 * (1 + std::sqrt(static_cast<double>(K)));
          for (int64_t i = 0; i < M * N; ++i)
            REQUIRE(std::abs(fast[i] - naive[i]) <= tol * (1 + std::abs(naive[i])));
          set_num_threads(2);
          GemmArgs g2 = g;
          g2.C = two.data();
          gemm(g2);
          REQUIRE(std::memcmp(fast.data(), two.data(), fast.size() * sizeof(float)) == 0);
        }
  }
  // K = 0: every row is the bias; bias with accumulate is refused
  std::vector<float> bias{1, 2, 3}, c(6, 9), none;
  gemm({2, 3, 0, none.data(), 0, false, none.data(), 3, false, c.data(), 3, false, bias.data()});
  CHECK(c == std::vector<float>{1, 2, 3, 1, 2, 3});
  CHECK_THROWS_WITH(
      gemm({2, 3, 0, none.data(), 0, false, none.data(), 3, false, c.data(), 3, true, bias.data()}),
      Catch::Contains("gemm") && Catch::Contains("bias") && Catch::Contains("accumulate"));
}

TEST_CASE("gemm: K = 0 gives zeros, or leaves C alone with accumulate; M or N = 0 is a no-op") {
  std::vector<float> a(6, 1), b(6, 1), c(6, 7);
  gemm({2, 3, 0, a.data(), 0, false, b.data(), 3, false, c.data(), 3, true});
  REQUIRE(c == std::vector<float>(6, 7));
  gemm({2, 3, 0, a.data(), 0, false, b.data(), 3, false, c.data(), 3, false});
  REQUIRE(c == std::vector<float>(6, 0));
  gemm({0, 3, 2, a.data(), 2, false, b.data(), 3, false, c.data(), 3, false});
  gemm({2, 0, 2, a.data(), 2, false, b.data(), 1, false, c.data(), 1, false});
  REQUIRE(c == std::vector<float>(6, 0));
}

TEST_CASE("gemm: 1 and 2 threads give bitwise equal results") {
  // Big enough to be split between threads: by rows, or by columns when C is wide; the blocked path and
  // (below 128^3 multiply-adds) the direct one, with every transpose.
  RestoreDefaults restore;
  for (bool avx2 : {true, false}) {
    set_gemm_use_avx2(avx2);
    for (auto [M, N, K] : {std::array<int64_t, 3>{300, 200, 300},
                           {97, 250, 200},
                           {513, 33, 400},
                           {1000, 20, 250},
                           {768, 64, 64},
                           {64, 64, 768},
                           {70, 300, 40},
                           {64, 64, 64},
                           {100, 100, 100}}) {
      for (bool ta : {false, true})
        for (bool tb : {false, true}) {
          const std::vector<float> a = random_values(M * K, 4), b = random_values(K * N, 5);
          std::vector<float> c1(M * N), c2(M * N);
          const GemmArgs g{M, N, K, a.data(), ta ? M : K, ta, b.data(), tb ? K : N, tb, c1.data(), N, false};
          set_num_threads(1);
          gemm(g);
          set_num_threads(2);
          GemmArgs g2 = g;
          g2.C = c2.data();
          gemm(g2);
          INFO("M=" << M << " N=" << N << " K=" << K << " trans_a=" << ta << " trans_b=" << tb
                    << " avx2=" << avx2);
          REQUIRE(std::memcmp(c1.data(), c2.data(), c1.size() * sizeof(float)) == 0);
        }
    }
  }
}

TEST_CASE("gemm: bad sizes and strides are errors") {
  std::vector<float> x(16);
  REQUIRE_THROWS_WITH(gemm({-1, 2, 2, x.data(), 2, false, x.data(), 2, false, x.data(), 2, false}),
                      Catch::Contains("gemm: negative size M=-1"));
  REQUIRE_THROWS_WITH(gemm({2, 2, 3, x.data(), 2, false, x.data(), 2, false, x.data(), 2, false}),
                      Catch::Contains("gemm: lda=2 too small"));
  REQUIRE_THROWS_WITH(gemm({2, 3, 3, x.data(), 3, false, x.data(), 2, true, x.data(), 3, false}),
                      Catch::Contains("gemm: ldb=2 too small"));
  REQUIRE_THROWS_WITH(gemm({2, 3, 2, x.data(), 2, false, x.data(), 3, false, x.data(), 2, false}),
                      Catch::Contains("gemm: ldc=2 too small"));
}

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

TEST_CASE("matmul: zero-size dims; K = 0 gives zeros") {
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
  RestoreDefaults restore;
  const Tensor a = randn({64, 32, 32}), b = randn({64, 32, 32});  // 64 products, a few per thread
  set_num_threads(1);
  const Tensor one = kernels::matmul(a, b, false, true);
  set_num_threads(2);
  const Tensor two = kernels::matmul(a, b, false, true);
  REQUIRE(std::memcmp(one.data(), two.data(), one.numel() * sizeof(float)) == 0);
}
