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

  void train(bool on = true);  // also every child (PyTorch: module.train())
  void eval() { train(false); }
  bool is_training() const { return training_; }
  void zero_grad();  // drops every parameter's .grad

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

}  // namespace qkv::nn
