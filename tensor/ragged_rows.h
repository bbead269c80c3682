// A ragged batch's layout: B sequences of different lengths stored end to end as rows, with no padding
// (TensorFlow's row_splits, FlashAttention's cu_seqlens). The attention kernels read it; autograd's
// attention ops and nn's Mask::ragged carry it; it computes nothing itself.
#pragma once
#include <cstdint>
#include <vector>

namespace qkv::kernels {

// Sequence b of the queries is rows q_splits[b] .. q_splits[b+1] of q [Nq, H*Dh]; its keys and values are
// rows k_splits[b] .. k_splits[b+1] of k [Nk, H*Dh] and v [Nk, H*Dv]. Self-attention has the same splits
// twice. The attention maps stay [B,H,T,S], T and S the longest sequences: sequence b fills the top-left
// T_b x S_b corner of its maps, zeros elsewhere. A padded batch with valid_lens masks computes the same
// numbers for the real rows and spends the rest of its work on padding (up to a third on the toy tasks).
struct RaggedRows {
  std::vector<int64_t> q_splits, k_splits;  // B+1 each, from 0, never decreasing
  int64_t batch() const { return static_cast<int64_t>(q_splits.size()) - 1; }
  int64_t longest_query() const { return longest(q_splits); }
  int64_t longest_key() const { return longest(k_splits); }
  static int64_t longest(const std::vector<int64_t>& splits);
  // Throws "op: q_splits must rise from 0 to the N rows ..." unless both splits fit q_rows and k_rows.
  void check(const char* op, int64_t q_rows, int64_t k_rows) const;
};

}  // namespace qkv::kernels
