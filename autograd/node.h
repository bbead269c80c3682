// The graph: each differentiable op's result points at a Node that knows how to send its gradient back
// to the op's inputs (micrograd's _backward, flashlight's grad_fn, in C++).
//
// A Node holds
//   - edges: where each input's gradient goes: the input's own Node, or the leaf tensor itself;
//   - saved: the tensors its backward reads, detached (so no Node -> tensor -> Node cycle can form) and
//     stamped with their storage version, so an in-place change after saving is caught, not silently used;
//   - backward: a function from the output's gradient to one gradient per input.
// Ops build nodes with record(); the engine that runs them is in backward.cpp.
#pragma once
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "tensor/tensor.h"

namespace qkv {

struct Edge {
  std::shared_ptr<Node> node;  // the input was made by an op: its gradient goes to that op's node
  Tensor leaf;                 // or the input is a leaf that requires grad: its gradient lands in .grad
  bool needs_grad() const { return node != nullptr || leaf.defined(); }
};

// What an op's backward can read: its saved tensors (in the order given to record) and which inputs need
// a gradient (an op may skip work for the others and return an undefined Tensor there).
struct BackwardContext {
  const std::vector<Tensor>& saved;
  const std::vector<bool>& needs_grad;
};
using BackwardFn = std::function<std::vector<Tensor>(const Tensor& grad, const BackwardContext& ctx)>;

class Node {
 public:
  Node(std::string name, std::vector<Edge> edges, std::vector<Shape> input_shapes, std::vector<Tensor> saved,
       BackwardFn backward);
  ~Node();  // frees a long chain of nodes without recursion (see backward.cpp)

  const std::string& name() const { return name_; }
  const std::vector<Edge>& edges() const { return edges_; }
  const std::vector<Shape>& input_shapes() const { return input_shapes_; }
  bool released() const { return released_; }

  // Runs backward after checking the saved tensors are unchanged; one gradient per input.
  std::vector<Tensor> apply(const Tensor& grad);
  void release();  // drop saved tensors and edges once a backward is done with them

 private:
  static void drop_edges(std::vector<Edge>& edges);

  std::string name_;
  std::vector<Edge> edges_;
  std::vector<Shape> input_shapes_;
  std::vector<bool> needs_grad_;
  std::vector<Tensor> saved_;
  std::vector<uint64_t> saved_versions_;
  BackwardFn backward_;
  bool released_ = false;
};

// Makes `out` the result of differentiable op `name` over `inputs`: when grad mode is on and any input
// requires grad, `out` gets a Node (with the tensors in `saved` kept for backward) and requires grad.
// Returns out. Every op in autograd/ ends with one call to this.
Tensor record(const char* name, Tensor out, const std::vector<Tensor>& inputs, std::vector<Tensor> saved,
              BackwardFn backward);

}  // namespace qkv
