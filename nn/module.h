// Module: the base of every layer. It keeps the layer's parameters and child modules by name, so
// named_parameters() yields dotted paths ("encoder.blocks.0.attention.W_q.weight") that checkpoints use,
// and train()/eval() reach every child. A layer's forward() is its own (signatures differ), not virtual.
//
// Adding a layer: derive from Module, register_parameter() its weights and register_module() its
// children in the constructor, write forward(). See docs/10-extending.md.
#pragma once
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "tensor/tensor.h"

namespace qkv::nn {

class Module {
 public:
  virtual ~Module() = default;

  NamedTensors named_parameters() const;  // registration order, children after own parameters
  std::vector<Tensor> parameters() const;
  int64_t num_parameters() const;  // total number of scalars
  // This module's own parameters and its direct children, by name, in registration order (for
  // nn/summary.h, which walks the tree as PyTorch's print(model) does).
  const NamedTensors& own_parameters() const { return parameters_; }
  const std::vector<std::pair<std::string, std::shared_ptr<Module>>>& named_children() const {
    return children_;
  }

  void train(bool on = true);  // also every child (PyTorch: module.train())
  void eval() { train(false); }
  bool is_training() const { return training_; }
  void zero_grad();  // drops every parameter's .grad

  // The parameters under their dotted names, detached, sharing storage with the parameters (PyTorch:
  // module.state_dict()). Save it with save_safetensors; load it back with load_state_dict.
  NamedTensors state_dict() const;
  // Copies each named tensor into the parameter of the same name, in place (PyTorch: load_state_dict).
  // Everything is checked before anything is copied, so a refused load changes nothing: strict, every
  // parameter must be in state and every entry of state must be a parameter; always, the shapes must
  // agree, no name may come twice, and the values must be finite. The error lists every problem found.
  void load_state_dict(const NamedTensors& state, bool strict = true);

 protected:
  // Registers a trainable tensor (sets requires_grad) and returns it for the member to keep.
  Tensor register_parameter(const std::string& name, Tensor value);
  template <class M>
  std::shared_ptr<M> register_module(const std::string& name, std::shared_ptr<M> child) {
    add_child(name, child);
    return child;
  }

 private:
  void add_child(const std::string& name, std::shared_ptr<Module> child);
  void collect(const std::string& prefix, NamedTensors& out) const;

  NamedTensors parameters_;
  std::vector<std::pair<std::string, std::shared_ptr<Module>>> children_;
  bool training_ = true;
};

// The one checked copy behind Module::load_state_dict, load_into (nn/io/safetensors.h) and
// load_checkpoint: named source tensors into the destinations of the same names. Checks every name and
// shape, listing all problems in one error "<op>: 2 problems, nothing loaded: ...", then every value
// (refuse_non_finite), then copies. `rules` say what is tolerated and how the messages name the source.
struct LoadRules {
  bool allow_missing = false;             // a destination absent from the source keeps its values
  bool allow_unexpected = false;          // a source tensor with no destination is ignored
  std::string source = "the state dict";  // "the file" for load_into
  std::string loosen = "strict = false";  // the argument that tolerates an unexpected tensor
};
void load_named_tensors(const std::string& op, const NamedTensors& source, const NamedTensors& destinations,
                        const LoadRules& rules);

// Throws "<op>: tensor "name" holds nan at index 2, nothing loaded" if t holds a NaN or an inf: such a
// weight trains to NaN or draws an empty picture far from its cause.
void refuse_non_finite(const std::string& op, const std::string& name, const Tensor& t);

}  // namespace qkv::nn
