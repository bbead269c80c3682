// Tests for tensor/layer_norm.h, cross_entropy.h and dropout.h: each fused kernel against its composition from primitive kernels,
// backward kernels against central differences (in double for layer norm), and the named errors.
#include <cmath>
#include <functional>
#include <initializer_list>
#include <limits>
#include <vector>

#include "catch.h"
#include "helpers.h"
#include "kernel_checks.h"
#include "tensor/creation.h"
#include "tensor/cross_entropy.h"
#include "tensor/dropout.h"
#include "tensor/elementwise.h"
#include "tensor/layer_norm.h"
#include "tensor/parallel.h"
#include "tensor/reduce.h"
#include "tensor/rms_norm.h"
#include "tensor/shape_ops.h"
#include "tensor/softmax.h"

using namespace qkv;
using qkv::testing::check_values;

namespace {

void check_close(const Tensor& got, const Tensor& want, float tol) {
  check_values(got, want.shape(), want.to_vector(), tol);
}

// Layer norm of rows of width D in double, then sum(w * y): the loss whose gradient we check.
double layer_norm_loss(const std::vector<double>& x, const std::vector<double>& gamma,
                       const std::vector<double>& beta, const std::vector<float>& w, int64_t D, double eps) {
  double loss = 0;
  for (size_t r = 0; r < x.size() / D; ++r) {
    double mean = 0, var = 0;
    for (int64_t j = 0; j < D; ++j) mean += x[r * D + j] / D;
    for (int64_t j = 0; j < D; ++j) var += (x[r * D + j] - mean) * (x[r * D + j] - mean) / D;
    for (int64_t j = 0; j < D; ++j)
      loss += w[r * D + j] * ((x[r * D + j] - mean) / std::sqrt(var + eps) * gamma[j] + beta[j]);
  }
  return loss;
}

// d loss / d v[i] for each i, by central differences in double.
std::vector<double> numeric_grad(std::vector<double>& v, const std::function<double()>& loss) {
  std::vector<double> grad(v.size());
  const double h = 1e-6;
  for (size_t i = 0; i < v.size(); ++i) {
    const double saved = v[i];
    v[i] = saved + h;
    const double up = loss();
    v[i] = saved - h;
    grad[i] = (up - loss()) / (2 * h);
    v[i] = saved;
  }
  return grad;
}

std::vector<double> as_double(const Tensor& t) { return {t.data(), t.data() + t.numel()}; }
std::vector<float> as_float(const std::vector<double>& v) { return {v.begin(), v.end()}; }

}  // namespace

// kernels::layer_norm(x, gamma, beta, eps) against y = (x - mean) / sqrt(var + eps) * gamma + beta from
// primitive kernels (var biased).
void check_layer_norm_composition(const Tensor& x, const Tensor& gamma, const Tensor& beta, float eps) {
  const Tensor mean = kernels::mean(x, -1, true), xc = kernels::sub(x, mean);
  const Tensor var = kernels::mean(kernels::mul(xc, xc), -1, true);
  const Tensor rstd = kernels::div(ones({1}), kernels::sqrt(kernels::add_scalar(var, eps)));
  const Tensor y = kernels::add(kernels::mul(kernels::mul(xc, rstd), gamma), beta);
  const auto out = kernels::layer_norm(x, gamma, beta, eps);
  check_close(out.y, y, 1e-5f);
  check_close(out.mean, kernels::squeeze(mean, -1), 1e-5f);
  check_close(out.rstd, kernels::squeeze(rstd, -1), 1e-5f);
}

TEST_CASE("layer_norm kernel: layer_norm equals its composition from primitive kernels") {
  Generator gen(11);
  const Tensor x = kernels::add_scalar(kernels::mul_scalar(randn({2, 3, 8}, gen), 3), 5);
  check_layer_norm_composition(x, randn({8}, gen), randn({8}, gen), 1e-5f);
}

// Runs a kernel on every path the CPU has, at 1 and 2 threads: `outputs` returns every value it computed,
// `check_path` checks its values once per path. 2 threads must give 1 thread's bits on each path, and the
// SIMD paths (AVX2, AVX-512) one another's; the portable path may differ.
void check_bits_on_every_path(const std::function<std::vector<float>()>& outputs,
                              const std::function<void()>& check_path) {
  testing::RestoreThreads restore_threads;
  testing::RestoreIsa restore_isa;
  std::vector<float> simd_bits;  // of the first SIMD path
  for (simd::Isa isa : simd::supported_isas()) {
    simd::set_isa(isa);
    INFO("path " << simd::isa_name(isa));
    check_path();
    std::vector<float> one_thread;
    for (int threads : {1, 2}) {
      set_num_threads(threads);
      const std::vector<float> all = outputs();
      if (threads == 1) one_thread = all;
      CHECK(all == one_thread);
    }
    if (isa == simd::Isa::portable) continue;
    if (simd_bits.empty()) simd_bits = one_thread;
    CHECK(one_thread == simd_bits);
  }
}

// The values of the tensors that are defined, one after another.
std::vector<float> values_of(std::initializer_list<const Tensor*> tensors) {
  std::vector<float> all;
  for (const Tensor* t : tensors)
    if (t->defined()) all.insert(all.end(), t->data(), t->data() + t->numel());
  return all;
}

TEST_CASE(
    "layer_norm kernel: every path matches the composition, and AVX2, AVX-512 and 1 or 2 threads give the "
    "same bits") {
  // The row loops are compiled for the baseline and for AVX2 (which the AVX-512 path runs too), without
  // fused multiply-adds. 300 rows of 96 are more than one thread's share, so 2 threads split the rows of
  // the forward and backward and the columns of dgamma and dbeta.
  Generator gen(5);
  const Tensor x = kernels::add_scalar(randn({300, 96}, gen), 2), dy = randn({300, 96}, gen);
  const Tensor gamma = randn({96}, gen), beta = randn({96}, gen);
  for (bool affine : {true, false}) {
    INFO((affine ? "gamma and beta" : "no gamma or beta"));
    const Tensor g = affine ? gamma : Tensor(), b = affine ? beta : Tensor();
    check_bits_on_every_path(
        [&] {
          const auto out = kernels::layer_norm(x, g, b, 1e-5f);
          const auto grads = kernels::layer_norm_backward(dy, x, out.mean, out.rstd, g);
          CHECK(grads.dgamma.defined() == affine);
          return values_of({&out.y, &out.mean, &out.rstd, &grads.dx, &grads.dgamma, &grads.dbeta});
        },
        [&] {
          if (affine) check_layer_norm_composition(x, g, b, 1e-5f);
        });
  }
}

TEST_CASE("layer_norm kernel: layer_norm without gamma/beta gives rows of mean 0 and variance 1") {
  // eps keeps a constant row (variance 0) at 0 instead of 0 * inf
  const float eps = 1e-5f;
  const auto out = kernels::layer_norm(tensor({1, 2, 3, 4, 10, 10, 10, 10}, {2, 4}), Tensor(), Tensor(), eps);
  const float s = 1 / std::sqrt(1.25f + eps);  // the variance of 1,2,3,4 is 1.25
  check_values(out.y, {2, 4}, {-1.5f * s, -0.5f * s, 0.5f * s, 1.5f * s, 0, 0, 0, 0}, 1e-6f);
  check_values(out.mean, {2}, {2.5f, 10});
  const auto g = kernels::layer_norm_backward(ones({2, 4}), tensor({1, 2, 3, 4, 5, 6, 7, 8}, {2, 4}),
                                              out.mean, out.rstd, Tensor());
  CHECK_FALSE(g.dgamma.defined());
  CHECK_FALSE(g.dbeta.defined());
}

TEST_CASE("layer_norm kernel: layer_norm_backward matches central differences in double") {
  Generator gen(12);
  const int64_t D = 5;
  const Tensor x = randn({3, D}, gen), gamma = randn({D}, gen), beta = randn({D}, gen),
               w = randn({3, D}, gen);
  const float eps = 1e-5f;
  const auto out = kernels::layer_norm(x, gamma, beta, eps);
  const auto grads = kernels::layer_norm_backward(w, x, out.mean, out.rstd, gamma);  // dy = w
  std::vector<double> xd = as_double(x), gd = as_double(gamma), bd = as_double(beta);
  auto loss = [&] { return layer_norm_loss(xd, gd, bd, w.to_vector(), D, eps); };
  check_values(grads.dx, {3, D}, as_float(numeric_grad(xd, loss)), 1e-4f);
  check_values(grads.dgamma, {D}, as_float(numeric_grad(gd, loss)), 1e-4f);
  check_values(grads.dbeta, {D}, as_float(numeric_grad(bd, loss)), 1e-4f);
}

// kernels::rms_norm(x, gamma, eps) and its backward against y = x / sqrt(mean(x^2) + eps) * gamma from
// primitive kernels, the backward against the formula dx = rstd * (gy - xhat * mean(gy * xhat)),
// gy = dy * gamma, and dgamma = sum over rows of dy * xhat, each built from primitives.
void check_rms_norm_composition(const Tensor& x, const Tensor& gamma, const Tensor& dy, float eps) {
  const Tensor rstd = kernels::div(
      ones({1}), kernels::sqrt(kernels::add_scalar(kernels::mean(kernels::mul(x, x), -1, true), eps)));
  const Tensor xhat = kernels::mul(x, rstd);
  const auto out = kernels::rms_norm(x, gamma, eps);
  check_close(out.y, kernels::mul(xhat, gamma), 1e-5f);
  check_close(out.rstd, kernels::squeeze(rstd, -1), 1e-5f);
  const Tensor gy = kernels::mul(dy, gamma);
  const Tensor mean_gy_xhat = kernels::mean(kernels::mul(gy, xhat), -1, true);
  const auto grads = kernels::rms_norm_backward(dy, x, out.rstd, gamma);
  check_close(grads.dx, kernels::mul(rstd, kernels::sub(gy, kernels::mul(xhat, mean_gy_xhat))), 1e-4f);
  check_close(grads.dgamma, kernels::sum(kernels::mul(dy, xhat), 0), 1e-3f);
}

TEST_CASE(
    "rms_norm kernel: every path matches the composition, and AVX2, AVX-512 and 1 or 2 threads give the same "
    "bits") {
  // As layer norm's: the loops compiled for the baseline and for AVX2 without fused multiply-adds (the
  // AVX-512 path runs the AVX2 copy). 300 rows of 96 split across 2 threads by rows and, for dgamma, columns.
  Generator gen(6);
  const Tensor x = kernels::add_scalar(randn({300, 96}, gen), 1), dy = randn({300, 96}, gen);
  const Tensor gamma = randn({96}, gen);
  for (bool affine : {true, false}) {
    INFO((affine ? "gamma" : "no gamma"));
    const Tensor g = affine ? gamma : Tensor();
    check_bits_on_every_path(
        [&] {
          const auto out = kernels::rms_norm(x, g, 1e-5f);
          const auto grads = kernels::rms_norm_backward(dy, x, out.rstd, g);
          CHECK(grads.dgamma.defined() == affine);
          return values_of({&out.y, &out.rstd, &grads.dx, &grads.dgamma});
        },
        [&] {
          if (affine) check_rms_norm_composition(x, g, dy, 1e-5f);
        });
  }
}

TEST_CASE("layer_norm kernel: layer_norm names bad shapes") {
  REQUIRE_THROWS_WITH(kernels::layer_norm(zeros({2, 4}), zeros({3}), Tensor(), 1e-5f),
                      Catch::Contains("layer_norm") && Catch::Contains("gamma") && Catch::Contains("[3]") &&
                          Catch::Contains("[2,4]"));
  REQUIRE_THROWS_WITH(kernels::layer_norm(zeros({2, 4}), Tensor(), zeros({4, 1}), 1e-5f),
                      Catch::Contains("beta") && Catch::Contains("[4,1]"));
  REQUIRE_THROWS_WITH(kernels::layer_norm(scalar(1), Tensor(), Tensor(), 1e-5f),
                      Catch::Contains("layer_norm") && Catch::Contains("[]"));
  const auto out = kernels::layer_norm(zeros({2, 4}), Tensor(), Tensor(), 1e-5f);
  REQUIRE_THROWS_WITH(
      kernels::layer_norm_backward(zeros({2, 3}), zeros({2, 4}), out.mean, out.rstd, Tensor()),
      Catch::Contains("layer_norm_backward") && Catch::Contains("[2,3]"));
}

TEST_CASE("cross_entropy kernel: cross_entropy equals -mean of log_softmax at the targets") {
  Generator gen(13);
  const Tensor logits = kernels::mul_scalar(randn({4, 6}, gen), 4), targets = tensor({5, 0, 2, 2});
  const Tensor logp = kernels::log_softmax(logits, 1);
  double want = 0;
  for (int64_t r = 0; r < 4; ++r) want -= logp.at({r, static_cast<int64_t>(targets.data()[r])}) / 4.0;
  const auto out = kernels::cross_entropy(logits, targets);
  CHECK(out.loss.shape() == Shape{});
  CHECK(out.loss.item() == Catch::Approx(want).epsilon(1e-6));
  CHECK(out.kept == 4);
  check_close(out.probs, kernels::softmax(logits, 1), 1e-7f);
}

TEST_CASE("cross_entropy kernel: cross_entropy is stable for huge logits") {
  const auto out = kernels::cross_entropy(tensor({1e30f, 0, -1e30f, 1e30f}, {2, 2}), tensor({0, 0}));
  CHECK(out.loss.item() == Catch::Approx(1e30f));  // row 0 costs 0, row 1 (wrong by 2e30) costs 2e30
}

TEST_CASE(
    "cross_entropy kernel: ignore_index rows count for nothing, and all ignored gives 0 and zero gradient") {
  const Tensor logits = tensor({1, 2, 3, 0, 0, 9}, {2, 3});
  const auto some = kernels::cross_entropy(logits, tensor({2, -100}));
  CHECK(some.kept == 1);
  CHECK(some.loss.item() == Catch::Approx(-kernels::log_softmax(logits, 1).at({0, 2})));
  const Tensor d = kernels::cross_entropy_backward(some, tensor({2, -100}), -100, 0, 1);
  for (int64_t j = 0; j < 3; ++j) CHECK(d.at({1, j}) == 0);
  const auto none = kernels::cross_entropy(logits, tensor({7, 7}), 7);
  CHECK(none.kept == 0);
  CHECK(none.loss.item() == 0);  // not NaN
  for (float v : kernels::cross_entropy_backward(none, tensor({7, 7}), 7, 0, 1).to_vector()) CHECK(v == 0);
}

TEST_CASE("cross_entropy kernel: label smoothing mixes in eps/V of every class") {
  const Tensor logits = tensor({2, 0, -1}, {1, 3}), target = tensor({0});
  const float eps = 0.3f;
  const Tensor logp = kernels::log_softmax(logits, 1);
  const double all = logp.at({0, 0}) + logp.at({0, 1}) + logp.at({0, 2});
  const double want = -((1 - eps) * logp.at({0, 0}) + eps / 3 * all);
  CHECK(kernels::cross_entropy(logits, target, -100, eps).loss.item() == Catch::Approx(want).epsilon(1e-6));
}

TEST_CASE(
    "cross_entropy kernel: cross_entropy_backward matches central differences (with smoothing, ignore)") {
  Generator gen(14);
  Tensor logits = randn({3, 4}, gen);
  const Tensor targets = tensor({1, -100, 3});
  const float eps = 0.1f, dloss = 2;
  auto loss = [&] {
    return dloss * static_cast<double>(kernels::cross_entropy(logits, targets, -100, eps).loss.item());
  };
  const Tensor d = kernels::cross_entropy_backward(kernels::cross_entropy(logits, targets, -100, eps),
                                                   targets, -100, eps, dloss);
  for (int64_t i = 0; i < 12; ++i) {
    INFO("element " << i);
    CHECK(d.data()[i] == Catch::Approx(qkv::testing::central_difference(logits, i, loss)).margin(2e-3));
  }
}

TEST_CASE("cross_entropy kernel: cross_entropy names bad targets, shapes and smoothing") {
  const Tensor logits = zeros({2, 5});
  REQUIRE_THROWS_WITH(kernels::cross_entropy(logits, tensor({1, 5})), Catch::Contains("cross_entropy") &&
                                                                          Catch::Contains("target 5") &&
                                                                          Catch::Contains("[0, 5)"));
  REQUIRE_THROWS_WITH(kernels::cross_entropy(logits, tensor({1.5f, 0})),
                      Catch::Contains("cross_entropy") && Catch::Contains("1.5"));
  REQUIRE_THROWS_WITH(kernels::cross_entropy(logits, tensor({-1, 0})),
                      Catch::Contains("cross_entropy") && Catch::Contains("target -1"));
  REQUIRE_THROWS_WITH(kernels::cross_entropy(logits, tensor({1, 0, 0})),
                      Catch::Contains("cross_entropy") && Catch::Contains("[2,5]") && Catch::Contains("[3]"));
  REQUIRE_THROWS_WITH(kernels::cross_entropy(zeros({5}), tensor({1})), Catch::Contains("[5]"));
  REQUIRE_THROWS_WITH(kernels::cross_entropy(logits, tensor({1, 0}), -100, 1.5f),
                      Catch::Contains("label_smoothing") && Catch::Contains("1.5"));
}

namespace {

// The mask written the slow way: entry i takes the stream's 32-bit draw i as a uniform u / 2^32 in
// [0, 1), and is dropped when that is below p.
std::vector<float> naive_dropout_mask(int64_t n, float p, CounterStream stream) {
  std::vector<float> mask(n);
  for (int64_t i = 0; i < n; ++i) {
    const uint32_t u = stream.bits32(static_cast<uint64_t>(i));
    mask[i] = static_cast<double>(u) / 4294967296.0 < p ? 0.0f : 1 / (1 - p);
  }
  return mask;
}

}  // namespace

TEST_CASE("dropout kernel: dropout_mask is the naive mask from the stream, for 1 and 2 threads") {
  qkv::testing::RestoreThreads restore;
  for (int64_t n : {1, 7, 33, 100001}) {  // odd sizes end in a partial vector; 100001 is split across threads
    for (float p : {0.1f, 0.5f, 1e-6f}) {
      INFO("n = " << n << ", p = " << p);
      const CounterStream stream(1234);
      const std::vector<float> want = naive_dropout_mask(n, p, stream);
      for (int threads : {1, 2}) {
        set_num_threads(threads);
        CHECK(kernels::dropout_mask({n}, p, stream).to_vector() == want);
      }
    }
  }
}

TEST_CASE("dropout kernel: dropout_mask holds only 0 and 1/(1-p) and keeps the mean near 1") {
  Generator gen(15);
  const float p = 0.25f;
  const Tensor mask = kernels::dropout_mask({100000}, p, gen);
  int64_t dropped = 0;
  for (float v : mask.to_vector()) {
    REQUIRE((v == 0 || v == 1 / (1 - p)));
    dropped += v == 0;
  }
  CHECK(kernels::mean_all(mask).item() == Catch::Approx(1).margin(0.01));
  CHECK(static_cast<double>(dropped) / 100000 == Catch::Approx(p).margin(0.01));
  // the same seed gives the same mask
  Generator again(15);
  CHECK(qkv::testing::bitwise_equal(mask, kernels::dropout_mask({100000}, p, again)));
}

TEST_CASE("dropout kernel: dropout(x) is x times dropout_mask from the same stream, in one pass") {
  qkv::testing::RestoreThreads restore;
  Generator gen(16);
  for (const Shape& shape : {Shape{3, 5}, Shape{4, 129, 257}}) {  // the second is split across threads
    const Tensor x = randn(shape, gen);
    const CounterStream stream = gen.split();
    const float p = 0.3f;
    const Tensor want = kernels::mul(x, kernels::dropout_mask(shape, p, stream));
    for (int threads : {1, 2}) {
      set_num_threads(threads);
      CHECK(qkv::testing::bitwise_equal(kernels::dropout(x, p, stream), want));
    }
  }
  const Tensor x = tensor({1, 2, 3});
  CHECK(qkv::testing::bitwise_equal(kernels::dropout(x, 0, CounterStream(1)), x));  // p = 0: a copy of x
}

TEST_CASE("dropout kernel: dropout_entries applies any run of a mask's entries, in place or not") {
  // The attention kernels apply a [B,H,T,S] mask one map or one row at a time: pieces of every length
  // (partial vectors of 16, 8 and 4 lanes), at every offset, give the entries dropout() gives whole.
  qkv::testing::RestoreIsa restore;
  Generator gen(17);
  const Tensor x = randn({300}, gen);
  const CounterStream stream = gen.split();
  const float p = 0.2f;
  const std::vector<float> want = kernels::dropout(x, p, stream).to_vector();
  for (simd::Isa isa : simd::supported_isas()) {
    simd::set_isa(isa);
    std::vector<float> copy(300), in_place = x.to_vector();
    for (int64_t first = 0, n = 1; first < 300; first += n, n = n % 37 + 3) {
      const int64_t count = std::min<int64_t>(n, 300 - first);
      kernels::dropout_entries(x.data() + first, copy.data() + first, first, count, p, stream);
      kernels::dropout_entries(in_place.data() + first, in_place.data() + first, first, count, p, stream);
    }
    INFO("instruction set " << simd::isa_name(isa));
    CHECK(copy == want);
    CHECK(in_place == want);
  }
  float one = 1;
  CHECK_THROWS_WITH(kernels::dropout_entries(&one, &one, 0, 1, 1.0f, stream),
                    Catch::Contains("dropout_entries") && Catch::Contains("1"));
}

TEST_CASE("dropout kernel: dropout_mask with p = 0 is all ones, and p outside 0 <= p < 1 throws") {
  for (float v : kernels::dropout_mask({3, 4}, 0).to_vector()) CHECK(v == 1);
  REQUIRE_THROWS_WITH(kernels::dropout_mask({3}, 1), Catch::Contains("dropout_mask") && Catch::Contains("1"));
  REQUIRE_THROWS_WITH(kernels::dropout_mask({3}, -0.5f),
                      Catch::Contains("dropout_mask") && Catch::Contains("-0.5"));
  REQUIRE_THROWS_AS(kernels::dropout_mask({3}, std::numeric_limits<float>::quiet_NaN()), Error);
  REQUIRE_THROWS_WITH(kernels::dropout(zeros({3}), 1.5f, CounterStream(1)),
                      Catch::Contains("dropout") && Catch::Contains("1.5"));
}
