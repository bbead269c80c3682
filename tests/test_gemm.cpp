// Tests for the GEMM (tensor/gemm/gemm.h), checked against the naive triple loop on awkward sizes, every
// transpose combination, strides, accumulate, a bias row, both micro-kernels, thread counts, and every error
// message. The tensor-level matmul is in test_matmul.cpp. Speed is measured in bench_matmul, not here.
#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include <sys/mman.h>
#include <unistd.h>

#include "helpers.h"
#include "tensor/creation.h"
#include "tensor/gemm/gemm.h"
#include "tensor/gemm/micro_kernel.h"
#include "tensor/gemm/pack.h"
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

// Restores the instruction set and thread count when a test ends, even by a failed REQUIRE.
struct RestoreDefaults {
  qkv::testing::RestoreThreads threads;
  qkv::testing::RestoreIsa isa;
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

TEST_CASE("gemm: every micro-kernel the CPU runs (AVX-512, AVX2, portable) matches the naive loop") {
  RestoreDefaults restore;
  for (simd::Isa isa : simd::supported_isas()) {
    INFO("instruction set " << simd::isa_name(isa));
    simd::set_isa(isa);
    for (int64_t n : {1, 7, 33, 127}) check_all_transposes(n, n + 3, n + 1, /*accumulate=*/true, /*pad=*/2);
    check_against_naive({100, 70, 513, true, false, false});
  }
}

TEST_CASE("gemm: every tile height and every kind of B sliver match the naive loop, every kernel") {
  // M = 1..29 cuts into row tiles of every height of both kernels: 1..6 (AVX2, 13 rows: 5,4,4) and 1..14
  // (AVX-512, 29 rows: 10,10,9); N = 16, 32 are whole slivers (read in place, or packed when trans_b), 33
  // and 47 add a narrow edge; 32 and 64 are the benchmark's sizes.
  RestoreDefaults restore;
  for (simd::Isa isa : simd::supported_isas()) {
    INFO("instruction set " << simd::isa_name(isa));
    simd::set_isa(isa);
    for (int64_t M = 1; M <= 29; ++M)
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
  for (simd::Isa isa : simd::supported_isas()) {
    simd::set_isa(isa);
    for (auto [M, N, K] :
         {std::array<int64_t, 3>{5, 7, 3}, {13, 33, 64}, {300, 70, 200}, {70, 300, 200}, {100, 20, 600}})
      for (bool ta : {false, true})
        for (bool tb : {false, true}) {
          INFO("M=" << M << " N=" << N << " K=" << K << " trans_a=" << ta << " trans_b=" << tb
                    << " isa=" << simd::isa_name(isa));
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

TEST_CASE("gemm: K = 0 gives zeros, or leaves C alone with accumulate, and M or N = 0 is a no-op") {
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
  // (below 128^3 multiply-adds) the direct one, with every transpose. Threads splitting rows on the blocked
  // path pack each B panel together, a share of its slivers each: C wider than one panel (NC = 4080
  // columns) too.
  RestoreDefaults restore;
  for (simd::Isa isa : simd::supported_isas()) {
    simd::set_isa(isa);
    for (auto [M, N, K] : {std::array<int64_t, 3>{300, 200, 300},
                           {4100, 4097, 3},
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
                    << " isa=" << simd::isa_name(isa));
          REQUIRE(std::memcmp(c1.data(), c2.data(), c1.size() * sizeof(float)) == 0);
        }
    }
  }
}

TEST_CASE("gemm: the AVX2 and AVX-512 kernels give bitwise identical products on every path") {
  // Different register blocks (6 x 16 and 14 x 32), the same chain of fused multiply-adds per element:
  // direct and blocked paths, K in one and in three KC slices, every tile height of both kernels (M = 1..29),
  // narrow edges of both widths, every transpose, strides, accumulate, a bias row, 1 and 2 threads.
  if (!simd::cpu_supports(simd::Isa::avx512) || !simd::cpu_supports(simd::Isa::avx2)) {
    WARN("SKIPPED: this CPU (or build) lacks AVX-512 or AVX2, so there are not two paths to compare");
    return;
  }
  RestoreDefaults restore;
  std::vector<std::array<int64_t, 3>> shapes;
  for (int64_t M = 1; M <= 29; ++M) shapes.push_back({M, M % 3 == 0 ? 48 : 33, 1 + M % 7});
  for (auto mnk : {std::array<int64_t, 3>{64, 64, 64}, {100, 70, 513}, {300, 20, 513}, {150, 300, 200},
                   {7, 513, 600}, {129, 129, 129}})
    shapes.push_back(mnk);
  // C narrower than one 32-column tile (AVX-512 masks its loads and stores, AVX2 goes through a scratch
  // tile): direct and blocked
  for (int64_t N : {1, 12, 16, 17, 31}) {
    shapes.push_back({5 + N, N, 3 + N % 5});
    shapes.push_back({40, N, 300});
  }
  int64_t compared = 0;
  for (auto [M, N, K] : shapes)
    for (int variant = 0; variant < 8; ++variant) {
      const bool ta = variant & 1, tb = variant & 2, bias = variant & 4, accumulate = !bias && M % 2;
      Problem p{M, N, K, ta, tb, accumulate, /*pad=*/variant % 3};
      const std::vector<float> a = random_values(p.a_size(), 6), b = random_values(p.b_size(), 7);
      const std::vector<float> c0 = random_values(p.c_size(), 8), bias_row = random_values(N, 9);
      std::vector<std::vector<float>> results;
      for (simd::Isa isa : {simd::Isa::avx2, simd::Isa::avx512})
        for (int threads : {1, 2}) {
          simd::set_isa(isa);
          set_num_threads(threads);
          std::vector<float> c = c0;
          GemmArgs g = p.args(a, b, c);
          if (bias) g.bias = bias_row.data();
          gemm(g);
          results.push_back(c);
        }
      INFO("M=" << M << " N=" << N << " K=" << K << " trans_a=" << ta << " trans_b=" << tb << " bias=" << bias
                << " accumulate=" << accumulate);
      for (const std::vector<float>& c : results)
        REQUIRE(std::memcmp(c.data(), results[0].data(), c.size() * sizeof(float)) == 0);
      ++compared;
    }
  CHECK(compared == 8 * static_cast<int64_t>(shapes.size()));
}

namespace {

// n floats that end where a page the process may not touch begins: reading or writing one float past the
// last faults (SIGSEGV), so a test passes only if nothing goes past it.
class GuardedFloats {
 public:
  explicit GuardedFloats(const std::vector<float>& values) {
    const auto page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
    const size_t used = (values.size() * sizeof(float) + page - 1) / page * page;
    bytes_ = used + page;
    base_ = mmap(nullptr, bytes_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    REQUIRE(base_ != MAP_FAILED);
    REQUIRE(mprotect(static_cast<char*>(base_) + used, page, PROT_NONE) == 0);
    data_ = reinterpret_cast<float*>(static_cast<char*>(base_) + used) - values.size();
    std::copy(values.begin(), values.end(), data_);
  }
  GuardedFloats(const GuardedFloats&) = delete;
  GuardedFloats& operator=(const GuardedFloats&) = delete;
  ~GuardedFloats() { munmap(base_, bytes_); }
  float* data() const { return data_; }

 private:
  void* base_ = nullptr;
  size_t bytes_ = 0;
  float* data_ = nullptr;
};

}  // namespace

TEST_CASE("gemm: a narrow right edge reads B, C and the bias only in its columns (guard pages after them)") {
  // The AVX-512 kernel reads B in place up to C's last column and stores C through masks (micro_kernel.h,
  // Kernel::narrow): each of B, C and the bias row ends at a guard page, so one float too far faults. Direct
  // (K = 7, 64) and blocked (K = 300) paths, 1..3 row tiles, accumulate, a bias row, every kernel.
  RestoreDefaults restore;
  for (simd::Isa isa : simd::supported_isas()) {
    simd::set_isa(isa);
    for (int64_t N : {1, 5, 12, 16, 17, 31, 33, 47})
      for (int64_t M : {3, 14, 29})
        for (int64_t K : {7, 64, 300})
          for (int variant = 0; variant < 3; ++variant) {  // plain, accumulate, bias
            INFO("isa " << simd::isa_name(isa) << " M=" << M << " N=" << N << " K=" << K << " variant "
                        << variant);
            const std::vector<float> a = random_values(M * K, 41), b_values = random_values(K * N, 42);
            const std::vector<float> c0 = random_values(M * N, 43), bias_values = random_values(N, 44);
            const GuardedFloats b(b_values), c(c0), bias(bias_values);
            GemmArgs g{M, N, K, a.data(), K, false, b.data(), N, false, c.data(), N, variant == 1};
            if (variant == 2) g.bias = bias.data();
            gemm(g);
            std::vector<float> naive = c0;
            GemmArgs gn = g;
            gn.B = b_values.data();
            gn.C = naive.data();
            if (variant == 2) gn.bias = bias_values.data();
            gemm_naive(gn);
            const double tol = 1e-4 * (1 + std::sqrt(static_cast<double>(K)));
            for (int64_t i = 0; i < M * N; ++i)
              REQUIRE(std::abs(c.data()[i] - naive[i]) <= tol * (1 + std::abs(naive[i])));
          }
  }
}

TEST_CASE("gemm: an A whose rows are 2 KiB apart is packed, with the bits of the same A read in place") {
  // lda = 1024 floats: gemm packs A (read_a_in_place in gemm.cpp); lda = 1025 holds the same rows and is
  // read where it is. Blocked path (K = 600: three KC slices), a short bottom tile (M = 37), a narrow right
  // edge (N = 70), accumulate and not, every kernel the CPU runs, 1 and 2 threads.
  RestoreDefaults restore;
  const int64_t M = 37, N = 70, K = 600;
  for (simd::Isa isa : simd::supported_isas())
    for (bool accumulate : {false, true}) {
      INFO("instruction set " << simd::isa_name(isa) << ", accumulate " << accumulate);
      simd::set_isa(isa);
      check_against_naive({M, N, K, false, false, accumulate, /*pad=*/1024 - K});
      const std::vector<float> packed_rows = random_values(M * 1024, 31), b = random_values(K * N, 32);
      std::vector<float> in_place_rows(M * 1025, 0.0f);
      for (int64_t i = 0; i < M; ++i)
        std::memcpy(&in_place_rows[i * 1025], &packed_rows[i * 1024], K * sizeof(float));
      const std::vector<float> c0 = random_values(M * N, 33);
      std::vector<std::vector<float>> results;
      for (int threads : {1, 2})
        for (int64_t lda : {1024, 1025}) {
          set_num_threads(threads);
          std::vector<float> c = c0;
          gemm({M, N, K, lda == 1024 ? packed_rows.data() : in_place_rows.data(), lda, false, b.data(), N, false,
                c.data(), N, accumulate});
          results.push_back(c);
        }
      for (const std::vector<float>& c : results)
        REQUIRE(std::memcmp(c.data(), results[0].data(), c.size() * sizeof(float)) == 0);
    }
}

TEST_CASE("gemm: packed slivers hold op(A) and op(B) element by element, zero padded, on every path") {
  // The AVX-512 path packs with 16 x 16 transposes in registers (pack_avx512.cpp), the others one float at
  // a time: k runs through whole and partial groups of 16, the edges through every short sliver.
  RestoreDefaults restore;
  using gemm_detail::op_a;
  using gemm_detail::op_b;
  for (simd::Isa isa : simd::supported_isas()) {
    simd::set_isa(isa);
    const gemm_detail::Kernel kern = gemm_detail::kernel_for(isa);
    for (bool trans : {false, true})
      for (int64_t kc : {1, 5, 16, 17, 31, 32, 33, 100})
        for (int64_t edge : {int64_t{3}, kern.nr - 5}) {  // AVX-512's edge of B: one group of 16, or two
          const int64_t rows = 3 * kern.nr + 5, lead = 3 * kern.nr + 7;  // a short last sliver on both sides
          const std::vector<float> x = random_values((rows + 3 + kc) * lead, 7);
          // A (mc x kc block at ic = 2, pc = 3) and B (kc x nc panel at pc = 3, jc = 2) over the same array,
          // each stored as `trans` says, rows `lead` apart.
          const GemmArgs g{rows, rows, 3 + kc, x.data(), lead, trans, x.data(), lead, trans, nullptr, rows};
          const int64_t mc = 2 * kern.mr + 3, nc = 2 * kern.nr + edge;
          std::vector<float> pa(((mc + kern.mr - 1) / kern.mr) * kern.mr * kc, -1.0f);
          std::vector<float> pb(((nc + kern.nr - 1) / kern.nr) * kern.nr * kc, -1.0f);
          gemm_detail::pack_a(g, 2, mc, 3, kc, kern.mr, pa.data());
          gemm_detail::pack_b(g, 3, kc, 2, nc, kern.nr, pb.data());
          INFO("isa " << simd::isa_name(isa) << " trans " << trans << " kc " << kc << " edge " << edge);
          // Sliver s, row k, column c of a packed operand holds element (line, k) of the block, or 0 past its
          // `lines` (rows of A, columns of B).
          auto wrong = [kc](const std::vector<float>& packed, int64_t width, int64_t lines, auto element) {
            int64_t count = 0;
            for (int64_t s = 0; s * width < lines; ++s)
              for (int64_t k = 0; k < kc; ++k)
                for (int64_t c = 0; c < width; ++c) {
                  const int64_t line = s * width + c;
                  count += packed[(s * kc + k) * width + c] != (line < lines ? element(line, k) : 0.0f);
                }
            return count;
          };
          REQUIRE(wrong(pa, kern.mr, mc, [&](int64_t i, int64_t k) { return op_a(g, 2 + i, 3 + k); }) == 0);
          REQUIRE(wrong(pb, kern.nr, nc, [&](int64_t j, int64_t k) { return op_b(g, 3 + k, 2 + j); }) == 0);
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
