// The model the checkpoint fuzzer loads into, shared with the seed writer so the seeds are files this model
// really loads: an embedding, a layer norm and a linear layer (weights, biases, a gain), a few dozen floats.
#pragma once
#include <memory>

#include "nn/layers.h"
#include "nn/optim.h"

namespace qkv::fuzz {

class SmallModel : public nn::Module {
 public:
  SmallModel() {
    embedding = register_module("embedding", std::make_shared<nn::Embedding>(5, 4));
    norm = register_module("norm", std::make_shared<nn::LayerNorm>(4));
    head = register_module("head", std::make_shared<nn::Linear>(4, 3));
  }
  std::shared_ptr<nn::Embedding> embedding;
  std::shared_ptr<nn::LayerNorm> norm;
  std::shared_ptr<nn::Linear> head;
};

}  // namespace qkv::fuzz
