// The key/value cache's bookkeeping (see kv_cache.h); the models' cached forwards use it.
#include "nn/kv_cache.h"

#include <algorithm>
#include <string>

#include "tensor/checks.h"
#include "tensor/creation.h"
#include "tensor/shape_ops.h"

namespace qkv::nn {

KVCache::KVCache(int64_t num_layers, int64_t batch, int64_t capacity, int64_t num_hiddens)
    : lengths_(size_t(check::positive("KVCache", "batch", batch)), 0),
      capacity_(check::positive("KVCache", "capacity", capacity)),
      width_(check::positive("KVCache", "num_hiddens", num_hiddens)) {
  check::positive("KVCache", "num_layers", num_layers);
  for (int64_t l = 0; l < num_layers; ++l) {
    // Zeros, not garbage: a masked key's weight is 0, and 0 * NaN would still be NaN.
    keys_.push_back(zeros({batch, capacity, num_hiddens}));
    values_.push_back(zeros({batch, capacity, num_hiddens}));
  }
  cross_.resize(size_t(num_layers));
}

CacheStep KVCache::begin_step(const char* op, int64_t T, std::vector<int64_t> counts) const {
  const int64_t B = batch();
  check::positive(op, "new tokens per sequence", T);
  if (counts.empty()) counts.assign(size_t(B), T);
  if (int64_t(counts.size()) != B)
    fail(op, "counts of new tokens must have one entry per sequence (" + std::to_string(B) + "), got " +
                 std::to_string(counts.size()));
  CacheStep s;
  s.T = T;
  s.starts = lengths_;
  s.counts = counts;
  for (int64_t b = 0; b < B; ++b) {
    if (counts[b] < 0 || counts[b] > T)
      fail(op, "sequence " + std::to_string(b) + " has " + std::to_string(counts[b]) +
                   " new tokens, outside [0, " + std::to_string(T) + "]");
    const int64_t end = s.starts[b] + counts[b];
    if (end > capacity_)
      fail(op, "sequence " + std::to_string(b) + " would reach " + std::to_string(end) +
                   " tokens, past max_len=" + std::to_string(capacity_) +
                   ": the positions end there (generate without the cache crops the context instead)");
    s.S = std::max(s.S, end);
  }
  s.S = std::max<int64_t>(s.S, 1);  // a step of padding only still has one (masked) key
  // keep[b,i,j]: new token i sees keys j <= starts[b] + i; a padding row sees what the last real one does.
  s.keep = zeros({B, T, s.S});
  s.positions = Tensor::empty({B * T});
  float *keep = s.keep.mutable_data(), *pos = s.positions.mutable_data();
  for (int64_t b = 0; b < B; ++b)
    for (int64_t i = 0; i < T; ++i) {
      const int64_t last_seen = s.starts[b] + std::min(i, counts[b] - 1);  // may be -1: nothing to see
      std::fill_n(keep + (b * T + i) * s.S, last_seen + 1, 1.0f);
      pos[b * T + i] = float(std::min(s.starts[b] + i, capacity_ - 1));
    }
  return s;
}

std::pair<Tensor, Tensor> KVCache::append(int64_t layer, const Tensor& k, const Tensor& v,
                                          const CacheStep& step) {
  const int64_t B = batch(), T = step.T, D = width_;
  const Shape want{B, T, D};
  if (layer < 0 || layer >= num_layers() || k.shape() != want || v.shape() != want)
    fail("KVCache", "layer " + std::to_string(layer) + " of " + std::to_string(num_layers()) +
                        " with keys and values " + to_string(want) + " expected, got " +
                        to_string(k.shape()) + " and " + to_string(v.shape()));
  // Write the real rows at their positions: row i of sequence b to cache row starts[b] + i.
  for (auto [cache, rows] : {std::pair{&keys_[layer], &k}, std::pair{&values_[layer], &v}}) {
    float* c = cache->mutable_data();
    for (int64_t b = 0; b < B; ++b)
      std::copy_n(rows->data() + b * T * D, step.counts[b] * D, c + (b * capacity_ + step.starts[b]) * D);
  }
  // The first S rows of every sequence: [B,S,D]
  return {kernels::narrow(keys_[layer], 1, 0, step.S), kernels::narrow(values_[layer], 1, 0, step.S)};
}

void KVCache::end_step(const CacheStep& step) {
  for (int64_t b = 0; b < batch(); ++b) lengths_[b] = step.starts[b] + step.counts[b];
}

std::pair<Tensor, Tensor> KVCache::cross(int64_t layer, const Tensor& memory,
                                         const std::function<std::pair<Tensor, Tensor>()>& project) {
  if (layer < 0 || layer >= num_layers())
    fail("KVCache", "cross-attention layer " + std::to_string(layer) + " outside [0, " +
                        std::to_string(num_layers()) + ")");
  Cross& c = cross_[size_t(layer)];
  if (!c.memory.defined() || c.memory.impl() != memory.impl()) {
    auto [keys, values] = project();
    c = {memory, keys, values};
  }
  return {c.keys, c.values};
}

void KVCache::clear() {
  std::fill(lengths_.begin(), lengths_.end(), 0);
  std::fill(cross_.begin(), cross_.end(), Cross{});
}

void KVCache::select(const std::vector<int64_t>& rows) {
  const int64_t B = batch();
  if (int64_t(rows.size()) != B)
    fail("KVCache", "select needs one row per sequence (" + std::to_string(B) + "), got " +
                        std::to_string(rows.size()));
  std::vector<float> index;
  std::vector<int64_t> lengths;
  for (int64_t row : rows) {
    if (row < 0 || row >= B)
      fail("KVCache", "select: row " + std::to_string(row) + " outside [0, " + std::to_string(B) + ")");
    index.push_back(float(row));
    lengths.push_back(lengths_[row]);
  }
  const Tensor picked = tensor(index);
  for (std::vector<Tensor>* kv : {&keys_, &values_})
    for (Tensor& t : *kv) t = kernels::index_select(t, 0, picked);  // [B, capacity, D]
  lengths_ = lengths;
}

}  // namespace qkv::nn
