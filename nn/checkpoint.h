// Training checkpoints on top of safetensors: the model's parameters under their dotted names, the
// optimizer's state under "optimizer.", any extra named tensors (say, the loss history), and string
// metadata (the model's configuration, the step, the generator's state).
#pragma once
#include <map>
#include <string>

#include "nn/optim.h"
#include "nn/safetensors.h"

namespace qkv::nn {

struct Checkpoint {
  std::map<std::string, std::string> metadata;
  NamedTensors extra;  // tensors that are neither parameters nor optimizer state
};

// Writes atomically (a failed save leaves the previous file intact). optimizer may be null.
void save_checkpoint(const std::string& path, const Module& model, const Optimizer* optimizer,
                     const Checkpoint& extra = {});

// Checks everything, then loads parameters (and the optimizer's state, when optimizer is not null) in
// place. A file that lacks a parameter, has one of another shape, or is malformed changes nothing and
// throws naming the problem. Returns the metadata and the extra tensors.
Checkpoint load_checkpoint(const std::string& path, Module& model, Optimizer* optimizer);

}  // namespace qkv::nn
