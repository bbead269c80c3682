// The basic layers (see layers.h).
#include "nn/layers.h"

#include <cmath>

#include "tensor/checks.h"

namespace qkv::nn {

Linear::Linear(int64_t in_features, int64_t out_features, bool has_bias)
    : in_features_(check::positive("Linear", "in_features", in_features)) {
  check::positive("Linear", "out_features", out_features);
  const float bound = 1.0f / std::sqrt(float(in_features));
  weight = register_parameter("weight", uniform({out_features, in_features}, -bound, bound));
  if (has_bias) bias = register_parameter("bias", uniform({out_features}, -bound, bound));
}

Tensor Linear::forward(const Tensor& x) const {
  if (x.dim() < 1 || x.shape().back() != in_features_)
    fail("Linear", "input of shape " + to_string(x.shape()) +
                       " does not end in in_features=" + std::to_string(in_features_));
  // [..., in] @ [out, in]^T + [out] -> [..., out]: the transpose flag reads W as W^T without a copy, and
  // the bias is added inside the GEMM (the same as matmul(x, weight, false, true) + bias).
  return linear(x, weight, bias);
}

Embedding::Embedding(int64_t num_embeddings, int64_t embedding_dim) {
  check::positive("Embedding", "num_embeddings", num_embeddings);
  check::positive("Embedding", "embedding_dim", embedding_dim);
  weight = register_parameter("weight", randn({num_embeddings, embedding_dim}));
}

Tensor Embedding::forward(const Tensor& ids) const { return embedding(weight, ids); }

LayerNorm::LayerNorm(int64_t normalized_shape, float eps, bool has_bias)
    : eps_(check::positive_number("LayerNorm", "eps", eps)) {
  check::positive("LayerNorm", "normalized_shape", normalized_shape);
  weight = register_parameter("weight", ones({normalized_shape}));
  if (has_bias) bias = register_parameter("bias", zeros({normalized_shape}));
}

Tensor LayerNorm::forward(const Tensor& x) const {
  if (x.dim() < 1 || x.shape().back() != weight.numel())
    fail("LayerNorm", "input of shape " + to_string(x.shape()) +
                          " does not end in normalized_shape=" + std::to_string(weight.numel()));
  return layer_norm(x, weight, bias, eps_);
}

RMSNorm::RMSNorm(int64_t normalized_shape, float eps) : eps_(check::positive_number("RMSNorm", "eps", eps)) {
  check::positive("RMSNorm", "normalized_shape", normalized_shape);
  weight = register_parameter("weight", ones({normalized_shape}));
}

Tensor RMSNorm::forward(const Tensor& x) const {
  if (x.dim() < 1 || x.shape().back() != weight.numel())
    fail("RMSNorm", "input of shape " + to_string(x.shape()) +
                        " does not end in normalized_shape=" + std::to_string(weight.numel()));
  return rms_norm(x, weight, eps_);
}

Dropout::Dropout(float p_) : p(check::fraction("Dropout", "p", p_)) {}

Tensor Dropout::forward(const Tensor& x) const { return dropout(x, p, is_training()); }

}  // namespace qkv::nn
