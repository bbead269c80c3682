// The graph behind a tensor, for looking at: one node per op (its name and output shape), one per leaf
// that requires grad (its name where known, its values and gradient when small), and one per constant
// input; edges run the way the data flows, from an op's inputs to the op. to_dot() writes it as Graphviz
// DOT (micrograd's draw_dot); examples/support/graph_svg.h draws it without Graphviz.
//   Tensor loss = mean(pow(matmul(x, w) + b - y, 2));
//   std::cout << to_dot(loss, {{"w", w}, {"b", b}});  // nn modules: to_dot(loss, model.named_parameters())
// Read it before backward (which frees the graph) or after backward(/*retain_graph=*/true): leaves show
// their gradient once it exists. Leaves out: intermediate values (the graph does not keep them).
#pragma once
#include <string>
#include <vector>

#include "tensor/tensor.h"

namespace qkv {

struct GraphView {
  enum class Kind { op, leaf, constant };
  struct Vertex {
    Kind kind;
    std::string name;           // op name, leaf name ("w1", "encoder.blocks.0.ffn.dense1.weight") or ""
    Shape shape;                // the op's output, or the leaf's / constant's shape
    std::vector<float> values;  // leaves with at most `small` elements: their values ...
    std::vector<float> grad;    // ... and gradient, if it exists
  };
  std::vector<Vertex> vertices;             // the root's op first, then in the order met
  std::vector<std::pair<int, int>> edges;   // (input, op): the data flows from first to second
  std::vector<std::string> labels() const;  // one text per vertex: "matmul\n[64,16]", "w1 [1,16]\n..."
};

// The graph of the ops that made root (a lone leaf gives one vertex). `names` names leaves by identity
// (a named_parameters() list); leaves with at most `small` elements carry their values and gradient.
GraphView graph_of(const Tensor& root, const NamedTensors& names = {}, int64_t small = 4);

std::string to_dot(const GraphView& graph);
std::string to_dot(const Tensor& root, const NamedTensors& names = {}, int64_t small = 4);

}  // namespace qkv
