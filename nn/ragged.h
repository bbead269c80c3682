// A ragged batch of token ids: B sequences of different lengths stored end to end, with no padding.
// Sequence b is ids[splits[b] : splits[b+1]]. Every layer that works token by token (embedding, linear,
// layer norm, dropout, the FFN) takes the [N, D] rows as they are; attention is told where each sequence
// starts through Mask::ragged (kernels::RaggedRows), so queries only see keys of their own sequence.
// A padded batch computes the same numbers for its real tokens and spends the rest on padding: with the
// reverse task's lengths 4..12 padded to 12, a third of every layer's work.
//   padded ids [B,T] = [[5 7 0 0]      ragged ids [5 7 9 8 6]    splits    [0 2 5]
//                       [9 8 6 0]]                positions [0 1 0 1 2]
#pragma once
#include <vector>

#include "tensor/tensor.h"

namespace qkv::nn {

struct RaggedBatch {
  Tensor ids;                   // [N] token ids, sequence after sequence
  Tensor positions;             // [N] each token's place in its own sequence: 0, 1, ..., length-1
  std::vector<int64_t> splits;  // [B+1] from 0 to N: sequence b is rows splits[b] .. splits[b+1]

  // Keeps the first lengths[b] ids of each row of the padded ids [B,T]; lengths [B] of whole numbers
  // 0..T.
  static RaggedBatch from_padded(const Tensor& ids, const Tensor& lengths);
  int64_t batch_size() const { return static_cast<int64_t>(splits.size()) - 1; }
  int64_t length(int64_t b) const { return splits[b + 1] - splits[b]; }
};

}  // namespace qkv::nn
