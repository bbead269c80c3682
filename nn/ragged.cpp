// Ragged batches (see ragged.h).
#include "nn/ragged.h"

#include <cmath>
#include <string>

#include "tensor/error.h"

namespace qkv::nn {

RaggedBatch RaggedBatch::from_padded(const Tensor& ids, const Tensor& lengths) {
  if (!ids.defined() || !lengths.defined() || ids.dim() != 2 || lengths.dim() != 1 ||
      lengths.size(0) != ids.size(0))
    fail("RaggedBatch::from_padded", "expected ids [B,T] and lengths [B], got " +
                                         (ids.defined() ? to_string(ids.shape()) : "undefined") + " and " +
                                         (lengths.defined() ? to_string(lengths.shape()) : "undefined"));
  const int64_t B = ids.size(0), T = ids.size(1);
  RaggedBatch r;
  r.splits.assign(1, 0);
  for (int64_t b = 0; b < B; ++b) {
    const float n = lengths.data()[b];
    if (n < 0 || n > float(T) || n != std::floor(n))
      fail("RaggedBatch::from_padded", "lengths must be whole numbers in 0.." + std::to_string(T) + ", got " +
                                           std::to_string(n) + " for sequence " + std::to_string(b));
    r.splits.push_back(r.splits.back() + static_cast<int64_t>(n));
  }
  r.ids = Tensor({r.splits.back()});
  r.positions = Tensor({r.splits.back()});
  float *out = r.ids.mutable_data(), *pos = r.positions.mutable_data();
  for (int64_t b = 0; b < B; ++b)
    for (int64_t t = 0; t < r.length(b); ++t) {
      out[r.splits[b] + t] = ids.data()[b * T + t];
      pos[r.splits[b] + t] = float(t);
    }
  return r;
}

}  // namespace qkv::nn
