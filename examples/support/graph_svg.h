// The autograd graph drawn as SVG by qkv itself, without Graphviz: a layered drawing (Sugiyama's method,
// in its two simplest steps) for graphs up to a few hundred vertices.
//   1. layers: longest path from the sources, so every edge goes from a lower layer to a higher one
//      (inputs at the top, the loss at the bottom), then each source moved down to just above its first
//      consumer;
//   2. order within a layer: barycentric sweeps, each vertex moved to the mean position of its
//      neighbours in the layer above (then below), which removes most crossings.
// Leaves out: dummy vertices for long edges (they are drawn as curves across the layers between),
// crossing minimisation beyond the sweeps, and edge labels.
#pragma once
#include <string>
#include <utility>
#include <vector>

#include "autograd/graph_dot.h"

namespace qkv::plot {

struct LayeredLayout {
  std::vector<int> layer;        // per vertex: 1 + the largest layer of its inputs; a source: 1 above its first consumer
  std::vector<int> order;        // per vertex: its place in its layer, left to right
  std::vector<double> x, y;      // per vertex: the centre of its box
  double width = 0, height = 0;  // of the whole drawing
};

// Vertices 0..n-1 of the given box sizes; edges (from, to). Throws qkv::Error "graph_svg: ..." for an edge
// naming a vertex that does not exist, a cycle, or more than max_vertices vertices.
constexpr int max_vertices = 2000;
LayeredLayout layered_layout(int n, const std::vector<std::pair<int, int>>& edges,
                             const std::vector<double>& widths, const std::vector<double>& heights);

// The whole SVG document: ops as rounded boxes, leaves filled, constants dashed, edges as arrows.
std::string graph_svg(const GraphView& graph, const std::string& title = "");

}  // namespace qkv::plot
