// Training checkpoints on top of safetensors: the model's parameters under their dotted names, the
// optimizer's state under "optimizer.", any extra named tensors (say, the loss history), and string
// metadata (the model's configuration, the step, the generator's state; read it with
// nn/io/checkpoint_metadata.h).
#pragma once
#include <map>
#include <string>
#include <vector>

#include "nn/io/checkpoint_metadata.h"
#include "nn/io/safetensors.h"
#include "nn/optim.h"

namespace qkv::nn {

struct Checkpoint {
  std::map<std::string, std::string> metadata;
  NamedTensors extra;  // tensors that are neither parameters nor optimizer state
};

// Writes atomically (a failed save leaves the previous file intact). optimizer may be null.
void save_checkpoint(const std::string& path, const Module& model, const Optimizer* optimizer,
                     const Checkpoint& extra = {});

// Checks everything, then loads parameters (and the optimizer's state, when optimizer is not null) in
// place. Nothing unknown passes: every tensor of the file must be a parameter of the model, optimizer
// state (read only when an optimizer is given, skipped whole otherwise), or named in extra_names; every
// parameter and state tensor must be in the file, of the same shape, and finite, and the optimizer must
// accept its state (Optimizer::check_state: Adam's step count and squares). Otherwise it throws
// "checkpoint <path>: ..." naming the tensors, and nothing is changed. Returns the metadata and the extra
// tensors found.
Checkpoint load_checkpoint(const std::string& path, Module& model, Optimizer* optimizer,
                           const std::vector<std::string>& extra_names = {});

}  // namespace qkv::nn
