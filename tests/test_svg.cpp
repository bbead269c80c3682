// The examples' SVG plots (examples/support/svg.h): documents are well-formed, contain what they should
// (titles, one cell per matrix entry, one polyline per series), escape text, and reject bad input by name.
// The pictures are also written to QKV_TEST_TMP/svg/ so a person can open them (rsvg-convert, a browser).
#include <cmath>
#include <filesystem>
#include <fstream>

#include "catch.h"
#include "helpers.h"
#include "support/svg.h"
#include "tensor/error.h"

namespace fs = std::filesystem;
namespace plot = qkv::plot;

using qkv::testing::error_of;

namespace {

std::string scratch(const std::string& name) { return qkv::testing::scratch_path("svg", name); }

size_t count(const std::string& text, const std::string& part) {
  size_t n = 0;
  for (size_t at = text.find(part); at != std::string::npos; at = text.find(part, at + part.size())) ++n;
  return n;
}

bool contains(const std::string& text, const std::string& part) { return count(text, part) > 0; }

// Tags must balance: every <g>, <text> and <svg> is closed, and the document is one <svg> element.
void check_well_formed(const std::string& svg) {
  CHECK(svg.rfind("<svg xmlns=\"http://www.w3.org/2000/svg\"", 0) == 0);
  CHECK(svg.size() >= 7);
  CHECK(svg.substr(svg.size() - 7) == "</svg>\n");
  for (const std::string tag : {"svg", "g", "text", "title", "defs", "linearGradient"})
    CHECK(count(svg, "<" + tag + ">") + count(svg, "<" + tag + " ") == count(svg, "</" + tag + ">"));
}

// Attention-like rows: each row a softmax over its keys, so values lie in (0, 1) and rows sum to 1.
plot::Matrix softmax_rows(size_t rows, size_t cols, double sharpness) {
  plot::Matrix m(rows, std::vector<float>(cols));
  for (size_t r = 0; r < rows; ++r) {
    double total = 0;
    for (size_t c = 0; c < cols; ++c) total += std::exp(-sharpness * std::abs(double(r) - double(c)));
    for (size_t c = 0; c < cols; ++c)
      m[r][c] = static_cast<float>(std::exp(-sharpness * std::abs(double(r) - double(c))) / total);
  }
  return m;
}

}  // namespace

TEST_CASE("svg: heatmaps draw one cell per entry, titles, ticks and a colour bar") {
  std::vector<plot::Matrix> maps;
  for (int h = 0; h < 5; ++h) maps.push_back(softmax_rows(6, 6, 0.3 + 0.5 * h));
  plot::HeatmapOptions options;
  options.title = "Attention weights <per head>";
  options.titles = {"Head 1", "Head 2", "Head 3", "Head 4", "Head 5"};
  options.x_ticks = {"<bos>", "the", "cat", "sat", "down", "<eos>"};
  options.y_ticks = options.x_ticks;
  options.ncols = 3;
  const std::string svg = plot::heatmaps(maps, options);
  check_well_formed(svg);
  CHECK(count(svg, "class=\"cell\"") == 6 * 6 * 5);
  CHECK(contains(svg, "Attention weights &lt;per head&gt;"));
  CHECK(contains(svg, "&lt;bos&gt;"));
  CHECK_FALSE(contains(svg, "<bos>"));
  for (const auto& title : options.titles) CHECK(contains(svg, ">" + title + "</text>"));
  CHECK(contains(svg, "url(#colour-bar)"));
  plot::write_file(scratch("heatmaps.svg"), svg);
}

TEST_CASE("svg: heatmaps without ticks label the indices, and vmin/vmax set the colour range") {
  const plot::Matrix m = {{0.f, 1.f, 2.f}, {3.f, 4.f, 5.f}};
  plot::HeatmapOptions options;
  options.vmin = -10;
  options.vmax = 10;
  const std::string svg = plot::heatmaps({m}, options);
  check_well_formed(svg);
  CHECK(count(svg, "class=\"cell\"") == 6);
  CHECK(contains(svg, ">-10</text>"));
  CHECK(contains(svg, ">10</text>"));
  CHECK(contains(svg, ">Keys</text>"));
  // A constant map (uniform attention) has no range: it is drawn in the middle colour, not divided by 0.
  CHECK(contains(plot::heatmaps({{{0.25f, 0.25f}}}), plot::viridis(0.5)));
  plot::write_file(scratch("heatmap_small.svg"), plot::heatmaps({softmax_rows(40, 50, 0.2)}));
}

TEST_CASE("svg: heatmaps reject bad input by name") {
  const auto message = [](const std::vector<plot::Matrix>& maps, const plot::HeatmapOptions& o = {}) {
    return error_of([&] { plot::heatmaps(maps, o); });
  };
  CHECK(message({}) == "heatmaps: no maps to draw");
  CHECK(message({{{1, 2}, {3}}}) == "heatmaps: map 0 is ragged: row 1 has 1 values, row 0 has 2");
  CHECK(message({{{1, 2}}, {{1, 2, 3}}}) == "heatmaps: map 1 is 1x3 but map 0 is 1x2");
  CHECK(message({{}}) == "heatmaps: map 0 is empty (0x0)");
  CHECK(contains(message({{{1, NAN}}}), "non-finite value nan at row 0, column 1"));
  plot::HeatmapOptions ticks;
  ticks.x_ticks = {"a"};
  CHECK(message({{{1, 2}}}, ticks) == "heatmaps: 1 x_ticks for 2 columns");
  plot::HeatmapOptions range;
  range.vmin = 2;
  range.vmax = 1;
  CHECK(message({{{1, 2}}}, range) == "heatmaps: vmin 2 is greater than vmax 1");
}

TEST_CASE("svg: line plots draw one polyline per series, with a legend and round ticks") {
  std::vector<plot::Series> series(3);
  series[0].name = "train loss";
  series[1].name = "valid loss";
  series[2].name = "a < b & c";
  for (int epoch = 1; epoch <= 30; ++epoch) {
    series[0].xs.push_back(epoch);
    series[0].ys.push_back(2.3 * std::exp(-0.12 * epoch) + 0.05);
    series[1].xs.push_back(epoch);
    series[1].ys.push_back(2.3 * std::exp(-0.10 * epoch) + 0.15);
  }
  series[2].xs = {10};
  series[2].ys = {1.0};
  plot::LineOptions options;
  options.title = "Training";
  options.xlabel = "epoch";
  options.ylabel = "loss";
  for (const bool log_y : {false, true}) {
    options.log_y = log_y;
    const std::string svg = plot::line_plot(series, options);
    check_well_formed(svg);
    CHECK(count(svg, "<polyline") == 3);
    CHECK(contains(svg, ">Training</text>"));
    CHECK(contains(svg, ">train loss</text>"));
    CHECK(contains(svg, ">a &lt; b &amp; c</text>"));
    CHECK(contains(svg, log_y ? ">0.1</text>" : ">0.5</text>"));  // round tick labels
    plot::write_file(scratch(log_y ? "line_plot_log.svg" : "line_plot.svg"), svg);
  }
}

TEST_CASE("svg: line plots reject bad input by name") {
  const auto message = [](const std::vector<plot::Series>& series, bool log_y = false) {
    plot::LineOptions o;
    o.log_y = log_y;
    return error_of([&] { plot::line_plot(series, o); });
  };
  CHECK(message({}) == "line_plot: no series to draw");
  CHECK(message({{"loss", {}, {}}}) == "line_plot: series 'loss' has no points");
  CHECK(message({{"loss", {1, 2}, {1}}}) == "line_plot: series 'loss' has 2 xs but 1 ys");
  CHECK(contains(message({{"loss", {1, 2}, {1, NAN}}}),
                 "series 'loss' has a non-finite point (2, nan) at index 1"));
  CHECK(
      contains(message({{"loss", {1, 2}, {1, 0}}}, true), "y = 0 at index 1, which a log axis cannot show"));
}

TEST_CASE("svg: nice ticks are round and cover the range") {
  CHECK(plot::nice_ticks(0, 1) == std::vector<double>{0, 0.2, 0.4, 0.6000000000000001, 0.8, 1});
  CHECK(plot::nice_ticks(3, 97) == std::vector<double>{0, 20, 40, 60, 80, 100});
  CHECK(plot::nice_ticks(-0.5, 0.5).front() <= -0.5);
  const std::vector<double> one = plot::nice_ticks(5, 5);  // one value: widened around it
  CHECK(one.front() < 5);
  CHECK(one.back() > 5);
  CHECK(plot::format_number(0.1 + 0.2) == "0.3");
  CHECK(plot::format_number(-0.0) == "0");
  CHECK(plot::viridis(0) == "#440154");
  CHECK(plot::viridis(1) == "#fde725");
  CHECK(plot::escape_xml("<a href=\"x\">'&'</a>") ==
        "&lt;a href=&quot;x&quot;&gt;&apos;&amp;&apos;&lt;/a&gt;");
}

TEST_CASE("svg: write_file replaces a file, leaves no .tmp, and names the path when it fails") {
  const std::string path = scratch("written.svg");
  plot::write_file(path, "<svg>old</svg>");
  plot::write_file(path, "<svg>new</svg>");
  std::ifstream in(path);
  CHECK(std::string(std::istreambuf_iterator<char>(in), {}) == "<svg>new</svg>");
  CHECK_FALSE(fs::exists(path + ".tmp"));
  const std::string bad = scratch("missing/folder/plot.svg");
  CHECK(contains(error_of([&] { plot::write_file(bad, "<svg/>"); }),
                 "write_file: cannot open \"" + bad + ".tmp\""));
}

TEST_CASE("svg: a heatmap is wide enough for its title") {
  // positional_encoding's title over a 32-column map of 10-pixel cells: the title is the widest part.
  plot::HeatmapOptions options;
  options.title = "Sinusoidal positional encoding, 60 positions x 32 dimensions";
  options.cell_size = 10;
  const std::string svg = plot::heatmaps({softmax_rows(60, 32, 0.2)}, options);
  check_well_formed(svg);
  const size_t at = svg.find("width=\"") + 7;
  const double width = std::stod(svg.substr(at, svg.find('"', at) - at));
  // Bold 15px text is about 15/12 as wide as the 12px text that text_width estimates, and a little more.
  CHECK(width >= plot::title_width(options.title) + 16);
  CHECK(plot::title_width(options.title) > plot::text_width(options.title) * 15 / 12);
  // Nothing is cut at the left: every x coordinate is inside the picture.
  CHECK_FALSE(contains(svg, "x=\"-"));
  plot::write_file(scratch("heatmap_title.svg"), svg);
}
