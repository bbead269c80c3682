// Mask (see mask.h): every part becomes a 0/1 keep tensor that broadcasts to [B, T, S]; the parts multiply.
#include "nn/mask.h"

#include "tensor/checks.h"
#include "tensor/creation.h"
#include "tensor/elementwise.h"
#include "tensor/shape_ops.h"

namespace qkv::nn {

using namespace kernels;

Mask Mask::from_valid_lens(const Tensor& valid_lens) {
  if (!valid_lens.defined() || valid_lens.dim() < 1 || valid_lens.dim() > 2)
    fail("Mask::from_valid_lens", "valid_lens must be [B] or [B,T], got " +
                                      (valid_lens.defined() ? to_string(valid_lens.shape()) : "undefined"));
  for (int64_t i = 0; i < valid_lens.numel(); ++i)
    check::whole_non_negative("Mask::from_valid_lens", "valid_lens", valid_lens.data()[i]);
  Mask m;
  m.valid_lens_.push_back(valid_lens.clone());
  return m;
}

Mask Mask::key_padding(const Tensor& key_is_padding) {
  if (!key_is_padding.defined() || key_is_padding.dim() != 2)
    fail("Mask::key_padding",
         "key_is_padding must be [B,S], got " +
             (key_is_padding.defined() ? to_string(key_is_padding.shape()) : "undefined"));
  for (int64_t i = 0; i < key_is_padding.numel(); ++i)  // 0.5 is neither: no half-padded key
    check::zero_or_one("Mask::key_padding", "key_is_padding", key_is_padding.data()[i]);
  Mask m;
  m.key_is_padding_.push_back(key_is_padding.clone());
  return m;
}

Mask Mask::causal() {
  Mask m;
  m.causal_ = true;
  return m;
}

Mask Mask::ragged(std::vector<int64_t> query_splits, std::vector<int64_t> key_splits) {
  Mask m;  // the splits themselves are checked by the attention kernel, against the rows it is given
  m.ragged_ = std::make_shared<const kernels::RaggedRows>(
      kernels::RaggedRows{std::move(query_splits), std::move(key_splits)});
  return m;
}

Mask Mask::operator&(const Mask& other) const {
  if (ragged_ && other.ragged_ && ragged_ != other.ragged_)
    fail("Mask::operator&", "a mask can describe one ragged batch, not two");
  Mask m = *this;
  if (!m.ragged_) m.ragged_ = other.ragged_;
  m.causal_ = causal_ || other.causal_;
  m.valid_lens_.insert(m.valid_lens_.end(), other.valid_lens_.begin(), other.valid_lens_.end());
  m.key_is_padding_.insert(m.key_is_padding_.end(), other.key_is_padding_.begin(),
                           other.key_is_padding_.end());
  return m;
}

Tensor Mask::keep(int64_t B, int64_t T, int64_t S, bool with_causal) const {
  if (ragged_ && (!valid_lens_.empty() || !key_is_padding_.empty()))
    fail("attention mask", "a ragged batch has no padding: valid_lens and key_is_padding do not apply");
  if (ragged_ && causal_ && ragged_->q_splits != ragged_->k_splits)
    fail("attention mask",
         "causal needs the queries and keys of a ragged batch split alike (self-attention)");
  if (!with_causal && valid_lens_.empty() && key_is_padding_.empty()) return Tensor();
  const Tensor key_positions = reshape(arange(float(S)), {1, 1, S});  // s along the last axis
  Tensor keep = ones({1, 1, S});
  for (const Tensor& lens : valid_lens_) {
    // [B] -> [B,1,1] (the same length for every query row); [B,T] -> [B,T,1]
    const bool per_row = lens.dim() == 2;
    if (lens.size(0) != B || (per_row && lens.size(1) != T))
      fail("attention mask", "valid_lens of shape " + to_string(lens.shape()) + " does not fit " +
                                 std::to_string(B) + " sequences of " + std::to_string(T) + " queries");
    keep = mul(keep, lt(key_positions, reshape(lens, {B, per_row ? T : 1, 1})));  // keep s < len
  }
  for (const Tensor& pad : key_is_padding_) {
    if (pad.size(0) != B || pad.size(1) != S)
      fail("attention mask", "key_is_padding of shape " + to_string(pad.shape()) + " does not fit " +
                                 std::to_string(B) + " sequences of " + std::to_string(S) + " keys");
    keep = mul(keep, eq(reshape(pad, {B, 1, S}), scalar(0)));  // keep the keys that are not padding
  }
  if (causal_ && with_causal) {
    // query t sees keys s <= t + (S - T)
    const Tensor last_visible = reshape(add_scalar(arange(float(T)), float(S - T)), {1, T, 1});
    keep = mul(keep, le(key_positions, last_visible));
  }
  return keep;
}

}  // namespace qkv::nn
