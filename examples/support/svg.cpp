// The building blocks of the plots (see svg.h): XML escaping, the colour map, round tick values, number
// formatting, and saving. The plots themselves are in heatmap.cpp and line_plot.cpp.
#include "support/svg.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <ostream>

#include "nn/io/atomic_write.h"
#include "tensor/error.h"

namespace qkv::plot {

std::string escape_xml(std::string_view text) {
  std::string out;
  for (const char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&apos;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

std::string viridis(double t) {
  // Five anchors of matplotlib's viridis, joined by straight lines in RGB: close enough to the real map
  // (perceptually even, readable in grey, and for colour-blind readers), and an SVG gradient through the
  // same anchors draws exactly the same ramp for the colour bar.
  static const double anchors[5][3] = {
      {68, 1, 84}, {59, 82, 139}, {33, 145, 140}, {94, 201, 98}, {253, 231, 37}};
  t = std::clamp(std::isfinite(t) ? t : 0.0, 0.0, 1.0) * 4;
  const int i = std::min(static_cast<int>(t), 3);
  const double f = t - i;
  char buf[8];
  int rgb[3];
  for (int c = 0; c < 3; ++c)
    rgb[c] = static_cast<int>(std::lround(anchors[i][c] + f * (anchors[i + 1][c] - anchors[i][c])));
  std::snprintf(buf, sizeof buf, "#%02x%02x%02x", rgb[0], rgb[1], rgb[2]);
  return buf;
}

std::vector<double> nice_ticks(double lo, double hi, int target) {
  if (!std::isfinite(lo) || !std::isfinite(hi) || lo > hi)
    fail("nice_ticks", "bad range " + format_number(lo) + ".." + format_number(hi));
  if (lo == hi) {  // one value: widen around it so the axis has some length
    const double pad = lo == 0 ? 1 : std::abs(lo) * 0.1;
    lo -= pad, hi += pad;
  }
  // A step of 1, 2 or 5 times a power of ten, the one nearest to giving `target` intervals.
  const double raw = (hi - lo) / std::max(target, 1);
  const double magnitude = std::pow(10.0, std::floor(std::log10(raw)));
  const double r = raw / magnitude;
  const double step = (r < 1.5 ? 1 : r < 3 ? 2 : r < 7 ? 5 : 10) * magnitude;
  // Ticks as integer multiples of the step, so 0.1 + 0.2 rounding never shows up as 0.30000000000000004.
  const double first = std::floor(lo / step + 1e-9);
  const double last = std::ceil(hi / step - 1e-9);
  std::vector<double> ticks;
  for (double k = first; k <= last; ++k) ticks.push_back(k * step);
  return ticks;
}

std::string format_number(double value) {
  if (value == 0) value = 0;  // no "-0"
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.4g", value);
  return buf;
}

std::string px(double value) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f", value);
  return buf;
}

double text_width(std::string_view text) {
  // 7px per character suits 12px sans-serif digits and lower case; continuation bytes (10xxxxxx) of a
  // multi-byte UTF-8 character do not count.
  const auto characters = std::count_if(text.begin(), text.end(), [](char c) { return (c & 0xC0) != 0x80; });
  return 7.0 * static_cast<double>(characters);
}

double title_width(std::string_view text) {
  // 15/12 of the 12px width, and bold glyphs are about a tenth wider still.
  return text_width(text) * 15.0 / 12.0 * 1.1;
}

std::string svg_open(double width, double height) {
  return "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" + px(width) + "\" height=\"" + px(height) +
         "\" viewBox=\"0 0 " + px(width) + " " + px(height) +
         "\" font-family=\"DejaVu Sans, Helvetica, Arial, sans-serif\" font-size=\"12\">\n"
         "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n";
}

std::string svg_text(double x, double y, std::string_view text, std::string_view attributes) {
  return "<text x=\"" + px(x) + "\" y=\"" + px(y) + "\"" + (attributes.empty() ? "" : " ") +
         std::string(attributes) + ">" + escape_xml(text) + "</text>\n";
}

void write_file(const std::string& path, const std::string& svg) {
  write_file_atomically("write_file", path, [&](std::ostream& out) { out << svg; });
}

}  // namespace qkv::plot
