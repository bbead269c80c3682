// Module bookkeeping, and the checked copy of named tensors that loads a state dict (see module.h).
#include "nn/module.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <set>

#include "tensor/value_text.h"

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

NamedTensors Module::state_dict() const {
  NamedTensors out;
  for (const auto& [name, t] : named_parameters()) out.emplace_back(name, t.detach());
  return out;
}

void Module::load_state_dict(const NamedTensors& state, bool strict) {
  load_named_tensors("load_state_dict", state, named_parameters(), {!strict, !strict});
}

void refuse_non_finite(const std::string& op, const std::string& name, const Tensor& t) {
  const float* v = t.data();
  const auto bad = std::find_if(v, v + t.numel(), [](float x) { return !std::isfinite(x); });
  if (bad != v + t.numel())
    fail(op, "tensor " + quote(name) + " holds " + kernels::value_text(*bad) + " at index " +
                 std::to_string(bad - v) + ", nothing loaded");
}

void load_named_tensors(const std::string& op, const NamedTensors& source, const NamedTensors& destinations,
                        const LoadRules& rules) {
  const std::string& from = rules.source;
  std::map<std::string, const Tensor*> given;
  std::vector<std::string> problems;
  for (const auto& [name, tensor] : source)
    if (!given.emplace(name, &tensor).second) problems.push_back(quote(name) + " is listed twice in " + from);
  // 1. Names and shapes, every problem collected so one error shows them all.
  struct Copy {
    const std::string& name;
    Tensor destination;  // a handle copy shares the parameter's storage
    const Tensor& value;
  };
  std::vector<Copy> copies;
  std::set<std::string> wanted;
  for (const auto& [name, dest] : destinations) {
    const auto it = given.find(name);
    if (!wanted.insert(name).second) {
      problems.push_back(quote(name) + " is listed twice among the destinations");
    } else if (it == given.end()) {
      if (!rules.allow_missing) problems.push_back(quote(name) + " is missing from " + from);
    } else if (!it->second->defined()) {
      problems.push_back(quote(name) + " is undefined in " + from);
    } else if (!dest.defined()) {
      problems.push_back("destination " + quote(name) + " is undefined");
    } else if (it->second->shape() != dest.shape()) {
      problems.push_back(quote(name) + " has shape " + to_string(it->second->shape()) + " in " + from +
                         " but " + to_string(dest.shape()) + " in the model");
    } else {
      copies.push_back({name, dest, *it->second});
    }
  }
  for (const auto& [name, tensor] : given)
    if (!rules.allow_unexpected && !wanted.count(name))
      problems.push_back(quote(name) + " in " + from + " has no destination (" + rules.loosen +
                         " ignores it)");
  if (!problems.empty()) {
    std::string all = std::to_string(problems.size()) + (problems.size() == 1 ? " problem" : " problems") +
                      ", nothing loaded: ";
    for (size_t i = 0; i < problems.size(); ++i) all += (i ? "; " : "") + problems[i];
    fail(op, all);
  }
  // 2. Values, then 3. only now write: every check passed.
  for (const Copy& c : copies) refuse_non_finite(op, c.name, c.value);
  for (Copy& c : copies)
    std::copy(c.value.data(), c.value.data() + c.value.numel(), c.destination.mutable_data());
}

}  // namespace qkv::nn
