// The toy tasks, generated from a seeded generator (nothing to download):
//   reverse  digit sequences of length 4..12, padded to 12; the target is the sequence reversed, then eos.
//            For the encoder-decoder: it exercises valid_lens/padding masks, the causal decoder and
//            cross-attention (the answer's t-th token must look at source position len-1-t).
//   sort     8 digits, then the same digits sorted (minGPT's sort task); for the decoder-only model, with
//            the loss only on the answer positions.
// Each task keeps 1,000 held-out sequences, drawn from their own seed, that training batches never contain.
#pragma once
#include <cstdint>
#include <string>
#include <unordered_set>
#include <vector>

#include "nn/ragged.h"
#include "tensor/creation.h"

namespace qkv::toy {

struct ReverseBatch {
  Tensor src;             // [B,12] digit tokens, then pad
  Tensor src_valid_lens;  // [B]    4..12
  Tensor tgt_in;          // [B,13] bos, then the target shifted right (teacher forcing)
  Tensor tgt;             // [B,13] reversed digits, eos, then pad (ignored by the loss)
};

// The same batch without its padding (nn/ragged.h): each source of its valid length, each target up to and
// including its eos (the loss reads nothing after it). tgt [N] lines up with tgt_in's N tokens.
struct RaggedReverseBatch {
  nn::RaggedBatch src, tgt_in;
  Tensor tgt;
};
RaggedReverseBatch ragged(const ReverseBatch& batch);

class ReverseTask {
 public:
  static constexpr int64_t pad = 0, bos = 1, eos = 2, first_digit = 3, vocab = 13;
  static constexpr int64_t min_len = 4, max_len = 12;

  explicit ReverseTask(int64_t held_out_count = 1000, uint64_t held_out_seed = 20261121);
  ReverseBatch train_batch(int64_t B,
                           Generator& gen = default_generator()) const;  // never a held-out sequence
  const ReverseBatch& held_out() const { return held_out_; }
  // "7 3 9" for the digits of a token row (stops at eos or pad)
  static std::string digits(const float* tokens, int64_t n);
  static std::string token_name(float token);  // "7", "<eos>", "<bos>", "<pad>"

 private:
  ReverseBatch held_out_;
  std::unordered_set<std::string> held_out_keys_;
};

struct SortBatch {
  Tensor input;   // [B,15] 8 digits, then the first 7 sorted digits
  Tensor target;  // [B,15] the input shifted left by one: -1 (ignored) on the 7 question positions
};

class SortTask {
 public:
  static constexpr int64_t length = 8, vocab = 10, ignore = -1;
  static constexpr int64_t context = 2 * length - 1;

  explicit SortTask(int64_t held_out_count = 1000, uint64_t held_out_seed = 20261122);
  SortBatch train_batch(int64_t B, Generator& gen = default_generator()) const;
  const SortBatch& held_out() const { return held_out_; }

 private:
  SortBatch held_out_;
  std::unordered_set<std::string> held_out_keys_;
};

}  // namespace qkv::toy
