// online_softmax: the worked example of docs/13-flash-attention.md. One query row with four scores and
// four (one-number) values, split into two blocks of two keys, walked with the online softmax: a running
// max m, a running sum l and an unnormalised output o, rescaled by alpha = exp(m_old - m_new) when a
// block brings a larger score. The end matches softmax(s) . v computed directly, and the flash kernel
// (which stores only out and lse) gives the same two numbers.
//   ./build/examples/online_softmax
#include <cmath>
#include <cstdio>
#include <exception>

#include "support/cli.h"
#include "tensor/attention.h"
#include "tensor/creation.h"

int main(int argc, char** argv) try {
  qkv::cli::Flags flags("online_softmax", "The online softmax of docs/13-flash-attention.md, step by step.");
  if (!flags.parse(argc, argv)) return 0;
  const double s[4] = {1, 2, 4, 0}, v[4] = {10, 20, 30, 40};  // scores and values of one query row
  std::printf("scores s = (1, 2 | 4, 0), values v = (10, 20 | 30, 40), blocks of two keys\n\n");

  double m = -INFINITY, l = 0, o = 0;
  for (int block = 0; block < 2; ++block) {
    const double* sb = s + 2 * block;
    const double* vb = v + 2 * block;
    const double m_new = std::fmax(m, std::fmax(sb[0], sb[1]));
    const double alpha = std::exp(m - m_new);  // exp(-inf) = 0 before the first block
    const double p0 = std::exp(sb[0] - m_new), p1 = std::exp(sb[1] - m_new);
    l = alpha * l + p0 + p1;
    o = alpha * o + p0 * vb[0] + p1 * vb[1];
    m = m_new;
    std::printf("block %d: m = %.0f, alpha = %.4f, p = (%.4f, %.4f), l = %.4f, o = %.4f\n", block + 1, m,
                alpha, p0, p1, l, o);
  }
  std::printf("online: out = o / l = %.4f, lse = m + log l = %.4f\n", o / l, m + std::log(l));

  double total = 0, weighted = 0;  // the direct way: every weight at once
  for (int j = 0; j < 4; ++j) total += std::exp(s[j]);
  for (int j = 0; j < 4; ++j) weighted += std::exp(s[j]) / total * v[j];
  std::printf("direct: out = softmax(s) . v = %.4f, log sum exp(s) = %.4f\n", weighted, std::log(total));

  // The flash kernel on the same row: q = 1 and k = s (one head of width 1, so scale = 1/sqrt(1) = 1).
  const qkv::Tensor q = qkv::tensor({1}, {1, 1, 1}), k = qkv::tensor({1, 2, 4, 0}, {1, 4, 1});
  const qkv::Tensor vt = qkv::tensor({10, 20, 30, 40}, {1, 4, 1});
  const qkv::kernels::FlashForward f = qkv::kernels::flash_attention_forward(q, k, vt, 1, {}, false, 1, {});
  std::printf("flash kernel: out = %.4f, lse = %.4f\n", f.out.data()[0], f.lse.data()[0]);
  return 0;
} catch (const std::exception& e) {
  return qkv::cli::report_error("online_softmax", e);
}
