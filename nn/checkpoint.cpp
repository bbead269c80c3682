// Training checkpoints (see checkpoint.h).
#include "nn/checkpoint.h"

namespace qkv::nn {

static const std::string kOptimizerPrefix = "optimizer.";

static NamedTensors model_and_optimizer(const Module& model, const Optimizer* optimizer) {
  NamedTensors all = model.named_parameters();
  if (optimizer)
    for (auto& [name, t] : optimizer->state()) all.emplace_back(kOptimizerPrefix + name, t);
  return all;
}

void save_checkpoint(const std::string& path, const Module& model, const Optimizer* optimizer,
                     const Checkpoint& extra) {
  NamedTensors all = model_and_optimizer(model, optimizer);
  all.insert(all.end(), extra.extra.begin(), extra.extra.end());
  save_safetensors(path, all, extra.metadata);
}

Checkpoint load_checkpoint(const std::string& path, Module& model, Optimizer* optimizer) {
  const SafetensorsFile file = load_safetensors(path);
  const NamedTensors destinations = model_and_optimizer(model, optimizer);
  // Anything else in the file is handed back as extra, except optimizer state we were not asked to load.
  Checkpoint out{file.metadata, {}};
  for (const auto& [name, t] : file.tensors) {
    bool known = name.rfind(kOptimizerPrefix, 0) == 0;
    for (const auto& [dest, d] : destinations) known = known || dest == name;
    if (!known) out.extra.emplace_back(name, t);
  }
  load_into(file, destinations, /*allow_extra=*/true);
  return out;
}

}  // namespace qkv::nn
