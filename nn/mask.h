// Mask: which keys each query may attend to. One notion for every case of the course:
//   Mask::from_valid_lens(valid_lens)   d2l's valid_lens: [B] one length per sequence (keys s < len
//                                       kept), or [B,T] one length per query row
//   Mask::key_padding(key_is_padding)   [B,S], 1 marks a padding key (PyTorch: key_padding_mask,
//                                       where True means ignore)
//   Mask::causal()                      query t sees keys s <= t + S - T: bottom-right aligned, so a
//                                       decoder with a key/value cache (T < S) still sees its whole past
//   Mask::ragged(q_splits, k_splits)    a ragged batch (nn/ragged.h, no padding): the queries of
//                                       sequence b see only the keys of sequence b. & causal() for a
//                                       decoder's self-attention
//   a & b                               kept only where both keep
// No function takes a bare boolean tensor whose polarity is not in its name. Attention asks for the
// dense form keep(B, T, S): 1 where query t may attend key s, 0 where it may not.
#pragma once
#include <memory>
#include <vector>

#include "tensor/ragged_rows.h"
#include "tensor/tensor.h"

namespace qkv::nn {

class Mask {
 public:
  Mask() = default;  // nothing masked
  static Mask from_valid_lens(const Tensor& valid_lens);
  static Mask key_padding(const Tensor& key_is_padding);
  static Mask causal();
  static Mask ragged(std::vector<int64_t> query_splits, std::vector<int64_t> key_splits);
  Mask operator&(const Mask& other) const;

  // No key masked out (within its own sequence, when ragged).
  bool empty() const { return !causal_ && valid_lens_.empty() && key_is_padding_.empty(); }
  // The row splits of a ragged batch, or nullptr for a padded one.
  const kernels::RaggedRows* ragged_rows() const { return ragged_.get(); }
  // [B or 1, T or 1, S] of 1/0. Throws if a part does not fit B, T, S (naming the shapes).
  // with_causal = false leaves the causal part out (the flash kernel takes it as a flag, is_causal(), so
  // that no [T,S] mask is built) and gives an undefined tensor when nothing else is masked.
  Tensor keep(int64_t B, int64_t T, int64_t S, bool with_causal = true) const;
  bool is_causal() const { return causal_; }

 private:
  std::vector<Tensor> valid_lens_, key_is_padding_;
  bool causal_ = false;
  std::shared_ptr<const kernels::RaggedRows> ragged_;
};

}  // namespace qkv::nn
