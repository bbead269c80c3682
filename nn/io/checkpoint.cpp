// Training checkpoints (see checkpoint.h).
#include "nn/io/checkpoint.h"

#include <algorithm>

namespace qkv::nn {

static const std::string kOptimizerPrefix = "optimizer.";

// The model's state dict, then the optimizer's state under "optimizer.": what a checkpoint holds.
static NamedTensors model_and_optimizer(const Module& model, const Optimizer* optimizer) {
  NamedTensors all = model.state_dict();
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

Checkpoint load_checkpoint(const std::string& path, Module& model, Optimizer* optimizer,
                           const std::vector<std::string>& extra_names) {
  const SafetensorsFile file = load_safetensors(path);
  const NamedTensors destinations = model_and_optimizer(model, optimizer);
  auto is_destination = [&](const std::string& name) {
    return std::any_of(destinations.begin(), destinations.end(),
                       [&](const auto& d) { return d.first == name; });
  };
  // Sort the file's tensors: into the model (or optimizer), handed back as extra, skipped, or unknown.
  SafetensorsFile to_load{{}, file.metadata};
  Checkpoint out{file.metadata, {}};
  std::vector<std::string> unknown;
  for (const auto& [name, t] : file.tensors) {
    const bool optimizer_state = name.rfind(kOptimizerPrefix, 0) == 0;
    if (is_destination(name) || (optimizer_state && optimizer)) {
      // a NaN is named before any unknown tensor; load_into's own check then finds none
      refuse_non_finite("checkpoint " + path, name, t);
      to_load.tensors.emplace_back(name, t);  // optimizer state the optimizer lacks fails in load_into
    } else if (std::find(extra_names.begin(), extra_names.end(), name) != extra_names.end()) {
      out.extra.emplace_back(name, t);
    } else if (!optimizer_state) {  // optimizer state without an optimizer: not asked for, skipped
      unknown.push_back(name);
    }
  }
  if (!unknown.empty()) {
    std::string names;
    for (const std::string& name : unknown) names += (names.empty() ? "" : ", ") + quote(name);
    fail_checkpoint(path, std::to_string(unknown.size()) +
                              (unknown.size() == 1 ? " tensor the model does not have: "
                                                   : " tensors the model does not have: ") +
                              names + " (a model of another configuration?), nothing loaded");
  }
  try {
    if (optimizer) {
      NamedTensors state;  // the file's optimizer state, under the names state() gives
      for (const auto& [name, t] : to_load.tensors)
        if (name.rfind(kOptimizerPrefix, 0) == 0) state.emplace_back(name.substr(kOptimizerPrefix.size()), t);
      optimizer->check_state(state);
    }
    load_into(to_load, destinations);
  } catch (const Error& e) {
    fail_checkpoint(path, e.what());
  }
  return out;
}

}  // namespace qkv::nn
