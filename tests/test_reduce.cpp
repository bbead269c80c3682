// Tests for tensor/reduce.h: sums, means and maxima along every dim (negative dims too), keepdim,
// ties, the sum_to / broadcast_to pair, and the named errors.
#include <cmath>
#include <cstring>
#include <limits>

#include "catch.h"
#include "kernel_checks.h"
#include "tensor/creation.h"
#include "tensor/elementwise.h"
#include "tensor/parallel.h"
#include "tensor/reduce.h"

using namespace qkv;
using qkv::testing::check_values;

namespace {
// x[i,j,k] = 100 i + 10 j + k, shape [2,3,4]: every sum is easy to work out by hand.
Tensor digits() {
  std::vector<float> v;
  for (int i = 0; i < 2; ++i)
    for (int j = 0; j < 3; ++j)
      for (int k = 0; k < 4; ++k) v.push_back(float(100 * i + 10 * j + k));
  return tensor(v, {2, 3, 4});
}
}  // namespace

TEST_CASE("reduce: sum along each dim of [2,3,4], negative dims alike") {
  const Tensor x = digits();
  // over i: (10j + k) + (100 + 10j + k)
  check_values(kernels::sum(x, 0), {3, 4}, {100, 102, 104, 106, 120, 122, 124, 126, 140, 142, 144, 146});
  // over j: 3 (100 i + k) + 30
  check_values(kernels::sum(x, 1), {2, 4}, {30, 33, 36, 39, 330, 333, 336, 339});
  // over k: 4 (100 i + 10 j) + 6
  check_values(kernels::sum(x, 2), {2, 3}, {6, 46, 86, 406, 446, 486});
  for (int64_t d = 0; d < 3; ++d)
    CHECK(qkv::testing::bitwise_equal(kernels::sum(x, d), kernels::sum(x, d - 3)));
}

TEST_CASE("reduce: keepdim keeps a size-1 dim that broadcasts back") {
  const Tensor x = digits();
  const Tensor s = kernels::sum(x, 1, true);
  REQUIRE(s.shape() == Shape{2, 1, 4});
  const Tensor m = kernels::mean(x, -1, true);
  check_values(m, {2, 3, 1}, {1.5f, 11.5f, 21.5f, 101.5f, 111.5f, 121.5f});
  check_values(kernels::sub(x, m).view({24}), {24},
               {-1.5f, -0.5f, 0.5f, 1.5f, -1.5f, -0.5f, 0.5f, 1.5f, -1.5f, -0.5f, 0.5f, 1.5f,
                -1.5f, -0.5f, 0.5f, 1.5f, -1.5f, -0.5f, 0.5f, 1.5f, -1.5f, -0.5f, 0.5f, 1.5f});
}

TEST_CASE("reduce: mean along each dim") {
  const Tensor x = digits();
  check_values(kernels::mean(x, 0), {3, 4}, {50, 51, 52, 53, 60, 61, 62, 63, 70, 71, 72, 73});
  check_values(kernels::mean(x, -2), {2, 4}, {10, 11, 12, 13, 110, 111, 112, 113});
}

TEST_CASE("reduce: sum_all, mean_all and max_all") {
  const Tensor x = digits();
  check_values(kernels::sum_all(x), {}, {24 * 1.5f + 12 * 100 + 8 * 30});
  check_values(kernels::mean_all(x), {}, {(24 * 1.5f + 12 * 100 + 8 * 30) / 24});
  check_values(kernels::max_all(x), {}, {123});
  check_values(kernels::sum_all(zeros({0, 3})), {}, {0});
}

TEST_CASE("reduce: sums are accurate over a million small terms") {
  // A float accumulator drifts here (1e6 * 0.1 runs into float's 7 digits); double does not.
  const Tensor x = full({1000000}, 0.1f);
  CHECK(kernels::sum_all(x).item() == Catch::Approx(100000.0).epsilon(1e-6));
  CHECK(kernels::sum(x.view({1000, 1000}), 0).at({0}) == Catch::Approx(100.0).epsilon(1e-6));
}

TEST_CASE("reduce: max along a dim gives values and the first index of the maximum") {
  const Tensor x = tensor({1, 5, 5, 2, 7, 7, 7, 0}, {2, 4});
  const auto r = kernels::max(x, 1);
  check_values(r.values, {2}, {5, 7});
  check_values(r.indices, {2}, {1, 0});  // ties go to the lowest index
  const auto c = kernels::max(x, 0, true);
  check_values(c.values, {1, 4}, {7, 7, 7, 2});
  check_values(c.indices, {1, 4}, {1, 1, 1, 0});
  check_values(kernels::argmax(x, -1), {2}, {1, 0});
}

TEST_CASE("reduce: max along every dim of [2,3,4] agrees with the known layout") {
  const Tensor x = digits();
  check_values(kernels::max(x, 0).indices, {3, 4}, std::vector<float>(12, 1));
  check_values(kernels::max(x, 1).values, {2, 4}, {20, 21, 22, 23, 120, 121, 122, 123});
  check_values(kernels::argmax(x, 2), {2, 3}, {3, 3, 3, 3, 3, 3});
}

TEST_CASE("reduce: a NaN is not hidden by max") {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  CHECK(std::isnan(kernels::max(tensor({1, nan, 3}), 0).values.item()));
  CHECK(std::isnan(kernels::max_all(tensor({nan, 1})).item()));
}

TEST_CASE("reduce: bad dims and empty inputs throw named errors") {
  REQUIRE_THROWS_WITH(kernels::sum(zeros({2, 3}), 2), Catch::Contains("sum") && Catch::Contains("[2,3]"));
  REQUIRE_THROWS_WITH(kernels::mean(zeros({2, 3}), -3), Catch::Contains("mean") && Catch::Contains("-3"));
  REQUIRE_THROWS_WITH(kernels::max(zeros({2, 0}), 1), Catch::Contains("max") && Catch::Contains("[2,0]"));
  REQUIRE_THROWS_WITH(kernels::mean_all(zeros({0})), Catch::Contains("mean_all") && Catch::Contains("[0]"));
  REQUIRE_THROWS_WITH(kernels::max_all(zeros({3, 0})),
                      Catch::Contains("max_all") && Catch::Contains("[3,0]"));
}

TEST_CASE("reduce: sum_to undoes broadcasting ([2,3,4] -> [4], [3,1], [1,3,1], [])") {
  const Tensor x = digits();
  check_values(kernels::sum_to(x, {4}), {4}, {360, 366, 372, 378});
  check_values(kernels::sum_to(x, {3, 1}), {3, 1}, {412, 492, 572});
  check_values(kernels::sum_to(x, {1, 3, 1}), {1, 3, 1}, {412, 492, 572});
  check_values(kernels::sum_to(x, {}), {}, {kernels::sum_all(x).item()});
  const Tensor same = kernels::sum_to(x, {2, 3, 4});
  CHECK(qkv::testing::bitwise_equal(same, x));
  CHECK(same.shares_storage_with(x));  // no copy when nothing was broadcast
}

TEST_CASE("reduce: broadcast_to then sum_to multiplies by the stretch factor") {
  const Tensor b = tensor({1, 2, 3}, {3, 1});
  const Tensor big = kernels::broadcast_to(b, {2, 3, 4});
  REQUIRE(big.shape() == Shape{2, 3, 4});
  CHECK(big.at({1, 2, 3}) == 3);
  CHECK(big.at({0, 1, 0}) == 2);
  check_values(kernels::sum_to(big, {3, 1}), {3, 1}, {8, 16, 24});
}

TEST_CASE("reduce: sum_to and broadcast_to reject shapes that do not broadcast") {
  REQUIRE_THROWS_WITH(kernels::sum_to(zeros({2, 3}), {2}),
                      Catch::Contains("sum_to") && Catch::Contains("[2]") && Catch::Contains("[2,3]"));
  REQUIRE_THROWS_WITH(kernels::sum_to(zeros({3}), {2, 3}),
                      Catch::Contains("sum_to") && Catch::Contains("[2,3]"));
  REQUIRE_THROWS_WITH(kernels::broadcast_to(zeros({2, 3}), {3}),
                      Catch::Contains("broadcast_to") && Catch::Contains("[2,3]"));
  REQUIRE_THROWS_WITH(kernels::broadcast_to(zeros({2, 1}), {2, 1, 3}),
                      Catch::Contains("broadcast_to") && Catch::Contains("[2,1,3]"));
}

TEST_CASE("reduce: results are bitwise identical with 1 and 2 threads") {
  qkv::testing::RestoreThreads restore;
  Generator gen(3);
  const Tensor x = randn({64, 300, 17}, gen);
  set_num_threads(1);
  const Tensor a = kernels::sum(x, 1), b = kernels::max(x, 2).values, c = kernels::sum_to(x, {300, 1});
  set_num_threads(2);
  CHECK(qkv::testing::bitwise_equal(a, kernels::sum(x, 1)));
  CHECK(qkv::testing::bitwise_equal(b, kernels::max(x, 2).values));
  CHECK(qkv::testing::bitwise_equal(c, kernels::sum_to(x, {300, 1})));
}

TEST_CASE("reduce: sum_of_squares is the sum of squares in double, the same on every SIMD path") {
  qkv::testing::RestoreIsa restore;
  CHECK(kernels::sum_of_squares(zeros({0})) == 0);
  CHECK(kernels::sum_of_squares(tensor({3, -4})) == 25);
  for (int64_t n : {1, 7, 8, 17, 1001}) {  // partial vectors of 8 and 16 lanes
    const Tensor x = randn({n});
    double naive = 0;
    for (float v : x.to_vector()) naive += double(v) * v;
    for (simd::Isa isa : simd::supported_isas()) {
      simd::set_isa(isa);
      INFO("n = " << n << ", " << simd::isa_name(isa));
      CHECK(kernels::sum_of_squares(x) == Catch::Approx(naive).epsilon(1e-12));
    }
    // AVX2 and AVX-512 add the same eight partial sums (the portable loop adds in order)
    if (simd::cpu_supports(simd::Isa::avx512) && simd::cpu_supports(simd::Isa::avx2)) {
      simd::set_isa(simd::Isa::avx2);
      const double avx2 = kernels::sum_of_squares(x);
      simd::set_isa(simd::Isa::avx512);
      const double avx512 = kernels::sum_of_squares(x);
      CHECK(std::memcmp(&avx2, &avx512, sizeof(double)) == 0);
    }
  }
}
