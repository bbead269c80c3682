// Greedy decoding: at every step take the most likely next token and feed it back.
// No key/value cache: step t re-runs the decoder on all t tokens, so T steps cost O(T^3) in attention.
#pragma once
#include "nn/models.h"

namespace qkv::nn {

// src [B,S] with src_valid_lens [B] -> [B, max_steps] token ids following bos. A row stops at its first eos;
// everything after it is pad. Runs under NoGrad; put the model in eval() first.
Tensor greedy_decode(EncoderDecoder& model, const Tensor& src, const Tensor& src_valid_lens, int64_t bos,
                     int64_t eos, int64_t max_steps, int64_t pad = 0);

// prompt [B,T0] -> [B,T0+steps]: each new token is the argmax given at most the last max_len tokens.
Tensor generate(GPT& model, const Tensor& prompt, int64_t steps);

}  // namespace qkv::nn
