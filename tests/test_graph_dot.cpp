// autograd/graph_dot.h and examples/support/graph_svg.h: the DOT text of a tiny graph, names and values
// of leaves, and the layered layout's promise that every edge goes from a lower layer to a higher one.
#include "autograd/graph_dot.h"
#include "autograd/ops.h"
#include "helpers.h"
#include "nn/multi_head_attention.h"
#include "support/graph_svg.h"

using namespace qkv;
using Catch::Contains;

TEST_CASE("to_dot: a tiny hand-built graph, with leaf names, values and gradients after backward") {
  Tensor a = tensor({1.0f, 2.0f}).set_requires_grad(), b = tensor({3.0f, 4.0f}).set_requires_grad();
  const Tensor c = tensor({10.0f, 20.0f});  // a constant: needs no gradient
  const Tensor loss = sum(a * b + c);       // dloss/da = b, dloss/db = a
  loss.backward(/*retain_graph=*/true);
  CHECK(
      to_dot(loss, {{"a", a}, {"b", b}}) ==
      "digraph qkv {\n"
      "  rankdir=TB;\n"
      "  node [fontname=\"monospace\", fontsize=10];\n"
      "  v0 [label=\"sum\\n[]\", shape=box, style=rounded];\n"
      "  v1 [label=\"add\\n[2]\", shape=box, style=rounded];\n"
      "  v2 [label=\"mul\\n[2]\", shape=box, style=rounded];\n"
      "  v3 [label=\"constant [2]\", shape=box, style=dashed, color=gray];\n"
      "  v4 [label=\"a [2]\\ndata [1, 2]\\ngrad [3, 4]\", shape=box, style=filled, fillcolor=\"#dbeafe\"];\n"
      "  v5 [label=\"b [2]\\ndata [3, 4]\\ngrad [1, 2]\", shape=box, style=filled, fillcolor=\"#dbeafe\"];\n"
      "  v1 -> v0;\n"
      "  v2 -> v1;\n"
      "  v3 -> v1;\n"
      "  v4 -> v2;\n"
      "  v5 -> v2;\n"
      "}\n");
}

TEST_CASE("to_dot: a leaf used twice is one vertex, an unnamed leaf says leaf, a lone leaf is one vertex") {
  Tensor x = tensor({2.0f}).set_requires_grad();
  const GraphView g = graph_of(x * x + x);
  // add, mul, x: x feeds mul twice and add once, as three edges from one vertex
  REQUIRE(g.vertices.size() == 3);
  CHECK(g.edges.size() == 4);
  CHECK(g.labels()[2] == "leaf [1]\ndata [2]");
  CHECK(graph_of(x).vertices.size() == 1);
}

TEST_CASE("graph_svg: every edge goes from a lower layer to a higher one, on attention's composed graph") {
  manual_seed(0);
  nn::MultiHeadAttention attention(8, 2);
  const Tensor X = randn({1, 4, 8}).set_requires_grad();
  const Tensor q = nn::split_heads(attention.W_q->forward(X), 2),
               k = nn::split_heads(attention.W_k->forward(X), 2),
               v = nn::split_heads(attention.W_v->forward(X), 2);
  const Tensor Y =
      nn::merge_heads(nn::scaled_dot_product_attention(q, k, v, nn::Mask::causal(), 0.1f, true).output);
  const GraphView g = graph_of(sum(Y), attention.named_parameters());
  std::vector<std::string> names;
  for (const auto& vx : g.vertices) names.push_back(vx.name);
  for (const char* op : {"matmul", "mul_scalar", "masked_fill", "softmax", "dropout", "linear", "permute"})
    CHECK(std::find(names.begin(), names.end(), op) != names.end());
  CHECK(std::find(names.begin(), names.end(), "W_q.weight") != names.end());
  const std::vector<double> ones(g.vertices.size(), 20.0);
  const plot::LayeredLayout L = plot::layered_layout(int(g.vertices.size()), g.edges, ones, ones);
  for (const auto& [from, to] : g.edges) {
    CHECK(L.layer[size_t(from)] < L.layer[size_t(to)]);
    CHECK(L.y[size_t(from)] < L.y[size_t(to)]);  // drawn top to bottom
  }
  // Boxes in one layer do not overlap.
  for (size_t i = 0; i < g.vertices.size(); ++i)
    for (size_t j = 0; j < g.vertices.size(); ++j)
      if (i != j && L.layer[i] == L.layer[j]) CHECK(std::abs(L.x[i] - L.x[j]) >= 20.0);
  const std::string svg = plot::graph_svg(g, "attention");
  CHECK_THAT(svg, Contains("<svg"));
  CHECK_THAT(svg, Contains(">softmax</text>"));
}

TEST_CASE("graph_svg: refuses a cycle, an edge to nowhere and a graph too large, naming the problem") {
  const std::vector<double> w(3, 10.0);
  CHECK_THROWS_WITH(plot::layered_layout(3, {{0, 1}, {1, 2}, {2, 1}}, w, w),
                    Contains("graph_svg: the graph has a cycle: 2 vertices"));
  CHECK_THROWS_WITH(plot::layered_layout(3, {{0, 3}}, w, w),
                    Contains("graph_svg: edge 0 -> 3 names a vertex outside [0, 3)"));
  CHECK_THROWS_WITH(plot::layered_layout(plot::max_vertices + 1, {}, {}, {}),
                    Contains("graph_svg: 2001 vertices is more than the 2000"));
}
