// explore_attention: writes one self-contained HTML page that shows what a trained model's attention does
// on an input you type: the head view, the model view, and the numbers of one query (docs/14-explorer.md).
//   explore_attention --checkpoint runs/reverse/reverse.safetensors --input "8 1 1 7 5" --out reverse.html
//   explore_attention --checkpoint runs/sort/sort.safetensors --input "3 1 4 1 5 9 2 6" --out sort.html
// The model is rebuilt from the checkpoint's metadata (model kind and config). Open the page from disk:
// it loads nothing from anywhere.
#include <cstdio>
#include <exception>
#include <iostream>

#include "nn/io/checkpoint.h"
#include "nn/io/checkpoint_metadata.h"
#include "support/cli.h"
#include "support/html_explorer.h"
#include "support/svg.h"

using namespace qkv;

int main(int argc, char** argv) try {
  cli::Flags flags("explore_attention",
                   "Write an HTML page that shows a checkpoint's attention on your input.");
  flags.option("checkpoint", "", "the .safetensors checkpoint (saved by train_reverse or train_sort)")
      .option("input", "", "the input: digits for the reverse and sort models (\"8 1 1 7 5\")")
      .option("out", "attention.html", "the HTML file to write");
  cli::summary_toggle(flags);
  if (!flags.parse(argc, argv)) return 0;
  const std::string checkpoint = flags.str("checkpoint");
  if (checkpoint.empty()) flags.refuse("--checkpoint is needed");
  if (flags.on("summary")) {
    const nn::MetadataReader meta = nn::read_metadata(checkpoint);
    const nn::TransformerConfig config = nn::config_from_metadata(meta);
    if (nn::model_kind(meta) == "GPT") return cli::print_summary(flags, nn::GPT(config)) ? 0 : 1;
    return cli::print_summary(flags, nn::EncoderDecoder(config)) ? 0 : 1;
  }
  if (flags.str("input").empty()) flags.refuse("--input is needed: the tokens to run the model on");
  const explorer::Exploration ex = explorer::explore(checkpoint, flags.str("input"));
  plot::write_file(flags.str("out"), explorer::explorer_html(ex));
  std::printf("%s on \"%s\" -> \"%s\": %zu attention maps; recomputed weights within %.1e of the model's\n",
              ex.model_kind.c_str(), ex.input.c_str(), ex.answer.c_str(), ex.maps.size(),
              ex.max_recompute_error);
  std::printf("wrote %s (open it in a browser; it needs no network)\n", flags.str("out").c_str());
  return 0;
} catch (const std::exception& e) {
  return cli::report_error("explore_attention", e);
}
