// The graph behind a tensor as vertices and edges, and as Graphviz DOT (see graph_dot.h).
#include "autograd/graph_dot.h"

#include <cstdio>
#include <map>

#include "autograd/node.h"

namespace qkv {

namespace {

std::string numbers(const std::vector<float>& v) {
  std::string out = "[";
  char buf[32];
  for (size_t i = 0; i < v.size(); ++i) {
    std::snprintf(buf, sizeof buf, "%s%.4g", i ? ", " : "", double(v[i]));
    out += buf;
  }
  return out + "]";
}

std::string dot_escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out += c;
  }
  return out;
}

}  // namespace

std::vector<std::string> GraphView::labels() const {
  std::vector<std::string> out;
  for (const Vertex& v : vertices) {
    std::string text = v.kind == Kind::constant ? "constant" : v.name.empty() ? "leaf" : v.name;
    text += v.kind == Kind::op ? "\n" + to_string(v.shape) : " " + to_string(v.shape);
    if (!v.values.empty()) text += "\ndata " + numbers(v.values);
    if (!v.grad.empty()) text += "\ngrad " + numbers(v.grad);
    out.push_back(text);
  }
  return out;
}

GraphView graph_of(const Tensor& root, const NamedTensors& names, int64_t small) {
  GraphView g;
  std::map<const TensorImpl*, std::string> name_of;
  for (const auto& [name, t] : names) name_of.emplace(t.impl(), name);
  auto add_leaf = [&](const Tensor& t) {
    GraphView::Vertex v{GraphView::Kind::leaf, "", t.shape(), {}, {}};
    if (auto it = name_of.find(t.impl()); it != name_of.end()) v.name = it->second;
    if (t.numel() <= small) {
      v.values = t.to_vector();
      if (t.grad().defined()) v.grad = t.grad().to_vector();
    }
    g.vertices.push_back(std::move(v));
    return int(g.vertices.size()) - 1;
  };
  if (!root.grad_fn()) {
    add_leaf(root);
    return g;
  }
  std::map<const Node*, int> op_index;
  std::map<const TensorImpl*, int> leaf_index;
  std::vector<const Node*> queue{root.grad_fn().get()};
  op_index[queue[0]] = 0;
  g.vertices.push_back({GraphView::Kind::op, queue[0]->name(), root.shape(), {}, {}});
  for (size_t next = 0; next < queue.size(); ++next) {  // breadth first: vertices in the order met
    const Node* node = queue[next];
    const int to = op_index[node];
    for (size_t i = 0; i < node->edges().size(); ++i) {
      const Edge& e = node->edges()[i];
      int from;
      if (e.node) {
        auto [it, fresh] = op_index.emplace(e.node.get(), int(g.vertices.size()));
        if (fresh) {
          g.vertices.push_back({GraphView::Kind::op, e.node->name(), node->input_shapes()[i], {}, {}});
          queue.push_back(e.node.get());
        }
        from = it->second;
      } else if (e.leaf.defined()) {
        auto it = leaf_index.find(e.leaf.impl());
        from = it != leaf_index.end() ? it->second : (leaf_index[e.leaf.impl()] = add_leaf(e.leaf));
      } else {  // an input that needs no gradient (data, targets, a mask)
        g.vertices.push_back({GraphView::Kind::constant, "", node->input_shapes()[i], {}, {}});
        from = int(g.vertices.size()) - 1;
      }
      g.edges.emplace_back(from, to);
    }
  }
  return g;
}

std::string to_dot(const GraphView& g) {
  std::string out = "digraph qkv {\n  rankdir=TB;\n  node [fontname=\"monospace\", fontsize=10];\n";
  const std::vector<std::string> labels = g.labels();
  for (size_t i = 0; i < g.vertices.size(); ++i) {
    const GraphView::Kind k = g.vertices[i].kind;
    const char* style = k == GraphView::Kind::op     ? "shape=box, style=rounded"
                        : k == GraphView::Kind::leaf ? "shape=box, style=filled, fillcolor=\"#dbeafe\""
                                                     : "shape=box, style=dashed, color=gray";
    out += "  v" + std::to_string(i) + " [label=\"" + dot_escape(labels[i]) + "\", " + style + "];\n";
  }
  for (const auto& [from, to] : g.edges)
    out += "  v" + std::to_string(from) + " -> v" + std::to_string(to) + ";\n";
  return out + "}\n";
}

std::string to_dot(const Tensor& root, const NamedTensors& names, int64_t small) {
  return to_dot(graph_of(root, names, small));
}

}  // namespace qkv
