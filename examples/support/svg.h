// Tiny SVG plots for the examples: grids of heatmaps (attention weights, as d2l's show_heatmaps) and line
// plots (training losses). Each function returns a whole SVG document as text; write_file saves it, and
// any browser opens it. Leaves out: interactivity, text measurement (widths are estimated from the number
// of characters), scatter and bar plots, and any plot kind the examples do not need.
#pragma once
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace qkv::plot {

// ---- grids of heatmaps ----

using Matrix = std::vector<std::vector<float>>;  // rows x cols, e.g. queries x keys

struct HeatmapOptions {
  std::string title;                 // over the whole figure
  std::vector<std::string> titles;   // one per map ("Head 1", ...), or empty
  std::string xlabel = "Keys";       // shown under the bottom row
  std::string ylabel = "Queries";    // shown left of the first column
  std::vector<std::string> x_ticks;  // one per column (e.g. the key tokens), or empty for 0, 1, 2, ...
  std::vector<std::string> y_ticks;  // one per row, or empty for 0, 1, 2, ...
  int ncols = 0;                     // maps per row of the grid; 0 puts them all in one row
  double cell_size = 24;             // pixels per matrix entry
  std::optional<float> vmin, vmax;   // ends of the colour bar; by default the data's range
};

// All maps must have the same rows x cols. One colour bar, shared by all maps, shows vmin..vmax.
// Throws qkv::Error "heatmaps: ..." for no maps, an empty or ragged matrix, maps of different sizes,
// tick lists of the wrong length, non-finite values, or vmin > vmax.
std::string heatmaps(const std::vector<Matrix>& maps, const HeatmapOptions& options = {});

// ---- line plots ----

struct Series {
  std::string name;  // shown in the legend
  std::vector<double> xs, ys;
};

struct LineOptions {
  std::string title, xlabel, ylabel;
  bool log_y = false;  // a log10 y axis: every y must then be > 0
  double width = 640, height = 400;
};

// One polyline per series, in distinct colours, with a legend. Throws qkv::Error "line_plot: ..." for no
// series, a series with no points or with xs and ys of different lengths, non-finite values, or y <= 0
// on a log axis.
std::string line_plot(const std::vector<Series>& series, const LineOptions& options = {});

// Saves an SVG document (via path + ".tmp" and a rename); throws qkv::Error "write_file: ..." naming the
// path.
void write_file(const std::string& path, const std::string& svg);

// ---- building blocks, shared by the plots above (and by any new kind of plot) ----

std::string escape_xml(std::string_view text);  // & < > " ' as entities
std::string viridis(double t);                  // t in [0, 1] -> "#rrggbb", dark purple to yellow
// Round tick values (steps of 1, 2 or 5 times a power of ten) covering [lo, hi] with about `target` ticks.
// The first tick is <= lo and the last >= hi, so the ticks can serve as the axis' ends.
std::vector<double> nice_ticks(double lo, double hi, int target = 5);
std::string format_number(double value);  // short: 0.25, 1500, 1e-05
std::string px(double value);             // a coordinate with one decimal: "12.5"
// About how wide text is at the plots' 12px font: SVG cannot measure text, so count UTF-8 characters.
double text_width(std::string_view text);
// About how wide a plot's title is: bold 15px text (svg_title), wider than text_width's 12px estimate.
double title_width(std::string_view text);

// The opening <svg> tag with a white background, and text with the plots' font.
std::string svg_open(double width, double height);
std::string svg_text(double x, double y, std::string_view text, std::string_view attributes = "");

}  // namespace qkv::plot
