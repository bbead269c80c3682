// vector_math.h: the AVX-512 and AVX2 polynomials and the portable std:: loops, each against
// double-precision references over dense grids, special values (+-inf, NaN, far tails) and every tail
// length; and AVX-512 against AVX2, bit for bit.
#include <cmath>
#include <cstring>
#include <functional>
#include <limits>
#include <vector>

#include "helpers.h"
#include "tensor/simd/isa.h"
#include "tensor/simd/vector_math.h"

using namespace qkv::kernels;

namespace {

constexpr float kInf = std::numeric_limits<float>::infinity();

// Runs the checks once per implementation: portable, then AVX2 and AVX-512 where the CPU has them.
template <class F>
void for_each_implementation(F check) {
  qkv::testing::RestoreIsa restore;
  for (qkv::simd::Isa isa : qkv::simd::supported_isas()) {
    qkv::simd::set_isa(isa);
    INFO(qkv::simd::isa_name(isa) << " implementation");
    check();
  }
}

double phi_ref(double x) { return 0.5 * std::erfc(-x / std::sqrt(2.0)); }
double pdf_ref(double x) { return std::exp(-0.5 * x * x) / std::sqrt(2.0 * M_PI); }

// |got - want| within `rel` of |want|, or within 1e-37 absolutely (values past float's normal range).
bool close(float got, double want, double rel) {
  return std::abs(got - want) <= rel * std::abs(want) + 1e-37;
}

std::vector<float> grid(float lo, float hi, float step) {
  std::vector<float> x;
  for (float v = lo; v <= hi; v += step) x.push_back(v);
  return x;
}

}  // namespace

TEST_CASE("vector_math: Phi and gelu within 1e-6 relative of erfc in double, tails included") {
  // x from -13 (Phi ~ 6e-39, the left tail that 1 + erf would lose entirely) to 13
  const std::vector<float> x = grid(-13.0f, 13.0f, 0.0013f);
  const int64_t n = static_cast<int64_t>(x.size());
  for_each_implementation([&] {
    std::vector<float> cdf(x.size()), y(x.size()), cdf2(x.size());
    vmath::normal_cdf(x.data(), cdf.data(), n);
    vmath::gelu(x.data(), y.data(), cdf2.data(), n);
    int bad = 0;
    for (size_t i = 0; i < x.size(); ++i) {
      const double want = phi_ref(x[i]);
      if (!close(cdf[i], want, 1e-6) || !close(y[i], x[i] * want, 1e-6) || cdf2[i] != cdf[i]) {
        if (++bad <= 3)
          FAIL_CHECK("x = " << x[i] << ": Phi " << cdf[i] << " gelu " << y[i] << ", want " << want);
      }
    }
    CHECK(bad == 0);
  });
}

TEST_CASE("vector_math: gelu_backward within 1e-6 of Phi + x phi in double") {
  const std::vector<float> x = grid(-12.0f, 12.0f, 0.0017f);
  const int64_t n = static_cast<int64_t>(x.size());
  std::vector<float> g(x.size());
  for (size_t i = 0; i < g.size(); ++i) g[i] = 0.5f + static_cast<float>(i % 7);
  for_each_implementation([&] {
    std::vector<float> cdf(x.size()), dx(x.size());
    vmath::normal_cdf(x.data(), cdf.data(), n);
    vmath::gelu_backward(g.data(), x.data(), cdf.data(), dx.data(), n);
    int bad = 0;
    for (size_t i = 0; i < x.size(); ++i) {
      const double want = g[i] * (phi_ref(x[i]) + x[i] * pdf_ref(x[i]));
      // the slope Phi + x phi cancels to ~0 near x = -0.75: an absolute bound there
      if (std::abs(dx[i] - want) > 1e-6 * (std::abs(want) + g[i]) && ++bad <= 3)
        FAIL_CHECK("x = " << x[i] << ": got " << dx[i] << ", want " << want);
    }
    CHECK(bad == 0);
  });
}

TEST_CASE("vector_math: Phi at special values") {
  const std::vector<float> x{kInf, -kInf, 0.0f, -0.0f, 40.0f, -40.0f, std::nanf("")};
  for_each_implementation([&] {
    std::vector<float> cdf(x.size());
    vmath::normal_cdf(x.data(), cdf.data(), static_cast<int64_t>(x.size()));
    CHECK(cdf[0] == 1.0f);
    CHECK(cdf[1] == 0.0f);
    CHECK(cdf[2] == 0.5f);
    CHECK(cdf[3] == 0.5f);
    CHECK(cdf[4] == 1.0f);
    CHECK(cdf[5] == 0.0f);
    CHECK(std::isnan(cdf[6]));
  });
}

TEST_CASE("vector_math: exp_shifted_sum against exp in double, -inf gives exactly 0 and NaN stays NaN") {
  std::vector<float> x = grid(-90.0f, 3.0f, 0.0031f);
  const float shift = 3.0f;
  const int64_t n = static_cast<int64_t>(x.size());
  for_each_implementation([&] {
    std::vector<float> y(x.size());
    const double sum = vmath::exp_shifted_sum(x.data(), shift, y.data(), n);
    double want_sum = 0;
    int bad = 0;
    for (size_t i = 0; i < x.size(); ++i) {
      const double want = std::exp(double(x[i] - shift));  // the subtraction rounds in float in both
      want_sum += want;
      if (!close(y[i], want, 3e-7) && ++bad <= 3)
        FAIL_CHECK("x = " << x[i] << ": " << y[i] << " vs " << want);
    }
    CHECK(bad == 0);
    CHECK(std::abs(sum - want_sum) <= 1e-6 * want_sum);

    const std::vector<float> special{-kInf, 0.0f, std::nanf(""), -kInf, 0.0f};
    std::vector<float> out(special.size());
    const double s = vmath::exp_shifted_sum(special.data(), 0.0f, out.data(), 5);
    CHECK(out[0] == 0.0f);
    CHECK(out[1] == 1.0f);
    CHECK(std::isnan(out[2]));
    CHECK(std::isnan(s));
  });
}

TEST_CASE("vector_math: max skips NaN unless all are NaN, and dot in double") {
  for_each_implementation([&] {
    const std::vector<float> a{std::nanf(""), -3.0f, 7.5f, std::nanf(""), 2.0f,
                               -kInf,         7.25f, 1.0f, 0.0f,          7.0f};
    CHECK(vmath::max(a.data(), 10) == 7.5f);
    CHECK(vmath::max(a.data() + 5, 1) == -kInf);
    const std::vector<float> nans(11, std::nanf(""));
    CHECK(std::isnan(vmath::max(nans.data(), 11)));
    std::vector<float> u(37), v(37);
    double want = 0;
    for (int i = 0; i < 37; ++i) {
      u[i] = 0.1f * float(i) - 1.3f;
      v[i] = 1.0f / float(i + 1);
      want += double(u[i] * v[i]);
    }
    CHECK(std::abs(vmath::dot(u.data(), v.data(), 37) - want) < 1e-9);
  });
}

TEST_CASE("vector_math: an element's result does not depend on where it sits or on the array's length") {
  // Tails of 1..7 elements go through masked loads: each element must match the same value in a long run.
  const std::vector<float> x = grid(-4.0f, 4.0f, 0.37f);  // 22 values
  const int64_t len = static_cast<int64_t>(x.size());
  for_each_implementation([&] {
    std::vector<float> full(x.size()), full_y(x.size()), full_c(x.size());
    vmath::gelu(x.data(), full_y.data(), full_c.data(), len);
    vmath::exp_shifted_sum(x.data(), 4.0f, full.data(), len);
    for (int64_t start = 0; start < 9; ++start)
      for (int64_t n = 1; start + n <= len; ++n) {
        std::vector<float> e(n + 1, -1.0f), y(n + 1, -1.0f), c(n + 1, -1.0f);
        vmath::exp_shifted_sum(x.data() + start, 4.0f, e.data(), n);
        vmath::gelu(x.data() + start, y.data(), c.data(), n);
        for (int64_t i = 0; i < n; ++i) {
          REQUIRE(e[i] == full[start + i]);
          REQUIRE(y[i] == full_y[start + i]);
        }
        REQUIRE(e[n] == -1.0f);  // nothing written past the end
        REQUIRE(y[n] == -1.0f);
        REQUIRE(c[n] == -1.0f);
      }
  });
}

TEST_CASE("vector_math: sum and sum_sq_dev against double loops, for every tail length") {
  for_each_implementation([&] {
    for (int64_t n = 1; n <= 70; ++n) {
      std::vector<float> x(n);
      double want_sum = 0;
      for (int64_t i = 0; i < n; ++i) {
        x[i] = 3.0f + 0.37f * static_cast<float>((i * 7) % 11) - 0.01f * static_cast<float>(i);
        want_sum += x[i];
      }
      const double mean = want_sum / static_cast<double>(n);
      double want_sq = 0;
      for (float v : x) want_sq += (v - mean) * (v - mean);
      INFO("n = " << n);
      CHECK(std::abs(vmath::sum(x.data(), n) - want_sum) <= 1e-12 * std::abs(want_sum));
      // padding lanes must add nothing: with mean = 3, a padded 0 would add 9
      CHECK(std::abs(vmath::sum_sq_dev(x.data(), mean, n) - want_sq) <= 1e-12 * (1 + want_sq));
    }
  });
}

TEST_CASE("vector_math: AVX-512 and AVX2 give the same bits for every function and every tail length") {
  if (!qkv::simd::cpu_supports(qkv::simd::Isa::avx512)) {
    WARN("SKIPPED: this CPU (or build) has no AVX-512 path to compare with AVX2");
    return;
  }
  qkv::testing::RestoreIsa restore;
  // Values from the far left tail to the right, the special ones, and lengths 0..70 (every tail of 8 and
  // 16 lanes) and 1000.
  std::vector<float> x, y;
  for (int i = 0; i < 1000; ++i) {
    x.push_back(-30.0f + 0.0371f * float(i));
    y.push_back(std::sin(0.7f * float(i)));
  }
  for (float special : {kInf, -kInf, std::numeric_limits<float>::quiet_NaN(), 0.0f, -0.0f, -87.4f, -1e-30f})
    x[size_t(x.size() / 3 + x.size() % 7)] = special, x.push_back(special);
  x.resize(1000);
  const std::vector<float> nonpositive = [&] {
    std::vector<float> v;
    for (float e : x) v.push_back(std::isnan(e) ? e : -std::abs(e));
    return v;
  }();
  // Every output of every function, as bytes, on one path.
  auto outputs = [&](qkv::simd::Isa isa) {
    qkv::simd::set_isa(isa);
    std::vector<std::vector<float>> out;
    std::vector<double> sums;
    for (int64_t n : [] {
           std::vector<int64_t> ns;
           for (int64_t n = 0; n <= 70; ++n) ns.push_back(n);
           ns.push_back(1000);
           return ns;
         }()) {
      const size_t len = static_cast<size_t>(n);
      std::vector<float> a(len), b(len), c(len), d(len);
      vmath::exp_nonpositive(nonpositive.data(), a.data(), n);
      vmath::normal_cdf(x.data(), b.data(), n);
      vmath::gelu(x.data(), c.data(), d.data(), n);
      out.insert(out.end(), {a, b, c, d});
      vmath::gelu_backward(y.data(), x.data(), d.data(), a.data(), n);
      out.push_back(a);
      if (n > 0) sums.push_back(vmath::max(x.data(), n));
      sums.push_back(vmath::sum(x.data() + 100, n > 900 ? 900 : n));
      sums.push_back(vmath::sum_sq_dev(y.data(), 0.1, n));
      sums.push_back(vmath::dot(x.data() + 100, y.data(), n > 900 ? 900 : n));
      sums.push_back(vmath::exp_shifted_sum(y.data(), 1.0f, b.data(), n));
      out.push_back(b);
    }
    return std::make_pair(out, sums);
  };
  const auto [wide_out, wide_sums] = outputs(qkv::simd::Isa::avx512);
  const auto [narrow_out, narrow_sums] = outputs(qkv::simd::Isa::avx2);
  REQUIRE(wide_out.size() == narrow_out.size());
  for (size_t i = 0; i < wide_out.size(); ++i) {
    INFO("output " << i);
    REQUIRE(wide_out[i].size() == narrow_out[i].size());
    CHECK((wide_out[i].empty() ||  // memcmp must not see the null data() of an empty vector (UBSan)
           std::memcmp(wide_out[i].data(), narrow_out[i].data(), wide_out[i].size() * sizeof(float)) == 0));
  }
  REQUIRE(wide_sums.size() == narrow_sums.size());
  CHECK(std::memcmp(wide_sums.data(), narrow_sums.data(), wide_sums.size() * sizeof(double)) == 0);
}
