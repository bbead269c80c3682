// Cross-entropy forward and backward (see cross_entropy.h).
#include "tensor/cross_entropy.h"

#include <cmath>

#include "tensor/loops/grain.h"
#include "tensor/parallel.h"
#include "tensor/softmax.h"
#include "tensor/value_text.h"

namespace qkv::kernels {
namespace {

// logits [N,V] with targets [N], or [B,T,V] with [B,T] (rows N = B*T), as row indices: the class of each
// row, or -1 for an ignored row. V is last, where the models put it; PyTorch puts it in dim 1 ([N,C,d1]).
std::vector<int64_t> read_targets(const char* op, const Tensor& logits, const Tensor& targets,
                                  int64_t ignore_index, float label_smoothing) {
  const bool rank_fits = (logits.dim() == 2 || logits.dim() == 3) && targets.dim() == logits.dim() - 1;
  if (!rank_fits || targets.shape() != Shape(logits.shape().begin(), logits.shape().end() - 1))
    fail(op,
         "needs logits [N,V] with targets [N] or [B,T,V] with [B,T] (the class dim last, unlike "
         "PyTorch's [N,C,d1]), got " +
             to_string(logits.shape()) + " and " + to_string(targets.shape()));
  if (!(label_smoothing >= 0 && label_smoothing <= 1))
    fail(op, "label_smoothing must be in [0, 1], got " + value_text(label_smoothing));
  const int64_t V = logits.size(-1);
  std::vector<int64_t> classes(targets.numel());
  for (int64_t r = 0; r < targets.numel(); ++r) {
    const float t = targets.data()[r];
    if (t == static_cast<float>(ignore_index)) {
      classes[r] = -1;
    } else if (t != std::floor(t) || !(t >= 0 && t < static_cast<float>(V))) {
      fail(op, "target " + value_text(t) + " at row " + std::to_string(r) + " is not a class in [0, " +
                   std::to_string(V) + ") nor ignore_index " + std::to_string(ignore_index));
    } else {
      classes[r] = static_cast<int64_t>(t);
    }
  }
  return classes;
}

}  // namespace

CrossEntropyOut cross_entropy(const Tensor& logits, const Tensor& targets, int64_t ignore_index,
                              float label_smoothing) {
  // logits [N,V], targets [N] -> loss [] (or [B,T,V], [B,T]: the same rows, N = B*T)
  const std::vector<int64_t> classes =
      read_targets("cross_entropy", logits, targets, ignore_index, label_smoothing);
  const int64_t N = targets.numel(), V = logits.size(-1);
  // log-softmax subtracts the row max first: the log-sum-exp trick, stable for any logits.
  const Tensor logp = log_softmax(logits, -1);
  const float* lp = logp.data();
  CrossEntropyOut out{Tensor(Shape{}), softmax(logits, -1), 0};
  double total = 0;
  for (int64_t r = 0; r < N; ++r) {
    if (classes[r] < 0) continue;
    ++out.kept;
    // Smoothed target: (1 - eps) on the true class plus eps / V on every class.
    double row = (1.0 - label_smoothing) * lp[r * V + classes[r]];
    if (label_smoothing > 0) {  // only then: 0 * log 0 would give NaN for a class with zero probability
      double all = 0;
      for (int64_t j = 0; j < V; ++j) all += lp[r * V + j];
      row += label_smoothing / static_cast<double>(V) * all;
    }
    total -= row;
  }
  if (out.kept > 0) out.loss.mutable_data()[0] = static_cast<float>(total / static_cast<double>(out.kept));
  return out;
}

Tensor cross_entropy_backward(const CrossEntropyOut& out, const Tensor& targets, int64_t ignore_index,
                              float label_smoothing, float dloss) {
  // forward was: loss = mean over kept rows of -sum_j target_j * log softmax(logits)_j
  const std::vector<int64_t> classes =
      read_targets("cross_entropy_backward", out.probs, targets, ignore_index, label_smoothing);
  const int64_t N = targets.numel(), V = out.probs.size(-1);
  Tensor dlogits(out.probs.shape());
  if (out.kept == 0) return dlogits;  // nothing was averaged, so nothing to send back
  const float* p = out.probs.data();
  float* dl = dlogits.mutable_data();
  const float scale = dloss / static_cast<float>(out.kept);
  const float off_target = label_smoothing / static_cast<float>(V);
  for (int64_t r = 0; r < N; ++r) {
    if (classes[r] < 0) continue;
    for (int64_t j = 0; j < V; ++j) {
      const float target = off_target + (j == classes[r] ? 1 - label_smoothing : 0.0f);
      dl[r * V + j] = scale * (p[r * V + j] - target);
    }
  }
  return dlogits;
}

}  // namespace qkv::kernels
