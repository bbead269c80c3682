// export_logits: loads a checkpoint of a whole model (EncoderDecoder or GPT, told by its "model" metadata),
// runs it in eval mode on fixed random token ids and writes the ids and the logits to a safetensors file,
// for examples/torch_from_checkpoint.py to compare with the same model rebuilt in PyTorch.
//   export_logits --checkpoint runs/sort/sort.safetensors --out runs/sort/logits.safetensors
// The file holds, for an EncoderDecoder: src [B,S], src_valid_lens [B] (each in [1, S]), tgt_in [B,S],
// logits [B,S,V]; for a GPT: ids [B,S], logits [B,S,V]. Ids are integer-valued floats, as qkv keeps them.
#include <filesystem>
#include <iostream>
#include <type_traits>

#include "nn/io/checkpoint.h"
#include "support/cli.h"

using namespace qkv;
using namespace qkv::nn;

namespace {

// [B,S] token ids drawn uniformly from [0, V).
Tensor random_ids(int64_t B, int64_t S, int64_t V) {
  std::vector<float> ids(size_t(B * S));
  for (float& id : ids) id = float(default_generator().randint(0, V));
  return tensor(std::move(ids), {B, S});
}

// The tensors to save for a model of either kind: its inputs and, last, the logits.
template <class Model>
NamedTensors run(Model& model, int64_t B, int64_t S) {
  model.eval();
  NoGrad no_grad;
  const int64_t V = model.config.vocab_size;
  if constexpr (std::is_same_v<Model, GPT>) {
    const Tensor ids = random_ids(B, S, V);
    return {{"ids", ids}, {"logits", model.forward(ids)}};
  } else {
    // Lengths in [1, S], so the padding (positions past each length) is masked in the test too.
    std::vector<float> lens(static_cast<size_t>(B));
    for (float& len : lens) len = float(default_generator().randint(1, S + 1));
    const Tensor src = random_ids(B, S, V), valid_lens = tensor(lens), tgt_in = random_ids(B, S, V);
    return {{"src", src},
            {"src_valid_lens", valid_lens},
            {"tgt_in", tgt_in},
            {"logits", model.forward(src, valid_lens, tgt_in)}};
  }
}

// Builds the checkpoint's model, loads it strictly and runs it; refuses a length past its max_len.
template <class Model>
NamedTensors load_and_run(const cli::Flags& flags, const TransformerConfig& config) {
  const int64_t S = flags.integer("len");
  if (S > config.max_len)
    flags.refuse("--len " + std::to_string(S) + " is longer than the checkpoint's max_len " +
                 std::to_string(config.max_len));
  Model model(config);
  load_checkpoint(flags.str("checkpoint"), model, nullptr, {"train.losses"});  // train_reverse's history
  if (cli::print_summary(flags, model)) return {};
  return run(model, flags.integer("batch"), S);
}

}  // namespace

int main(int argc, char** argv) try {
  cli::Flags flags("export_logits", "Run a checkpoint's model on fixed inputs; save the inputs and logits.");
  flags.option("checkpoint", "", "the .safetensors checkpoint to load (saved by train_reverse or train_sort)")
      .option("out", "", "the .safetensors file to write: inputs and logits")
      .integer_option("batch", "4", 1, 1024, "sequences")
      .integer_option("len", "12", 1, 4096, "tokens per sequence (at most the model's max_len)")
      .integer_option("seed", "0", 0, INT64_MAX, "seed of the generator that draws the token ids");
  cli::summary_toggle(flags);
  if (!flags.parse(argc, argv)) return 0;
  const std::string checkpoint = flags.str("checkpoint"), out = flags.str("out");
  if (checkpoint.empty() || (out.empty() && !flags.on("summary")))
    flags.refuse("--checkpoint and --out are both needed");
  std::error_code ec;
  if (std::filesystem::equivalent(checkpoint, out, ec))  // false (with ec set) when out does not exist
    flags.refuse("--out " + quote(out) + " is the checkpoint itself: it would be overwritten");
  manual_seed(uint64_t(flags.integer("seed")));

  const MetadataReader meta = read_metadata(checkpoint);
  const std::string kind = model_kind(meta);
  const TransformerConfig config = config_from_metadata(meta);
  const NamedTensors saved =
      kind == "GPT" ? load_and_run<GPT>(flags, config) : load_and_run<EncoderDecoder>(flags, config);
  if (saved.empty()) return 0;  // --summary printed the model
  save_safetensors(out, saved, {{"model", kind}, {"checkpoint", checkpoint}});
  std::cout << "export_logits: " << kind << " from " << checkpoint << ", logits "
            << to_string(saved.back().second.shape()) << " -> " << out << "\n";
  return 0;
} catch (const std::exception& e) {
  return cli::report_error("export_logits", e);
}
