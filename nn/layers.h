// The basic layers: Linear, Embedding, LayerNorm, RMSNorm, Dropout. Each is a Module with its parameters
// registered by name and a forward() that composes differentiable ops from autograd/.
#pragma once
#include "autograd/ops.h"
#include "nn/module.h"

namespace qkv::nn {

// y = x W^T + b. weight [out, in] as PyTorch stores it (so checkpoints load in PyTorch unchanged);
// init as PyTorch's default: weight and bias ~ U(-1/sqrt(in), 1/sqrt(in)).
class Linear : public Module {
 public:
  Linear(int64_t in_features, int64_t out_features, bool bias = true);
  Tensor forward(const Tensor& x) const;  // [..., in] -> [..., out]
  Tensor weight, bias;                    // bias undefined when bias == false

 private:
  int64_t in_features_;
};

// A table of V vectors of width D: ids [...] -> [..., D]. Init ~ N(0, 1) as PyTorch.
class Embedding : public Module {
 public:
  Embedding(int64_t num_embeddings, int64_t embedding_dim);
  Tensor forward(const Tensor& ids) const;
  Tensor weight;  // [V, D]
};

// Normalises the last dim to mean 0, variance 1, then scales and shifts: gamma * xhat + beta.
// bias = false leaves beta out (GPT-2 as nanoGPT trains it; PyTorch: LayerNorm(D, bias=False)).
class LayerNorm : public Module {
 public:
  explicit LayerNorm(int64_t normalized_shape, float eps = 1e-5f, bool bias = true);
  Tensor forward(const Tensor& x) const;  // [..., D] -> [..., D]
  Tensor weight, bias;                    // gamma (ones) and beta (zeros), [D]; bias undefined without

 private:
  float eps_;
};

// Root-mean-square norm (LLaMA's): x / sqrt(mean(x^2) + eps) * gamma over the last dim. No mean taken
// away and no shift (PyTorch: nn.RMSNorm).
class RMSNorm : public Module {
 public:
  explicit RMSNorm(int64_t normalized_shape, float eps = 1e-5f);
  Tensor forward(const Tensor& x) const;  // [..., D] -> [..., D]
  Tensor weight;                          // gamma (ones), [D]

 private:
  float eps_;
};

// Inverted dropout: in training zero each entry with probability p and scale the rest by 1/(1-p);
// in eval the identity.
class Dropout : public Module {
 public:
  explicit Dropout(float p = 0.5f);
  Tensor forward(const Tensor& x) const;
  float p;
};

}  // namespace qkv::nn
