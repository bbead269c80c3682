// A grid of heatmaps with one shared colour bar (see svg.h), e.g. the attention weights of every head.
// Layout, in pixels: [y label | y ticks | map, map, ... | colour bar + its labels], one grid row per line
// of maps; tick labels and axis labels only on the outer maps, as d2l's show_heatmaps does.
#include <algorithm>
#include <cmath>

#include "support/svg.h"
#include "tensor/error.h"

namespace qkv::plot {
namespace {

constexpr double kLineHeight = 16;

// The labels along one axis: the given ticks, or the indices 0..n-1, thinned out so that labels `pitch`
// pixels apart, each needing `room` pixels, never overlap (skipped ones are empty).
std::vector<std::string> axis_labels(const std::vector<std::string>& ticks, size_t n, double pitch,
                                     bool vertical) {
  if (!ticks.empty()) return ticks;
  std::vector<std::string> labels(n);
  const double room = vertical ? kLineHeight : text_width(std::to_string(n - 1)) + 4;
  const size_t every = std::max<size_t>(1, static_cast<size_t>(std::ceil(room / pitch)));
  for (size_t i = 0; i < n; i += every) labels[i] = std::to_string(i);
  return labels;
}

// A row's or column's name in a tooltip: its tick label, or its index.
std::string entry_name(const std::vector<std::string>& ticks, size_t i) {
  return ticks.empty() ? std::to_string(i) : ticks[i];
}

double widest(const std::vector<std::string>& labels) {
  double w = 0;
  for (const auto& s : labels) w = std::max(w, text_width(s));
  return w;
}

// Checks the input and returns the colour range: options.vmin/vmax, or the data's min/max.
std::pair<float, float> check_and_range(const std::vector<Matrix>& maps, const HeatmapOptions& o) {
  const auto dims = [](const Matrix& m) {
    return std::to_string(m.size()) + "x" + std::to_string(m.empty() ? 0 : m[0].size());
  };
  if (maps.empty()) fail("heatmaps", "no maps to draw");
  float lo = INFINITY, hi = -INFINITY;
  for (size_t k = 0; k < maps.size(); ++k) {
    const Matrix& m = maps[k];
    const std::string name = "map " + std::to_string(k);
    if (m.empty() || m[0].empty()) fail("heatmaps", name + " is empty (" + dims(m) + ")");
    if (m.size() != maps[0].size() || m[0].size() != maps[0][0].size())
      fail("heatmaps", name + " is " + dims(m) + " but map 0 is " + dims(maps[0]));
    for (size_t r = 0; r < m.size(); ++r) {
      if (m[r].size() != m[0].size())
        fail("heatmaps", name + " is ragged: row " + std::to_string(r) + " has " +
                             std::to_string(m[r].size()) + " values, row 0 has " +
                             std::to_string(m[0].size()));
      for (size_t c = 0; c < m[r].size(); ++c) {
        if (!std::isfinite(m[r][c]))
          fail("heatmaps", name + " has the non-finite value " + std::to_string(m[r][c]) + " at row " +
                               std::to_string(r) + ", column " + std::to_string(c));
        lo = std::min(lo, m[r][c]), hi = std::max(hi, m[r][c]);
      }
    }
  }
  const auto check_ticks = [](const std::vector<std::string>& ticks, size_t n, const char* which) {
    if (!ticks.empty() && ticks.size() != n)
      fail("heatmaps", std::to_string(ticks.size()) + " " + which + " for " + std::to_string(n) +
                           (which[0] == 'x' ? " columns" : " rows"));
  };
  check_ticks(o.x_ticks, maps[0][0].size(), "x_ticks");
  check_ticks(o.y_ticks, maps[0].size(), "y_ticks");
  if (!o.titles.empty() && o.titles.size() != maps.size())
    fail("heatmaps",
         std::to_string(o.titles.size()) + " titles for " + std::to_string(maps.size()) + " maps");
  if (!(o.cell_size > 0)) fail("heatmaps", "cell_size must be positive, got " + format_number(o.cell_size));
  lo = o.vmin.value_or(lo), hi = o.vmax.value_or(hi);
  if (!(lo <= hi))
    fail("heatmaps", "vmin " + format_number(lo) + " is greater than vmax " + format_number(hi));
  return {lo, hi};
}

}  // namespace

std::string heatmaps(const std::vector<Matrix>& maps, const HeatmapOptions& o) {
  const auto [lo, hi] = check_and_range(maps, o);
  const size_t rows = maps[0].size(), cols = maps[0][0].size(), count = maps.size();
  const size_t grid_cols = o.ncols > 0 ? std::min<size_t>(o.ncols, count) : count;
  const size_t grid_rows = (count + grid_cols - 1) / grid_cols;
  const double cs = o.cell_size, map_w = cols * cs, map_h = rows * cs;

  // Tick labels; x labels turn vertical when they would not fit under their column.
  const std::vector<std::string> x_labels = axis_labels(o.x_ticks, cols, cs, false);
  const std::vector<std::string> y_labels = axis_labels(o.y_ticks, rows, cs, true);
  const bool x_vertical = widest(x_labels) > cs - 2;
  const double x_tick_h = (x_vertical ? widest(x_labels) : kLineHeight) + 6;
  const double y_tick_w = widest(y_labels) + 6;

  // Where everything goes. A map has x ticks when no map sits below it (the last row, and the row above
  // a short last row). A title wider than the maps and the colour bar widens the picture, and the maps
  // move right to stay centred under it.
  const double ylabel_w = o.ylabel.empty() ? 8 : 8 + kLineHeight;
  const double title_h = o.titles.empty() ? 0 : kLineHeight + 4;
  const double top = (o.title.empty() ? 8 : 12 + kLineHeight) + title_h;
  const double below_h = x_tick_h + (o.xlabel.empty() ? 0 : kLineHeight) + 8;
  const double gap_x = 16;
  const double pitch_y = map_h + title_h + (grid_rows > 1 && count % grid_cols != 0 ? below_h : 12);
  const double grid_w = grid_cols * map_w + (grid_cols - 1) * gap_x;
  const double grid_h = (grid_rows - 1) * pitch_y + map_h;
  const std::string lo_text = format_number(lo), hi_text = format_number(hi);
  const double bar_w = 14,
               bar_label_w = std::max({text_width(lo_text), text_width(hi_text), text_width("-0.00")});
  const double content_w = ylabel_w + y_tick_w + grid_w + 20 + bar_w + 8 + bar_label_w + 8;
  const double width = std::max(content_w, o.title.empty() ? 0 : title_width(o.title) + 16);
  const double shift = (width - content_w) / 2;
  const double left = shift + ylabel_w + y_tick_w, bar_x = left + grid_w + 20;
  const double height = top + grid_h + below_h;

  std::string svg = svg_open(width, height);
  if (!o.title.empty())
    svg +=
        svg_text(width / 2, 8 + 13, o.title, "text-anchor=\"middle\" font-size=\"15\" font-weight=\"bold\"");
  for (size_t k = 0; k < count; ++k) {
    const size_t gr = k / grid_cols, gc = k % grid_cols;
    const double x0 = left + gc * (map_w + gap_x), y0 = top + gr * pitch_y;
    if (!o.titles.empty()) svg += svg_text(x0 + map_w / 2, y0 - 6, o.titles[k], "text-anchor=\"middle\"");
    // The cells; each carries its value as a tooltip.
    svg += "<g shape-rendering=\"crispEdges\">\n";
    for (size_t r = 0; r < rows; ++r) {
      for (size_t c = 0; c < cols; ++c) {
        const float v = maps[k][r][c];
        const double t = hi > lo ? (v - lo) / (hi - lo) : 0.5;
        svg += "<rect class=\"cell\" x=\"" + px(x0 + c * cs) + "\" y=\"" + px(y0 + r * cs) + "\" width=\"" +
               px(cs) + "\" height=\"" + px(cs) + "\" fill=\"" + viridis(t) + "\"><title>" +
               escape_xml(entry_name(o.y_ticks, r)) + ", " + escape_xml(entry_name(o.x_ticks, c)) + ": " +
               format_number(v) + "</title></rect>\n";
      }
    }
    svg += "</g>\n<rect x=\"" + px(x0) + "\" y=\"" + px(y0) + "\" width=\"" + px(map_w) + "\" height=\"" +
           px(map_h) + "\" fill=\"none\" stroke=\"#444\" stroke-width=\"0.8\"/>\n";
    if (gc == 0) {  // y ticks and label on the first column
      for (size_t r = 0; r < rows; ++r)
        svg += svg_text(x0 - 4, y0 + (r + 0.5) * cs + 4, y_labels[r], "text-anchor=\"end\"");
      if (!o.ylabel.empty())
        svg += svg_text(0, 0, o.ylabel,
                        "text-anchor=\"middle\" transform=\"translate(" + px(shift + 8 + 12) + "," +
                            px(y0 + map_h / 2) + ") rotate(-90)\"");
    }
    if (k + grid_cols >= count) {  // x ticks and label when nothing is below
      for (size_t c = 0; c < cols; ++c) {
        const double xc = x0 + (c + 0.5) * cs;
        svg += x_vertical ? svg_text(0, 0, x_labels[c],
                                     "text-anchor=\"end\" transform=\"translate(" + px(xc + 4) + "," +
                                         px(y0 + map_h + 4) + ") rotate(-90)\"")
                          : svg_text(xc, y0 + map_h + 14, x_labels[c], "text-anchor=\"middle\"");
      }
      if (!o.xlabel.empty())
        svg += svg_text(x0 + map_w / 2, y0 + map_h + x_tick_h + 12, o.xlabel, "text-anchor=\"middle\"");
    }
  }

  // The colour bar: a gradient through the colour map's anchors, vmax at the top.
  svg += "<defs><linearGradient id=\"colour-bar\" x1=\"0\" y1=\"1\" x2=\"0\" y2=\"0\">";
  for (int i = 0; i <= 4; ++i)
    svg += "<stop offset=\"" + format_number(i / 4.0) + "\" stop-color=\"" + viridis(i / 4.0) + "\"/>";
  svg += "</linearGradient></defs>\n";
  svg += "<rect x=\"" + px(bar_x) + "\" y=\"" + px(top) + "\" width=\"" + px(bar_w) + "\" height=\"" +
         px(grid_h) + "\" fill=\"url(#colour-bar)\" stroke=\"#444\" stroke-width=\"0.8\"/>\n";
  // Labels: the exact ends, and round values between them where they do not crowd the ends.
  // lo and hi are copied into the capture: clang before 16 (and Apple's) cannot capture structured bindings.
  const auto bar_y = [&, lo = lo, hi = hi](double v) {
    return top + grid_h - (hi > lo ? (v - lo) / (hi - lo) : 0.5) * grid_h;
  };
  svg += svg_text(bar_x + bar_w + 4, top + 9, hi_text);
  svg += svg_text(bar_x + bar_w + 4, top + grid_h, lo_text);
  for (const double v : nice_ticks(lo, hi, std::max(2, static_cast<int>(grid_h / 60)))) {
    const double y = bar_y(v);
    if (y < top + 20 || y > top + grid_h - 20) continue;
    svg += "<line x1=\"" + px(bar_x + bar_w - 4) + "\" y1=\"" + px(y) + "\" x2=\"" + px(bar_x + bar_w) +
           "\" y2=\"" + px(y) + "\" stroke=\"white\"/>\n" +
           svg_text(bar_x + bar_w + 4, y + 4, format_number(v));
  }
  return svg + "</svg>\n";
}

}  // namespace qkv::plot
