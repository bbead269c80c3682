// Positional encodings: attention itself ignores order, so each position's vector gets a signature added.
//   PositionalEncoding         d2l's fixed sinusoids: P[i, 2j] = sin(i / 10000^(2j/D)),
//                              P[i, 2j+1] = cos(i / 10000^(2j/D)); then dropout
//   LearnedPositionalEncoding  a trained [max_len, D] table (GPT-style); then dropout
// X [B,T,D] -> X + P[:T] broadcast over the batch. A ragged batch (nn/ragged.h) passes each row's
// position: X [N,D], positions [N] -> X + P[positions].
#pragma once
#include "nn/layers.h"

namespace qkv::nn {

// The sinusoidal table on its own, [max_len, D] (the course's heatmap and curves are drawn from it).
Tensor sinusoidal_table(int64_t max_len, int64_t num_hiddens);

class PositionalEncoding : public Module {
 public:
  PositionalEncoding(int64_t num_hiddens, float dropout, int64_t max_len = 1000);
  Tensor forward(const Tensor& x) const;                           // [B,T,D] -> [B,T,D]
  Tensor forward(const Tensor& x, const Tensor& positions) const;  // ragged: [N,D], [N] -> [N,D]
  Tensor P;                                                        // [max_len, D], not trained

 private:
  std::shared_ptr<Dropout> dropout_;
};

class LearnedPositionalEncoding : public Module {
 public:
  LearnedPositionalEncoding(int64_t num_hiddens, float dropout, int64_t max_len);
  Tensor forward(const Tensor& x) const;                           // [B,T,D] -> [B,T,D]
  Tensor forward(const Tensor& x, const Tensor& positions) const;  // ragged: [N,D], [N] -> [N,D]
  std::shared_ptr<Embedding> table;                                // weight [max_len, D]

 private:
  std::shared_ptr<Dropout> dropout_;
};

}  // namespace qkv::nn
