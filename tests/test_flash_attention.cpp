// The flash attention kernels (tensor/attention/flash.cpp) against the composed attention of the course
// (split_heads, scaled_dot_product_attention, merge_heads): outputs and every gradient within 1e-5 of the
// largest reference value, for every mask kind, with and without dropout, at lengths that are not
// multiples of the block sizes; then gradcheck, fully masked rows, threads, and memory that never holds a
// [T,S] map. Ragged batches are checked against the materialised kernel (test_ragged.cpp ties that one
// to the padded composition).
#include <atomic>
#include <cmath>
#include <cstdlib>
#include <new>

#include "autograd/gradcheck.h"
#include "autograd/ops.h"
#include "catch.h"
#include "helpers.h"
#include "nn/multi_head_attention.h"
#include "run_program.h"
#include "tensor/creation.h"
#include "tensor/parallel.h"

using namespace qkv;
using namespace qkv::nn;
using kernels::AttentionKernel;
using qkv::testing::bitwise_equal;

// Counting allocations: while `counting` is on, the largest single request and the total requested.
namespace {
std::atomic<bool> counting{false};
std::atomic<size_t> largest{0}, total{0};
}  // namespace

// Not under AddressSanitizer, whose own operator new then mixes with this one (every test aborted with
// "alloc-dealloc-mismatch"): there the 8192 test runs without counting and says so.
#if defined(__SANITIZE_ADDRESS__)
#define QKV_COUNTING_NEW 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define QKV_COUNTING_NEW 0
#endif
#endif
#ifndef QKV_COUNTING_NEW
#define QKV_COUNTING_NEW 1
#endif

#if QKV_COUNTING_NEW
#if defined(__GNUC__) && !defined(__clang__)  // malloc'd by new, so free'd by delete: matched
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif
void* operator new(std::size_t n) {
  if (counting.load(std::memory_order_relaxed)) {
    total += n;
    for (size_t l = largest.load(); n > l && !largest.compare_exchange_weak(l, n);) {
    }
  }
  if (void* p = std::malloc(n ? n : 1)) return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
#endif

namespace {

struct Case {
  const char* name;
  int64_t B, T, S, H, Dh, Dv;
  Mask mask;
};

struct Run {
  Tensor out, dq, dk, dv;
};

// out and the gradients of the loss sum(out * w), by the flash kernel or by the course's composition.
Run run(const Case& c, bool flash, float dropout_p, uint64_t seed) {
  manual_seed(42);
  Tensor q = randn({c.B, c.T, c.H * c.Dh}).set_requires_grad();
  Tensor k = randn({c.B, c.S, c.H * c.Dh}).set_requires_grad();
  Tensor v = randn({c.B, c.S, c.H * c.Dv}).set_requires_grad();
  const Tensor w = randn({c.B, c.T, c.H * c.Dv});
  manual_seed(seed);  // the dropout draws, the same in both
  Run r;
  if (flash) {
    r.out = multi_head_attention(q, k, v, c.H,
                                 {.keep = c.mask.keep(c.B, c.T, c.S, /*with_causal=*/false),
                                  .causal = c.mask.is_causal(),
                                  .dropout_p = dropout_p,
                                  .training = true,
                                  .kernel = AttentionKernel::flash});
  } else {
    const AttentionResult a = scaled_dot_product_attention(split_heads(q, c.H), split_heads(k, c.H),
                                                           split_heads(v, c.H), c.mask, dropout_p, true);
    r.out = merge_heads(a.output);
  }
  sum(r.out * w).backward();
  return {r.out, q.grad(), k.grad(), v.grad()};
}

// max |a - b| <= 1e-5 max |b| + 1e-6: relative to the reference's scale, so entries near 0 are not held
// to digits that no float sum of 257 terms has; the 1e-6 is for gradients that are 0 in exact arithmetic
// (with one key, softmax's gradient vanishes, and both sides round to different tiny values).
bool close(const Tensor& a, const Tensor& b) {
  if (a.shape() != b.shape()) return false;
  double diff = 0, scale = 0;
  for (int64_t i = 0; i < a.numel(); ++i) {
    if (std::isnan(a.data()[i])) return false;
    diff = std::max(diff, double(std::fabs(a.data()[i] - b.data()[i])));
    scale = std::max(scale, double(std::fabs(b.data()[i])));
  }
  return diff <= 1e-5 * scale + 1e-6;
}

void check_close(const Run& a, const Run& b) {
  CHECK(close(a.out, b.out));
  CHECK(close(a.dq, b.dq));
  CHECK(close(a.dk, b.dk));
  CHECK(close(a.dv, b.dv));
}

std::vector<Case> cases() {
  std::vector<float> pads(2 * 65, 0.0f);
  for (int64_t s = 60; s < 65; ++s) pads[s] = 1;         // sequence 0: the last 5 keys are padding
  for (int64_t s = 0; s < 65; s += 3) pads[65 + s] = 1;  // sequence 1: every third key
  std::vector<float> row_lens(2 * 65);
  for (int64_t i = 0; i < 2 * 65; ++i) row_lens[i] = float(i * 37 % 71);  // 0..70, some rows empty
  return {
      {"T = S = 1", 2, 1, 1, 2, 8, 8, Mask()},
      {"T = S = 7", 2, 7, 7, 3, 8, 8, Mask()},
      {"T = 63, S = 65, Dv != Dh", 2, 63, 65, 2, 8, 5, Mask()},
      {"T = S = 64", 1, 64, 64, 2, 16, 16, Mask()},
      {"T = 65, S = 257", 2, 65, 257, 2, 8, 8, Mask()},
      {"T = 257, S = 63", 1, 257, 63, 2, 8, 8, Mask()},
      {"valid_lens [B] with an empty sequence", 3, 65, 130, 2, 8, 8,
       Mask::from_valid_lens(tensor({130, 0, 64}))},
      {"valid_lens [B,T]", 2, 65, 70, 2, 8, 8, Mask::from_valid_lens(tensor(row_lens, {2, 65}))},
      {"key padding", 2, 63, 65, 2, 8, 8, Mask::key_padding(tensor(pads, {2, 65}))},
      {"causal T = S = 257", 1, 257, 257, 2, 8, 8, Mask::causal()},
      {"causal T = 65 < S = 130 (a decoder with a cache)", 2, 65, 130, 2, 8, 8, Mask::causal()},
      {"causal T = 130 > S = 65 (the first rows see nothing)", 2, 130, 65, 2, 8, 8, Mask::causal()},
      {"causal and valid_lens [B]", 3, 65, 65, 2, 8, 8,
       Mask::causal() & Mask::from_valid_lens(tensor({65, 0, 7}))},
      {"causal, key padding and valid_lens [B,T]", 2, 65, 65, 2, 8, 8,
       Mask::causal() & Mask::key_padding(tensor(pads, {2, 65})) &
           Mask::from_valid_lens(tensor(row_lens, {2, 65}))},
  };
}

}  // namespace

TEST_CASE("flash attention: equals the composed attention for every mask, with and without dropout") {
  for (const Case& c : cases())
    for (float p : {0.0f, 0.3f}) {
      INFO(c.name << ", dropout " << p);
      check_close(run(c, true, p, 7), run(c, false, p, 7));
    }
}

TEST_CASE("flash attention: ragged batches equal the materialised kernel") {
  // Three sequences of 1, 200 and 130 tokens end to end (more than one block each for the last two),
  // self-attention with and without causal.
  const std::vector<int64_t> splits{0, 1, 201, 331};
  const kernels::RaggedRows rows{splits, splits};
  const int64_t N = 331, H = 2, D = 16;
  for (bool causal : {false, true})
    for (float p : {0.0f, 0.3f}) {
      INFO("causal " << causal << ", dropout " << p);
      Run r[2];
      for (int i = 0; i < 2; ++i) {
        manual_seed(4);
        Tensor q = randn({N, D}).set_requires_grad(), k = randn({N, D}).set_requires_grad();
        Tensor v = randn({N, D}).set_requires_grad();
        const Tensor w = randn({N, D});
        manual_seed(11);
        const Tensor out =
            multi_head_attention(q, k, v, H,
                                 {.causal = causal,
                                  .dropout_p = p,
                                  .training = true,
                                  .ragged = &rows,
                                  .kernel = i == 0 ? AttentionKernel::flash : AttentionKernel::materialised});
        sum(out * w).backward();
        r[i] = {out, q.grad(), k.grad(), v.grad()};
      }
      check_close(r[0], r[1]);
    }
}

TEST_CASE("flash attention: packed self-attention equals the three-tensor form") {
  const int64_t B = 2, T = 70, H = 2, D = 16;
  for (float p : {0.0f, 0.3f}) {
    INFO("dropout " << p);
    manual_seed(3);
    Tensor qkv = randn({B, T, 3 * D}).set_requires_grad();
    Tensor q = narrow(qkv, 2, 0, D).detach().set_requires_grad();
    Tensor k = narrow(qkv, 2, D, D).detach().set_requires_grad();
    Tensor v = narrow(qkv, 2, 2 * D, D).detach().set_requires_grad();
    const Tensor w = randn({B, T, D});
    const Tensor keep = Mask::from_valid_lens(tensor({70, 3})).keep(B, T, T, false);
    const AttentionOptions o{
        .keep = keep, .causal = true, .dropout_p = p, .training = true, .kernel = AttentionKernel::flash};
    manual_seed(8);
    const Tensor packed = multi_head_self_attention(qkv, H, o);
    manual_seed(8);
    const Tensor split = multi_head_attention(q, k, v, H, o);
    CHECK(bitwise_equal(packed, split));
    sum(packed * w).backward();
    sum(split * w).backward();
    CHECK(bitwise_equal(qkv.grad(), concat({q.grad(), k.grad(), v.grad()}, 2)));
  }
}

TEST_CASE("flash attention: gradcheck with masks and dropout") {
  manual_seed(5);
  const Tensor q = randn({2, 5, 6}), k = randn({2, 7, 6}), v = randn({2, 7, 4});
  const Tensor keep = Mask::from_valid_lens(tensor({7, 3})).keep(2, 5, 7, false);
  for (float p : {0.0f, 0.25f}) {
    INFO("dropout " << p);
    REQUIRE_NOTHROW(gradcheck(
        [&](const std::vector<Tensor>& x) {
          manual_seed(9);  // the same dropout mask on every evaluation
          return multi_head_attention(x[0], x[1], x[2], 2,
                                      {.keep = keep,
                                       .causal = true,
                                       .dropout_p = p,
                                       .training = true,
                                       .kernel = AttentionKernel::flash});
        },
        {q.clone().set_requires_grad(), k.clone().set_requires_grad(), v.clone().set_requires_grad()}));
  }
}

TEST_CASE("flash attention: fully masked rows give zero output and zero gradient, never NaN") {
  // Causal with T = 70 > S = 6: query t sees keys s <= t - 64, so rows 0..63 see nothing; sequence 1 has
  // no valid key at all.
  manual_seed(6);
  Tensor q = randn({2, 70, 8}).set_requires_grad(), k = randn({2, 6, 8}).set_requires_grad();
  Tensor v = randn({2, 6, 8}).set_requires_grad();
  const Tensor keep = Mask::from_valid_lens(tensor({6, 0})).keep(2, 70, 6, false);
  const Tensor out =
      multi_head_attention(q, k, v, 2, {.keep = keep, .causal = true, .kernel = AttentionKernel::flash});
  sum(out * out).backward();
  for (const Tensor& t : {out, q.grad(), k.grad(), v.grad()})
    for (float x : t.to_vector()) REQUIRE(std::isfinite(x));
  for (int64_t t = 0; t < 70; ++t)
    for (int64_t j = 0; j < 8; ++j) {
      const bool empty = t < 64;
      if (empty) CHECK(out.at({0, t, j}) == 0.0f);
      if (empty) CHECK(q.grad().at({0, t, j}) == 0.0f);
      CHECK(out.at({1, t, j}) == 0.0f);
      CHECK(q.grad().at({1, t, j}) == 0.0f);
    }
  CHECK(out.at({0, 69, 0}) != 0.0f);  // the last rows do see keys
}

TEST_CASE("flash attention: the same bits with 1 and 2 threads") {
  qkv::testing::RestoreThreads restore;
  const Case c{"two heads of three batches",
               3,
               130,
               130,
               2,
               16,
               16,
               Mask::causal() & Mask::from_valid_lens(tensor({130, 5, 66}))};
  set_num_threads(1);
  const Run one = run(c, true, 0.1f, 3);
  set_num_threads(2);
  const Run two = run(c, true, 0.1f, 3);
  CHECK(bitwise_equal(one.out, two.out));
  CHECK(bitwise_equal(one.dq, two.dq));
  CHECK(bitwise_equal(one.dk, two.dk));
  CHECK(bitwise_equal(one.dv, two.dv));
}

TEST_CASE("flash attention: one head split across threads gives the same bits as one thread") {
  // One head and two threads: the backward splits the head (keys for dK and dV, queries for dQ) instead
  // of giving it to one thread; the sums are the same, in the same order.
  qkv::testing::RestoreThreads restore;
  const Case c{
      "one long head", 1, 300, 300, 1, 16, 16, Mask::causal() & Mask::from_valid_lens(tensor({290}))};
  set_num_threads(1);
  const Run one = run(c, true, 0.1f, 3);
  set_num_threads(2);
  const Run two = run(c, true, 0.1f, 3);
  CHECK(bitwise_equal(one.out, two.out));
  CHECK(bitwise_equal(one.dq, two.dq));
  CHECK(bitwise_equal(one.dk, two.dk));
  CHECK(bitwise_equal(one.dv, two.dv));
  check_close(two, run(c, false, 0.1f, 3));
}

TEST_CASE("flash attention: T = S = 8192 with one head allocates no [T,S] buffer") {
  // A [T,S] map is 256 MiB; the flash kernel's largest allocation must be the size of an input.
  const int64_t T = 8192, Dh = 8;
  manual_seed(1);
  Tensor q = randn({1, T, Dh}).set_requires_grad(), k = randn({1, T, Dh}).set_requires_grad();
  Tensor v = randn({1, T, Dh}).set_requires_grad();
  const Tensor w = randn({1, T, Dh});
  largest = 0;
  total = 0;
  counting = true;
  const Tensor out = multi_head_attention(q, k, v, 1, {.causal = true, .kernel = AttentionKernel::flash});
  sum(out * w).backward();
  counting = false;
  if (!QKV_COUNTING_NEW) {
    WARN("SKIPPED the allocation counts: this build has AddressSanitizer, whose operator new cannot be "
         "replaced (the attention above still ran)");
    return;
  }
  INFO("largest allocation " << largest << " bytes, " << total << " in all");
  CHECK(largest <= size_t(T * Dh * 4 + 64));  // an input's size, and the 64 bytes Storage spares to align
  CHECK(total < size_t(64) << 20);  // every tensor of forward and backward together, against 256 MiB
  // The counter sees the materialised kernel's maps: at T = S = 512, at least one [T,S] of floats.
  const Tensor small = randn({1, 512, Dh});
  largest = 0;
  counting = true;
  multi_head_attention(small, small, small, 1, {.kernel = AttentionKernel::materialised});
  counting = false;
  CHECK(largest >= size_t(512 * 512 * 4));
}

TEST_CASE("flash attention: the kernel is chosen in one place, and weights are refused by flash") {
  const kernels::AttentionSizes toy{2, 9, 9, 4, 16, 16}, book{1, 4096, 4096, 8, 64, 64};
  CHECK(kernels::choose_attention_kernel(toy, false) == AttentionKernel::materialised);
  CHECK(kernels::choose_attention_kernel(book, false) == AttentionKernel::flash);
  CHECK(kernels::choose_attention_kernel(book, true) == AttentionKernel::materialised);
  const Tensor x = zeros({1, 4, 8});
  Tensor weights;
  CHECK_THAT(
      ERROR_OF(multi_head_attention(x, x, x, 2, {.weights = &weights, .kernel = AttentionKernel::flash})),
      Catch::Contains("flash kernel stores no attention weights"));
  CHECK_THAT(ERROR_OF(kernels::flash_attention_forward(x, x, x, 2, Tensor(), false, 1, {.p = 1.0f})),
             Catch::Contains("flash_attention_forward") && Catch::Contains("dropout p must be in [0, 1)"));
  CHECK_THAT(
      ERROR_OF(kernels::flash_attention_backward(x, x, x, x, x, zeros({1, 2, 5}), 2, Tensor(), false, 1, {})),
      Catch::Contains("flash_attention_backward") && Catch::Contains("lse must be [B,H,T] = [1,2,4]"));
  CHECK_THAT(ERROR_OF(kernels::flash_attention_forward(x, x, x, 3, Tensor(), false, 1, {})),
             Catch::Contains("flash_attention_forward") && Catch::Contains("H=3"));
}

TEST_CASE("flash attention: MultiHeadAttention makes weights only when need_weights is on") {
  manual_seed(2);
  MultiHeadAttention attention(16, 2);
  const Tensor x = randn({2, 5, 16});
  const Mask mask = Mask::causal() & Mask::from_valid_lens(tensor({5, 3}));
  const Tensor with = attention.forward(x, x, x, mask);
  CHECK(attention.attention_weights.shape() == Shape{2, 2, 5, 5});
  attention.need_weights = false;
  const Tensor without = attention.forward(x, x, x, mask);
  CHECK_FALSE(attention.attention_weights.defined());
  CHECK(bitwise_equal(with, without));  // at this size the materialised kernel runs either way
}

TEST_CASE("flash attention: MultiHeadAttention without weights runs flash for long sequences, same numbers") {
  const int64_t T = 1024, D = 32, H = 2;
  REQUIRE(kernels::choose_attention_kernel({1, T, T, H, D / H, D / H}, false) == AttentionKernel::flash);
  manual_seed(3);
  MultiHeadAttention attention(D, H);
  const Tensor x = randn({1, T, D});
  Run r[2];
  for (int i = 0; i < 2; ++i) {
    attention.need_weights = i == 0;  // 0: materialised (weights), 1: flash
    attention.zero_grad();
    Tensor xi = x.clone().set_requires_grad();
    const Tensor y = attention.forward(xi, xi, xi, Mask::causal());
    sum(y * y).backward();
    r[i] = {y, xi.grad(), attention.W_q->weight.grad(), attention.W_v->weight.grad()};
  }
  CHECK_FALSE(attention.attention_weights.defined());
  check_close(r[1], r[0]);
}

#ifdef QKV_EXAMPLES_DIR
TEST_CASE("flash attention: bench_attention refuses a shortest sequence above the longest") {
  const qkv::testing::ProgramRun r =
      qkv::testing::run_program(qkv::testing::example("bench_attention") + " --min-T 512 --max-T 256");
  CHECK(r.status == 2);
  CHECK_THAT(r.output, Catch::Contains("bench_attention: --min-T 512 is above --max-T 256"));
}
#endif
