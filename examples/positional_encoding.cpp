// positional_encoding: the course's pictures of d2l's sinusoidal table, reproduced.
//   positional_curves.svg   columns 6 to 9 of the table P (60 positions, 32 dimensions) as curves: the
//                           higher the column, the lower the frequency
//   positional_heatmap.svg  the whole 60 x 32 table as a heatmap
// and, printed, 0..7 in binary: the lowest bit flips fastest, as the first columns of P oscillate fastest.
#include <bitset>
#include <filesystem>
#include <iostream>

#include "nn/positional_encoding.h"
#include "support/cli.h"
#include "support/svg.h"

using namespace qkv;

int main(int argc, char** argv) try {
  cli::Flags flags("positional_encoding", "Draw the sinusoidal positional encoding table.");
  flags.option("out", "runs/positional_encoding", "folder for the pictures");
  if (!flags.parse(argc, argv)) return 0;
  const std::string out = flags.str("out");
  std::filesystem::create_directories(out);

  const int64_t positions = 60, num_hiddens = 32;
  const Tensor P = nn::sinusoidal_table(positions, num_hiddens);  // [60, 32]

  std::vector<plot::Series> curves;
  for (int64_t col = 6; col <= 9; ++col) {
    plot::Series s{"Col " + std::to_string(col), {}, {}};
    for (int64_t i = 0; i < positions; ++i) {
      s.xs.push_back(double(i));
      s.ys.push_back(P.at({i, col}));
    }
    curves.push_back(s);
  }
  plot::write_file(out + "/positional_curves.svg",
                   plot::line_plot(curves, {"Columns 6-9 of the positional encoding", "Row (position)", "P[i, col]"}));

  plot::Matrix table(positions, std::vector<float>(num_hiddens));
  for (int64_t i = 0; i < positions; ++i)
    for (int64_t j = 0; j < num_hiddens; ++j) table[i][j] = P.at({i, j});
  plot::HeatmapOptions opt;
  opt.title = "Sinusoidal positional encoding, 60 positions x 32 dimensions";
  opt.xlabel = "Column (encoding dimension)";
  opt.ylabel = "Row (position)";
  opt.cell_size = 10;
  plot::write_file(out + "/positional_heatmap.svg", plot::heatmaps({table}, opt));

  std::cout << "Positions 0..7 in binary: bit 0 flips every step, bit 2 every four steps,\n"
            << "as P's first columns oscillate fastest and later ones ever more slowly.\n";
  for (int i = 0; i < 8; ++i) std::cout << "  " << i << " in binary is " << std::bitset<3>(i) << "\n";
  std::cout << "P[0:3, 0:4] =\n" << narrow(narrow(P, 0, 0, 3), 1, 0, 4) << "\n";
  std::cout << "pictures: " << out << "/positional_curves.svg, " << out << "/positional_heatmap.svg\n";
  return 0;
} catch (const std::exception& e) {
  return cli::report_error("positional_encoding", e);
}
