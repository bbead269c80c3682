// Optimizer details nanoGPT relies on (issue 15): parameter groups with their own weight decay (decay on
// matrices only), and a learning-rate schedule bound to Adam. Hand-worked values, then the refusals; last,
// Adam's element loop (tensor/adam.h) on every instruction-set path.
#include <cmath>
#include <vector>

#include "helpers.h"
#include "nn/optim.h"
#include "tensor/adam.h"
#include "tensor/creation.h"
#include "tensor/random.h"

using namespace qkv;
using namespace qkv::nn;
using Catch::Contains;

TEST_CASE("optim groups: one AdamW step by hand, the matrix decays and the vector does not") {
  // Adam's first step moves each entry by lr * m_hat / (sqrt(v_hat) + eps) = lr * sign(g) (m_hat = g,
  // sqrt(v_hat) = |g|), after AdamW's decay p *= 1 - lr wd on the decayed group only.
  Tensor w = tensor({1, -2}, {1, 2}).set_requires_grad();  // a [1,2] matrix: decays
  Tensor b = tensor({1, -2}, {2}).set_requires_grad();     // a [2] vector: does not
  const auto groups = decay_matrices_only({{"w", w}, {"b", b}}, 0.1);
  REQUIRE(groups.size() == 2);
  CHECK(groups[0].params[0].first == "w");
  CHECK(groups[0].weight_decay == 0.1);
  CHECK(groups[1].params[0].first == "b");
  CHECK(groups[1].weight_decay == 0.0);
  AdamW opt(groups, 0.1, 0.9, 0.99, 1e-8);
  w.set_grad(tensor({0.5f, -0.25f}, {1, 2}));
  b.set_grad(tensor({0.5f, -0.25f}, {2}));
  opt.step();
  // w: (1, -2) * (1 - 0.1 * 0.1) = (0.99, -1.98), then -0.1 sign(g): (0.89, -1.88)
  CHECK_CLOSE(w.detach(), tensor({0.89f, -1.88f}, {1, 2}), 1e-6f, 1e-6f);
  // b: no decay: (1, -2) - 0.1 sign(g) = (0.9, -1.9)
  CHECK_CLOSE(b.detach(), tensor({0.9f, -1.9f}, {2}), 1e-6f, 1e-6f);
  // the state names the parameters as one list would
  const NamedTensors state = opt.state();
  CHECK(state[1].first == "exp_avg.w");
  CHECK(state[3].first == "exp_avg.b");
}

TEST_CASE("optim groups: groups of one decay equal the single-list optimizer bit for bit") {
  manual_seed(20);
  Tensor a1 = randn({3, 4}).set_requires_grad(), a2 = a1.detach().clone().set_requires_grad();
  AdamW one({{"a", a1}}, 0.01, 0.9, 0.99, 1e-8, 0.1);
  AdamW grouped(std::vector<ParamGroup>{ParamGroup{{{"a", a2}}, 0.1}}, 0.01, 0.9, 0.99, 1e-8);
  for (int i = 0; i < 3; ++i) {
    const Tensor g = randn({3, 4});
    a1.set_grad(g);
    a2.set_grad(g.clone());
    one.step();
    grouped.step();
  }
  CHECK(testing::bitwise_equal(a1.detach(), a2.detach()));
}

TEST_CASE("optim schedule: warmup then cosine at hand-worked steps, and Adam follows it") {
  Schedule s{Schedule::cosine, 1e-3, 100, 2000, 1e-4};
  CHECK(s.lr_at(0) == Catch::Approx(1e-5));       // 1e-3 * 1/100
  CHECK(s.lr_at(49) == Catch::Approx(5e-4));      // halfway up
  CHECK(s.lr_at(99) == Catch::Approx(1e-3));      // the top
  CHECK(s.lr_at(100) == Catch::Approx(1e-3));     // cosine at progress 0
  CHECK(s.lr_at(1050) == Catch::Approx(5.5e-4));  // progress 1/2: 1e-4 + 0.5 * 9e-4
  CHECK(s.lr_at(2000) == Catch::Approx(1e-4));    // the end
  CHECK(s.lr_at(5000) == Catch::Approx(1e-4));    // past the end: stays at min_lr
  Tensor p = ones({2}).set_requires_grad();
  AdamW opt({{"p", p}}, 0.5);
  opt.set_schedule(s);
  for (int64_t step = 0; step < 3; ++step) {
    p.set_grad(ones({2}));
    opt.step();
    CHECK(opt.lr == Catch::Approx(s.lr_at(step)));
  }
}

TEST_CASE("optim schedule and groups: bad values are named errors") {
  Tensor p = ones({2}).set_requires_grad();
  AdamW opt({{"p", p}});
  CHECK_THAT(ERROR_OF(opt.set_schedule(Schedule{Schedule::cosine, 1e-3, 10, 100, 1e-2})),
             Contains("Schedule: min_lr must be <= base_lr, got min_lr 0.01 and base_lr 0.001"));
  CHECK_THAT(
      ERROR_OF(opt.set_schedule(Schedule{Schedule::cosine, 1e-3, 100, 10, 0})),
      Contains("Schedule: total_steps must be >= warmup_steps, got total_steps 10 and warmup_steps 100"));
  CHECK_THAT(ERROR_OF(opt.set_schedule(Schedule{Schedule::constant, -1, 0, 0, 0})),
             Contains("Schedule") && Contains("base_lr"));
  CHECK_THAT(ERROR_OF(opt.set_schedule(Schedule{Schedule::constant, 1e-3, -5, 0, 0})),
             Contains("Schedule") && Contains("warmup_steps"));
  CHECK_THAT(ERROR_OF(decay_matrices_only({{"p", p}}, -0.1)),
             Contains("decay_matrices_only") && Contains("weight_decay"));
  CHECK_THAT(ERROR_OF(AdamW(std::vector<ParamGroup>{ParamGroup{{{"p", p}}, -1.0}})),
             Contains("Adam") && Contains("weight_decay"));
}

TEST_CASE(
    "adam kernel: every path and any split of the elements give the same bits, and the formula's values") {
  // tensor/adam.h's loop runs compiled for the baseline (the portable path) and for AVX2 (the AVX2 and
  // AVX-512 paths); 1,003 elements end in a partial vector on every width.
  testing::RestoreIsa restore;
  Generator gen(9);
  const int64_t n = 1003;
  const std::vector<float> w0 = randn({n}, gen).to_vector(), g = randn({n}, gen).to_vector();
  std::vector<float> m0 = randn({n}, gen).to_vector(), v0 = randn({n}, gen).to_vector();
  for (float& x : v0) x = x * x;  // a second moment is never negative
  const kernels::AdamConstants k{0.9f, 0.1f, 0.99f, 0.01f, 1e-8f, 0.05f, 0.995f, 1e-3f, 0.3f};
  for (bool decoupled : {false, true}) {
    std::vector<float> first;  // w, m, v of the first path
    for (simd::Isa isa : simd::supported_isas()) {
      simd::set_isa(isa);
      INFO("path " << simd::isa_name(isa) << (decoupled ? ", AdamW" : ", Adam"));
      std::vector<float> w = w0, m = m0, v = v0;
      for (int64_t begin : {int64_t{0}, int64_t{5}, int64_t{517}})  // three pieces, as threads split it
        kernels::adam_update(w.data(), m.data(), v.data(), g.data(), begin,
                             begin == 0   ? 5
                             : begin == 5 ? 517
                                          : n,
                             k, decoupled);
      int64_t far = 0;  // against the formula in double, each step rounded to float as the kernel does
      for (int64_t j = 0; j < n; ++j) {
        const double wj = decoupled ? float(w0[j] * k.decay) : w0[j];
        const double gj = decoupled ? g[j] : float(g[j] + k.weight_decay * w0[j]);
        const double mj = k.beta1 * double(m0[j]) + k.one_minus_beta1 * gj;
        const double vj = k.beta2 * double(v0[j]) + k.one_minus_beta2 * gj * gj;
        const double want = wj - k.step_size * (mj / (std::sqrt(vj) / k.sqrt_c2 + k.eps));
        far += std::abs(w[j] - want) > 1e-5 * (1 + std::abs(want));
      }
      CHECK(far == 0);
      std::vector<float> all = w;
      all.insert(all.end(), m.begin(), m.end());
      all.insert(all.end(), v.begin(), v.end());
      if (first.empty()) first = all;
      CHECK(all == first);
    }
  }
}
