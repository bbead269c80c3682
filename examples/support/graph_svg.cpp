// The layered drawing of a graph (see graph_svg.h).
#include "support/graph_svg.h"

#include <algorithm>
#include <numeric>
#include <sstream>

#include "support/svg.h"
#include "tensor/error.h"

namespace qkv::plot {

namespace {

constexpr double kGapX = 24, kGapY = 48, kMargin = 16, kLine = 14;

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  std::stringstream in(text);
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

}  // namespace

LayeredLayout layered_layout(int n, const std::vector<std::pair<int, int>>& edges,
                             const std::vector<double>& widths, const std::vector<double>& heights) {
  if (n > max_vertices)
    fail("graph_svg", std::to_string(n) + " vertices is more than the " + std::to_string(max_vertices) +
                          " a layered drawing stays readable for; draw a smaller graph");
  std::vector<std::vector<int>> ins(static_cast<size_t>(n)), outs(static_cast<size_t>(n));
  for (const auto& [from, to] : edges) {
    if (from < 0 || from >= n || to < 0 || to >= n)
      fail("graph_svg", "edge " + std::to_string(from) + " -> " + std::to_string(to) +
                            " names a vertex outside [0, " + std::to_string(n) + ")");
    outs[size_t(from)].push_back(to);
    ins[size_t(to)].push_back(from);
  }
  // 1. Longest-path layers, in topological order (Kahn's algorithm: a vertex once all its inputs are placed).
  LayeredLayout L;
  L.layer.assign(size_t(n), 0);
  std::vector<int> waiting(static_cast<size_t>(n)), ready;
  for (int v = 0; v < n; ++v)
    if ((waiting[size_t(v)] = int(ins[size_t(v)].size())) == 0) ready.push_back(v);
  int placed = 0;
  while (!ready.empty()) {
    const int v = ready.back();
    ready.pop_back();
    ++placed;
    for (int w : outs[size_t(v)]) {
      L.layer[size_t(w)] = std::max(L.layer[size_t(w)], L.layer[size_t(v)] + 1);
      if (--waiting[size_t(w)] == 0) ready.push_back(w);
    }
  }
  if (placed != n)
    fail("graph_svg",
         "the graph has a cycle: " + std::to_string(n - placed) + " vertices lie on or after it");
  // A source (a leaf, a constant) moves down to just above its first consumer, so short edges stay short.
  for (int v = 0; v < n; ++v)
    if (ins[size_t(v)].empty() && !outs[size_t(v)].empty()) {
      int first = L.layer[size_t(outs[size_t(v)][0])];
      for (int w : outs[size_t(v)]) first = std::min(first, L.layer[size_t(w)]);
      L.layer[size_t(v)] = first - 1;
    }
  const int layers = n ? *std::max_element(L.layer.begin(), L.layer.end()) + 1 : 0;
  std::vector<std::vector<int>> rows(static_cast<size_t>(layers));
  for (int v = 0; v < n; ++v) rows[size_t(L.layer[size_t(v)])].push_back(v);
  // 2. Barycentric sweeps: down (by inputs' places), then up (by outputs' places), four times.
  L.order.assign(size_t(n), 0);
  auto renumber = [&](std::vector<int>& row) {
    for (size_t i = 0; i < row.size(); ++i) L.order[size_t(row[i])] = int(i);
  };
  for (auto& row : rows) renumber(row);
  auto sweep = [&](std::vector<int>& row, const std::vector<std::vector<int>>& neighbours) {
    std::vector<double> key(static_cast<size_t>(n));
    for (int v : row) {
      const auto& nb = neighbours[size_t(v)];
      double sum = 0;
      for (int w : nb) sum += (L.order[size_t(w)] + 0.5) / double(rows[size_t(L.layer[size_t(w)])].size());
      key[size_t(v)] = nb.empty() ? (L.order[size_t(v)] + 0.5) / double(row.size()) : sum / double(nb.size());
    }
    std::stable_sort(row.begin(), row.end(), [&](int a, int b) { return key[size_t(a)] < key[size_t(b)]; });
    renumber(row);
  };
  for (int round = 0; round < 4; ++round) {
    for (int l = 1; l < layers; ++l) sweep(rows[size_t(l)], ins);
    for (int l = layers - 2; l >= 0; --l) sweep(rows[size_t(l)], outs);
  }
  // 3. Coordinates: each row centred, rows stacked from the top.
  L.x.assign(size_t(n), 0);
  L.y.assign(size_t(n), 0);
  std::vector<double> row_width(static_cast<size_t>(layers), 0.0);
  for (int l = 0; l < layers; ++l)
    for (int v : rows[size_t(l)]) row_width[size_t(l)] += widths[size_t(v)] + kGapX;
  const double widest = layers ? *std::max_element(row_width.begin(), row_width.end()) : 0;
  double top = kMargin;
  for (int l = 0; l < layers; ++l) {
    double x = kMargin + (widest - row_width[size_t(l)]) / 2 + kGapX / 2, tallest = 0;
    for (int v : rows[size_t(l)]) tallest = std::max(tallest, heights[size_t(v)]);
    for (int v : rows[size_t(l)]) {
      L.x[size_t(v)] = x + widths[size_t(v)] / 2;
      L.y[size_t(v)] = top + tallest / 2;
      x += widths[size_t(v)] + kGapX;
    }
    top += tallest + kGapY;
  }
  L.width = widest + 2 * kMargin;
  L.height = top - kGapY + kMargin;
  return L;
}

std::string graph_svg(const GraphView& graph, const std::string& title) {
  const int n = int(graph.vertices.size());
  const std::vector<std::string> labels = graph.labels();
  std::vector<double> widths, heights;
  for (const std::string& label : labels) {
    double w = 0;
    const auto lines = lines_of(label);
    for (const std::string& line : lines) w = std::max(w, text_width(line));
    widths.push_back(w + 16);
    heights.push_back(double(lines.size()) * kLine + 10);
  }
  const LayeredLayout L = layered_layout(n, graph.edges, widths, heights);
  const double title_h = title.empty() ? 0 : 28;
  const double width = std::max(L.width, title_width(title) + 2 * kMargin);
  std::string svg = svg_open(width, L.height + title_h);
  svg +=
      "<defs><marker id=\"arrow\" viewBox=\"0 0 10 10\" refX=\"10\" refY=\"5\" markerWidth=\"7\" "
      "markerHeight=\"7\" orient=\"auto-start-reverse\"><path d=\"M0,0 L10,5 L0,10 z\" fill=\"#555\"/>"
      "</marker></defs>\n";
  if (!title.empty())
    svg += svg_text(width / 2, 20, title, "text-anchor=\"middle\" font-weight=\"bold\" font-size=\"15\"");
  svg += "<g transform=\"translate(" + px((width - L.width) / 2) + "," + px(title_h) + ")\">\n";
  for (const auto& [from, to] : graph.edges) {  // bottom of the input to the top of the op
    const double x1 = L.x[size_t(from)], y1 = L.y[size_t(from)] + heights[size_t(from)] / 2;
    const double x2 = L.x[size_t(to)], y2 = L.y[size_t(to)] - heights[size_t(to)] / 2, dy = (y2 - y1) / 2;
    svg += "<path class=\"edge\" d=\"M" + px(x1) + "," + px(y1) + " C" + px(x1) + "," + px(y1 + dy) + " " +
           px(x2) + "," + px(y2 - dy) + " " + px(x2) + "," + px(y2) +
           "\" fill=\"none\" stroke=\"#888\" marker-end=\"url(#arrow)\"/>\n";
  }
  for (int v = 0; v < n; ++v) {
    const GraphView::Kind kind = graph.vertices[size_t(v)].kind;
    const double w = widths[size_t(v)], h = heights[size_t(v)];
    const double x = L.x[size_t(v)] - w / 2, y = L.y[size_t(v)] - h / 2;
    const char* look = kind == GraphView::Kind::op ? "fill=\"#ffffff\" stroke=\"#333\" rx=\"6\""
                       : kind == GraphView::Kind::leaf
                           ? "fill=\"#dbeafe\" stroke=\"#1d4ed8\""
                           : "fill=\"#f4f4f4\" stroke=\"#999\" stroke-dasharray=\"4 3\"";
    svg += "<rect class=\"vertex\" data-layer=\"" + std::to_string(L.layer[size_t(v)]) + "\" x=\"" + px(x) +
           "\" y=\"" + px(y) + "\" width=\"" + px(w) + "\" height=\"" + px(h) + "\" " + look + "/>\n";
    const auto lines = lines_of(labels[size_t(v)]);
    for (size_t i = 0; i < lines.size(); ++i)
      svg += svg_text(L.x[size_t(v)], y + 5 + kLine * (double(i) + 0.8), lines[i],
                      i == 0 && kind == GraphView::Kind::op ? "text-anchor=\"middle\" font-weight=\"bold\""
                                                            : "text-anchor=\"middle\"");
  }
  return svg + "</g>\n</svg>\n";
}

}  // namespace qkv::plot
