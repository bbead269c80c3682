// Beam search for the encoder-decoder (d2l's "Beam Search" section). Greedy decoding keeps one candidate
// and takes the likeliest next token; beam search keeps the beam_size likeliest partial targets. At each
// step every live beam is extended by every token, and of all those (and the beams that have ended, which
// stay as they are) the beam_size with the highest log-probability sum log P(y_1..y_t | source) go on. A
// beam ends at eos. At the end the beam with the highest length-normalised score
//   score = log P(y_1..y_L | source) / L^length_penalty       (L: its tokens, eos included)
// wins: with length_penalty 0 the raw sum, which favours short answers (every token lowers it); d2l uses
// 0.75. Beam size 1 is greedy decoding (tests/test_beam_search.cpp checks the tokens are the same).
// The beams of all sources run as one batch through the decoder with a key/value cache (nn/kv_cache.h);
// the cache follows each surviving beam (KVCache::select).
// Leaves out: beam search for GPT, diverse or constrained beams, stopping before max_steps when no live
// beam can beat an ended one any more.
#pragma once
#include "nn/models.h"

namespace qkv::nn {

struct BeamSearchConfig {
  int64_t beam_size = 4;         // >= 1 (1: greedy)
  double length_penalty = 0.75;  // alpha >= 0 in score / L^alpha
};

// src [B,S] with src_valid_lens [B] -> [B, max_steps] token ids following bos, as greedy_decode returns
// them: a row stops at its first eos, pad after it. max_steps may not pass the model's max_len (a named
// error). Runs under NoGrad; put the model in eval() first.
Tensor beam_search(EncoderDecoder& model, const Tensor& src, const Tensor& src_valid_lens, int64_t bos,
                   int64_t eos, int64_t max_steps, const BeamSearchConfig& config, int64_t pad = 0);

}  // namespace qkv::nn
