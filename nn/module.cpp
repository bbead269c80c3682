// Module bookkeeping (see module.h).
#include "nn/module.h"

namespace qkv::nn {

Tensor Module::register_parameter(const std::string& name, Tensor value) {
  for (const auto& [existing, t] : parameters_)
    if (existing == name) fail("register_parameter", "a parameter named '" + name + "' already exists");
  value.set_requires_grad(true);
  parameters_.emplace_back(name, value);
  return value;
}

void Module::add_child(const std::string& name, std::shared_ptr<Module> child) {
  if (!child) fail("register_module", "module '" + name + "' is null");
  for (const auto& [existing, m] : children_)
    if (existing == name) fail("register_module", "a module named '" + name + "' already exists");
  child->train(training_);
  children_.emplace_back(name, std::move(child));
}

void Module::collect(const std::string& prefix, NamedTensors& out) const {
  for (const auto& [name, t] : parameters_) out.emplace_back(prefix + name, t);
  for (const auto& [name, child] : children_) child->collect(prefix + name + ".", out);
}

NamedTensors Module::named_parameters() const {
  NamedTensors out;
  collect("", out);
  return out;
}

std::vector<Tensor> Module::parameters() const {
  std::vector<Tensor> out;
  for (auto& [name, t] : named_parameters()) out.push_back(t);
  return out;
}

int64_t Module::num_parameters() const {
  int64_t n = 0;
  for (const Tensor& t : parameters()) n += t.numel();
  return n;
}

void Module::train(bool on) {
  training_ = on;
  for (auto& [name, child] : children_) child->train(on);
}

void Module::zero_grad() {
  for (const Tensor& t : parameters()) t.zero_grad();
}

}  // namespace qkv::nn
