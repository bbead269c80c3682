// Line plots (see svg.h), e.g. training and validation loss per epoch: axes with round tick values, grid
// lines, a legend, optionally a log10 y axis. The axes end at the outermost ticks, so every line starts
// and ends inside the frame.
#include <algorithm>
#include <cmath>

#include "support/svg.h"
#include "tensor/error.h"

namespace qkv::plot {
namespace {

// Ten distinct colours, readable on white (the "category10" palette of d3 and matplotlib).
const char* const kColours[] = {"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
                                "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"};
const char* const kDashes[] = {"", "6,3", "2,2"};

// The stroke attributes of series k: its colour, and from the 11th series on a dash pattern.
std::string stroke(size_t k) {
  const std::string dash = kDashes[(k / 10) % 3];
  return std::string("stroke=\"") + kColours[k % 10] + "\" stroke-width=\"2\"" +
         (dash.empty() ? std::string() : " stroke-dasharray=\"" + dash + "\"");
}

void check(const std::vector<Series>& series, bool log_y) {
  if (series.empty()) fail("line_plot", "no series to draw");
  for (const Series& s : series) {
    const std::string name = "series '" + s.name + "'";
    if (s.xs.size() != s.ys.size())
      fail("line_plot",
           name + " has " + std::to_string(s.xs.size()) + " xs but " + std::to_string(s.ys.size()) + " ys");
    if (s.xs.empty()) fail("line_plot", name + " has no points");
    for (size_t i = 0; i < s.xs.size(); ++i) {
      if (!std::isfinite(s.xs[i]) || !std::isfinite(s.ys[i]))
        fail("line_plot", name + " has a non-finite point (" + format_number(s.xs[i]) + ", " +
                              format_number(s.ys[i]) + ") at index " + std::to_string(i));
      if (log_y && s.ys[i] <= 0)
        fail("line_plot", name + " has y = " + format_number(s.ys[i]) + " at index " + std::to_string(i) +
                              ", which a log axis cannot show");
    }
  }
}

// Ticks of a log10 axis, given as exponents: every power of ten, plus 2x and 5x when the data spans less
// than three decades (so a loss falling from 2.3 to 0.4 still gets several labelled ticks). Like
// nice_ticks, they run from the last tick <= lo to the first tick >= hi.
std::vector<double> log_ticks(double lo, double hi) {
  const double first = std::floor(std::log10(lo)), last = std::ceil(std::log10(hi));
  const std::vector<double> mantissas =
      last - first < 3 ? std::vector<double>{1, 2, 5} : std::vector<double>{1};
  std::vector<double> ticks;
  for (double e = first; e <= last; ++e)
    for (const double m : mantissas) ticks.push_back(e + std::log10(m));
  // Keep the ticks from the last one <= lo to the first one >= hi (a tiny tolerance for rounding).
  const auto from = std::upper_bound(ticks.begin(), ticks.end(), std::log10(lo) + 1e-12) - 1;
  const auto to = std::lower_bound(ticks.begin(), ticks.end(), std::log10(hi) - 1e-12) + 1;
  if (to - from < 2) return log_ticks(lo / 2, hi * 2);  // all y equal: widen, so the axis has a length
  return {from, to};
}

}  // namespace

std::string line_plot(const std::vector<Series>& series, const LineOptions& o) {
  check(series, o.log_y);
  double x_lo = INFINITY, x_hi = -INFINITY, y_lo = INFINITY, y_hi = -INFINITY;
  for (const Series& s : series) {
    for (size_t i = 0; i < s.xs.size(); ++i) {
      x_lo = std::min(x_lo, s.xs[i]), x_hi = std::max(x_hi, s.xs[i]);
      y_lo = std::min(y_lo, s.ys[i]), y_hi = std::max(y_hi, s.ys[i]);
    }
  }
  // On a log axis everything below works with log10(y): ticks, ends and positions.
  const auto y_value = [&](double y) { return o.log_y ? std::log10(y) : y; };
  const std::vector<double> x_ticks = nice_ticks(x_lo, x_hi, 6);
  const std::vector<double> y_ticks = o.log_y ? log_ticks(y_lo, y_hi) : nice_ticks(y_lo, y_hi, 5);

  // Plot area inside margins for the title, tick labels and axis labels.
  double widest_y = 0;
  for (const double t : y_ticks)
    widest_y = std::max(widest_y, text_width(format_number(o.log_y ? std::pow(10, t) : t)));
  const double left = widest_y + (o.ylabel.empty() ? 14 : 32), right = o.width - 16;
  const double top = o.title.empty() ? 16 : 36, bottom = o.height - (o.xlabel.empty() ? 28 : 46);
  if (right - left < 40 || bottom - top < 40)
    fail("line_plot",
         "width " + format_number(o.width) + " x height " + format_number(o.height) + " is too small");
  const auto sx = [&](double x) {
    return left + (x - x_ticks.front()) / (x_ticks.back() - x_ticks.front()) * (right - left);
  };
  const auto sy = [&](double y) {
    return bottom - (y_value(y) - y_ticks.front()) / (y_ticks.back() - y_ticks.front()) * (bottom - top);
  };

  std::string svg = svg_open(o.width, o.height);
  if (!o.title.empty())
    svg += svg_text(o.width / 2, 22, o.title, "text-anchor=\"middle\" font-size=\"15\" font-weight=\"bold\"");
  // Grid lines and tick labels.
  svg += "<g stroke=\"#e3e3e3\" stroke-width=\"1\">\n";
  std::string labels;
  for (const double t : x_ticks) {
    svg += "<line x1=\"" + px(sx(t)) + "\" y1=\"" + px(top) + "\" x2=\"" + px(sx(t)) + "\" y2=\"" +
           px(bottom) + "\"/>\n";
    labels += svg_text(sx(t), bottom + 16, format_number(t), "text-anchor=\"middle\"");
  }
  for (const double t : y_ticks) {
    const double y = o.log_y ? std::pow(10, t) : t;
    svg += "<line x1=\"" + px(left) + "\" y1=\"" + px(sy(y)) + "\" x2=\"" + px(right) + "\" y2=\"" +
           px(sy(y)) + "\"/>\n";
    labels += svg_text(left - 6, sy(y) + 4, format_number(y), "text-anchor=\"end\"");
  }
  svg += "</g>\n" + labels;
  svg += "<rect x=\"" + px(left) + "\" y=\"" + px(top) + "\" width=\"" + px(right - left) + "\" height=\"" +
         px(bottom - top) + "\" fill=\"none\" stroke=\"#444\"/>\n";
  if (!o.xlabel.empty())
    svg += svg_text((left + right) / 2, o.height - 10, o.xlabel, "text-anchor=\"middle\"");
  if (!o.ylabel.empty())
    svg += svg_text(
        0, 0, o.ylabel,
        "text-anchor=\"middle\" transform=\"translate(16," + px((top + bottom) / 2) + ") rotate(-90)\"");

  // The lines; a series of one point shows as a dot.
  for (size_t k = 0; k < series.size(); ++k) {
    const Series& s = series[k];
    svg += "<polyline fill=\"none\" stroke-linejoin=\"round\" " + stroke(k) + " points=\"";
    for (size_t i = 0; i < s.xs.size(); ++i) {
      if (i > 0) svg += ' ';
      svg += px(sx(s.xs[i])) + ',' + px(sy(s.ys[i]));
    }
    svg += "\"><title>" + escape_xml(s.name) + "</title></polyline>\n";
    if (s.xs.size() == 1)
      svg += "<circle cx=\"" + px(sx(s.xs[0])) + "\" cy=\"" + px(sy(s.ys[0])) + "\" r=\"3\" fill=\"" +
             kColours[k % 10] + "\"/>\n";
  }

  // The legend, on a white box, in the corner of the frame that hides the fewest of the lines (each line
  // sampled at 8 points per segment).
  double widest_name = 0;
  for (const Series& s : series) widest_name = std::max(widest_name, text_width(s.name));
  const double box_w = widest_name + 40, box_h = 18.0 * series.size() + 8;
  const auto hidden = [&](double x, double y) {
    int n = 0;
    for (const Series& s : series) {
      for (size_t i = 0; i < s.xs.size(); ++i) {
        const size_t j = i + 1 < s.xs.size() ? i + 1 : i;
        for (double f = 0; f < 1; f += 0.125) {
          const double at_x = sx(s.xs[i]) + f * (sx(s.xs[j]) - sx(s.xs[i]));
          const double at_y = sy(s.ys[i]) + f * (sy(s.ys[j]) - sy(s.ys[i]));
          n += at_x >= x && at_x <= x + box_w && at_y >= y && at_y <= y + box_h;
        }
      }
    }
    return n;
  };
  double box_x = right - box_w - 8, box_y = top + 8;
  int least = hidden(box_x, box_y);
  for (const double x : {right - box_w - 8, left + 8}) {
    for (const double y : {top + 8, bottom - box_h - 8}) {
      const int n = hidden(x, y);
      if (n >= least) continue;
      least = n;
      box_x = x;
      box_y = y;
    }
  }
  svg += "<rect x=\"" + px(box_x) + "\" y=\"" + px(box_y) + "\" width=\"" + px(box_w) + "\" height=\"" +
         px(box_h) + "\" fill=\"white\" fill-opacity=\"0.85\" stroke=\"#bbb\"/>\n";
  for (size_t k = 0; k < series.size(); ++k) {
    const double y = box_y + 14 + 18.0 * k;
    svg += "<line x1=\"" + px(box_x + 6) + "\" y1=\"" + px(y - 4) + "\" x2=\"" + px(box_x + 28) + "\" y2=\"" +
           px(y - 4) + "\" " + stroke(k) + "/>\n";
    svg += svg_text(box_x + 34, y, series[k].name);
  }
  return svg + "</svg>\n";
}

}  // namespace qkv::plot
